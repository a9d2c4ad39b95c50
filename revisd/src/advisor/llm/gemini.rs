//! Gemini's native `generateContent` (`POST {base}/v1beta/models/{model}:generateContent`
//! with `x-goog-api-key`), and the same body on Vertex AI
//! (`{base}/v1/projects/{p}/locations/{l}/publishers/google/models/{model}:generateContent`
//! with an OAuth bearer token). Native rather than Gemini's OpenAI-compatible endpoint: the
//! native API carries the `thoughtSignature` that Gemini 3 requires back with every function
//! call, reports cached tokens, says why it throttles (`RetryInfo`), and is the one body Vertex
//! AI serves too.
//!
//! Tool schemas go as `parametersJsonSchema` (full JSON Schema: the tools use type unions,
//! `anyOf` and `additionalProperties`, which the older OpenAPI-subset `parameters` refuses).
//!
//! Must not: retry or time out on its own (`retry.rs`), or put the key anywhere but its header.

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Map, Value, json};

use super::chat::{
    BoxFuture, ChatRequest, ChatResponse, LlmError, LlmProvider, Message, StopReason, ToolCall, ToolChoice, Usage,
    alternating,
};
use super::google::Credential;
use super::models::{Api, Extra, ProviderSettings, Route};
use super::retry::{self, Policy};

const NAME: &str = "gemini";
const VERTEX: &str = "vertex_ai";

/// Ids Revis makes up for calls the API sent without one; never sent back as an `id`.
const LOCAL_ID: &str = "revis-call-";

enum Auth {
    Key(String),
    Vertex(Credential),
}

pub struct GeminiProvider {
    client: reqwest::Client,
    name: &'static str,
    url: String,
    auth: Auth,
    settings: ProviderSettings,
}

impl GeminiProvider {
    pub fn new(route: &Route, settings: &ProviderSettings) -> Self {
        let (name, url, auth) = match (&route.api, &route.extra) {
            (Api::VertexGemini, Extra::Vertex { project, location, credential }) => (
                VERTEX,
                format!(
                    "{}/v1/projects/{project}/locations/{location}/publishers/google/models/{}:generateContent",
                    route.base_url, route.model
                ),
                Auth::Vertex(credential.clone()),
            ),
            _ => (
                NAME,
                format!("{}/v1beta/models/{}:generateContent", route.base_url, route.model),
                Auth::Key(route.key.clone().unwrap_or_default()),
            ),
        };
        Self { client: crate::http::client(), name, url, auth, settings: settings.clone() }
    }
}

impl LlmProvider for GeminiProvider {
    fn name(&self) -> &'static str {
        self.name
    }

    fn complete<'a>(&'a self, request: &'a ChatRequest) -> BoxFuture<'a, Result<ChatResponse, LlmError>> {
        Box::pin(async move {
            let fatal = |message: String| LlmError::Fatal { provider: self.name, message };
            let (header, value): (&str, HeaderValue) = match &self.auth {
                Auth::Key(key) => {
                    ("x-goog-api-key", crate::http::secret_header(key).map_err(|e| fatal(e.to_string()))?)
                }
                Auth::Vertex(credential) => {
                    let token = credential.token(&self.client, self.settings.timeout).await.map_err(fatal)?;
                    let value =
                        crate::http::secret_header(&format!("Bearer {token}")).map_err(|e| fatal(e.to_string()))?;
                    ("authorization", value)
                }
            };
            let body = request_body(request);
            let text = retry::send(self.name, &self.settings, &POLICY, || {
                Ok(self.client.post(&self.url).header(header, value.clone()).json(&body))
            })
            .await?;
            parse_response(self.name, &text)
        })
    }
}

/// google-genai's retry options: 408, 429 and 500/502/503/504, waits from 1 s doubling to
/// 60 s plus up to 1 s of jitter. One difference, on purpose: a `RetryInfo.retryDelay` the
/// API sends with a quota 429 is honoured (up to 60 s) instead of retrying into the same
/// minute's quota.
pub const POLICY: Policy = Policy { retryable, server_wait, backoff };

fn retryable(status: u16, _: &HeaderMap, _: &str) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

fn server_wait(headers: &HeaderMap, body: &str, now: SystemTime) -> Option<Duration> {
    let from_body = serde_json::from_str::<Value>(body).ok().and_then(|v| {
        let details = v.pointer("/error/details")?.as_array()?.clone();
        details.iter().find_map(|d| {
            let delay = d.get("retryDelay")?.as_str()?;
            delay.strip_suffix('s')?.parse::<f64>().ok()
        })
    });
    match from_body {
        Some(seconds) if seconds.is_finite() && seconds > 0.0 && seconds <= 60.0 => {
            Some(Duration::from_secs_f64(seconds))
        }
        _ => retry::server_wait(headers, now),
    }
}

/// google-genai's `wait_exponential_jitter(initial=1, max=60, jitter=1)`: the jitter is added
/// before the cap, as tenacity does. `base` is `ProviderSettings::backoff` (0.5 s): the SDK's
/// 1 s is twice it.
fn backoff(retries_done: u32, base: Duration, jitter: f64) -> Duration {
    let initial = base.saturating_mul(2);
    let exponential = initial.saturating_mul(2u32.saturating_pow(retries_done.min(16)));
    (exponential + initial.mul_f64(jitter.clamp(0.0, 1.0))).min(initial.saturating_mul(60))
}

/// The request body for `request`.
pub fn request_body(request: &ChatRequest) -> Value {
    let mut body = Map::new();
    let system = [request.system_stable.as_str(), request.system_dynamic.as_str()]
        .into_iter()
        .filter(|part| !part.is_empty())
        .map(|text| json!({"text": text}))
        .collect::<Vec<_>>();
    if !system.is_empty() {
        body.insert("systemInstruction".into(), json!({"parts": system}));
    }
    body.insert("contents".into(), Value::Array(contents(&request.messages)));
    if !request.tools.is_empty() {
        let declarations: Vec<Value> = request
            .tools
            .iter()
            .map(|t| json!({"name": t.name, "description": t.description, "parametersJsonSchema": t.parameters}))
            .collect();
        body.insert("tools".into(), json!([{"functionDeclarations": declarations}]));
        let config = match &request.tool_choice {
            ToolChoice::Auto => json!({"mode": "AUTO"}),
            ToolChoice::Any => json!({"mode": "ANY"}),
            ToolChoice::Tool(name) => json!({"mode": "ANY", "allowedFunctionNames": [name]}),
        };
        body.insert("toolConfig".into(), json!({"functionCallingConfig": config}));
    }
    let room = if thinks(&request.model) { THINKING_ROOM } else { 0 };
    body.insert("generationConfig".into(), json!({"maxOutputTokens": request.max_tokens.saturating_add(room)}));
    Value::Object(body)
}

/// Gemini 2.5 and 3 think before they answer, and the thinking counts against
/// `maxOutputTokens`: this much room is added so that it does not eat the answer's own budget
/// (a cut-off answer is a wasted call). Thinking is billed as output either way.
const THINKING_ROOM: u32 = 8192;

fn thinks(model: &str) -> bool {
    let id = model.rsplit('/').next().unwrap_or(model);
    id.starts_with("gemini-2.5") || id.starts_with("gemini-3")
}

/// The contents, in alternating `user` and `model` turns (function responses first).
fn contents(messages: &[Message]) -> Vec<Value> {
    let mut names: std::collections::HashMap<&str, &str> = std::collections::HashMap::new();
    let turns = messages.iter().map(|message| match message {
        Message::User { text } => ("user", text_part(text).into_iter().collect::<Vec<_>>()),
        Message::Assistant { text, tool_calls } => {
            let mut parts: Vec<Value> = text_part(text).into_iter().collect();
            for call in tool_calls {
                names.insert(&call.id, &call.name);
                parts.push(function_call(call));
            }
            ("model", parts)
        }
        Message::ToolResults { results } => (
            "user",
            results
                .iter()
                .map(|r| {
                    let name = names.get(r.call_id.as_str()).copied().unwrap_or_default();
                    let key = if r.is_error { "error" } else { "output" };
                    let mut response = json!({"name": name, "response": {key: r.content}});
                    if !r.call_id.starts_with(LOCAL_ID) {
                        response["id"] = json!(r.call_id);
                    }
                    json!({"functionResponse": response})
                })
                .collect(),
        ),
    });
    alternating(turns, |p| p.get("functionResponse").is_some())
        .into_iter()
        .map(|(role, parts)| json!({"role": role, "parts": parts}))
        .collect()
}

fn text_part(text: &str) -> Option<Value> {
    (!text.is_empty()).then(|| json!({"text": text}))
}

fn function_call(call: &ToolCall) -> Value {
    // Arguments that were not an object already got a tool error; an empty object keeps the
    // conversation valid.
    let args = call.arguments.clone().ok().filter(Value::is_object).unwrap_or_else(|| json!({}));
    let mut function = json!({"name": call.name, "args": args});
    if !call.id.starts_with(LOCAL_ID) {
        function["id"] = json!(call.id);
    }
    let mut part = json!({"functionCall": function});
    if let Some(signature) = &call.signature {
        part["thoughtSignature"] = json!(signature);
    }
    part
}

/// A 200 answer's body.
pub fn parse_response(provider: &'static str, body: &str) -> Result<ChatResponse, LlmError> {
    let bad = |message: String| LlmError::BadResponse { provider, message };
    let value: Value = serde_json::from_str(body).map_err(|e| bad(format!("not JSON: {e}")))?;
    let Some(candidate) = value.pointer("/candidates/0") else {
        // A prompt blocked by safety filters has no candidates, only feedback.
        if let Some(reason) = value.pointer("/promptFeedback/blockReason").and_then(Value::as_str) {
            return Ok(ChatResponse {
                model: model_version(&value),
                text: format!("the prompt was blocked ({reason})"),
                tool_calls: Vec::new(),
                stop_reason: StopReason::Refusal,
                usage: usage(&value),
            });
        }
        return Err(bad(format!("no candidates in: {}", retry::error_message(body))));
    };
    let mut texts = Vec::new();
    let mut tool_calls = Vec::new();
    let parts = candidate.pointer("/content/parts").and_then(Value::as_array).cloned().unwrap_or_default();
    for part in &parts {
        // Thought summaries are not the answer.
        if part.get("thought").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        if let Some(call) = part.get("functionCall") {
            let id = call
                .get("id")
                .and_then(Value::as_str)
                .filter(|id| !id.is_empty())
                .map_or_else(|| format!("{LOCAL_ID}{}", tool_calls.len()), str::to_string);
            let arguments = match call.get("args") {
                Some(args @ Value::Object(_)) => Ok(args.clone()),
                None | Some(Value::Null) => Ok(json!({})),
                Some(other) => Err(other.to_string()),
            };
            let name = call.get("name").and_then(Value::as_str).unwrap_or_default();
            let mut call = ToolCall::new(id, name, arguments);
            call.signature = part.get("thoughtSignature").and_then(Value::as_str).map(str::to_string);
            tool_calls.push(call);
        } else if let Some(text) = part.get("text").and_then(Value::as_str).filter(|t| !t.is_empty()) {
            texts.push(text.to_string());
        }
    }
    let stop_reason = match candidate.get("finishReason").and_then(Value::as_str) {
        _ if !tool_calls.is_empty() => StopReason::ToolUse,
        Some("STOP") => StopReason::EndTurn,
        Some("MAX_TOKENS") => StopReason::MaxTokens,
        Some("SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY") => {
            StopReason::Refusal
        }
        _ => StopReason::Other,
    };
    Ok(ChatResponse {
        model: model_version(&value),
        text: texts.join("\n"),
        tool_calls,
        stop_reason,
        usage: usage(&value),
    })
}

fn model_version(value: &Value) -> String {
    value.get("modelVersion").and_then(Value::as_str).unwrap_or_default().to_string()
}

/// `promptTokenCount` includes the cached tokens; thinking tokens are billed as output.
fn usage(value: &Value) -> Usage {
    let count = |name: &str| value.pointer(&format!("/usageMetadata/{name}")).and_then(Value::as_u64).unwrap_or(0);
    let cached = count("cachedContentTokenCount");
    Usage {
        input_tokens: count("promptTokenCount").saturating_sub(cached),
        output_tokens: count("candidatesTokenCount") + count("thoughtsTokenCount"),
        cache_read_tokens: cached,
        cache_write_tokens: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advisor::llm::chat::{ToolResult, ToolSpec};

    fn request() -> ChatRequest {
        let mut signed = ToolCall::new("revis-call-0", "read_file", Ok(json!({"path": "a.yaml"})));
        signed.signature = Some("sig-1".into());
        ChatRequest {
            model: "gemini-2.5-flash".into(),
            system_stable: "STABLE".into(),
            system_dynamic: "DYNAMIC".into(),
            messages: vec![
                Message::User { text: "decide".into() },
                Message::Assistant {
                    text: "looking".into(),
                    tool_calls: vec![signed, ToolCall::new("call-7", "list_directory", Err("{oops".into()))],
                },
                Message::ToolResults {
                    results: vec![
                        ToolResult { call_id: "revis-call-0".into(), content: "lr: 1".into(), is_error: false },
                        ToolResult { call_id: "call-7".into(), content: "bad JSON".into(), is_error: true },
                    ],
                },
                Message::User { text: "hurry".into() },
            ],
            tools: vec![ToolSpec {
                name: "read_file".into(),
                description: "Read".into(),
                parameters: json!({"type": "object", "additionalProperties": false}),
            }],
            tool_choice: ToolChoice::Tool("submit_decision".into()),
            max_tokens: 1000,
        }
    }

    #[test]
    fn the_body_has_system_contents_tools_and_config_in_gemini_shape() {
        let body = request_body(&request());
        assert_eq!(body["systemInstruction"], json!({"parts": [{"text": "STABLE"}, {"text": "DYNAMIC"}]}));
        let contents = body["contents"].as_array().expect("contents");
        let roles: Vec<&str> = contents.iter().map(|c| c["role"].as_str().unwrap_or_default()).collect();
        assert_eq!(roles, ["user", "model", "user"]);
        let model = &contents[1]["parts"];
        assert_eq!(model[0], json!({"text": "looking"}));
        assert_eq!(model[1]["functionCall"], json!({"name": "read_file", "args": {"path": "a.yaml"}}));
        assert_eq!(model[1]["thoughtSignature"], "sig-1");
        assert_eq!(model[2]["functionCall"], json!({"name": "list_directory", "args": {}, "id": "call-7"}));
        let user = &contents[2]["parts"];
        assert_eq!(user[0]["functionResponse"], json!({"name": "read_file", "response": {"output": "lr: 1"}}));
        assert_eq!(
            user[1]["functionResponse"],
            json!({"name": "list_directory", "id": "call-7", "response": {"error": "bad JSON"}})
        );
        assert_eq!(user[2], json!({"text": "hurry"}));
        let declaration = &body["tools"][0]["functionDeclarations"][0];
        assert_eq!(declaration["parametersJsonSchema"]["additionalProperties"], false);
        assert_eq!(
            body["toolConfig"],
            json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["submit_decision"]}})
        );
        assert_eq!(body["generationConfig"]["maxOutputTokens"], 1000 + THINKING_ROOM, "room to think");
        let older = ChatRequest { model: "gemini-2.0-flash".into(), ..request() };
        assert_eq!(request_body(&older)["generationConfig"]["maxOutputTokens"], 1000, "no thinking");
    }

    #[test]
    fn a_response_gives_text_calls_signatures_and_usage() {
        let body = json!({
            "candidates": [{"content": {"role": "model", "parts": [
                {"text": "thinking", "thought": true},
                {"text": "I will read it."},
                {"functionCall": {"name": "read_file", "args": {"path": "x"}}, "thoughtSignature": "abc"},
                {"functionCall": {"name": "get_history", "id": "fc-2"}}
            ]}, "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 120, "cachedContentTokenCount": 20,
                              "candidatesTokenCount": 30, "thoughtsTokenCount": 5, "totalTokenCount": 155},
            "modelVersion": "gemini-2.5-flash"
        });
        let response = parse_response(NAME, &body.to_string()).expect("parsed");
        assert_eq!(response.text, "I will read it.");
        assert_eq!(response.stop_reason, StopReason::ToolUse);
        assert_eq!(response.tool_calls[0].id, "revis-call-0");
        assert_eq!(response.tool_calls[0].signature.as_deref(), Some("abc"));
        assert_eq!(response.tool_calls[1].id, "fc-2");
        assert_eq!(response.tool_calls[1].arguments, Ok(json!({})));
        assert_eq!(
            response.usage,
            Usage { input_tokens: 100, output_tokens: 35, cache_read_tokens: 20, cache_write_tokens: 0 }
        );
        assert_eq!(response.model, "gemini-2.5-flash");
    }

    #[test]
    fn blocked_prompts_and_finish_reasons() {
        let blocked = json!({"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 3}});
        let response = parse_response(NAME, &blocked.to_string()).expect("parsed");
        assert_eq!(response.stop_reason, StopReason::Refusal);
        let long = json!({"candidates": [{"content": {"parts": [{"text": "…"}]}, "finishReason": "MAX_TOKENS"}]});
        assert_eq!(parse_response(NAME, &long.to_string()).expect("parsed").stop_reason, StopReason::MaxTokens);
        assert!(matches!(parse_response(NAME, "{}"), Err(LlmError::BadResponse { .. })));
    }

    #[test]
    fn the_sdk_statuses_and_the_retry_delay_are_honoured() {
        let none = HeaderMap::new();
        for status in [408, 429, 500, 502, 503, 504] {
            assert!(retryable(status, &none, ""), "{status}");
        }
        for status in [400, 401, 403, 404, 409, 501, 529] {
            assert!(!retryable(status, &none, ""), "{status}");
        }
        let quota = r#"{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED","details":[
            {"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"17s"}]}}"#;
        assert_eq!(server_wait(&none, quota, SystemTime::now()), Some(Duration::from_secs(17)));
        assert_eq!(server_wait(&none, "{}", SystemTime::now()), None);
        let base = Duration::from_millis(500);
        assert_eq!(backoff(0, base, 0.0), Duration::from_secs(1));
        assert_eq!(backoff(3, base, 0.0), Duration::from_secs(8));
        assert_eq!(backoff(10, base, 0.0), Duration::from_secs(60));
        assert_eq!(backoff(1, base, 0.5), Duration::from_millis(2500));
        assert_eq!(backoff(6, base, 0.9), Duration::from_secs(60), "the jitter is inside the 60 s cap");
    }
}
