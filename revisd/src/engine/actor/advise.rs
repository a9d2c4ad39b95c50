//! advise: the stop rules in their documented order, then the session's advisor, whose kind of
//! answer decides what follows (a change, a stop, an escalation, an exhausted space, a failed
//! try, a wait for credentials), never words in its rationale.

use crate::advisor::{Action, Decision};
use crate::states::{Phase, SessionState, StopReason};
use crate::store::sessions::LlmCost;
use crate::store::{self, IterationRow, NewEvent, SessionRow};

use super::super::advice::{self, AdviceRequest, Proposal, RunningTrial};
use super::super::llm_advice::LlmSpend;
use super::super::{Result, faults, rules, stored};
use super::{Actor, Flow};

impl Actor {
    pub(super) async fn advise(&mut self, mut it: IterationRow) -> Result<Flow> {
        let number = it.number();
        // The session and its iterations from one moment: a number another slot reserves
        // meanwhile is counted once, never twice or not at all.
        let (session, iterations) = store::iterations::snapshot(self.engine.store().pool(), self.id)
            .await?
            .ok_or_else(|| super::super::EngineError::NotFound("the session was deleted".into()))?;
        let session = &session;
        let best = session.best_iteration.and_then(|b| iterations.iter().find(|i| i.number == b));
        let decided = decided_without_number(&it, &iterations)?;
        if let Some((state, reason, detail)) = self.stop_rule(session, &iterations, best, decided) {
            return self.end(state, reason, detail).await;
        }

        let base = best.unwrap_or(&iterations[0]);
        let queue: Vec<Decision> = stored::parse(&session.decision_queue, "decision_queue", &it)?;
        // What is left of the queue once this decision is recorded (`None`: unchanged).
        let mut queue_after: Option<Vec<Decision>> = None;
        let decision = match stored::parse_opt::<Decision>(it.decision_json.as_deref(), "decision_json", &it)? {
            // A decision made before a restart is kept, never re-drawn.
            Some(decision) => decision,
            // A change the model proposed for this slot together with an earlier one.
            None if !queue.is_empty() => {
                let mut rest = queue.clone();
                let first = rest.remove(0);
                queue_after = Some(rest);
                first
            }
            None => {
                let running = running_beside(&it, &iterations)?;
                let confirming = store::confirmations::in_progress(self.engine.store().pool(), self.id).await?;
                let free_slots = self.free_slots(&it, &iterations, &confirming);
                let config = advice::searched_config(&self.config, &iterations);
                let request = AdviceRequest {
                    engine: &self.engine,
                    session,
                    config: &config,
                    worktree: &self.worktree,
                    iterations: &iterations,
                    running: &running,
                    current: &it,
                    base,
                    free_slots,
                };
                let advice = advice::advisor_for(session.advisor).propose(&request, free_slots).await?;
                let usd = tally(&mut it, advice.asked_model, &advice.spend)?;
                match advice.proposal {
                    Proposal::Decisions(decisions) => match split_first(decisions) {
                        Some((decision, rest)) => {
                            // Changes for the other free slots wait in the session's queue.
                            let more: Vec<Decision> = rest.take(free_slots.saturating_sub(1)).collect();
                            if !more.is_empty() {
                                queue_after = Some(more);
                            }
                            if advice.asked_model {
                                // The try and its dollars are booked before anything else happens.
                                let mut tx = self.begin().await?;
                                store::iterations::save(&mut tx, &it).await?;
                                store::sessions::add_llm_usd(&mut tx, self.id, usd).await?;
                                self.finish(tx, vec![]).await?;
                            }
                            decision
                        }
                        None => {
                            let reason = "the advisor proposed nothing".to_string();
                            self.decision_failed(&it, reason, usd).await?;
                            return Ok(Flow::Continue);
                        }
                    },
                    Proposal::Exhausted(reason) => {
                        return self
                            .end(
                                SessionState::Completed,
                                StopReason::SpaceExhausted,
                                format!("search space exhausted: {reason}"),
                            )
                            .await;
                    }
                    Proposal::NeedsCredentials(detail) => {
                        let detail =
                            format!("{detail}. Set the key in your shell and run `revis resume {}`", self.name);
                        return self.pause(&mut it, StopReason::NeedsCredentials, detail).await;
                    }
                    Proposal::Failed(reason) => {
                        self.decision_failed(&it, reason, usd).await?;
                        return Ok(Flow::Continue);
                    }
                }
            }
        };
        if decision.action == Action::Stop {
            return self.end(SessionState::Completed, StopReason::Advisor, decision.rationale.clone()).await;
        }
        if decision.action == Action::Escalate {
            return self
                .pause(&mut it, StopReason::Escalated, format!("the advisor asks for a human: {}", decision.rationale))
                .await;
        }
        it.decision_json = Some(stored::to_json(&decision, "a decision")?);
        it.phase = Phase::Apply;
        faults::point("advise", Some(number));
        let mut tx = self.begin().await?;
        store::iterations::save(&mut tx, &it).await?;
        if let Some(rest) = &queue_after {
            store::sessions::set_decision_queue(&mut tx, self.id, &stored::to_json(rest, "the decision queue")?)
                .await?;
        }
        let queued = queue_after.as_ref().map_or(0, Vec::len);
        let note = if queued > 0 { format!(" ({queued} more queued for free slots)") } else { String::new() };
        let event = self
            .event(
                &mut tx,
                NewEvent::new("decision", Some(number), format!("decision: {}{note}", decision.rationale)).with_data(
                    serde_json::json!({"hypothesis": decision.hypothesis, "changes": decision.changes, "queued": queued}),
                ),
            )
            .await?;
        self.finish(tx, vec![event]).await?;
        Ok(Flow::Continue)
    }

    /// The first stop rule that holds, in the documented order: a user's stop, the target, the
    /// time budget, the iteration limit, the cost limit, the retry budget, a plateau.
    fn stop_rule(
        &self,
        session: &SessionRow,
        iterations: &[IterationRow],
        best: Option<&IterationRow>,
        decided: i64,
    ) -> Option<(SessionState, StopReason, String)> {
        let g = &self.config.guardrails;
        let best_value = best.and_then(|b| b.primary_value);
        if session.stop_requested.is_some() {
            return Some((SessionState::Stopped, StopReason::User, "stopped by the user after the run".into()));
        }
        if let (Some(target), Some(value)) = (session.target, best_value)
            && rules::target_reached(value, target, session.minimize)
        {
            let detail = format!("target reached: {}={value} (target {target})", session.primary_metric);
            return Some((SessionState::Completed, StopReason::Target, detail));
        }
        if let Some(budget) = session.budget_seconds
            && session.active_seconds_now() >= budget
        {
            return Some((SessionState::Completed, StopReason::Budget, "the time budget is used up".into()));
        }
        // Trials numbered so far count (the baseline included), and the decisions other slots
        // made that will be trials.
        if let Some(max) = session.max_iterations
            && session.last_number + decided + 1 >= max
        {
            return Some((
                SessionState::Completed,
                StopReason::MaxIterations,
                format!("ran the maximum of {max} iterations"),
            ));
        }
        if let Some(max_cost) = session.max_cost
            && session.spent_usd() >= max_cost
        {
            let mut detail = format!("spent ${:.2} of ${max_cost:.2}", session.spent_usd());
            if session.llm_unpriced_calls > 0 {
                detail.push_str(&format!(", and {} LLM calls at unknown prices", session.llm_unpriced_calls));
            }
            return Some((SessionState::Completed, StopReason::MaxCost, detail));
        }
        if session.consecutive_failures >= i64::from(g.retry_budget) {
            let detail =
                format!("{} consecutive failed iterations (guardrails.retry_budget)", session.consecutive_failures);
            return Some((SessionState::Failed, StopReason::RetryBudget, detail));
        }
        let results: Vec<Option<f64>> = iterations
            .iter()
            .filter(|i| i.state != crate::states::IterationState::Interrupted)
            .map(|i| i.primary_value)
            .collect();
        if g.plateau_detection_enabled
            && rules::plateaued(
                &results,
                session.minimize,
                g.plateau_threshold,
                g.plateau_runs as usize,
                session.noise_floor,
            )
        {
            let detail = format!(
                "no improvement larger than {}% over the last {} iterations",
                g.plateau_threshold * 100.0,
                g.plateau_runs
            );
            return Some((SessionState::Completed, StopReason::Plateau, detail));
        }
        None
    }

    /// The advisor did not decide: the try counts as a consecutive failure (the retry budget
    /// bounds the tries) and the event says why, with its dollars, in one transaction.
    async fn decision_failed(&mut self, it: &IterationRow, reason: String, usd: LlmCost) -> Result<()> {
        let event =
            NewEvent::new("decision_failed", Some(it.number()), format!("the advisor did not decide: {reason}"))
                .with_data(serde_json::json!({"reason": reason, "try": it.decision_tries}));
        self.record_failed_try(it, usd, event).await
    }

    /// Pauses the session for a human; `revis resume` (or `approve`) continues it.
    pub(super) async fn pause(&mut self, it: &mut IterationRow, reason: StopReason, detail: String) -> Result<Flow> {
        let mut tx = self.begin().await?;
        store::iterations::save(&mut tx, it).await?;
        store::sessions::set_state(&mut tx, self.id, SessionState::Paused, Some(reason), Some(&detail)).await?;
        let event = self
            .event(
                &mut tx,
                NewEvent::new("session_paused", Some(it.number()), format!("session paused: {detail}"))
                    .with_data(serde_json::json!({"reason": reason.as_str(), "detail": detail})),
            )
            .await?;
        self.finish(tx, vec![event]).await?;
        Ok(Flow::Continue)
    }

    /// A decision or handoff that did not work out: its cost is booked, it counts as a
    /// consecutive failure (the retry budget bounds the tries), and the event says why.
    pub(super) async fn record_failed_try(&mut self, it: &IterationRow, usd: LlmCost, event: NewEvent) -> Result<()> {
        // The session as it stands under the judge lock: a trial judged meanwhile counts.
        let shared = self.shared.clone();
        let _judge = shared.judge.lock().await;
        let session = &self.reload().await?;
        let failures = session.consecutive_failures + 1;
        let mut tx = self.begin().await?;
        store::iterations::save(&mut tx, it).await?;
        store::sessions::add_llm_usd(&mut tx, self.id, usd).await?;
        store::sessions::set_progress(
            &mut tx,
            self.id,
            session.best_iteration.and_then(|b| u32::try_from(b).ok()),
            u32::try_from(failures).unwrap_or(u32::MAX),
        )
        .await?;
        let event = self.event(&mut tx, event).await?;
        self.finish(tx, vec![event]).await
    }
}

impl Actor {
    /// Slots no trial holds or a decision has claimed, this decision's own included.
    /// Confirmation runs count as taken, those waiting for a slot too (they come first).
    fn free_slots(
        &self,
        it: &IterationRow,
        iterations: &[IterationRow],
        confirming: &[store::confirmations::ConfirmationRow],
    ) -> usize {
        let slot = |s: i64| u32::try_from(s).unwrap_or(0);
        let taken: std::collections::HashSet<u32> = iterations
            .iter()
            .filter(|o| o.number != it.number && o.state != crate::states::IterationState::Interrupted)
            .filter_map(|o| if o.phase.holds_slot() { Some(slot(o.slot)) } else { o.target_slot.map(slot) })
            .chain(confirming.iter().filter_map(|c| c.slot.map(slot)))
            .collect();
        let waiting = confirming.iter().filter(|c| c.slot.is_none()).count();
        self.slots.iter().filter(|s| !taken.contains(&s.index)).count().saturating_sub(waiting).max(1)
    }
}

/// The first decision and an iterator over the others.
fn split_first(decisions: Vec<Decision>) -> Option<(Decision, std::vec::IntoIter<Decision>)> {
    let mut all = decisions.into_iter();
    all.next().map(|first| (first, all))
}

/// Decisions of other judged trials that will become trials but have no number yet.
fn decided_without_number(it: &IterationRow, iterations: &[IterationRow]) -> Result<i64> {
    let mut count = 0;
    for other in iterations.iter().filter(|o| o.number != it.number) {
        let numbered = match other.phase {
            Phase::Apply => false,
            Phase::Commit => {
                stored::parse_opt::<super::apply::Pending>(other.pending_json.as_deref(), "pending_json", other)?
                    .is_some_and(|p| p.number.is_some())
            }
            _ => continue,
        };
        if !numbered {
            count += 1;
        }
    }
    Ok(count)
}

/// The trials a decision must not repeat: those in their slots (about to run, running, being
/// judged), and the decisions other judged trials made that are not trials yet.
fn running_beside(it: &IterationRow, iterations: &[IterationRow]) -> Result<Vec<RunningTrial>> {
    let mut running = Vec::new();
    for other in iterations.iter().filter(|o| o.number != it.number) {
        if other.phase.holds_slot() && other.state != crate::states::IterationState::Interrupted {
            running.push(RunningTrial {
                number: Some(other.number()),
                slot: u32::try_from(other.slot).unwrap_or(0),
                params: stored::parse(&other.params_json, "params_json", other)?,
                summary: other.change_summary.clone().unwrap_or_default(),
            });
        } else if matches!(other.phase, Phase::Apply | Phase::Commit)
            && let Some(decision) =
                stored::parse_opt::<Decision>(other.decision_json.as_deref(), "decision_json", other)?
        {
            let mut params: indexmap::IndexMap<String, serde_json::Value> =
                stored::parse(&other.params_json, "params_json", other)?;
            params.extend(decision.params.clone());
            running.push(RunningTrial {
                number: None,
                slot: other.target_slot.map_or(0, |s| u32::try_from(s).unwrap_or(0)),
                params,
                summary: decision.rationale.clone(),
            });
        }
    }
    Ok(running)
}

/// Adds a model's try to the iteration (numbered: its transcript is `decision-<try>.json`; its
/// usage summed) and returns the dollars to book with it. The offline advisor asks no model.
fn tally(it: &mut IterationRow, asked_model: bool, spend: &LlmSpend) -> Result<LlmCost> {
    if !asked_model {
        return Ok(LlmCost::default());
    }
    let mut total: LlmSpend =
        stored::parse_opt(it.decision_llm_json.as_deref(), "decision_llm_json", it)?.unwrap_or_default();
    total.add(spend);
    it.decision_llm_json = Some(stored::to_json(&total, "LLM usage")?);
    it.decision_tries += 1;
    Ok(LlmCost { usd: spend.usd, unpriced: i64::from(spend.unpriced_calls) })
}
