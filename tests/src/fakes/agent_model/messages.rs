//! Anthropic Messages for the agent model: Claude Code (streaming, tools `Read` and `Edit` with
//! absolute paths) and litellm's `anthropic/…` (aider: plain text in its edit format). Answers
//! stream as SSE (`message_start`, `content_block_start/delta/stop` with `text_delta` or
//! `input_json_delta`, `message_delta` with `stop_reason` and usage, `message_stop`) when the
//! request says `stream: true`, as one JSON message otherwise.

use serde_json::{Value, json};
use std::collections::HashMap;

use super::super::anthropic;
use super::super::provider::IssuedCall;
use super::sse::{EventStream, halves};
use super::{Answered, Ctx, Mode, NO_OP_TEXT, Turn, chat};
use revis_fixtures::http::HttpResponse;

pub(super) fn answer(ctx: &Ctx<'_>, violations: &mut Vec<String>) -> Answered {
    check(ctx.body, violations);
    let (turn, answer) = decide(ctx);
    let usage = ctx.usage(&turn);
    let call_id = anthropic::call_id(ctx.index as u64);
    let response = if ctx.stream() {
        stream(ctx, &turn, &call_id, usage)
    } else {
        let (text, calls) = match &turn {
            Turn::Text(t) => (t.clone(), Vec::new()),
            Turn::Call { name, input } => (
                String::new(),
                vec![IssuedCall { id: call_id, name: name.clone(), json: Some(input.clone()), raw: input.to_string() }],
            ),
            Turn::Custom { .. } => unreachable!("Anthropic tools take JSON input"),
        };
        let body = anthropic::success_body(
            ctx.model(),
            ctx.index as u64,
            &text,
            &calls,
            usage.input_tokens,
            usage.output_tokens,
        );
        HttpResponse::json(200, &body)
    };
    let response = response.with_header("request-id", &format!("req_agentfake{:06}", ctx.index));
    Answered { response, answer, usage: Some(usage) }
}

/// The calls of the assistant turns, and the results the user turns gave them.
struct History {
    calls: Vec<(String, String)>,
    results: HashMap<String, (String, bool)>,
}

fn history(body: &Value) -> History {
    let mut h = History { calls: Vec::new(), results: HashMap::new() };
    for m in body["messages"].as_array().into_iter().flatten() {
        for b in m["content"].as_array().into_iter().flatten() {
            match b["type"].as_str() {
                Some("tool_use") => h.calls.push((
                    b["id"].as_str().unwrap_or_default().to_string(),
                    b["name"].as_str().unwrap_or_default().to_string(),
                )),
                Some("tool_result") => {
                    let content = match &b["content"] {
                        Value::String(s) => s.clone(),
                        Value::Array(parts) => {
                            parts.iter().filter_map(|p| p["text"].as_str()).collect::<Vec<_>>().join("\n")
                        }
                        _ => String::new(),
                    };
                    let id = b["tool_use_id"].as_str().unwrap_or_default().to_string();
                    h.results.insert(id, (content, b["is_error"].as_bool().unwrap_or(false)));
                }
                _ => {}
            }
        }
    }
    h
}

/// Claude Code's working directory, from its system prompt (`Primary working directory: …`).
fn working_dir(body: &Value) -> Option<String> {
    let system = anthropic::system_text(body);
    let line = system.lines().find_map(|l| l.trim().strip_prefix("- Primary working directory:"))?;
    Some(line.trim().to_string())
}

fn decide(ctx: &Ctx<'_>) -> (Turn, String) {
    let turn = match edit_format(ctx) {
        Some(answer) => return answer,
        None => tool_turn(ctx),
    };
    let label = turn.describe();
    (turn, label)
}

/// litellm (aider) sends its edit-format prompt without tools; other tool-less calls are side
/// requests (titles, summaries, probes).
fn edit_format(ctx: &Ctx<'_>) -> Option<(Turn, String)> {
    let offers_edit_tools = ctx.body["tools"].as_array().into_iter().flatten().any(|t| t["name"] == "Edit");
    if ctx.mode == Mode::NoOp || offers_edit_tools {
        return None;
    }
    Some(
        chat::edit_format_turn(&conversation(ctx.body), ctx.task)
            .unwrap_or_else(|| (Turn::Text(side_text(ctx.body)), "text (side request)".into())),
    )
}

fn tool_turn(ctx: &Ctx<'_>) -> Turn {
    let tools: Vec<&str> =
        ctx.body["tools"].as_array().into_iter().flatten().filter_map(|t| t["name"].as_str()).collect();
    if ctx.mode == Mode::NoOp {
        return Turn::Text(NO_OP_TEXT.into());
    }
    if !tools.contains(&"Read") {
        return Turn::Text(side_text(ctx.body));
    }
    let h = history(ctx.body);
    let done: Vec<&(String, String)> = h.calls.iter().filter(|(id, _)| h.results.contains_key(id)).collect();
    let task = ctx.task;
    let dir = working_dir(ctx.body);
    let absolute = |file: &str| match &dir {
        Some(dir) => format!("{}/{}", dir.trim_end_matches('/'), file),
        None => file.to_string(),
    };
    let path = absolute(&task.file);
    let mut steps: Vec<Turn> = Vec::new();
    for probe in &task.probe {
        steps.push(Turn::Call { name: "Read".into(), input: json!({"file_path": absolute(probe)}) });
    }
    steps.push(Turn::Call { name: "Read".into(), input: json!({"file_path": path}) });
    steps.push(Turn::Call {
        name: "Edit".into(),
        input: json!({"file_path": path, "old_string": task.old, "new_string": task.new}),
    });
    if let Some(step) = steps.into_iter().nth(done.len()) {
        return step;
    }
    let last = done.last().and_then(|(id, _)| h.results.get(id));
    match last {
        Some((content, true)) => Turn::Text(format!("The edit failed: {content}")),
        _ => Turn::Text(task.summary()),
    }
}

/// A short answer to a side request: a title when asked for one as JSON, else a sentence.
fn side_text(body: &Value) -> String {
    let system = anthropic::system_text(body);
    if system.contains("JSON") && system.to_ascii_lowercase().contains("title") {
        return json!({"title": "Edit a file", "isNewTopic": true}).to_string();
    }
    "Edit a file".into()
}

/// The messages as (role, text) pairs, for the edit-format dialogue of litellm clients.
fn conversation(body: &Value) -> Vec<(String, String)> {
    let mut out = vec![("system".to_string(), anthropic::system_text(body))];
    for m in body["messages"].as_array().into_iter().flatten() {
        let text = match &m["content"] {
            Value::String(s) => s.clone(),
            Value::Array(blocks) => blocks.iter().filter_map(|b| b["text"].as_str()).collect::<Vec<_>>().join("\n"),
            _ => String::new(),
        };
        out.push((m["role"].as_str().unwrap_or_default().to_string(), text));
    }
    out
}

fn stream(ctx: &Ctx<'_>, turn: &Turn, call_id: &str, usage: super::Usage) -> HttpResponse {
    let mut s = EventStream::default();
    let cache = json!({"cache_creation_input_tokens": 0, "cache_read_input_tokens": 0});
    let mut start_usage = json!({"input_tokens": usage.input_tokens, "output_tokens": 1});
    merge(&mut start_usage, &cache);
    s.event(
        "message_start",
        &json!({"type": "message_start", "message": {
            "id": format!("msg_01AgentFake{:012}", ctx.index), "type": "message", "role": "assistant",
            "model": ctx.model(), "content": [], "stop_reason": null, "stop_sequence": null, "usage": start_usage,
        }}),
    );
    s.event("ping", &json!({"type": "ping"}));
    let stop_reason = match turn {
        Turn::Text(text) => {
            s.event(
                "content_block_start",
                &json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            );
            for part in halves(text) {
                s.event(
                    "content_block_delta",
                    &json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": part}}),
                );
            }
            s.event("content_block_stop", &json!({"type": "content_block_stop", "index": 0}));
            "end_turn"
        }
        Turn::Call { name, input } => {
            s.event(
                "content_block_start",
                &json!({"type": "content_block_start", "index": 0,
                        "content_block": {"type": "tool_use", "id": call_id, "name": name, "input": {}}}),
            );
            for part in halves(&input.to_string()) {
                s.event(
                    "content_block_delta",
                    &json!({"type": "content_block_delta", "index": 0,
                            "delta": {"type": "input_json_delta", "partial_json": part}}),
                );
            }
            s.event("content_block_stop", &json!({"type": "content_block_stop", "index": 0}));
            "tool_use"
        }
        Turn::Custom { .. } => unreachable!("Anthropic tools take JSON input"),
    };
    let mut end_usage = json!({"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens});
    merge(&mut end_usage, &cache);
    s.event(
        "message_delta",
        &json!({"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": null}, "usage": end_usage}),
    );
    s.event("message_stop", &json!({"type": "message_stop"}));
    s.into_response()
}

fn merge(into: &mut Value, from: &Value) {
    if let (Some(into), Some(from)) = (into.as_object_mut(), from.as_object()) {
        for (k, v) in from {
            into.insert(k.clone(), v.clone());
        }
    }
}

/// What the real API would refuse outright: no model, no max_tokens, messages not alternating,
/// or a `tool_use` without its `tool_result` in the next message.
fn check(body: &Value, violations: &mut Vec<String>) {
    if body["model"].as_str().is_none_or(str::is_empty) {
        violations.push("model: a non-empty string is required".into());
    }
    if body["max_tokens"].as_u64().is_none_or(|n| n < 1) {
        violations.push(format!("max_tokens: a positive integer is required, got {}", body["max_tokens"]));
    }
    let Some(messages) = body["messages"].as_array().filter(|m| !m.is_empty()) else {
        violations.push("messages: a non-empty list is required".into());
        return;
    };
    let mut pending: Vec<String> = Vec::new();
    let mut previous = "";
    for (i, m) in messages.iter().enumerate() {
        let role = m["role"].as_str().unwrap_or_default();
        if role == previous {
            violations.push(format!("messages.{i}: roles must alternate (two {role} messages in a row)"));
        }
        previous = role;
        let blocks = m["content"].as_array().cloned().unwrap_or_default();
        if role == "user" {
            let answered: Vec<&str> = blocks
                .iter()
                .filter(|b| b["type"] == "tool_result")
                .filter_map(|b| b["tool_use_id"].as_str())
                .collect();
            for id in &pending {
                if !answered.contains(&id.as_str()) {
                    violations.push(format!("messages.{i}: tool_use {id} has no tool_result in the next message"));
                }
            }
            pending.clear();
        } else {
            pending = blocks
                .iter()
                .filter(|b| b["type"] == "tool_use")
                .filter_map(|b| b["id"].as_str())
                .map(str::to_string)
                .collect();
        }
    }
    if !pending.is_empty() {
        violations.push(format!("the last assistant message has tool_use blocks {pending:?} without results"));
    }
}
