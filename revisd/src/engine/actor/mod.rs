//! The session actor: the one task that advances a session and answers its commands.
//!
//! Each step reads the latest iteration's phase from the store, does the phase's work, and
//! records the transition (with its event) in one transaction, so a daemon killed at any point
//! resumes at the phase it was in: a run still alive in tmux is waited for again, a finished one
//! is collected, an advice or apply step is redone, and a commit is looked up by its trailer
//! before it is made. One file per phase; `control` answers the commands.
//!
//! An actor that fails or panics ends its session `failed` with the reason and an event; the
//! commands waiting for it get the failure as their answer.

mod advise;
mod apply;
mod code_change;
mod collect;
mod commit;
mod control;
mod end;
mod prepare;
mod run_spec;
mod train;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;

use crate::config::Config;
use crate::metrics::MetricsSource;
use crate::states::{Phase, SessionState, StopReason};
use crate::store::{self, EventRow, IterationRow, NewEvent, SessionRow, Tx};

use super::commands::{Command, Reply};
use super::supervisor::Inbox;
use super::{Engine, EngineError, Result};

/// What the drive loop does after a step or a command.
pub(super) enum Flow {
    Continue,
    /// The session was deleted: the actor has nothing left to drive.
    Deleted,
}

pub(super) async fn run(engine: Engine, id: i64, mut inbox: Inbox) {
    loop {
        #[cfg(test)]
        engine.supervisor().driving(id, true);
        let outcome = std::panic::AssertUnwindSafe(drive(engine.clone(), id, &mut inbox)).catch_unwind().await;
        #[cfg(test)]
        engine.supervisor().driving(id, false);
        let failure = match outcome {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(panic) => Some(format!("the session's actor panicked: {}", panic_message(panic.as_ref()))),
        };
        if let Some(reason) = failure {
            tracing::error!(session_id = id, error = %reason, "session failed with an internal error");
            fail_session(&engine, id, &reason).await;
            // Whoever waits for an answer gets the failure; a later command starts afresh.
            while let Ok(command) = inbox.rx.try_recv() {
                command.refuse(EngineError::Internal(format!("the session failed: {reason}")));
            }
        }
        if engine.supervisor().retire(id, &inbox) {
            return;
        }
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// Last resort: records an internal error as the session's end so it never hangs as "running".
async fn fail_session(engine: &Engine, id: i64, reason: &str) {
    let result: Result<()> = async {
        let mut tx = engine.store().begin().await?;
        if store::sessions::get_tx(&mut tx, id).await?.is_none() {
            return Ok(());
        }
        store::sessions::set_stop_requested(&mut tx, id, None).await?;
        store::sessions::set_state(&mut tx, id, SessionState::Failed, Some(StopReason::Error), Some(reason)).await?;
        let event =
            store::events::append(&mut tx, id, ended_event(SessionState::Failed, StopReason::Error, reason)).await?;
        tx.commit().await.map_err(|e| EngineError::Internal(e.to_string()))?;
        engine.bus().publish(event);
        Ok(())
    }
    .await;
    if let Err(e) = result {
        tracing::error!(session_id = id, error = %e, "could not record the session's failure");
    }
}

/// The `session_ended` event: its data names the final state and the reason by their words.
fn ended_event(state: SessionState, reason: StopReason, detail: &str) -> NewEvent {
    NewEvent::new("session_ended", None, format!("session {state}: {detail}")).with_data(serde_json::json!({
        "final_state": state.as_str(),
        "stop_reason": reason.as_str(),
        "detail": detail,
    }))
}

/// Loads the session and drives it while it runs, answering commands between and during steps.
async fn drive(engine: Engine, id: i64, inbox: &mut Inbox) -> Result<()> {
    let Some(session) = store::sessions::get(engine.store().pool(), id).await? else {
        while let Ok(command) = inbox.rx.try_recv() {
            command.refuse(EngineError::NotFound("the session was deleted".into()));
        }
        return Ok(());
    };
    let mut actor = Actor::load(engine, &session)?;
    loop {
        while let Some(command) = actor.held.pop_front().or_else(|| inbox.rx.try_recv().ok()) {
            if let Flow::Deleted = actor.handle(command).await? {
                return Ok(());
            }
        }
        let session = actor.reload().await?;
        if session.state == SessionState::Paused && session.stop_requested.is_some() {
            actor.end(SessionState::Stopped, StopReason::User, "stopped by the user".into()).await?;
            continue;
        }
        if !session.state.is_active() {
            actor.answer_stop_waiters(&session);
            return Ok(());
        }
        let it = store::iterations::latest(actor.engine.store().pool(), actor.id)
            .await?
            .ok_or_else(|| EngineError::Internal("the session has no iteration".into()))?;
        if let Flow::Deleted = actor.step(&session, it, inbox).await? {
            return Ok(());
        }
    }
}

pub(super) struct Actor {
    engine: Engine,
    id: i64,
    name: String,
    config: Config,
    max_run: Duration,
    worktree: PathBuf,
    project: PathBuf,
    branch: String,
    metrics: Box<dyn MetricsSource>,
    kill_grace: Duration,
    /// Where this session's runs happen (local tmux, or a remote over SSH); set up on first use,
    /// so answering a command of an ended session never connects anywhere.
    exec: Option<Arc<dyn crate::exec::Executor>>,
    /// Commands that arrived during a step, answered right after it.
    held: std::collections::VecDeque<Command>,
    /// `revis stop` (now) callers waiting for the session to end.
    stop_waiters: Vec<Reply<SessionRow>>,
}

impl Actor {
    fn load(engine: Engine, session: &SessionRow) -> Result<Self> {
        let config: Config = serde_json::from_str(&session.config_json).map_err(|e| {
            EngineError::Internal(format!("stored config of session '{}' is unreadable: {e}", session.name))
        })?;
        let max_run = crate::config::duration::parse_duration(&config.guardrails.max_run_duration)
            .map_err(|e| EngineError::Internal(format!("guardrails.max_run_duration: {e}")))?;
        let kill_grace = crate::config::duration::parse_duration(&config.guardrails.kill_grace)
            .map_err(|e| EngineError::Internal(format!("guardrails.kill_grace: {e}")))?;
        Ok(Self {
            name: session.name.clone(),
            worktree: PathBuf::from(&session.worktree),
            project: PathBuf::from(&session.project),
            branch: session.branch.clone(),
            id: session.id,
            metrics: crate::metrics::source_for(config.metrics.source),
            engine,
            config,
            max_run,
            kill_grace,
            exec: None,
            held: std::collections::VecDeque::new(),
            stop_waiters: Vec::new(),
        })
    }

    async fn reload(&self) -> Result<SessionRow> {
        self.engine.reload(self.id).await
    }

    async fn exec(&mut self) -> Result<Arc<dyn crate::exec::Executor>> {
        if let Some(exec) = &self.exec {
            return Ok(exec.clone());
        }
        let exec = self.engine.executor_for(&self.config).await?;
        self.exec = Some(exec.clone());
        Ok(exec)
    }

    /// One step of the latest iteration. Training takes commands itself (a stop kills the run);
    /// during the other steps commands are held and answered right after the step, except
    /// those that need no state (a resume of a running session is refused at once).
    async fn step(&mut self, session: &SessionRow, it: IterationRow, inbox: &mut Inbox) -> Result<Flow> {
        if it.phase == Phase::Train {
            return self.train(session, it, inbox).await;
        }
        let engine = self.engine.clone();
        let id = self.id;
        let mut held = Vec::new();
        let outcome = {
            let step = self.phase_step(session, it);
            tokio::pin!(step);
            loop {
                tokio::select! {
                    flow = &mut step => break Ok(flow),
                    Some(command) = inbox.rx.recv() => match command {
                        Command::Resume { reply, .. } | Command::Approve { reply, .. } => {
                            let _ = reply.send(Err(EngineError::FailedPrecondition("the session is already running".into())));
                        }
                        // The step is dropped, as a crash would end it (every step can be redone):
                        // a delete must not wait for a long LLM decision or coding agent.
                        delete @ Command::Delete { .. } => break Err(delete),
                        command => {
                            if let Command::Stop { after_run, .. } = &command {
                                // Recorded at once (so a daemon restart keeps it) by a task of its
                                // own: the step may hold the write lock until it is polled again.
                                tokio::spawn(control::record_stop_while_running(engine.clone(), id, *after_run));
                            }
                            held.push(command);
                        }
                    },
                }
            }
        };
        self.held.extend(held);
        match outcome {
            Ok(flow) => flow,
            Err(delete) => self.handle(delete).await,
        }
    }

    async fn phase_step(&mut self, session: &SessionRow, it: IterationRow) -> Result<Flow> {
        match it.phase {
            Phase::Prepare => self.prepare(session, it).await,
            Phase::Collect => self.collect(session, it).await,
            Phase::Advise => self.advise(session, it).await,
            Phase::Apply => self.apply(it).await,
            Phase::Commit => self.commit(it).await,
            Phase::Train => Err(EngineError::Internal("training is driven with the inbox".into())),
            Phase::Done => {
                Err(EngineError::Internal(format!("iteration {} is done but no later iteration exists", it.number)))
            }
        }
    }

    // ---- transactions -------------------------------------------------------------------

    /// Begins a transition (one transaction with its events).
    async fn begin(&mut self) -> Result<Tx> {
        Ok(self.engine.store().begin().await?)
    }

    async fn event(&self, tx: &mut Tx, event: NewEvent) -> Result<EventRow> {
        Ok(store::events::append(tx, self.id, event).await?)
    }

    async fn finish(&self, tx: Tx, events: Vec<EventRow>) -> Result<()> {
        tx.commit().await.map_err(|e| EngineError::Internal(format!("committing a transition: {e}")))?;
        for event in events {
            self.engine.bus().publish(event);
        }
        Ok(())
    }

    /// The common transition: the iteration as it now stands and one event, committed together.
    async fn record(&mut self, it: &IterationRow, event: NewEvent) -> Result<()> {
        let mut tx = self.begin().await?;
        store::iterations::save(&mut tx, it).await?;
        let event = self.event(&mut tx, event).await?;
        self.finish(tx, vec![event]).await
    }

    /// Answers every `revis stop` waiting for the session to end.
    fn answer_stop_waiters(&mut self, session: &SessionRow) {
        for waiter in self.stop_waiters.drain(..) {
            let _ = waiter.send(Ok(session.clone()));
        }
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("").trim()
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}
