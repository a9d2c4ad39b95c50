//! commit: the applied change becomes one commit on the session branch (found again by its
//! trailer after a crash, never made twice), and the next iteration is created with it.

use indexmap::IndexMap;

use crate::advisor::Decision;
use crate::states::{Phase, SessionState, StopReason};
use crate::store::{self, IterationRow, NewEvent, NewIteration};
use crate::workspace;

use super::super::worktree::{blocking, short};
use super::super::{EngineError, Result, faults, stored};
use super::apply::Pending;
use super::{Actor, Flow, slot_of, truncate};

impl Actor {
    pub(super) async fn commit(&mut self, mut it: IterationRow) -> Result<Flow> {
        let number = it.number();
        let mut pending: Pending = stored::parse_opt(it.pending_json.as_deref(), "pending_json", &it)?
            .ok_or_else(|| EngineError::Internal(format!("iteration {number} is at commit without its changes")))?;
        // The branch and the recorded head move together (see `Shared::branch`).
        let shared = self.shared.clone();
        let _branch = shared.branch.lock().await;
        // The trial's number is given out (and kept) before its commit is made, so the commit
        // is found again by it after a crash.
        // A number reserved by an earlier try of this step may have its commit already; one
        // reserved just now cannot, and the branch's history is not walked for it.
        let reserved_before = pending.number.is_some();
        let next = match pending.number {
            Some(next) => next,
            None => {
                let mut tx = self.begin().await?;
                let next = store::sessions::reserve_number(&mut tx, self.id).await?;
                pending.number = Some(next);
                it.pending_json = Some(stored::to_json(&pending, "the applied changes")?);
                store::iterations::save(&mut tx, &it).await?;
                self.finish(tx, vec![]).await?;
                next
            }
        };
        let decision: Option<Decision> = stored::parse_opt(it.decision_json.as_deref(), "decision_json", &it)?;
        let session = self.reload().await?;
        let summary = if pending.summaries.is_empty() { "no change".to_string() } else { pending.summaries.join(", ") };
        let metric = match it.primary_value {
            Some(v) => format!("{}={v}", session.primary_metric),
            None => format!("{}=failed", session.primary_metric),
        };

        let (project, branch) = (self.project.clone(), self.branch.clone());
        let existing = match reserved_before {
            true => {
                blocking(move || {
                    workspace::find_commit_with_trailer(&project, &branch, "Revis-Iteration", &next.to_string())
                })
                .await??
            }
            false => None,
        };
        let sha = match existing {
            // Committed before a crash: never commit twice.
            Some(sha) => sha,
            None => {
                if let Some(problem) = self.workspace_problem(None).await? {
                    return self.end(SessionState::Failed, StopReason::Error, problem).await;
                }
                let parent = store::iterations::get(self.engine.store().pool(), self.id, pending.parent).await?;
                let message = commit_text(&CommitText {
                    next,
                    number,
                    metric: &metric,
                    primary_metric: &session.primary_metric,
                    pending: &pending,
                    parent: parent.as_ref(),
                    decision: decision.as_ref(),
                    previous_command: &it.command,
                    session: &self.name,
                })?;
                let worktree = self.worktree.clone();
                let sha = match self.parallel() {
                    true => {
                        let branch = self.branch.clone();
                        blocking(move || workspace::commit_onto_branch(&worktree, &branch, &message)).await??
                    }
                    false => blocking(move || workspace::commit_all(&worktree, &message)).await??,
                };
                faults::point("commit", Some(number));
                sha
            }
        };

        // With a slot still free (and not wanted by another judged trial waiting to decide),
        // this judged trial decides again for it; else it is done.
        let slot = self.slot.index;
        let pool = self.engine.store().pool();
        let active = store::iterations::progress(pool, self.id).await?;
        let confirming = store::confirmations::in_progress(pool, self.id).await?;
        let others = active.iter().filter(|r| r.number != it.number);
        let taken: std::collections::HashSet<u32> = others
            .clone()
            .filter_map(|r| if r.phase.holds_slot() { Some(slot_of(r.slot)) } else { r.target_slot.map(slot_of) })
            .chain(confirming.iter().filter_map(|c| c.slot.map(slot_of)))
            .chain([slot])
            .collect();
        // Confirmation runs waiting for a slot take the next free one before any decision.
        let waiting = others.filter(|r| r.phase == Phase::Advise && r.target_slot.is_none()).count()
            + confirming.iter().filter(|c| c.slot.is_none()).count();
        let free = self.slots.iter().filter(|s| !taken.contains(&s.index)).count() > waiting;
        it.phase = if free { Phase::Advise } else { Phase::Done };
        it.target_slot = None;
        if free {
            it.decision_json = None;
            it.pending_json = None;
            it.handoff_json = None;
            it.decision_llm_json = None;
        }
        let mut tx = self.begin().await?;
        store::iterations::save(&mut tx, &it).await?;
        store::sessions::set_head_commit(&mut tx, self.id, &sha).await?;
        store::iterations::insert(
            &mut tx,
            self.id,
            &NewIteration {
                number: next,
                command: pending.command.clone(),
                commit_sha: Some(sha.clone()),
                parent: Some(pending.parent),
                change_summary: Some(summary.clone()),
                rationale: decision.as_ref().map(|d| d.rationale.clone()),
                hypothesis: decision.as_ref().and_then(|d| d.hypothesis.clone()),
                changes_json: stored::to_json(&pending.changes, "the changes")?,
                params_json: serde_json::Value::Object(pending.params.clone().into_iter().collect()).to_string(),
                llm_json: it.decision_llm_json.clone(),
                agent_json: pending
                    .agent
                    .as_ref()
                    .map(|a| stored::to_json(a, "the coding agent's record"))
                    .transpose()?,
                slot,
                decided_by: Some(number),
                space_json: (!pending.search_space.is_empty())
                    .then(|| stored::to_json(&pending.search_space, "the search-space edits"))
                    .transpose()?,
            },
        )
        .await?;
        let mut events = vec![
            self.event(
                &mut tx,
                NewEvent::new(
                    "committed",
                    Some(next),
                    format!("iteration {next}: committed {} ({summary})", short(&sha)),
                )
                .with_data(serde_json::json!({"commit": sha})),
            )
            .await?,
        ];
        if !pending.search_space.is_empty() {
            // The space as it stood before this trial's edits (every earlier trial's applied).
            let iterations = store::iterations::list(self.engine.store().pool(), self.id).await?;
            let before: Vec<IterationRow> = iterations.into_iter().filter(|i| i.number < i64::from(next)).collect();
            let space = super::super::advice::searched_config(&self.config, &before).search.space;
            let text = crate::advisor::search::describe_edits(&space, &pending.search_space);
            let edit = NewEvent::new("search_space", Some(next), format!("iteration {next}: search space: {text}"))
                .with_data(serde_json::json!({"edits": pending.search_space}));
            events.push(self.event(&mut tx, edit).await?);
        }
        self.finish(tx, events).await?;
        Ok(Flow::Continue)
    }
}

struct CommitText<'a> {
    next: u32,
    number: u32,
    metric: &'a str,
    primary_metric: &'a str,
    pending: &'a Pending,
    parent: Option<&'a IterationRow>,
    decision: Option<&'a Decision>,
    previous_command: &'a str,
    session: &'a str,
}

/// The commit message of an iteration: a short subject naming the knobs that moved, then the
/// rationale, the hypothesis, where it starts from, every change in full, and the trailers.
fn commit_text(c: &CommitText<'_>) -> Result<String> {
    let parent_params: IndexMap<String, serde_json::Value> = match c.parent {
        Some(p) => stored::parse(&p.params_json, "params_json", p)?,
        None => IndexMap::new(),
    };
    let moved: Vec<String> = c
        .pending
        .params
        .iter()
        .filter(|(k, v)| parent_params.get(*k) != Some(*v))
        .map(|(k, v)| format!("{k}={}", v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())))
        .collect();
    let what = if !moved.is_empty() {
        moved.join(", ")
    } else if !c.pending.summaries.is_empty() {
        c.pending.summaries.join(", ")
    } else {
        "no change".to_string()
    };
    let mut body = String::new();
    if let Some(d) = c.decision {
        body.push_str(&d.rationale);
        if let Some(h) = &d.hypothesis {
            body.push_str(&format!("\n\nHypothesis: {h}"));
        }
    }
    let parent_value = c.parent.and_then(|p| p.primary_value);
    body.push_str(&format!("\n\nStarts from iteration {}", c.pending.parent));
    if let Some(v) = parent_value {
        body.push_str(&format!(" ({}={v}, the best so far)", c.primary_metric));
    }
    if c.pending.parent != c.number {
        body.push_str(&format!("; iteration {} gave {}", c.number, c.metric));
    }
    body.push('.');
    if !c.pending.summaries.is_empty() {
        body.push_str("\n\nChanges:");
        for s in &c.pending.summaries {
            body.push_str(&format!("\n- {s}"));
        }
    }
    if let Some(agent) = &c.pending.agent {
        let cost = agent.cost_usd.map(|usd| format!(", ${usd:.4}")).unwrap_or_default();
        body.push_str(&format!("\n\nCode change by {} ({:.0}s{cost}):", agent.agent, agent.duration_seconds));
        let summary = agent.summary.trim();
        let summary = if summary.is_empty() { "(no summary)" } else { summary };
        body.push_str(&format!("\n{}", truncate(summary, 2000)));
    }
    let parent_command = c.parent.map_or(c.previous_command, |p| p.command.as_str());
    if c.pending.command != parent_command {
        body.push_str(&format!("\n\nTraining command: {}", c.pending.command));
    }
    Ok(workspace::commit_message(
        &truncate(&format!("Iteration {}: {what}", c.next), 72),
        body.trim(),
        &[
            ("Revis-Session", c.session.to_string()),
            ("Revis-Iteration", c.next.to_string()),
            ("Revis-Metric", c.metric.to_string()),
        ],
    ))
}
