//! Coding agents: running Claude Code, Codex or aider on a worktree and reading how it went.
//!
//! This module owns finding an agent on PATH (`detect`), writing the handoff prompt (`prompt`),
//! and running one agent under a timeout in its own process group with its output logged
//! (`run`). It must not know about sessions, iterations or the store, and it does not judge the
//! diff: an empty diff, touched frozen files and verification are the caller's business.

mod agent;
mod aider;
mod claude;
mod codex;
mod detect;
mod process;
mod prompt;
mod setup;

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
pub use detect::{detect, resolve};
pub use prompt::{Handoff, prompt};
pub use setup::{AgentOptions, AgentSettings, settings};

/// The coding agents Revis knows how to drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AgentKind {
    ClaudeCode,
    Codex,
    Aider,
}

impl AgentKind {
    /// Detection order for `coding_agent.type: auto`.
    pub const ALL: [AgentKind; 3] = [AgentKind::ClaudeCode, AgentKind::Codex, AgentKind::Aider];

    /// The executable looked up on PATH.
    pub fn program(self) -> &'static str {
        match self {
            AgentKind::ClaudeCode => "claude",
            AgentKind::Codex => "codex",
            AgentKind::Aider => "aider",
        }
    }

    /// The name used in revis.yaml and stored on iterations.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentKind::ClaudeCode => "claude-code",
            AgentKind::Codex => "codex",
            AgentKind::Aider => "aider",
        }
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
        AgentKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| format!("unknown coding agent {text:?} (expected claude-code, codex or aider)"))
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
