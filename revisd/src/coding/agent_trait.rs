//! The `CodingAgent` trait: everything Revis needs to know to drive one coding-agent CLI, and
//! `Report`, what that CLI's output said. Each agent is one module implementing the trait with a
//! unit struct; the registry in `mod.rs` lists them.
//!
//! Must not: run a process or judge a diff (that is `agent` and the caller), or read the daemon's
//! environment (the session's variables are passed in).

use std::ffi::OsString;

use super::process::LineWatch;
use super::setup::{AgentOptions, AgentSettings, SessionVars};
use super::{AgentKind, AgentRun};
use crate::config::schema::{AgentArgs, CodingAgentType};

/// One coding-agent CLI. Implementations hold no state: the registry hands out one shared
/// `&'static` instance per agent, to every session at once.
pub trait CodingAgent: Send + Sync {
    /// The identifier the engine passes around and the store keeps.
    fn kind(&self) -> AgentKind;

    /// The `coding_agent.type` that asks for this agent.
    fn config_type(&self) -> CodingAgentType;

    /// The name in revis.yaml, in messages ("claude-code timed out") and on stored iterations.
    fn name(&self) -> &'static str;

    /// The executable looked up on PATH.
    fn program(&self) -> &'static str;

    /// This agent's list in `coding_agent.args`.
    fn configured_args<'a>(&self, args: &'a AgentArgs) -> &'a [String];

    /// Its model, endpoint and the variables its current release reads. The user's
    /// `coding_agent.env` is applied after this by `coding::settings`, so it always wins.
    fn settings(&self, opts: &AgentOptions<'_>, session: &SessionVars<'_>) -> AgentSettings;

    /// The command line for one run: Revis's arguments first, then `run.extra_args`.
    fn args(&self, run: &AgentRun) -> Vec<OsString>;

    /// Sees each stdout line while the agent runs, for an agent that can wait forever on
    /// something that will not come back (codex retries an unreachable model without end).
    fn give_up_watch(&self) -> Option<LineWatch> {
        None
    }

    /// What its stdout says. `truncated`: the start was dropped, so the first line may be cut.
    fn read(&self, stdout: &str, truncated: bool) -> Report;

    /// Whether the agent has a login of its own (so a session's key need not be handed to
    /// it). `home` is the agent's home directory as `coding_agent.env` sets it, if it does.
    fn has_own_login(&self, home: Option<String>) -> bool {
        let _ = home;
        false
    }
}

/// What an agent's output says, before the exit status is taken into account.
#[derive(Debug, Default)]
pub struct Report {
    pub summary: String,
    pub cost_usd: Option<f64>,
    pub tokens: Option<(u64, u64)>,
    /// Of the input tokens, those read from the provider's cache (codex reports them apart).
    pub cached_input_tokens: Option<u64>,
    /// Phrased to follow the agent's name: "claude-code <error>".
    pub error: Option<String>,
    /// The last error the agent reported on the way, even a passing one: what a timeout
    /// message quotes.
    pub last_error: Option<String>,
    /// False when the output was not in the agent's format at all.
    pub parsed: bool,
}

impl Report {
    pub fn unparsed(error: String) -> Self {
        Report { error: Some(error), ..Report::default() }
    }
}
