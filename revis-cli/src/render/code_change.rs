//! `revis show --trace`: the code change a coding agent made for an iteration — who made it,
//! how long it took, what it cost, how it was verified, what was asked, what the agent says it
//! did, the files and the diff. Agent output and diffs come from other programs: control
//! characters are neutralised so they cannot drive the terminal, and long parts are cut with a
//! note of what was left out.

use revis_proto::v1::AgentChange;

use super::color::{Palette, Style};
use super::trace::{clean, clip};
use super::{time, value};

/// Lines shown from the agent's own summary.
const SUMMARY_LINES: usize = 20;
/// Lines shown from the diff; `show --json` carries all of it.
const DIFF_LINES: usize = 200;
/// Longest diff line shown (minified files make single lines of megabytes).
const DIFF_WIDTH: usize = 400;
/// The width of `  summary: `, where continuation lines of a field start.
const LABEL_WIDTH: usize = 11;

/// The block for one agent change, ending with a newline.
pub fn code_change(agent: &AgentChange, palette: &Palette) -> String {
    let mut out = format!("{}\n", palette.paint(Some(Style::Bold), &header(agent)));
    push_field(&mut out, "request", &agent.request, usize::MAX);
    push_field(&mut out, "summary", &agent.summary, SUMMARY_LINES);
    let files = agent.files.iter().map(|f| clean(f)).collect::<Vec<_>>().join(", ");
    push_field(&mut out, "files", &files, 1);
    push_diff(&mut out, &agent.diff, palette);
    out
}

/// `--- code change by claude-code (4m 12s, $0.42, verified: entry.smoke) ---`; an unknown
/// cost is left out, a change nobody verified says so.
fn header(agent: &AgentChange) -> String {
    let name = match agent.agent.trim() {
        "" => "a coding agent".to_string(),
        name => clean(name),
    };
    let mut parts = vec![time::duration(agent.duration_seconds)];
    if let Some(cost) = agent.cost_usd {
        parts.push(value::llm_cost(cost));
    }
    let verified = agent.verified.as_deref().map(str::trim).filter(|v| !v.is_empty());
    parts.push(format!("verified: {}", verified.map_or_else(|| "no".to_string(), clean)));
    format!("--- code change by {name} ({}) ---", parts.join(", "))
}

/// `  label:  first line`, later lines aligned under the first, at most `max_lines` of them.
fn push_field(out: &mut String, label: &str, body: &str, max_lines: usize) {
    let lines: Vec<&str> = body.trim().lines().collect();
    let head = format!("  {:<width$}", format!("{label}:"), width = LABEL_WIDTH - 2);
    let pad = " ".repeat(LABEL_WIDTH);
    if lines.is_empty() {
        out.push_str(&format!("{head}(none)\n"));
        return;
    }
    for (i, line) in lines.iter().take(max_lines).enumerate() {
        let line = format!("{}{}", if i == 0 { &head } else { &pad }, clean(line));
        out.push_str(line.trim_end());
        out.push('\n');
    }
    if lines.len() > max_lines {
        out.push_str(&format!("{pad}… ({} more lines)\n", lines.len() - max_lines));
    }
}

fn push_diff(out: &mut String, diff: &str, palette: &Palette) {
    let lines: Vec<&str> = diff.lines().collect();
    if lines.iter().all(|l| l.trim().is_empty()) {
        out.push_str("  diff:    (none recorded)\n");
        return;
    }
    out.push_str("  diff:\n");
    for line in lines.iter().take(DIFF_LINES) {
        let shown = clip(&clean(line), DIFF_WIDTH);
        let painted = palette.paint(diff_style(line), &shown);
        out.push_str(format!("    {painted}").trim_end());
        out.push('\n');
    }
    if lines.len() > DIFF_LINES {
        let more = lines.len() - DIFF_LINES;
        out.push_str(&format!("    … ({more} more line{} of diff)\n", if more == 1 { "" } else { "s" }));
    }
}

/// Colour of a unified-diff line (also used by `revis compare`).
pub(crate) fn diff_style(line: &str) -> Option<Style> {
    if line.starts_with("+++") || line.starts_with("---") || line.starts_with("diff ") {
        Some(Style::Bold)
    } else if line.starts_with('+') {
        Some(Style::Green)
    } else if line.starts_with('-') {
        Some(Style::Red)
    } else if line.starts_with("@@") {
        Some(Style::Cyan)
    } else {
        None
    }
}

#[cfg(test)]
mod tests;
