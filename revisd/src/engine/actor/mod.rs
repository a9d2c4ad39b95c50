//! The session actor: the one task that advances a session and answers its commands.
//!
//! Every iteration in progress takes steps: a step reads the iteration's phase from the store,
//! does the phase's work, and records the transition (with its event) in one transaction, so a
//! daemon killed at any point resumes at the phase it was in: a run still alive in tmux is
//! waited for again, a finished one is collected, an advice or apply step is redone, and a
//! commit is looked up by its trailer before it is made. One file per phase; `schedule` decides
//! which iterations step when (several trials run at once, one per slot), `recovery` sets right
//! what a crash left mid-step, `control` answers the commands.
//!
//! An actor that fails or panics ends its session `failed` with the reason and an event; the
//! commands waiting for it get the failure as their answer.

mod advise;
mod apply;
mod code_change;
mod collect;
mod commit;
mod confirm;
mod control;
mod end;
mod prepare;
mod queue;
mod recovery;
mod run_spec;
mod schedule;
mod train;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use tokio::task::JoinSet;

use crate::config::Config;
use crate::metrics::MetricsSource;
use crate::states::{Phase, SessionState, StopReason, StopRequest};
use crate::store::{self, EventRow, IterationRow, NewEvent, SessionRow, Tx};

use super::commands::{Command, Reply};
use super::slots::{self, Slot};
use super::supervisor::Inbox;
use super::{Engine, EngineError, Result};
use schedule::{Busy, Retired, Schedule, StepKey, Steps, far_future};

/// What the drive loop does after a step or a command.
pub(super) enum Flow {
    Continue,
    /// The session was deleted: the actor has nothing left to drive.
    Deleted,
    /// The session should end: at once (a user's stop, the time budget, an error) or once
    /// the trials still running are done (a stop rule, the advisor's stop).
    End(Ending),
    /// A box of `executor.hosts` cannot be reached: its slots retire until it answers again.
    HostDown {
        host: usize,
        reason: String,
    },
    /// A retired box answers again.
    HostUp {
        host: usize,
    },
}

/// How a session ends.
#[derive(Debug, Clone)]
pub(super) struct Ending {
    pub state: SessionState,
    pub reason: StopReason,
    pub detail: String,
}

impl Ending {
    /// Ends that do not wait for the trials still running: they are killed.
    fn is_immediate(&self) -> bool {
        matches!(self.reason, StopReason::User | StopReason::Budget | StopReason::Error)
    }
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
    // Runs still going would be left to nobody: they are killed (best effort) and recorded.
    let stopped: Result<()> = async {
        if let Some(session) = store::sessions::get(engine.store().pool(), id).await?
            && session.state.is_live()
        {
            let mut actor = Actor::load(engine.clone(), &session)?;
            actor.interrupt_running(&format!("the session failed: {reason}")).await?;
        }
        Ok(())
    }
    .await;
    if let Err(e) = stopped {
        tracing::warn!(session_id = id, error = %e, "could not stop the runs of a failed session");
    }
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

/// Loads the session and drives it while it runs: every iteration in progress gets a step of
/// its own (a trial in each busy slot, a decision for a free one), run concurrently and
/// answered between with the commands. See `schedule` for what may step when.
async fn drive(engine: Engine, id: i64, inbox: &mut Inbox) -> Result<()> {
    let Some(session) = store::sessions::get(engine.store().pool(), id).await? else {
        while let Ok(command) = inbox.rx.try_recv() {
            command.refuse(EngineError::NotFound("the session was deleted".into()));
        }
        return Ok(());
    };
    let mut actor = Actor::load(engine, &session)?;
    let mut ending: Option<Ending> = None;
    if session.state.is_live() {
        actor.clear_stale_locks().await;
        ending = actor.record_commit_made_before_a_crash().await?;
    }
    // Steps are tasks of their own: one that holds a transaction keeps going while the
    // drive loop awaits the store itself (a step polled only from here would deadlock it).
    let mut steps: Steps = JoinSet::new();
    let mut busy: Busy = HashMap::new();
    let mut draining: Option<Ending> = None;
    let mut retired: HashMap<usize, Retired> = HashMap::new();
    loop {
        while let Some(command) = actor.held.pop_front().or_else(|| inbox.rx.try_recv().ok()) {
            if matches!(command, Command::Delete { .. }) {
                // Every step can be redone, as after a crash: a delete never waits for one.
                steps.abort_all();
                busy.clear();
            }
            if let Flow::Deleted = actor.handle(command).await? {
                return Ok(());
            }
        }
        let session = actor.reload().await?;
        if !session.state.is_live() {
            if steps.is_empty() {
                actor.answer_stop_waiters(&session);
                return Ok(());
            }
            actor.halt(&format!("the session ended ({})", session.state));
        }
        let stop_now = session.stop_requested == Some(StopRequest::Now)
            || (session.state == SessionState::Paused && session.stop_requested.is_some());
        if stop_now && ending.is_none() {
            ending = Some(Ending {
                state: SessionState::Stopped,
                reason: StopReason::User,
                detail: "stopped by the user".into(),
            });
        }
        if let Some(e) = &ending {
            actor.halt(&e.detail);
        }
        if session.state.is_live() {
            let plan =
                Schedule { session: &session, ending: ending.as_ref(), draining: draining.as_ref(), retired: &retired };
            actor.schedule(&plan, &mut steps, &mut busy).await?;
            if ending.is_none()
                && actor.every_slot_retired(&retired)
                && busy.keys().all(|k| matches!(k, StepKey::Probe(_)))
            {
                ending = Some(Ending {
                    state: SessionState::Failed,
                    reason: StopReason::Error,
                    detail: "no slot is left: every host of executor.hosts cannot be reached".into(),
                });
                steps.abort_all();
                busy.clear();
                continue;
            }
        }
        if steps.is_empty() {
            let end = ending
                .take()
                .or_else(|| {
                    session.stop_requested.map(|_| Ending {
                        state: SessionState::Stopped,
                        reason: StopReason::User,
                        detail: "stopped by the user after the run".into(),
                    })
                })
                .or_else(|| draining.take());
            match end {
                Some(end) if session.state.is_live() => {
                    actor.end_session(end).await?;
                    continue;
                }
                _ if session.state == SessionState::Paused || !session.state.is_live() => {
                    actor.answer_stop_waiters(&session);
                    return Ok(());
                }
                _ => {
                    return Err(EngineError::Internal(
                        "the session runs but has no trial in progress and no decision to make".into(),
                    ));
                }
            }
        }
        let next_retry = retired.values().map(|r| r.retry_at).min();
        tokio::select! {
            Some(joined) = steps.join_next() => {
                let (key, flow) = joined.map_err(|e| match e.try_into_panic() {
                    Ok(panic) => EngineError::Internal(format!("a step panicked: {}", panic_message(panic.as_ref()))),
                    Err(e) => EngineError::Internal(format!("a step was cancelled: {e}")),
                })?;
                busy.remove(&key);
                match flow? {
                    Flow::Continue | Flow::Deleted => {}
                    Flow::HostDown { host, reason } => actor.retire_host(&mut retired, host, &reason).await?,
                    Flow::HostUp { host } => {
                        if retired.remove(&host).is_some() {
                            actor.host_restored(host).await?;
                        }
                    }
                    Flow::End(end) if end.is_immediate() => {
                        if ending.is_none() {
                            ending = Some(end);
                        }
                    }
                    Flow::End(end) => {
                        if draining.is_none() {
                            draining = Some(end);
                        }
                    }
                }
            }
            Some(command) = inbox.rx.recv() => actor.held.push_back(command),
            _ = tokio::time::sleep_until(next_retry.unwrap_or_else(far_future)), if next_retry.is_some() => {}
        }
    }
}

/// Locks shared by the steps of one session.
#[derive(Default)]
pub(super) struct Shared {
    /// The session branch and `head_commit` move together: commits, restores, the check that
    /// nobody else moved the branch.
    branch: tokio::sync::Mutex<()>,
    /// Judging a run (best so far, consecutive failures) reads and writes the session's
    /// progress: one at a time.
    judge: tokio::sync::Mutex<()>,
    /// One coding agent at a time.
    agent: tokio::sync::Mutex<()>,
    /// Slots whose worktrees were found whole since this actor started: each step checks
    /// only that the directory is still there, not the whole repository again.
    slots_ready: std::sync::Mutex<std::collections::HashSet<u32>>,
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
    metrics: Arc<dyn MetricsSource>,
    kill_grace: Duration,
    /// The session's own worktree, where its branch is checked out. `worktree` is the one a
    /// step works in: the slot's (the same one when the session has a single slot).
    session_worktree: PathBuf,
    slots: Arc<Vec<Slot>>,
    /// The slot this actor's step works for (slot 0 for the session's own actor).
    slot: Slot,
    shared: Arc<Shared>,
    /// Set when the session ends at once: running trials kill their run (the text is why).
    halt: tokio::sync::watch::Sender<Option<String>>,
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
        let slots = Arc::new(slots::plan(&config));
        let slot = slots.first().cloned().unwrap_or(Slot::local(0));
        Ok(Self {
            name: session.name.clone(),
            worktree: PathBuf::from(&session.worktree),
            session_worktree: PathBuf::from(&session.worktree),
            slots,
            slot,
            shared: Arc::new(Shared::default()),
            halt: tokio::sync::watch::Sender::new(None),
            project: PathBuf::from(&session.project),
            branch: session.branch.clone(),
            id: session.id,
            metrics: Arc::from(crate::metrics::source_for(config.metrics.source)),
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
        let exec = self.engine.executor_for(&self.executor_settings(), self.max_run).await?;
        self.exec = Some(exec.clone());
        Ok(exec)
    }

    /// The executor settings of this actor's slot: its box's, for a slot on one of
    /// `executor.hosts` (unreachable after `host_timeout`, 2 minutes by default).
    pub(super) fn executor_settings(&self) -> crate::config::Executor {
        let e = &self.config.executor;
        match self.slot.host.and_then(|h| e.hosts.get(h)) {
            Some(b) => {
                let mut one = e.for_box(b);
                one.host_timeout.get_or_insert_with(|| DEFAULT_HOST_TIMEOUT.to_string());
                one
            }
            None => e.clone(),
        }
    }

    /// An actor for one step of slot `index`: the same session, that slot's worktree.
    fn worker(&self, index: u32) -> Actor {
        let slot = self.slots.get(index as usize).cloned().unwrap_or(Slot::local(index));
        Actor {
            engine: self.engine.clone(),
            id: self.id,
            name: self.name.clone(),
            config: self.config.clone(),
            max_run: self.max_run,
            worktree: slot.worktree(&self.session_worktree, self.slots.len()),
            session_worktree: self.session_worktree.clone(),
            project: self.project.clone(),
            branch: self.branch.clone(),
            metrics: self.metrics.clone(),
            kill_grace: self.kill_grace,
            // Each box has its executor; the session's one serves every slot otherwise.
            exec: if self.config.executor.hosts.is_empty() { self.exec.clone() } else { None },
            slots: self.slots.clone(),
            slot,
            shared: self.shared.clone(),
            halt: self.halt.clone(),
            held: std::collections::VecDeque::new(),
            stop_waiters: Vec::new(),
        }
    }

    /// Whether the session runs several trials at once (each slot in a worktree of its own).
    fn parallel(&self) -> bool {
        self.slots.len() > 1
    }

    /// Tells every running trial to kill its run: the session is ending now.
    fn halt(&self, why: &str) {
        self.halt.send_if_modified(|halt| {
            if halt.is_some() {
                return false;
            }
            *halt = Some(why.to_string());
            true
        });
    }

    async fn phase_step(&mut self, session: &SessionRow, it: IterationRow) -> Result<Flow> {
        match it.phase {
            Phase::Prepare => self.prepare(session, it).await,
            Phase::Train => self.train(session, it).await,
            Phase::Collect => self.collect(it).await,
            Phase::Confirm => self.judge_confirmed(it).await,
            Phase::Advise => self.advise(it).await,
            Phase::Apply => self.apply(it).await,
            Phase::Commit => self.commit(it).await,
            Phase::Done => Ok(Flow::Continue),
        }
    }

    /// A step's way to end the session: the scheduler ends it (at once, or once the trials
    /// still running are done: see `Ending::is_immediate`).
    pub(super) async fn end(&mut self, state: SessionState, reason: StopReason, detail: String) -> Result<Flow> {
        Ok(Flow::End(Ending { state, reason, detail }))
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

/// How long a box of `executor.hosts` may be unreachable before its slots retire.
const DEFAULT_HOST_TIMEOUT: &str = "2m";

/// A stored slot number (never negative: written from a `u32`).
fn slot_of(slot: i64) -> u32 {
    u32::try_from(slot).unwrap_or(0)
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
