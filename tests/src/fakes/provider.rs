//! A scripted LLM provider on loopback: records every request, checks it strictly in the
//! provider's dialect (a malformed one gets the provider's 4xx error AND is kept as a violation
//! the test asserts is empty), and answers from a queue of scripted replies — messages with text
//! and tool calls, or an error status with its exact body and headers.
//! Usage in 200 answers: input tokens = request body bytes / 4 (so tests can measure prompt
//! size), output tokens small.
//! Must not: answer a request it found malformed with a success, or consume a scripted reply for it.

use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub use super::serve::Serve;
use super::serve::as_plain;
use super::{anthropic, bedrock, gemini, openai};
use crate::wait::wait_until;
use revis_fixtures::http::{HttpRequest, HttpResponse, HttpServer};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Anthropic,
    OpenAi,
    Gemini,
    Bedrock,
}

/// A request the real API would refuse: the status it would answer and why.
#[derive(Debug, Clone)]
pub struct Violation {
    pub status: u16,
    pub message: String,
}

impl Violation {
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Self { status, message: message.into() }
    }
}

/// `^[a-zA-Z0-9_-]{1,64}$`, the tool-name rule of both APIs.
pub fn is_tool_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A tool call the script makes the model send.
#[derive(Debug, Clone)]
pub struct ScriptedCall {
    pub name: String,
    /// Ok: JSON arguments; Err: raw argument text (OpenAI only: it may be invalid JSON).
    pub arguments: Result<Value, String>,
}

/// `tool_call("read_file", json!({"path": "config.json"}))`
pub fn tool_call(name: &str, arguments: Value) -> ScriptedCall {
    ScriptedCall { name: name.to_string(), arguments: Ok(arguments) }
}

/// A call whose `arguments` string is sent verbatim (OpenAI), e.g. invalid JSON.
pub fn raw_tool_call(name: &str, raw: &str) -> ScriptedCall {
    ScriptedCall { name: name.to_string(), arguments: Err(raw.to_string()) }
}

/// `submit_decision` with this decision object.
pub fn submit(decision: Value) -> ScriptedCall {
    tool_call("submit_decision", decision)
}

/// `{"kind": "config_edit", file, key, value}`
pub fn config_edit(file: &str, key: &str, value: Value) -> Value {
    json!({"kind": "config_edit", "file": file, "key": key, "value": value})
}

/// A `change` decision with a rationale and a hypothesis.
pub fn change(rationale: &str, hypothesis: &str, changes: Vec<Value>) -> Value {
    json!({"action": "change", "rationale": rationale, "hypothesis": hypothesis, "changes": changes})
}

/// A `stop` (or `escalate`) decision.
pub fn action(action: &str, rationale: &str) -> Value {
    json!({"action": action, "rationale": rationale, "changes": []})
}

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Reply {
    Message { text: String, calls: Vec<ScriptedCall> },
    Error { status: u16, message: String, headers: Vec<(String, String)>, body: Option<Value> },
}

impl Reply {
    pub fn calls(calls: Vec<ScriptedCall>) -> Self {
        Reply::Message { text: String::new(), calls }
    }

    pub fn call(call: ScriptedCall) -> Self {
        Self::calls(vec![call])
    }

    pub fn text(text: &str) -> Self {
        Reply::Message { text: text.to_string(), calls: Vec::new() }
    }

    /// Adds text before the tool calls of a message.
    pub fn with_text(self, t: &str) -> Self {
        match self {
            Reply::Message { calls, .. } => Reply::Message { text: t.to_string(), calls },
            other => other,
        }
    }

    /// An error status with the provider's error body for it.
    pub fn error(status: u16, message: &str) -> Self {
        Reply::Error { status, message: message.to_string(), headers: Vec::new(), body: None }
    }

    /// Adds a response header (`retry-after`, `retry-after-ms`, `x-should-retry`).
    pub fn header(self, name: &str, value: &str) -> Self {
        match self {
            Reply::Error { status, message, mut headers, body } => {
                headers.push((name.to_string(), value.to_string()));
                Reply::Error { status, message, headers, body }
            }
            other => other,
        }
    }

    /// Replaces the error body (e.g. Anthropic's spend-limit 429 with `error.details`).
    pub fn body(self, new_body: Value) -> Self {
        match self {
            Reply::Error { status, message, headers, .. } => {
                Reply::Error { status, message, headers, body: Some(new_body) }
            }
            other => other,
        }
    }
}

/// A tool call as the fake sent it, with its id.
#[derive(Debug, Clone)]
pub struct IssuedCall {
    pub id: String,
    pub name: String,
    pub json: Option<Value>,
    /// The arguments as text (OpenAI's `arguments`).
    pub raw: String,
}

/// One tool answer found in a request.
#[derive(Debug, Clone)]
pub struct ToolResultSeen {
    pub call_id: String,
    /// The name of the call it answers, when that call is in the request.
    pub name: Option<String>,
    pub content: String,
    /// Anthropic's `is_error`; None for OpenAI (no such field).
    pub is_error: Option<bool>,
}

/// One request the fake received, with what it answered.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// 1-based, in arrival order.
    pub index: usize,
    pub at: Instant,
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub raw: String,
    /// Null when the body was not JSON.
    pub body: Value,
    pub status: u16,
    pub violations: Vec<String>,
    /// The tool calls sent back in the answer.
    pub issued: Vec<IssuedCall>,
    pub dialect: Dialect,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }

    /// The answers to the previous turn's tool calls carried by this request.
    pub fn tool_results(&self) -> Vec<ToolResultSeen> {
        match self.dialect {
            Dialect::Anthropic => anthropic::tool_results(&self.body),
            Dialect::OpenAi => openai::tool_results(&self.body),
            Dialect::Gemini => gemini::tool_results(&self.body),
            Dialect::Bedrock => bedrock::tool_results(&self.body),
        }
    }

    pub fn system_text(&self) -> String {
        match self.dialect {
            Dialect::Anthropic => anthropic::system_text(&self.body),
            Dialect::OpenAi => openai::system_text(&self.body),
            Dialect::Gemini => gemini::system_text(&self.body),
            Dialect::Bedrock => bedrock::system_text(&self.body),
        }
    }

    /// The prompt size in tokens as the fake bills it: body bytes / 4.
    pub fn prompt_tokens(&self) -> u64 {
        self.raw.len() as u64 / 4
    }

    pub fn tool_names(&self) -> Vec<String> {
        self.body["tools"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["name"].as_str().or_else(|| t["function"]["name"].as_str()))
            .map(str::to_string)
            .collect()
    }

    /// The model the request names: in the body, or in the path (Gemini, Bedrock, Azure's
    /// deployment, Vertex).
    pub fn model(&self) -> String {
        self.body["model"].as_str().map(str::to_string).or_else(|| path_model(&self.path)).unwrap_or_default()
    }

    pub fn message_count(&self) -> usize {
        self.body["messages"].as_array().map_or(0, Vec::len)
    }
}

type Fallback = Box<dyn FnMut(usize, &Value) -> Reply + Send>;

/// The model named in a path: `/model/{id}/converse`, `…/models/{id}:generateContent`,
/// `…/models/{id}:rawPredict`, `…/deployments/{name}/chat/completions`.
fn path_model(path: &str) -> Option<String> {
    if let Some(model) = bedrock::path_model(path) {
        return Some(model);
    }
    let path = path.split('?').next().unwrap_or(path);
    if let Some(rest) = path.split("/deployments/").nth(1) {
        return rest.split('/').next().map(str::to_string);
    }
    let rest = path.rsplit("/models/").next()?;
    Some(rest.split(':').next().unwrap_or(rest).to_string()).filter(|m| !m.is_empty() && m.len() < path.len())
}

#[derive(Default)]
struct State {
    script: VecDeque<Reply>,
    otherwise: Option<Fallback>,
    requests: Vec<Recorded>,
    violations: Vec<String>,
    issued: u64,
    /// (call id, thoughtSignature) of every Gemini call sent with one.
    signatures: Vec<(String, String)>,
}

/// The fake provider; the server stops when it is dropped.
pub struct FakeLlm {
    dialect: Dialect,
    key: Option<String>,
    serve: Serve,
    state: Arc<Mutex<State>>,
    server: HttpServer,
}

impl FakeLlm {
    /// Anthropic Messages expecting `x-api-key: key`.
    pub fn anthropic(key: &str) -> Self {
        Self::start(Dialect::Anthropic, Some(key.to_string()))
    }

    /// OpenAI Chat Completions expecting `Authorization: Bearer key`.
    pub fn openai(key: &str) -> Self {
        Self::start(Dialect::OpenAi, Some(key.to_string()))
    }

    /// An OpenAI-compatible server (vLLM, Ollama, ...) that takes any non-empty bearer key.
    pub fn openai_compatible() -> Self {
        Self::start(Dialect::OpenAi, None)
    }

    /// Azure OpenAI serving `deployment`, expecting `api-key: key`.
    pub fn azure(key: &str, deployment: &str) -> Self {
        Self::serve(
            Dialect::OpenAi,
            Some(key.to_string()),
            Serve::Azure { deployment: deployment.into(), entra: false },
        )
    }

    /// Azure OpenAI serving `deployment`, expecting an Entra ID token as `Authorization: Bearer`.
    pub fn azure_entra(token: &str, deployment: &str) -> Self {
        Self::serve(
            Dialect::OpenAi,
            Some(token.to_string()),
            Serve::Azure { deployment: deployment.into(), entra: true },
        )
    }

    /// The Gemini API expecting `x-goog-api-key: key`.
    pub fn gemini(key: &str) -> Self {
        Self::serve(Dialect::Gemini, Some(key.to_string()), Serve::Gemini(gemini::Endpoint::Api { key: key.into() }))
    }

    /// Gemini models on Vertex AI for this project and location, expecting `token` as the
    /// bearer (the one `token_service` hands out).
    pub fn vertex_gemini(project: &str, location: &str, token: &str) -> Self {
        let endpoint =
            gemini::Endpoint::Vertex { project: project.into(), location: location.into(), token: token.into() };
        Self::serve(Dialect::Gemini, Some(token.to_string()), Serve::Gemini(endpoint))
    }

    /// Claude on Vertex AI for this project and location, expecting `token` as the bearer.
    pub fn vertex_claude(project: &str, location: &str, token: &str) -> Self {
        let serve = Serve::VertexClaude { project: project.into(), location: location.into(), token: token.into() };
        Self::serve(Dialect::Anthropic, Some(token.to_string()), serve)
    }

    /// Bedrock Converse verifying every request's SigV4 signature with `signer`.
    pub fn bedrock(signer: bedrock::Signer) -> Self {
        Self::serve(Dialect::Bedrock, None, Serve::Bedrock(signer))
    }

    fn start(dialect: Dialect, key: Option<String>) -> Self {
        Self::serve(dialect, key, Serve::Plain)
    }

    fn serve(dialect: Dialect, key: Option<String>, serve: Serve) -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let handler_state = Arc::clone(&state);
        let handler_key = key.clone();
        let handler_serve = serve.clone();
        let server = HttpServer::start(Arc::new(move |req| {
            handle(dialect, handler_key.as_deref(), &handler_serve, &handler_state, req)
        }))
        .unwrap_or_else(|e| panic!("cannot start the fake {dialect:?} server on 127.0.0.1: {e}"));
        Self { dialect, key, serve, state, server }
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        self.server.addr()
    }

    /// The base URL as the provider's env variable takes it: `http://127.0.0.1:P` for
    /// Anthropic, `http://127.0.0.1:P/v1` for OpenAI.
    pub fn base_url(&self) -> String {
        match (self.dialect, &self.serve) {
            (Dialect::OpenAi, Serve::Plain) => format!("http://127.0.0.1:{}/v1", self.server.port()),
            _ => format!("http://127.0.0.1:{}", self.server.port()),
        }
    }

    /// The environment that points a client at this fake (key and base URL); for the plain
    /// Anthropic and OpenAI endpoints.
    pub fn env(&self) -> Vec<(String, String)> {
        let (key_var, base_var) = match self.dialect {
            Dialect::Anthropic => ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"),
            _ => ("OPENAI_API_KEY", "OPENAI_BASE_URL"),
        };
        let mut env = vec![(base_var.to_string(), self.base_url())];
        if let Some(key) = &self.key {
            env.push((key_var.to_string(), key.clone()));
        }
        env
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Appends a reply to the script.
    pub fn push(&self, reply: Reply) -> &Self {
        self.lock().script.push_back(reply);
        self
    }

    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) -> &Self {
        self.lock().script.extend(replies);
        self
    }

    /// What to answer once the script is used up: `f(request index, request body)`. Without it
    /// an unexpected request is a violation answered with a 400.
    pub fn otherwise(&self, f: impl FnMut(usize, &Value) -> Reply + Send + 'static) -> &Self {
        self.lock().otherwise = Some(Box::new(f));
        self
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    pub fn request_count(&self) -> usize {
        self.lock().requests.len()
    }

    /// Scripted replies not used yet.
    pub fn remaining(&self) -> usize {
        self.lock().script.len()
    }

    /// Every malformed or unexpected request, with its index and what was wrong.
    pub fn violations(&self) -> Vec<String> {
        self.lock().violations.clone()
    }

    /// Every request body received, as text.
    pub fn bodies(&self) -> Vec<String> {
        self.lock().requests.iter().map(|r| r.raw.clone()).collect()
    }

    /// Waits until at least `n` requests arrived.
    pub fn wait_for_requests(&self, n: usize, timeout: Duration) -> bool {
        wait_until(timeout, || self.request_count() >= n)
    }
}

impl Drop for FakeLlm {
    /// With `REVIS_FAKE_DUMP=DIR`, every request is kept as `DIR/<dialect>-<port>-<n>.json`
    /// for debugging a failed test (the temp homes are gone by then).
    fn drop(&mut self) {
        let Some(dir) = std::env::var_os("REVIS_FAKE_DUMP") else { return };
        let dir = std::path::PathBuf::from(dir);
        if std::fs::create_dir_all(&dir).is_err() {
            return;
        }
        for r in self.requests() {
            let name = format!("{:?}-{}-{:03}.json", self.dialect, self.server.port(), r.index).to_lowercase();
            let record = json!({"path": r.path, "status": r.status, "violations": r.violations, "body": r.body});
            let text = serde_json::to_string_pretty(&record).unwrap_or_default();
            let _ = std::fs::write(dir.join(name), text);
        }
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panicking test thread must not hide what was recorded.
    state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn validate(
    dialect: Dialect,
    key: Option<&str>,
    serve: &Serve,
    st: &State,
    req: &HttpRequest,
    body: &mut Option<Value>,
) -> Vec<Violation> {
    let plain = match as_plain(serve, key, req, body) {
        Ok(plain) => plain,
        Err(violation) => return vec![violation],
    };
    match (dialect, serve) {
        (Dialect::Anthropic, _) => anthropic::validate(&plain, body.as_ref(), key.unwrap_or_default()),
        (Dialect::OpenAi, _) => openai::validate(&plain, body.as_ref(), key),
        (Dialect::Gemini, Serve::Gemini(endpoint)) => gemini::validate(endpoint, req, body.as_ref(), &st.signatures),
        (Dialect::Bedrock, Serve::Bedrock(signer)) => bedrock::validate(signer, req, body.as_ref()),
        (dialect, serve) => vec![Violation::new(500, format!("the fake cannot serve {dialect:?} as {serve:?}"))],
    }
}

fn handle(dialect: Dialect, key: Option<&str>, serve: &Serve, state: &Mutex<State>, req: HttpRequest) -> HttpResponse {
    let at = Instant::now();
    let raw = String::from_utf8_lossy(&req.body).into_owned();
    let mut parsed: Option<Value> = serde_json::from_slice(&req.body).ok();
    let mut st = lock(state);
    let problems = validate(dialect, key, serve, &st, &req, &mut parsed);
    let body = parsed.unwrap_or(Value::Null);
    let index = st.requests.len() + 1;
    let mut violations: Vec<String> = problems.iter().map(|p| p.message.clone()).collect();
    let reply = if let Some(first) = problems.first() {
        Reply::error(first.status, &problems.iter().map(|p| p.message.as_str()).collect::<Vec<_>>().join("; "))
    } else if let Some(reply) = st.script.pop_front() {
        reply
    } else if let Some(otherwise) = st.otherwise.as_mut() {
        otherwise(index, &body)
    } else {
        let msg = "unexpected request: the test's script is exhausted".to_string();
        violations.push(msg.clone());
        Reply::error(400, &msg)
    };
    let model = body["model"].as_str().map(str::to_string).or_else(|| path_model(&req.path));
    let model = model.unwrap_or_else(|| "unknown-model".into());
    // The Gemini API leaves function calls without an id (the client matches responses by
    // name and order); Vertex AI's fake sends ids, so both of the client's paths are run.
    let call_ids = !matches!(serve, Serve::Gemini(gemini::Endpoint::Api { .. }));
    let (response, issued) = render(dialect, &mut st, &reply, &model, index, raw.len() as u64 / 4, call_ids);
    for v in &violations {
        st.violations.push(format!("request #{index} ({} {}): {v}", req.method, req.path));
    }
    st.requests.push(Recorded {
        index,
        at,
        method: req.method,
        path: req.path,
        headers: req.headers,
        raw,
        body,
        status: response.status,
        violations,
        issued,
        dialect,
    });
    response
}

fn render(
    dialect: Dialect,
    st: &mut State,
    reply: &Reply,
    model: &str,
    index: usize,
    input_tokens: u64,
    call_ids: bool,
) -> (HttpResponse, Vec<IssuedCall>) {
    let request_id = format!("req_fake{index:08}");
    match reply {
        Reply::Message { text, calls } => {
            let issued: Vec<IssuedCall> = calls
                .iter()
                .map(|c| {
                    st.issued += 1;
                    let id = match dialect {
                        Dialect::Anthropic => anthropic::call_id(st.issued),
                        Dialect::OpenAi => openai::call_id(st.issued),
                        Dialect::Gemini => gemini::call_id(st.issued),
                        Dialect::Bedrock => bedrock::call_id(st.issued),
                    };
                    let (json, raw) = match &c.arguments {
                        Ok(v) => (Some(v.clone()), v.to_string()),
                        Err(raw) => (None, raw.clone()),
                    };
                    IssuedCall { id, name: c.name.clone(), json, raw }
                })
                .collect();
            let output_tokens = 8 + 16 * issued.len() as u64;
            let body = match dialect {
                Dialect::Anthropic => {
                    anthropic::success_body(model, index as u64, text, &issued, input_tokens, output_tokens)
                }
                Dialect::OpenAi => {
                    openai::success_body(model, index as u64, text, &issued, input_tokens, output_tokens)
                }
                Dialect::Gemini => {
                    if let Some(first) = issued.first() {
                        let key = if call_ids {
                            first.id.clone()
                        } else {
                            gemini::call_key(&first.name, first.json.as_ref())
                        };
                        st.signatures.push((key, gemini::signature(index as u64)));
                    }
                    gemini::success_body(model, index as u64, text, &issued, input_tokens, output_tokens, call_ids)
                }
                Dialect::Bedrock => bedrock::success_body(index as u64, text, &issued, input_tokens, output_tokens),
            };
            (with_request_id(dialect, HttpResponse::json(200, &body), &request_id), issued)
        }
        Reply::Error { status, message, headers, body } => {
            let body = body.clone().unwrap_or_else(|| match dialect {
                Dialect::Anthropic => anthropic::error_body(*status, message, &request_id),
                Dialect::OpenAi => openai::error_body(*status, message),
                Dialect::Gemini => gemini::error_body(*status, message),
                Dialect::Bedrock => bedrock::error_body(message),
            });
            let mut response = with_request_id(dialect, HttpResponse::json(*status, &body), &request_id);
            if dialect == Dialect::Bedrock {
                response = response.with_header(
                    "x-amzn-ErrorType",
                    &format!("{}:http://internal.amazon.com/coral/com.amazon.bedrock/", bedrock::error_type(*status)),
                );
            }
            for (k, v) in headers {
                response = response.with_header(k, v);
            }
            (response, Vec::new())
        }
    }
}

fn with_request_id(dialect: Dialect, response: HttpResponse, id: &str) -> HttpResponse {
    match dialect {
        Dialect::Anthropic => response.with_header("request-id", id),
        Dialect::OpenAi => response.with_header("x-request-id", id),
        Dialect::Gemini => response.with_header("x-goog-request-id", id),
        Dialect::Bedrock => response.with_header("x-amzn-RequestId", id),
    }
}
