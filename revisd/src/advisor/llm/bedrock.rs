//! AWS Bedrock's Converse API (`POST {base}/model/{modelId}/converse`), SigV4-signed for the
//! service `bedrock` with the `aws-sigv4` crate (each attempt signed afresh: the signature
//! holds the time), or with a Bedrock API key as a bearer token. Converse speaks one shape for
//! every model Bedrock hosts (Claude, Llama, Mistral, Nova, ...), tools included.
//!
//! Must not: retry or time out on its own (`retry.rs`), or let a secret reach a message.

use std::time::{Duration, SystemTime};

use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use reqwest::header::HeaderMap;
use serde_json::{Map, Value, json};

use super::aws::Keys;
use super::chat::{
    BoxFuture, ChatRequest, ChatResponse, LlmError, LlmProvider, Message, StopReason, ToolCall, ToolChoice, Usage,
    alternating,
};
use super::models::{Extra, ProviderSettings, Route};
use super::retry::{self, Policy};

const NAME: &str = "bedrock";
const SERVICE: &str = "bedrock";

enum Auth {
    SigV4 { region: String, keys: Keys },
    Bearer(String),
}

pub struct BedrockProvider {
    client: reqwest::Client,
    url: String,
    auth: Auth,
    settings: ProviderSettings,
}

impl BedrockProvider {
    pub fn new(route: &Route, settings: &ProviderSettings) -> Self {
        let auth = match (&route.extra, &route.key) {
            (Extra::Bedrock { region, keys: Some(keys) }, _) => {
                Auth::SigV4 { region: region.clone(), keys: keys.clone() }
            }
            (_, key) => Auth::Bearer(key.clone().unwrap_or_default()),
        };
        // The SDK sends the model id as one path label: `:` and `/` (ARNs) percent-encoded.
        let url = format!("{}/model/{}/converse", route.base_url, encode_label(&route.model));
        Self { client: crate::http::client(), url, auth, settings: settings.clone() }
    }

    fn build(&self, body: &[u8]) -> Result<reqwest::RequestBuilder, LlmError> {
        let fatal = |message: String| LlmError::Fatal { provider: NAME, message };
        let builder = self.client.post(&self.url).header("content-type", "application/json").body(body.to_vec());
        match &self.auth {
            Auth::Bearer(token) => {
                let value = crate::http::secret_header(&format!("Bearer {token}")).map_err(|e| fatal(e.to_string()))?;
                Ok(builder.header("authorization", value))
            }
            Auth::SigV4 { region, keys } => {
                let headers = signature(keys, region, &self.url, body, SystemTime::now()).map_err(fatal)?;
                let mut builder = builder;
                for (name, value) in headers {
                    let value = crate::http::secret_header(&value).map_err(|e| fatal(e.to_string()))?;
                    builder = builder.header(name, value);
                }
                Ok(builder)
            }
        }
    }
}

/// Percent-encodes every byte but the unreserved ones, as the SDK does for a path label.
fn encode_label(label: &str) -> String {
    label
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// The SigV4 headers (`authorization`, `x-amz-date`, and `x-amz-security-token` with a session
/// token) for a JSON POST of `body` to `url` at `time`.
pub fn signature(
    keys: &Keys,
    region: &str,
    url: &str,
    body: &[u8],
    time: SystemTime,
) -> Result<Vec<(String, String)>, String> {
    let identity = aws_credential_types::Credentials::new(
        keys.access_key_id.clone(),
        keys.secret_access_key.clone(),
        keys.session_token.clone(),
        None,
        "revis-session",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(SERVICE)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| format!("cannot sign the request: {e}"))?
        .into();
    let headers = [("content-type", "application/json")];
    let request = SignableRequest::new("POST", url, headers.into_iter(), SignableBody::Bytes(body))
        .map_err(|e| format!("cannot sign the request: {e}"))?;
    let (instructions, _) = sign(request, &params).map_err(|e| format!("cannot sign the request: {e}"))?.into_parts();
    Ok(instructions.headers().map(|(name, value)| (name.to_string(), value.to_string())).collect())
}

impl LlmProvider for BedrockProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    fn complete<'a>(&'a self, request: &'a ChatRequest) -> BoxFuture<'a, Result<ChatResponse, LlmError>> {
        Box::pin(async move {
            let body = request_body(request).to_string().into_bytes();
            let text = retry::send(NAME, &self.settings, &POLICY, || self.build(&body)).await?;
            parse_response(&text)
        })
    }
}

/// The AWS SDKs' standard retry mode: throttling and transient errors (by `x-amzn-ErrorType`,
/// and 500/502/503/504), full-jitter backoff `random × 2^n` seconds capped at 20 s, and no
/// server-given wait (AWS sends none).
pub const POLICY: Policy = Policy { retryable, server_wait: |_, _, _| None, backoff };

/// The error codes the SDKs retry: throttling, transient, and Bedrock's `ModelNotReady`
/// (which the service documents as retried by the SDKs).
const RETRIED: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "ModelNotReadyException",
];

/// The error's code: `x-amzn-ErrorType` up to its first `:` (it may carry a URL after it).
pub fn error_type(headers: &HeaderMap, body: &str) -> Option<String> {
    let header = headers.get("x-amzn-errortype").and_then(|v| v.to_str().ok()).map(str::to_string);
    let from_body = || {
        let value: Value = serde_json::from_str(body).ok()?;
        value.get("__type").or_else(|| value.get("code")).and_then(Value::as_str).map(str::to_string)
    };
    let raw = header.or_else(from_body)?;
    let code = raw.split(':').next().unwrap_or(&raw);
    Some(code.rsplit('#').next().unwrap_or(code).trim().to_string())
}

fn retryable(status: u16, headers: &HeaderMap, body: &str) -> bool {
    if matches!(status, 500 | 502 | 503 | 504) {
        return true;
    }
    error_type(headers, body).is_some_and(|code| RETRIED.contains(&code.as_str()))
}

/// `base` is `ProviderSettings::backoff` (0.5 s): the SDK's 1 s base is twice it, its 20 s cap
/// forty times.
fn backoff(retries_done: u32, base: Duration, jitter: f64) -> Duration {
    let unit = base.saturating_mul(2);
    let ceiling = unit.saturating_mul(2u32.saturating_pow(retries_done.min(16)));
    ceiling.min(unit.saturating_mul(20)).mul_f64(jitter.clamp(0.0, 1.0))
}

/// The request body for `request`.
pub fn request_body(request: &ChatRequest) -> Value {
    let mut body = Map::new();
    let system: Vec<Value> = [request.system_stable.as_str(), request.system_dynamic.as_str()]
        .into_iter()
        .filter(|part| !part.is_empty())
        .map(|text| json!({"text": text}))
        .collect();
    if !system.is_empty() {
        body.insert("system".into(), Value::Array(system));
    }
    body.insert("messages".into(), Value::Array(messages(&request.messages)));
    body.insert("inferenceConfig".into(), json!({"maxTokens": request.max_tokens}));
    if !request.tools.is_empty() {
        let tools: Vec<Value> = request
            .tools
            .iter()
            .map(|t| {
                json!({"toolSpec": {"name": t.name, "description": t.description,
                                    "inputSchema": {"json": t.parameters}}})
            })
            .collect();
        let mut config = json!({"tools": tools});
        // Bedrock refuses `toolChoice` for the models that cannot be made to call a tool
        // (Llama, Cohere, ...): for them the field is left out, which means `auto`.
        if forces_tools(&request.model) {
            let choice = match &request.tool_choice {
                ToolChoice::Auto => json!({"auto": {}}),
                ToolChoice::Any => json!({"any": {}}),
                ToolChoice::Tool(name) => json!({"tool": {"name": name}}),
            };
            config["toolChoice"] = choice;
        }
        body.insert("toolConfig".into(), config);
    }
    Value::Object(body)
}

/// Whether the Converse API takes `toolChoice` for a model: Anthropic Claude, Mistral Large
/// and Amazon Nova, also behind a cross-region inference profile (`us.anthropic.…`).
pub fn forces_tools(model: &str) -> bool {
    let id = model.rsplit('/').next().unwrap_or(model);
    let id = super::pricing::BEDROCK_REGIONS.iter().find_map(|p| id.strip_prefix(p)).unwrap_or(id);
    ["anthropic.claude", "mistral.mistral-large", "amazon.nova"].iter().any(|family| id.starts_with(family))
}

/// The messages, in alternating turns (tool results first in a user turn).
fn messages(messages: &[Message]) -> Vec<Value> {
    let turns = messages.iter().map(|message| match message {
        Message::User { text } => ("user", text_block(text).into_iter().collect::<Vec<_>>()),
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
                    let status = if r.is_error { "error" } else { "success" };
                    json!({"toolResult": {"toolUseId": r.call_id, "content": [{"text": r.content}], "status": status}})
                })
                .collect(),
        ),
    });
    alternating(turns, |b| b.get("toolResult").is_some())
        .into_iter()
        .map(|(role, blocks)| json!({"role": role, "content": blocks}))
        .collect()
}

fn text_block(text: &str) -> Option<Value> {
    (!text.is_empty()).then(|| json!({"text": text}))
}

fn tool_use(call: &ToolCall) -> Value {
    let input = call.arguments.clone().ok().filter(Value::is_object).unwrap_or_else(|| json!({}));
    json!({"toolUse": {"toolUseId": call.id, "name": call.name, "input": input}})
}

/// A 200 answer's body.
pub fn parse_response(body: &str) -> Result<ChatResponse, LlmError> {
    let bad = |message: String| LlmError::BadResponse { provider: NAME, message };
    let value: Value = serde_json::from_str(body).map_err(|e| bad(format!("not JSON: {e}")))?;
    let blocks = value
        .pointer("/output/message/content")
        .and_then(Value::as_array)
        .ok_or_else(|| bad(format!("no output message in: {}", retry::error_message(body))))?;
    let mut texts = Vec::new();
    let mut tool_calls = Vec::new();
    for block in blocks {
        if let Some(text) = block.get("text").and_then(Value::as_str).filter(|t| !t.is_empty()) {
            texts.push(text.to_string());
        } else if let Some(call) = block.get("toolUse") {
            let field = |name: &str| call.get(name).and_then(Value::as_str).unwrap_or_default().to_string();
            let arguments = match call.get("input") {
                Some(input @ Value::Object(_)) => Ok(input.clone()),
                Some(other) => Err(other.to_string()),
                None => Ok(json!({})),
            };
            tool_calls.push(ToolCall::new(field("toolUseId"), field("name"), arguments));
        }
        // reasoningContent and other blocks carry nothing the agent uses.
    }
    let stop_reason = match value.get("stopReason").and_then(Value::as_str) {
        Some("end_turn" | "stop_sequence") => StopReason::EndTurn,
        Some("tool_use") => StopReason::ToolUse,
        Some("max_tokens" | "model_context_window_exceeded") => StopReason::MaxTokens,
        Some("guardrail_intervened" | "content_filtered") => StopReason::Refusal,
        _ if !tool_calls.is_empty() => StopReason::ToolUse,
        _ => StopReason::Other,
    };
    let count = |name: &str| value.pointer(&format!("/usage/{name}")).and_then(Value::as_u64).unwrap_or(0);
    Ok(ChatResponse {
        // Converse does not name the model in its answer.
        model: String::new(),
        text: texts.join("\n"),
        tool_calls,
        stop_reason,
        usage: Usage {
            input_tokens: count("inputTokens"),
            output_tokens: count("outputTokens"),
            cache_read_tokens: count("cacheReadInputTokens"),
            cache_write_tokens: count("cacheWriteInputTokens"),
        },
    })
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;
    use crate::advisor::llm::chat::{ToolResult, ToolSpec};

    #[test]
    fn the_body_is_converse_shaped() {
        let request = ChatRequest {
            model: "anthropic.claude-3-5-sonnet-20240620-v1:0".into(),
            system_stable: "STABLE".into(),
            system_dynamic: String::new(),
            messages: vec![
                Message::User { text: "decide".into() },
                Message::Assistant {
                    text: String::new(),
                    tool_calls: vec![ToolCall::new("tooluse_1", "read_file", Ok(json!({"path": "a"})))],
                },
                Message::ToolResults {
                    results: vec![ToolResult { call_id: "tooluse_1".into(), content: "x".into(), is_error: true }],
                },
            ],
            tools: vec![ToolSpec {
                name: "read_file".into(),
                description: "Read".into(),
                parameters: json!({"type": "object"}),
            }],
            tool_choice: ToolChoice::Any,
            max_tokens: 500,
        };
        let body = request_body(&request);
        assert_eq!(body["system"], json!([{"text": "STABLE"}]));
        assert_eq!(body["inferenceConfig"], json!({"maxTokens": 500}));
        assert_eq!(body["messages"][1]["content"][0]["toolUse"]["toolUseId"], "tooluse_1");
        assert_eq!(
            body["messages"][2]["content"][0],
            json!({"toolResult": {"toolUseId": "tooluse_1", "content": [{"text": "x"}], "status": "error"}})
        );
        assert_eq!(body["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"]["type"], "object");
        assert_eq!(body["toolConfig"]["toolChoice"], json!({"any": {}}));

        // A model that Bedrock cannot force to call a tool gets no toolChoice at all.
        let llama = ChatRequest { model: "meta.llama3-1-70b-instruct-v1:0".into(), ..request };
        let body = request_body(&llama);
        assert!(body["toolConfig"].get("toolChoice").is_none(), "{body}");
        assert_eq!(body["toolConfig"]["tools"][0]["toolSpec"]["name"], "read_file");
        assert!(forces_tools("us.anthropic.claude-sonnet-4-5-20250929-v1:0"));
        assert!(forces_tools("amazon.nova-pro-v1:0"));
        assert!(forces_tools("mistral.mistral-large-2407-v1:0"));
        assert!(!forces_tools("cohere.command-r-plus-v1:0"));
    }

    #[test]
    fn a_converse_answer_gives_calls_and_usage() {
        let body = json!({
            "output": {"message": {"role": "assistant", "content": [
                {"text": "Reading."}, {"toolUse": {"toolUseId": "tooluse_a", "name": "read_file", "input": {"path": "x"}}}
            ]}},
            "stopReason": "tool_use",
            "usage": {"inputTokens": 100, "outputTokens": 20, "totalTokens": 120, "cacheReadInputTokens": 7},
            "metrics": {"latencyMs": 400}
        });
        let response = parse_response(&body.to_string()).expect("parsed");
        assert_eq!(response.text, "Reading.");
        assert_eq!(response.tool_calls[0].id, "tooluse_a");
        assert_eq!(response.stop_reason, StopReason::ToolUse);
        assert_eq!(response.usage.cache_read_tokens, 7);
        assert_eq!(response.usage.input_tokens, 100);
    }

    #[test]
    fn throttling_and_transient_errors_are_retried_by_their_type() {
        let typed = |t: &str| {
            let mut headers = HeaderMap::new();
            headers.insert("x-amzn-errortype", HeaderValue::from_str(t).expect("header"));
            headers
        };
        assert!(retryable(429, &typed("ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/"), ""));
        assert!(retryable(429, &typed("ModelNotReadyException"), ""));
        assert!(retryable(503, &typed("ServiceUnavailableException"), ""));
        assert!(!retryable(400, &typed("ValidationException"), ""));
        assert!(!retryable(403, &typed("AccessDeniedException"), ""));
        assert!(!retryable(429, &typed("ServiceQuotaExceededException"), ""));
        assert!(retryable(400, &HeaderMap::new(), r#"{"__type":"com.amazon#ThrottlingException","message":"slow"}"#));
        let base = Duration::from_millis(500);
        assert_eq!(backoff(0, base, 0.999_999).as_millis(), 999);
        assert_eq!(backoff(3, base, 0.5), Duration::from_secs(4));
        assert_eq!(backoff(9, base, 0.5), Duration::from_secs(10));
    }

    #[test]
    fn model_ids_are_one_encoded_path_label() {
        assert_eq!(
            encode_label("anthropic.claude-3-5-sonnet-20240620-v1:0"),
            "anthropic.claude-3-5-sonnet-20240620-v1%3A0"
        );
        assert_eq!(
            encode_label("arn:aws:bedrock:us-east-1:1:inference-profile/x"),
            "arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Ainference-profile%2Fx"
        );
    }

    #[test]
    fn the_signature_is_the_one_the_sigv4_specification_gives() {
        // The known answer was computed from the specification's canonical request (the path
        // encoded twice: `m%253A0`; content-type, host, date and token signed; the body's hash)
        // by the test fake's own SigV4 code, which matches AWS's published test-suite vectors.
        let keys = Keys {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "secret".into(),
            session_token: Some("tok".into()),
        };
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160);
        let url = "https://bedrock-runtime.us-east-1.amazonaws.com/model/m%3A0/converse";
        let signed = signature(&keys, "us-east-1", url, b"{}", at).expect("signed");
        let auth = &signed.iter().find(|(k, _)| k == "authorization").expect("authorization").1;
        assert_eq!(
            auth,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, \
             Signature=477c4d95f1e8cb8c471ea1a980cf0eb242c05ec380fb4edca041d1f6c3c752a4"
        );
        assert!(signed.iter().any(|(k, v)| k == "x-amz-date" && v == "20150830T123600Z"));
        assert!(signed.iter().any(|(k, v)| k == "x-amz-security-token" && v == "tok"));
        let other = signature(&keys, "us-east-1", url, b"{ }", at).expect("signed");
        assert_ne!(signed, other, "the body is signed");
    }
}
