//! The hosted services that speak OpenAI Chat Completions (OpenRouter, Groq, Mistral, ...), by
//! LiteLLM's model prefixes, key and base variables, and default bases. `models` resolves
//! their names; the CLI passes every variable named here with the session.

/// A hosted service that speaks OpenAI Chat Completions, by LiteLLM's prefix and variables.
#[derive(Debug, PartialEq, Eq)]
pub struct Host {
    pub prefix: &'static str,
    pub name: &'static str,
    /// The key's variables, the first LiteLLM's own name (the one messages suggest).
    pub key_envs: &'static [&'static str],
    pub base_env: &'static str,
    pub default_base: &'static str,
}

/// The OpenAI-compatible hosts: `prefix/model` with the key from the first variable set.
pub const HOSTS: &[Host] = &[
    Host {
        prefix: "openrouter",
        name: "OpenRouter",
        key_envs: &["OPENROUTER_API_KEY", "OR_API_KEY"],
        base_env: "OPENROUTER_API_BASE",
        default_base: "https://openrouter.ai/api/v1",
    },
    Host {
        prefix: "groq",
        name: "Groq",
        key_envs: &["GROQ_API_KEY"],
        base_env: "GROQ_API_BASE",
        default_base: "https://api.groq.com/openai/v1",
    },
    Host {
        prefix: "mistral",
        name: "Mistral",
        key_envs: &["MISTRAL_API_KEY"],
        base_env: "MISTRAL_API_BASE",
        default_base: "https://api.mistral.ai/v1",
    },
    Host {
        prefix: "deepseek",
        name: "DeepSeek",
        key_envs: &["DEEPSEEK_API_KEY"],
        base_env: "DEEPSEEK_API_BASE",
        default_base: "https://api.deepseek.com",
    },
    Host {
        prefix: "together_ai",
        name: "Together AI",
        key_envs: &["TOGETHERAI_API_KEY", "TOGETHER_API_KEY", "TOGETHER_AI_API_KEY", "TOGETHER_AI_TOKEN"],
        base_env: "TOGETHERAI_API_BASE",
        default_base: "https://api.together.xyz/v1",
    },
    Host {
        prefix: "fireworks_ai",
        name: "Fireworks AI",
        key_envs: &["FIREWORKS_API_KEY", "FIREWORKS_AI_API_KEY", "FIREWORKSAI_API_KEY", "FIREWORKS_AI_TOKEN"],
        base_env: "FIREWORKS_API_BASE",
        default_base: "https://api.fireworks.ai/inference/v1",
    },
    Host {
        prefix: "xai",
        name: "xAI",
        key_envs: &["XAI_API_KEY"],
        base_env: "XAI_API_BASE",
        default_base: "https://api.x.ai/v1",
    },
    Host {
        prefix: "cerebras",
        name: "Cerebras",
        key_envs: &["CEREBRAS_API_KEY"],
        base_env: "CEREBRAS_API_BASE",
        default_base: "https://api.cerebras.ai/v1",
    },
    Host {
        prefix: "perplexity",
        name: "Perplexity",
        key_envs: &["PERPLEXITYAI_API_KEY", "PERPLEXITY_API_KEY"],
        base_env: "PERPLEXITY_API_BASE",
        default_base: "https://api.perplexity.ai",
    },
];
