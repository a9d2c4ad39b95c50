//! Text view of a `Comparison`: a title, one block per iteration (what it changed and why),
//! the metric table, then the diff. Pure: text in, text out. Everything shown comes from the
//! LLM, a coding agent or git, so control characters are neutralised before printing.

use crate::commands::export::schema::IterationRecord;
use crate::render::color::{Palette, Style, outcome_style};
use crate::render::{time, value};
use crate::states::Standing;

use super::Comparison;
use super::diff::CodeDiff;
use super::metrics::{MetricRow, Verdict};

/// `  hypothesis: ` — where field bodies start.
const LABEL_WIDTH: usize = 14;
/// Lines shown of an agent's own summary.
const AGENT_SUMMARY_LINES: usize = 12;
/// Longest diff line shown (minified files make single lines of megabytes).
const DIFF_WIDTH: usize = 400;
const COMMIT_WIDTH: usize = 10;

pub fn render(c: &Comparison, palette: &Palette) -> String {
    let [a, b] = &c.iterations;
    let direction = if c.minimize { "lower" } else { "higher" };
    let title = format!("{}: #{} vs #{}", clean(&c.session), a.number, b.number);
    let mut out =
        format!("{} — {}, {direction} is better\n\n", palette.paint(Some(Style::Bold), &title), clean(&c.primary));
    for it in [a, b] {
        out.push_str(&iteration_block(it, &c.primary, palette));
        out.push('\n');
    }
    out.push_str(&palette.paint(Some(Style::Bold), "Metrics"));
    out.push('\n');
    out.push_str(&metric_table(&c.metrics, a.number, b.number, palette));
    out.push('\n');
    out.push_str(&diff_section(&c.diff, palette));
    out
}

fn iteration_block(it: &IterationRecord, primary: &str, palette: &Palette) -> String {
    let standing = Standing::new(it.outcome, it.state);
    let mut head = vec![
        palette.paint(Some(Style::Bold), &format!("#{}", it.number)),
        palette.paint(outcome_style(standing), &standing.word()),
    ];
    if let Some(v) = it.primary {
        head.push(format!("{} {}", clean(primary), value::metric(v)));
    }
    if let Some(commit) = &it.commit {
        head.push(format!("commit {}", short(commit)));
    }
    if let Some(parent) = it.parent {
        head.push(format!("from #{parent}"));
    }
    if let Some(d) = it.duration_seconds {
        head.push(time::duration(d));
    }
    let mut out = format!("{}\n", head.join("  "));
    let change = match (&it.change, it.number) {
        (Some(change), _) => change.clone(),
        (None, 0) => "(baseline)".to_string(),
        (None, _) => "-".to_string(),
    };
    push_field(&mut out, "change", &change, usize::MAX);
    push_field(&mut out, "hypothesis", it.hypothesis.as_deref().unwrap_or(""), usize::MAX);
    push_field(&mut out, "rationale", it.rationale.as_deref().unwrap_or(""), usize::MAX);
    let changes: Vec<String> = it.changes.iter().map(|c| c.summary()).collect();
    push_field(&mut out, "changes", &changes.join("\n"), usize::MAX);
    if let Some(agent) = &it.agent {
        let mut who = clean(agent.agent.trim());
        if let Some(cost) = agent.cost_usd {
            who.push_str(&format!(" ({})", value::llm_cost(cost)));
        }
        push_field(&mut out, "agent", &who, 1);
        push_field(&mut out, "summary", &agent.summary, AGENT_SUMMARY_LINES);
        push_field(&mut out, "files", &agent.files.join(", "), 1);
    }
    if let Some(reason) = &it.failure_reason {
        let mut failure = String::new();
        push_field(&mut failure, "failure", reason, usize::MAX);
        out.push_str(&palette.paint(Some(Style::Red), failure.trim_end()));
        out.push('\n');
    }
    out
}

/// `  label:      first line`, later lines aligned under it; empty bodies are left out.
fn push_field(out: &mut String, label: &str, body: &str, max_lines: usize) {
    let lines: Vec<&str> = body.trim().lines().collect();
    if lines.is_empty() {
        return;
    }
    let head = format!("  {:<width$}", format!("{label}:"), width = LABEL_WIDTH - 2);
    let pad = " ".repeat(LABEL_WIDTH);
    for (i, line) in lines.iter().take(max_lines).enumerate() {
        let text = format!("{}{}", if i == 0 { &head } else { &pad }, clean(line));
        out.push_str(text.trim_end());
        out.push('\n');
    }
    if lines.len() > max_lines {
        out.push_str(&format!("{pad}… ({} more lines)\n", lines.len() - max_lines));
    }
}

/// METRIC, the two values and the delta, padded before painting so colour never shifts
/// columns. The verdict is spelled out, so the table reads the same without colour.
fn metric_table(rows: &[MetricRow], a: u32, b: u32, palette: &Palette) -> String {
    if rows.is_empty() {
        return "  (no metrics reported)\n".to_string();
    }
    let opt = |v: Option<f64>| v.map_or_else(|| "-".to_string(), value::metric);
    let cells: Vec<[String; 4]> = rows
        .iter()
        .map(|r| {
            let name = if r.primary { format!("{} (primary)", clean(&r.name)) } else { clean(&r.name) };
            [name, opt(r.a), opt(r.b), delta_text(r)]
        })
        .collect();
    let header = ["METRIC".to_string(), format!("#{a}"), format!("#{b}"), "DELTA".to_string()];
    let mut widths = [0usize; 4];
    for row in std::iter::once(&header).chain(cells.iter()) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let pad = |text: &str, width: usize, right: bool| {
        let fill = " ".repeat(width.saturating_sub(text.chars().count()));
        if right { format!("{fill}{text}") } else { format!("{text}{fill}") }
    };
    let mut out = String::new();
    let head = format!(
        "{}  {}  {}  {}",
        pad(&header[0], widths[0], false),
        pad(&header[1], widths[1], true),
        pad(&header[2], widths[2], true),
        header[3]
    );
    out.push_str(&palette.paint(Some(Style::Bold), head.trim_end()));
    out.push('\n');
    for (row, cell) in rows.iter().zip(&cells) {
        let style = match row.verdict {
            Some(Verdict::Better) => Some(Style::Green),
            Some(Verdict::Worse) => Some(Style::Red),
            _ => None,
        };
        let line = format!(
            "{}  {}  {}  {}",
            pad(&cell[0], widths[0], false),
            pad(&cell[1], widths[1], true),
            pad(&cell[2], widths[2], true),
            palette.paint(style, &cell[3])
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `-0.5 (-20.0%) better`, `+1 worse`, `0 same`; `-` without both values.
fn delta_text(r: &MetricRow) -> String {
    let Some(delta) = r.delta else {
        return "-".to_string();
    };
    let mut text = if delta > 0.0 { format!("+{}", value::metric(delta)) } else { value::metric(delta) };
    if let Some(pct) = r.delta_percent.filter(|_| delta != 0.0) {
        text.push_str(&format!(" ({pct:+.1}%)"));
    }
    match r.verdict {
        Some(Verdict::Better) => text.push_str(" better"),
        Some(Verdict::Worse) => text.push_str(" worse"),
        Some(Verdict::Same) => text.push_str(" same"),
        None => {}
    }
    text
}

fn diff_section(d: &CodeDiff, palette: &Palette) -> String {
    let range = match (&d.from, &d.to) {
        (Some(from), Some(to)) => format!(" {} → {}", short(from), short(to)),
        _ => String::new(),
    };
    let mut out = palette.paint(Some(Style::Bold), &format!("Code and config{range}"));
    out.push('\n');
    if let Some(error) = &d.error {
        out.push_str(&format!("  no diff: {}\n", clean(error)));
        return out;
    }
    if d.stat.trim().is_empty() && d.text.trim().is_empty() {
        out.push_str("  no differences\n");
        return out;
    }
    for line in d.stat.lines() {
        out.push_str(clean(line).trim_end());
        out.push('\n');
    }
    out.push('\n');
    for line in d.text.lines() {
        let shown = clip(&clean(line), DIFF_WIDTH);
        out.push_str(&palette.paint(diff_style(line), &shown));
        out.push('\n');
    }
    if d.truncated {
        let shown = d.text.lines().count();
        out.push_str(&palette.paint(
            Some(Style::Yellow),
            &format!("… diff cut at {shown} of {} lines; the whole diff: {}", d.total_lines, d.command),
        ));
        out.push('\n');
    }
    out
}

use crate::render::code_change::diff_style;
use crate::render::trace::{clean, clip};

fn short(commit: &str) -> String {
    commit.chars().take(COMMIT_WIDTH).collect()
}

#[cfg(test)]
mod tests;
