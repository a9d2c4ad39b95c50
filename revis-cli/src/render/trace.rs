//! `revis show --trace`: the transcript of the LLM decision behind each iteration, read from
//! the daemon's trace JSON (a list of tries, each with messages, tool calls, tool results and
//! an outcome). The JSON is produced by another program and may change shape, so everything
//! here is tolerant: a missing or odd field is skipped, never a panic. Text from the model
//! and from tools is stripped of control characters so it cannot drive the terminal.

use revis_proto::v1::{Iteration, LlmUsage};
use serde_json::Value;

use super::code_change::code_change;
use super::color::{Palette, Style};
use super::value;

/// Longest tool-call argument text shown (compact JSON).
const ARGS_WIDTH: usize = 200;
/// Longest line shown from a tool result or a user message.
const LINE_WIDTH: usize = 160;
/// Lines shown from each tool result.
const RESULT_LINES: usize = 4;
/// Lines shown from each user message (the first one is the whole context prompt).
const USER_LINES: usize = 2;
/// Lines shown from one assistant message; models rarely say more before acting.
const ASSISTANT_LINES: usize = 40;

/// For each iteration, the transcript of its decision (when it carries a trace) and then the
/// code change a coding agent made for it (when one did), each block preceded by a blank line.
pub fn transcripts(iterations: &[Iteration], palette: &Palette) -> String {
    let mut out = String::new();
    for it in iterations {
        if let Some(trace) = it.trace.as_deref().filter(|t| !t.trim().is_empty()) {
            out.push('\n');
            out.push_str(&transcript(it.number, it.llm.as_ref(), trace, palette));
        }
        if let Some(agent) = &it.agent {
            out.push('\n');
            out.push_str(&code_change(agent, palette));
        }
    }
    out
}

/// The transcript of the decision that produced iteration `number`.
pub fn transcript(number: u32, llm: Option<&LlmUsage>, trace: &str, palette: &Palette) -> String {
    let parsed: Value = match serde_json::from_str(trace) {
        Ok(value) => value,
        Err(e) => {
            let head = header(number, &Totals::default(), palette);
            return format!("{head}  (the trace is not valid JSON: {e})\n");
        }
    };
    let tries = tries_of(&parsed);
    let totals = llm.map_or_else(|| Totals::of_tries(&tries), Totals::from_usage);
    let mut out = header(number, &totals, palette);
    if tries.is_empty() {
        out.push_str("  (no transcript recorded)\n");
    }
    for (i, attempt) in tries.iter().enumerate() {
        if tries.len() > 1 {
            let summary = Totals::of_tries(&[attempt]).summary();
            let line = format!("try {} of {}{}", i + 1, tries.len(), parens(&summary));
            out.push_str(&palette.paint(Some(Style::Bold), &line));
            out.push('\n');
        }
        render_try(attempt, palette, &mut out);
    }
    out
}

/// The tries of a trace: `{"tries": [...]}`, a bare list, or a single try object.
fn tries_of(trace: &Value) -> Vec<&Value> {
    match trace {
        Value::Object(map) => match map.get("tries") {
            Some(Value::Array(tries)) => tries.iter().collect(),
            Some(_) => Vec::new(),
            None => vec![trace],
        },
        Value::Array(tries) => tries.iter().collect(),
        _ => Vec::new(),
    }
}

#[derive(Debug, Default, PartialEq)]
struct Totals {
    model: String,
    calls: u64,
    tokens: u64,
    usd: f64,
    /// Calls (or tries, counted from a trace) at prices Revis does not know.
    unpriced: u64,
}

impl Totals {
    fn from_usage(llm: &LlmUsage) -> Self {
        let tokens = llm.input_tokens + llm.output_tokens + llm.cache_read_tokens + llm.cache_write_tokens;
        Self {
            model: llm.model.clone(),
            calls: u64::from(llm.calls),
            tokens,
            usd: llm.usd,
            unpriced: u64::from(llm.unpriced_calls),
        }
    }

    /// Summed from the tries themselves, for a daemon that sent no `llm` usage.
    fn of_tries(tries: &[&Value]) -> Self {
        let mut totals = Self::default();
        for attempt in tries {
            for call in array(attempt, "calls") {
                if call.get("error").is_some() {
                    continue;
                }
                totals.calls += 1;
                if let Some(model) = call.get("model").and_then(Value::as_str) {
                    totals.model = model.to_string();
                }
            }
            if let Some(usage) = attempt.get("usage") {
                let count = |key: &str| usage.get(key).and_then(Value::as_u64).unwrap_or(0);
                totals.tokens += count("input_tokens")
                    + count("output_tokens")
                    + count("cache_read_tokens")
                    + count("cache_write_tokens");
            }
            match attempt.get("usd").and_then(Value::as_f64) {
                Some(usd) => totals.usd += usd,
                None if attempt.get("usage").is_some() => totals.unpriced += 1,
                None => {}
            }
        }
        totals
    }

    /// `model, 3 calls, 12.3k tokens, $0.04` (`unknown` or `$0.04+?` for calls at unknown prices).
    fn summary(&self) -> String {
        let mut parts = Vec::new();
        if !self.model.is_empty() {
            parts.push(clean(&self.model));
        }
        parts.push(format!("{} call{}", self.calls, if self.calls == 1 { "" } else { "s" }));
        parts.push(format!("{} tokens", value::tokens(self.tokens)));
        parts.push(value::cost_with_unknown(self.usd, self.unpriced > 0));
        parts.join(", ")
    }
}

fn parens(text: &str) -> String {
    if text.is_empty() { String::new() } else { format!(" ({text})") }
}

fn header(number: u32, totals: &Totals, palette: &Palette) -> String {
    let summary = if *totals == Totals::default() { String::new() } else { totals.summary() };
    let line = format!("--- decision that produced iteration {number}{} ---", parens(&summary));
    format!("{}\n", palette.paint(Some(Style::Bold), &line))
}

fn array<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value.get(key).and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or("")
}

fn render_try(attempt: &Value, palette: &Palette, out: &mut String) {
    // Provider errors sit in `calls` between the successful calls; each successful call
    // produced the next assistant message, which places the errors in the conversation.
    let mut calls = array(attempt, "calls").iter().peekable();
    let mut flush_errors = |out: &mut String, until_success: bool| {
        while let Some(call) = calls.next_if(|c| !until_success || c.get("error").is_some()) {
            if let Some(error) = call.get("error") {
                let error = error.as_str().map_or_else(|| compact(error), str::to_string);
                let model = text(call, "model");
                let line = if model.is_empty() { error } else { format!("{model}: {error}") };
                out.push_str(&palette.paint(Some(Style::Red), &format!("  ! {}", clip(&clean(&line), LINE_WIDTH))));
                out.push('\n');
            }
        }
        if until_success {
            calls.next();
        }
    };
    for message in array(attempt, "messages") {
        match text(message, "role") {
            "user" => {
                let prefix = Excerpt { prefix: "  user: ".into(), width: 8, style: Some(Style::Dim) };
                push_excerpt(out, &prefix, text(message, "text"), USER_LINES, palette);
            }
            "assistant" => {
                flush_errors(out, true);
                push_assistant(message, palette, out);
            }
            "tool_results" => {
                for result in array(message, "results") {
                    push_result(result, palette, out);
                }
            }
            other => {
                let label =
                    if other.is_empty() { "  (message): ".to_string() } else { format!("  ({}): ", clean(other)) };
                out.push_str(&format!("{label}{}\n", clip(&compact(message), ARGS_WIDTH)));
            }
        }
    }
    flush_errors(out, false);
    push_outcome(attempt.get("outcome"), palette, out);
}

fn push_assistant(message: &Value, palette: &Palette, out: &mut String) {
    let said = text(message, "text").trim();
    if !said.is_empty() {
        let lines: Vec<&str> = said.lines().collect();
        for line in lines.iter().take(ASSISTANT_LINES) {
            push_line(out, "  ", &clean(line));
        }
        if lines.len() > ASSISTANT_LINES {
            out.push_str(&format!("  … ({} more lines)\n", lines.len() - ASSISTANT_LINES));
        }
    }
    for call in array(message, "tool_calls") {
        let name = match text(call, "name") {
            "" => "?".to_string(),
            name => clean(name),
        };
        let args = match call.get("arguments") {
            None | Some(Value::Null) => String::new(),
            Some(Value::Object(map)) if map.len() == 1 && map.contains_key("Ok") => {
                map.get("Ok").map(compact).unwrap_or_default()
            }
            Some(Value::Object(map)) if map.len() == 1 && map.contains_key("Err") => {
                let raw = map.get("Err").map(|e| e.as_str().map_or_else(|| compact(e), str::to_string));
                format!("invalid JSON: {}", raw.unwrap_or_default())
            }
            Some(other) => compact(other),
        };
        let arrow = palette.paint(Some(Style::Cyan), "→");
        out.push_str(&format!("  {arrow} {name}({})\n", clip(&clean(&args), ARGS_WIDTH)));
    }
}

fn push_result(result: &Value, palette: &Palette, out: &mut String) {
    let is_error = result.get("is_error").and_then(Value::as_bool).unwrap_or(false);
    let (label, style) = if is_error { ("error", Some(Style::Red)) } else { ("ok", None) };
    let prefix = Excerpt {
        prefix: format!("  {} ", palette.paint(style, &format!("← {label}:"))),
        width: 2 + label.len() + 4,
        style: None,
    };
    let content = match result.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(other) => compact(other),
        None => String::new(),
    };
    push_excerpt(out, &prefix, &content, RESULT_LINES, palette);
}

/// How an excerpt starts: its (possibly painted) prefix, the prefix's visible width (later
/// lines are indented to it) and the style of the text.
struct Excerpt {
    prefix: String,
    width: usize,
    style: Option<Style>,
}

/// The prefix then the first `max_lines` lines of `body`, later lines aligned under the
/// first, and a note of how many lines were left out.
fn push_excerpt(out: &mut String, start: &Excerpt, body: &str, max_lines: usize, palette: &Palette) {
    let lines: Vec<&str> = body.trim_end().lines().collect();
    let pad = " ".repeat(start.width);
    if lines.is_empty() {
        out.push_str(&format!("{}(empty)\n", start.prefix));
        return;
    }
    for (i, line) in lines.iter().take(max_lines).enumerate() {
        let shown = palette.paint(start.style, &clip(&clean(line), LINE_WIDTH));
        push_line(out, if i == 0 { &start.prefix } else { &pad }, &shown);
    }
    if lines.len() > max_lines {
        out.push_str(&format!("{pad}… ({} more lines)\n", lines.len() - max_lines));
    }
}

/// `indent` + `line`, without trailing spaces; a blank line stays empty.
fn push_line(out: &mut String, indent: &str, line: &str) {
    let line = line.trim_end();
    if line.is_empty() && indent.trim().is_empty() {
        out.push('\n');
    } else {
        out.push_str(format!("{indent}{line}").trim_end());
        out.push('\n');
    }
}

fn push_outcome(outcome: Option<&Value>, palette: &Palette, out: &mut String) {
    let Some(outcome) = outcome.filter(|o| !o.is_null()) else {
        out.push_str("  (no outcome recorded)\n");
        return;
    };
    if let Some(reason) = outcome.get("failed") {
        let reason = reason.as_str().map_or_else(|| compact(reason), str::to_string);
        out.push_str(&palette.paint(Some(Style::Red), &format!("  failed: {}", clean(&reason))));
        out.push('\n');
        return;
    }
    let Some(decision) = outcome.get("decision") else {
        out.push_str(&format!("  outcome: {}\n", clip(&clean(&compact(outcome)), ARGS_WIDTH)));
        return;
    };
    let action = match text(decision, "action") {
        "" => "decision".to_string(),
        action => clean(action),
    };
    let rationale = clean(text(decision, "rationale").trim());
    let line = if rationale.is_empty() {
        format!("  decision: {action}")
    } else {
        format!("  decision: {action} — {rationale}")
    };
    out.push_str(&palette.paint(Some(Style::Green), &line));
    out.push('\n');
    if let Some(hypothesis) = decision.get("hypothesis").and_then(Value::as_str).filter(|h| !h.trim().is_empty()) {
        out.push_str(&format!("    hypothesis: {}\n", clean(hypothesis.trim())));
    }
    for change in array(decision, "changes") {
        out.push_str(&format!("    - {}\n", clip(&clean(&change_text(change)), ARGS_WIDTH)));
    }
}

/// One change of a decision in words; unknown kinds as compact JSON.
fn change_text(change: &Value) -> String {
    let field = |key: &str| change.get(key).map_or_else(|| "?".to_string(), json_scalar);
    match text(change, "kind") {
        "config_edit" => format!("{}: {} = {}", field("file"), field("key"), field("value")),
        "arg" => match change.get("value") {
            None | Some(Value::Null) => format!("remove argument {}", field("name")),
            Some(value) => format!("argument {} = {}", field("name"), json_scalar(value)),
        },
        "command" => format!("command: {}", field("text")),
        "code" => {
            let files: Vec<String> = array(change, "files").iter().map(json_scalar).collect();
            let files = if files.is_empty() { String::new() } else { format!(" (files: {})", files.join(", ")) };
            format!("code change: {}{files}", field("request"))
        }
        _ => compact(change),
    }
}

/// Strings bare, anything else as compact JSON.
fn json_scalar(value: &Value) -> String {
    value.as_str().map_or_else(|| compact(value), str::to_string)
}

fn compact(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// At most `max` chars of the first line, an ellipsis marking a cut.
pub(crate) fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let kept: String = text.chars().take(max.saturating_sub(1)).collect();
    format!("{kept}…")
}

/// Control characters (escape sequences, carriage returns) become `�`; tabs become spaces.
pub(crate) fn clean(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\t' => ' ',
            c if c.is_control() && c != '\n' => '\u{fffd}',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests;
