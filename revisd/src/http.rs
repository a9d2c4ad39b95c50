//! The one HTTP client the daemon shares (connection pools, TLS setup) with the LLM providers
//! and the W&B and MLflow sources, and the helpers every caller of an HTTP API needs: a header
//! value marked sensitive for a key, and an error's full text.
//!
//! Must not: set per-request policy (timeouts, retries: each caller knows its own), or ever
//! print a key.

use std::sync::OnceLock;

use reqwest::header::HeaderValue;

/// The shared client. reqwest is built with `rustls-no-provider`, so the ring provider is
/// installed first; another part of the daemon may have installed one already, which is fine.
pub fn client() -> reqwest::Client {
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
            // containers). Plain-HTTP servers (Ollama, vLLM, llama.cpp, a local MLflow on
            // loopback) still work with an empty root store; HTTPS then fails per request with
            // a clear TLS error.
            tracing::warn!(%error, "no usable system CA certificates: HTTPS requests will fail");
            reqwest::Client::builder()
                .tls_certs_only(Vec::new())
                .build()
                // Nothing in this configuration reads the system, so it cannot fail.
                .unwrap_or_default()
        }
    }
}

/// A key that cannot be sent as a header value. It never carries the key itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the API key contains characters that are not allowed in an HTTP header")]
pub struct BadSecret;

/// A header carrying a secret: marked sensitive so that no debug output or HTTP/2 table
/// records it.
pub fn secret_header(value: &str) -> Result<HeaderValue, BadSecret> {
    let mut header = HeaderValue::from_str(value).map_err(|_| BadSecret)?;
    header.set_sensitive(true);
    Ok(header)
}

/// `error` with its causes: reqwest's own text ("error sending request") hides what went wrong
/// (connection refused, timeout, TLS). A cause already quoted by the text before it is not
/// repeated.
pub fn error_text(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{text}")]
    struct Layer {
        text: &'static str,
        #[source]
        source: Option<Box<Layer>>,
    }

    #[test]
    fn error_text_names_every_cause_once() {
        let inner = Layer { text: "connection refused", source: None };
        let middle = Layer { text: "tcp connect error: connection refused", source: Some(Box::new(inner)) };
        let outer = Layer { text: "error sending request", source: Some(Box::new(middle)) };
        assert_eq!(error_text(&outer), "error sending request: tcp connect error: connection refused");
    }

    #[test]
    fn a_secret_header_is_sensitive_and_a_bad_key_is_not_quoted() {
        let header = secret_header("sk-test").unwrap_or_else(|e| panic!("{e}"));
        assert!(header.is_sensitive());
        let err = secret_header("sk-\nleak").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("not allowed in an HTTP header") && !err.contains("leak"), "{err}");
    }
}
