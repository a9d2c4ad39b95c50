//! `revis report`: a session as ONE self-contained HTML page (inline CSS and SVG, no scripts,
//! nothing fetched): header, chart, iteration table, then each iteration's rationale,
//! hypothesis, changes and diff. Pure: the caller gathers the diffs and writes the file.
//! Everything that comes from the session is escaped here; nothing may bypass `escape`.

use revis_proto::v1::{Change, Iteration, SessionDetail};

use super::chart::series;
use super::session::state_text;
use super::svg_chart::svg_chart;
use super::{time, value};
use crate::states::{self, Standing, word};

/// A diff shown for one iteration and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Diff {
    /// `coding agent` or `git show <commit>`.
    pub source: String,
    pub text: String,
    /// The text was cut to keep the page small.
    pub cut: bool,
}

const STYLE: &str = "
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1000px; padding: 0 1em; color: #1d1d1f; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; }
th, td { text-align: left; padding: 0.25em 0.8em 0.25em 0; vertical-align: top; }
table.iterations td.num, table.iterations th.num { text-align: right; }
table.iterations tr + tr td { border-top: 1px solid #eee; }
.improved, .baseline { color: #17803d; } .failed { color: #c4262e; } .interrupted { color: #a86b00; }
svg.chart { max-width: 100%; height: auto; background: #fafafa; border: 1px solid #e5e5e5; }
svg .axis { stroke: #999; fill: none; }
svg .best { stroke: #17803d; stroke-width: 2; fill: none; }
svg .point { fill: #2b5fd9; } svg .missing { fill: none; stroke: #999; }
svg .failed { stroke: #c4262e; stroke-width: 2.5; fill: none; }
svg .label { font-size: 12px; fill: #555; }
pre { background: #f6f8fa; padding: 0.8em; overflow-x: auto; font-size: 12px; }
pre .add { color: #17803d; } pre .del { color: #c4262e; } pre .hunk { color: #6a4fb3; }
.muted { color: #777; }
";

/// `&`, `<`, `>`, `\"` and `'` as entities: safe in text and in quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(ch),
        }
    }
    out
}

/// The whole page. `diffs[i]` belongs to `d.iterations[i]` (missing entries mean no diff).
pub fn report_page(d: &SessionDetail, diffs: &[Option<Diff>], generated_at: &str) -> String {
    let s = d.head();
    let title = format!("Revis session {}", s.name);
    let mut page = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        escape(&title),
        escape(&title)
    );
    page.push_str(&header(d, generated_at));
    page.push_str("<h2>Primary metric</h2>\n");
    page.push_str(&svg_chart(&series(&d.iterations), s.minimize, &s.primary_metric));
    let timeline = super::session::timeline(d, 80);
    if !timeline.is_empty() {
        page.push_str("<h2>Trials by slot</h2>\n<pre class=\"timeline\">");
        page.push_str(&escape(&timeline.join("\n")));
        page.push_str("</pre>\n");
    }
    page.push_str("<h2>Iterations</h2>\n");
    page.push_str(&iteration_table(d));
    for (i, it) in d.iterations.iter().enumerate() {
        page.push_str(&iteration_section(it, diffs.get(i).and_then(Option::as_ref)));
    }
    page.push_str("</body>\n</html>\n");
    page
}

fn header(d: &SessionDetail, generated_at: &str) -> String {
    let s = d.head();
    let mut rows: Vec<(&str, String)> = Vec::new();
    // `completed (max_iterations)`: the reason, never the phase or a pending stop.
    let state = state_text(s.state(), states::stop_reason(s), None, false);
    rows.push(("State", escape(&state)));
    if let Some(detail) = s.stop_detail.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        rows.push(("Stop reason", escape(detail)));
    }
    let direction = if s.minimize { "minimize" } else { "maximize" };
    let target = d.target.map(|t| format!(", target {}", value::metric(t))).unwrap_or_default();
    rows.push(("Metric", escape(&format!("{} ({direction}{target})", s.primary_metric))));
    rows.push(("Result", escape(&result_text(d))));
    let spend = s.spend.unwrap_or_default();
    rows.push((
        "Spend",
        escape(&format!(
            "{} active, {}",
            time::duration(spend.active_seconds),
            value::llm_spend(spend.llm_usd, spend.llm_unpriced_calls)
        )),
    ));
    let base =
        [d.base_branch.as_str(), short(&d.base_commit)].into_iter().filter(|part| !part.is_empty()).collect::<Vec<_>>();
    let from = if base.is_empty() { String::new() } else { format!(" (from {})", base.join(" @ ")) };
    rows.push(("Branch", escape(&format!("{}{from}", s.branch))));
    if let Some(url) = d.pr_url.as_deref().filter(|u| !u.is_empty()) {
        rows.push(("Pull request", format!("<a href=\"{0}\">{0}</a>", escape(url))));
    }
    let advisor = word(s.advisor());
    if !advisor.is_empty() {
        rows.push(("Advisor", escape(&advisor)));
    }
    if !s.created_at.is_empty() {
        let ended = s.ended_at.as_deref().map(|e| format!(", ended {}", time::timestamp(e))).unwrap_or_default();
        rows.push(("Created", escape(&format!("{}{ended}", time::timestamp(&s.created_at)))));
    }
    rows.push(("Report", escape(&format!("generated {generated_at}"))));
    let mut html = String::from("<table class=\"header\">\n");
    for (label, value) in rows {
        html.push_str(&format!("<tr><th>{label}</th><td>{value}</td></tr>\n"));
    }
    html.push_str("</table>\n");
    html
}

fn result_text(d: &SessionDetail) -> String {
    super::session::result_text_labelled(d, true)
}

fn short(commit: &str) -> &str {
    commit.get(..8).unwrap_or(commit)
}

fn outcome(it: &Iteration) -> String {
    Standing::of(it).word()
}

fn summary(it: &Iteration) -> String {
    let text = it.change.as_deref().or(it.hypothesis.as_deref()).filter(|c| !c.is_empty());
    match text {
        Some(text) => text.to_string(),
        None if it.number == 0 => "(baseline)".to_string(),
        None => "-".to_string(),
    }
}

fn iteration_table(d: &SessionDetail) -> String {
    let with_slot = d.head().slots > 1;
    let mut html = String::from(
        "<table class=\"iterations\">\n<tr><th class=\"num\">#</th><th>Outcome</th><th class=\"num\">Primary</th>\
         <th>Change</th><th class=\"num\">Duration</th><th>Commit</th>",
    );
    let with_holdout = d.holdout_metric.is_some();
    if with_holdout {
        html.push_str("<th class=\"num\">Holdout</th>");
    }
    html.push_str(if with_slot { "<th>Slot</th></tr>\n" } else { "</tr>\n" });
    for it in &d.iterations {
        let slot = match (with_slot, it.gpus.is_empty()) {
            (false, _) => String::new(),
            (true, true) => format!("<td>{}</td>", it.slot),
            (true, false) => format!("<td>{} (gpu {})</td>", it.slot, escape(&it.gpus)),
        };
        let primary = it.primary.map_or_else(|| "-".to_string(), value::metric);
        let duration = it.duration_seconds.map_or_else(|| "-".to_string(), time::duration);
        let commit = it.commit.as_deref().map_or("-", short);
        let holdout = match with_holdout {
            true => format!("<td class=\"num\">{}</td>", it.holdout.map_or_else(|| "-".to_string(), value::metric)),
            false => String::new(),
        };
        html.push_str(&format!(
            "<tr><td class=\"num\"><a href=\"#iteration-{n}\">{n}</a></td><td class=\"{o}\">{o}</td>\
             <td class=\"num\">{}</td><td>{}</td><td class=\"num\">{}</td><td><code>{}</code></td>{holdout}{slot}</tr>\n",
            escape(&primary),
            escape(&summary(it)),
            escape(&duration),
            escape(commit),
            n = it.number,
            o = escape(&outcome(it)),
        ));
    }
    html.push_str("</table>\n");
    html
}

fn iteration_section(it: &Iteration, diff: Option<&Diff>) -> String {
    let n = it.number;
    let mut html = format!(
        "<section id=\"iteration-{n}\">\n<h2>#{n} <span class=\"{o}\">{o}</span> — {}</h2>\n",
        escape(&summary(it)),
        o = escape(&outcome(it)),
    );
    let mut fields: Vec<(&str, String)> = Vec::new();
    if let Some(primary) = it.primary {
        fields.push(("Primary", value::metric(primary)));
    }
    if let Some(holdout) = it.holdout {
        fields.push(("Holdout", value::metric(holdout)));
    }
    if let Some(reason) = it.failure_reason.as_deref().filter(|r| !r.is_empty()) {
        fields.push(("Failure", reason.to_string()));
    }
    if let Some(rationale) = it.rationale.as_deref().filter(|r| !r.is_empty()) {
        fields.push(("Rationale", rationale.to_string()));
    }
    if let Some(hypothesis) = it.hypothesis.as_deref().filter(|h| !h.is_empty()) {
        fields.push(("Hypothesis", hypothesis.to_string()));
    }
    if !it.command.is_empty() {
        fields.push(("Command", it.command.clone()));
    }
    if let Some(agent) = it.agent.as_ref().filter(|a| !a.agent.is_empty()) {
        let summary = agent.summary.trim();
        let text = if summary.is_empty() { agent.agent.clone() } else { format!("{}: {summary}", agent.agent) };
        fields.push(("Coding agent", text));
    }
    if !fields.is_empty() {
        html.push_str("<table>\n");
        for (label, text) in fields {
            html.push_str(&format!("<tr><th>{label}</th><td>{}</td></tr>\n", escape(&text)));
        }
        html.push_str("</table>\n");
    }
    // The progress the run reported (or its W&B/MLflow history), step by step.
    let curve = super::svg_chart::curve_svg(&it.history, "the primary metric");
    if !curve.is_empty() {
        let stopped = it.stopped_at_step.map(|s| format!(" — stopped early at step {s}")).unwrap_or_default();
        html.push_str(&format!("<h3>Curve{}</h3>\n{curve}\n", escape(&stopped)));
    }
    if !it.changes.is_empty() {
        html.push_str("<h3>Changes</h3>\n<ul>\n");
        for change in &it.changes {
            html.push_str(&format!("<li><code>{}</code></li>\n", escape(&change_text(change))));
        }
        html.push_str("</ul>\n");
    }
    if let Some(diff) = diff {
        html.push_str(&format!("<h3>Diff <span class=\"muted\">({})</span></h3>\n", escape(&diff.source)));
        html.push_str(&diff_block(&diff.text));
        if diff.cut {
            html.push_str("<p class=\"muted\">The diff was cut to keep this page small.</p>\n");
        }
    }
    html.push_str("</section>\n");
    html
}

/// `config.json: lr 1.0 → 0.01`, `arg --x = 3`, `code: add dropout`.
fn change_text(c: &Change) -> String {
    let target = [c.file.as_deref(), c.key.as_deref(), c.name.as_deref()]
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let mut text = c.kind.clone();
    if !target.is_empty() {
        text.push_str(&format!(" {target}"));
    }
    match (c.previous.as_deref(), c.value.as_deref()) {
        (Some(prev), Some(new)) => text.push_str(&format!(": {prev} → {new}")),
        (None, Some(new)) => text.push_str(&format!(" = {new}")),
        _ => {}
    }
    if let Some(note) = c.text.as_deref().filter(|t| !t.is_empty()) {
        text.push_str(&format!(" ({note})"));
    }
    text
}

/// The diff with added, removed and hunk lines marked for colour.
fn diff_block(diff: &str) -> String {
    let mut html = String::from("<pre class=\"diff\">");
    for line in diff.lines() {
        let class = match line.as_bytes().first() {
            _ if line.starts_with("+++") || line.starts_with("---") => None,
            Some(b'+') => Some("add"),
            Some(b'-') => Some("del"),
            Some(b'@') => Some("hunk"),
            _ => None,
        };
        match class {
            Some(class) => html.push_str(&format!("<span class=\"{class}\">{}</span>\n", escape(line))),
            None => {
                html.push_str(&escape(line));
                html.push('\n');
            }
        }
    }
    html.push_str("</pre>\n");
    html
}

#[cfg(test)]
mod tests;
