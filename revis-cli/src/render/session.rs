//! Session views: the `status`/`list` table and the `show` header plus iteration table.

use revis_proto::v1::{
    Budget, Iteration, IterationState, Phase, SessionDetail, SessionState, SessionSummary, Spend, StopReason,
};

use super::color::{Palette, Style, outcome_style, state_style};
use super::table::{Cell, Table, truncate};
use super::{time, value};
use crate::states::{self, Standing, word};

const CHANGE_WIDTH: usize = 60;
const COMMIT_WIDTH: usize = 8;

/// `running (train)`, `running (stopping)`, `stopped (budget)`, `queued`.
pub fn state_text(
    state: SessionState,
    stop_reason: Option<StopReason>,
    phase: Option<Phase>,
    stop_requested: bool,
) -> String {
    let text = word(state);
    if let Some(reason) = stop_reason {
        return format!("{text} ({})", word(reason));
    }
    if state == SessionState::Running && stop_requested {
        return format!("{text} (stopping)");
    }
    match phase {
        Some(phase) if state == SessionState::Running => format!("{text} ({})", word(phase)),
        _ => text,
    }
}

/// What a paused session waits for, in words, with what to do about it; None when the
/// session is not paused. `detail` is the daemon's explanation (stop_detail), when it sent one.
pub fn paused_text(
    state: SessionState,
    stop_reason: Option<StopReason>,
    detail: Option<&str>,
    worktree: &str,
    name: &str,
) -> Option<String> {
    if state != SessionState::Paused {
        return None;
    }
    let detail = detail.map(str::trim).filter(|d| !d.is_empty());
    let text = match stop_reason.unwrap_or_default() {
        StopReason::AwaitingChange => {
            let place = if worktree.is_empty() { String::new() } else { format!(" in {worktree}") };
            format!("waiting for your code change{place} (then: revis resume {name})")
        }
        StopReason::AwaitingApproval => {
            format!("a code change waits for your approval (revis approve {name}, or revis resume {name} --skip)")
        }
        StopReason::Escalated => match detail {
            Some(detail) => format!("the advisor asks for a human: {detail}"),
            None => format!("the advisor asks for a human (see: revis show {name})"),
        },
        StopReason::NeedsCredentials => match detail {
            Some(detail) => format!("needs an API key: {detail}"),
            None => format!("needs an API key (resume from a shell that has it: revis resume {name})"),
        },
        StopReason::Unspecified => return None,
        other => return Some(format!("{} (then: revis resume {name})", word(other))),
    };
    Some(text)
}

/// Whether `paused_text` already shows the daemon's stop_detail.
fn paused_text_has_detail(state: SessionState, stop_reason: Option<StopReason>) -> bool {
    state == SessionState::Paused && matches!(stop_reason, Some(StopReason::Escalated | StopReason::NeedsCredentials))
}

/// What is left of each limit the session has; `-` when it has none.
pub fn budget_left(budget: Option<&Budget>, spend: Option<&Spend>, iterations_run: u32) -> String {
    let Some(budget) = budget else {
        return "-".to_string();
    };
    let spend = spend.copied().unwrap_or_default();
    let mut parts = Vec::new();
    if let Some(wall) = budget.wall_seconds {
        parts.push(time::budget((wall - spend.active_seconds).max(0.0)));
    }
    if let Some(max) = budget.max_iterations {
        let left = max.saturating_sub(iterations_run);
        parts.push(format!("{left} run{}", if left == 1 { "" } else { "s" }));
    }
    if let Some(max_cost) = budget.max_cost {
        let left = value::usd((max_cost - spend.llm_usd - spend.compute_usd).max(0.0));
        // Calls at unknown prices spent an unknown part of it.
        parts.push(if spend.llm_unpriced_calls > 0 { format!("at most {left}") } else { left });
    }
    if parts.is_empty() { "-".to_string() } else { parts.join(", ") }
}

fn iter_text(s: &SessionSummary) -> String {
    match s.budget.as_ref().and_then(|b| b.max_iterations) {
        Some(max) => format!("{}/{max}", s.iterations_run),
        None => s.iterations_run.to_string(),
    }
}

fn opt_metric(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), value::metric)
}

/// The table of `status` and `list`.
pub fn summary_table(sessions: &[SessionSummary], with_project: bool, palette: &Palette) -> String {
    summary_table_at(sessions, with_project, palette, None)
}

/// [`summary_table`], with each running trial's elapsed time as of `now` (when given) on the
/// lines of a session that runs several trials at once.
pub fn summary_table_at(
    sessions: &[SessionSummary],
    with_project: bool,
    palette: &Palette,
    now: Option<chrono::DateTime<chrono::Utc>>,
) -> String {
    let mut headers = vec!["NAME", "STATE", "ITER", "BEST", "BASELINE", "ACTIVE", "BUDGET LEFT"];
    if with_project {
        headers.push("PROJECT");
    }
    let mut table = Table::new(headers).align_right(2).align_right(3).align_right(4).align_right(5);
    for s in sessions {
        let mut state = state_text(s.state(), states::stop_reason(s), states::phase(s), s.stop_requested);
        // One trial, its batch job still in the queue: that is what the session waits on.
        if let [trial] = s.trials.as_slice()
            && let Some(reason) = &trial.queue_reason
            && s.state() == SessionState::Running
            && !s.stop_requested
        {
            state = format!("running (queued: {reason})");
        }
        let best = s
            .best
            .as_ref()
            .map_or_else(|| "-".to_string(), |b| format!("{} (#{})", value::metric(b.value), b.iteration));
        let active = s.spend.as_ref().map_or(0.0, |sp| sp.active_seconds);
        let mut row = vec![
            Cell::styled(s.name.clone(), Some(Style::Bold)),
            Cell::styled(state, state_style(s.state())),
            iter_text(s).into(),
            best.into(),
            opt_metric(s.baseline).into(),
            time::duration(active).into(),
            budget_left(s.budget.as_ref(), s.spend.as_ref(), s.iterations_run).into(),
        ];
        if with_project {
            row.push(s.project.clone().into());
        }
        // The summary carries no stop_detail: the line says what is awaited and `show` says why.
        let waiting = paused_text(s.state(), states::stop_reason(s), None, &s.worktree, &s.name)
            .map(|text| Cell::styled(format!("paused — {text}"), Some(Style::Yellow)));
        let slots = super::progress::slot_lines(s, now);
        let detail = match (waiting, slots.is_empty()) {
            (waiting, true) => waiting,
            (Some(w), false) => Some(Cell::styled(format!("{}\n    {}", w.text, slots.join("\n    ")), w.style)),
            (None, false) => Some(Cell::new(slots.join("\n    "))),
        };
        table.push_with_detail(row, detail);
    }
    table.render(palette)
}

/// `revis show`: the header, then the iteration table.
pub fn detail(d: &SessionDetail, palette: &Palette) -> String {
    detail_with_chart(d, palette, None)
}

/// `detail` with a picture (the primary-metric chart) between the header and the table.
pub fn detail_with_chart(d: &SessionDetail, palette: &Palette, chart: Option<&str>) -> String {
    let mut out = header(d, palette);
    out.push('\n');
    if let Some(chart) = chart {
        out.push_str(chart);
        out.push('\n');
    }
    if d.iterations.is_empty() {
        out.push_str("No iterations yet.\n");
    } else {
        let lines = timeline(d, TIMELINE_WIDTH);
        if !lines.is_empty() {
            out.push_str(&lines.join("\n"));
            out.push_str("\n\n");
        }
        out.push_str(&iteration_table(d, palette));
    }
    out
}

/// Columns of the trials' timeline in `show`.
const TIMELINE_WIDTH: usize = 60;

/// Trials on a time axis, one line per slot, for a session that runs several at once: each
/// trial's run is drawn from its start to its end with its number's last digit, so overlapping
/// trials show as overlapping bars. Empty for a single slot or before any run ended.
pub fn timeline(d: &SessionDetail, width: usize) -> Vec<String> {
    let slots = d.head().slots;
    if slots <= 1 {
        return Vec::new();
    }
    let span = |it: &Iteration| {
        let start = it.started_at.as_deref().and_then(time::parse_rfc3339)?;
        let end = it.ended_at.as_deref().and_then(time::parse_rfc3339)?;
        Some((it.slot, it.number, start.timestamp_millis(), end.timestamp_millis()))
    };
    let spans: Vec<(u32, u32, i64, i64)> = d.iterations.iter().filter_map(span).collect();
    let (Some(first), Some(last)) = (spans.iter().map(|s| s.2).min(), spans.iter().map(|s| s.3).max()) else {
        return Vec::new();
    };
    let total = (last - first).max(1) as f64;
    let column = |at: i64| (((at - first) as f64 / total) * (width - 1) as f64).round() as usize;
    let mut lines = vec![format!("timeline  {} across {width} columns", time::duration(total / 1000.0))];
    for slot in 0..slots {
        let mut row = vec!['·'; width];
        for (_, number, start, end) in spans.iter().filter(|s| s.0 == slot) {
            let mark = char::from_digit(number % 10, 10).unwrap_or('#');
            for cell in row.iter_mut().take(column(*end) + 1).skip(column(*start)) {
                *cell = mark;
            }
        }
        lines.push(format!("  slot {slot:<3} {}", row.into_iter().collect::<String>()));
    }
    lines
}

fn header(d: &SessionDetail, palette: &Palette) -> String {
    let s = d.head();
    let reason = states::stop_reason(s);
    let paused = paused_text(s.state(), reason, s.stop_detail.as_deref(), &s.worktree, &s.name);
    let state = match paused {
        Some(waiting) => format!("{} — {waiting}", states::state_word(s)),
        None => state_text(s.state(), reason, None, s.stop_requested),
    };
    let mut lines = vec![format!(
        "{}  {}",
        palette.paint(Some(Style::Bold), &s.name),
        palette.paint(state_style(s.state()), &state)
    )];
    // Continuation lines (a multi-line stop_detail) stay under the value column.
    let mut field = |label: &str, text: String| {
        lines.push(format!("  {label:<10}{}", text.trim_end().replace('\n', "\n            ")));
    };

    let base = match (d.base_branch.as_str(), short_commit(&d.base_commit)) {
        ("", "") => String::new(),
        (branch, "") => format!(" (from {branch})"),
        ("", commit) => format!(" (from {commit})"),
        (branch, commit) => format!(" (from {branch} @ {commit})"),
    };
    field("branch", format!("{}{base}", s.branch));
    field("worktree", s.worktree.clone());
    if let Some(url) = d.pr_url.as_deref().filter(|u| !u.is_empty()) {
        field("pr", url.to_string());
    }
    let direction = if s.minimize { "minimize" } else { "maximize" };
    let target = d.target.map(|t| format!(", target {}", value::metric(t))).unwrap_or_default();
    field("metric", format!("{} ({direction}{target})", s.primary_metric));
    if let Some(holdout) = &d.holdout_metric {
        field("holdout", format!("{holdout} (never shown to the advisor; kept for promoted trials: HOLDOUT)"));
    }
    field("result", result_text(d));
    field("budget", budget_used(d));
    let spend = s.spend.unwrap_or_default();
    let llm = value::llm_spend(spend.llm_usd, spend.llm_unpriced_calls);
    let mut spent = format!("{} active, {llm}", time::duration(spend.active_seconds));
    if spend.gpu_hours > 0.0 {
        spent.push_str(&format!(", {:.2} GPU-hours", spend.gpu_hours));
        if spend.compute_usd > 0.0 {
            spent.push_str(&format!(" ({})", value::usd(spend.compute_usd)));
        }
    }
    field("spend", spent);
    if s.slots > 1 {
        field("slots", format!("{} trials at once", s.slots));
    }
    let advisor = word(s.advisor());
    if !advisor.is_empty() {
        field("advisor", advisor);
    }
    if !s.created_at.is_empty() {
        let ended = s.ended_at.as_deref().map(|e| format!(", ended {}", time::timestamp(e)));
        let created = time::timestamp(&s.created_at);
        field("created", format!("{created}{}", ended.unwrap_or_default()));
    }
    let detail = s.stop_detail.as_deref().map(str::trim).filter(|t| !t.is_empty());
    if let Some(detail) = detail.filter(|_| !paused_text_has_detail(s.state(), reason)) {
        field("reason", detail.to_string());
    }
    if s.stop_requested && s.stop_reason.is_none() {
        field("note", "stops after the current run".to_string());
    }
    if d.consecutive_failures > 0 {
        field("failures", format!("{} in a row", d.consecutive_failures));
    }
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

/// `2.91 → 0.51 (82.5% better, #7)`: baseline → best, as `show` prints it.
fn result_text(d: &SessionDetail) -> String {
    result_text_labelled(d, false)
}

/// The same, optionally with the words "baseline" and "best" (the HTML report's header).
pub(crate) fn result_text_labelled(d: &SessionDetail, labelled: bool) -> String {
    let (from, to) = if labelled { ("baseline ", "best ") } else { ("", "") };
    let s = d.head();
    match (s.baseline, s.best.as_ref()) {
        (Some(base), Some(best)) => {
            let mut notes = Vec::new();
            if let Some(imp) = value::improvement(base, best.value, s.minimize) {
                notes.push(imp);
            }
            notes.push(format!("#{}", best.iteration));
            format!("{from}{} → {to}{} ({})", value::metric(base), value::metric(best.value), notes.join(", "))
        }
        (None, Some(best)) => format!("best {} (#{})", value::metric(best.value), best.iteration),
        (Some(base), None) => format!("baseline {}", value::metric(base)),
        (None, None) => "no result yet".to_string(),
    }
}

fn budget_used(d: &SessionDetail) -> String {
    let s = d.head();
    let Some(budget) = s.budget.as_ref() else {
        return "none".to_string();
    };
    let spend = s.spend.unwrap_or_default();
    let mut parts = Vec::new();
    if let Some(wall) = budget.wall_seconds {
        parts.push(format!("{} of {}", time::duration(spend.active_seconds), time::budget(wall)));
    }
    if let Some(max) = budget.max_iterations {
        parts.push(format!("{} of {max} runs", d.iterations.len()));
    }
    if let Some(max_cost) = budget.max_cost {
        let spent = spend.llm_usd + spend.compute_usd;
        let spent = if spend.llm_unpriced_calls > 0 { format!("{}+?", value::usd(spent)) } else { value::usd(spent) };
        parts.push(format!("{spent} of {}", value::usd(max_cost)));
    }
    if parts.is_empty() { "none".to_string() } else { parts.join(", ") }
}

fn short_commit(commit: &str) -> &str {
    commit.get(..COMMIT_WIDTH).unwrap_or(commit)
}

fn iteration_table(d: &SessionDetail, palette: &Palette) -> String {
    // The LLM column only when some decision was made by a model (search costs nothing) or a
    // coding agent ran (its cost known or not).
    let with_cost = d.iterations.iter().any(|it| it.llm.is_some() || it.agent.is_some());
    let with_slot = d.head().slots > 1;
    let with_job = d.iterations.iter().any(|it| it.job_id.is_some());
    // The metric the advisor never sees, for promoted trials (named above the table).
    let with_holdout = d.holdout_metric.is_some();
    // Runs that reported progress get their curve.
    let with_curve = d.iterations.iter().any(|it| it.history.len() > 1);
    let mut headers = vec!["#", "OUTCOME", "PRIMARY", "CHANGE", "DURATION", "COMMIT"];
    if with_cost {
        headers.push("LLM");
    }
    if with_slot {
        headers.push("SLOT");
    }
    if with_holdout {
        headers.push("HOLDOUT");
    }
    if with_curve {
        headers.push("CURVE");
    }
    if with_job {
        // Queue wait is its own figure: DURATION is the time the job ran.
        headers.extend(["JOB", "QUEUED"]);
    }

    let mut table = Table::new(headers).align_right(0).align_right(2).align_right(4).align_right(6);
    let best = d.head().best.as_ref().map(|b| b.iteration);
    for it in &d.iterations {
        let outcome = outcome_text(it);
        let primary_style = (best == Some(it.number)).then_some(Style::Green);
        let change = change_text(it);
        let duration = it.duration_seconds.map_or_else(|| "-".to_string(), time::duration);
        let commit = it.commit.as_deref().map_or("-", short_commit).to_string();
        let detail =
            it.failure_reason.as_ref().filter(|r| !r.is_empty()).map(|r| Cell::styled(r.clone(), Some(Style::Red)));
        let mut row = vec![
            it.number.to_string().into(),
            Cell::styled(outcome, outcome_style(Standing::of(it))),
            Cell::styled(opt_metric(it.primary), primary_style),
            change.into(),
            duration.into(),
            commit.into(),
        ];
        if with_cost {
            row.push(cost_text(it).into());
        }
        if with_slot {
            row.push(match it.gpus.is_empty() {
                true => it.slot.to_string().into(),
                false => format!("{} (gpu {})", it.slot, it.gpus).into(),
            });
        }
        if with_holdout {
            row.push(it.holdout.map_or_else(|| "-".to_string(), value::metric).into());
        }
        if with_curve {
            row.push(super::chart::curve_sparkline(&it.history, 12).into());
        }
        if with_job {
            row.push(it.job_id.clone().unwrap_or_else(|| "-".into()).into());
            row.push(it.queued_seconds.map_or_else(|| "-".to_string(), time::duration).into());
        }
        table.push_with_detail(row, detail);
    }
    table.render(palette)
}

/// What changed, prefixed with the coding agent that made it (`claude-code: add dropout`).
fn change_text(it: &Iteration) -> String {
    let text = it.change.as_deref().or(it.hypothesis.as_deref()).filter(|c| !c.is_empty());
    let agent = it.agent.as_ref().map(|a| a.agent.trim()).filter(|a| !a.is_empty());
    match (agent, text) {
        (Some(agent), Some(text)) => truncate(&format!("{agent}: {text}"), CHANGE_WIDTH),
        (Some(agent), None) => truncate(&format!("{agent}: code change"), CHANGE_WIDTH),
        (None, Some(text)) => truncate(text, CHANGE_WIDTH),
        (None, None) if it.number == 0 => "(baseline)".into(),
        (None, None) => "-".into(),
    }
}

fn agent_cost(it: &Iteration) -> Option<f64> {
    it.agent.as_ref().and_then(|a| a.cost_usd)
}

/// The decision's LLM cost plus what the coding agent spent on the change; `-` when there was
/// neither a model's decision nor an agent's run, `unknown` (or `$0.04+?`) when a call or the
/// agent's run has no known price.
fn cost_text(it: &Iteration) -> String {
    if it.llm.is_none() && it.agent.is_none() {
        return "-".to_string();
    }
    let known = it.llm.as_ref().map_or(0.0, |llm| llm.usd) + agent_cost(it).unwrap_or(0.0);
    let unknown = it.llm.as_ref().is_some_and(|llm| llm.unpriced_calls > 0)
        || it.agent.as_ref().is_some_and(|a| a.cost_usd.is_none());
    value::cost_with_unknown(known, unknown)
}

/// The outcome, with the phase while the run is going (`running (train)`).
fn outcome_text(it: &Iteration) -> String {
    let key = Standing::of(it).word();
    if let Some(step) = it.stopped_at_step {
        return format!("{key} @ {step}");
    }
    match states::iteration_phase(it) {
        Some(phase) if it.state() == IterationState::Running => format!("{key} ({})", word(phase)),
        _ => key,
    }
}

#[cfg(test)]
mod tests;
