//! `revis export --format csv`: one row per iteration, fixed columns first, then one
//! `metric.<name>` column per metric any iteration reported (sorted). Quoting follows RFC 4180
//! (fields with a comma, quote or line break are quoted, quotes doubled); lines end in `\n`.
//! The column list is part of the stable schema in docs/export.md.

use std::collections::BTreeSet;

use super::schema::{Export, IterationRecord};
use crate::states::word;

/// The fixed columns, in order; metric columns follow.
pub const FIXED_COLUMNS: &[&str] = &[
    "session",
    "number",
    "state",
    "outcome",
    "primary",
    "commit",
    "parent",
    "change",
    "changes",
    "rationale",
    "hypothesis",
    "failure_reason",
    "started_at",
    "ended_at",
    "duration_seconds",
    "llm_usd",
    "agent",
    "agent_summary",
    "agent_cost_usd",
    "llm_unpriced_calls",
];

/// Prefix of the metric columns.
pub const METRIC_PREFIX: &str = "metric.";

pub fn render(export: &Export) -> String {
    let metric_names: BTreeSet<&str> =
        export.iterations.iter().flat_map(|it| it.metrics.keys().map(String::as_str)).collect();
    let mut header: Vec<String> = FIXED_COLUMNS.iter().map(|c| c.to_string()).collect();
    header.extend(metric_names.iter().map(|m| format!("{METRIC_PREFIX}{m}")));
    let mut out = line(&header);
    for it in &export.iterations {
        let mut row = fixed_cells(&export.session.name, it);
        row.extend(metric_names.iter().map(|m| number(it.metrics.get(*m).copied())));
        out.push_str(&line(&row));
    }
    out
}

fn fixed_cells(session: &str, it: &IterationRecord) -> Vec<String> {
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let changes: Vec<String> = it.changes.iter().map(|c| c.summary()).collect();
    let agent = it.agent.as_ref();
    vec![
        session.to_string(),
        it.number.to_string(),
        word(it.state),
        it.outcome.map(word).unwrap_or_default(),
        number(it.primary),
        text(&it.commit),
        it.parent.map(|p| p.to_string()).unwrap_or_default(),
        text(&it.change),
        changes.join("; "),
        text(&it.rationale),
        text(&it.hypothesis),
        text(&it.failure_reason),
        text(&it.started_at),
        text(&it.ended_at),
        number(it.duration_seconds),
        number(it.llm_usd),
        agent.map(|a| a.agent.clone()).unwrap_or_default(),
        agent.map(|a| a.summary.trim().to_string()).unwrap_or_default(),
        number(agent.and_then(|a| a.cost_usd)),
        it.llm_unpriced_calls.to_string(),
    ]
}

/// Shortest text that reads back as the same f64; empty when missing or not finite (a
/// spreadsheet cannot take `NaN`, and JSON export says null for it too).
fn number(v: Option<f64>) -> String {
    v.filter(|v| v.is_finite()).map(|v| v.to_string()).unwrap_or_default()
}

fn line(cells: &[String]) -> String {
    let mut text = cells.iter().map(|c| field(c)).collect::<Vec<_>>().join(",");
    text.push('\n');
    text
}

fn field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use revis_proto::v1::{Change, Iteration, IterationState, Outcome, SessionDetail, SessionSummary};

    fn session(iterations: Vec<Iteration>) -> Export {
        let summary = SessionSummary { name: "otter".into(), ..Default::default() };
        Export::from_detail(&SessionDetail { summary: Some(summary), iterations, ..Default::default() })
    }

    fn metrics(pairs: &[(&str, f64)]) -> std::collections::HashMap<String, f64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn fields_with_commas_quotes_or_newlines_are_quoted() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("two\nlines"), "\"two\nlines\"");
    }

    #[test]
    fn metric_columns_are_the_sorted_union_and_missing_cells_are_empty() {
        let a = Iteration {
            number: 0,
            state: IterationState::Succeeded as i32,
            outcome: Some(Outcome::Baseline as i32),
            metrics: metrics(&[("val_loss", 2.5)]),
            ..Default::default()
        };
        let b = Iteration {
            number: 1,
            state: IterationState::Failed as i32,
            metrics: metrics(&[("accuracy", 0.5), ("val_loss", f64::NAN)]),
            ..Default::default()
        };
        let text = render(&session(vec![a, b]));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(
            lines[0].ends_with(",agent_cost_usd,llm_unpriced_calls,metric.accuracy,metric.val_loss"),
            "{}",
            lines[0]
        );
        assert!(lines[0].starts_with("session,number,state,outcome,primary,"), "{}", lines[0]);
        assert!(lines[1].starts_with("otter,0,succeeded,baseline,"), "{}", lines[1]);
        assert!(lines[2].starts_with("otter,1,failed,,"), "{}", lines[2]);
        assert!(lines[1].ends_with(",,2.5"), "{}", lines[1]);
        assert!(lines[2].ends_with(",0.5,"), "NaN is an empty cell: {}", lines[2]);
    }

    #[test]
    fn every_row_has_as_many_cells_as_the_header() {
        let it = Iteration {
            number: 3,
            change: Some("lr, then \"x\"".into()),
            rationale: Some("line one\nline two".into()),
            changes: vec![
                Change { kind: "arg".into(), name: Some("--x".into()), value: Some("3".into()), ..Default::default() },
                Change { kind: "code".into(), text: Some("dropout".into()), ..Default::default() },
            ],
            ..Default::default()
        };
        let export = session(vec![it]);
        let text = render(&export);
        assert!(
            text.contains("\"arg --x = 3; code: dropout\"") || text.contains(",arg --x = 3; code: dropout,"),
            "{text}"
        );
        assert!(text.contains("\"lr, then \"\"x\"\"\""), "{text}");
        assert!(text.contains("\"line one\nline two\""), "{text}");
        let header_cells = FIXED_COLUMNS.len();
        assert_eq!(fixed_cells("otter", &export.iterations[0]).len(), header_cells);
    }

    #[test]
    fn numbers_round_trip() {
        assert_eq!(number(Some(0.1 + 0.2)), "0.30000000000000004");
        assert_eq!(number(Some(3.0)), "3");
        assert_eq!(number(None), "");
        assert_eq!(number(Some(f64::INFINITY)), "");
    }
}
