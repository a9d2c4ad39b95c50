//! Gemini's native `generateContent` as the fake speaks it, on the Gemini API
//! (`POST /v1beta/models/{model}:generateContent`, `x-goog-api-key`) and on Vertex AI
//! (`POST /v1/projects/{p}/locations/{l}/publishers/google/models/{model}:generateContent`,
//! an OAuth bearer token): strict checks of the roles and parts, function declarations (the
//! OpenAPI-subset `parameters` refuses what the real API refuses; `parametersJsonSchema` takes
//! JSON Schema), the tool config, function responses answering the calls, and — as Gemini 3
//! does — every replayed function call must carry the `thoughtSignature` it was sent with.
//! Answers in the API's response and `google.rpc.Status` error shapes.
//! Must not: accept a request the real API would reject, or answer in any other shape.

use std::collections::HashSet;

use serde_json::{Value, json};

use super::provider::{IssuedCall, ToolResultSeen, Violation};
use revis_fixtures::http::HttpRequest;

/// Where the fake serves, and how it is authenticated.
#[derive(Debug, Clone)]
pub enum Endpoint {
    /// The Gemini API with this key in `x-goog-api-key`.
    Api { key: String },
    /// Vertex AI for this project and location, with this bearer token.
    Vertex { project: String, location: String, token: String },
}

/// The model named by the request's path, when the path is one the endpoint serves.
pub fn path_model(endpoint: &Endpoint, path: &str) -> Option<String> {
    let rest = match endpoint {
        Endpoint::Api { .. } => path.strip_prefix("/v1beta/models/")?,
        Endpoint::Vertex { project, location, .. } => {
            path.strip_prefix(&format!("/v1/projects/{project}/locations/{location}/publishers/google/models/"))?
        }
    };
    let model = rest.strip_suffix(":generateContent")?;
    (!model.is_empty() && !model.contains('/')).then(|| model.to_string())
}

/// Names a function declaration may have: a letter or `_`, then letters, digits, `_ . : -`,
/// at most 128 characters.
fn is_function_name(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    first_ok && name.len() <= 128 && chars.all(|c| c.is_ascii_alphanumeric() || "_.:-".contains(c))
}

/// Keys the OpenAPI-subset `parameters` schema refuses ("Cannot find field").
const NOT_IN_SUBSET: &[&str] = &[
    "$schema",
    "additionalProperties",
    "const",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "propertyNames",
    "multipleOf",
];

fn check_subset_schema(schema: &Value, at: &str, problems: &mut Vec<String>) {
    match schema {
        Value::Object(map) => {
            for (key, value) in map {
                if NOT_IN_SUBSET.contains(&key.as_str()) {
                    problems.push(format!(
                        "Invalid JSON payload received. Unknown name \"{key}\" at '{at}': Cannot find field."
                    ));
                }
                if key == "type" && !value.is_string() {
                    problems.push(format!("Invalid value at '{at}.type': a single type is required"));
                }
                if key != "properties" || !value.is_object() {
                    check_subset_schema(value, &format!("{at}.{key}"), problems);
                } else if let Some(props) = value.as_object() {
                    for (name, prop) in props {
                        check_subset_schema(prop, &format!("{at}.properties[{name}]"), problems);
                    }
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| check_subset_schema(item, at, problems)),
        _ => {}
    }
}

/// `signatures`: (call id, or [`call_key`] for a call sent without an id, and signature) of
/// every call the fake sent with one, so a replay without its signature is refused as Gemini 3
/// refuses it.
pub fn validate(
    endpoint: &Endpoint,
    req: &HttpRequest,
    body: Option<&Value>,
    signatures: &[(String, String)],
) -> Vec<Violation> {
    let mut v = Vec::new();
    if req.method != "POST" || path_model(endpoint, &req.path).is_none() {
        v.push(Violation::new(404, format!("{} {}: not found", req.method, req.path)));
        return v;
    }
    match endpoint {
        Endpoint::Api { key } => match req.header("x-goog-api-key") {
            None => v.push(Violation::new(
                403,
                "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
            )),
            Some(sent) if sent != key => {
                v.push(Violation::new(400, "API key not valid. Please pass a valid API key."))
            }
            Some(_) => {}
        },
        Endpoint::Vertex { token, .. } => {
            if req.header("authorization") != Some(&format!("Bearer {token}")) {
                v.push(Violation::new(
                    401,
                    "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
                ));
            }
        }
    }
    if !req.header("content-type").is_some_and(|c| c.starts_with("application/json")) {
        v.push(Violation::new(400, "content-type must be application/json"));
    }
    let Some(Value::Object(obj)) = body else {
        v.push(Violation::new(400, "Invalid JSON payload received."));
        return v;
    };
    let mut problems = Vec::new();
    for key in obj.keys() {
        if !["contents", "systemInstruction", "tools", "toolConfig", "generationConfig", "safetySettings"]
            .contains(&key.as_str())
        {
            problems.push(format!("Invalid JSON payload received. Unknown name \"{key}\": Cannot find field."));
        }
    }
    if let Some(system) = obj.get("systemInstruction")
        && !system["parts"].as_array().is_some_and(|p| !p.is_empty() && p.iter().all(|p| p["text"].is_string()))
    {
        problems.push("systemInstruction: parts of text are required".into());
    }
    let names = check_tools(obj.get("tools"), &mut problems);
    if let Some(config) = obj.get("toolConfig") {
        let mode = config.pointer("/functionCallingConfig/mode").and_then(Value::as_str);
        if !matches!(mode, Some("AUTO" | "ANY" | "NONE" | "VALIDATED")) {
            problems.push(format!("toolConfig.functionCallingConfig.mode: invalid value {mode:?}"));
        }
        if let Some(allowed) = config.pointer("/functionCallingConfig/allowedFunctionNames") {
            if !matches!(mode, Some("ANY" | "VALIDATED")) {
                problems.push("allowedFunctionNames may be set only when the mode is ANY".into());
            }
            for name in allowed.as_array().into_iter().flatten() {
                if !name.as_str().is_some_and(|n| names.contains(n)) {
                    problems.push(format!("allowedFunctionNames: {name} is not a declared function"));
                }
            }
        }
    }
    if let Some(max) = obj.get("generationConfig").and_then(|g| g.get("maxOutputTokens"))
        && max.as_u64().is_none_or(|n| n < 1)
    {
        problems.push(format!("generationConfig.maxOutputTokens: a positive integer is required, got {max}"));
    }
    check_contents(obj.get("contents"), signatures, &mut problems);
    v.extend(problems.into_iter().map(|p| Violation::new(400, p)));
    v
}

fn check_tools(tools: Option<&Value>, problems: &mut Vec<String>) -> HashSet<String> {
    let mut names = HashSet::new();
    let Some(tools) = tools else { return names };
    for (i, tool) in tools.as_array().into_iter().flatten().enumerate() {
        for (j, f) in tool["functionDeclarations"].as_array().into_iter().flatten().enumerate() {
            let at = format!("tools[{i}].function_declarations[{j}]");
            match f["name"].as_str() {
                Some(name) if is_function_name(name) => {
                    names.insert(name.to_string());
                }
                other => problems.push(format!("{at}.name: invalid function name {other:?}")),
            }
            match (f.get("parameters"), f.get("parametersJsonSchema")) {
                (Some(_), Some(_)) => problems.push(format!("{at}: parameters and parametersJsonSchema are exclusive")),
                (Some(schema), None) => check_subset_schema(schema, &format!("{at}.parameters"), problems),
                (None, Some(schema)) if !schema.is_object() => {
                    problems.push(format!("{at}.parametersJsonSchema must be a JSON Schema object"))
                }
                _ => {}
            }
        }
    }
    names
}

fn check_contents(contents: Option<&Value>, signatures: &[(String, String)], problems: &mut Vec<String>) {
    let Some(contents) = contents.and_then(Value::as_array).filter(|c| !c.is_empty()) else {
        problems.push("contents is not specified".into());
        return;
    };
    let mut open_calls: Vec<String> = Vec::new();
    for (i, content) in contents.iter().enumerate() {
        let role = content["role"].as_str().unwrap_or_default();
        let parts = content["parts"].as_array().cloned().unwrap_or_default();
        if parts.is_empty() {
            problems.push(format!("contents[{i}].parts must not be empty"));
        }
        match role {
            "user" => {
                let answered: Vec<String> =
                    parts.iter().filter_map(|p| p["functionResponse"]["name"].as_str().map(str::to_string)).collect();
                for (j, p) in parts.iter().enumerate() {
                    if let Some(response) = p.get("functionResponse")
                        && !response["response"].is_object()
                    {
                        problems.push(format!("contents[{i}].parts[{j}].functionResponse.response must be an object"));
                    }
                }
                if answered.len() != open_calls.len() || !open_calls.iter().all(|c| answered.contains(c)) {
                    problems.push(format!(
                        "contents[{i}]: the function responses {answered:?} do not answer the calls {open_calls:?} of the previous turn"
                    ));
                }
                open_calls.clear();
            }
            "model" => {
                if i == 0 {
                    problems.push("contents[0] must be a user turn".into());
                }
                for (j, p) in parts.iter().enumerate() {
                    let Some(call) = p.get("functionCall") else { continue };
                    let name = call["name"].as_str().unwrap_or_default().to_string();
                    if !call["args"].is_object() && !call["args"].is_null() {
                        problems.push(format!("contents[{i}].parts[{j}].functionCall.args must be an object"));
                    }
                    // The first call of each answer was sent with a signature: it must come back.
                    let id = match call["id"].as_str() {
                        Some(id) => id.to_string(),
                        None => call_key(&name, Some(&call["args"])),
                    };
                    // A call without an id repeated in several answers has a signature from each:
                    // the replay must carry one of them.
                    let sent: Vec<&str> =
                        signatures.iter().filter(|(key, _)| *key == id).map(|(_, sig)| sig.as_str()).collect();
                    if !sent.is_empty() && !p["thoughtSignature"].as_str().is_some_and(|sig| sent.contains(&sig)) {
                        problems.push(format!(
                            "Function call is missing a thought_signature in functionCall parts (contents[{i}].parts[{j}])"
                        ));
                    }
                    open_calls.push(name);
                }
            }
            other => problems.push(format!("contents[{i}].role: invalid role {other:?}")),
        }
    }
}

pub fn status_name(status: u16) -> &'static str {
    match status {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        429 => "RESOURCE_EXHAUSTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "INTERNAL",
    }
}

pub fn error_body(status: u16, message: &str) -> Value {
    json!({"error": {"code": status, "message": message, "status": status_name(status)}})
}

pub fn call_id(n: u64) -> String {
    format!("fc-fake-{n:08}")
}

pub fn signature(n: u64) -> String {
    format!("c2lnbmF0dXJl{n:08}")
}

/// How a call sent without an id is known again when the client replays it: its name and
/// arguments.
pub fn call_key(name: &str, args: Option<&Value>) -> String {
    format!("{name}{}", args.filter(|a| !a.is_null()).cloned().unwrap_or_else(|| json!({})))
}

pub fn success_body(
    model: &str,
    n: u64,
    text: &str,
    calls: &[IssuedCall],
    input: u64,
    output: u64,
    with_ids: bool,
) -> Value {
    let mut parts = Vec::new();
    if !text.is_empty() {
        parts.push(json!({"text": text}));
    }
    for (i, c) in calls.iter().enumerate() {
        let args = c.json.clone().unwrap_or_else(|| json!({}));
        let mut part = json!({"functionCall": {"name": c.name, "args": args}});
        if with_ids {
            part["functionCall"]["id"] = json!(c.id);
        }
        // Only the first call of an answer carries the signature (parallel calls).
        if i == 0 {
            part["thoughtSignature"] = json!(signature(n));
        }
        parts.push(part);
    }
    json!({
        "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": input, "candidatesTokenCount": output, "totalTokenCount": input + output},
        "modelVersion": model,
        "responseId": format!("fake-response-{n}")
    })
}

/// The function responses of the request's last turn.
pub fn tool_results(body: &Value) -> Vec<ToolResultSeen> {
    let contents = body["contents"].as_array().cloned().unwrap_or_default();
    let Some(last) = contents.last() else { return Vec::new() };
    last["parts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p.get("functionResponse"))
        .map(|r| {
            let response = &r["response"];
            let (content, is_error) = match (response.get("output"), response.get("error")) {
                (Some(out), _) => (out.as_str().map_or_else(|| out.to_string(), str::to_string), false),
                (None, Some(err)) => (err.as_str().map_or_else(|| err.to_string(), str::to_string), true),
                _ => (response.to_string(), false),
            };
            ToolResultSeen {
                call_id: r["id"].as_str().unwrap_or_default().to_string(),
                name: r["name"].as_str().map(str::to_string),
                content,
                is_error: Some(is_error),
            }
        })
        .collect()
}

pub fn system_text(body: &Value) -> String {
    body.pointer("/systemInstruction/parts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| p["text"].as_str())
        .collect::<Vec<_>>()
        .join("\n")
}
