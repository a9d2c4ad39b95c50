//! The code part of a decision: handed to the coding agent (after an approval when
//! `coding_agent.auto_handoff` is off), or left to a human when no agent is set up. A failed
//! handoff is reverted and told to the advisor.

use crate::advisor::Change;
use crate::states::{Phase, StopReason};
use crate::store::{IterationRow, NewEvent, SessionRow};
use crate::workspace;

use super::super::handoff::{self, HandoffState};
use super::super::worktree::{blocking, fingerprint};
use super::super::{Result, stored};
use super::apply::{Applying, Pending};
use super::{Actor, Flow, first_line};

impl Actor {
    /// Runs the decision's code change into `pending`, or says what the session does instead
    /// (pause for an approval or a human, or back to the advisor after a failed handoff).
    pub(super) async fn code_change(
        &mut self,
        session: &SessionRow,
        it: &mut IterationRow,
        applying: &Applying<'_>,
        pending: &mut Pending,
    ) -> Result<Option<Flow>> {
        let code_changes: Vec<Change> =
            applying.decision.changes.iter().filter(|c| matches!(c, Change::Code { .. })).cloned().collect();
        let mut requests = Vec::new();
        let mut files = Vec::new();
        for change in &code_changes {
            if let Change::Code { request, files: named } = change {
                requests.push(request.clone());
                files.extend(named.iter().cloned());
            }
        }
        let request = requests.join("\n");
        let path_var = std::env::var_os("PATH");
        let agent = crate::coding::resolve(self.config.coding_agent.kind, path_var.as_deref());
        let state = HandoffState::of(it)?;
        match agent {
            Ok(Some(kind)) if !self.config.coding_agent.auto_handoff && !state.approved => {
                let detail = format!(
                    "the advisor wants {kind} to make a code change: {request}\nApprove with `revis approve {name}`, \
                     or drop it with `revis resume {name} --skip`",
                    name = self.name
                );
                Ok(Some(self.pause(it, StopReason::AwaitingApproval, detail).await?))
            }
            Ok(Some(kind)) => {
                // One coding agent at a time; config trials go on in the other slots meanwhile.
                let shared = self.shared.clone();
                let _agent = shared.agent.lock().await;
                let outcome = handoff::run(handoff::Handoff {
                    engine: &self.engine,
                    session,
                    config: &self.config,
                    worktree: &self.worktree,
                    kind,
                    current: it,
                    iterations: applying.iterations,
                    request: request.clone(),
                    files,
                    hypothesis: applying.decision.hypothesis.clone(),
                    command: pending.command.clone(),
                    executor: self.executor_settings(),
                    remote_key: self.remote_key(),
                })
                .await?;
                match outcome.result {
                    Ok(record) => {
                        pending.summaries.push(format!("code change by {kind}: {}", first_line(&request)));
                        pending.changes.extend(code_changes);
                        pending.code_request = Some(request);
                        pending.agent = Some(record);
                        pending.agent_cost = outcome.cost.usd;
                        pending.agent_unpriced = outcome.cost.unpriced > 0;
                        Ok(None)
                    }
                    Err(reason) => {
                        let flow = self.handoff_failed(it.clone(), applying.base_commit, reason, outcome.cost).await?;
                        Ok(Some(flow))
                    }
                }
            }
            manual => {
                // No agent (coding_agent.type: none, or none installed): a human makes it.
                let why = match manual {
                    Err(e) => format!(" ({e})"),
                    _ => String::new(),
                };
                let worktree = self.worktree.clone();
                pending.fingerprint = Some(blocking(move || fingerprint(&worktree)).await??);
                pending.summaries.push(format!("code change: {}", first_line(&request)));
                pending.changes.extend(code_changes);
                pending.code_request = Some(request.clone());
                it.pending_json = Some(stored::to_json(&*pending, "the applied changes")?);
                it.phase = Phase::Commit;
                let detail = format!(
                    "waiting for a code change in {}{why}: {request}\nMake it there, then run `revis resume {}` \
                     (or `revis resume {} --skip` to drop it)",
                    self.worktree.display(),
                    self.name,
                    self.name
                );
                Ok(Some(self.pause(it, StopReason::AwaitingChange, detail).await?))
            }
        }
    }

    /// A failed handoff: the worktree goes back to the best state, the reason is recorded and
    /// given to the advisor, and it counts against the retry budget.
    async fn handoff_failed(
        &mut self,
        mut it: IterationRow,
        base_commit: &str,
        reason: String,
        cost: crate::store::sessions::LlmCost,
    ) -> Result<Flow> {
        let number = it.number();
        let (worktree, base) = (self.worktree.clone(), base_commit.to_string());
        blocking(move || workspace::restore_tree(&worktree, &base)).await??;
        let mut state = HandoffState::of(&it)?;
        state.failures += 1;
        state.approved = false;
        state.last_failure = Some(reason.clone());
        it.handoff_json = Some(stored::to_json(&state, "the handoff state")?);
        it.decision_json = None;
        it.phase = Phase::Advise;
        let event =
            NewEvent::new("handoff_failed", Some(number), format!("code change failed and was reverted: {reason}"))
                .with_data(serde_json::json!({"reason": reason, "cost_usd": cost.usd, "unpriced": cost.unpriced > 0}));
        self.record_failed_try(&it, cost, event).await?;
        Ok(Flow::Continue)
    }
}
