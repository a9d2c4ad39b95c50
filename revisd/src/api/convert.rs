//! Store rows → protocol messages. Pure functions; no I/O besides what the caller passed in.

use std::collections::HashMap;

use revis_proto::v1 as pb;

use crate::engine::handoff::AgentRecord;
use crate::engine::llm_advice::LlmSpend;
use crate::store::sessions::{IterationFacts, SessionHead};
use crate::store::{EventRow, IterationRow, SessionRow};

fn u32_of(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

pub fn best(session: &SessionRow, iterations: &[IterationRow]) -> Option<pb::Best> {
    let number = session.best_iteration?;
    let value = iterations.iter().find(|i| i.number == number)?.primary_value?;
    Some(pb::Best { iteration: u32_of(number), value })
}

pub fn baseline(iterations: &[IterationRow]) -> Option<f64> {
    iterations.iter().find(|i| i.number == 0).and_then(|i| i.primary_value)
}

fn budget(session: &SessionRow) -> pb::Budget {
    pb::Budget {
        wall_seconds: session.budget_seconds,
        max_iterations: session.max_iterations.map(u32_of),
        max_cost: session.max_cost,
    }
}

fn spend(session: &SessionRow) -> pb::Spend {
    pb::Spend { active_seconds: session.active_seconds_now(), llm_usd: session.llm_usd }
}

pub fn summary(session: &SessionHead, facts: &IterationFacts) -> pb::SessionSummary {
    let live = session.is_live();
    pb::SessionSummary {
        name: session.name.clone(),
        state: session.state.clone(),
        stop_reason: session.stop_reason.clone(),
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
        spend: Some(pb::Spend { active_seconds: session.active_seconds_now(), llm_usd: session.llm_usd }),
        budget: Some(pb::Budget {
            wall_seconds: session.budget_seconds,
            max_iterations: session.max_iterations.map(u32_of),
            max_cost: session.max_cost,
        }),
        iterations_run: u32::try_from(facts.runs).unwrap_or(0),
        current_iteration: facts.current_number.filter(|_| live).map(u32_of),
        phase: facts.current_phase.clone().filter(|_| live),
        advisor: session.advisor.clone(),
        created_at: session.created_at.clone(),
        ended_at: session.ended_at.clone(),
        stop_requested: session.stop_requested.is_some(),
        warnings: Vec::new(),
        stop_detail: session.stop_detail.clone(),
    }
}

pub fn iteration(it: &IterationRow) -> pb::Iteration {
    let metrics: HashMap<String, f64> =
        serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&it.metrics_json)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(k, v)| v.as_f64().map(|f| (k, f)))
            .collect();
    let changes: Vec<pb::Change> = serde_json::from_str::<Vec<serde_json::Value>>(&it.changes_json)
        .unwrap_or_default()
        .iter()
        .map(change)
        .collect();
    let warnings: Vec<String> = serde_json::from_str(&it.warnings_json).unwrap_or_default();
    pb::Iteration {
        number: it.number(),
        state: it.state.clone(),
        outcome: it.outcome.clone(),
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
        phase: Some(it.phase.clone()),
        parent: it.parent.map(u32_of),
        warnings,
        replicates: serde_json::from_str(&it.replicates_json).unwrap_or_default(),
        llm: it.llm_json.as_deref().and_then(|j| serde_json::from_str::<LlmSpend>(j).ok()).map(|s| pb::LlmUsage {
            model: s.model,
            calls: s.calls,
            input_tokens: s.input_tokens,
            output_tokens: s.output_tokens,
            cache_read_tokens: s.cache_read_tokens,
            cache_write_tokens: s.cache_write_tokens,
            usd: s.usd,
        }),
        trace: None,
        agent: it.agent_json.as_deref().and_then(|j| serde_json::from_str::<AgentRecord>(j).ok()).map(|a| {
            pb::AgentChange {
                agent: a.agent,
                request: a.request,
                summary: a.summary,
                cost_usd: a.cost_usd,
                files: a.files,
                diff: a.diff,
                duration_seconds: a.duration_seconds,
                verified: a.verified,
            }
        }),
        frozen_hash: it.frozen_hash.clone(),
        history: it
            .history_json
            .as_deref()
            .and_then(|h| serde_json::from_str::<Vec<(f64, f64)>>(h).ok())
            .unwrap_or_default()
            .into_iter()
            .map(|(step, value)| pb::HistoryPoint { step, value })
            .collect(),
    }
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

pub fn detail(session: &SessionRow, iterations: &[IterationRow]) -> pb::SessionDetail {
    pb::SessionDetail {
        name: session.name.clone(),
        state: session.state.clone(),
        stop_reason: session.stop_reason.clone(),
        project: session.project.clone(),
        branch: session.branch.clone(),
        worktree: session.worktree.clone(),
        base_branch: session.base_branch.clone(),
        base_commit: session.base_commit.clone(),
        primary_metric: session.primary_metric.clone(),
        minimize: session.minimize,
        target: session.target,
        best: best(session, iterations),
        baseline: baseline(iterations),
        spend: Some(spend(session)),
        budget: Some(budget(session)),
        advisor: session.advisor.clone(),
        created_at: session.created_at.clone(),
        ended_at: session.ended_at.clone(),
        iterations: iterations.iter().map(iteration).collect(),
        stop_requested: session.stop_requested.is_some(),
        consecutive_failures: u32_of(session.consecutive_failures),
        stop_detail: session.stop_detail.clone(),
        noise_floor: session.noise_floor,
        pr_url: session.pr_url.clone(),
    }
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
        final_state: data.get("final_state").and_then(|v| v.as_str()).map(str::to_string),
        data: e.data.clone(),
    }
}
