//! OpenAI Chat Completions as the fake speaks it (also standing in for OpenAI-compatible servers:
//! vLLM, Ollama, llama.cpp, LiteLLM): `POST /v1/chat/completions`, Bearer auth, strict checks of
//! roles, tools (`type: function`, strict-mode schema rules) and tool messages answering every
//! call, and the response and error shapes of wire-formats.md.
//! Must not: accept a request the real API would reject, or answer in any other shape.

use serde_json::{Value, json};
use std::collections::HashSet;

use super::provider::{IssuedCall, ToolResultSeen, Violation, is_tool_name};
use revis_fixtures::http::HttpRequest;

pub const PATH: &str = "/v1/chat/completions";

/// `key`: the exact key expected, or None for a compatible server that takes any key (but a
/// client must still send one).
pub fn validate(req: &HttpRequest, body: Option<&Value>, key: Option<&str>) -> Vec<Violation> {
    let mut v = Vec::new();
    if req.method != "POST" || req.path != PATH {
        v.push(Violation::new(404, format!("{} {}: not found (the API serves POST {PATH})", req.method, req.path)));
        return v;
    }
    match (req.header("authorization").and_then(|a| a.strip_prefix("Bearer ")), key) {
        (None, _) => v.push(Violation::new(
            401,
            "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth",
        )),
        (Some(sent), Some(key)) if sent != key => v.push(Violation::new(401, "Incorrect API key provided")),
        (Some(sent), None) if sent.trim().is_empty() => v.push(Violation::new(401, "empty bearer token")),
        _ => {}
    }
    if !req.header("content-type").is_some_and(|c| c.starts_with("application/json")) {
        v.push(Violation::new(
            400,
            format!("content-type must be application/json, got {:?}", req.header("content-type")),
        ));
    }
    let Some(body) = body else {
        v.push(Violation::new(400, "We could not parse the JSON body of your request."));
        return v;
    };
    let Some(obj) = body.as_object() else {
        v.push(Violation::new(400, "body must be a JSON object"));
        return v;
    };
    let mut problems = Vec::new();
    if obj.get("model").and_then(Value::as_str).is_none_or(str::is_empty) {
        problems.push("you must provide a model parameter".to_string());
    }
    for k in ["max_tokens", "max_completion_tokens"] {
        if obj.get(k).is_some_and(|n| n.as_u64().is_none_or(|n| n < 1)) {
            problems.push(format!("{k}: a positive integer is required, got {:?}", obj.get(k)));
        }
    }
    if obj.get("stream").and_then(Value::as_bool) == Some(true) {
        problems.push("stream: the fake (and the daemon's contract) use non-streaming requests".into());
    }
    let tools = check_tools(obj.get("tools"), &mut problems);
    check_tool_choice(obj.get("tool_choice"), &tools, obj.get("tools").is_some(), &mut problems);
    check_messages(obj.get("messages"), &mut problems);
    v.extend(problems.into_iter().map(|p| Violation::new(400, p)));
    v
}

fn check_tools(tools: Option<&Value>, problems: &mut Vec<String>) -> HashSet<String> {
    let mut names = HashSet::new();
    let Some(tools) = tools else { return names };
    let Some(tools) = tools.as_array() else {
        problems.push("tools: must be an array".into());
        return names;
    };
    for (i, tool) in tools.iter().enumerate() {
        let at = format!("tools[{i}]");
        if tool.get("type").and_then(Value::as_str) != Some("function") {
            problems.push(format!("{at}.type: must be \"function\""));
        }
        let f = &tool["function"];
        match f.get("name").and_then(Value::as_str) {
            Some(name) if is_tool_name(name) => {
                if !names.insert(name.to_string()) {
                    problems.push(format!("{at}.function.name: duplicate tool name {name}"));
                }
            }
            other => problems.push(format!("{at}.function.name: must match '^[a-zA-Z0-9_-]{{1,64}}$', got {other:?}")),
        }
        if f.get("description").is_some_and(|d| !d.is_string()) {
            problems.push(format!("{at}.function.description: must be a string"));
        }
        if let Some(params) = f.get("parameters") {
            if params.get("type").and_then(Value::as_str) != Some("object") {
                problems.push(format!("{at}.function.parameters: the root schema must be of type object"));
            }
            if f.get("strict").and_then(Value::as_bool) == Some(true) {
                check_strict_schema(params, &format!("{at}.function.parameters"), problems);
            }
        }
    }
    names
}

/// Structured Outputs' rules for `strict: true`: every object lists all its properties as
/// required and sets `additionalProperties: false`; some keywords are not supported.
fn check_strict_schema(schema: &Value, at: &str, problems: &mut Vec<String>) {
    let Some(obj) = schema.as_object() else { return };
    for k in ["allOf", "not", "if", "then", "else", "dependentRequired", "dependentSchemas"] {
        if obj.contains_key(k) {
            problems.push(format!("{at}: '{k}' is not permitted in strict mode"));
        }
    }
    let is_object = match obj.get("type") {
        Some(Value::String(t)) => t == "object",
        Some(Value::Array(ts)) => ts.iter().any(|t| t == "object"),
        _ => obj.contains_key("properties"),
    };
    if is_object {
        if obj.get("additionalProperties") != Some(&Value::Bool(false)) {
            problems
                .push(format!("{at}: 'additionalProperties' is required to be supplied and to be false (strict mode)"));
        }
        let required: HashSet<&str> =
            obj.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
        if let Some(props) = obj.get("properties").and_then(Value::as_object) {
            for key in props.keys() {
                if !required.contains(key.as_str()) {
                    problems
                        .push(format!("{at}: 'required' must list every property (missing '{key}') in strict mode"));
                }
            }
            for (key, sub) in props {
                check_strict_schema(sub, &format!("{at}.properties.{key}"), problems);
            }
        }
    }
    if let Some(items) = obj.get("items") {
        check_strict_schema(items, &format!("{at}.items"), problems);
    }
    for k in ["anyOf", "oneOf"] {
        for (i, sub) in obj.get(k).and_then(Value::as_array).into_iter().flatten().enumerate() {
            check_strict_schema(sub, &format!("{at}.{k}[{i}]"), problems);
        }
    }
    for k in ["$defs", "definitions"] {
        for (name, sub) in obj.get(k).and_then(Value::as_object).into_iter().flatten() {
            check_strict_schema(sub, &format!("{at}.{k}.{name}"), problems);
        }
    }
}

fn check_tool_choice(choice: Option<&Value>, tools: &HashSet<String>, has_tools: bool, problems: &mut Vec<String>) {
    let Some(choice) = choice else { return };
    if !has_tools {
        problems.push("'tool_choice' is only allowed when 'tools' are specified".into());
    }
    match choice {
        Value::String(s) if ["auto", "none", "required"].contains(&s.as_str()) => {}
        Value::Object(_) if choice["type"] == "function" => {
            let name = choice["function"]["name"].as_str().unwrap_or_default();
            if !tools.contains(name) {
                problems.push(format!("tool_choice.function.name: {name:?} is not one of the tools"));
            }
        }
        other => problems.push(format!("tool_choice: invalid value {other}")),
    }
}

fn content_ok(content: Option<&Value>) -> bool {
    match content {
        Some(Value::String(_)) => true,
        Some(Value::Array(parts)) => {
            !parts.is_empty() && parts.iter().all(|p| p["type"] == "text" && p["text"].is_string())
        }
        _ => false,
    }
}

fn check_messages(messages: Option<&Value>, problems: &mut Vec<String>) {
    let Some(messages) = messages.and_then(Value::as_array) else {
        problems.push("messages: an array is required".into());
        return;
    };
    if messages.is_empty() {
        problems.push("messages: must contain at least one message".into());
    }
    let mut pending: Option<(usize, HashSet<String>)> = None;
    let mut seen_ids = HashSet::new();
    for (i, m) in messages.iter().enumerate() {
        let at = format!("messages[{i}]");
        let role = m.get("role").and_then(Value::as_str).unwrap_or_default();
        if role != "tool"
            && let Some((at_assistant, ids)) = pending.take()
            && !ids.is_empty()
        {
            problems.push(format!(
                "An assistant message with 'tool_calls' must be followed by tool messages responding to each \
                 'tool_call_id'. The following tool_call_ids did not have response messages: {ids:?} \
                 (assistant message {at_assistant})"
            ));
        }
        match role {
            "system" | "developer" | "user" => {
                if !content_ok(m.get("content")) {
                    problems.push(format!("{at}.content: a string or an array of text parts is required"));
                }
            }
            "assistant" => {
                let calls = m.get("tool_calls");
                let has_calls = calls.and_then(Value::as_array).is_some_and(|c| !c.is_empty());
                match m.get("content") {
                    None | Some(Value::Null) if has_calls => {}
                    c if content_ok(c) => {}
                    other => problems
                        .push(format!("{at}.content: a string is required unless tool_calls are given, got {other:?}")),
                }
                if let Some(calls) = calls {
                    let Some(calls) = calls.as_array().filter(|c| !c.is_empty()) else {
                        problems.push(format!("{at}.tool_calls: must be a non-empty array when present"));
                        continue;
                    };
                    let mut ids = HashSet::new();
                    for (j, call) in calls.iter().enumerate() {
                        let cat = format!("{at}.tool_calls[{j}]");
                        match call["id"].as_str() {
                            Some(id) if !id.is_empty() => {
                                if !seen_ids.insert(id.to_string()) {
                                    problems.push(format!("{cat}.id: duplicate tool call id {id}"));
                                }
                                ids.insert(id.to_string());
                            }
                            _ => problems.push(format!("{cat}.id: required")),
                        }
                        if call["type"] != "function" {
                            problems.push(format!("{cat}.type: must be \"function\""));
                        }
                        if !call["function"]["name"].as_str().is_some_and(is_tool_name) {
                            problems.push(format!("{cat}.function.name: invalid"));
                        }
                        if !call["function"]["arguments"].is_string() {
                            problems.push(format!(
                                "{cat}.function.arguments: must be a string (JSON text), got {}",
                                call["function"]["arguments"]
                            ));
                        }
                    }
                    pending = Some((i, ids));
                }
            }
            "tool" => {
                let id = m.get("tool_call_id").and_then(Value::as_str).unwrap_or_default();
                let answered = pending.as_mut().is_some_and(|(_, ids)| ids.remove(id));
                if !answered {
                    problems.push(format!(
                        "{at}: messages with role 'tool' must be a response to a preceeding message with \
                         'tool_calls' (tool_call_id {id:?})"
                    ));
                }
                if !content_ok(m.get("content")) {
                    problems.push(format!("{at}.content: a string is required"));
                }
            }
            other => problems.push(format!("{at}.role: invalid role {other:?}")),
        }
    }
    if let Some((at_assistant, ids)) = pending
        && !ids.is_empty()
    {
        problems.push(format!(
            "An assistant message with 'tool_calls' must be followed by tool messages responding to each \
             'tool_call_id'. The following tool_call_ids did not have response messages: {ids:?} \
             (assistant message {at_assistant})"
        ));
    }
}

pub fn error_body(status: u16, message: &str) -> Value {
    let (kind, code) = match status {
        401 => ("invalid_request_error", Value::String("invalid_api_key".into())),
        404 => ("invalid_request_error", Value::String("model_not_found".into())),
        429 => ("rate_limit_exceeded", Value::String("rate_limit_exceeded".into())),
        s if s >= 500 => ("server_error", Value::Null),
        _ => ("invalid_request_error", Value::Null),
    };
    json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
}

pub fn call_id(n: u64) -> String {
    format!("call_Fake{n:016}")
}

pub fn success_body(model: &str, n: u64, text: &str, calls: &[IssuedCall], input: u64, output: u64) -> Value {
    let tool_calls: Vec<Value> = calls
        .iter()
        .map(|c| json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.raw}}))
        .collect();
    let mut message = json!({
        "role": "assistant",
        "content": if text.is_empty() { Value::Null } else { Value::String(text.to_string()) },
        "refusal": null
    });
    if !tool_calls.is_empty() {
        message["tool_calls"] = Value::Array(tool_calls);
    }
    json!({
        "id": format!("chatcmpl-Fake{n:012}"),
        "object": "chat.completion",
        "created": 1_700_000_000u64 + n,
        "model": model,
        "choices": [{
            "index": 0,
            "message": message,
            "logprobs": null,
            "finish_reason": if calls.is_empty() { "stop" } else { "tool_calls" }
        }],
        "usage": {
            "prompt_tokens": input,
            "completion_tokens": output,
            "total_tokens": input + output,
            "prompt_tokens_details": {"cached_tokens": 0}
        }
    })
}

/// The tool messages that end this request: the answers to the last assistant turn's calls.
pub fn tool_results(body: &Value) -> Vec<ToolResultSeen> {
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let mut names = std::collections::HashMap::new();
    for m in &messages {
        for c in m["tool_calls"].as_array().into_iter().flatten() {
            names.insert(
                c["id"].as_str().unwrap_or_default().to_string(),
                c["function"]["name"].as_str().unwrap_or_default().to_string(),
            );
        }
    }
    let trailing = messages.iter().rev().take_while(|m| m["role"] == "tool").count();
    messages[messages.len() - trailing..]
        .iter()
        .map(|m| {
            let id = m["tool_call_id"].as_str().unwrap_or_default().to_string();
            let content = match &m["content"] {
                Value::String(s) => s.clone(),
                Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect::<Vec<_>>().join("\n"),
                _ => String::new(),
            };
            ToolResultSeen { name: names.get(&id).cloned(), call_id: id, content, is_error: None }
        })
        .collect()
}

/// Every system (and developer) message's text, in order.
pub fn system_text(body: &Value) -> String {
    body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["role"] == "system" || m["role"] == "developer")
        .map(|m| match &m["content"] {
            Value::String(s) => s.clone(),
            Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect::<Vec<_>>().join("\n"),
            _ => String::new(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}
