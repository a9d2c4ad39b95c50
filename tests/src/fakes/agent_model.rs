//! A loopback stand-in for the model behind the real coding-agent CLIs, so a test can run
//! Claude Code, codex or aider for real: one server on 127.0.0.1 that speaks Anthropic Messages
//! (streaming SSE and not: Claude Code, litellm's `anthropic/…`), the OpenAI Responses API over
//! SSE (codex) and OpenAI Chat Completions (aider through litellm), and plays a coding model that
//! makes the one edit the test chose ([`EditTask`]) with the tools each agent offers, then sums up.
//!
//! Every answer is decided from the conversation in the request (how many of the model's own
//! tool calls already have results, which tools are offered), never from a queue, so the side
//! requests agents make (titles, token counts, model lists, probes, retries) cannot derail it.
//! Every request is recorded ([`AgentModel::requests_containing`] finds a canary anywhere in
//! one) with the usage reported for it ([`AgentModel::usage_reported`]).
//!
//! Must not: listen beyond 127.0.0.1, reach the network, or sleep.

mod chat;
mod messages;
mod responses;
mod sse;

use serde_json::{Value, json};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::{anthropic, openai};
use crate::wait::wait_until;
use revis_fixtures::http::{HttpRequest, HttpResponse, HttpServer};

/// The edit the scripted model makes: replace `old` by `new` in `file` (relative to the working
/// directory of the agent). `old` should be whole lines: codex's apply_patch matches lines.
#[derive(Debug, Clone)]
pub struct EditTask {
    pub file: String,
    pub old: String,
    pub new: String,
    /// Paths the model tries to read (and, with a shell, a listing it asks for) before it
    /// edits, as a curious model would: a canary test checks what comes back never leaves.
    pub probe: Vec<String>,
}

impl EditTask {
    pub fn new(file: &str, old: &str, new: &str) -> Self {
        Self { file: file.to_string(), old: old.to_string(), new: new.to_string(), probe: Vec::new() }
    }

    /// Reads `paths` (and lists the tree, where a shell is offered) first.
    pub fn probing(mut self, paths: &[&str]) -> Self {
        self.probe = paths.iter().map(|p| p.to_string()).collect();
        self
    }

    /// The model's closing message after a successful edit.
    pub fn summary(&self) -> String {
        format!("Done: changed `{}` to `{}` in {}.", self.old, self.new, self.file)
    }

    /// The edit in the apply_patch format of codex.
    pub fn patch(&self) -> String {
        let minus: String = self.old.lines().map(|l| format!("-{l}\n")).collect();
        let plus: String = self.new.lines().map(|l| format!("+{l}\n")).collect();
        format!("*** Begin Patch\n*** Update File: {}\n@@\n{minus}{plus}*** End Patch", self.file)
    }
}

/// What the model does; can be changed while the server runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Makes the edit with the agent's own tools (or edit format), then sums up.
    Edit,
    /// Answers every model call with text only: the agent changes nothing.
    NoOp,
    /// Every authenticated endpoint answers 401 with the provider's exact error body.
    AuthError,
    /// Every model call answers this status (500, 503, 529…) with the provider's error body.
    ServerError(u16),
    /// Every model call is read and then the connection is closed without an answer (an
    /// upstream that crashes mid-request). Unlike a closed port, codex counts these retries
    /// and gives up (it waits for "the network" indefinitely on a refused connection).
    HangUp,
}

/// Which API a request addressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// `POST /v1/messages` (Claude Code adds `?beta=true`).
    Messages,
    /// `POST /v1/messages/count_tokens`.
    CountTokens,
    /// `POST /v1/responses` (codex).
    Responses,
    /// `POST /v1/chat/completions` (litellm's `openai/…`).
    ChatCompletions,
    /// `GET /v1/models` (either provider's shape) or codex's `/models?client_version=`.
    Models,
    /// Anything else: connectivity probes (`HEAD /`), WebSocket upgrade attempts, unknown paths.
    Other,
}

impl Api {
    /// A call that asks the model for an answer (and bills tokens).
    pub fn is_model_call(self) -> bool {
        matches!(self, Api::Messages | Api::Responses | Api::ChatCompletions)
    }

    fn is_anthropic(self) -> bool {
        matches!(self, Api::Messages | Api::CountTokens)
    }
}

/// Tokens as the fake reported them in one answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// One request the fake received and what it answered.
#[derive(Debug, Clone)]
pub struct AgentRequest {
    /// 1-based, in arrival order.
    pub index: usize,
    pub at: Instant,
    pub method: String,
    /// Path and query as sent.
    pub path: String,
    /// Lower-cased names, in arrival order.
    pub headers: Vec<(String, String)>,
    pub raw: String,
    /// Null when the body is not JSON.
    pub body: Value,
    pub api: Api,
    pub streamed: bool,
    pub status: u16,
    /// What the fake answered: `tool_use Read`, `function_call exec_command`, `text`, `edit
    /// (diff)`, `401 authentication_error`…
    pub answer: String,
    /// The usage reported in a 200 answer of a model call.
    pub usage: Option<Usage>,
}

impl AgentRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }

    /// True when `needle` appears in the path, a header value or the body: as sent, and in
    /// the body's JSON strings once unescaped (so `"a\"b"` still matches `a"b`).
    pub fn contains(&self, needle: &str) -> bool {
        self.path.contains(needle)
            || self.headers.iter().any(|(k, v)| k.contains(needle) || v.contains(needle))
            || self.raw.contains(needle)
            || json_strings(&self.body).iter().any(|s| s.contains(needle))
    }

    /// Like `contains`, once every occurrence of the `allowed` strings is taken out: a probe
    /// the scripted model made itself (a path it asked for) does not count as a leak, a listing
    /// or a file's content coming back does.
    pub fn contains_apart_from(&self, needle: &str, allowed: &[&str]) -> bool {
        let strip = |text: &str| allowed.iter().fold(text.to_string(), |t, a| t.replace(a, ""));
        let has = |text: &str| strip(text).contains(needle);
        has(&self.path)
            || self.headers.iter().any(|(k, v)| has(k) || has(v))
            || has(&self.raw)
            || json_strings(&self.body).iter().any(|s| has(s))
    }

    pub fn model(&self) -> &str {
        self.body["model"].as_str().unwrap_or_default()
    }

    /// The names of the tools the request offers (Anthropic `name`, OpenAI Responses `name`,
    /// Chat Completions `function.name`; namespaced tools are listed as `ns.name`).
    pub fn tool_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        for t in self.body["tools"].as_array().into_iter().flatten() {
            if let Some(name) = t["name"].as_str().or_else(|| t["function"]["name"].as_str()) {
                for inner in t["tools"].as_array().into_iter().flatten() {
                    names.push(format!("{name}.{}", inner["name"].as_str().unwrap_or_default()));
                }
                names.push(name.to_string());
            }
        }
        names
    }
}

fn json_strings(value: &Value) -> Vec<&str> {
    let mut out = Vec::new();
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::String(s) => out.push(s.as_str()),
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => {
                for (k, v) in map {
                    out.push(k.as_str());
                    stack.push(v);
                }
            }
            _ => {}
        }
    }
    out
}

/// What the model says in one turn, before it is put in a dialect.
#[derive(Debug, Clone)]
enum Turn {
    Text(String),
    /// A tool call with JSON arguments.
    Call {
        name: String,
        input: Value,
    },
    /// A call of a freeform (grammar) tool: codex's `apply_patch`.
    Custom {
        name: String,
        input: String,
    },
}

impl Turn {
    fn describe(&self) -> String {
        match self {
            Turn::Text(_) => "text".into(),
            Turn::Call { name, .. } | Turn::Custom { name, .. } => format!("call {name}"),
        }
    }
}

/// The text of the model when it changes nothing.
pub const NO_OP_TEXT: &str = "I looked at the code and decided that no change is needed.";

/// A dialect's answer to one request.
struct Answered {
    response: HttpResponse,
    answer: String,
    usage: Option<Usage>,
}

impl Answered {
    fn new(response: HttpResponse, answer: impl Into<String>) -> Self {
        Self { response, answer: answer.into(), usage: None }
    }
}

/// What a dialect needs to answer a model call.
struct Ctx<'a> {
    index: usize,
    task: &'a EditTask,
    mode: Mode,
    body: &'a Value,
    /// The request body size; the billed input tokens are bytes / 4.
    raw_len: usize,
}

impl Ctx<'_> {
    fn usage(&self, turn: &Turn) -> Usage {
        let out = match turn {
            Turn::Text(t) => t.len() / 4,
            Turn::Call { input, .. } => input.to_string().len() / 4,
            Turn::Custom { input, .. } => input.len() / 4,
        };
        Usage { input_tokens: self.raw_len as u64 / 4, output_tokens: 10 + out as u64 }
    }

    fn model(&self) -> &str {
        self.body["model"].as_str().unwrap_or("unknown-model")
    }

    fn stream(&self) -> bool {
        self.body["stream"].as_bool() == Some(true)
    }
}

struct State {
    mode: Mode,
    requests: Vec<AgentRequest>,
    violations: Vec<String>,
}

/// The fake model server; it stops when dropped.
pub struct AgentModel {
    key: String,
    task: EditTask,
    state: Arc<Mutex<State>>,
    server: HttpServer,
}

impl AgentModel {
    /// Starts in [`Mode::Edit`], accepting `key` (Anthropic `x-api-key` or a Bearer token).
    pub fn start(key: &str, task: EditTask) -> Self {
        let state = Arc::new(Mutex::new(State { mode: Mode::Edit, requests: Vec::new(), violations: Vec::new() }));
        let (handler_state, handler_key, handler_task) = (Arc::clone(&state), key.to_string(), task.clone());
        let server = HttpServer::start(Arc::new(move |req| handle(&handler_key, &handler_task, &handler_state, req)))
            .unwrap_or_else(|e| panic!("cannot start the fake agent model on 127.0.0.1: {e}"));
        Self { key: key.to_string(), task, state, server }
    }

    pub fn with_mode(self, mode: Mode) -> Self {
        self.set_mode(mode);
        self
    }

    pub fn set_mode(&self, mode: Mode) {
        self.lock().mode = mode;
    }

    pub fn mode(&self) -> Mode {
        self.lock().mode
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn task(&self) -> &EditTask {
        &self.task
    }

    pub fn port(&self) -> u16 {
        self.server.port()
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        self.server.addr()
    }

    /// `http://127.0.0.1:P`: `ANTHROPIC_BASE_URL` (the SDKs append `/v1/messages`).
    pub fn anthropic_base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port())
    }

    /// `http://127.0.0.1:P/v1`: OpenAI-style bases (codex's provider `base_url`, aider's
    /// `--openai-api-base`).
    pub fn openai_base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    pub fn requests(&self) -> Vec<AgentRequest> {
        self.lock().requests.clone()
    }

    /// The requests that asked the model for an answer.
    pub fn model_calls(&self) -> Vec<AgentRequest> {
        self.lock().requests.iter().filter(|r| r.api.is_model_call()).cloned().collect()
    }

    /// Every request that carries `needle` anywhere (see [`AgentRequest::contains`]).
    pub fn requests_containing(&self, needle: &str) -> Vec<AgentRequest> {
        self.lock().requests.iter().filter(|r| r.contains(needle)).cloned().collect()
    }

    /// Model calls the real API would have refused (not JSON, compressed, no model or
    /// max_tokens, tool calls without their results…): a test asserts this is empty. Unknown
    /// paths are not violations (they get a 404 and show in [`Self::transcript`]).
    pub fn violations(&self) -> Vec<String> {
        self.lock().violations.clone()
    }

    /// The sum of the usage reported in every 200 answer, and how many answers carried one.
    pub fn usage_reported(&self) -> (Usage, usize) {
        let st = self.lock();
        let mut total = Usage::default();
        let mut n = 0;
        for u in st.requests.iter().filter_map(|r| r.usage) {
            total.input_tokens += u.input_tokens;
            total.output_tokens += u.output_tokens;
            n += 1;
        }
        (total, n)
    }

    pub fn wait_for_requests(&self, n: usize, timeout: Duration) -> bool {
        wait_until(timeout, || self.lock().requests.len() >= n)
    }

    /// One line per request (`#3 POST /v1/responses -> 200 call exec_command`), for failure
    /// messages.
    pub fn transcript(&self) -> String {
        self.lock()
            .requests
            .iter()
            .map(|r| format!("#{} {} {} -> {} {}\n", r.index, r.method, r.path, r.status, r.answer))
            .collect()
    }
}

impl Drop for AgentModel {
    /// With `REVIS_FAKE_DUMP=DIR`, every request is kept as `DIR/agent-<port>-<n>.json`.
    fn drop(&mut self) {
        let Some(dir) = std::env::var_os("REVIS_FAKE_DUMP") else { return };
        let dir = std::path::PathBuf::from(dir);
        if std::fs::create_dir_all(&dir).is_err() {
            return;
        }
        for r in self.requests() {
            let record = json!({
                "method": r.method, "path": r.path, "headers": r.headers, "status": r.status,
                "answer": r.answer, "body": if r.body.is_null() { Value::String(r.raw.clone()) } else { r.body.clone() },
            });
            let text = serde_json::to_string_pretty(&record).unwrap_or_default();
            let _ = std::fs::write(dir.join(format!("agent-{}-{:03}.json", self.port(), r.index)), text);
        }
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panicking test thread must not hide what was recorded.
    state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn route(req: &HttpRequest) -> Api {
    let path = req.path.split('?').next().unwrap_or_default().trim_end_matches('/');
    match (req.method.as_str(), path) {
        ("POST", "/v1/messages") => Api::Messages,
        ("POST", "/v1/messages/count_tokens") => Api::CountTokens,
        ("POST", "/v1/responses" | "/responses") => Api::Responses,
        ("POST", "/v1/chat/completions" | "/chat/completions") => Api::ChatCompletions,
        ("GET", "/v1/models" | "/models") => Api::Models,
        _ => Api::Other,
    }
}

/// True when the request carries `key` the way its provider expects it.
fn authenticated(req: &HttpRequest, api: Api, key: &str) -> bool {
    let bearer = req.header("authorization").and_then(|a| a.strip_prefix("Bearer ")).map(str::trim);
    let anthropic_style = api.is_anthropic() || (api == Api::Models && req.header("x-api-key").is_some());
    if anthropic_style { req.header("x-api-key").or(bearer) == Some(key) } else { bearer == Some(key) }
}

fn error(api: Api, req: &HttpRequest, status: u16, message: &str, index: usize) -> HttpResponse {
    let request_id = format!("req_agentfake{index:06}");
    if api.is_anthropic() || (api == Api::Models && req.header("anthropic-version").is_some()) {
        HttpResponse::json(status, &anthropic::error_body(status, message, &request_id))
            .with_header("request-id", &request_id)
    } else {
        HttpResponse::json(status, &openai::error_body(status, message)).with_header("x-request-id", &request_id)
    }
}

fn handle(key: &str, task: &EditTask, state: &Mutex<State>, req: HttpRequest) -> HttpResponse {
    let at = Instant::now();
    let api = route(&req);
    let raw = String::from_utf8_lossy(&req.body).into_owned();
    let parsed: Option<Value> = serde_json::from_slice(&req.body).ok();
    let body = parsed.clone().unwrap_or(Value::Null);
    let mut st = lock(state);
    let index = st.requests.len() + 1;
    let mode = st.mode;
    let mut violations = Vec::new();
    if req.header("content-encoding").is_some_and(|e| e != "identity") {
        violations
            .push(format!("compressed request body ({:?}): the fake cannot read it", req.header("content-encoding")));
    }
    let needs_auth = api != Api::Other;
    let answered = if needs_auth && (mode == Mode::AuthError || !authenticated(&req, api, key)) {
        let message = if api.is_anthropic() || req.header("x-api-key").is_some() {
            "invalid x-api-key".to_string()
        } else {
            let sent = req.header("authorization").and_then(|a| a.strip_prefix("Bearer ")).unwrap_or_default();
            format!(
                "Incorrect API key provided: {}. You can find your API key at https://platform.openai.com/account/api-keys.",
                redact(sent)
            )
        };
        let response = error(api, &req, 401, &message, index);
        Answered::new(response, "401 authentication error")
    } else if let (Mode::ServerError(status), true) = (mode, api.is_model_call()) {
        let response = error(api, &req, status, "The server had an error while processing your request.", index);
        Answered::new(response, format!("{status} server error"))
    } else if mode == Mode::HangUp && api.is_model_call() {
        Answered::new(HttpResponse::hang_up(), "hung up")
    } else if api.is_model_call() && parsed.is_none() {
        violations.push("body is not valid JSON".into());
        Answered::new(error(api, &req, 400, "We could not parse the JSON body of your request.", index), "400")
    } else {
        let ctx = Ctx { index, task, mode, body: &body, raw_len: req.body.len() };
        match api {
            Api::Messages => messages::answer(&ctx, &mut violations),
            Api::CountTokens => {
                Answered::new(HttpResponse::json(200, &json!({"input_tokens": req.body.len() / 4})), "token count")
            }
            Api::Responses => responses::answer(&ctx, &mut violations),
            Api::ChatCompletions => chat::answer(&ctx, &mut violations),
            Api::Models => models(&req),
            Api::Other => other(&req, index),
        }
    };
    for v in &violations {
        st.violations.push(format!("request #{index} ({} {}): {v}", req.method, req.path));
    }
    let streamed = answered.response.headers.iter().any(|(_, v)| v.starts_with("text/event-stream"));
    st.requests.push(AgentRequest {
        index,
        at,
        method: req.method.clone(),
        path: req.path.clone(),
        headers: req.headers.clone(),
        raw,
        body,
        api,
        streamed,
        status: answered.response.status,
        answer: answered.answer,
        usage: answered.usage,
    });
    let mut response = answered.response;
    if req.method == "HEAD" {
        response.body.clear();
    }
    response
}

/// OpenAI's way of echoing a wrong key: `sk-********0001`.
fn redact(key: &str) -> String {
    if key.len() <= 8 {
        "*".repeat(key.len())
    } else {
        format!("{}{}{}", &key[..3], "*".repeat(8), &key[key.len() - 4..])
    }
}

/// Model lists: codex's (`?client_version=`: `{"models": []}`, it keeps its bundled
/// metadata), Anthropic's (`anthropic-version` header) or OpenAI's.
fn models(req: &HttpRequest) -> Answered {
    let ids = ["claude-sonnet-4-5", "claude-haiku-4-5", "gpt-4.1", "gpt-5-codex", "gpt-5.5"];
    let body = if req.path.contains("client_version=") {
        json!({"models": []})
    } else if req.header("anthropic-version").is_some() {
        let data: Vec<Value> = ids
            .iter()
            .filter(|id| id.starts_with("claude"))
            .map(|id| json!({"type": "model", "id": id, "display_name": id, "created_at": "2025-09-29T00:00:00Z"}))
            .collect();
        json!({"data": data, "has_more": false, "first_id": ids[0], "last_id": ids[1]})
    } else {
        let data: Vec<Value> = ids
            .iter()
            .map(|id| json!({"id": id, "object": "model", "created": 1_700_000_000u64, "owned_by": "revis-fake"}))
            .collect();
        json!({"object": "list", "data": data})
    };
    Answered::new(HttpResponse::json(200, &body), "model list")
}

/// Connectivity probes and everything unknown, answered as a plain HTTP API server would: a
/// WebSocket upgrade is not understood (no 101), so the client falls back to HTTP.
fn other(req: &HttpRequest, index: usize) -> Answered {
    let path = req.path.split('?').next().unwrap_or_default();
    if path == "/" && (req.method == "HEAD" || req.method == "GET") {
        return Answered::new(HttpResponse::json(200, &json!({})), "probe");
    }
    let message = format!("Invalid URL ({} {})", req.method, req.path);
    // OpenAI's answer to a wrong route (its `model_not_found` code is for unknown models).
    let body = json!({"error": {"message": message, "type": "invalid_request_error", "param": null, "code": null}});
    let response = HttpResponse::json(404, &body).with_header("x-request-id", &format!("req_agentfake{index:06}"));
    let what = if req.header("upgrade").is_some_and(|u| u.eq_ignore_ascii_case("websocket")) {
        "404 websocket upgrade refused"
    } else {
        "404 unknown path"
    };
    Answered::new(response, what)
}
