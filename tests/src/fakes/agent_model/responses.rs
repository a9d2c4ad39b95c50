//! The OpenAI Responses API for the agent model, as codex uses it: `POST /v1/responses` with
//! `stream: true` and `store: false` (the whole history in `input` every time), answered by SSE
//! (`response.created`, `response.output_item.added`, text or argument deltas,
//! `response.output_item.done`, `response.completed` with usage). The model reads the file with
//! the shell tool codex offers (`exec_command`, `shell_command` or `shell`, whichever is in
//! `tools`), edits it with the `apply_patch` tool when offered (freeform or function) or else an
//! `apply_patch` heredoc through the shell tool, then sums up.

use serde_json::{Value, json};

use super::sse::{EventStream, halves};
use super::{Answered, Ctx, EditTask, Mode, NO_OP_TEXT, Turn, Usage};
use revis_fixtures::http::HttpResponse;

pub(super) fn answer(ctx: &Ctx<'_>, violations: &mut Vec<String>) -> Answered {
    check(ctx.body, violations);
    let turn = decide(ctx);
    let usage = ctx.usage(&turn);
    let response = if ctx.stream() { stream(ctx, &turn, usage) } else { single(ctx, &turn, usage) };
    let response = response.with_header("x-request-id", &format!("req_agentfake{:06}", ctx.index));
    Answered { response, answer: turn.describe(), usage: Some(usage) }
}

/// A tool codex offers: its name and the properties of its parameters (empty for freeform).
struct Tool {
    name: String,
    freeform: bool,
    properties: Value,
}

fn tools(body: &Value) -> Vec<Tool> {
    body["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["type"] == "function" || t["type"] == "custom")
        .map(|t| Tool {
            name: t["name"].as_str().unwrap_or_default().to_string(),
            freeform: t["type"] == "custom",
            properties: t["parameters"]["properties"].clone(),
        })
        .collect()
}

/// A call of the shell tool running `command`, with the argument shape the tool declares.
fn shell_call(tool: &Tool, command: &str) -> Turn {
    let input = if tool.properties.get("cmd").is_some() {
        json!({"cmd": command})
    } else if tool.properties["command"]["type"] == "array" {
        json!({"command": ["bash", "-lc", command]})
    } else {
        json!({"command": command})
    };
    Turn::Call { name: tool.name.clone(), input }
}

fn decide(ctx: &Ctx<'_>) -> Turn {
    if ctx.mode == Mode::NoOp {
        return Turn::Text(NO_OP_TEXT.into());
    }
    let offered = tools(ctx.body);
    let shell = offered.iter().find(|t| ["exec_command", "shell_command", "shell"].contains(&t.name.as_str()));
    let patcher = offered.iter().find(|t| t.name == "apply_patch");
    if shell.is_none() && patcher.is_none() {
        return Turn::Text("Edit a file".into());
    }
    let task: &EditTask = ctx.task;
    let mut steps = Vec::new();
    if let Some(shell) = shell.filter(|_| !task.probe.is_empty()) {
        steps.push(shell_call(shell, &format!("cat {} 2>&1; ls -laR", task.probe.join(" "))));
    }
    if let Some(shell) = shell {
        steps.push(shell_call(shell, &format!("cat {}", task.file)));
    }
    steps.push(match (patcher, shell) {
        (Some(p), _) if p.freeform => Turn::Custom { name: p.name.clone(), input: task.patch() },
        (Some(p), _) => Turn::Call { name: p.name.clone(), input: json!({"input": task.patch()}) },
        (None, Some(shell)) => shell_call(shell, &format!("apply_patch <<'PATCH'\n{}\nPATCH\n", task.patch())),
        (None, None) => unreachable!("checked above"),
    });
    let answered = answered_calls(ctx.body);
    steps.into_iter().nth(answered).unwrap_or_else(|| Turn::Text(task.summary()))
}

/// How many of the model's calls in `input` have their output there too.
fn answered_calls(body: &Value) -> usize {
    let items = body["input"].as_array().cloned().unwrap_or_default();
    let outputs: Vec<&str> = items
        .iter()
        .filter(|i| i["type"].as_str().is_some_and(|t| t.ends_with("_output")))
        .filter_map(|i| i["call_id"].as_str())
        .collect();
    items
        .iter()
        .filter(|i| is_call(i))
        .filter(|i| i["call_id"].as_str().is_some_and(|id| outputs.contains(&id)))
        .count()
}

/// The output item of `turn`, complete.
fn item(ctx: &Ctx<'_>, turn: &Turn) -> Value {
    let n = ctx.index;
    match turn {
        Turn::Text(text) => json!({
            "type": "message", "id": format!("msg_agentfake{n:06}"), "status": "completed", "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": []}]
        }),
        Turn::Call { name, input } => json!({
            "type": "function_call", "id": format!("fc_agentfake{n:06}"), "status": "completed",
            "call_id": format!("call_agentfake{n:06}"), "name": name, "arguments": input.to_string()
        }),
        Turn::Custom { name, input } => json!({
            "type": "custom_tool_call", "id": format!("ctc_agentfake{n:06}"), "status": "completed",
            "call_id": format!("call_agentfake{n:06}"), "name": name, "input": input
        }),
    }
}

fn response_object(ctx: &Ctx<'_>, status: &str, output: Vec<Value>, usage: Option<Usage>) -> Value {
    let mut r = json!({
        "id": format!("resp_agentfake{:06}", ctx.index), "object": "response", "created_at": 1_700_000_000u64 + ctx.index as u64,
        "status": status, "model": ctx.model(), "output": output, "parallel_tool_calls": true, "tool_choice": "auto",
    });
    if let Some(u) = usage {
        r["usage"] = json!({
            "input_tokens": u.input_tokens, "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": u.output_tokens, "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": u.input_tokens + u.output_tokens
        });
    }
    r
}

fn single(ctx: &Ctx<'_>, turn: &Turn, usage: Usage) -> HttpResponse {
    HttpResponse::json(200, &response_object(ctx, "completed", vec![item(ctx, turn)], Some(usage)))
}

fn stream(ctx: &Ctx<'_>, turn: &Turn, usage: Usage) -> HttpResponse {
    let mut s = EventStream::default();
    let mut seq = 0u64;
    let mut emit = |s: &mut EventStream, name: &str, mut data: Value| {
        data["type"] = json!(name);
        data["sequence_number"] = json!(seq);
        seq += 1;
        s.event(name, &data);
    };
    emit(&mut s, "response.created", json!({"response": response_object(ctx, "in_progress", vec![], None)}));
    emit(&mut s, "response.in_progress", json!({"response": response_object(ctx, "in_progress", vec![], None)}));
    let done = item(ctx, turn);
    let id = done["id"].clone();
    let mut added = done.clone();
    added["status"] = json!("in_progress");
    match turn {
        Turn::Text(text) => {
            added["content"] = json!([]);
            emit(&mut s, "response.output_item.added", json!({"output_index": 0, "item": added}));
            let part = json!({"type": "output_text", "text": "", "annotations": []});
            emit(
                &mut s,
                "response.content_part.added",
                json!({"item_id": id, "output_index": 0, "content_index": 0, "part": part}),
            );
            for delta in halves(text) {
                emit(
                    &mut s,
                    "response.output_text.delta",
                    json!({"item_id": id, "output_index": 0, "content_index": 0, "delta": delta}),
                );
            }
            emit(
                &mut s,
                "response.output_text.done",
                json!({"item_id": id, "output_index": 0, "content_index": 0, "text": text}),
            );
            let part = json!({"type": "output_text", "text": text, "annotations": []});
            emit(
                &mut s,
                "response.content_part.done",
                json!({"item_id": id, "output_index": 0, "content_index": 0, "part": part}),
            );
        }
        Turn::Call { input, .. } => {
            added["arguments"] = json!("");
            emit(&mut s, "response.output_item.added", json!({"output_index": 0, "item": added}));
            let arguments = input.to_string();
            for delta in halves(&arguments) {
                emit(
                    &mut s,
                    "response.function_call_arguments.delta",
                    json!({"item_id": id, "output_index": 0, "delta": delta}),
                );
            }
            emit(
                &mut s,
                "response.function_call_arguments.done",
                json!({"item_id": id, "output_index": 0, "arguments": arguments}),
            );
        }
        Turn::Custom { input, .. } => {
            added["input"] = json!("");
            emit(&mut s, "response.output_item.added", json!({"output_index": 0, "item": added}));
            for delta in halves(input) {
                emit(
                    &mut s,
                    "response.custom_tool_call_input.delta",
                    json!({"item_id": id, "output_index": 0, "delta": delta}),
                );
            }
            emit(
                &mut s,
                "response.custom_tool_call_input.done",
                json!({"item_id": id, "output_index": 0, "input": input}),
            );
        }
    }
    emit(&mut s, "response.output_item.done", json!({"output_index": 0, "item": done.clone()}));
    emit(&mut s, "response.completed", json!({"response": response_object(ctx, "completed", vec![done], Some(usage))}));
    s.into_response()
}

/// What the real API would refuse: no model or input, or a call without its output.
fn check(body: &Value, violations: &mut Vec<String>) {
    if body["model"].as_str().is_none_or(str::is_empty) {
        violations.push("model: a non-empty string is required".into());
    }
    let Some(items) = body["input"].as_array() else {
        if !body["input"].is_string() {
            violations.push("input: a string or a list of items is required".into());
        }
        return;
    };
    let outputs: Vec<&str> = items
        .iter()
        .filter(|i| i["type"].as_str().is_some_and(|t| t.ends_with("_output")))
        .filter_map(|i| i["call_id"].as_str())
        .collect();
    for call in items.iter().filter(|i| is_call(i)) {
        let id = call["call_id"].as_str().unwrap_or_default();
        if !outputs.contains(&id) {
            violations.push(format!("No tool output found for function call {id}."));
        }
    }
}

/// A call item that needs an output item (a `web_search_call` does not).
fn is_call(item: &Value) -> bool {
    ["function_call", "custom_tool_call", "local_shell_call"].contains(&item["type"].as_str().unwrap_or_default())
}
