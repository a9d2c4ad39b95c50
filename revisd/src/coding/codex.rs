//! Codex: `codex exec <prompt> --json`, a stream of JSONL events on stdout. A run succeeded only
//! if it ends with `turn.completed` and reported no `turn.failed` or `error` on the way.

use std::ffi::OsString;

use serde_json::Value;

use super::agent::{Report, clip};

pub(super) fn args(prompt: &str) -> Vec<OsString> {
    ["exec", prompt, "--json", "--sandbox", "workspace-write"].into_iter().map(OsString::from).collect()
}

/// `truncated`: the start of stdout was dropped, so its first line may be half an event.
pub(super) fn read(stdout: &str, truncated: bool) -> Report {
    let events: Vec<Value> = stdout
        .lines()
        .skip(usize::from(truncated))
        .filter_map(|line| serde_json::from_str::<Value>(line.trim()).ok())
        .filter(|event| event.get("type").is_some_and(Value::is_string))
        .collect();
    if events.is_empty() {
        return Report::unparsed(format!("output has no Codex JSON events: {}", clip(stdout.trim(), 200)));
    }
    let mut report = Report { parsed: true, ..Report::default() };
    let mut tokens: Option<(u64, u64)> = None;
    let mut last_type = "";
    for event in &events {
        let kind = event["type"].as_str().unwrap_or_default();
        last_type = kind;
        match kind {
            "turn.completed" => {
                let usage = &event["usage"];
                let (input, output) = tokens.unwrap_or((0, 0));
                tokens = Some((
                    input + usage["input_tokens"].as_u64().unwrap_or(0),
                    output + usage["output_tokens"].as_u64().unwrap_or(0),
                ));
            }
            // The first error is the cause; what follows is usually its echo.
            "turn.failed" if report.error.is_none() => {
                report.error = Some(format!("turn failed: {}", message(&event["error"])));
            }
            "error" if report.error.is_none() => {
                report.error = Some(format!("reported an error: {}", message(event)));
            }
            "item.completed" => {
                if let Some(text) = agent_message(&event["item"]) {
                    report.summary = text.to_string();
                }
            }
            _ => {}
        }
    }
    report.tokens = tokens;
    if report.error.is_none() && last_type != "turn.completed" {
        report.error = Some(format!("ended without turn.completed (last event: {last_type})"));
    }
    report
}

fn message(value: &Value) -> String {
    match value.get("message").and_then(Value::as_str) {
        Some(text) => clip(text, 600),
        None => "no message".to_string(),
    }
}

/// Older releases said `item_type: assistant_message` for what is now `type: agent_message`.
fn agent_message(item: &Value) -> Option<&str> {
    let kind = item.get("type").or_else(|| item.get("item_type")).and_then(Value::as_str)?;
    matches!(kind, "agent_message" | "assistant_message").then(|| item.get("text").and_then(Value::as_str)).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = r#"{"type":"thread.started","thread_id":"t"}
{"type":"turn.started"}
{"type":"item.completed","item":{"id":"i0","type":"reasoning","text":"thinking"}}
{"type":"item.completed","item":{"id":"i1","type":"agent_message","text":"first"}}
{"type":"item.completed","item":{"id":"i2","type":"agent_message","text":"Switched to AdamW."}}
{"type":"turn.completed","usage":{"input_tokens":1200,"cached_input_tokens":100,"output_tokens":300}}
"#;

    #[test]
    fn completed_turn_is_success_with_last_agent_message() {
        let report = read(OK, false);
        assert_eq!(report.error, None);
        assert_eq!(report.summary, "Switched to AdamW.");
        assert_eq!(report.tokens, Some((1200, 300)));
        assert_eq!(report.cost_usd, None);
    }

    #[test]
    fn turn_failed_and_error_events_fail() {
        let failed =
            "{\"type\":\"turn.started\"}\n{\"type\":\"turn.failed\",\"error\":{\"message\":\"rate limited\"}}\n";
        assert_eq!(read(failed, false).error.as_deref(), Some("turn failed: rate limited"));
        let error =
            "{\"type\":\"error\",\"message\":\"stream disconnected\"}\n{\"type\":\"turn.completed\",\"usage\":{}}\n";
        assert_eq!(read(error, false).error.as_deref(), Some("reported an error: stream disconnected"));
    }

    #[test]
    fn missing_turn_completed_fails() {
        let report = read("{\"type\":\"turn.started\"}\n", false);
        assert_eq!(report.error.as_deref(), Some("ended without turn.completed (last event: turn.started)"));
    }

    #[test]
    fn noise_and_a_cut_first_line_are_skipped() {
        let cut = format!("ge\",\"type\":\"agent_message\"}}}}\nnot json\n{OK}");
        let report = read(&cut, true);
        assert_eq!(report.error, None);
        assert!(!read("plain text\n", false).parsed);
    }
}
