//! Where a fake dialect is served beyond the plain Anthropic and OpenAI endpoints (Azure's
//! deployment paths, Vertex AI's `rawPredict`, Gemini, Bedrock), and the Azure and Vertex
//! requests checked for their own path and auth, then rewritten as the plain endpoint would
//! have received them so the dialect's checks apply to the body unchanged.

use serde_json::Value;

use super::openai;
use super::provider::Violation;
use super::{bedrock, gemini};
use revis_fixtures::http::HttpRequest;

/// Where a dialect is served and how it is authenticated, beyond the plain Anthropic and
/// OpenAI endpoints with their keys.
#[derive(Debug, Clone)]
pub enum Serve {
    Plain,
    /// Azure OpenAI: this deployment's path with an `api-version`, `api-key` (or an Entra ID
    /// bearer token when `entra`).
    Azure {
        deployment: String,
        entra: bool,
    },
    Gemini(gemini::Endpoint),
    Bedrock(bedrock::Signer),
    /// Claude on Vertex AI's `rawPredict`, with an OAuth bearer token.
    VertexClaude {
        project: String,
        location: String,
        token: String,
    },
}

/// The request as the plain Anthropic or OpenAI endpoint would have received it, for the
/// Azure and Vertex variants: their own path and auth checked here, the body by the dialect.
pub fn as_plain(
    serve: &Serve,
    key: Option<&str>,
    req: &HttpRequest,
    body: &mut Option<Value>,
) -> Result<HttpRequest, Violation> {
    let header = |name: &str| req.header(name).map(str::to_string);
    let mut plain = req.clone();
    match serve {
        Serve::Azure { deployment, entra } => {
            let (path, query) = req.path.split_once('?').unwrap_or((&req.path, ""));
            if path != format!("/openai/deployments/{deployment}/chat/completions") {
                return Err(Violation::new(404, "The API deployment for this resource does not exist."));
            }
            if !query.split('&').any(|p| p.strip_prefix("api-version=").is_some_and(|v| !v.is_empty())) {
                return Err(Violation::new(404, "Resource not found (no api-version)"));
            }
            let sent = if *entra {
                header("authorization").and_then(|a| a.strip_prefix("Bearer ").map(str::to_string))
            } else {
                header("api-key")
            };
            if sent.as_deref() != key {
                return Err(Violation::new(
                    401,
                    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.",
                ));
            }
            plain.path = openai::PATH.to_string();
            plain.headers.retain(|(k, _)| k != "authorization");
            plain.headers.push(("authorization".into(), format!("Bearer {}", key.unwrap_or_default())));
        }
        Serve::VertexClaude { project, location, token } => {
            let prefix = format!("/v1/projects/{project}/locations/{location}/publishers/anthropic/models/");
            let model = req.path.strip_prefix(&prefix).and_then(|m| m.strip_suffix(":rawPredict"));
            let Some(model) = model.filter(|m| !m.is_empty()) else {
                return Err(Violation::new(404, format!("{}: not found", req.path)));
            };
            if header("authorization") != Some(format!("Bearer {token}")) {
                return Err(Violation::new(401, "Request had invalid authentication credentials."));
            }
            let Some(Value::Object(fields)) = body.as_mut() else {
                return Err(Violation::new(400, "Invalid JSON payload received."));
            };
            if fields.contains_key("model") {
                return Err(Violation::new(400, "model: Extra inputs are not permitted (the model is in the path)"));
            }
            if fields.remove("anthropic_version") != Some(Value::String("vertex-2023-10-16".into())) {
                return Err(Violation::new(400, "anthropic_version: vertex-2023-10-16 is required"));
            }
            fields.insert("model".into(), Value::String(model.to_string()));
            plain.path = "/v1/messages".into();
            plain.headers.push(("x-api-key".into(), token.clone()));
            plain.headers.push(("anthropic-version".into(), "2023-06-01".into()));
        }
        Serve::Plain | Serve::Gemini(_) | Serve::Bedrock(_) => {}
    }
    Ok(plain)
}
