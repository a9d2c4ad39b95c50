//! The pull request's default title and its Markdown body, from the session as `show` sees
//! it: outcome, baseline → best, one table row per iteration, the rejected ideas and spend.
//! Pure text; must not call the daemon, git or GitHub.

use revis_proto::v1::{Iteration, IterationState, Outcome, SessionDetail};

use crate::render::session::state_text;
use crate::render::{time, value};
use crate::states::{self, Standing};

/// Rationales and failure reasons are cut here: the body is a summary, `revis show` has all.
const REASON_WIDTH: usize = 240;
const CHANGE_WIDTH: usize = 100;

/// `revis/NAME: val_loss 2.31 → 0.52 (77.5% better)`, or just the branch without a result.
pub fn title(d: &SessionDetail) -> String {
    let branch = branch(d);
    let s = d.head();
    match (s.baseline, s.best.as_ref()) {
        (Some(base), Some(best)) if best.iteration != 0 => {
            let gain = value::improvement(base, best.value, s.minimize).map(|g| format!(" ({g})")).unwrap_or_default();
            format!("{branch}: {} {} → {}{gain}", s.primary_metric, value::metric(base), value::metric(best.value))
        }
        _ => format!("{branch}: {} experiments", s.primary_metric),
    }
}

/// The branch the session commits to (`revis/NAME`).
pub fn branch(d: &SessionDetail) -> String {
    let s = d.head();
    if s.branch.is_empty() { format!("revis/{}", s.name) } else { s.branch.clone() }
}

pub fn body(d: &SessionDetail) -> String {
    let mut out = format!("Opened by `revis pr` from session **{}**.\n\n", d.head().name);
    out.push_str(&outcome(d));
    out.push_str("\n### Iterations\n\n");
    out.push_str(&iteration_table(d));
    let rejected = rejected(d);
    if !rejected.is_empty() {
        out.push_str("\n### Rejected ideas\n\n");
        out.push_str(&rejected);
    }
    out.push_str("\n### Spend\n\n");
    out.push_str(&spend(d));
    out
}

fn outcome(d: &SessionDetail) -> String {
    let s = d.head();
    // `completed (max_iterations)`: the reason, never the phase or a pending stop.
    let state = state_text(s.state(), states::stop_reason(s), None, false);
    let mut lines = vec![format!("- **Outcome:** {state}")];
    if let Some(detail) = s.stop_detail.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        lines.push(format!("- **Why it ended:** {}", one_line(detail, REASON_WIDTH)));
    }
    let direction = if s.minimize { "minimize" } else { "maximize" };
    let result = match (s.baseline, s.best.as_ref()) {
        (Some(base), Some(best)) => {
            let gain = value::improvement(base, best.value, s.minimize).map(|g| format!(", {g}")).unwrap_or_default();
            format!("{} → **{}** (iteration #{}{gain})", value::metric(base), value::metric(best.value), best.iteration)
        }
        (Some(base), None) => format!("baseline {}, no improvement", value::metric(base)),
        (None, Some(best)) => format!("best {} (iteration #{})", value::metric(best.value), best.iteration),
        (None, None) => "no result".to_string(),
    };
    lines.push(format!("- **{}** ({direction}): {result}", s.primary_metric));
    if let Some(target) = d.target {
        lines.push(format!("- **Target:** {}", value::metric(target)));
    }
    let base = match (d.base_branch.as_str(), d.base_commit.get(..8).unwrap_or(&d.base_commit)) {
        ("", commit) => format!("`{commit}`"),
        (branch, "") => format!("`{branch}`"),
        (branch, commit) => format!("`{branch}` @ `{commit}`"),
    };
    lines.push(format!("- **Started from:** {base}"));
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

fn iteration_table(d: &SessionDetail) -> String {
    if d.iterations.is_empty() {
        return "No iterations ran.\n".to_string();
    }
    let s = d.head();
    let best = s.best.as_ref().map(|b| b.iteration);
    // The holdout (never seen by the advisor) beside the primary, for the promoted trials.
    let holdout = d.holdout_metric.as_deref().map(|h| (format!(" {} (holdout) |", cell(h)), "---:|"));
    let (holdout_head, holdout_rule) = holdout.unwrap_or_default();
    let mut out = format!(
        "| # | Commit | Change | {} |{holdout_head} Outcome |\n|---:|---|---|---:|{holdout_rule}---|\n",
        cell(&s.primary_metric)
    );
    for it in &d.iterations {
        let commit = it.commit.as_deref().map_or_else(|| "-".to_string(), |c| format!("`{}`", c.get(..8).unwrap_or(c)));
        let metric = it.primary.map_or_else(|| "-".to_string(), value::metric);
        let metric = if best == Some(it.number) && it.primary.is_some() { format!("**{metric}**") } else { metric };
        let holdout = match d.holdout_metric {
            Some(_) => format!(" {} |", it.holdout.map_or_else(|| "-".to_string(), value::metric)),
            None => String::new(),
        };
        out.push_str(&format!(
            "| {} | {commit} | {} | {metric} |{holdout} {} |\n",
            it.number,
            cell(&change(it)),
            cell(&Standing::of(it).word())
        ));
    }
    out
}

/// Iterations whose idea did not survive, each with the reason.
fn rejected(d: &SessionDetail) -> String {
    let mut out = String::new();
    // The ratchet compares each run with the best so far, not with the final best.
    let mut best_so_far: Option<f64> = None;
    let metric = &d.head().primary_metric;
    for it in &d.iterations {
        let why = match Standing::of(it) {
            Standing::Outcome(Outcome::Baseline | Outcome::Improved) => {
                best_so_far = it.primary.or(best_so_far);
                continue;
            }
            Standing::Outcome(Outcome::NoImprovement) => match (it.primary, best_so_far) {
                (Some(got), Some(best)) => {
                    format!("no improvement: {metric} {} vs {} best so far", value::metric(got), value::metric(best))
                }
                (Some(got), None) => format!("no improvement: {metric} {}", value::metric(got)),
                _ => "no improvement".to_string(),
            },
            Standing::Outcome(Outcome::Failed) | Standing::Run(IterationState::Failed) => {
                match it.failure_reason.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
                    Some(reason) => format!("failed: {}", one_line(reason, REASON_WIDTH)),
                    None => "failed".to_string(),
                }
            }
            _ => continue,
        };
        out.push_str(&format!("- **#{}** {} — {why}", it.number, inline(&change(it))));
        let rationale = it.rationale.as_deref().or(it.hypothesis.as_deref()).map(str::trim);
        if let Some(rationale) = rationale.filter(|r| !r.is_empty()) {
            out.push_str(&format!(" (tried because: {})", one_line(rationale, REASON_WIDTH)));
        }
        out.push('\n');
    }
    out
}

/// Training time, and what the models cost: the session's LLM spend holds the coding agents'
/// runs too, so their part is named within it, not added to it.
fn spend(d: &SessionDetail) -> String {
    let spend = d.head().spend.unwrap_or_default();
    let agents: f64 = d.iterations.iter().filter_map(|it| it.agent.as_ref().and_then(|a| a.cost_usd)).sum();
    let agents_unpriced =
        d.iterations.iter().filter(|it| it.agent.as_ref().is_some_and(|a| a.cost_usd.is_none())).count();
    let agent_runs = d.iterations.iter().filter(|it| it.agent.is_some()).count();
    let runs = d.iterations.len();
    let models = match spend.llm_unpriced_calls {
        0 => value::usd(spend.llm_usd),
        n => format!(
            "{} at known prices and {n} call{} at unknown prices",
            value::usd(spend.llm_usd),
            if n == 1 { "" } else { "s" }
        ),
    };
    let mut text = format!(
        "{} of training over {runs} run{}, {models} on LLM calls",
        time::duration(spend.active_seconds),
        if runs == 1 { "" } else { "s" },
    );
    if agent_runs > 0 {
        text.push_str(&format!(" (coding agents: {})", value::cost_with_unknown(agents, agents_unpriced > 0)));
    }
    text.push_str(".\n");
    text
}

fn change(it: &Iteration) -> String {
    let text = it.change.as_deref().or(it.hypothesis.as_deref()).map(str::trim).filter(|c| !c.is_empty());
    let agent = it.agent.as_ref().map(|a| a.agent.trim()).filter(|a| !a.is_empty());
    let text = match (agent, text) {
        (Some(agent), Some(text)) => format!("{agent}: {text}"),
        (Some(agent), None) => format!("{agent}: code change"),
        (None, Some(text)) => text.to_string(),
        (None, None) if it.number == 0 => "baseline".to_string(),
        (None, None) => "-".to_string(),
    };
    one_line(&text, CHANGE_WIDTH)
}

/// One line, at most `max` characters (an ellipsis marks the cut).
fn one_line(text: &str, max: usize) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        return flat;
    }
    let mut cut: String = flat.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// A table cell: a `|` would end the cell early.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

/// Text inside a list item: backticks keep config changes like `lr=0.01` readable.
fn inline(text: &str) -> String {
    if text.contains('`') { text.to_string() } else { format!("`{text}`") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use revis_proto::v1::{AgentChange, Best, SessionState, SessionSummary, Spend, StopReason};

    fn it(number: u32, outcome: Outcome, primary: Option<f64>, change: &str) -> Iteration {
        let state = if outcome == Outcome::Failed { IterationState::Failed } else { IterationState::Succeeded };
        Iteration {
            number,
            state: state as i32,
            outcome: Some(outcome as i32),
            primary,
            commit: (number > 0).then(|| format!("{number:0>8}abcdef")),
            change: Some(change.into()).filter(|c: &String| !c.is_empty()),
            ..Default::default()
        }
    }

    fn session() -> SessionDetail {
        let mut failed = it(3, Outcome::Failed, None, "lr=10");
        failed.failure_reason = Some("training exited with code 1\nTraceback...".into());
        let mut worse = it(2, Outcome::NoImprovement, Some(1.5), "x=5 | wider");
        worse.rationale = Some("wider layers may help".into());
        SessionDetail {
            summary: Some(SessionSummary {
                name: "otter".into(),
                state: SessionState::Completed as i32,
                stop_reason: Some(StopReason::MaxIterations as i32),
                branch: "revis/otter".into(),
                primary_metric: "val_loss".into(),
                minimize: true,
                baseline: Some(2.0),
                best: Some(Best { iteration: 1, value: 1.0 }),
                spend: Some(Spend { active_seconds: 125.0, llm_usd: 0.42, ..Default::default() }),
                ..Default::default()
            }),
            base_branch: "main".into(),
            base_commit: "0123456789abcdef".into(),
            iterations: vec![
                it(0, Outcome::Baseline, Some(2.0), ""),
                it(1, Outcome::Improved, Some(1.0), "lr=0.01"),
                worse,
                failed,
            ],
            ..Default::default()
        }
    }

    #[test]
    fn title_states_the_improvement() {
        assert_eq!(title(&session()), "revis/otter: val_loss 2 → 1 (50.0% better)");
        let summary = SessionSummary { name: "x".into(), primary_metric: "acc".into(), ..Default::default() };
        let none = SessionDetail { summary: Some(summary), ..Default::default() };
        assert_eq!(title(&none), "revis/x: acc experiments");
    }

    #[test]
    fn body_has_outcome_result_table_rejected_ideas_and_spend() {
        let text = body(&session());
        assert!(text.contains("- **Outcome:** completed (max_iterations)"), "{text}");
        assert!(text.contains("- **val_loss** (minimize): 2 → **1** (iteration #1, 50.0% better)"), "{text}");
        assert!(text.contains("| # | Commit | Change | val_loss | Outcome |"), "{text}");
        assert!(text.contains("| 0 | - | baseline | 2 | baseline |"), "{text}");
        assert!(text.contains("| 1 | `00000001` | lr=0.01 | **1** | improved |"), "{text}");
        assert!(text.contains("| 2 | `00000002` | x=5 \\| wider | 1.5 | no_improvement |"), "{text}");
        assert!(text.contains("| 3 | `00000003` | lr=10 | - | failed |"), "{text}");
        assert!(
            text.contains(
                "- **#2** `x=5 | wider` — no improvement: val_loss 1.5 vs 1 best so far (tried because: wider layers may help)"
            ),
            "{text}"
        );
        assert!(text.contains("- **#3** `lr=10` — failed: training exited with code 1 Traceback..."), "{text}");
        assert!(text.contains("$0.42 on LLM calls."), "{text}");
        assert!(text.contains("`main` @ `01234567`"), "{text}");
    }

    #[test]
    fn spend_names_the_agents_part_within_it_and_unknown_prices_as_unknown() {
        let mut d = session();
        d.iterations[1].agent = Some(AgentChange { agent: "codex".into(), cost_usd: None, ..Default::default() });
        let summary = d.summary.as_mut().expect("summary");
        summary.spend =
            Some(Spend { active_seconds: 60.0, llm_usd: 0.42, llm_unpriced_calls: 1, ..Default::default() });
        let text = body(&d);
        assert!(
            text.contains("$0.42 at known prices and 1 call at unknown prices on LLM calls (coding agents: unknown)."),
            "{text}"
        );
        assert!(!text.contains("$0.42 on LLM calls"), "{text}");
    }

    #[test]
    fn a_session_without_rejections_has_no_rejected_section() {
        let mut d = session();
        d.iterations.truncate(2);
        assert!(!body(&d).contains("Rejected ideas"));
    }

    #[test]
    fn long_text_is_cut_to_one_line() {
        assert_eq!(one_line("a\nb  c", 10), "a b c");
        assert_eq!(one_line("abcdefghijk", 5), "abcd…");
    }
}
