//! end: the session's last transition. Whatever ended it (the user, a rule, an error), the
//! branch head holds the best measured state: an unmeasured change is never left there for
//! `revis pr` to push.

use crate::states::{IterationState, Phase, SessionState};
use crate::store::{self, IterationRow};
use crate::workspace;

use super::super::worktree::{blocking, short};
use super::super::{Result, faults};
use super::{Actor, Ending, Flow, ended_event, slot_of};

impl Actor {
    /// Ends the session: every trial still running is killed (its whole process group, after
    /// the kill grace) and recorded as interrupted, the best measured state goes to the branch
    /// head (one restore commit when the last commit is not it), and the `revis stop`s waiting
    /// for the end are answered.
    pub(super) async fn end_session(&mut self, ending: Ending) -> Result<Flow> {
        let Ending { state, reason, detail } = ending;
        self.interrupt_running(&detail).await?;
        let shared = self.shared.clone();
        let _branch = shared.branch.lock().await;
        let mut restore_note = None;
        if self.worktree.join(".git").exists() {
            let worktree = self.worktree.clone();
            let edited =
                blocking(move || workspace::diff_stat(&worktree)).await?.map(|d| !d.is_empty()).unwrap_or(false);
            // With several slots a hand-made change is made in a slot's worktree; the session's
            // own only follows the branch (and lags it during the session).
            restore_note = if state == SessionState::Stopped && edited && !self.parallel() {
                // Stopped while waiting for a hand-made change: the edits are the user's work and
                // are never overwritten. The branch head is the last measured commit.
                Some(
                    "the worktree's uncommitted edits were kept; the branch head stays at the last measured commit"
                        .into(),
                )
            } else {
                // The end is recorded even when the restore cannot be made (a broken worktree).
                match self.restore_best().await {
                    Ok(note) => note,
                    Err(e) => Some(format!("the best state could not be restored on the branch: {e}")),
                }
            };
        }
        faults::point("end", None);
        // Whatever the branch holds now (a restore commit included) is where Revis left it.
        let head = {
            let (project, branch) = (self.project.clone(), self.branch.clone());
            blocking(move || workspace::branch_head(&project, &branch)).await?.ok().flatten()
        };
        let mut tx = self.begin().await?;
        if let Some(head) = &head {
            store::sessions::set_head_commit(&mut tx, self.id, head).await?;
        }
        store::sessions::set_stop_requested(&mut tx, self.id, None).await?;
        store::sessions::set_state(&mut tx, self.id, state, Some(reason), Some(&detail)).await?;
        let mut event = ended_event(state, reason, &detail);
        if let Some(note) = restore_note {
            event.message.push_str(&format!("; {note}"));
        }
        let event = self.event(&mut tx, event).await?;
        self.finish(tx, vec![event]).await?;
        let session = self.reload().await?;
        self.answer_stop_waiters(&session);
        Ok(Flow::Continue)
    }

    /// Kills the runs still going (all at once: each waits out its own kill grace) and records
    /// them as interrupted with `why`.
    pub(super) async fn interrupt_running(&mut self, why: &str) -> Result<()> {
        let pool = self.engine.store().pool().clone();
        let rows = store::iterations::active(&pool, self.id).await?;
        let mut confirmation_runs = Vec::new();
        for run in store::confirmations::in_progress(&pool, self.id).await? {
            if let Some(trial) = rows.iter().find(|r| r.number == run.number) {
                confirmation_runs.push(run.as_iteration(trial));
            }
        }
        let running: Vec<IterationRow> = rows
            .into_iter()
            .chain(confirmation_runs)
            .filter(|r| r.phase == Phase::Train && r.state == IterationState::Running && r.run_id.is_some())
            .collect();
        let mut kills = Vec::new();
        for it in &running {
            // Each run on its own slot's executor (a box of executor.hosts has its own).
            let mut worker = self.worker(slot_of(it.slot));
            let (spec, grace) = (worker.spec(it), self.kill_grace);
            kills.push(async move {
                let exec = worker.exec().await.map_err(|e| e.to_string())?;
                exec.kill(&spec.run_id, &spec.run_dir, grace).await.map_err(|e| e.to_string())
            });
        }
        for (it, killed) in running.iter().zip(futures::future::join_all(kills).await) {
            if let Err(e) = killed {
                tracing::warn!(session = %self.name, iteration = it.number, error = %e, "could not kill a run");
            }
        }
        for mut it in running {
            self.interrupt(&mut it, why).await?;
        }
        // A trial whose confirmation runs were cut short is interrupted with them (its own
        // run's time is booked already); a resume runs them again and judges it then.
        let confirming: Vec<IterationRow> = store::iterations::active(self.engine.store().pool(), self.id)
            .await?
            .into_iter()
            .filter(|r| r.phase == Phase::Confirm && r.state == IterationState::Running)
            .collect();
        for mut it in confirming {
            it.state = IterationState::Interrupted;
            it.outcome = Some(crate::states::Outcome::Interrupted);
            it.failure_reason = Some(format!("{why} (during its confirmation runs)"));
            let mut tx = self.begin().await?;
            store::iterations::save(&mut tx, &it).await?;
            self.finish(tx, vec![]).await?;
        }
        Ok(())
    }

    /// Makes the branch head hold the best state found (one extra commit) when the last
    /// iteration was not the best. Idempotent: nothing happens when the head already matches.
    async fn restore_best(&mut self) -> Result<Option<String>> {
        let session = self.reload().await?;
        let iterations = store::iterations::list(self.engine.store().pool(), self.id).await?;
        let Some(best) = session.best_iteration.and_then(|b| iterations.iter().find(|i| i.number == b)) else {
            return Ok(None);
        };
        let Some(best_commit) = best.commit_sha.clone() else { return Ok(None) };
        let last_command = iterations.iter().rev().find(|i| i.commit_sha.is_some()).map(|i| i.command.clone());
        let worktree = self.worktree.clone();
        let head = {
            let worktree = worktree.clone();
            blocking(move || workspace::head_commit(&worktree)).await??
        };
        if head == best_commit {
            if self.parallel() {
                // The branch is right; the session's worktree lagged it during the session.
                blocking(move || workspace::restore_tree(&worktree, &best_commit)).await??;
            }
            return Ok(None);
        }
        // Restored already (the daemon died before recording the end): never twice.
        let restored = {
            let (project, branch, best_number) = (self.project.clone(), self.branch.clone(), best.number.to_string());
            blocking(move || workspace::find_commit_with_trailer(&project, &branch, "Revis-Restore", &best_number))
                .await??
        };
        if restored.as_deref() == Some(head.as_str()) {
            return Ok(None);
        }
        let changed = {
            let (worktree, best_commit) = (worktree.clone(), best_commit.clone());
            blocking(move || -> std::result::Result<Vec<String>, workspace::WorkspaceError> {
                workspace::restore_tree(&worktree, &best_commit)?;
                workspace::diff_stat(&worktree)
            })
            .await??
        };
        if changed.is_empty() && last_command.as_deref() == Some(best.command.as_str()) {
            return Ok(None);
        }
        let message = workspace::commit_message(
            &format!("Restore the best configuration (iteration {})", best.number),
            &format!(
                "The session ended; iteration {} was the best ({}={}).\n\nTraining command: {}",
                best.number,
                session.primary_metric,
                best.primary_value.map(|v| v.to_string()).unwrap_or_default(),
                best.command
            ),
            &[("Revis-Session", self.name.clone()), ("Revis-Restore", best.number.to_string())],
        );
        let sha = blocking(move || workspace::commit_all(&worktree, &message)).await??;
        Ok(Some(format!("branch head restored to iteration {} ({})", best.number, short(&sha))))
    }
}
