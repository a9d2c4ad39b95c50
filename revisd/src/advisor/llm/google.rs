//! Google credentials for Vertex AI: a service-account key or an application-default
//! (`authorized_user`) credential, named by `VERTEXAI_CREDENTIALS` (a path or the JSON itself,
//! as LiteLLM takes it) or `GOOGLE_APPLICATION_CREDENTIALS` (a path; the CLI fills in gcloud's
//! application-default file when the user's shell has one). Access tokens are cached until a
//! minute before they expire.
//!
//! The service-account exchange (an RS256-signed JWT traded at the key's `token_uri`) is done
//! by the maintained `gcp_auth` crate; the application-default credential is a refresh token
//! traded at the token endpoint with a plain POST (no signing involved), because `gcp_auth`
//! reads that file only from the daemon's own home.
//!
//! Must not: show a key, a refresh token or an access token in any message or `Debug` output.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use gcp_auth::TokenProvider;
use serde_json::Value;

const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// Where gcloud's application-default credentials trade their refresh token.
const TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    ServiceAccount,
    AuthorizedUser,
}

/// One Google credential, as its JSON.
#[derive(Clone)]
pub struct Credential {
    json: Arc<str>,
    kind: Kind,
    project_id: Option<String>,
    /// The variable it came from, for messages.
    source: &'static str,
}

impl PartialEq for Credential {
    fn eq(&self, other: &Self) -> bool {
        self.json == other.json
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential").field("kind", &self.kind).field("source", &self.source).finish_non_exhaustive()
    }
}

impl Credential {
    /// The credential the session names, `Ok(None)` when it names none (a missing key, which
    /// pauses the session), `Err` when the one named cannot be used (refused before anything
    /// runs).
    pub fn from_env(var: &dyn Fn(&str) -> Option<String>) -> Result<Option<Self>, String> {
        let (text, source) = if let Some(value) = var("VERTEXAI_CREDENTIALS") {
            let text = if value.trim_start().starts_with('{') {
                value
            } else {
                std::fs::read_to_string(&value)
                    .map_err(|e| format!("cannot read VERTEXAI_CREDENTIALS file {value}: {e}"))?
            };
            (text, "VERTEXAI_CREDENTIALS")
        } else if let Some(path) = var("GOOGLE_APPLICATION_CREDENTIALS") {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read GOOGLE_APPLICATION_CREDENTIALS file {path}: {e}"))?;
            (text, "GOOGLE_APPLICATION_CREDENTIALS")
        } else {
            return Ok(None);
        };
        Self::parse(&text, source).map(Some)
    }

    fn parse(text: &str, source: &'static str) -> Result<Self, String> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| format!("{source} does not hold a JSON credential: {e}"))?;
        let field = |name: &str| value.get(name).and_then(Value::as_str).filter(|v| !v.is_empty());
        let kind = match field("type") {
            Some("service_account") => Kind::ServiceAccount,
            Some("authorized_user") => Kind::AuthorizedUser,
            other => {
                return Err(format!(
                    "{source}: credentials of type {other:?} are not supported (use a service-account key or \
                     `gcloud auth application-default login`)"
                ));
            }
        };
        let needed: &[&str] = match kind {
            Kind::ServiceAccount => &["client_email", "private_key", "token_uri"],
            Kind::AuthorizedUser => &["client_id", "client_secret", "refresh_token"],
        };
        if let Some(missing) = needed.iter().find(|name| field(name).is_none()) {
            return Err(format!("{source}: the credential has no {missing}"));
        }
        let project_id = field("project_id").or_else(|| field("quota_project_id")).map(str::to_string);
        Ok(Self { json: Arc::from(text), kind, project_id, source })
    }

    pub fn project_id(&self) -> Option<String> {
        self.project_id.clone()
    }

    pub fn source(&self) -> &'static str {
        self.source
    }

    /// An access token for Vertex AI, from the cache while it has more than a minute left.
    pub async fn token(&self, client: &reqwest::Client, timeout: Duration) -> Result<String, String> {
        if let Some(token) = cached(&self.json) {
            return Ok(token);
        }
        let (token, lifetime) = match self.kind {
            Kind::ServiceAccount => {
                let account = gcp_auth::CustomServiceAccount::from_json(&self.json)
                    .map_err(|e| format!("the service-account key cannot be used: {e}"))?;
                let token = tokio::time::timeout(timeout, account.token(&[SCOPE]))
                    .await
                    .map_err(|_| format!("no access token within {}s", timeout.as_secs()))?
                    .map_err(|e| format!("cannot get an access token for the service account: {e}"))?;
                let lifetime = (token.expires_at() - chrono::Utc::now()).to_std().unwrap_or_default();
                (token.as_str().to_string(), lifetime)
            }
            Kind::AuthorizedUser => refresh(&self.json, client, timeout).await?,
        };
        remember(&self.json, &token, lifetime);
        Ok(token)
    }
}

/// Trades the refresh token of an application-default credential for an access token.
async fn refresh(json: &str, client: &reqwest::Client, timeout: Duration) -> Result<(String, Duration), String> {
    let value: Value = serde_json::from_str(json).map_err(|e| format!("unreadable credential: {e}"))?;
    let field = |name: &str| value.get(name).and_then(Value::as_str).unwrap_or_default();
    let uri = Some(field("token_uri")).filter(|u| !u.is_empty()).unwrap_or(TOKEN_URI);
    // A form, as RFC 6749 and Google's own auth libraries send it.
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "refresh_token")
        .append_pair("client_id", field("client_id"))
        .append_pair("client_secret", field("client_secret"))
        .append_pair("refresh_token", field("refresh_token"))
        .finish();
    let response = client
        .post(uri)
        .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body)
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| format!("cannot reach {uri}: {}", crate::http::error_text(&e)))?;
    let status = response.status().as_u16();
    let text = response.text().await.map_err(|e| format!("cannot read the token answer: {e}"))?;
    let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if status != 200 {
        // OAuth errors name the problem (`invalid_grant`) without echoing the secret.
        let why = answer.get("error_description").or_else(|| answer.get("error")).and_then(Value::as_str);
        return Err(format!(
            "the application-default credential was refused (HTTP {status}: {}); run `gcloud auth application-default login`",
            why.unwrap_or("no reason given")
        ));
    }
    let token = answer.get("access_token").and_then(Value::as_str).ok_or("the token answer has no access_token")?;
    let lifetime = Duration::from_secs(answer.get("expires_in").and_then(Value::as_u64).unwrap_or(3600));
    Ok((token.to_string(), lifetime))
}

type Cache = Mutex<HashMap<Arc<str>, (String, Instant)>>;

fn cache() -> &'static Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// A token is used until a minute before it expires.
const MARGIN: Duration = Duration::from_secs(60);

fn cached(json: &Arc<str>) -> Option<String> {
    let cache = cache().lock().unwrap_or_else(|p| p.into_inner());
    cache.get(json).filter(|(_, until)| Instant::now() < *until).map(|(token, _)| token.clone())
}

fn remember(json: &Arc<str>, token: &str, lifetime: Duration) {
    let until = Instant::now() + lifetime.saturating_sub(MARGIN);
    let mut cache = cache().lock().unwrap_or_else(|p| p.into_inner());
    cache.insert(Arc::clone(json), (token.to_string(), until));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: Vec<(&'static str, String)>) -> impl Fn(&str) -> Option<String> {
        move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone())
    }

    const USER: &str = r#"{"type":"authorized_user","client_id":"c","client_secret":"s","refresh_token":"r","quota_project_id":"proj-q"}"#;

    #[test]
    fn credentials_come_inline_or_from_files_and_name_their_source() {
        let inline =
            Credential::from_env(&env(vec![("VERTEXAI_CREDENTIALS", USER.into())])).expect("ok").expect("some");
        assert_eq!(
            (inline.kind, inline.source(), inline.project_id().as_deref()),
            (Kind::AuthorizedUser, "VERTEXAI_CREDENTIALS", Some("proj-q"))
        );
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("adc.json");
        std::fs::write(&path, USER).expect("write");
        let from_file =
            Credential::from_env(&env(vec![("GOOGLE_APPLICATION_CREDENTIALS", path.display().to_string())]))
                .expect("ok")
                .expect("some");
        assert_eq!(from_file.source(), "GOOGLE_APPLICATION_CREDENTIALS");
        assert_eq!(Credential::from_env(&env(vec![])), Ok(None));
        let shown = format!("{inline:?}");
        assert!(!shown.contains("refresh") && !shown.contains("\"s\""), "{shown}");
    }

    #[test]
    fn unusable_credentials_are_refused_with_the_reason() {
        let refused =
            |json: &str| Credential::from_env(&env(vec![("VERTEXAI_CREDENTIALS", json.into())])).expect_err("refused");
        assert!(refused(r#"{"type":"external_account"}"#).contains("not supported"));
        assert!(refused(r#"{"type":"service_account","client_email":"a@b"}"#).contains("no private_key"));
        assert!(refused("{oops").contains("JSON"));
        let missing =
            Credential::from_env(&env(vec![("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/adc.json".into())]));
        assert!(missing.expect_err("refused").contains("cannot read"));
    }
}
