//! What a killed daemon may have left in the middle of a step, set right before the first
//! step of a session runs: a commit cut off from its record, git lock files, a slot worktree
//! half made.

use crate::states::Phase;
use crate::store;
use crate::workspace;

use super::super::worktree::blocking;
use super::super::{Result, stored};
use super::{Actor, Ending, Flow, apply, slot_of};

impl Actor {
    /// With several slots, a commit a crash cut off from its record moved the branch where
    /// every other step would see "moved outside Revis": its own step records it first. (It
    /// is at most one: commits are made one at a time.) With one slot that step is next anyway.
    pub(super) async fn record_commit_made_before_a_crash(&mut self) -> Result<Option<Ending>> {
        if !self.parallel() {
            return Ok(None);
        }
        let rows = store::iterations::active(self.engine.store().pool(), self.id).await?;
        for row in rows.into_iter().filter(|r| r.phase == Phase::Commit) {
            let pending: Option<apply::Pending> = stored::parse_opt(row.pending_json.as_deref(), "pending_json", &row)?;
            let Some(number) = pending.and_then(|p| p.number) else { continue };
            let (project, branch) = (self.project.clone(), self.branch.clone());
            let made = blocking(move || {
                workspace::find_commit_with_trailer(&project, &branch, "Revis-Iteration", &number.to_string())
            })
            .await??;
            if made.is_none() {
                continue;
            }
            let mut worker = self.worker(row.target_slot.map_or(slot_of(row.slot), slot_of));
            worker.ensure_worktree().await?;
            if let Flow::End(ending) = worker.commit(row).await? {
                return Ok(Some(ending));
            }
        }
        Ok(None)
    }

    /// Git lock files a killed daemon left in this session's worktrees would fail its next
    /// commit or checkout; none of its steps runs yet, so every one found is stale.
    pub(super) async fn clear_stale_locks(&self) {
        if !self.project.exists() {
            return;
        }
        let (project, name, branch) = (self.project.clone(), self.name.clone(), self.branch.clone());
        match blocking(move || workspace::clear_stale_locks(&project, &name, &branch)).await {
            Ok(Ok(removed)) if !removed.is_empty() => {
                tracing::info!(session = %self.name, locks = ?removed, "removed stale git locks left by a crash");
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(session = %self.name, error = %e, "could not look for stale git locks"),
            Err(e) => tracing::warn!(session = %self.name, error = %e, "could not look for stale git locks"),
        }
    }

    /// A slot's worktree is made the first time a step needs it (and again if it was deleted).
    pub(super) async fn ensure_worktree(&mut self) -> Result<()> {
        if !self.parallel() {
            return Ok(());
        }
        let index = self.slot.index;
        let ready = |shared: &super::Shared| {
            shared.slots_ready.lock().unwrap_or_else(std::sync::PoisonError::into_inner).contains(&index)
        };
        if ready(&self.shared) && self.worktree.join(".git").exists() {
            return Ok(());
        }
        let head = self.reload().await?.head_commit.unwrap_or_default();
        let (project, name) = (self.project.clone(), self.name.clone());
        blocking(move || workspace::create_slot(&project, &name, index, &head)).await??;
        // The set is only ever added to: a lock poisoned by a panic elsewhere still tells true.
        self.shared.slots_ready.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(index);
        Ok(())
    }
}
