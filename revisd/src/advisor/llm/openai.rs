//! OpenAI Chat Completions (`POST {base}/chat/completions`), also spoken by Ollama, vLLM,
//! llama.cpp and the LiteLLM proxy: [`ChatRequest`] to the wire format and back. Tool-call
//! arguments arrive as a JSON string that may be invalid; that becomes `Err(raw)` for the
//! agent to answer, never a failure of the call.
//!
//! Must not: retry or time out on its own (`retry.rs`), or put the key anywhere but the
//! `Authorization` header.

use reqwest::header::HeaderValue;
use serde_json::{Map, Value, json};

use super::chat::{
    BoxFuture, ChatRequest, ChatResponse, LlmError, LlmProvider, Message, StopReason, ToolCall, ToolChoice, Usage,
};
use super::models::{Extra, ProviderSettings, Route};
use super::retry;

const NAME: &str = "openai";

pub struct OpenAiProvider {
    client: reqwest::Client,
    name: &'static str,
    url: String,
    /// The header that carries the key, and its value's prefix.
    auth: (&'static str, &'static str),
    key: Option<String>,
    max_tokens_field: &'static str,
    settings: ProviderSettings,
}

impl OpenAiProvider {
    pub fn new(route: &Route, settings: &ProviderSettings) -> Self {
        let bearer = ("authorization", "Bearer ");
        let (name, url, auth, max_tokens_field) = match &route.extra {
            // Azure serves a deployment at its own path; `model` in the body is ignored there.
            Extra::Azure { api_version, entra } => (
                "azure",
                format!(
                    "{}/openai/deployments/{}/chat/completions?api-version={api_version}",
                    route.base_url, route.model
                ),
                if *entra { bearer } else { ("api-key", "") },
                azure_max_tokens_field(api_version),
            ),
            _ => (NAME, format!("{}/chat/completions", route.base_url), bearer, max_tokens_field(&route.base_url)),
        };
        Self {
            client: crate::http::client(),
            name,
            url,
            auth,
            key: route.key.clone(),
            max_tokens_field,
            settings: settings.clone(),
        }
    }
}

/// Azure takes `max_completion_tokens` (which its reasoning models require) from API version
/// 2024-09-01-preview on; older versions know only `max_tokens`. Versions are dates, so they
/// compare as text.
fn azure_max_tokens_field(api_version: &str) -> &'static str {
    if api_version >= "2024-09-01" { "max_completion_tokens" } else { "max_tokens" }
}

/// OpenAI's reasoning models (o-series, gpt-5) refuse `max_tokens`; every OpenAI model takes
/// `max_completion_tokens`. Compatible servers know only `max_tokens`.
pub fn max_tokens_field(base_url: &str) -> &'static str {
    let host = base_url.split_once("://").map_or(base_url, |(_, rest)| rest);
    if host.starts_with("api.openai.com") { "max_completion_tokens" } else { "max_tokens" }
}

impl LlmProvider for OpenAiProvider {
    fn name(&self) -> &'static str {
        self.name
    }

    fn complete<'a>(&'a self, request: &'a ChatRequest) -> BoxFuture<'a, Result<ChatResponse, LlmError>> {
        Box::pin(async move {
            let (header, prefix) = self.auth;
            let key: Option<HeaderValue> = self
                .key
                .as_deref()
                .map(|k| crate::http::secret_header(&format!("{prefix}{k}")))
                .transpose()
                .map_err(|e| LlmError::Fatal { provider: self.name, message: e.to_string() })?;
            let body = request_body(request, self.max_tokens_field);
            let text = retry::send(self.name, &self.settings, &retry::SDK, || {
                let builder = self.client.post(&self.url).json(&body);
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

/// The request body for `request`; `max_tokens_field` from [`max_tokens_field`].
pub fn request_body(request: &ChatRequest, max_tokens_field: &str) -> Value {
    let mut body = Map::new();
    body.insert("model".into(), json!(request.model));
    body.insert(max_tokens_field.into(), json!(request.max_tokens));

    let mut messages = Vec::new();
    let system = [request.system_stable.as_str(), request.system_dynamic.as_str()]
        .into_iter()
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n");
    if !system.is_empty() {
        messages.push(json!({"role": "system", "content": system}));
    }
    for message in &request.messages {
        match message {
            Message::User { text } => messages.push(json!({"role": "user", "content": text})),
            Message::Assistant { text, tool_calls } => {
                let mut assistant = Map::new();
                assistant.insert("role".into(), json!("assistant"));
                // `null` content is the documented form for a message that only calls tools.
                let content = if text.is_empty() && !tool_calls.is_empty() { Value::Null } else { json!(text) };
                assistant.insert("content".into(), content);
                // Some compatible servers refuse an empty `tool_calls` array.
                if !tool_calls.is_empty() {
                    assistant.insert("tool_calls".into(), tool_calls.iter().map(tool_call).collect());
                }
                messages.push(Value::Object(assistant));
            }
            Message::ToolResults { results } => {
                messages.extend(results.iter().map(|r| {
                    // The tool message has no error flag: the model reads it from the text.
                    let content = if r.is_error { format!("ERROR: {}", r.content) } else { r.content.clone() };
                    json!({"role": "tool", "tool_call_id": r.call_id, "content": content})
                }));
            }
        }
    }
    body.insert("messages".into(), Value::Array(messages));

    // The API refuses `tool_choice` without tools.
    if !request.tools.is_empty() {
        let tools: Vec<Value> = request
            .tools
            .iter()
            .map(|t| {
                json!({"type": "function",
                       "function": {"name": t.name, "description": t.description, "parameters": t.parameters}})
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
        let choice = match &request.tool_choice {
            ToolChoice::Auto => json!("auto"),
            ToolChoice::Any => json!("required"),
            ToolChoice::Tool(name) => json!({"type": "function", "function": {"name": name}}),
        };
        body.insert("tool_choice".into(), choice);
    }
    Value::Object(body)
}

fn tool_call(call: &ToolCall) -> Value {
    let arguments = match &call.arguments {
        Ok(value) => value.to_string(),
        // Replayed as the model sent it: it already got a tool error about it.
        Err(raw) => raw.clone(),
    };
    json!({"id": call.id, "type": "function", "function": {"name": call.name, "arguments": arguments}})
}

/// Tool arguments as the wire carries them: a JSON string (OpenAI), or an object (Ollama).
fn arguments(value: Option<&Value>) -> Result<Value, String> {
    match value {
        Some(object @ Value::Object(_)) => Ok(object.clone()),
        Some(Value::String(raw)) if raw.trim().is_empty() => Ok(json!({})),
        Some(Value::String(raw)) => match serde_json::from_str::<Value>(raw) {
            Ok(object @ Value::Object(_)) => Ok(object),
            _ => Err(raw.clone()),
        },
        None | Some(Value::Null) => Ok(json!({})),
        Some(other) => Err(other.to_string()),
    }
}

/// A 200 answer's body.
pub fn parse_response(body: &str) -> Result<ChatResponse, LlmError> {
    let bad = |message: String| LlmError::BadResponse { provider: NAME, message };
    let value: Value = serde_json::from_str(body).map_err(|e| bad(format!("not JSON: {e}")))?;
    let choice =
        value.pointer("/choices/0").ok_or_else(|| bad(format!("no choices in: {}", retry::error_message(body))))?;
    let message = choice.get("message").ok_or_else(|| bad("the choice has no message".into()))?;

    let tool_calls: Vec<ToolCall> = message
        .get("tool_calls")
        .and_then(Value::as_array)
        .map(|calls| {
            calls
                .iter()
                .enumerate()
                .map(|(index, call)| ToolCall {
                    // Some compatible servers leave the id out; the result must still name one.
                    id: call
                        .get("id")
                        .and_then(Value::as_str)
                        .filter(|id| !id.is_empty())
                        .map_or_else(|| format!("call_{index}"), str::to_string),
                    name: call.pointer("/function/name").and_then(Value::as_str).unwrap_or_default().to_string(),
                    arguments: arguments(call.pointer("/function/arguments")),
                    signature: None,
                })
                .collect()
        })
        .unwrap_or_default();

    let mut text = message.get("content").and_then(Value::as_str).unwrap_or_default().to_string();
    let refusal = message.get("refusal").and_then(Value::as_str).filter(|r| !r.is_empty());
    if let (true, Some(refusal)) = (text.is_empty(), refusal) {
        text = refusal.to_string();
    }
    let stop_reason = match choice.get("finish_reason").and_then(Value::as_str) {
        _ if refusal.is_some() => StopReason::Refusal,
        // Ollama and others report "stop" even when the message calls tools.
        _ if !tool_calls.is_empty() => StopReason::ToolUse,
        Some("stop") => StopReason::EndTurn,
        Some("tool_calls" | "function_call") => StopReason::ToolUse,
        Some("length") => StopReason::MaxTokens,
        Some("content_filter") => StopReason::Refusal,
        _ => StopReason::Other,
    };

    let count = |pointer: &str| value.pointer(pointer).and_then(Value::as_u64).unwrap_or(0);
    let cached = count("/usage/prompt_tokens_details/cached_tokens");
    Ok(ChatResponse {
        model: value.get("model").and_then(Value::as_str).unwrap_or_default().to_string(),
        text,
        tool_calls,
        stop_reason,
        usage: Usage {
            input_tokens: count("/usage/prompt_tokens").saturating_sub(cached),
            output_tokens: count("/usage/completion_tokens"),
            cache_read_tokens: cached,
            cache_write_tokens: 0,
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
            model: "gpt-4.1".into(),
            system_stable: "STABLE".into(),
            system_dynamic: "DYNAMIC".into(),
            messages: vec![
                Message::User { text: "decide".into() },
                Message::Assistant {
                    text: String::new(),
                    tool_calls: vec![
                        ToolCall {
                            id: "call_1".into(),
                            name: "read_file".into(),
                            arguments: Ok(json!({"path": "a.yaml"})),
                            signature: None,
                        },
                        ToolCall {
                            id: "call_2".into(),
                            name: "list_directory".into(),
                            arguments: Err("{oops".into()),
                            signature: None,
                        },
                    ],
                },
                Message::ToolResults {
                    results: vec![
                        ToolResult { call_id: "call_1".into(), content: "lr: 1".into(), is_error: false },
                        ToolResult { call_id: "call_2".into(), content: "bad JSON".into(), is_error: true },
                    ],
                },
                Message::Assistant { text: "thinking".into(), tool_calls: vec![] },
            ],
            tools: vec![ToolSpec {
                name: "submit_decision".into(),
                description: "Submit".into(),
                parameters: json!({"type": "object"}),
            }],
            tool_choice: ToolChoice::Auto,
            max_tokens: 2048,
        }
    }

    #[test]
    fn request_body_has_the_exact_wire_shape() {
        let expected = json!({
            "model": "gpt-4.1",
            "max_tokens": 2048,
            "messages": [
                {"role": "system", "content": "STABLE\n\nDYNAMIC"},
                {"role": "user", "content": "decide"},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "read_file", "arguments": "{\"path\":\"a.yaml\"}"}},
                    {"id": "call_2", "type": "function", "function": {"name": "list_directory", "arguments": "{oops"}}
                ]},
                {"role": "tool", "tool_call_id": "call_1", "content": "lr: 1"},
                {"role": "tool", "tool_call_id": "call_2", "content": "ERROR: bad JSON"},
                {"role": "assistant", "content": "thinking"}
            ],
            "tools": [{"type": "function", "function": {"name": "submit_decision", "description": "Submit",
                                                          "parameters": {"type": "object"}}}],
            "tool_choice": "auto"
        });
        assert_eq!(request_body(&request(), "max_tokens"), expected);
    }

    #[test]
    fn tool_choice_variants_token_field_and_empty_parts() {
        let mut r = request();
        r.tool_choice = ToolChoice::Any;
        assert_eq!(request_body(&r, "max_tokens")["tool_choice"], json!("required"));
        r.tool_choice = ToolChoice::Tool("submit_decision".into());
        assert_eq!(
            request_body(&r, "max_tokens")["tool_choice"],
            json!({"type": "function", "function": {"name": "submit_decision"}})
        );
        r.system_dynamic.clear();
        assert_eq!(request_body(&r, "max_tokens")["messages"][0], json!({"role": "system", "content": "STABLE"}));
        r.system_stable.clear();
        r.tools.clear();
        let body = request_body(&r, "max_tokens");
        assert_eq!(body["messages"][0]["role"], "user");
        assert!(body.get("tools").is_none() && body.get("tool_choice").is_none());

        assert_eq!(max_tokens_field("https://api.openai.com/v1"), "max_completion_tokens");
        assert_eq!(max_tokens_field("http://localhost:11434/v1"), "max_tokens");
        let body = request_body(&r, "max_completion_tokens");
        assert_eq!(body["max_completion_tokens"], 2048);
        assert!(body.get("max_tokens").is_none());
    }

    #[test]
    fn response_with_tool_calls_invalid_arguments_and_cached_usage() {
        let body = r#"{"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4.1-2025-04-14",
            "choices":[{"index":0,"finish_reason":"tool_calls","message":{"role":"assistant","content":null,
              "tool_calls":[
                {"id":"call_a","type":"function","function":{"name":"read_file","arguments":"{\"path\":\"x\"}"}},
                {"id":"call_b","type":"function","function":{"name":"submit_decision","arguments":"{\"action\": \"stop\""}},
                {"id":"call_c","type":"function","function":{"name":"get_history","arguments":"[1]"}},
                {"type":"function","function":{"name":"list_directory","arguments":{"path":"."}}},
                {"id":"call_e","type":"function","function":{"name":"get_history","arguments":""}}]}}],
            "usage":{"prompt_tokens":1500,"completion_tokens":40,"total_tokens":1540,
                     "prompt_tokens_details":{"cached_tokens":1024}}}"#;
        let response = parse_response(body).unwrap();
        assert_eq!(response.model, "gpt-4.1-2025-04-14");
        assert_eq!(response.text, "");
        assert_eq!(response.stop_reason, StopReason::ToolUse);
        let call =
            |id: &str, name: &str, arguments| ToolCall { id: id.into(), name: name.into(), arguments, signature: None };
        assert_eq!(
            response.tool_calls,
            vec![
                call("call_a", "read_file", Ok(json!({"path": "x"}))),
                call("call_b", "submit_decision", Err("{\"action\": \"stop\"".into())),
                call("call_c", "get_history", Err("[1]".into())),
                call("call_3", "list_directory", Ok(json!({"path": "."}))),
                call("call_e", "get_history", Ok(json!({}))),
            ]
        );
        assert_eq!(
            response.usage,
            Usage { input_tokens: 476, output_tokens: 40, cache_read_tokens: 1024, cache_write_tokens: 0 }
        );
    }

    #[test]
    fn finish_reasons_refusals_and_bad_bodies() {
        let with = |finish: &str, message: &str| {
            parse_response(&format!(
                r#"{{"model":"m","choices":[{{"finish_reason":"{finish}","message":{message}}}]}}"#
            ))
            .unwrap()
        };
        let plain = r#"{"role":"assistant","content":"hi"}"#;
        assert_eq!(with("stop", plain).stop_reason, StopReason::EndTurn);
        assert_eq!(with("stop", plain).text, "hi");
        assert_eq!(with("stop", plain).usage, Usage::default());
        assert_eq!(with("length", plain).stop_reason, StopReason::MaxTokens);
        assert_eq!(with("content_filter", plain).stop_reason, StopReason::Refusal);
        let calls = r#"{"content":"","tool_calls":[{"id":"c","function":{"name":"n","arguments":"{}"}}]}"#;
        assert_eq!(with("stop", calls).stop_reason, StopReason::ToolUse);
        let refused = with("stop", r#"{"content":null,"refusal":"I can't"}"#);
        assert_eq!((refused.stop_reason, refused.text.as_str()), (StopReason::Refusal, "I can't"));
        assert!(matches!(parse_response("nope"), Err(LlmError::BadResponse { .. })));
        let error = parse_response(r#"{"error":{"message":"context too long"}}"#).unwrap_err();
        assert!(error.to_string().contains("context too long"), "{error}");
    }

    const OK: &str = r#"{"model":"gpt-4.1","choices":[{"index":0,"finish_reason":"stop",
        "message":{"role":"assistant","content":"done"}}],"usage":{"prompt_tokens":3,"completion_tokens":1}}"#;

    fn provider(base: &str, max_retries: u32, timeout: Duration) -> OpenAiProvider {
        let route = Route {
            spec: "openai/gpt-4.1".into(),
            api: Api::OpenAi,
            model: "gpt-4.1".into(),
            base_url: base.into(),
            key: Some("sk-openai-test".into()),
            key_env: "OPENAI_API_KEY".into(),
            extra: crate::advisor::llm::models::Extra::None,
        };
        OpenAiProvider::new(&route, &ProviderSettings { timeout, max_retries, backoff: Duration::from_millis(1) })
    }

    #[tokio::test]
    async fn sends_bearer_and_body_to_chat_completions() {
        let server = ScriptedServer::start(vec![HttpResponse::json_text(200, OK)]);
        let response = provider(&server.base, 2, Duration::from_secs(10)).complete(&request()).await.unwrap();
        assert_eq!(response.text, "done");
        let seen = server.seen();
        assert_eq!((seen.len(), seen[0].method.as_str(), seen[0].path.as_str()), (1, "POST", "/chat/completions"));
        assert_eq!(seen[0].header("authorization"), Some("Bearer sk-openai-test"));
        assert_eq!(seen[0].json(), request_body(&request(), "max_tokens"));
    }

    #[tokio::test]
    async fn retries_429_with_retry_after_zero_then_succeeds() {
        let limited = r#"{"error":{"message":"Rate limit","type":"requests","code":"rate_limit_exceeded"}}"#;
        let server = ScriptedServer::start(vec![
            HttpResponse::json_text(429, limited).with_header("retry-after", "0"),
            HttpResponse::json_text(200, OK),
        ]);
        let response = provider(&server.base, 2, Duration::from_secs(10)).complete(&request()).await;
        assert_eq!(response.unwrap().text, "done");
        assert_eq!(server.seen().len(), 2);
    }

    #[tokio::test]
    async fn retries_500_then_succeeds() {
        let server = ScriptedServer::start(vec![
            HttpResponse::json_text(500, r#"{"error":{"message":"boom"}}"#),
            HttpResponse::json_text(200, OK),
        ]);
        let response = provider(&server.base, 2, Duration::from_secs(10)).complete(&request()).await;
        assert_eq!(response.unwrap().text, "done");
        assert_eq!(server.seen().len(), 2);
    }

    #[tokio::test]
    async fn does_not_retry_when_the_server_says_so() {
        let server = ScriptedServer::start(vec![
            HttpResponse::json_text(400, r#"{"error":{"message":"bad tool schema","type":"invalid_request_error"}}"#)
                .with_header("x-should-retry", "false"),
            HttpResponse::json_text(200, OK),
        ]);
        let error = provider(&server.base, 2, Duration::from_secs(10)).complete(&request()).await.unwrap_err();
        assert!(
            matches!(&error, LlmError::Status { status: 400, retryable: false, message, .. } if message == "bad tool schema"),
            "{error:?}"
        );
        assert_eq!(server.seen().len(), 1);
    }

    #[tokio::test]
    async fn a_timeout_is_retried_then_reported() {
        let server = ScriptedServer::start(vec![HttpResponse::hang(), HttpResponse::json_text(200, OK)]);
        let response = provider(&server.base, 1, Duration::from_millis(300)).complete(&request()).await;
        assert_eq!(response.unwrap().text, "done");
        assert_eq!(server.seen().len(), 2);

        let server = ScriptedServer::start(vec![HttpResponse::hang(), HttpResponse::hang()]);
        let error = provider(&server.base, 1, Duration::from_millis(300)).complete(&request()).await.unwrap_err();
        assert!(matches!(error, LlmError::Timeout { provider: "openai", .. }), "{error:?}");
        assert_eq!(server.seen().len(), 2);
    }

    #[tokio::test]
    async fn connection_refused_is_a_transport_error() {
        let base = format!("http://127.0.0.1:{}", revis_fixtures::wait::closed_port());
        let error = provider(&base, 1, Duration::from_secs(5)).complete(&request()).await.unwrap_err();
        assert!(matches!(error, LlmError::Transport { .. }), "{error:?}");
        assert!(!error.to_string().contains("sk-openai-test"));
    }
}
