//! The Anthropic Messages API as the fake speaks it: `POST /v1/messages`, strict request checks
//! (headers, roles, blocks, tool_use/tool_result pairing, tool names, cache_control) and the
//! response and error shapes of wire-formats.md.
//! Must not: accept a request the real API would reject, or answer in any other shape.

use serde_json::{Value, json};
use std::collections::HashSet;

use super::provider::{IssuedCall, ToolResultSeen, Violation, is_tool_name};
use revis_fixtures::http::HttpRequest;

pub const PATH: &str = "/v1/messages";
pub const VERSION: &str = "2023-06-01";

const TOP_LEVEL: &[&str] = &[
    "model",
    "max_tokens",
    "messages",
    "system",
    "tools",
    "tool_choice",
    "metadata",
    "stop_sequences",
    "stream",
    "temperature",
    "top_k",
    "top_p",
    "thinking",
    "service_tier",
];

pub fn validate(req: &HttpRequest, body: Option<&Value>, key: &str) -> Vec<Violation> {
    let mut v = Vec::new();
    if req.method != "POST" || req.path != PATH {
        v.push(Violation::new(404, format!("{} {}: not found (the API serves POST {PATH})", req.method, req.path)));
        return v;
    }
    match req.header("x-api-key") {
        None => v.push(Violation::new(401, "x-api-key header is required")),
        Some(k) if k != key => v.push(Violation::new(401, "invalid x-api-key")),
        Some(_) => {}
    }
    if req.header("anthropic-version") != Some(VERSION) {
        v.push(Violation::new(
            400,
            format!("anthropic-version must be {VERSION}, got {:?}", req.header("anthropic-version")),
        ));
    }
    if !req.header("content-type").is_some_and(|c| c.starts_with("application/json")) {
        v.push(Violation::new(
            400,
            format!("content-type must be application/json, got {:?}", req.header("content-type")),
        ));
    }
    let Some(body) = body else {
        v.push(Violation::new(400, "body is not valid JSON"));
        return v;
    };
    let Some(obj) = body.as_object() else {
        v.push(Violation::new(400, "body must be a JSON object"));
        return v;
    };
    let mut bad = |msg: String| v.push(Violation::new(400, msg));
    for k in obj.keys() {
        if !TOP_LEVEL.contains(&k.as_str()) {
            bad(format!("{k}: Extra inputs are not permitted"));
        }
    }
    if obj.get("model").and_then(Value::as_str).is_none_or(str::is_empty) {
        bad("model: a non-empty string is required".into());
    }
    if obj.get("max_tokens").and_then(Value::as_u64).is_none_or(|n| n < 1) {
        bad(format!("max_tokens: a positive integer is required, got {:?}", obj.get("max_tokens")));
    }
    if obj.get("stream").and_then(Value::as_bool) == Some(true) {
        bad("stream: the fake (and the daemon's contract) use non-streaming requests".into());
    }
    let mut breakpoints = 0;
    let mut problems = Vec::new();
    check_system(obj.get("system"), &mut breakpoints, &mut problems);
    let tool_names = check_tools(obj.get("tools"), &mut breakpoints, &mut problems);
    check_tool_choice(obj.get("tool_choice"), &tool_names, obj.get("tools").is_some(), &mut problems);
    check_messages(obj.get("messages"), !tool_names.is_empty(), &mut breakpoints, &mut problems);
    if breakpoints > 4 {
        problems.push(format!("A maximum of 4 blocks with cache_control may be provided. Found {breakpoints}."));
    }
    for p in problems {
        bad(p);
    }
    v
}

fn check_cache_control(value: Option<&Value>, at: &str, breakpoints: &mut usize, problems: &mut Vec<String>) {
    let Some(cc) = value else { return };
    *breakpoints += 1;
    let ok = cc.get("type").and_then(Value::as_str) == Some("ephemeral")
        && cc.as_object().is_some_and(|o| o.keys().all(|k| k == "type" || k == "ttl"))
        && cc.get("ttl").is_none_or(|t| t == "5m" || t == "1h");
    if !ok {
        problems.push(format!("{at}.cache_control: must be {{\"type\":\"ephemeral\"}} (optional ttl 5m|1h), got {cc}"));
    }
}

fn check_text_block(block: &Value, at: &str, breakpoints: &mut usize, problems: &mut Vec<String>) {
    let allowed = ["type", "text", "cache_control", "citations"];
    if let Some(o) = block.as_object() {
        for k in o.keys().filter(|k| !allowed.contains(&k.as_str())) {
            problems.push(format!("{at}.{k}: Extra inputs are not permitted"));
        }
    }
    match block.get("text").and_then(Value::as_str) {
        Some(t) if !t.trim().is_empty() => {}
        Some(_) => problems.push(format!("{at}: text content blocks must contain non-whitespace text")),
        None => problems.push(format!("{at}.text: Field required")),
    }
    check_cache_control(block.get("cache_control"), at, breakpoints, problems);
}

fn check_system(system: Option<&Value>, breakpoints: &mut usize, problems: &mut Vec<String>) {
    match system {
        None | Some(Value::String(_)) => {}
        Some(Value::Array(blocks)) => {
            for (i, block) in blocks.iter().enumerate() {
                let at = format!("system.{i}");
                if block.get("type").and_then(Value::as_str) != Some("text") {
                    problems.push(format!("{at}.type: system blocks must be text blocks"));
                }
                check_text_block(block, &at, breakpoints, problems);
            }
        }
        Some(other) => problems.push(format!("system: must be a string or a list of text blocks, got {other}")),
    }
}

fn check_tools(tools: Option<&Value>, breakpoints: &mut usize, problems: &mut Vec<String>) -> HashSet<String> {
    let mut names = HashSet::new();
    let Some(tools) = tools else { return names };
    let Some(tools) = tools.as_array() else {
        problems.push("tools: must be a list".into());
        return names;
    };
    for (i, tool) in tools.iter().enumerate() {
        let at = format!("tools.{i}");
        let allowed = ["name", "description", "input_schema", "cache_control", "type"];
        if let Some(o) = tool.as_object() {
            for k in o.keys().filter(|k| !allowed.contains(&k.as_str())) {
                problems.push(format!("{at}.{k}: Extra inputs are not permitted"));
            }
        }
        match tool.get("name").and_then(Value::as_str) {
            Some(name) if is_tool_name(name) => {
                if !names.insert(name.to_string()) {
                    problems.push(format!("{at}.name: tool names must be unique ({name})"));
                }
            }
            other => problems
                .push(format!("{at}.name: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$', got {other:?}")),
        }
        if tool.get("description").is_some_and(|d| !d.is_string()) {
            problems.push(format!("{at}.description: must be a string"));
        }
        match tool.get("input_schema") {
            Some(schema) if schema.get("type").and_then(Value::as_str) == Some("object") => {}
            other => problems
                .push(format!("{at}.input_schema: a JSON schema with type \"object\" is required, got {other:?}")),
        }
        check_cache_control(tool.get("cache_control"), &at, breakpoints, problems);
    }
    names
}

fn check_tool_choice(choice: Option<&Value>, tools: &HashSet<String>, has_tools: bool, problems: &mut Vec<String>) {
    let Some(choice) = choice else { return };
    if !has_tools {
        problems.push("tool_choice may only be specified while providing tools".into());
    }
    match choice.get("type").and_then(Value::as_str) {
        Some("auto" | "any" | "none") => {}
        Some("tool") => {
            let name = choice.get("name").and_then(Value::as_str).unwrap_or_default();
            if !tools.contains(name) {
                problems.push(format!("tool_choice.name: {name:?} is not one of the tools"));
            }
        }
        _ => problems.push(format!("tool_choice: must be {{\"type\": auto|any|none|tool}}, got {choice}")),
    }
}

fn check_messages(messages: Option<&Value>, has_tools: bool, breakpoints: &mut usize, problems: &mut Vec<String>) {
    let Some(messages) = messages.and_then(Value::as_array) else {
        problems.push("messages: a list is required".into());
        return;
    };
    if messages.is_empty() {
        problems.push("messages: at least one message is required".into());
        return;
    }
    let mut seen_ids = HashSet::new();
    let mut pending: Vec<String> = Vec::new();
    let mut previous_role = "";
    for (i, message) in messages.iter().enumerate() {
        let at = format!("messages.{i}");
        if let Some(o) = message.as_object() {
            for k in o.keys().filter(|k| *k != "role" && *k != "content") {
                problems.push(format!("{at}.{k}: Extra inputs are not permitted"));
            }
        }
        let role = message.get("role").and_then(Value::as_str).unwrap_or_default();
        if role != "user" && role != "assistant" {
            problems.push(format!("{at}.role: must be user or assistant, got {role:?}"));
        }
        if i == 0 && role != "user" {
            problems.push("messages: the first message must use the user role".into());
        }
        if role == previous_role {
            problems
                .push(format!("{at}: roles must alternate between user and assistant (two {role} messages in a row)"));
        }
        previous_role = role;
        let blocks: Vec<Value> = match message.get("content") {
            Some(Value::String(s)) => {
                if s.trim().is_empty() {
                    problems.push(format!("{at}: all messages must have non-empty content"));
                }
                vec![json!({"type": "text", "text": s})]
            }
            Some(Value::Array(blocks)) if !blocks.is_empty() => blocks.clone(),
            _ => {
                problems.push(format!("{at}.content: a non-empty string or list of blocks is required"));
                Vec::new()
            }
        };
        let mut results = Vec::new();
        let mut uses = Vec::new();
        for (j, block) in blocks.iter().enumerate() {
            let bat = format!("{at}.content.{j}");
            match block.get("type").and_then(Value::as_str) {
                Some("text") if message.get("content").is_some_and(Value::is_array) => {
                    check_text_block(block, &bat, breakpoints, problems)
                }
                Some("text") => {}
                Some("tool_use") => {
                    if role != "assistant" {
                        problems.push(format!("{bat}: tool_use blocks may only appear in assistant messages"));
                    }
                    check_tool_use(block, &bat, &mut seen_ids, breakpoints, problems);
                    uses.push(block.get("id").and_then(Value::as_str).unwrap_or_default().to_string());
                }
                Some("tool_result") => {
                    if role != "user" {
                        problems.push(format!("{bat}: tool_result blocks may only appear in user messages"));
                    }
                    check_tool_result(block, &bat, breakpoints, problems);
                    results.push(block.get("tool_use_id").and_then(Value::as_str).unwrap_or_default().to_string());
                }
                other => problems.push(format!("{bat}.type: unsupported block type {other:?}")),
            }
        }
        if role == "user" {
            let expected: HashSet<&String> = pending.iter().collect();
            let got: HashSet<&String> = results.iter().collect();
            let missing: Vec<&&String> = expected.difference(&got).collect();
            let unexpected: Vec<&&String> = got.difference(&expected).collect();
            if !missing.is_empty() {
                problems.push(format!(
                    "{at}: tool_use ids were found without tool_result blocks immediately after: {missing:?}. \
                     Each tool_use block must have a corresponding tool_result block in the next message."
                ));
            }
            if !unexpected.is_empty() {
                problems.push(format!(
                    "{at}: unexpected tool_use_id found in tool_result blocks: {unexpected:?}. \
                     Each tool_result block must have a corresponding tool_use block in the previous message."
                ));
            }
            if results.len() != got.len() {
                problems.push(format!("{at}: duplicate tool_result blocks for the same tool_use_id"));
            }
            // The API wants the answers first in the message, before any text.
            if let Some(first_text) = blocks.iter().position(|b| b["type"] != "tool_result")
                && blocks.iter().skip(first_text).any(|b| b["type"] == "tool_result")
            {
                problems.push(format!("{at}: tool_result blocks must come before any other content"));
            }
            pending.clear();
        } else {
            pending = uses;
        }
    }
    if !pending.is_empty() {
        problems.push(format!("messages: the last assistant message has tool_use blocks {pending:?} without results"));
    }
    if !seen_ids.is_empty() && !has_tools {
        problems.push("Requests which include tool_use or tool_result blocks must define tools.".into());
    }
}

fn check_tool_use(
    block: &Value,
    at: &str,
    seen: &mut HashSet<String>,
    breakpoints: &mut usize,
    problems: &mut Vec<String>,
) {
    let allowed = ["type", "id", "name", "input", "cache_control"];
    if let Some(o) = block.as_object() {
        for k in o.keys().filter(|k| !allowed.contains(&k.as_str())) {
            problems.push(format!("{at}.{k}: Extra inputs are not permitted"));
        }
    }
    match block.get("id").and_then(Value::as_str) {
        Some(id) if !id.is_empty() => {
            if !seen.insert(id.to_string()) {
                problems.push(format!("{at}.id: tool_use ids must be unique ({id})"));
            }
        }
        _ => problems.push(format!("{at}.id: Field required")),
    }
    if !block.get("name").and_then(Value::as_str).is_some_and(is_tool_name) {
        problems.push(format!("{at}.name: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'"));
    }
    if !block.get("input").is_some_and(Value::is_object) {
        problems.push(format!("{at}.input: Input should be a valid dictionary, got {:?}", block.get("input")));
    }
    check_cache_control(block.get("cache_control"), at, breakpoints, problems);
}

fn check_tool_result(block: &Value, at: &str, breakpoints: &mut usize, problems: &mut Vec<String>) {
    let allowed = ["type", "tool_use_id", "content", "is_error", "cache_control"];
    if let Some(o) = block.as_object() {
        for k in o.keys().filter(|k| !allowed.contains(&k.as_str())) {
            problems.push(format!("{at}.{k}: Extra inputs are not permitted"));
        }
    }
    if block.get("tool_use_id").and_then(Value::as_str).is_none_or(str::is_empty) {
        problems.push(format!("{at}.tool_use_id: Field required"));
    }
    match block.get("content") {
        None | Some(Value::String(_)) => {}
        Some(Value::Array(parts)) => {
            for (k, part) in parts.iter().enumerate() {
                let pat = format!("{at}.content.{k}");
                if part.get("type").and_then(Value::as_str) != Some("text") {
                    problems.push(format!("{pat}.type: the fake only expects text parts in tool results"));
                }
                check_text_block(part, &pat, breakpoints, problems);
            }
        }
        Some(other) => problems.push(format!("{at}.content: must be a string or a list of blocks, got {other}")),
    }
    if block.get("is_error").is_some_and(|e| !e.is_boolean()) {
        problems.push(format!("{at}.is_error: must be a boolean"));
    }
    check_cache_control(block.get("cache_control"), at, breakpoints, problems);
}

/// The error body of the API for this status.
pub fn error_body(status: u16, message: &str, request_id: &str) -> Value {
    let kind = match status {
        400 => "invalid_request_error",
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        _ => "api_error",
    };
    json!({"type": "error", "error": {"type": kind, "message": message}, "request_id": request_id})
}

pub fn call_id(n: u64) -> String {
    format!("toolu_01Fake{n:018}")
}

pub fn success_body(model: &str, n: u64, text: &str, calls: &[IssuedCall], input: u64, output: u64) -> Value {
    let mut content = Vec::new();
    if !text.is_empty() {
        content.push(json!({"type": "text", "text": text}));
    }
    for call in calls {
        // The real API always sends an object; a raw (non-JSON) argument can only be an OpenAI
        // case, so it is sent as a string here and the request that echoes it will be refused.
        let input = call.json.clone().unwrap_or_else(|| Value::String(call.raw.clone()));
        content.push(json!({"type": "tool_use", "id": call.id, "name": call.name, "input": input}));
    }
    let stop = if calls.is_empty() { "end_turn" } else { "tool_use" };
    json!({
        "id": format!("msg_01Fake{n:020}"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": null,
        "usage": {
            "input_tokens": input,
            "output_tokens": output,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0
        }
    })
}

/// The answers to the tool calls of the last assistant turn, as sent in this request.
pub fn tool_results(body: &Value) -> Vec<ToolResultSeen> {
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let Some(last) = messages.last() else { return Vec::new() };
    let mut names = std::collections::HashMap::new();
    for m in &messages {
        for b in m["content"].as_array().into_iter().flatten() {
            if b["type"] == "tool_use" {
                names.insert(
                    b["id"].as_str().unwrap_or_default().to_string(),
                    b["name"].as_str().unwrap_or_default().to_string(),
                );
            }
        }
    }
    last["content"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|b| b["type"] == "tool_result")
        .map(|b| {
            let id = b["tool_use_id"].as_str().unwrap_or_default().to_string();
            let content = match &b["content"] {
                Value::String(s) => s.clone(),
                Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect::<Vec<_>>().join("\n"),
                _ => String::new(),
            };
            ToolResultSeen {
                name: names.get(&id).cloned(),
                call_id: id,
                content,
                is_error: Some(b["is_error"].as_bool().unwrap_or(false)),
            }
        })
        .collect()
}

/// Every system text, in order.
pub fn system_text(body: &Value) -> String {
    match &body["system"] {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks.iter().filter_map(|b| b["text"].as_str()).collect::<Vec<_>>().join("\n"),
        _ => String::new(),
    }
}
