//! Commands to a session: messages to its actor, each with a oneshot for the reply. The API
//! calls these methods; only the actor reads and writes the session's state.

use std::time::Duration;

use tokio::sync::oneshot;

use crate::advisor::llm::Credentials;
use crate::store::SessionRow;

use super::supervisor::Delivery;
use super::{Engine, EngineError, Result};

/// How long `revis stop` waits for the run to be killed and the session recorded as stopped
/// before it answers with the session as it stands (the stop is recorded either way).
const STOP_WAIT: Duration = Duration::from_secs(15);

pub(crate) type Reply<T> = oneshot::Sender<Result<T>>;

pub(crate) enum Command {
    /// `revis stop [--after-run]`. The reply comes once the session ended (now), or once the
    /// request is recorded (after the run).
    Stop { after_run: bool, reply: Reply<SessionRow> },
    /// `revis resume`: `budget_seconds` more active time, `skip` drops a pending code change.
    Resume { budget_seconds: Option<f64>, skip: bool, credentials: Credentials, reply: Reply<SessionRow> },
    /// `revis approve`: the paused handoff goes ahead.
    Approve { credentials: Credentials, reply: Reply<SessionRow> },
    /// `revis delete`: kill the run, remove the worktree (and branch unless kept), rows and files.
    Delete { keep_branch: bool, reply: Reply<()> },
    /// `revis pr` opened a pull request for the session.
    SetPullRequest { url: String, reply: Reply<SessionRow> },
}

impl Command {
    /// Answers the command with an error (its actor could not start or failed).
    pub(crate) fn refuse(self, error: EngineError) {
        // A requester that went away does not need the answer.
        match self {
            Command::Stop { reply, .. }
            | Command::Resume { reply, .. }
            | Command::Approve { reply, .. }
            | Command::SetPullRequest { reply, .. } => {
                let _ = reply.send(Err(error));
            }
            Command::Delete { reply, .. } => {
                let _ = reply.send(Err(error));
            }
        }
    }
}

impl Engine {
    /// Hands `command` to the session's actor, starting one if none runs.
    pub(crate) fn command(&self, id: i64, command: Option<Command>) {
        if let Delivery::Spawn(inbox) = self.supervisor().send(id, command) {
            let generation = inbox.generation;
            let task = tokio::spawn(super::actor::run(self.clone(), id, inbox));
            self.supervisor().started(id, generation, task);
        }
    }

    async fn ask<T>(&self, id: i64, make: impl FnOnce(Reply<T>) -> Command) -> Result<T> {
        let (reply, answer) = oneshot::channel();
        self.command(id, Some(make(reply)));
        answer.await.map_err(|_| EngineError::Internal("the session's actor ended without answering".into()))?
    }

    /// Stops a session: now (the run is killed) or after the current run.
    pub async fn stop(&self, session: &SessionRow, after_run: bool) -> Result<SessionRow> {
        let (reply, answer) = oneshot::channel();
        self.command(session.id, Some(Command::Stop { after_run, reply }));
        match tokio::time::timeout(STOP_WAIT, answer).await {
            Ok(answer) => {
                answer.map_err(|_| EngineError::Internal("the session's actor ended without answering".into()))?
            }
            // Still killing (a long kill grace) or in the middle of a step: the request is
            // recorded and the actor acts on it; answer with where the session stands.
            Err(_) => self.reload(session.id).await,
        }
    }

    /// Continues a session that ended, was stopped or paused: same branch, counters and spend.
    pub async fn resume(
        &self,
        session: &SessionRow,
        budget: Option<&str>,
        env: Vec<(String, String)>,
        skip: bool,
    ) -> Result<SessionRow> {
        let budget_seconds = budget.filter(|b| !b.is_empty()).map(super::start::parse_budget).transpose()?;
        let credentials = super::start::session_credentials(session, env);
        self.ask(session.id, |reply| Command::Resume { budget_seconds, skip, credentials, reply }).await
    }

    /// Lets a paused handoff go ahead: the coding agent runs when the session continues.
    pub async fn approve(&self, session: &SessionRow, env: Vec<(String, String)>) -> Result<SessionRow> {
        let credentials = super::start::session_credentials(session, env);
        self.ask(session.id, |reply| Command::Approve { credentials, reply }).await
    }

    /// Removes a session: its run, worktree, branch (unless kept), rows and run files.
    pub async fn delete(&self, session: &SessionRow, keep_branch: bool) -> Result<()> {
        self.ask(session.id, |reply| Command::Delete { keep_branch, reply }).await
    }

    /// Records the pull request `revis pr` opened.
    pub async fn set_pull_request(&self, session: &SessionRow, url: String) -> Result<SessionRow> {
        self.ask(session.id, |reply| Command::SetPullRequest { url, reply }).await
    }
}
