//! LiteLLM-style model names (`anthropic/claude-sonnet-4-5`, `ollama/llama3`, a bare
//! `gpt-4.1`, ...) resolved to a wire API, an endpoint and a key, from `llm.api_base` and the
//! usual environment variables; and the provider for a resolved route.
//!
//! Must not: read the process environment itself (the caller passes the session's variables,
//! which override the daemon's), or show a key in any message or `Debug` output.

use std::fmt;
use std::time::Duration;

use super::anthropic::AnthropicProvider;
use super::bedrock::BedrockProvider;
use super::chat::{LlmError, LlmProvider};
use super::gemini::GeminiProvider;
pub use super::hosts::{HOSTS, Host};
use super::openai::OpenAiProvider;

/// The wire format a route speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Anthropic,
    /// OpenAI Chat Completions, also spoken by Ollama, vLLM, llama.cpp and the LiteLLM proxy.
    OpenAi,
    /// Chat Completions at a deployment's path, with `api-key` (or an Entra ID bearer token).
    Azure,
    /// Gemini's native `generateContent` with an API key.
    Gemini,
    /// Bedrock's Converse API, SigV4-signed (or a Bedrock API key as a bearer token).
    Bedrock,
    /// `generateContent` on Vertex AI (Google's models), with an OAuth token.
    VertexGemini,
    /// Anthropic Messages through Vertex AI's `rawPredict` (Claude models), with an OAuth token.
    VertexAnthropic,
}

/// What a family needs beyond a base URL and a key.
#[derive(Clone, PartialEq)]
pub enum Extra {
    None,
    /// `key` is an Entra ID token (`AZURE_AD_TOKEN`) when `entra`, else the resource's key.
    Azure {
        api_version: String,
        entra: bool,
    },
    /// SigV4 keys, or none when `key` holds a Bedrock API key (`AWS_BEARER_TOKEN_BEDROCK`).
    Bedrock {
        region: String,
        keys: Option<super::aws::Keys>,
    },
    Vertex {
        project: String,
        location: String,
        credential: super::google::Credential,
    },
}

/// Where and how to call one model.
#[derive(Clone, PartialEq)]
pub struct Route {
    /// The name as configured, e.g. `anthropic/claude-sonnet-4-5`.
    pub spec: String,
    pub api: Api,
    /// The provider's own model id (the spec without its prefix).
    pub model: String,
    /// Without a trailing slash; the provider appends its path (`/v1/messages`,
    /// `/chat/completions`).
    pub base_url: String,
    /// The credential to send. OpenAI-compatible servers that need none still get a
    /// placeholder (clients must send one); `None` only for Anthropic behind a custom base.
    pub key: Option<String>,
    /// The variable the key comes from, for messages.
    pub key_env: String,
    pub extra: Extra,
}

impl fmt::Debug for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Route")
            .field("spec", &self.spec)
            .field("api", &self.api)
            .field("model", &self.model)
            .field("base_url", &self.base_url)
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .field("key_env", &self.key_env)
            .field("extra", &self.extra)
            .finish()
    }
}

impl fmt::Debug for Extra {
    // The keys inside are redacted by their own types.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Extra::None => f.write_str("None"),
            Extra::Azure { api_version, entra } => {
                f.debug_struct("Azure").field("api_version", api_version).field("entra", entra).finish()
            }
            Extra::Bedrock { region, keys } => {
                f.debug_struct("Bedrock").field("region", region).field("keys", keys).finish()
            }
            Extra::Vertex { project, location, credential } => f
                .debug_struct("Vertex")
                .field("project", project)
                .field("location", location)
                .field("credential", credential)
                .finish(),
        }
    }
}

/// Per-provider request policy.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderSettings {
    /// Per attempt (`llm.request_timeout`).
    pub timeout: Duration,
    /// Retries after the first attempt (`llm.max_retries`).
    pub max_retries: u32,
    /// The first backoff delay; later ones double up to 16 times this (0.5 s → 8 s, like the
    /// SDKs). Only tests change it.
    pub backoff: Duration,
}

impl Default for ProviderSettings {
    fn default() -> Self {
        Self { timeout: Duration::from_secs(600), max_retries: 2, backoff: Duration::from_millis(500) }
    }
}

/// The provider serving `route`.
pub fn provider(route: &Route, settings: &ProviderSettings) -> Box<dyn LlmProvider> {
    match route.api {
        Api::Anthropic | Api::VertexAnthropic => Box::new(AnthropicProvider::new(route, settings)),
        Api::OpenAi | Api::Azure => Box::new(OpenAiProvider::new(route, settings)),
        Api::Gemini | Api::VertexGemini => Box::new(GeminiProvider::new(route, settings)),
        Api::Bedrock => Box::new(BedrockProvider::new(route, settings)),
    }
}

const GEMINI_BASE: &str = "https://generativelanguage.googleapis.com";
/// LiteLLM's default when `AZURE_API_VERSION` is unset.
pub const AZURE_API_VERSION: &str = "2025-02-01-preview";
/// LiteLLM's default when `VERTEXAI_LOCATION` is unset.
const VERTEX_LOCATION: &str = "us-central1";

/// Sent to OpenAI-compatible servers without a configured key (llama.cpp's documented value).
const NO_KEY: &str = "sk-no-key-required";

enum Family {
    Anthropic,
    OpenAi,
    Ollama,
    HostedVllm,
    LitellmProxy,
    Host(&'static Host),
    Gemini,
    Azure,
    Bedrock,
    Vertex,
}

/// The prefixes of the families Revis knows (for messages).
pub fn known_prefixes() -> Vec<&'static str> {
    let mut prefixes = vec![
        "anthropic",
        "openai",
        "gemini",
        "azure",
        "bedrock",
        "vertex_ai",
        "ollama",
        "ollama_chat",
        "hosted_vllm",
        "litellm_proxy",
    ];
    prefixes.extend(HOSTS.iter().map(|h| h.prefix));
    prefixes
}

/// Why `spec` names no model any family knows (the family is recognised from the name alone;
/// its key and base are looked up later, where the session's variables are known).
pub fn unknown_name(spec: &str) -> Option<String> {
    match family_of(spec.trim()) {
        Ok(_) => None,
        Err(()) => Some(format!(
            "`{}` names no model family Revis knows: write `<family>/<model>` with one of {} (or a bare              claude-*, gpt-*, o1/o3/o4 name)",
            spec.trim(),
            known_prefixes().join(", ")
        )),
    }
}

const ANTHROPIC_BASE: &str = "https://api.anthropic.com";
const OPENAI_BASE: &str = "https://api.openai.com/v1";

/// The provider's model id a name asks for (Bedrock's `converse/` route word dropped), when a
/// family knows the name: what its price is looked up by before it can be resolved.
pub fn model_id(spec: &str) -> Option<String> {
    let (family, model) = family_of(spec.trim()).ok()?;
    let model = match family {
        Family::Bedrock => ["converse/", "invoke/"].iter().fold(model, |m, word| m.strip_prefix(word).unwrap_or(m)),
        _ => model,
    };
    Some(model.to_string())
}

/// Whether a name may not be the model that answers: an Azure deployment, a LiteLLM proxy's
/// alias, or an OpenAI- or Anthropic-style name on a server of the user's own (`base_url` not
/// the official one). Such calls are priced by the model that answers, when it is known.
pub fn named_freely(spec: &str, base_url: Option<&str>) -> bool {
    let official = |default: &str| base_url.is_none_or(|b| b.trim_end_matches('/') == default);
    match family_of(spec.trim()) {
        Ok((Family::Azure | Family::LitellmProxy, _)) => true,
        Ok((Family::OpenAi, _)) => !official(OPENAI_BASE),
        Ok((Family::Anthropic, _)) => !official(ANTHROPIC_BASE),
        _ => false,
    }
}

fn family_of(spec: &str) -> Result<(Family, &str), ()> {
    let (family, model) = match spec.split_once('/') {
        Some((prefix, model)) => {
            let family = match prefix {
                "anthropic" => Family::Anthropic,
                "openai" => Family::OpenAi,
                "ollama" | "ollama_chat" => Family::Ollama,
                "hosted_vllm" => Family::HostedVllm,
                "litellm_proxy" => Family::LitellmProxy,
                "gemini" => Family::Gemini,
                "azure" => Family::Azure,
                "bedrock" => Family::Bedrock,
                "vertex_ai" => Family::Vertex,
                other => Family::Host(HOSTS.iter().find(|h| h.prefix == other).ok_or(())?),
            };
            (family, model)
        }
        None if spec.starts_with("claude-") => (Family::Anthropic, spec),
        None if ["gpt-", "o1", "o3", "o4"].iter().any(|p| spec.starts_with(p)) => (Family::OpenAi, spec),
        None => return Err(()),
    };
    if model.trim().is_empty() {
        return Err(());
    }
    Ok((family, model))
}

/// Resolves `spec` with `api_base` (`llm.api_base`, which overrides every other base) and the
/// environment `env` (unset and empty variables are the same).
pub fn resolve(spec: &str, api_base: Option<&str>, env: &dyn Fn(&str) -> Option<String>) -> Result<Route, LlmError> {
    let spec = spec.trim();
    let var = |name: &str| env(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    let api_base = api_base.map(str::trim).filter(|b| !b.is_empty()).map(str::to_string);
    let unknown = || LlmError::UnknownModel(spec.to_string());

    let (family, model) = family_of(spec).map_err(|()| unknown())?;
    let missing = |env: &str| LlmError::MissingKey { model: spec.to_string(), env: env.to_string() };

    let setting = |message: String| LlmError::Setting { model: spec.to_string(), message };
    let first = |names: &[&str]| names.iter().find_map(|name| var(name).map(|v| (v, name.to_string())));
    let mut extra = Extra::None;
    let mut model = model.to_string();

    let (api, base_url, key, key_env) = match family {
        Family::Anthropic | Family::OpenAi => {
            let (api, name, default) = match family {
                Family::Anthropic => (Api::Anthropic, "ANTHROPIC", ANTHROPIC_BASE),
                _ => (Api::OpenAi, "OPENAI", OPENAI_BASE),
            };
            let key_env = format!("{name}_API_KEY");
            let custom_base =
                api_base.or_else(|| var(&format!("{name}_BASE_URL"))).or_else(|| var(&format!("{name}_API_BASE")));
            let key = var(&key_env);
            // The official endpoints refuse every request without a key: say so now. A custom
            // base may be a local server that needs none.
            let key = match (key, &custom_base, api) {
                (Some(key), _, _) => Some(key),
                (None, None, _) => return Err(missing(&key_env)),
                (None, Some(_), Api::Anthropic) => None,
                (None, Some(_), _) => Some(NO_KEY.to_string()),
            };
            (api, custom_base.unwrap_or_else(|| default.to_string()), key, key_env)
        }
        Family::Ollama => {
            let base =
                api_base.or_else(|| var("OLLAMA_API_BASE")).unwrap_or_else(|| "http://localhost:11434".to_string());
            let base = base.trim_end_matches('/');
            let base = if base.ends_with("/v1") { base.to_string() } else { format!("{base}/v1") };
            let key = var("OLLAMA_API_KEY").unwrap_or_else(|| "ollama".to_string());
            (Api::OpenAi, base, Some(key), "OLLAMA_API_KEY".to_string())
        }
        Family::Host(host) => {
            let base = api_base.or_else(|| var(host.base_env)).unwrap_or_else(|| host.default_base.to_string());
            let found = host.key_envs.iter().find_map(|name| var(name).map(|key| (key, *name)));
            let (key, key_env) = match found {
                Some((key, name)) => (key, name.to_string()),
                None => return Err(missing(host.key_envs[0])),
            };
            (Api::OpenAi, base, Some(key), key_env)
        }
        Family::HostedVllm | Family::LitellmProxy => {
            let name = match family {
                Family::HostedVllm => "HOSTED_VLLM",
                _ => "LITELLM_PROXY",
            };
            let base_env = format!("{name}_API_BASE");
            let key_env = format!("{name}_API_KEY");
            let base = api_base
                .or_else(|| var(&base_env))
                .ok_or_else(|| setting(format!("set {base_env} (or llm.api_base) to the server's URL")))?;
            let key = var(&key_env).unwrap_or_else(|| NO_KEY.to_string());
            (Api::OpenAi, base, Some(key), key_env)
        }
        Family::Gemini => {
            let base = api_base.or_else(|| var("GEMINI_API_BASE")).unwrap_or_else(|| GEMINI_BASE.to_string());
            let (key, key_env) =
                first(&["GEMINI_API_KEY", "GOOGLE_API_KEY"]).ok_or_else(|| missing("GEMINI_API_KEY"))?;
            (Api::Gemini, base, Some(key), key_env)
        }
        Family::Azure => {
            let base =
                api_base.or_else(|| first(&["AZURE_API_BASE", "AZURE_OPENAI_ENDPOINT"]).map(|(v, _)| v)).ok_or_else(
                    || setting("set AZURE_API_BASE to the resource's endpoint (https://NAME.openai.azure.com)".into()),
                )?;
            let api_version = first(&["AZURE_API_VERSION", "OPENAI_API_VERSION"])
                .map_or_else(|| AZURE_API_VERSION.to_string(), |(v, _)| v);
            let (key, key_env, entra) = match first(&["AZURE_API_KEY", "AZURE_OPENAI_API_KEY"]) {
                Some((key, name)) => (key, name, false),
                None => match first(&["AZURE_AD_TOKEN"]) {
                    Some((token, name)) => (token, name, true),
                    None => return Err(missing("AZURE_API_KEY (or AZURE_AD_TOKEN)")),
                },
            };
            extra = Extra::Azure { api_version, entra };
            (Api::Azure, base, Some(key), key_env)
        }
        Family::Bedrock => {
            // LiteLLM's route words: Converse serves every model either way.
            for route in ["converse/", "invoke/"] {
                if let Some(rest) = model.strip_prefix(route) {
                    model = rest.to_string();
                }
            }
            let region = super::aws::region(&var)
                .ok_or_else(|| setting("set AWS_REGION (or AWS_REGION_NAME, or a region in the AWS profile)".into()))?;
            let base = api_base
                .or_else(|| var("AWS_BEDROCK_RUNTIME_ENDPOINT"))
                .unwrap_or_else(|| format!("https://bedrock-runtime.{region}.amazonaws.com"));
            let (key, key_env, keys) = match var("AWS_BEARER_TOKEN_BEDROCK") {
                Some(token) => (Some(token), "AWS_BEARER_TOKEN_BEDROCK".to_string(), None),
                None => match super::aws::keys(&var).map_err(setting)? {
                    Some((keys, source)) => (None, source.to_string(), Some(keys)),
                    None => return Err(missing("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)")),
                },
            };
            extra = Extra::Bedrock { region, keys };
            (Api::Bedrock, base, key, key_env)
        }
        Family::Vertex => {
            let credential = match super::google::Credential::from_env(&var).map_err(setting)? {
                Some(credential) => credential,
                None => return Err(missing("GOOGLE_APPLICATION_CREDENTIALS (or VERTEXAI_CREDENTIALS)")),
            };
            let project = first(&["VERTEXAI_PROJECT", "VERTEX_PROJECT", "GOOGLE_CLOUD_PROJECT"])
                .map(|(v, _)| v)
                .or_else(|| credential.project_id())
                .ok_or_else(|| setting("set VERTEXAI_PROJECT to the Google Cloud project".into()))?;
            let location = first(&["VERTEXAI_LOCATION", "VERTEX_LOCATION", "GOOGLE_CLOUD_LOCATION"])
                .map_or_else(|| VERTEX_LOCATION.to_string(), |(v, _)| v);
            let base = api_base.or_else(|| var("VERTEXAI_API_BASE")).unwrap_or_else(|| match location.as_str() {
                "global" => "https://aiplatform.googleapis.com".to_string(),
                multi @ ("us" | "eu") => format!("https://aiplatform.{multi}.rep.googleapis.com"),
                region => format!("https://{region}-aiplatform.googleapis.com"),
            });
            let api = if model.starts_with("claude") { Api::VertexAnthropic } else { Api::VertexGemini };
            let key_env = credential.source().to_string();
            extra = Extra::Vertex { project, location, credential };
            (api, base, None, key_env)
        }
    };
    Ok(Route {
        spec: spec.to_string(),
        api,
        model,
        base_url: base_url.trim_end_matches('/').to_string(),
        key,
        key_env,
        extra,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    fn ok(spec: &str, api_base: Option<&str>, env: &[(&str, &str)]) -> Route {
        resolve(spec, api_base, &env_of(env)).unwrap()
    }

    fn missing_env(spec: &str, api_base: Option<&str>, env: &[(&str, &str)]) -> String {
        match resolve(spec, api_base, &env_of(env)) {
            Err(LlmError::MissingKey { env, .. }) => env,
            other => panic!("expected MissingKey, got {other:?}"),
        }
    }

    #[test]
    fn anthropic_prefix_and_bare_claude_use_anthropic_key_and_default_base() {
        for spec in ["anthropic/claude-sonnet-4-5", "claude-sonnet-4-5"] {
            let route = ok(spec, None, &[("ANTHROPIC_API_KEY", "sk-ant")]);
            assert_eq!(route.api, Api::Anthropic);
            assert_eq!(route.model, "claude-sonnet-4-5");
            assert_eq!(route.spec, spec);
            assert_eq!(route.base_url, "https://api.anthropic.com");
            assert_eq!(route.key.as_deref(), Some("sk-ant"));
            assert_eq!(route.key_env, "ANTHROPIC_API_KEY");
        }
    }

    #[test]
    fn anthropic_base_from_base_url_then_api_base_then_llm_api_base_overrides() {
        let both =
            [("ANTHROPIC_API_KEY", "k"), ("ANTHROPIC_BASE_URL", "http://a/"), ("ANTHROPIC_API_BASE", "http://b")];
        assert_eq!(ok("anthropic/claude-x", None, &both).base_url, "http://a");
        let second = [("ANTHROPIC_API_KEY", "k"), ("ANTHROPIC_API_BASE", "http://b")];
        assert_eq!(ok("anthropic/claude-x", None, &second).base_url, "http://b");
        assert_eq!(ok("anthropic/claude-x", Some("http://c/"), &both).base_url, "http://c");
    }

    #[test]
    fn official_endpoints_need_a_key_custom_bases_do_not() {
        assert_eq!(missing_env("anthropic/claude-x", None, &[]), "ANTHROPIC_API_KEY");
        assert_eq!(missing_env("claude-x", None, &[("ANTHROPIC_API_KEY", "  ")]), "ANTHROPIC_API_KEY");
        assert_eq!(missing_env("openai/gpt-4.1", None, &[]), "OPENAI_API_KEY");
        assert_eq!(missing_env("o3-mini", None, &[("ANTHROPIC_API_KEY", "k")]), "OPENAI_API_KEY");
        let route = ok("anthropic/claude-x", Some("http://127.0.0.1:9"), &[]);
        assert_eq!(route.key, None);
        let route = ok("openai/local", None, &[("OPENAI_BASE_URL", "http://127.0.0.1:8080/v1")]);
        assert_eq!(route.key.as_deref(), Some(NO_KEY));
    }

    #[test]
    fn openai_prefix_and_bare_names() {
        for (spec, model) in [
            ("openai/gpt-4.1", "gpt-4.1"),
            ("gpt-4o-mini", "gpt-4o-mini"),
            ("o1", "o1"),
            ("o3-mini", "o3-mini"),
            ("o4-mini", "o4-mini"),
            ("openai/meta-llama/Llama-3-8B", "meta-llama/Llama-3-8B"),
        ] {
            let route = ok(spec, None, &[("OPENAI_API_KEY", "sk-o")]);
            assert_eq!((route.api, route.model.as_str()), (Api::OpenAi, model), "{spec}");
            assert_eq!(route.base_url, "https://api.openai.com/v1");
            assert_eq!(route.key.as_deref(), Some("sk-o"));
            assert_eq!(route.key_env, "OPENAI_API_KEY");
        }
        let env = [("OPENAI_API_KEY", "k"), ("OPENAI_BASE_URL", "http://a/v1"), ("OPENAI_API_BASE", "http://b/v1")];
        assert_eq!(ok("openai/x", None, &env).base_url, "http://a/v1");
        let second = [("OPENAI_API_KEY", "k"), ("OPENAI_API_BASE", "http://b/v1")];
        assert_eq!(ok("openai/x", None, &second).base_url, "http://b/v1");
        assert_eq!(ok("openai/x", Some("http://c/v1"), &env).base_url, "http://c/v1");
    }

    #[test]
    fn ollama_defaults_to_localhost_appends_v1_and_sends_a_placeholder_key() {
        for spec in ["ollama/llama3", "ollama_chat/llama3"] {
            let route = ok(spec, None, &[]);
            assert_eq!(route.api, Api::OpenAi);
            assert_eq!(route.model, "llama3");
            assert_eq!(route.base_url, "http://localhost:11434/v1");
            assert_eq!(route.key.as_deref(), Some("ollama"));
        }
        assert_eq!(ok("ollama/m", None, &[("OLLAMA_API_BASE", "http://gpu:11434/")]).base_url, "http://gpu:11434/v1");
        assert_eq!(
            ok("ollama/m", Some("http://x:1/v1"), &[("OLLAMA_API_BASE", "http://gpu")]).base_url,
            "http://x:1/v1"
        );
    }

    fn setting(spec: &str, env: &[(&str, &str)]) -> String {
        match resolve(spec, None, &env_of(env)) {
            Err(LlmError::Setting { message, .. }) => message,
            other => panic!("expected a missing setting, got {other:?}"),
        }
    }

    #[test]
    fn hosted_vllm_and_litellm_proxy_need_a_base_and_take_an_optional_key() {
        assert!(setting("hosted_vllm/m", &[]).contains("HOSTED_VLLM_API_BASE"));
        assert!(setting("litellm_proxy/m", &[]).contains("LITELLM_PROXY_API_BASE"));
        let route = ok("hosted_vllm/Qwen/Qwen3-8B", None, &[("HOSTED_VLLM_API_BASE", "http://v:8000/v1")]);
        assert_eq!((route.api, route.model.as_str()), (Api::OpenAi, "Qwen/Qwen3-8B"));
        assert_eq!(route.base_url, "http://v:8000/v1");
        assert_eq!(route.key.as_deref(), Some(NO_KEY));
        assert_eq!(route.key_env, "HOSTED_VLLM_API_KEY");
        let env = [("LITELLM_PROXY_API_BASE", "http://p:4000"), ("LITELLM_PROXY_API_KEY", "sk-p")];
        let route = ok("litellm_proxy/claude", None, &env);
        assert_eq!((route.base_url.as_str(), route.key.as_deref()), ("http://p:4000", Some("sk-p")));
        assert_eq!(ok("hosted_vllm/m", Some("http://o/v1"), &[]).base_url, "http://o/v1");
    }

    #[test]
    fn unknown_names_are_refused() {
        for spec in ["mistrall/x", "llama3", "anthropic/", "", "groq/", "gemini-pro"] {
            assert!(matches!(resolve(spec, None, &env_of(&[])), Err(LlmError::UnknownModel(_))), "{spec}");
        }
    }

    #[test]
    fn openai_compatible_hosts_use_their_default_base_and_key_variables() {
        for host in HOSTS {
            let spec = format!("{}/some-org/model-1", host.prefix);
            assert_eq!(missing_env(&spec, None, &[]), host.key_envs[0], "{spec}");
            for key_env in host.key_envs {
                let route = ok(&spec, None, &[(key_env, "sk-host")]);
                assert_eq!((route.api, route.model.as_str()), (Api::OpenAi, "some-org/model-1"), "{spec}");
                assert_eq!(route.base_url, host.default_base.trim_end_matches('/'), "{spec}");
                assert_eq!((route.key.as_deref(), route.key_env.as_str()), (Some("sk-host"), *key_env), "{spec}");
            }
            let env = [(host.key_envs[0], "k"), (host.base_env, "http://127.0.0.1:9/v1/")];
            assert_eq!(ok(&spec, None, &env).base_url, "http://127.0.0.1:9/v1", "{spec}");
            assert_eq!(ok(&spec, Some("http://o/v1"), &env).base_url, "http://o/v1", "{spec}");
            assert!(unknown_name(&spec).is_none(), "{spec}");
        }
        assert_eq!(
            ok("groq/llama-3.3-70b-versatile", None, &[("GROQ_API_KEY", "k")]).base_url,
            "https://api.groq.com/openai/v1"
        );
        let text = unknown_name("gemini-pro").unwrap_or_default();
        assert!(text.contains("openrouter") && text.contains("`gemini-pro`"), "{text}");
    }

    #[test]
    fn every_host_variable_travels_with_the_session() {
        for host in HOSTS {
            for name in host.key_envs.iter().chain([&host.base_env]) {
                assert!(crate::secrets::PROVIDER_VARIABLES.contains(name), "{name} is not passed by the CLI");
            }
        }
    }

    #[test]
    fn gemini_takes_its_key_and_the_native_base() {
        assert_eq!(missing_env("gemini/gemini-2.5-flash", None, &[]), "GEMINI_API_KEY");
        for key_env in ["GEMINI_API_KEY", "GOOGLE_API_KEY"] {
            let route = ok("gemini/gemini-2.5-flash", None, &[(key_env, "g-key")]);
            assert_eq!((route.api, route.model.as_str()), (Api::Gemini, "gemini-2.5-flash"));
            assert_eq!(route.base_url, "https://generativelanguage.googleapis.com");
            assert_eq!((route.key.as_deref(), route.key_env.as_str()), (Some("g-key"), key_env));
        }
        let env = [("GEMINI_API_KEY", "k"), ("GEMINI_API_BASE", "http://127.0.0.1:9/")];
        assert_eq!(ok("gemini/x", None, &env).base_url, "http://127.0.0.1:9");
    }

    #[test]
    fn azure_needs_a_base_and_takes_a_key_or_an_entra_token() {
        assert!(setting("azure/my-gpt", &[("AZURE_API_KEY", "k")]).contains("AZURE_API_BASE"));
        let base = ("AZURE_API_BASE", "https://res.openai.azure.com/");
        assert!(missing_env("azure/my-gpt", None, &[base]).starts_with("AZURE_API_KEY"));
        let route = ok("azure/my-gpt", None, &[base, ("AZURE_API_KEY", "az")]);
        assert_eq!(
            (route.api, route.model.as_str(), route.base_url.as_str()),
            (Api::Azure, "my-gpt", "https://res.openai.azure.com")
        );
        assert_eq!(route.extra, Extra::Azure { api_version: AZURE_API_VERSION.into(), entra: false });
        let route = ok("azure/my-gpt", None, &[base, ("AZURE_AD_TOKEN", "eyJ"), ("AZURE_API_VERSION", "2024-10-21")]);
        assert_eq!(route.extra, Extra::Azure { api_version: "2024-10-21".into(), entra: true });
        assert_eq!((route.key.as_deref(), route.key_env.as_str()), (Some("eyJ"), "AZURE_AD_TOKEN"));
    }

    #[test]
    fn bedrock_needs_a_region_and_signs_with_keys_or_a_bearer_token() {
        let keys = [("AWS_ACCESS_KEY_ID", "AKIA"), ("AWS_SECRET_ACCESS_KEY", "s")];
        assert!(setting("bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0", &keys).contains("AWS_REGION"));
        assert!(missing_env("bedrock/m", None, &[("AWS_REGION", "us-east-1")]).starts_with("AWS_ACCESS_KEY_ID"));
        let route = ok(
            "bedrock/converse/anthropic.claude-3-5-sonnet-20240620-v1:0",
            None,
            &[keys[0], keys[1], ("AWS_REGION_NAME", "eu-west-1")],
        );
        assert_eq!((route.api, route.model.as_str()), (Api::Bedrock, "anthropic.claude-3-5-sonnet-20240620-v1:0"));
        assert_eq!(route.base_url, "https://bedrock-runtime.eu-west-1.amazonaws.com");
        assert!(
            matches!(&route.extra, Extra::Bedrock { region, keys: Some(k) } if region == "eu-west-1" && k.access_key_id == "AKIA")
        );
        assert_eq!(route.key, None);
        let route = ok(
            "bedrock/m",
            None,
            &[
                ("AWS_REGION", "us-east-1"),
                ("AWS_BEARER_TOKEN_BEDROCK", "bk"),
                ("AWS_BEDROCK_RUNTIME_ENDPOINT", "http://127.0.0.1:7"),
            ],
        );
        assert_eq!((route.key.as_deref(), route.base_url.as_str()), (Some("bk"), "http://127.0.0.1:7"));
        assert!(!format!("{route:?}").contains("\"bk\""), "{route:?}");
    }

    #[test]
    fn vertex_serves_gemini_and_claude_with_a_google_credential() {
        let sa = r#"{"type":"service_account","client_email":"a@p.iam.gserviceaccount.com","private_key":"-----BEGIN PRIVATE KEY-----\nX\n-----END PRIVATE KEY-----\n","token_uri":"https://oauth2.googleapis.com/token","project_id":"proj-1"}"#;
        assert!(missing_env("vertex_ai/gemini-2.5-pro", None, &[]).starts_with("GOOGLE_APPLICATION_CREDENTIALS"));
        let route = ok("vertex_ai/gemini-2.5-pro", None, &[("VERTEXAI_CREDENTIALS", sa)]);
        assert_eq!(route.api, Api::VertexGemini);
        assert_eq!(route.base_url, "https://us-central1-aiplatform.googleapis.com");
        assert!(
            matches!(&route.extra, Extra::Vertex { project, location, .. } if project == "proj-1" && location == "us-central1")
        );
        let env = [("VERTEXAI_CREDENTIALS", sa), ("VERTEXAI_PROJECT", "p2"), ("VERTEXAI_LOCATION", "global")];
        let route = ok("vertex_ai/claude-sonnet-4-5@20250929", None, &env);
        assert_eq!((route.api, route.base_url.as_str()), (Api::VertexAnthropic, "https://aiplatform.googleapis.com"));
        assert!(matches!(&route.extra, Extra::Vertex { project, .. } if project == "p2"));
        let user = r#"{"type":"authorized_user","client_id":"c","client_secret":"s","refresh_token":"r"}"#;
        assert!(setting("vertex_ai/gemini-2.5-pro", &[("VERTEXAI_CREDENTIALS", user)]).contains("VERTEXAI_PROJECT"));
        assert!(setting("vertex_ai/gemini-2.5-pro", &[("VERTEXAI_CREDENTIALS", "{}")]).contains("not supported"));
    }

    #[test]
    fn debug_output_hides_the_key() {
        let route = ok("anthropic/claude-x", None, &[("ANTHROPIC_API_KEY", "sk-ant-SECRET")]);
        let shown = format!("{route:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(shown.contains("redacted"));
    }
}
