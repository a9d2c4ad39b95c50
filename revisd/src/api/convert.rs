//! Engine records → protocol messages, and the daemon's typed words → the protocol's enums.
//! Pure functions; no I/O besides what the caller passed in. Stored JSON that does not parse is
//! an error naming what and whose, never an empty field.

use std::collections::HashMap;

use revis_proto::v1 as pb;

use crate::engine::EngineError;
use crate::engine::handoff::AgentRecord;
use crate::engine::llm_advice::LlmSpend;
use crate::engine::records::{EventRow, IterationFacts, IterationRow, SessionHead, SessionRow, corrupt};
use crate::states::{AdvisorKind, IterationState, Outcome, Phase, SessionState, StopReason};

/// The daemon's words onto the wire's enums: one arm per word, checked by the compiler.
pub fn session_state(s: SessionState) -> pb::SessionState {
    match s {
        SessionState::Queued => pb::SessionState::Queued,
        SessionState::Running => pb::SessionState::Running,
        SessionState::Paused => pb::SessionState::Paused,
        SessionState::Completed => pb::SessionState::Completed,
        SessionState::Stopped => pb::SessionState::Stopped,
        SessionState::Failed => pb::SessionState::Failed,
    }
}

fn stop_reason(r: StopReason) -> pb::StopReason {
    match r {
        StopReason::User => pb::StopReason::User,
        StopReason::Budget => pb::StopReason::Budget,
        StopReason::MaxIterations => pb::StopReason::MaxIterations,
        StopReason::MaxCost => pb::StopReason::MaxCost,
        StopReason::Target => pb::StopReason::Target,
        StopReason::Plateau => pb::StopReason::Plateau,
        StopReason::RetryBudget => pb::StopReason::RetryBudget,
        StopReason::SpaceExhausted => pb::StopReason::SpaceExhausted,
        StopReason::Advisor => pb::StopReason::Advisor,
        StopReason::Error => pb::StopReason::Error,
        StopReason::AwaitingChange => pb::StopReason::AwaitingChange,
        StopReason::AwaitingApproval => pb::StopReason::AwaitingApproval,
        StopReason::NeedsCredentials => pb::StopReason::NeedsCredentials,
        StopReason::Escalated => pb::StopReason::Escalated,
    }
}

fn phase(p: Phase) -> pb::Phase {
    match p {
        Phase::Prepare => pb::Phase::Prepare,
        Phase::Train => pb::Phase::Train,
        Phase::Collect => pb::Phase::Collect,
        Phase::Confirm => pb::Phase::Confirm,
        Phase::Advise => pb::Phase::Advise,
        Phase::Apply => pb::Phase::Apply,
        Phase::Commit => pb::Phase::Commit,
        Phase::Done => pb::Phase::Done,
    }
}

fn iteration_state(s: IterationState) -> pb::IterationState {
    match s {
        IterationState::Pending => pb::IterationState::Pending,
        IterationState::Running => pb::IterationState::Running,
        IterationState::Succeeded => pb::IterationState::Succeeded,
        IterationState::Failed => pb::IterationState::Failed,
        IterationState::Interrupted => pb::IterationState::Interrupted,
    }
}

fn outcome(o: Outcome) -> pb::Outcome {
    match o {
        Outcome::Baseline => pb::Outcome::Baseline,
        Outcome::Improved => pb::Outcome::Improved,
        Outcome::NoImprovement => pb::Outcome::NoImprovement,
        Outcome::NotConfirmed => pb::Outcome::NotConfirmed,
        Outcome::StoppedEarly => pb::Outcome::StoppedEarly,
        Outcome::Failed => pb::Outcome::Failed,
        Outcome::Interrupted => pb::Outcome::Interrupted,
    }
}

fn advisor(a: AdvisorKind) -> pb::Advisor {
    match a {
        AdvisorKind::Search => pb::Advisor::Search,
        AdvisorKind::Llm => pb::Advisor::Llm,
        AdvisorKind::Hybrid => pb::Advisor::Hybrid,
    }
}

fn u32_of(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

pub fn summary(session: &SessionHead, facts: &IterationFacts) -> pb::SessionSummary {
    let live = session.is_live();
    pb::SessionSummary {
        name: session.name.clone(),
        state: session_state(session.state) as i32,
        stop_reason: session.stop_reason.map(|r| stop_reason(r) as i32),
        project: session.project.clone(),
        branch: session.branch.clone(),
        worktree: session.worktree.clone(),
        primary_metric: session.primary_metric.clone(),
        minimize: session.minimize,
        best: session
            .best_iteration
            .zip(facts.best_value)
            .map(|(number, value)| pb::Best { iteration: u32_of(number), value }),
        baseline: facts.baseline_value,
        spend: Some(pb::Spend {
            active_seconds: session.active_seconds_now(),
            llm_usd: session.llm_usd,
            gpu_hours: session.gpu_seconds / 3600.0,
            compute_usd: session.compute_usd,
            llm_unpriced_calls: u32::try_from(session.llm_unpriced_calls).unwrap_or(u32::MAX),
        }),
        slots: u32_of(session.slots.max(1)),
        trials: Vec::new(),
        budget: Some(pb::Budget {
            wall_seconds: session.budget_seconds,
            max_iterations: session.max_iterations.map(u32_of),
            max_cost: session.max_cost,
        }),
        iterations_run: u32::try_from(facts.runs).unwrap_or(0),
        current_iteration: facts.current_number.filter(|_| live).map(u32_of),
        phase: facts.current_phase.filter(|_| live).map(|p| phase(p) as i32),
        advisor: advisor(session.advisor) as i32,
        created_at: session.created_at.clone(),
        ended_at: session.ended_at.clone(),
        stop_requested: session.stop_requested.is_some(),
        warnings: Vec::new(),
        stop_detail: session.stop_detail.clone(),
    }
}

/// A trial holding its slot, for `status` and `watch`.
pub fn slot_trial(t: &crate::store::iterations::SlotTrial) -> pb::SlotTrial {
    pb::SlotTrial {
        slot: u32_of(t.slot),
        gpus: t.gpus.clone().unwrap_or_default(),
        host: t.host.clone().unwrap_or_default(),
        iteration: u32_of(t.number),
        phase: phase(t.phase) as i32,
        started_at: t.started_at.clone(),
        queue_reason: t.queue_reason.clone(),
    }
}

pub fn iteration(it: &IterationRow) -> Result<pb::Iteration, EngineError> {
    let metrics: HashMap<String, f64> =
        serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&it.metrics_json)
            .map_err(|e| corrupt("metrics_json", it, e))?
            .into_iter()
            .filter_map(|(k, v)| v.as_f64().map(|f| (k, f)))
            .collect();
    let changes: Vec<pb::Change> = serde_json::from_str::<Vec<serde_json::Value>>(&it.changes_json)
        .map_err(|e| corrupt("changes_json", it, e))?
        .iter()
        .map(change)
        .collect();
    let warnings: Vec<String> = serde_json::from_str(&it.warnings_json).map_err(|e| corrupt("warnings_json", it, e))?;
    let replicates: Vec<f64> =
        serde_json::from_str(&it.replicates_json).map_err(|e| corrupt("replicates_json", it, e))?;
    let llm = it
        .llm_json
        .as_deref()
        .map(|j| serde_json::from_str::<LlmSpend>(j).map_err(|e| corrupt("llm_json", it, e)))
        .transpose()?;
    let agent = it
        .agent_json
        .as_deref()
        .map(|j| serde_json::from_str::<AgentRecord>(j).map_err(|e| corrupt("agent_json", it, e)))
        .transpose()?;
    let history: Vec<(f64, f64)> = it
        .history_json
        .as_deref()
        .map(|h| serde_json::from_str(h).map_err(|e| corrupt("history_json", it, e)))
        .transpose()?
        .unwrap_or_default();
    Ok(pb::Iteration {
        slot: u32_of(it.slot),
        gpus: it.gpus.clone().unwrap_or_default(),
        host: it.host.clone().unwrap_or_default(),
        job_id: it.job_id.clone(),
        queued_seconds: it.queued_seconds,
        queue_reason: it.queue_reason.clone(),
        stopped_at_step: it.stopped_at_step,
        holdout: it
            .holdout_json
            .as_deref()
            .and_then(|j| serde_json::from_str::<Vec<f64>>(j).ok())
            .filter(|v| !v.is_empty())
            .map(|v| crate::engine::rules::mean(&v)),
        number: it.number(),
        state: iteration_state(it.state) as i32,
        outcome: it.outcome.map(|o| outcome(o) as i32),
        primary: it.primary_value,
        metrics,
        commit: it.commit_sha.clone(),
        change: it.change_summary.clone(),
        rationale: it.rationale.clone(),
        hypothesis: it.hypothesis.clone(),
        changes,
        failure_reason: it.failure_reason.clone(),
        started_at: it.started_at.clone(),
        ended_at: it.ended_at.clone(),
        duration_seconds: it.duration_seconds,
        exit_code: it.exit_code.and_then(|c| i32::try_from(c).ok()),
        command: it.command.clone(),
        phase: Some(phase(it.phase) as i32),
        parent: it.parent.map(u32_of),
        warnings,
        replicates,
        llm: llm.map(|s| pb::LlmUsage {
            model: s.model,
            calls: s.calls,
            input_tokens: s.input_tokens,
            output_tokens: s.output_tokens,
            cache_read_tokens: s.cache_read_tokens,
            cache_write_tokens: s.cache_write_tokens,
            usd: s.usd,
            unpriced_calls: s.unpriced_calls,
        }),
        trace: None,
        agent: agent.map(|a| pb::AgentChange {
            agent: a.agent,
            request: a.request,
            summary: a.summary,
            cost_usd: a.cost_usd,
            files: a.files,
            diff: a.diff,
            duration_seconds: a.duration_seconds,
            verified: a.verified,
        }),
        frozen_hash: it.frozen_hash.clone(),
        history: history.into_iter().map(|(step, value)| pb::HistoryPoint { step, value }).collect(),
    })
}

fn change(value: &serde_json::Value) -> pb::Change {
    let text = |key: &str| value.get(key).and_then(|v| v.as_str()).map(str::to_string);
    pb::Change {
        kind: text("kind").unwrap_or_default(),
        file: text("file"),
        key: text("key"),
        name: text("name"),
        value: value.get("value").map(|v| v.to_string()),
        previous: value.get("previous").map(|v| v.to_string()),
        text: text("text").or_else(|| text("request")),
    }
}

/// A session in full: its summary (with `facts` from the store) and its iterations.
pub fn detail(
    session: &SessionRow,
    facts: &IterationFacts,
    iterations: &[IterationRow],
) -> Result<pb::SessionDetail, EngineError> {
    Ok(pb::SessionDetail {
        summary: Some(summary(&SessionHead::from(session), facts)),
        base_branch: session.base_branch.clone(),
        base_commit: session.base_commit.clone(),
        target: session.target,
        iterations: iterations.iter().map(iteration).collect::<Result<_, _>>()?,
        consecutive_failures: u32_of(session.consecutive_failures),
        noise_floor: session.noise_floor,
        pr_url: session.pr_url.clone(),
        holdout_metric: holdout_metric(&session.config_json),
    })
}

/// `metrics.holdout` of a stored config. `watch` asks for the detail every second: only that
/// key is read, not the whole config.
fn holdout_metric(config_json: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Stored {
        metrics: Metrics,
    }
    #[derive(serde::Deserialize)]
    struct Metrics {
        holdout: Option<String>,
    }
    serde_json::from_str::<Stored>(config_json).ok().and_then(|c| c.metrics.holdout)
}

pub fn event(session: &str, e: &EventRow) -> pb::Event {
    let data: serde_json::Value = serde_json::from_str(&e.data).unwrap_or(serde_json::Value::Null);
    pb::Event {
        session: session.to_string(),
        seq: u64::try_from(e.seq).unwrap_or(0),
        at: e.at.clone(),
        kind: e.kind.clone(),
        iteration: e.iteration.map(u32_of),
        message: e.message.clone(),
        final_state: data
            .get("final_state")
            .and_then(|v| v.as_str())
            .and_then(|w| w.parse::<SessionState>().ok())
            .map(|s| session_state(s) as i32),
        data: e.data.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::records::sample_iteration;

    #[test]
    fn stored_json_that_does_not_parse_is_an_error_never_an_empty_field() {
        let mut it = sample_iteration(4, 2);
        it.metrics_json = r#"{"val_loss": 0.4"#.into();
        let text = iteration(&it).unwrap_err().to_string();
        assert!(text.contains("metrics_json") && text.contains("session 4 iteration 2"), "{text}");

        let mut it = sample_iteration(4, 2);
        it.agent_json = Some("not json".into());
        assert!(iteration(&it).unwrap_err().to_string().contains("agent_json"));

        let mut it = sample_iteration(4, 2);
        it.outcome = Some(Outcome::NoImprovement);
        let ok = iteration(&it).unwrap();
        assert_eq!(ok.outcome(), pb::Outcome::NoImprovement);
        assert_eq!(ok.state(), pb::IterationState::Pending);
    }
}
