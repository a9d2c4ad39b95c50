//! Anthropic Messages (`POST {base}/v1/messages`): [`ChatRequest`] to the wire format and back.
//! The stable system block and the last tool carry `cache_control`, so the unchanging prefix
//! of every decision is read from the prompt cache.
//!
//! Must not: retry or time out on its own (`retry.rs`), or put the key anywhere but the
//! `x-api-key` header.

use reqwest::header::HeaderValue;
use serde_json::{Map, Value, json};

use super::chat::{
    BoxFuture, ChatRequest, ChatResponse, LlmError, LlmProvider, Message, StopReason, ToolCall, ToolChoice, Usage,
    alternating,
};
use super::google::Credential;
use super::models::{Extra, ProviderSettings, Route};
use super::retry;

const NAME: &str = "anthropic";
const VERSION: &str = "2023-06-01";

/// Claude on Vertex AI: the Messages body without `model` (it is in the path), with this
/// version in the body instead of the header.
const VERTEX_VERSION: &str = "vertex-2023-10-16";

pub struct AnthropicProvider {
    client: reqwest::Client,
    name: &'static str,
    url: String,
    key: Option<String>,
    /// Claude through Vertex AI's `rawPredict`, with a Google OAuth token.
    vertex: Option<Credential>,
    settings: ProviderSettings,
}

impl AnthropicProvider {
    pub fn new(route: &Route, settings: &ProviderSettings) -> Self {
        let (name, url, vertex) = match &route.extra {
            Extra::Vertex { project, location, credential } => (
                "vertex_ai",
                format!(
                    "{}/v1/projects/{project}/locations/{location}/publishers/anthropic/models/{}:rawPredict",
                    route.base_url, route.model
                ),
                Some(credential.clone()),
            ),
            _ => (NAME, format!("{}/v1/messages", route.base_url), None),
        };
        Self { client: crate::http::client(), name, url, key: route.key.clone(), vertex, settings: settings.clone() }
    }
}

impl LlmProvider for AnthropicProvider {
    fn name(&self) -> &'static str {
        self.name
    }

    fn complete<'a>(&'a self, request: &'a ChatRequest) -> BoxFuture<'a, Result<ChatResponse, LlmError>> {
        Box::pin(async move {
            let fatal = |message: String| LlmError::Fatal { provider: self.name, message };
            let mut body = request_body(request);
            let (header, key): (&str, Option<HeaderValue>) = match &self.vertex {
                Some(credential) => {
                    let token = credential.token(&self.client, self.settings.timeout).await.map_err(fatal)?;
                    if let Value::Object(fields) = &mut body {
                        fields.remove("model");
                        fields.insert("anthropic_version".into(), json!(VERTEX_VERSION));
                    }
                    let value =
                        crate::http::secret_header(&format!("Bearer {token}")).map_err(|e| fatal(e.to_string()))?;
                    ("authorization", Some(value))
                }
                None => {
                    let key = self.key.as_deref().map(crate::http::secret_header).transpose();
                    ("x-api-key", key.map_err(|e| fatal(e.to_string()))?)
                }
            };
            let vertex = self.vertex.is_some();
            let text = retry::send(self.name, &self.settings, &retry::SDK, || {
                let mut builder = self.client.post(&self.url).json(&body);
                if !vertex {
                    builder = builder.header("anthropic-version", VERSION);
                }
                Ok(match &key {
                    Some(key) => builder.header(header, key.clone()),
                    None => builder,
                })
            })
            .await?;
            parse_response(&text)
        })
    }
}

fn ephemeral() -> Value {
    json!({"type": "ephemeral"})
}

/// The request body for `request`.
pub fn request_body(request: &ChatRequest) -> Value {
    let mut body = Map::new();
    body.insert("model".into(), json!(request.model));
    body.insert("max_tokens".into(), json!(request.max_tokens));

    let mut system = Vec::new();
    if !request.system_stable.is_empty() {
        system.push(json!({"type": "text", "text": request.system_stable, "cache_control": ephemeral()}));
    }
    if !request.system_dynamic.is_empty() {
        system.push(json!({"type": "text", "text": request.system_dynamic}));
    }
    if !system.is_empty() {
        body.insert("system".into(), Value::Array(system));
    }

    // The API refuses `tool_choice` without tools.
    if !request.tools.is_empty() {
        let mut tools: Vec<Value> = request
            .tools
            .iter()
            .map(|t| json!({"name": t.name, "description": t.description, "input_schema": t.parameters}))
            .collect();
        if let Some(Value::Object(last)) = tools.last_mut() {
            last.insert("cache_control".into(), ephemeral());
        }
        body.insert("tools".into(), Value::Array(tools));
        let choice = match &request.tool_choice {
            ToolChoice::Auto => json!({"type": "auto"}),
            ToolChoice::Any => json!({"type": "any"}),
            ToolChoice::Tool(name) => json!({"type": "tool", "name": name}),
        };
        body.insert("tool_choice".into(), choice);
    }

    body.insert("messages".into(), Value::Array(messages(&request.messages)));
    Value::Object(body)
}

/// The messages, in alternating turns (tool results first in a user turn).
fn messages(messages: &[Message]) -> Vec<Value> {
    let turns = messages.iter().map(|message| match message {
        Message::User { text } => ("user", text_block(text).into_iter().collect()),
        Message::Assistant { text, tool_calls } => {
            let mut blocks: Vec<Value> = text_block(text).into_iter().collect();
            blocks.extend(tool_calls.iter().map(tool_use));
            ("assistant", blocks)
        }
        Message::ToolResults { results } => (
            "user",
            results
                .iter()
                .map(|r| {
                    json!({"type": "tool_result", "tool_use_id": r.call_id, "content": r.content, "is_error": r.is_error})
                })
                .collect(),
        ),
    });
    alternating(turns, |b| b["type"] == "tool_result")
        .into_iter()
        .map(|(role, blocks)| json!({"role": role, "content": blocks}))
        .collect()
}

/// Empty text blocks are refused by the API.
fn text_block(text: &str) -> Option<Value> {
    (!text.is_empty()).then(|| json!({"type": "text", "text": text}))
}

fn tool_use(call: &ToolCall) -> Value {
    // Arguments that were not a JSON object cannot be replayed as `input`: the model already
    // got a tool error for them, so an empty input keeps the conversation valid.
    let input = call.arguments.clone().unwrap_or_else(|_| json!({}));
    json!({"type": "tool_use", "id": call.id, "name": call.name, "input": input})
}

/// A 200 answer's body.
pub fn parse_response(body: &str) -> Result<ChatResponse, LlmError> {
    let bad = |message: String| LlmError::BadResponse { provider: NAME, message };
    let value: Value = serde_json::from_str(body).map_err(|e| bad(format!("not JSON: {e}")))?;
    let blocks = value
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| bad(format!("no content array in: {}", retry::error_message(body))))?;

    let mut texts = Vec::new();
    let mut tool_calls = Vec::new();
    for block in blocks {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => {
                if let Some(text) = block.get("text").and_then(Value::as_str).filter(|t| !t.is_empty()) {
                    texts.push(text);
                }
            }
            Some("tool_use") => {
                let field = |name: &str| block.get(name).and_then(Value::as_str).unwrap_or_default().to_string();
                let arguments = match block.get("input") {
                    Some(input @ Value::Object(_)) => Ok(input.clone()),
                    Some(other) => Err(other.to_string()),
                    None => Err(String::new()),
                };
                tool_calls.push(ToolCall { id: field("id"), name: field("name"), arguments, signature: None });
            }
            // Thinking and other block kinds carry nothing the agent uses.
            _ => {}
        }
    }

    let stop_reason = match value.get("stop_reason").and_then(Value::as_str) {
        Some("end_turn") => StopReason::EndTurn,
        Some("tool_use") => StopReason::ToolUse,
        Some("max_tokens") => StopReason::MaxTokens,
        Some("refusal") => StopReason::Refusal,
        _ => StopReason::Other,
    };
    let count = |name: &str| value.pointer(&format!("/usage/{name}")).and_then(Value::as_u64).unwrap_or(0);
    Ok(ChatResponse {
        model: value.get("model").and_then(Value::as_str).unwrap_or_default().to_string(),
        text: texts.join("\n"),
        tool_calls,
        stop_reason,
        usage: Usage {
            input_tokens: count("input_tokens"),
            output_tokens: count("output_tokens"),
            cache_read_tokens: count("cache_read_input_tokens"),
            cache_write_tokens: count("cache_creation_input_tokens"),
        },
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::advisor::llm::chat::{ToolResult, ToolSpec};
    use crate::advisor::llm::models::Api;
    use revis_fixtures::http::{HttpResponse, ScriptedServer};

    fn request() -> ChatRequest {
        ChatRequest {
            model: "claude-sonnet-4-5".into(),
            system_stable: "STABLE".into(),
            system_dynamic: "DYNAMIC".into(),
            messages: vec![
                Message::User { text: "decide".into() },
                Message::Assistant {
                    text: "looking".into(),
                    tool_calls: vec![
                        ToolCall {
                            id: "toolu_1".into(),
                            name: "read_file".into(),
                            arguments: Ok(json!({"path": "a.yaml"})),
                            signature: None,
                        },
                        ToolCall {
                            id: "toolu_2".into(),
                            name: "list_directory".into(),
                            arguments: Err("{oops".into()),
                            signature: None,
                        },
                    ],
                },
                Message::ToolResults {
                    results: vec![
                        ToolResult { call_id: "toolu_1".into(), content: "lr: 1".into(), is_error: false },
                        ToolResult { call_id: "toolu_2".into(), content: "bad JSON".into(), is_error: true },
                    ],
                },
                Message::User { text: "hurry".into() },
            ],
            tools: vec![
                ToolSpec {
                    name: "read_file".into(),
                    description: "Read".into(),
                    parameters: json!({"type": "object"}),
                },
                ToolSpec {
                    name: "submit_decision".into(),
                    description: "Submit".into(),
                    parameters: json!({"type": "object"}),
                },
            ],
            tool_choice: ToolChoice::Auto,
            max_tokens: 4096,
        }
    }

    #[test]
    fn request_body_has_the_exact_wire_shape() {
        let expected = json!({
            "model": "claude-sonnet-4-5",
            "max_tokens": 4096,
            "system": [
                {"type": "text", "text": "STABLE", "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": "DYNAMIC"}
            ],
            "tools": [
                {"name": "read_file", "description": "Read", "input_schema": {"type": "object"}},
                {"name": "submit_decision", "description": "Submit", "input_schema": {"type": "object"},
                 "cache_control": {"type": "ephemeral"}}
            ],
            "tool_choice": {"type": "auto"},
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "decide"}]},
                {"role": "assistant", "content": [
                    {"type": "text", "text": "looking"},
                    {"type": "tool_use", "id": "toolu_1", "name": "read_file", "input": {"path": "a.yaml"}},
                    {"type": "tool_use", "id": "toolu_2", "name": "list_directory", "input": {}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "lr: 1", "is_error": false},
                    {"type": "tool_result", "tool_use_id": "toolu_2", "content": "bad JSON", "is_error": true},
                    {"type": "text", "text": "hurry"}
                ]}
            ]
        });
        assert_eq!(request_body(&request()), expected);
    }

    #[test]
    fn tool_choice_variants_and_empty_parts_are_left_out() {
        let mut r = request();
        r.tool_choice = ToolChoice::Any;
        assert_eq!(request_body(&r)["tool_choice"], json!({"type": "any"}));
        r.tool_choice = ToolChoice::Tool("submit_decision".into());
        assert_eq!(request_body(&r)["tool_choice"], json!({"type": "tool", "name": "submit_decision"}));
        r.system_stable.clear();
        assert_eq!(request_body(&r)["system"], json!([{"type": "text", "text": "DYNAMIC"}]));
        r.system_dynamic.clear();
        r.tools.clear();
        r.messages = vec![
            Message::User { text: "a".into() },
            Message::Assistant { text: String::new(), tool_calls: vec![] },
            Message::User { text: "b".into() },
        ];
        let body = request_body(&r);
        for absent in ["system", "tools", "tool_choice"] {
            assert!(body.get(absent).is_none(), "{absent}");
        }
        assert_eq!(
            body["messages"],
            json!([{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}])
        );
    }

    #[test]
    fn response_with_text_tool_calls_and_cache_usage() {
        let body = r#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929",
            "content":[{"type":"thinking","thinking":"hm"},{"type":"text","text":"Reading."},
                {"type":"tool_use","id":"toolu_9","name":"read_file","input":{"path":"x"}},
                {"type":"tool_use","id":"toolu_10","name":"get_history","input":"weird"}],
            "stop_reason":"tool_use",
            "usage":{"input_tokens":12,"output_tokens":34,"cache_creation_input_tokens":1000,"cache_read_input_tokens":2000}}"#;
        let response = parse_response(body).unwrap();
        assert_eq!(response.model, "claude-sonnet-4-5-20250929");
        assert_eq!(response.text, "Reading.");
        assert_eq!(response.stop_reason, StopReason::ToolUse);
        assert_eq!(
            response.tool_calls,
            vec![
                ToolCall {
                    id: "toolu_9".into(),
                    name: "read_file".into(),
                    arguments: Ok(json!({"path": "x"})),
                    signature: None
                },
                ToolCall {
                    id: "toolu_10".into(),
                    name: "get_history".into(),
                    arguments: Err("\"weird\"".into()),
                    signature: None
                },
            ]
        );
        assert_eq!(
            response.usage,
            Usage { input_tokens: 12, output_tokens: 34, cache_read_tokens: 2000, cache_write_tokens: 1000 }
        );
    }

    #[test]
    fn stop_reasons_and_missing_usage() {
        for (wire, ours) in [
            ("end_turn", StopReason::EndTurn),
            ("max_tokens", StopReason::MaxTokens),
            ("refusal", StopReason::Refusal),
            ("pause_turn", StopReason::Other),
        ] {
            let body = format!(r#"{{"model":"m","content":[],"stop_reason":"{wire}"}}"#);
            let response = parse_response(&body).unwrap();
            assert_eq!(response.stop_reason, ours);
            assert_eq!(response.usage, Usage::default());
        }
        assert!(matches!(parse_response("<html>"), Err(LlmError::BadResponse { .. })));
        assert!(matches!(parse_response(r#"{"type":"error"}"#), Err(LlmError::BadResponse { .. })));
    }

    const OK: &str = r#"{"model":"claude-sonnet-4-5","content":[{"type":"text","text":"done"}],"stop_reason":"end_turn",
        "usage":{"input_tokens":1,"output_tokens":2}}"#;
    const OVERLOADED: &str = r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;

    fn provider(base: &str, max_retries: u32, timeout: Duration) -> AnthropicProvider {
        let route = Route {
            spec: "anthropic/claude-sonnet-4-5".into(),
            api: Api::Anthropic,
            model: "claude-sonnet-4-5".into(),
            base_url: base.into(),
            key: Some("sk-ant-test".into()),
            key_env: "ANTHROPIC_API_KEY".into(),
            extra: crate::advisor::llm::models::Extra::None,
        };
        AnthropicProvider::new(&route, &ProviderSettings { timeout, max_retries, backoff: Duration::from_millis(1) })
    }

    #[tokio::test]
    async fn sends_headers_and_body_to_v1_messages() {
        let server = ScriptedServer::start(vec![HttpResponse::json_text(200, OK)]);
        let response = provider(&server.base, 2, Duration::from_secs(10)).complete(&request()).await.unwrap();
        assert_eq!(response.text, "done");
        let seen = server.seen();
        assert_eq!(seen.len(), 1);
        assert_eq!((seen[0].method.as_str(), seen[0].path.as_str()), ("POST", "/v1/messages"));
        assert_eq!(seen[0].header("x-api-key"), Some("sk-ant-test"));
        assert_eq!(seen[0].header("anthropic-version"), Some("2023-06-01"));
        assert_eq!(seen[0].header("content-type"), Some("application/json"));
        assert_eq!(seen[0].json(), request_body(&request()));
    }

    #[tokio::test]
    async fn retries_429_with_retry_after_then_succeeds() {
        let limited = r#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"#;
        let server = ScriptedServer::start(vec![
            HttpResponse::json_text(429, limited).with_header("retry-after", "0"),
            HttpResponse::json_text(200, OK),
        ]);
        let response = provider(&server.base, 2, Duration::from_secs(10)).complete(&request()).await;
        assert_eq!(response.unwrap().text, "done");
        assert_eq!(server.seen().len(), 2);
    }

    #[tokio::test]
    async fn retries_529_then_500_then_succeeds() {
        let server = ScriptedServer::start(vec![
            HttpResponse::json_text(529, OVERLOADED),
            HttpResponse::json_text(500, r#"{"type":"error","error":{"type":"api_error","message":"boom"}}"#),
            HttpResponse::json_text(200, OK),
        ]);
        let response = provider(&server.base, 2, Duration::from_secs(10)).complete(&request()).await;
        assert_eq!(response.unwrap().text, "done");
        assert_eq!(server.seen().len(), 3);
    }

    #[tokio::test]
    async fn gives_up_after_max_retries_with_the_provider_message() {
        let server = ScriptedServer::start(vec![
            HttpResponse::json_text(529, OVERLOADED),
            HttpResponse::json_text(529, OVERLOADED),
            HttpResponse::json_text(200, OK),
        ]);
        let error = provider(&server.base, 1, Duration::from_secs(10)).complete(&request()).await.unwrap_err();
        assert!(
            matches!(&error, LlmError::Status { status: 529, retryable: true, message, .. } if message == "Overloaded"),
            "{error:?}"
        );
        assert_eq!(server.seen().len(), 2);
    }

    #[tokio::test]
    async fn spend_limit_is_fatal_at_once() {
        let body = r#"{"type":"error","error":{"type":"rate_limit_error","message":"spend limit","details":{"error_code":"enforced_spend_limit_reached"}}}"#;
        let server = ScriptedServer::start(vec![HttpResponse::json_text(429, body), HttpResponse::json_text(200, OK)]);
        let error = provider(&server.base, 2, Duration::from_secs(10)).complete(&request()).await.unwrap_err();
        assert!(matches!(error, LlmError::Fatal { .. }), "{error:?}");
        assert_eq!(server.seen().len(), 1);
    }

    #[tokio::test]
    async fn a_key_is_never_in_an_error() {
        let body =
            r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key sk-ant-test"}}"#;
        let server = ScriptedServer::start(vec![HttpResponse::json_text(401, body)]);
        let error = provider(&server.base, 2, Duration::from_secs(10)).complete(&request()).await.unwrap_err();
        assert!(!format!("{error} {error:?}").contains("sk-ant-test"), "{error:?}");
        assert_eq!(server.seen().len(), 1);
    }
}
