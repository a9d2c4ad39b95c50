//! Names of the settings that are secrets of Revis itself (LLM provider keys and endpoints).
//! They reach the daemon's memory and the providers' HTTP headers, nothing else: not the
//! store, not logs, not tmux or the training's environment (unless a user names one in
//! `entry.env_passthrough` on purpose).

/// The variables `revis loop` and `revis resume` pass from the user's shell to the daemon.
pub const PROVIDER_VARIABLES: &[&str] = &[
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
    "ANTHROPIC_API_BASE",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_API_BASE",
    "OLLAMA_API_BASE",
    "HOSTED_VLLM_API_BASE",
    "HOSTED_VLLM_API_KEY",
    "LITELLM_PROXY_API_BASE",
    "LITELLM_PROXY_API_KEY",
];
