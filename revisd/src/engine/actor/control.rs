//! Answering commands: stop, resume, approve, delete and the pull request of `revis pr`. Each
//! is checked against the session as it stands now (the actor owns it, so nothing changes in
//! between) and its effect is recorded with its event in one transaction.

use crate::advisor::{Change, Decision};
use crate::states::{IterationState, Phase, SessionState, StopReason, StopRequest};
use crate::store::{self, IterationRow, NewEvent, SessionRow};
use crate::{config, workspace};

use super::super::commands::Command;
use super::super::handoff::HandoffState;
use super::super::worktree::{blocking, fingerprint};
use super::super::{EngineError, Result, stored};
use super::{Actor, Flow};

impl Actor {
    /// Answers one command. Refusals and errors go to the requester; only a failure that
    /// leaves the session in doubt ends the actor (and fails the session).
    pub(super) async fn handle(&mut self, command: Command) -> Result<Flow> {
        match command {
            Command::Stop { after_run, reply } => {
                let session = self.reload().await?;
                if !session.state.is_live() {
                    let _ = reply.send(Err(EngineError::FailedPrecondition(format!(
                        "session '{}' is not running (it is {})",
                        session.name, session.state
                    ))));
                    return Ok(Flow::Continue);
                }
                let request = if after_run { StopRequest::AfterRun } else { StopRequest::Now };
                self.record_stop_request(&session, request).await?;
                if session.state == SessionState::Paused {
                    // No new trial starts in a paused session: it stops at once, whatever the
                    // request said. The drive loop ends it, after the trials still finishing
                    // in other slots have killed their runs.
                    self.stop_waiters.push(reply);
                } else if after_run {
                    let _ = reply.send(self.reload().await);
                } else {
                    // Between steps: the drive loop ends the session at its next check (before a
                    // run starts, or after one is collected), so the branch stays consistent.
                    self.stop_waiters.push(reply);
                }
            }
            Command::Resume { budget_seconds, skip, credentials, reply } => {
                let result = self.resume(budget_seconds, skip).await;
                if result.is_ok() {
                    self.engine.set_credentials(self.id, credentials);
                }
                let _ = reply.send(result);
            }
            Command::Approve { credentials, reply } => {
                let result = self.approve().await;
                if result.is_ok() {
                    self.engine.set_credentials(self.id, credentials);
                }
                let _ = reply.send(result);
            }
            Command::Delete { keep_branch, reply } => {
                let result = self.delete(keep_branch).await;
                let deleted = result.is_ok();
                let _ = reply.send(result);
                if deleted {
                    for waiter in self.stop_waiters.drain(..) {
                        let _ = waiter.send(Err(EngineError::NotFound("the session was deleted".into())));
                    }
                    return Ok(Flow::Deleted);
                }
            }
            Command::SetPullRequest { url, reply } => {
                let result = async {
                    let mut tx = self.begin().await?;
                    store::sessions::set_pr_url(&mut tx, self.id, &url).await?;
                    self.finish(tx, vec![]).await?;
                    self.reload().await
                }
                .await;
                let _ = reply.send(result);
            }
        }
        Ok(Flow::Continue)
    }

    /// Records a stop request with its event, unless the same request is already recorded.
    pub(super) async fn record_stop_request(&mut self, session: &SessionRow, request: StopRequest) -> Result<()> {
        if session.stop_requested == Some(request) || session.stop_requested == Some(StopRequest::Now) {
            return Ok(());
        }
        let mut tx = self.begin().await?;
        store::sessions::set_stop_requested(&mut tx, self.id, Some(request)).await?;
        let event = self.event(&mut tx, NewEvent::new("stop_requested", None, stop_message(request))).await?;
        self.finish(tx, vec![event]).await
    }

    /// `revis resume`: checks the session can go on, then sets it running again. An interrupted
    /// iteration runs again as a new attempt of the same number (its commit is checked out
    /// again before it runs: see `prepare`).
    async fn resume(&mut self, budget_seconds: Option<f64>, skip: bool) -> Result<SessionRow> {
        let session = self.reload().await?;
        if session.state.is_active() {
            return Err(EngineError::FailedPrecondition(format!(
                "session '{}' is already {}",
                session.name, session.state
            )));
        }
        let paused_for = session.stop_reason.filter(|_| session.state == SessionState::Paused);
        let waits_for_code = paused_for.is_some_and(StopReason::waits_for_code);
        if skip && !waits_for_code {
            return Err(EngineError::FailedPrecondition(format!(
                "session '{}' is not waiting for a code change; --skip applies only then",
                session.name
            )));
        }
        let active = store::iterations::active(self.engine.store().pool(), self.id).await?;
        let waiting = waiting_iteration(&active, paused_for);
        if !skip && paused_for == Some(StopReason::AwaitingChange) {
            let waiting = waiting.ok_or_else(|| EngineError::Internal("no iteration waits for the change".into()))?;
            self.check_manual_change(&session, waiting).await?;
        }
        let mut tx = self.begin().await?;
        let mut skipped = None;
        if skip {
            let mut it =
                waiting.cloned().ok_or_else(|| EngineError::Internal("no iteration waits for a change".into()))?;
            skipped = Some(drop_code_change(&mut it)?);
            store::iterations::save(&mut tx, &it).await?;
        }
        // Every trial a stop (or a crash of the session) cut short runs again, as a new attempt.
        for interrupted in active.iter().filter(|it| {
            it.state == IterationState::Interrupted || (it.phase == Phase::Train && it.state == IterationState::Running)
        }) {
            if interrupted.phase == Phase::Confirm {
                // Its first run stands; its confirmation runs run again (below).
                let mut waiting = interrupted.clone();
                waiting.state = IterationState::Running;
                waiting.outcome = None;
                waiting.failure_reason = None;
                store::iterations::save(&mut tx, &waiting).await?;
                continue;
            }
            let mut rerun = interrupted.clone();
            rerun.phase = Phase::Prepare;
            rerun.state = IterationState::Pending;
            rerun.outcome = None;
            rerun.attempt += 1;
            rerun.run_id = None;
            rerun.started_at = None;
            rerun.ended_at = None;
            rerun.duration_seconds = None;
            rerun.exit_code = None;
            rerun.failure_reason = None;
            store::iterations::save(&mut tx, &rerun).await?;
        }
        store::confirmations::rerun_interrupted(&mut tx, self.id).await?;
        if let Some(extra) = budget_seconds {
            store::sessions::set_budget(&mut tx, self.id, Some(session.active_seconds_now() + extra)).await?;
        }
        if session.stop_reason == Some(StopReason::RetryBudget) {
            store::sessions::set_progress(
                &mut tx,
                self.id,
                session.best_iteration.and_then(|b| u32::try_from(b).ok()),
                0,
            )
            .await?;
        }
        store::sessions::set_stop_requested(&mut tx, self.id, None).await?;
        store::sessions::set_state(&mut tx, self.id, SessionState::Running, None, None).await?;
        let budget_note = match budget_seconds {
            Some(s) => format!(
                " with a new budget of {}",
                config::duration::format_duration(std::time::Duration::from_secs_f64(s))
            ),
            None => String::new(),
        };
        let skip_note = skipped.map(|r| format!("; the code change was dropped: {r}")).unwrap_or_default();
        let event = self
            .event(&mut tx, NewEvent::new("session_resumed", None, format!("session resumed{budget_note}{skip_note}")))
            .await?;
        self.finish(tx, vec![event]).await?;
        self.reload().await
    }

    /// `revis approve`: the paused handoff goes ahead when the session continues.
    async fn approve(&mut self) -> Result<SessionRow> {
        let session = self.reload().await?;
        if !(session.state == SessionState::Paused && session.stop_reason == Some(StopReason::AwaitingApproval)) {
            return Err(EngineError::FailedPrecondition(format!(
                "session '{}' is not waiting for an approval (it is {}{})",
                session.name,
                session.state,
                session.stop_reason.map(|r| format!(", {r}")).unwrap_or_default()
            )));
        }
        let active = store::iterations::active(self.engine.store().pool(), self.id).await?;
        let mut it = waiting_iteration(&active, Some(StopReason::AwaitingApproval))
            .cloned()
            .ok_or_else(|| EngineError::Internal(format!("session '{}' has no change waiting", session.name)))?;
        let mut state = HandoffState::of(&it)?;
        state.approved = true;
        it.handoff_json = Some(stored::to_json(&state, "the handoff state")?);
        let mut tx = self.begin().await?;
        store::iterations::save(&mut tx, &it).await?;
        store::sessions::set_state(&mut tx, self.id, SessionState::Running, None, None).await?;
        let event = self
            .event(
                &mut tx,
                NewEvent::new(
                    "handoff_approved",
                    Some(it.number()),
                    "code change approved: handing it to the coding agent",
                ),
            )
            .await?;
        self.finish(tx, vec![event]).await?;
        self.reload().await
    }

    /// A session waiting for a hand-made code change resumes only once the worktree differs
    /// from what Revis left there.
    async fn check_manual_change(&self, session: &SessionRow, latest: &IterationRow) -> Result<()> {
        let pending: Option<serde_json::Value> =
            stored::parse_opt(latest.pending_json.as_deref(), "pending_json", latest)?;
        let left = pending.as_ref().and_then(|p| p.get("fingerprint")).and_then(|f| f.as_str()).map(str::to_string);
        let slot = latest.target_slot.map_or(0, |s| u32::try_from(s).unwrap_or(0));
        let worktree = self.worker(slot).worktree;
        let shown = worktree.display().to_string();
        let now = blocking(move || fingerprint(&worktree)).await??;
        if left.as_deref() == Some(now.as_str()) {
            return Err(EngineError::FailedPrecondition(format!(
                "nothing changed in {shown}: make the requested code change there, then run `revis resume {}` again",
                session.name
            )));
        }
        Ok(())
    }

    /// `revis delete`: the run is killed, then the worktree, branch (unless kept), rows and run
    /// files go.
    async fn delete(&mut self, keep_branch: bool) -> Result<()> {
        let session = self.reload().await?;
        let running = match session.state.is_live() {
            true => store::iterations::active(self.engine.store().pool(), self.id).await?,
            false => Vec::new(),
        };
        if !running.is_empty() {
            // An executor that cannot be reached leaves its runs behind; the local one is tried
            // so a session whose remote is gone can still be deleted.
            for it in running.iter().filter(|it| it.phase == Phase::Train) {
                let Some(run_id) = &it.run_id else { continue };
                let mut worker = self.worker(super::slot_of(it.slot));
                let exec = worker.exec().await.unwrap_or_else(|_| self.engine.exec().clone());
                let run_dir = self.engine.iteration_run_dir(self.id, &self.name, it);
                if let Err(e) = exec.kill(run_id, &run_dir, self.kill_grace).await {
                    tracing::warn!(session = %self.name, error = %e, "could not kill the run of a deleted session");
                }
            }
        }
        if self.project.exists() {
            let _workspaces = self.engine.lock_workspaces().await;
            let (project, name) = (self.project.clone(), self.name.clone());
            blocking(move || workspace::remove(&project, &name, keep_branch)).await??;
        }
        let mut tx = self.begin().await?;
        store::sessions::delete(&mut tx, self.id).await?;
        self.finish(tx, vec![]).await?;
        let runs = self.engine.home().runs().join(super::super::run_key(self.id, &self.name));
        if let Err(e) = tokio::fs::remove_dir_all(&runs).await
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %runs.display(), error = %e, "could not remove run files");
        }
        Ok(())
    }
}

/// The iteration a paused session waits on: the decision paused for a human (a code change to
/// approve or make, an escalation, a key), found by the phase that reason pauses at.
fn waiting_iteration(active: &[IterationRow], reason: Option<StopReason>) -> Option<&IterationRow> {
    let phase = match reason? {
        StopReason::AwaitingApproval => Phase::Apply,
        StopReason::AwaitingChange => Phase::Commit,
        _ => Phase::Advise,
    };
    active.iter().rev().find(|it| it.phase == phase)
}

fn stop_message(request: StopRequest) -> &'static str {
    match request {
        StopRequest::AfterRun => "stop requested: the session stops after the current run",
        StopRequest::Now => "stop requested: stopping now",
    }
}

/// Takes the code change out of the iteration's decision: the rest of it is applied again, or
/// (nothing left) the advisor decides anew. Returns the dropped request.
fn drop_code_change(it: &mut IterationRow) -> Result<String> {
    let mut decision: Decision = stored::parse_opt(it.decision_json.as_deref(), "decision_json", it)?
        .ok_or_else(|| EngineError::Internal("the paused iteration has no decision".into()))?;
    let request = decision
        .changes
        .iter()
        .filter_map(|c| match c {
            Change::Code { request, .. } => Some(request.clone()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("; ");
    decision.changes.retain(|c| !matches!(c, Change::Code { .. }));
    it.pending_json = None;
    it.handoff_json = None;
    if decision.changes.is_empty() {
        it.decision_json = None;
        it.phase = Phase::Advise;
    } else {
        it.decision_json = Some(stored::to_json(&decision, "a decision")?);
        it.phase = Phase::Apply;
    }
    Ok(request)
}
