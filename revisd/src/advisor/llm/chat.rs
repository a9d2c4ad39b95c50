//! Provider-neutral chat types: what the agent loop sends and what comes back, whichever
//! provider (Anthropic Messages, OpenAI Chat Completions and compatible servers) serves it.
//! Providers translate these to and from their wire formats; nothing here knows HTTP.

use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};

/// One request of the agent loop.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatRequest {
    /// The provider's own model id (e.g. `claude-sonnet-4-5`, `gpt-4.1`), without the
    /// LiteLLM-style prefix.
    pub model: String,
    /// The stable part of the system prompt (goal, config, search space, constraints). It comes
    /// first and is marked cacheable where the provider supports prompt caching.
    pub system_stable: String,
    /// The part of the system prompt that changes per decision (history, current metrics).
    pub system_dynamic: String,
    pub messages: Vec<Message>,
    pub tools: Vec<ToolSpec>,
    pub tool_choice: ToolChoice,
    pub max_tokens: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum Message {
    User {
        text: String,
    },
    /// What the model said: text and the tool calls it made, in order.
    Assistant {
        text: String,
        tool_calls: Vec<ToolCall>,
    },
    /// Answers to the previous assistant message's tool calls, one per call.
    ToolResults {
        results: Vec<ToolResult>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The provider's call id (`toolu_…`, `call_…`), echoed in the result.
    pub id: String,
    pub name: String,
    /// Parsed arguments, or the raw text when the model sent something that is not a JSON
    /// object (OpenAI's `arguments` is a string that can be invalid JSON): the agent answers
    /// that with a tool error instead of failing.
    pub arguments: Result<serde_json::Value, String>,
    /// An opaque token the provider asks to get back with this call on the next turn (Gemini's
    /// `thoughtSignature`; refused without it on Gemini 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

impl ToolCall {
    pub fn new(id: impl Into<String>, name: impl Into<String>, arguments: Result<serde_json::Value, String>) -> Self {
        Self { id: id.into(), name: name.into(), arguments, signature: None }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolResult {
    pub call_id: String,
    pub content: String,
    pub is_error: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolSpec {
    /// `^[a-zA-Z0-9_-]{1,64}$`
    pub name: String,
    pub description: String,
    /// JSON Schema of the arguments object.
    pub parameters: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum ToolChoice {
    Auto,
    /// The model must call some tool.
    Any,
    /// The model must call this tool.
    Tool(String),
}

/// Why the model stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    EndTurn,
    ToolUse,
    MaxTokens,
    Refusal,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Usage {
    /// Input tokens billed at the normal rate (cache reads and writes excluded).
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
}

impl Usage {
    pub fn add(&mut self, other: Usage) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cache_read_tokens += other.cache_read_tokens;
        self.cache_write_tokens += other.cache_write_tokens;
    }

    /// Every prompt token, whatever its rate.
    pub fn prompt_tokens(&self) -> u64 {
        self.input_tokens + self.cache_read_tokens + self.cache_write_tokens
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    /// The model that answered, as the provider reports it.
    pub model: String,
    pub text: String,
    pub tool_calls: Vec<ToolCall>,
    pub stop_reason: StopReason,
    pub usage: Usage,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum LlmError {
    /// The provider answered with an error status. `retryable` follows the SDK rules.
    #[error("{provider} returned HTTP {status}: {message}")]
    Status { provider: &'static str, status: u16, message: String, retryable: bool },
    /// Spend limits, bad keys, bad requests: trying again or elsewhere with the same key won't help.
    #[error("{provider}: {message}")]
    Fatal { provider: &'static str, message: String },
    #[error("{provider}: request failed: {message}")]
    Transport { provider: &'static str, message: String },
    #[error("{provider}: no answer within {seconds}s")]
    Timeout { provider: &'static str, seconds: u64 },
    #[error("{provider}: unreadable response: {message}")]
    BadResponse { provider: &'static str, message: String },
    #[error("no API key for {model}: set {env}")]
    MissingKey { model: String, env: String },
    /// A family's required setting (a base URL, a region, a project) is missing or unusable:
    /// refused before a session starts.
    #[error("{model}: {message}")]
    Setting { model: String, message: String },
    #[error("unknown model name {0:?}: use provider/model, e.g. anthropic/claude-sonnet-4-5 or openai/gpt-4.1")]
    UnknownModel(String),
}

/// The turns of a wire format whose roles must alternate (Anthropic, Bedrock, Gemini), from
/// one `(role, blocks)` pair per message: consecutive turns of one role are merged, the
/// answers to the previous turn's tool calls come first in a turn (`is_answer`), and empty
/// turns are left out (the APIs refuse them).
pub fn alternating<R: PartialEq>(
    turns: impl IntoIterator<Item = (R, Vec<serde_json::Value>)>,
    is_answer: impl Fn(&serde_json::Value) -> bool,
) -> Vec<(R, Vec<serde_json::Value>)> {
    let mut merged: Vec<(R, Vec<serde_json::Value>)> = Vec::new();
    for (role, blocks) in turns {
        if blocks.is_empty() {
            continue;
        }
        match merged.last_mut() {
            Some((last, last_blocks)) if *last == role => last_blocks.extend(blocks),
            _ => merged.push((role, blocks)),
        }
    }
    for (_, blocks) in &mut merged {
        blocks.sort_by_key(|b| !is_answer(b));
    }
    merged
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One provider endpoint with its key; retries and timeouts happen inside `complete`.
pub trait LlmProvider: Send + Sync {
    /// A short name for messages: "anthropic", "openai".
    fn name(&self) -> &'static str;
    fn complete<'a>(&'a self, request: &'a ChatRequest) -> BoxFuture<'a, Result<ChatResponse, LlmError>>;
}
