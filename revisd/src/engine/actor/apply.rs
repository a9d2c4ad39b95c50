//! apply: the decision's changes on top of the best state so far (the ratchet). A decision
//! that changes nothing is refused before a run is spent on it, and the advisor is told why; a
//! code change goes to the coding agent or a human (`code_change`).

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::advisor::{Change, Decision};
use crate::states::{Phase, SessionState, StopReason};
use crate::store::{self, IterationRow, NewEvent};
use crate::{changes, workspace};

use super::super::handoff::{AgentRecord, HandoffState};
use super::super::worktree::blocking;
use super::super::{EngineError, Result, faults, stored};
use super::{Actor, Flow};

/// What `apply` produced, kept on the iteration so `commit` can be redone after a crash.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Pending {
    pub command: String,
    pub parent: u32,
    pub summaries: Vec<String>,
    pub changes: Vec<Change>,
    pub params: IndexMap<String, serde_json::Value>,
    /// A code change the session waits for a human to make in the worktree.
    #[serde(default)]
    pub code_request: Option<String>,
    /// The worktree as Revis left it before pausing for that change (see `worktree::fingerprint`).
    #[serde(default)]
    pub fingerprint: Option<String>,
    /// What a coding agent did, when one made the code change.
    #[serde(default)]
    pub agent: Option<AgentRecord>,
    #[serde(default)]
    pub agent_cost: f64,
    /// The agent's price is unknown: its run is booked as an unpriced call, not as $0.
    #[serde(default)]
    pub agent_unpriced: bool,
    /// The number the trial gets, given out just before its commit.
    #[serde(default)]
    pub number: Option<u32>,
    /// The search-space edits the decision makes, recorded with the trial.
    #[serde(default)]
    pub search_space: Vec<crate::advisor::SpaceEdit>,
}

/// The state a decision applies to, and the decision as applied there.
pub(super) struct Applying<'a> {
    pub decision: &'a Decision,
    pub base_commit: &'a str,
    pub iterations: &'a [IterationRow],
}

impl Actor {
    pub(super) async fn apply(&mut self, mut it: IterationRow) -> Result<Flow> {
        let number = it.number();
        let decision: Decision = stored::parse_opt(it.decision_json.as_deref(), "decision_json", &it)?
            .ok_or_else(|| EngineError::Internal(format!("iteration {number} is at apply without a decision")))?;
        let session = self.reload().await?;
        let problem = {
            let shared = self.shared.clone();
            let _branch = shared.branch.lock().await;
            self.workspace_problem(None).await?
        };
        if let Some(problem) = problem {
            return self.end(SessionState::Failed, StopReason::Error, problem).await;
        }
        // Ratchet: start from the best state (the baseline while nothing succeeded).
        let pool = self.engine.store().pool();
        let best = match session.best_iteration.and_then(|b| u32::try_from(b).ok()) {
            Some(b) => store::iterations::get(pool, self.id, b).await?,
            None => None,
        };
        let base = match best {
            Some(best) => best,
            None => store::iterations::get(pool, self.id, 0)
                .await?
                .ok_or_else(|| EngineError::Internal("the session has no baseline".into()))?,
        };
        let base_commit = base
            .commit_sha
            .clone()
            .ok_or_else(|| EngineError::Internal(format!("iteration {} has no commit", base.number)))?;
        let worktree = self.worktree.clone();
        let (command, changes, restore_to) = (base.command.clone(), decision.changes.clone(), base_commit.clone());
        // Restoring first makes this step idempotent: a redo after a crash starts clean.
        let applied = blocking(move || -> std::result::Result<changes::Applied, String> {
            workspace::restore_tree(&worktree, &restore_to).map_err(|e| e.to_string())?;
            changes::apply(&worktree, &command, &changes).map_err(|e| e.to_string())
        })
        .await?;
        let applied = match applied {
            Ok(applied) => applied,
            Err(reason) => {
                let detail = format!("the decision after iteration {number} could not be applied: {reason}");
                return self.end(SessionState::Failed, StopReason::Error, detail).await;
            }
        };
        let has_code = decision.changes.iter().any(|c| matches!(c, Change::Code { .. }));
        if !has_code && changes_nothing(&applied, &base.command) {
            return self.refuse_no_op(it, &applied).await;
        }
        let mut params: IndexMap<String, serde_json::Value> = stored::parse(&base.params_json, "params_json", &base)?;
        params.extend(decision.params.clone());
        // A model's decision names changes, not points: the searched parameters are read back
        // from the worktree, so the search advisor learns from the trials the model made too.
        if decision.params.is_empty() && !self.config.search.space.is_empty() {
            let (space, worktree, command) =
                (self.config.search.space.clone(), self.worktree.clone(), applied.command.clone());
            match blocking(move || changes::current_params(&space, &worktree, &command)).await? {
                Ok(read) => params.extend(read),
                Err(e) => tracing::warn!(session = %self.name, error = %e, "could not read the searched parameters"),
            }
        }
        let mut pending = Pending {
            command: applied.command.clone(),
            parent: base.number(),
            summaries: applied.applied.iter().map(|a| a.summary.clone()).collect(),
            changes: applied.applied.iter().map(|a| a.change.clone()).collect(),
            params,
            code_request: None,
            fingerprint: None,
            agent: None,
            agent_cost: 0.0,
            agent_unpriced: false,
            number: None,
            search_space: decision.search_space.clone(),
        };
        if has_code {
            let iterations = store::iterations::list(pool, self.id).await?;
            let applying = Applying { decision: &decision, base_commit: &base_commit, iterations: &iterations };
            if let Some(flow) = self.code_change(&session, &mut it, &applying, &mut pending).await? {
                return Ok(flow);
            }
        }
        it.pending_json = Some(stored::to_json(&pending, "the applied changes")?);
        it.phase = Phase::Commit;
        faults::point("apply", Some(number));
        let mut tx = self.begin().await?;
        store::iterations::save(&mut tx, &it).await?;
        // A coding agent's dollars count toward --max-cost like the advisor's.
        let agent_cost =
            store::sessions::LlmCost { usd: pending.agent_cost, unpriced: i64::from(pending.agent_unpriced) };
        if !agent_cost.is_zero() {
            store::sessions::add_llm_usd(&mut tx, self.id, agent_cost).await?;
        }
        let from = if base.number == it.number {
            String::new()
        } else {
            format!(" (from iteration {}, the best so far)", base.number)
        };
        let event = self
            .event(
                &mut tx,
                NewEvent::new(
                    "change_applied",
                    Some(number),
                    format!("applied{from}: {}", pending.summaries.join(", ")),
                )
                .with_data(serde_json::json!({"changes": pending.summaries, "parent": base.number})),
            )
            .await?;
        self.finish(tx, vec![event]).await?;
        Ok(Flow::Continue)
    }

    /// A decision whose every value is the one the best state already has: no run is spent on
    /// it. The advisor decides again and is told why (as it is told of a failed code change);
    /// the refusal counts against the retry budget, so an advisor that keeps repeating itself
    /// cannot spin forever.
    async fn refuse_no_op(&mut self, mut it: IterationRow, applied: &changes::Applied) -> Result<Flow> {
        let number = it.number();
        let same: Vec<String> = applied.applied.iter().map(|a| a.summary.clone()).collect();
        let reason = if same.is_empty() {
            "the decision changes nothing: it has no change to apply".to_string()
        } else {
            format!(
                "the decision changes nothing: every value it sets is already the current one ({}); propose a \
                 different value",
                same.join("; ")
            )
        };
        let mut state = HandoffState::of(&it)?;
        state.last_failure = Some(reason.clone());
        it.handoff_json = Some(stored::to_json(&state, "the handoff state")?);
        it.decision_json = None;
        it.phase = Phase::Advise;
        let event = NewEvent::new("decision_refused", Some(number), format!("decision refused: {reason}"))
            .with_data(serde_json::json!({"reason": reason}));
        self.record_failed_try(&it, store::sessions::LlmCost::default(), event).await?;
        Ok(Flow::Continue)
    }
}

/// Whether applying the decision left the best state as it was: the same training command
/// (argument and command changes show there) and every config value already the one it sets.
fn changes_nothing(applied: &changes::Applied, base_command: &str) -> bool {
    applied.command == base_command
        && applied.applied.iter().all(|a| match &a.change {
            Change::ConfigEdit { value, .. } => a.previous.as_ref() == Some(value),
            Change::Arg { .. } | Change::Command { .. } => true,
            Change::Code { .. } => false,
        })
}
