//! prepare: the checks before a run (a stop request, the workspace, the budget), the worktree
//! at the iteration's own commit, and the run's id, recorded as the move to `train`.

use crate::states::{IterationState, Phase, SessionState, StopReason};
use crate::store::{self, IterationRow, NewEvent, SessionRow};
use crate::workspace;

use super::super::worktree::{blocking, short};
use super::super::{Result, faults, handoff, run_key};
use super::{Actor, Flow};

/// The trailer of the commit that checks an iteration's state out again before it re-runs.
const RERUN_TRAILER: &str = "Revis-Rerun";

impl Actor {
    pub(super) async fn prepare(&mut self, session: &SessionRow, mut it: IterationRow) -> Result<Flow> {
        if session.stop_requested.is_some() {
            return self.end(SessionState::Stopped, StopReason::User, "stopped by the user".into()).await;
        }
        let number = it.number();
        // The branch and the recorded head move together (see `Shared::branch`). With several
        // slots only the check needs the lock: this step never moves the branch then.
        let shared = self.shared.clone();
        let branch_lock = shared.branch.lock().await;
        let mut problem = self.workspace_problem(None).await?;
        if problem.is_some() && !self.parallel() {
            // A re-run commit made just before a crash is where Revis left the branch too.
            let rerun_commit = {
                let (project, branch) = (self.project.clone(), self.branch.clone());
                blocking(move || {
                    workspace::find_commit_with_trailer(&project, &branch, RERUN_TRAILER, &number.to_string())
                })
                .await??
            };
            if rerun_commit.is_some() {
                problem = self.workspace_problem(rerun_commit.as_deref()).await?;
            }
        }
        if let Some(problem) = problem {
            return self.end(SessionState::Failed, StopReason::Error, problem).await;
        }
        let _branch = if self.parallel() {
            drop(branch_lock);
            None
        } else {
            Some(branch_lock)
        };
        self.report_config_edits(session).await?;
        if let Some(budget) = session.budget_seconds
            && session.active_seconds_now() >= budget
        {
            return self.end(SessionState::Completed, StopReason::Budget, "the time budget is used up".into()).await;
        }
        let head = match self.parallel() {
            true => {
                self.check_out_in_slot(&it).await?;
                None
            }
            false => self.check_out_iteration(session, &it).await?,
        };
        it.gpus = (!self.slot.gpus.is_empty()).then(|| self.slot.gpus.join(","));
        it.host = self.on_box().and_then(|h| self.config.executor.hosts.get(h)).map(|b| b.host.clone());
        let replicate = if it.replicate > 1 { format!("-r{}", it.replicate) } else { String::new() };
        let run_id = format!("{}-i{number}{replicate}-a{}", run_key(self.id, &self.name), it.attempt);
        it.frozen_hash = {
            let (worktree, frozen) = (self.worktree.clone(), self.config.context.frozen.clone());
            blocking(move || handoff::frozen_hash(&worktree, &frozen)).await??
        };
        it.phase = Phase::Train;
        it.state = IterationState::Running;
        it.run_id = Some(run_id);
        it.started_at = Some(store::now());
        it.ended_at = None;
        it.exit_code = None;
        it.failure_reason = None;
        let mut tx = self.begin().await?;
        store::iterations::save(&mut tx, &it).await?;
        if let Some(head) = &head {
            store::sessions::set_head_commit(&mut tx, self.id, head).await?;
        }
        let replicates = self.config.guardrails.replicates;
        let label = match number {
            0 if replicates > 1 => format!("baseline (run {} of {replicates})", it.replicate),
            0 => "baseline".to_string(),
            n if it.replicate > 1 => {
                format!("iteration {n} (confirmation run {} of {})", it.replicate, self.config.guardrails.confirm + 1)
            }
            n => format!("iteration {n}"),
        };
        let attempt = if it.attempt > 1 { format!(" (attempt {})", it.attempt) } else { String::new() };
        let event = self
            .event(
                &mut tx,
                NewEvent::new("run_started", Some(number), format!("{label}{attempt}: training: {}", it.command))
                    .with_data(serde_json::json!({"command": it.command, "attempt": it.attempt})),
            )
            .await?;
        self.finish(tx, vec![event]).await?;
        faults::point("prepare", Some(number));
        Ok(Flow::Continue)
    }

    /// A slot's worktree gets the trial's commit (detached): the branch already has it.
    async fn check_out_in_slot(&mut self, it: &IterationRow) -> Result<()> {
        let Some(commit) = it.commit_sha.clone() else { return Ok(()) };
        let worktree = self.worktree.clone();
        blocking(move || -> std::result::Result<(), workspace::WorkspaceError> {
            if workspace::head_commit(&worktree)? == commit && workspace::diff_stat(&worktree)?.is_empty() {
                return Ok(());
            }
            workspace::check_out_detached(&worktree, &commit)
        })
        .await??;
        Ok(())
    }

    /// Makes the branch head hold the iteration's own state. It always does, except when a
    /// stopped session resumes: stopping put the best measured state back on the branch, so
    /// the interrupted iteration's state is checked out again (one commit with a trailer, found
    /// again after a crash). Returns the new head when it made one.
    async fn check_out_iteration(&mut self, session: &SessionRow, it: &IterationRow) -> Result<Option<String>> {
        let Some(commit) = it.commit_sha.clone() else { return Ok(None) };
        // The common case, without a look at git: the head is the iteration's own commit.
        if session.head_commit.as_deref() == Some(commit.as_str()) {
            return Ok(None);
        }
        let worktree = self.worktree.clone();
        let same = {
            let (worktree, commit) = (worktree.clone(), commit.clone());
            blocking(move || workspace::head_has_tree_of(&worktree, &commit)).await??
        };
        if same {
            return Ok(None);
        }
        let message = workspace::commit_message(
            &format!("Re-run iteration {} (attempt {})", it.number, it.attempt),
            &format!(
                "The session was stopped during iteration {n} and resumed: its state ({}) is checked out again.",
                short(&commit),
                n = it.number
            ),
            &[("Revis-Session", self.name.clone()), (RERUN_TRAILER, it.number.to_string())],
        );
        let sha = blocking(move || -> std::result::Result<String, workspace::WorkspaceError> {
            workspace::restore_tree(&worktree, &commit)?;
            workspace::commit_all(&worktree, &message)
        })
        .await??;
        Ok(Some(sha))
    }

    /// Why the session cannot go on in its workspace, if it cannot: the worktree is gone, or
    /// the branch points somewhere Revis did not put it. `also_ok` is a head that is fine too
    /// (a commit made just before a crash).
    /// The caller holds the branch lock (`Shared::branch`), so the recorded head is current.
    pub(super) async fn workspace_problem(&self, also_ok: Option<&str>) -> Result<Option<String>> {
        if !self.session_worktree.join(".git").exists() {
            return Ok(Some(format!(
                "the session's worktree {} was deleted; `revis delete {}` cleans up",
                self.session_worktree.display(),
                self.name
            )));
        }
        let session = self.reload().await?;
        let Some(expected) = session.head_commit.clone() else { return Ok(None) };
        let (project, branch) = (self.project.clone(), self.branch.clone());
        let actual = blocking(move || workspace::branch_head(&project, &branch)).await??;
        Ok(match actual {
            None => Some(format!("the branch {} was deleted outside Revis", self.branch)),
            Some(head) if head == expected || Some(head.as_str()) == also_ok => None,
            Some(head) => Some(format!(
                "the branch {} was moved outside Revis (expected {}, found {}); the session cannot go on safely",
                self.branch,
                short(&expected),
                short(&head)
            )),
        })
    }

    /// revis.yaml edits made while the session runs are not applied to it (it keeps the
    /// configuration it started with); each distinct edit is reported once.
    async fn report_config_edits(&mut self, session: &SessionRow) -> Result<()> {
        let path = self.project.join(crate::config::FILE_NAME);
        let now = tokio::fs::read_to_string(&path).await.ok();
        if now == session.config_text {
            return Ok(());
        }
        let message = match &now {
            Some(_) => format!(
                "{} changed; this session keeps the configuration it started with (start a new session to use the new one)",
                path.display()
            ),
            None => format!("{} was removed; this session keeps the configuration it started with", path.display()),
        };
        let mut tx = self.begin().await?;
        store::sessions::set_config_text(&mut tx, self.id, now.as_deref()).await?;
        let event = self.event(&mut tx, NewEvent::new("config_changed", None, message)).await?;
        self.finish(tx, vec![event]).await
    }
}
