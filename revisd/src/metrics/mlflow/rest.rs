//! The MLflow tracking server's REST API (`<tracking uri>/api/2.0/mlflow/...`): one client per
//! tracking URI with the credentials MLflow's own client reads from the environment, transient
//! failures retried with backoff, and server errors turned into messages that say what to do.
//!
//! Must not: decide what a run's state means (that is `run.rs`), or ever print a credential.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::http;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// Connection failures and 5xx are retried this many times: a tracking server restarting
/// behind a proxy answers 502/503 for a few seconds.
const RETRIES: u32 = 3;
const FIRST_BACKOFF: Duration = Duration::from_millis(300);

#[derive(Debug, thiserror::Error)]
pub enum MlflowError {
    #[error(
        "no MLflow tracking server configured: set metrics.tracking_uri in revis.yaml or MLFLOW_TRACKING_URI \
         (e.g. http://127.0.0.1:5000)"
    )]
    NoTrackingUri,
    #[error(
        "tracking URI '{0}' is not an http(s) tracking server; Revis reads MLflow over its REST API, so start \
         `mlflow server` and point metrics.tracking_uri at it"
    )]
    UnsupportedUri(String),
    #[error("MLflow tracking server {uri} is unreachable ({endpoint}): {detail}")]
    Unreachable { uri: String, endpoint: String, detail: String },
    #[error(
        "MLflow tracking server {uri} rejected the credentials (HTTP {status}); set MLFLOW_TRACKING_TOKEN or \
         MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD"
    )]
    Unauthorized { uri: String, status: u16 },
    #[error("MLflow {endpoint} failed with HTTP {status}{}: {message}", code_suffix(error_code))]
    Api { endpoint: String, status: u16, error_code: String, message: String },
    #[error("MLflow {endpoint} answered something that is not the documented JSON: {detail}")]
    Invalid { endpoint: String, detail: String },
    #[error("{0}")]
    Run(String),
}

fn code_suffix(code: &str) -> String {
    if code.is_empty() { String::new() } else { format!(" ({code})") }
}

impl MlflowError {
    /// MLflow's "no such experiment / run" answer.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Api { error_code, .. } if error_code == "RESOURCE_DOES_NOT_EXIST")
    }

    pub fn is_already_exists(&self) -> bool {
        matches!(self, Self::Api { error_code, .. } if error_code == "RESOURCE_ALREADY_EXISTS")
    }
}

impl From<MlflowError> for super::super::MetricsError {
    fn from(error: MlflowError) -> Self {
        Self::Service { source_name: "mlflow", message: error.to_string() }
    }
}

#[derive(Clone)]
enum Auth {
    None,
    Bearer(String),
    Basic(String, String),
}

/// One tracking server.
#[derive(Clone)]
pub struct Tracking {
    /// As configured, handed to the training as `MLFLOW_TRACKING_URI`.
    uri: String,
    /// The URI without `user:password@`, for messages.
    shown: String,
    api: String,
    auth: Auth,
    client: reqwest::Client,
}

impl Tracking {
    /// `var` looks up MLflow's credential variables (`MLFLOW_TRACKING_TOKEN`, or
    /// `MLFLOW_TRACKING_USERNAME` with `MLFLOW_TRACKING_PASSWORD`).
    pub fn new(uri: &str, var: impl Fn(&str) -> Option<String>) -> Result<Self, MlflowError> {
        let uri = uri.trim();
        if uri.is_empty() {
            return Err(MlflowError::NoTrackingUri);
        }
        let lower = uri.to_ascii_lowercase();
        if !(lower.starts_with("http://") || lower.starts_with("https://")) {
            return Err(MlflowError::UnsupportedUri(uri.to_string()));
        }
        let auth = match (var("MLFLOW_TRACKING_TOKEN"), var("MLFLOW_TRACKING_USERNAME")) {
            (Some(token), _) => Auth::Bearer(token),
            (None, Some(user)) => Auth::Basic(user, var("MLFLOW_TRACKING_PASSWORD").unwrap_or_default()),
            (None, None) => Auth::None,
        };
        let api = format!("{}/api/2.0/mlflow", uri.trim_end_matches('/'));
        if reqwest::Url::parse(&api).is_err() {
            return Err(MlflowError::UnsupportedUri(redact(uri)));
        }
        Ok(Self { uri: uri.to_string(), shown: redact(uri), api, auth, client: http::client() })
    }

    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// For messages: never carries credentials.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    pub async fn get(&self, endpoint: &str, query: &[(&str, &str)]) -> Result<Value, MlflowError> {
        self.call(Method::GET, endpoint, query, None).await
    }

    pub async fn post(&self, endpoint: &str, body: &Value) -> Result<Value, MlflowError> {
        self.call(Method::POST, endpoint, &[], Some(body)).await
    }

    async fn call(
        &self,
        method: Method,
        endpoint: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Value, MlflowError> {
        let mut retries = 0;
        loop {
            match self.attempt(method.clone(), endpoint, query, body).await {
                Err(Failure::Retryable(error)) if retries < RETRIES => {
                    tracing::debug!(%error, endpoint, "MLflow request failed; retrying");
                    tokio::time::sleep(FIRST_BACKOFF * 2u32.pow(retries)).await;
                    retries += 1;
                }
                Err(Failure::Retryable(error) | Failure::Final(error)) => return Err(error),
                Ok(value) => return Ok(value),
            }
        }
    }

    async fn attempt(
        &self,
        method: Method,
        endpoint: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Value, Failure> {
        // reqwest is built without its `query` feature; the url crate encodes the pairs.
        let url = reqwest::Url::parse_with_params(&format!("{}/{endpoint}", self.api), query)
            .map_err(|e| Failure::Final(MlflowError::UnsupportedUri(format!("{} ({e})", self.shown))))?;
        let mut request = self.client.request(method, url).timeout(REQUEST_TIMEOUT);
        request = match &self.auth {
            Auth::None => request,
            Auth::Bearer(token) => request.bearer_auth(token),
            Auth::Basic(user, password) => request.basic_auth(user, Some(password)),
        };
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| {
            Failure::Retryable(MlflowError::Unreachable {
                uri: self.shown.clone(),
                endpoint: endpoint.to_string(),
                detail: http::error_text(&e.without_url()),
            })
        })?;
        let status = response.status();
        let text = response.text().await.map_err(|e| {
            Failure::Retryable(MlflowError::Unreachable {
                uri: self.shown.clone(),
                endpoint: endpoint.to_string(),
                detail: http::error_text(&e.without_url()),
            })
        })?;
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(Failure::Final(MlflowError::Unauthorized { uri: self.shown.clone(), status: status.as_u16() }));
        }
        if !status.is_success() {
            let error = api_error(endpoint, status, &text);
            let retryable = status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS;
            return Err(if retryable { Failure::Retryable(error) } else { Failure::Final(error) });
        }
        serde_json::from_str(&text)
            .map_err(|e| Failure::Final(MlflowError::Invalid { endpoint: endpoint.to_string(), detail: e.to_string() }))
    }
}

enum Failure {
    Retryable(MlflowError),
    Final(MlflowError),
}

fn redact(uri: &str) -> String {
    let Some((scheme, rest)) = uri.split_once("://") else { return uri.to_string() };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rsplit_once('@') {
        Some((_, host)) => format!("{scheme}://***@{host}{}", &rest[authority_end..]),
        None => uri.to_string(),
    }
}

/// MLflow errors are `{"error_code": "...", "message": "..."}`; proxies answer HTML.
fn api_error(endpoint: &str, status: StatusCode, body: &str) -> MlflowError {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let field = |name: &str| parsed.as_ref().and_then(|v| v.get(name)).and_then(Value::as_str).map(str::to_string);
    let message = field("message").unwrap_or_else(|| body.chars().take(300).collect::<String>().trim().to_string());
    MlflowError::Api {
        endpoint: endpoint.to_string(),
        status: status.as_u16(),
        error_code: field("error_code").unwrap_or_default(),
        message,
    }
}
