//! The one contract between the `revis` CLI and the `revisd` daemon.

/// Protocol number checked by the `Hello` handshake. Bump on any incompatible change.
pub const PROTOCOL_VERSION: u32 = 2;

/// The LLM provider settings (API keys, base URLs) that `revis loop`, `resume` and `approve`
/// pass from the user's shell to the daemon in their `env` maps. They are secrets: the daemon
/// keeps them in memory only.
pub const PROVIDER_VARIABLES: &[&str] = &[
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
    "ANTHROPIC_API_BASE",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_API_BASE",
    // codex reads its key from here, not from OPENAI_API_KEY.
    "CODEX_API_KEY",
    "OLLAMA_API_BASE",
    "HOSTED_VLLM_API_BASE",
    "HOSTED_VLLM_API_KEY",
    "LITELLM_PROXY_API_BASE",
    "LITELLM_PROXY_API_KEY",
];

pub mod v1 {
    #![allow(clippy::all)]
    tonic::include_proto!("revis.v1");

    /// Encoded descriptor set for gRPC server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("revis_descriptor");
}
