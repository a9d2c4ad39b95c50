//! The one HTTP client every LLM provider shares (connection pools, TLS setup), and the helper
//! that turns an API key into a header value marked sensitive.
//!
//! Must not: set per-request policy (timeouts, retries: `retry.rs`), or ever print a key.

use std::sync::OnceLock;

use reqwest::header::HeaderValue;

use super::chat::LlmError;

/// The shared client. reqwest is built with `rustls-no-provider`, so the ring provider is
/// installed first; another part of the daemon may have installed one already, which is fine.
pub fn http_client() -> reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(build).clone()
}

fn build() -> reqwest::Client {
    // Err means a provider is already installed: the one we would install or an equivalent.
    let _ = rustls::crypto::ring::default_provider().install_default();
    match reqwest::Client::builder().build() {
        Ok(client) => client,
        Err(error) => {
            // The platform verifier refuses to start without system CA certificates (minimal
            // containers). Plain-HTTP servers (Ollama, vLLM, llama.cpp on loopback) still work
            // with an empty root store; HTTPS then fails per request with a clear TLS error.
            tracing::warn!(%error, "no usable system CA certificates: HTTPS requests to LLM providers will fail");
            reqwest::Client::builder()
                .tls_certs_only(Vec::new())
                .build()
                // Nothing in this configuration reads the system, so it cannot fail.
                .unwrap_or_default()
        }
    }
}

/// A header carrying a secret: marked sensitive so that no debug output or HTTP/2 table
/// records it. The error never contains the value.
pub(crate) fn secret_header(provider: &'static str, value: &str) -> Result<HeaderValue, LlmError> {
    let mut header = HeaderValue::from_str(value).map_err(|_| LlmError::Fatal {
        provider,
        message: "the API key contains characters that are not allowed in an HTTP header".into(),
    })?;
    header.set_sensitive(true);
    Ok(header)
}
