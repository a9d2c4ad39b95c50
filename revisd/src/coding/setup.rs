//! What each agent is given: its model, its endpoint and the variables its current release
//! actually reads, resolved from `coding_agent` (model, api_base, env), `llm.model` and the
//! variables the session brought from the user's shell. This module owns what is common (the
//! options, model-name helpers, the user's `coding_agent.env` applied last); each agent's own
//! rules are its `CodingAgent::settings`.
//!
//! The releases differ (checked against claude 2.1, codex 0.171, aider 0.86):
//! - Claude Code reads `ANTHROPIC_API_KEY` and `ANTHROPIC_BASE_URL`; `--model` picks the model.
//! - codex reads its key from `CODEX_API_KEY` (not `OPENAI_API_KEY`) and its endpoint only from
//!   its configuration, so a base URL becomes `-c` overrides of a provider entry (see `codex`).
//! - aider goes through litellm: `OPENAI_API_BASE` (not `OPENAI_BASE_URL`), `ANTHROPIC_API_BASE`,
//!   and a model name in LiteLLM style.
//!
//! Must not: read the process environment (the session's variables are passed in), or put a
//! value in anything but the returned environment (callers log names only).

use indexmap::IndexMap;

use super::AgentKind;

/// The user's `coding_agent` settings that shape the call, plus the advisor's model.
#[derive(Debug, Clone, Copy)]
pub struct AgentOptions<'a> {
    /// `coding_agent.model`.
    pub model: Option<&'a str>,
    /// `llm.model`: the agent's model when none is given and the agent can call that provider.
    pub llm_model: &'a str,
    /// `coding_agent.api_base`.
    pub api_base: Option<&'a str>,
    /// `coding_agent.env`: fixed values, or `None` for "from the session".
    pub env: &'a IndexMap<String, Option<String>>,
    /// codex has a login of its own (`$CODEX_HOME/auth.json`): without an endpoint of Revis's,
    /// the session's `OPENAI_API_KEY` must not replace it (it would move the user's billing).
    pub codex_logged_in: bool,
}

/// What the agent runs with.
#[derive(Clone, Default, PartialEq)]
pub struct AgentSettings {
    /// In the agent's own terms (`claude-sonnet-4-5` for Claude Code, `openai/gpt-4.1` for aider).
    pub model: Option<String>,
    /// The endpoint, for agents that take it on the command line (codex).
    pub api_base: Option<String>,
    pub env: Vec<(String, String)>,
}

impl std::fmt::Debug for AgentSettings {
    // Values may be keys: names only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentSettings")
            .field("model", &self.model)
            .field("api_base", &self.api_base)
            .field("env", &self.env.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>())
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Family {
    Anthropic,
    OpenAi,
    Other,
}

/// The provider a LiteLLM-style name belongs to.
pub(super) fn family(model: &str) -> Family {
    let model = model.trim();
    match model.split_once('/') {
        Some(("anthropic", _)) => Family::Anthropic,
        Some(("openai", _)) => Family::OpenAi,
        Some(_) => Family::Other,
        None if model.starts_with("claude") => Family::Anthropic,
        None if ["gpt-", "o1", "o3", "o4", "codex-"].iter().any(|p| model.starts_with(p)) => Family::OpenAi,
        None => Family::Other,
    }
}

/// The model id without its `provider/` prefix.
pub(super) fn bare(model: &str) -> String {
    let model = model.trim();
    model.split_once('/').map_or(model, |(_, id)| id).to_string()
}

pub(super) fn is_none(model: &str) -> bool {
    model.trim().is_empty() || model.trim().eq_ignore_ascii_case("none")
}

/// The variables the session brought from the user's shell. Values are trimmed and a blank one
/// counts as unset, so an empty export does not shadow the next variable an agent tries.
pub struct SessionVars<'a>(&'a dyn Fn(&str) -> Option<String>);

impl SessionVars<'_> {
    pub fn get(&self, name: &str) -> Option<String> {
        (self.0)(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
    }
}

impl AgentOptions<'_> {
    /// `coding_agent.model`, unless blank or `none` (both mean "the agent's default").
    pub(super) fn configured_model(&self) -> Option<&str> {
        self.model.map(str::trim).filter(|m| !is_none(m))
    }

    /// `coding_agent.api_base`, unless blank.
    pub(super) fn configured_api_base(&self) -> Option<String> {
        self.api_base.map(str::trim).filter(|b| !b.is_empty()).map(str::to_string)
    }
}

/// Sets `name` when there is a value; a later value replaces an earlier one, so whatever is
/// set last wins (the user's `coding_agent.env` is set last).
pub(super) fn set_var(env: &mut Vec<(String, String)>, name: &str, value: Option<String>) {
    if let Some(value) = value {
        env.retain(|(k, _)| k != name);
        env.push((name.to_string(), value));
    }
}

/// Resolves the settings of `kind` from the options and the session's variables: the agent's
/// own, then the user's `coding_agent.env` over them.
pub fn settings(kind: AgentKind, opts: &AgentOptions<'_>, session: &dyn Fn(&str) -> Option<String>) -> AgentSettings {
    let session = SessionVars(session);
    let mut settings = kind.agent().settings(opts, &session);
    for (name, value) in opts.env {
        // No value: the name is passed through from the session.
        set_var(&mut settings.env, name, value.clone().or_else(|| session.get(name)));
    }
    settings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    }

    fn get<'a>(s: &'a AgentSettings, name: &str) -> Option<&'a str> {
        s.env.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn opts<'a>(env: &'a IndexMap<String, Option<String>>) -> AgentOptions<'a> {
        AgentOptions {
            model: None,
            llm_model: "anthropic/claude-sonnet-4-5",
            api_base: None,
            env,
            codex_logged_in: false,
        }
    }

    #[test]
    fn claude_gets_the_advisors_anthropic_model_and_the_session_endpoint() {
        let env = IndexMap::new();
        let vars = session(&[("ANTHROPIC_API_KEY", "k"), ("ANTHROPIC_BASE_URL", "http://a"), ("OPENAI_API_KEY", "o")]);
        let s = settings(AgentKind::ClaudeCode, &opts(&env), &vars);
        assert_eq!(s.model.as_deref(), Some("claude-sonnet-4-5"));
        assert_eq!(get(&s, "ANTHROPIC_API_KEY"), Some("k"));
        assert_eq!(get(&s, "ANTHROPIC_BASE_URL"), Some("http://a"));
        assert_eq!(get(&s, "OPENAI_API_KEY"), None, "an agent gets only what it reads");
    }

    #[test]
    fn the_agents_own_endpoint_and_model_win() {
        let env = IndexMap::new();
        let vars = session(&[("ANTHROPIC_API_KEY", "k"), ("ANTHROPIC_BASE_URL", "http://advisor")]);
        let o = AgentOptions { model: Some("anthropic/claude-opus-4-1"), api_base: Some("http://agent"), ..opts(&env) };
        let s = settings(AgentKind::ClaudeCode, &o, &vars);
        assert_eq!(s.model.as_deref(), Some("claude-opus-4-1"));
        assert_eq!(get(&s, "ANTHROPIC_BASE_URL"), Some("http://agent"));
    }

    #[test]
    fn codex_gets_its_own_key_variable_and_a_base_for_its_provider_entry() {
        let env = IndexMap::new();
        let vars = session(&[("OPENAI_API_KEY", "sk-o"), ("OPENAI_BASE_URL", "http://o/v1")]);
        let o = AgentOptions { llm_model: "openai/gpt-5-codex", ..opts(&env) };
        let s = settings(AgentKind::Codex, &o, &vars);
        assert_eq!(get(&s, "CODEX_API_KEY"), Some("sk-o"));
        assert_eq!(get(&s, "OPENAI_API_KEY"), None);
        assert_eq!(s.api_base.as_deref(), Some("http://o/v1"));
        assert_eq!(s.model.as_deref(), Some("gpt-5-codex"));
        // An Anthropic advisor says nothing about codex's model.
        let s = settings(AgentKind::Codex, &opts(&env), &session(&[("CODEX_API_KEY", "c"), ("OPENAI_API_KEY", "o")]));
        assert_eq!((s.model.as_deref(), get(&s, "CODEX_API_KEY")), (None, Some("c")));
    }

    #[test]
    fn a_codex_login_is_not_replaced_by_the_advisors_openai_key() {
        let env = IndexMap::new();
        let o = AgentOptions { codex_logged_in: true, ..opts(&env) };
        let s = settings(AgentKind::Codex, &o, &session(&[("OPENAI_API_KEY", "sk-o")]));
        assert_eq!(get(&s, "CODEX_API_KEY"), None);
        // With an endpoint of Revis's, the login does not apply: the key is needed.
        let s =
            settings(AgentKind::Codex, &o, &session(&[("OPENAI_API_KEY", "sk-o"), ("OPENAI_BASE_URL", "http://o")]));
        assert_eq!(get(&s, "CODEX_API_KEY"), Some("sk-o"));
        // An explicit CODEX_API_KEY is the user's choice.
        let s = settings(AgentKind::Codex, &o, &session(&[("CODEX_API_KEY", "c")]));
        assert_eq!(get(&s, "CODEX_API_KEY"), Some("c"));
    }

    #[test]
    fn aider_gets_litellm_names_and_variables() {
        let env = IndexMap::new();
        let vars =
            session(&[("ANTHROPIC_API_KEY", "k"), ("ANTHROPIC_BASE_URL", "http://a"), ("OPENAI_BASE_URL", "http://o")]);
        let s = settings(AgentKind::Aider, &opts(&env), &vars);
        assert_eq!(s.model.as_deref(), Some("anthropic/claude-sonnet-4-5"));
        assert_eq!(get(&s, "ANTHROPIC_API_BASE"), Some("http://a"));
        assert_eq!(get(&s, "OPENAI_API_BASE"), Some("http://o"), "aider reads OPENAI_API_BASE, not OPENAI_BASE_URL");
        assert_eq!(get(&s, "LITELLM_LOCAL_MODEL_COST_MAP"), Some("True"));
        let o = AgentOptions { model: Some("openai/gpt-4.1"), api_base: Some("http://vllm/v1"), ..opts(&env) };
        let s = settings(AgentKind::Aider, &o, &vars);
        assert_eq!(get(&s, "OPENAI_API_BASE"), Some("http://vllm/v1"));
        assert_eq!(get(&s, "ANTHROPIC_API_BASE"), Some("http://a"));
    }

    #[test]
    fn aider_gets_a_local_servers_base_in_its_own_variable() {
        let env = IndexMap::new();
        let o = AgentOptions { model: Some("ollama/llama3"), api_base: Some("http://gpu:11434"), ..opts(&env) };
        let s = settings(AgentKind::Aider, &o, &session(&[]));
        assert_eq!(get(&s, "OLLAMA_API_BASE"), Some("http://gpu:11434"));
        assert_eq!(get(&s, "OPENAI_API_BASE"), None);
    }

    #[test]
    fn user_env_sets_values_and_passes_session_names() {
        let env: IndexMap<String, Option<String>> = [
            ("AIDER_EDIT_FORMAT".to_string(), Some("diff".to_string())),
            ("GEMINI_API_KEY".to_string(), None),
            ("MISSING".to_string(), None),
            ("DISABLE_AUTOUPDATER".to_string(), Some("0".to_string())),
        ]
        .into_iter()
        .collect();
        let s = settings(AgentKind::ClaudeCode, &opts(&env), &session(&[("GEMINI_API_KEY", "g")]));
        assert_eq!(get(&s, "AIDER_EDIT_FORMAT"), Some("diff"));
        assert_eq!(get(&s, "GEMINI_API_KEY"), Some("g"));
        assert_eq!(get(&s, "MISSING"), None);
        assert_eq!(get(&s, "DISABLE_AUTOUPDATER"), Some("0"), "the user's value wins");
        assert_eq!(s.env.iter().filter(|(k, _)| k == "DISABLE_AUTOUPDATER").count(), 1);
    }

    #[test]
    fn debug_shows_names_only() {
        let env = IndexMap::new();
        let s = settings(AgentKind::ClaudeCode, &opts(&env), &session(&[("ANTHROPIC_API_KEY", "sk-secret")]));
        assert!(!format!("{s:?}").contains("sk-secret"));
    }
}
