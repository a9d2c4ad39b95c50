//! Loopback fakes of the outside services the daemon talks to, for end-to-end tests: an
//! Anthropic Messages server and an OpenAI Chat Completions server (also standing in for every
//! OpenAI-compatible server). They check requests as strictly as the real APIs and play scripted
//! conversations, on the loopback HTTP server of `revis_fixtures::http`.
//! Must not: listen beyond 127.0.0.1 or reach the network.

pub mod agent_model;
pub mod anthropic;
pub mod bedrock;
pub mod gemini;
pub mod openai;
pub mod provider;
pub mod serve;
pub mod sigv4;
pub mod token;

pub use provider::{
    Dialect, FakeLlm, IssuedCall, Recorded, Reply, ScriptedCall, Serve, ToolResultSeen, action, change, config_edit,
    raw_tool_call, submit, tool_call,
};
