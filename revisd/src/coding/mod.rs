//! Coding agents: running Claude Code, Codex or aider on a worktree and reading how it went.
//!
//! This module owns finding an agent on PATH (`detect`), writing the handoff prompt (`prompt`),
//! and running one agent under a timeout in its own process group with its output logged
//! (`run`). It must not know about sessions, iterations or the store, and it does not judge the
//! diff: an empty diff, touched frozen files and verification are the caller's business.
//!
//! What differs between agents is behind the `CodingAgent` trait, one module per agent, and
//! `AGENTS` below is the only list of them: no code here matches on an `AgentKind`, and callers
//! reach per-agent behaviour (`configured_args`, say) through `kind.agent()` rather than a match.

mod agent;
mod agent_trait;
mod aider;
mod claude;
mod codex;
mod detect;
mod process;
mod prompt;
mod setup;

#[cfg(test)]
mod registry_tests;
#[cfg(test)]
mod standin_tests;
#[cfg(test)]
mod test_support;

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

pub(crate) use agent::clip;
pub use agent::run;
pub use agent_trait::{CodingAgent, Report};
pub use detect::{detect, resolve};
pub use process::LineWatch;
pub use prompt::{Handoff, prompt};
pub use setup::{AgentOptions, AgentSettings, SessionVars, settings};

/// Every agent Revis drives, in the order `coding_agent.type: auto` tries them. Adding an agent
/// is its module, its line here, and its names in `AgentKind` and the config schema.
static AGENTS: &[&dyn CodingAgent] = &[&claude::ClaudeCode, &codex::Codex, &aider::Aider];

/// The registered agents, in detection order.
pub fn agents() -> &'static [&'static dyn CodingAgent] {
    AGENTS
}

/// The agent `kind` names.
pub fn agent(kind: AgentKind) -> &'static dyn CodingAgent {
    // Every kind is registered (`registry_tests` checks it); a miss is a build mistake, not
    // something a user or a stored row can cause, since parsing goes through the registry.
    AGENTS.iter().copied().find(|agent| agent.kind() == kind).expect("every AgentKind has an entry in AGENTS")
}

/// Which coding agent: the identifier stored on iterations and passed around the engine. What
/// the agent does comes from its `CodingAgent` (`kind.agent()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AgentKind {
    ClaudeCode,
    Codex,
    Aider,
}

impl AgentKind {
    /// What this agent does: its entry in the registry.
    pub fn agent(self) -> &'static dyn CodingAgent {
        agent(self)
    }

    /// The executable looked up on PATH.
    pub fn program(self) -> &'static str {
        self.agent().program()
    }

    /// The name used in revis.yaml and stored on iterations.
    pub fn as_str(self) -> &'static str {
        self.agent().name()
    }
}

impl fmt::Display for AgentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AgentKind {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        agents().iter().find(|agent| agent.name() == text).map(|agent| agent.kind()).ok_or_else(|| {
            let names: Vec<&str> = agents().iter().map(|agent| agent.name()).collect();
            let expected = match names.split_last() {
                Some((last, [])) => last.to_string(),
                Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
                None => "none registered".to_string(),
            };
            format!("unknown coding agent {text:?} (expected {expected})")
        })
    }
}

/// One handoff to run.
#[derive(Clone)]
pub struct AgentRun {
    pub kind: AgentKind,
    /// The agent's current directory; none of the CLIs has a flag for it.
    pub worktree: PathBuf,
    pub prompt: String,
    /// On expiry the whole process group gets SIGTERM, then SIGKILL 5 s later.
    pub timeout: Duration,
    /// Claude Code's `--max-turns`; the other agents have no turn cap.
    pub max_turns: u32,
    /// Passed on aider's command line (relative to the worktree); the others see them in the prompt.
    pub files: Vec<String>,
    /// stdout and stderr are appended here.
    pub log_path: PathBuf,
    /// Added to the child's environment after the provider variables are removed: the caller
    /// passes only the ones this agent needs (e.g. `ANTHROPIC_API_KEY` for Claude Code).
    pub env: Vec<(String, String)>,
    /// PATH for finding the agent and for the child; `None` = the daemon's PATH.
    pub path_var: Option<OsString>,
    /// The agent's model in its own terms (`--model`); `None` = the agent's default.
    pub model: Option<String>,
    /// An endpoint given on the command line (codex's provider entry); the others take theirs
    /// from `env`.
    pub api_base: Option<String>,
    /// `coding_agent.args` for this agent, after Revis's own.
    pub extra_args: Vec<String>,
}

/// Hand-written so secrets passed in `env` never reach a log line.
impl fmt::Debug for AgentRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let env_names: Vec<&str> = self.env.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("AgentRun")
            .field("kind", &self.kind)
            .field("worktree", &self.worktree)
            .field("prompt_chars", &self.prompt.chars().count())
            .field("timeout", &self.timeout)
            .field("max_turns", &self.max_turns)
            .field("files", &self.files)
            .field("log_path", &self.log_path)
            .field("env", &env_names)
            .field("path_var", &self.path_var)
            .field("model", &self.model)
            // A URL may carry credentials and an argument may be a key: presence and count only.
            .field("api_base", &self.api_base.is_some())
            .field("extra_args", &self.extra_args.len())
            .finish()
    }
}

/// How a handoff went, as far as the agent itself can tell.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentResult {
    pub ok: bool,
    /// Why it failed, in words fit for the advisor and the event log; `None` when `ok`.
    pub failure: Option<String>,
    /// The agent's own account of what it did (may be empty).
    pub summary: String,
    pub cost_usd: Option<f64>,
    /// (input, output) tokens, when the agent reports them.
    pub tokens: Option<(u64, u64)>,
    /// Of the input tokens, those served from the provider's cache (codex only).
    pub cached_input_tokens: Option<u64>,
    /// `None` when the agent was never started, was killed by a signal or timed out.
    pub exit_code: Option<i32>,
    pub duration: Duration,
}
