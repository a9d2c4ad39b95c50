//! `get_training_logs` (the end of a run's log, its error lines with context, or its metric
//! prints) and `get_history` (past iterations as JSON), both capped.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use super::Workspace;
use super::args::Args;

pub const DEFAULT_TAIL: u64 = 100;
pub const DEFAULT_ERROR_LINES: u64 = 200;
pub const DEFAULT_METRIC_LINES: u64 = 50;
pub const MAX_LOG_LINES: u64 = 500;
const MAX_LOG_LINE_CHARS: usize = 500;
/// Lines shown before and after an error line.
const CONTEXT_BEFORE: usize = 2;
const CONTEXT_AFTER: usize = 3;
/// A traceback is shown whole up to this many lines.
const MAX_TRACEBACK: usize = 200;
pub const MAX_HISTORY: u64 = 1000;

/// Lines that report a failure: Python exceptions and tracebacks, errors, fatal signals, OOM,
/// and NaN or infinite values (a diverging loss).
static ERROR_LINE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\w*(error|exception)\b|traceback|\bfatal\b|\bpanic|\bkilled\b|segmentation fault|out of memory|\boom\b|\bnan\b|[-+]?\binf(inity)?\b",
    )
    .ok()
});

/// Metric prints: `loss=0.31`, `val_acc: 0.9`, `lr = 1e-4`, `loss nan`.
static METRIC_LINE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"(?i)\b[a-z_][\w./-]*\s*[=:]\s*[-+]?(\d+(\.\d*)?|\.\d+)(e[-+]?\d+)?\b|\b[a-z_][\w./-]*\s*[=:]\s*[-+]?(nan|inf)\b")
        .ok()
});

pub fn get_training_logs(ws: &Workspace<'_>, value: &Value) -> Result<String, String> {
    let args = Args::new("get_training_logs", value, &["iteration", "mode", "lines"])?;
    let iteration = args.integer("iteration", 0, u64::from(u32::MAX))?.and_then(|n| u32::try_from(n).ok());
    let mode = args.choice("mode", &["tail", "errors", "metrics"])?.unwrap_or("tail");
    let default = match mode {
        "errors" => DEFAULT_ERROR_LINES,
        "metrics" => DEFAULT_METRIC_LINES,
        _ => DEFAULT_TAIL,
    };
    let limit = usize::try_from(args.integer("lines", 1, MAX_LOG_LINES)?.unwrap_or(default)).unwrap_or(100);
    let (number, text) = ws.logs.log_text(iteration)?;
    let lines: Vec<String> = text.lines().map(clean).collect();
    if lines.iter().all(|l| l.trim().is_empty()) {
        return Ok(format!("the training log of iteration {number} is empty"));
    }
    Ok(match mode {
        "errors" => errors(number, &lines, limit),
        "metrics" => metrics(number, &lines, limit),
        _ => {
            let from = lines.len().saturating_sub(limit);
            format!(
                "last {} lines of the training log of iteration {number}:\n{}\n",
                lines.len() - from,
                lines[from..].join("\n")
            )
        }
    })
}

/// A progress bar rewrites its line with `\r`: only the last state is worth showing.
fn clean(line: &str) -> String {
    let line = line.trim_end_matches('\r');
    let last = line.rsplit('\r').next().unwrap_or(line);
    super::clip_line(last, MAX_LOG_LINE_CHARS)
}

/// Error lines with a little context; a Python traceback is kept whole through its final
/// exception line. Groups are separated by `--`; the first `limit` lines are kept, since the
/// first failure is usually the cause of the rest.
pub(crate) fn errors(number: u32, lines: &[String], limit: usize) -> String {
    let Some(pattern) = ERROR_LINE.as_ref() else {
        return "error patterns unavailable".to_string();
    };
    let mut keep = vec![false; lines.len()];
    let mut found = 0;
    for (i, line) in lines.iter().enumerate() {
        if !pattern.is_match(line) {
            continue;
        }
        found += 1;
        let mut end = (i + CONTEXT_AFTER).min(lines.len() - 1);
        if line.trim_start().starts_with("Traceback") {
            // The traceback ends at its first unindented line after the header: the exception.
            let last = lines[i + 1..]
                .iter()
                .take(MAX_TRACEBACK)
                .position(|l| !l.is_empty() && !l.starts_with([' ', '\t']))
                .map_or(i + MAX_TRACEBACK.min(lines.len() - 1 - i), |p| i + 1 + p);
            end = end.max(last);
        }
        for flag in &mut keep[i.saturating_sub(CONTEXT_BEFORE)..=end] {
            *flag = true;
        }
    }
    if found == 0 {
        return format!("no error lines in the last {} lines of the training log of iteration {number}\n", lines.len());
    }
    let mut out = Vec::new();
    let mut shown = 0;
    let mut cut = false;
    for (i, line) in lines.iter().enumerate() {
        if !keep[i] {
            continue;
        }
        if shown >= limit {
            cut = true;
            break;
        }
        if i > 0 && !keep[i - 1] && !out.is_empty() {
            out.push("--".to_string());
        }
        out.push(line.clone());
        shown += 1;
    }
    let mut text = format!(
        "{found} error lines in the last {} lines of the training log of iteration {number} (with context):\n{}\n",
        lines.len(),
        out.join("\n")
    );
    if cut {
        text.push_str(&format!("[stopped at {limit} lines; use mode \"tail\" or a larger `lines` for more]\n"));
    }
    text
}

/// The last `limit` lines that look like metric prints.
pub(crate) fn metrics(number: u32, lines: &[String], limit: usize) -> String {
    let Some(pattern) = METRIC_LINE.as_ref() else {
        return "metric patterns unavailable".to_string();
    };
    let matching: Vec<&String> = lines.iter().filter(|l| pattern.is_match(l)).collect();
    if matching.is_empty() {
        return format!("no metric lines (name=value or name: value) in the training log of iteration {number}\n");
    }
    let from = matching.len().saturating_sub(limit);
    let shown: Vec<&str> = matching[from..].iter().map(|l| l.as_str()).collect();
    format!(
        "last {} of {} metric lines in the training log of iteration {number}:\n{}\n",
        shown.len(),
        matching.len(),
        shown.join("\n")
    )
}

pub fn get_history(ws: &Workspace<'_>, value: &Value) -> Result<String, String> {
    let args = Args::new("get_history", value, &["last"])?;
    let last = args.integer("last", 1, MAX_HISTORY)?.and_then(|n| usize::try_from(n).ok());
    let history = ws.history.history(last);
    let text = serde_json::to_string_pretty(&history).map_err(|e| format!("cannot show the history: {e}"))?;
    if text.len() > super::MAX_OUTPUT_BYTES {
        return Ok(format!(
            "{}\n[history cut at 64 KiB; ask for fewer iterations with `last`]",
            &text[..floor_boundary(&text, super::MAX_OUTPUT_BYTES - 100)]
        ));
    }
    Ok(text)
}

fn floor_boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}
