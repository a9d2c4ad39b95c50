//! Bedrock's Converse API as the fake speaks it: `POST /model/{modelId}/converse`, every
//! request's SigV4 signature verified with the test's credentials (computed from the
//! specification by `sigv4`, not by the `aws-sigv4` crate Revis signs with; a wrong key, a
//! changed body, a stale date or a missing session token is refused as AWS refuses it), strict
//! checks of the
//! messages, tool config and tool results, and the Converse response and error shapes
//! (`x-amzn-ErrorType` and `{"message": …}`).
//! Must not: accept a request the real API would reject, or answer in any other shape.

use std::time::SystemTime;

use serde_json::{Value, json};

use super::provider::{IssuedCall, ToolResultSeen, Violation};
use super::sigv4;
use revis_fixtures::http::HttpRequest;

/// The credentials and region the fake expects requests to be signed with.
#[derive(Debug, Clone)]
pub struct Signer {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
    pub region: String,
}

/// The model id of a Converse path (percent-decoded).
pub fn path_model(path: &str) -> Option<String> {
    let encoded = path.strip_prefix("/model/")?.strip_suffix("/converse")?;
    let mut out = Vec::new();
    let bytes = encoded.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok().filter(|m| !m.is_empty())
}

/// Verifies the request's SigV4 signature as AWS does, by computing it again from the
/// specification (`sigv4`).
pub fn verify(signer: &Signer, req: &HttpRequest, now: SystemTime) -> Result<(), Violation> {
    let denied = |message: String| Violation::new(403, message);
    let auth = req.header("authorization").ok_or_else(|| denied("Missing Authentication Token".into()))?;
    let rest = auth
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or_else(|| denied(format!("Authorization header requires the AWS4-HMAC-SHA256 scheme, got {auth:?}")))?;
    let field = |name: &str| rest.split(',').map(str::trim).find_map(|p| p.strip_prefix(name));
    let (credential, signed, signature) = match (field("Credential="), field("SignedHeaders="), field("Signature=")) {
        (Some(c), Some(h), Some(s)) => (c, h, s),
        _ => {
            return Err(denied(format!(
                "Authorization header requires Credential, SignedHeaders and Signature: {auth}"
            )));
        }
    };
    let date = req.header("x-amz-date").ok_or_else(|| denied("Missing x-amz-date".into()))?;
    let scope =
        format!("{}/{}/{}/bedrock/aws4_request", signer.access_key_id, date.get(..8).unwrap_or(""), signer.region);
    if credential != scope {
        return Err(denied(format!(
            "The security token included in the request is invalid (credential {credential}, expected {scope})"
        )));
    }
    let at = chrono::NaiveDateTime::parse_from_str(date, "%Y%m%dT%H%M%SZ")
        .map_err(|e| denied(format!("bad x-amz-date {date:?}: {e}")))?
        .and_utc();
    let at: SystemTime = at.into();
    let skew = now.duration_since(at).unwrap_or_else(|e| e.duration());
    if skew.as_secs() > 300 {
        return Err(denied("Signature expired: the request time is more than 5 minutes off".into()));
    }
    if req.header("x-amz-security-token") != signer.session_token.as_deref() {
        return Err(denied("The security token included in the request is invalid".into()));
    }
    for required in ["host", "x-amz-date"] {
        if !signed.split(';').any(|name| name == required) {
            return Err(denied(format!("'{required}' must be a signed header: SignedHeaders={signed}")));
        }
    }
    if signer.session_token.is_some() && !signed.split(';').any(|name| name == "x-amz-security-token") {
        return Err(denied("The security token must be signed (x-amz-security-token in SignedHeaders)".into()));
    }
    let received = sigv4::Received { method: &req.method, target: &req.path, headers: &req.headers, body: &req.body };
    let canonical = sigv4::canonical_request(&received, signed).map_err(denied)?;
    let scope = sigv4::Scope {
        secret_access_key: &signer.secret_access_key,
        date: date.get(..8).unwrap_or(""),
        region: &signer.region,
        service: "bedrock",
    };
    if sigv4::signature(&scope, date, &canonical) != signature {
        return Err(denied(
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.".into(),
        ));
    }
    Ok(())
}

pub fn validate(signer: &Signer, req: &HttpRequest, body: Option<&Value>) -> Vec<Violation> {
    let mut v = Vec::new();
    if req.method != "POST" || path_model(&req.path).is_none() {
        v.push(Violation::new(404, format!("{} {}: unknown operation", req.method, req.path)));
        return v;
    }
    if let Err(denied) = verify(signer, req, SystemTime::now()) {
        v.push(denied);
        return v;
    }
    let Some(Value::Object(obj)) = body else {
        v.push(Violation::new(400, "Malformed input request, please reformat your input and try again."));
        return v;
    };
    let mut problems = Vec::new();
    for key in obj.keys() {
        if !["messages", "system", "inferenceConfig", "toolConfig", "additionalModelRequestFields"]
            .contains(&key.as_str())
        {
            problems.push(format!("Unknown field {key}"));
        }
    }
    if let Some(max) = obj.get("inferenceConfig").and_then(|c| c.get("maxTokens"))
        && max.as_u64().is_none_or(|n| n < 1)
    {
        problems.push(format!("inferenceConfig.maxTokens: must be at least 1, got {max}"));
    }
    if let Some(system) = obj.get("system")
        && !system.as_array().is_some_and(|s| s.iter().all(|b| b["text"].as_str().is_some_and(|t| !t.is_empty())))
    {
        problems.push("system: a list of non-empty text blocks is required".into());
    }
    let mut names = Vec::new();
    if let Some(config) = obj.get("toolConfig") {
        for (i, tool) in config["tools"].as_array().into_iter().flatten().enumerate() {
            let spec = &tool["toolSpec"];
            match spec["name"].as_str() {
                Some(name) if super::provider::is_tool_name(name) => names.push(name.to_string()),
                other => problems.push(format!("toolConfig.tools.{i}.toolSpec.name: invalid {other:?}")),
            }
            if !spec.pointer("/inputSchema/json").is_some_and(Value::is_object) {
                problems
                    .push(format!("toolConfig.tools.{i}.toolSpec.inputSchema.json: a JSON Schema object is required"));
            }
        }
        if names.is_empty() {
            problems.push("toolConfig.tools: at least one tool is required".into());
        }
        // As Bedrock answers a model that cannot be forced to call a tool.
        let model = path_model(&req.path).unwrap_or_default();
        let id = model
            .split_once('.')
            .filter(|(region, _)| ["us", "eu", "apac", "jp", "au", "global", "us-gov"].contains(region));
        let id = id.map_or(model.as_str(), |(_, rest)| rest);
        let forcible = ["anthropic.claude", "mistral.mistral-large", "amazon.nova"].iter().any(|f| id.starts_with(f));
        if config.get("toolChoice").is_some() && !forcible {
            problems.push("This model doesn't support the toolChoice field. Remove toolChoice and try again.".into());
        }
        match config.get("toolChoice") {
            None => {}
            Some(c) if c.get("auto").is_some() || c.get("any").is_some() => {}
            Some(c)
                if c.pointer("/tool/name").and_then(Value::as_str).is_some_and(|n| names.iter().any(|x| x == n)) => {}
            Some(other) => problems.push(format!("toolConfig.toolChoice: invalid {other}")),
        }
    }
    check_messages(obj.get("messages"), &mut problems);
    v.extend(problems.into_iter().map(|p| Violation::new(400, p)));
    v
}

fn check_messages(messages: Option<&Value>, problems: &mut Vec<String>) {
    let Some(messages) = messages.and_then(Value::as_array).filter(|m| !m.is_empty()) else {
        problems.push("messages: at least one message is required".into());
        return;
    };
    let mut open: Vec<String> = Vec::new();
    let mut expected = "user";
    for (i, m) in messages.iter().enumerate() {
        let role = m["role"].as_str().unwrap_or_default();
        if role != expected {
            problems.push(format!(
                "A conversation must alternate between user and assistant roles (messages.{i} is {role:?})"
            ));
        }
        expected = if role == "user" { "assistant" } else { "user" };
        let content = m["content"].as_array().cloned().unwrap_or_default();
        if content.is_empty() {
            problems.push(format!("messages.{i}.content: must not be empty"));
        }
        let results: Vec<String> = content
            .iter()
            .filter_map(|b| b.pointer("/toolResult/toolUseId").and_then(Value::as_str))
            .map(str::to_string)
            .collect();
        if role == "user" {
            if results.len() != open.len() || !open.iter().all(|id| results.contains(id)) {
                problems.push(format!(
                    "messages.{i}: the toolResult blocks {results:?} must answer the toolUse blocks {open:?} of the previous turn"
                ));
            }
            for b in content.iter().filter_map(|b| b.get("toolResult")) {
                if !matches!(b["status"].as_str(), None | Some("success" | "error")) || !b["content"].is_array() {
                    problems.push(format!("messages.{i}: invalid toolResult {b}"));
                }
            }
            open.clear();
        } else {
            open = content
                .iter()
                .filter_map(|b| b.get("toolUse"))
                .map(|u| {
                    if !u["input"].is_object() {
                        problems.push(format!("messages.{i}: toolUse.input must be an object"));
                    }
                    u["toolUseId"].as_str().unwrap_or_default().to_string()
                })
                .collect();
        }
    }
}

/// The exception AWS names for an error status.
pub fn error_type(status: u16) -> &'static str {
    match status {
        400 => "ValidationException",
        403 => "AccessDeniedException",
        404 => "ResourceNotFoundException",
        408 => "ModelTimeoutException",
        424 => "ModelErrorException",
        429 => "ThrottlingException",
        503 => "ServiceUnavailableException",
        _ => "InternalServerException",
    }
}

pub fn error_body(message: &str) -> Value {
    json!({"message": message})
}

pub fn call_id(n: u64) -> String {
    format!("tooluse_Fake{n:012}")
}

pub fn success_body(n: u64, text: &str, calls: &[IssuedCall], input: u64, output: u64) -> Value {
    let mut content = Vec::new();
    if !text.is_empty() {
        content.push(json!({"text": text}));
    }
    for c in calls {
        let input = c.json.clone().unwrap_or_else(|| json!({}));
        content.push(json!({"toolUse": {"toolUseId": c.id, "name": c.name, "input": input}}));
    }
    json!({
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": if calls.is_empty() { "end_turn" } else { "tool_use" },
        "usage": {"inputTokens": input, "outputTokens": output, "totalTokens": input + output},
        "metrics": {"latencyMs": 100 + n}
    })
}

/// The tool results of the request's last message.
pub fn tool_results(body: &Value) -> Vec<ToolResultSeen> {
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let mut names = std::collections::HashMap::new();
    for m in &messages {
        for u in m["content"].as_array().into_iter().flatten().filter_map(|b| b.get("toolUse")) {
            names.insert(
                u["toolUseId"].as_str().unwrap_or_default().to_string(),
                u["name"].as_str().unwrap_or_default().to_string(),
            );
        }
    }
    let Some(last) = messages.last() else { return Vec::new() };
    last["content"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|b| b.get("toolResult"))
        .map(|r| {
            let id = r["toolUseId"].as_str().unwrap_or_default().to_string();
            let content = r["content"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["text"].as_str())
                .collect::<Vec<_>>()
                .join("\n");
            ToolResultSeen {
                name: names.get(&id).cloned(),
                call_id: id,
                content,
                is_error: Some(r["status"] == "error"),
            }
        })
        .collect()
}

pub fn system_text(body: &Value) -> String {
    body["system"].as_array().into_iter().flatten().filter_map(|b| b["text"].as_str()).collect::<Vec<_>>().join("\n")
}
