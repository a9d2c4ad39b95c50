//! The two GitHub REST calls `revis pr` makes: create a pull request, and (when one already
//! exists for the branch) find the open one. Owns the HTTP client, headers and the mapping of
//! GitHub's answers to errors a user can act on. Must not run git or print anything, and never
//! puts the token in an error or a log.

use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderValue, USER_AGENT};
use reqwest::{Client, Method, StatusCode, Url};
use serde::{Deserialize, Serialize};

use super::remote::RemoteRepo;
use super::token::{Token, TokenSource};

const API_VERSION: &str = "2022-11-28";
const MEDIA_TYPE: &str = "application/vnd.github+json";
/// Long enough for a slow Enterprise server, short enough that a dead one does not hang the CLI.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The body of `POST /repos/{owner}/{repo}/pulls`.
#[derive(Debug, Serialize)]
pub struct NewPullRequest {
    pub title: String,
    /// The branch with the changes (in the same repository).
    pub head: String,
    /// The branch the changes should go into.
    pub base: String,
    pub body: String,
    pub draft: bool,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct PullRequest {
    pub number: u64,
    pub html_url: String,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Opened {
    Created(PullRequest),
    /// GitHub already had an open pull request for the branch.
    Existing(PullRequest),
}

#[derive(Debug, thiserror::Error)]
pub enum GitHubError {
    #[error(
        "GitHub rejected the token from {token_from} ({status}{}): set GH_TOKEN or GITHUB_TOKEN to a valid token with access to {repo}, or log in with `gh auth login`",
        with_message(.message)
    )]
    BadToken { token_from: TokenSource, repo: String, status: u16, message: String },

    #[error(
        "GitHub has no repository {repo} that the token from {token_from} can see (404 from {url}); check the remote URL and the token's access"
    )]
    NotFound { repo: String, token_from: TokenSource, url: String },

    #[error("GitHub refused to open the pull request ({status}{}){}", with_message(.message), details(.errors))]
    Refused { status: u16, message: String, errors: Vec<String> },

    #[error(
        "GitHub says a pull request for {head} already exists, but no open one was found with GET {url}; it may be closed: reopen it on GitHub or delete the branch"
    )]
    ExistingNotFound { head: String, url: String },

    #[error("cannot reach the GitHub API at {url}: {detail}")]
    Http { url: String, detail: String },

    #[error("unexpected answer from {url} ({status}): {detail}")]
    Unexpected { url: String, status: u16, detail: String },

    #[error("cannot build a request URL from the API base '{base}': {detail}")]
    BadBase { base: String, detail: String },

    #[error("the token from {0} contains characters that are not allowed in an HTTP header")]
    TokenNotAHeader(TokenSource),
}

fn with_message(message: &str) -> String {
    if message.is_empty() { String::new() } else { format!(" {message}") }
}

fn details(errors: &[String]) -> String {
    if errors.is_empty() { String::new() } else { format!(": {}", errors.join("; ")) }
}

/// GitHub's error body: `{"message": "...", "errors": [{"message": "..."} | "text"]}`.
#[derive(Debug, Default, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    message: String,
    #[serde(default)]
    errors: Vec<serde_json::Value>,
}

impl ErrorBody {
    fn parse(text: &str) -> Self {
        serde_json::from_str(text).unwrap_or_else(|_| ErrorBody { message: text.trim().to_string(), errors: vec![] })
    }

    fn error_messages(&self) -> Vec<String> {
        self.errors
            .iter()
            .filter_map(|e| match e {
                serde_json::Value::String(s) => Some(s.clone()),
                other => other.get("message").and_then(|m| m.as_str()).map(str::to_string).or_else(|| {
                    // Errors without a message carry a code and a field (`missing_field head`).
                    let code = other.get("code").and_then(|c| c.as_str())?;
                    let field = other.get("field").and_then(|f| f.as_str()).unwrap_or_default();
                    Some(format!("{code} {field}").trim().to_string())
                }),
            })
            .collect()
    }

    fn already_exists(&self) -> bool {
        self.error_messages().iter().any(|m| m.contains("already exists"))
    }
}

pub struct GitHub {
    client: Client,
    base: String,
    token: Token,
    auth: HeaderValue,
}

impl GitHub {
    /// A client for the API at `base` (no trailing slash) authenticating with `token`.
    pub fn new(base: String, token: Token) -> Result<Self, GitHubError> {
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", token.value))
            .map_err(|_| GitHubError::TokenNotAHeader(token.source))?;
        auth.set_sensitive(true);
        Ok(Self { client: http_client(), base, token, auth })
    }

    /// Opens the pull request, or returns the open one GitHub already has for `pull.head`.
    pub async fn open(&self, repo: &RemoteRepo, pull: &NewPullRequest) -> Result<Opened, GitHubError> {
        let url = self.url(&["repos", &repo.owner, &repo.repo, "pulls"])?;
        let response = self.send(Method::POST, url.clone(), Some(pull)).await?;
        let status = response.status();
        let text = read_text(&url, response).await?;
        match status {
            StatusCode::CREATED | StatusCode::OK => decode(&url, status, &text).map(Opened::Created),
            StatusCode::UNPROCESSABLE_ENTITY => {
                let body = ErrorBody::parse(&text);
                if body.already_exists() {
                    return self.find_open(repo, &pull.head).await.map(Opened::Existing);
                }
                let errors = body.error_messages();
                Err(GitHubError::Refused { status: status.as_u16(), message: body.message, errors })
            }
            _ => Err(self.failure(repo, &url, status, &text)),
        }
    }

    /// The open pull request from `owner:head`.
    async fn find_open(&self, repo: &RemoteRepo, head: &str) -> Result<PullRequest, GitHubError> {
        let mut url = self.url(&["repos", &repo.owner, &repo.repo, "pulls"])?;
        url.query_pairs_mut().append_pair("head", &format!("{}:{head}", repo.owner)).append_pair("state", "open");
        let response = self.send::<()>(Method::GET, url.clone(), None).await?;
        let status = response.status();
        let text = read_text(&url, response).await?;
        if status != StatusCode::OK {
            return Err(self.failure(repo, &url, status, &text));
        }
        let pulls: Vec<PullRequest> = decode(&url, status, &text)?;
        pulls
            .into_iter()
            .next()
            .ok_or_else(|| GitHubError::ExistingNotFound { head: head.to_string(), url: url.into() })
    }

    async fn send<B: Serialize>(
        &self,
        method: Method,
        url: Url,
        body: Option<&B>,
    ) -> Result<reqwest::Response, GitHubError> {
        let mut request = self
            .client
            .request(method, url.clone())
            .header(AUTHORIZATION, self.auth.clone())
            .header(ACCEPT, MEDIA_TYPE)
            .header("X-GitHub-Api-Version", API_VERSION)
            // GitHub rejects requests without a User-Agent.
            .header(USER_AGENT, concat!("revis/", env!("CARGO_PKG_VERSION")))
            .timeout(REQUEST_TIMEOUT);
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.map_err(|e| GitHubError::Http { url: url.into(), detail: chain(&e) })
    }

    fn url(&self, segments: &[&str]) -> Result<Url, GitHubError> {
        let bad = |detail: String| GitHubError::BadBase { base: self.base.clone(), detail };
        let mut url = Url::parse(&self.base).map_err(|e| bad(e.to_string()))?;
        url.path_segments_mut().map_err(|()| bad("it cannot have a path".into()))?.pop_if_empty().extend(segments);
        Ok(url)
    }

    fn failure(&self, repo: &RemoteRepo, url: &Url, status: StatusCode, text: &str) -> GitHubError {
        let body = ErrorBody::parse(text);
        let repo_name = format!("{}/{}", repo.owner, repo.repo);
        match status {
            StatusCode::UNAUTHORIZED => GitHubError::BadToken {
                token_from: self.token.source,
                repo: repo_name,
                status: status.as_u16(),
                message: body.message,
            },
            // A token without access to a private repository gets 404, not 403.
            StatusCode::NOT_FOUND => {
                GitHubError::NotFound { repo: repo_name, token_from: self.token.source, url: url.to_string() }
            }
            StatusCode::FORBIDDEN if body.message.to_ascii_lowercase().contains("bad credentials") => {
                GitHubError::BadToken {
                    token_from: self.token.source,
                    repo: repo_name,
                    status: status.as_u16(),
                    message: body.message,
                }
            }
            _ => {
                let errors = body.error_messages();
                GitHubError::Refused { status: status.as_u16(), message: body.message, errors }
            }
        }
    }
}

async fn read_text(url: &Url, response: reqwest::Response) -> Result<String, GitHubError> {
    response.text().await.map_err(|e| GitHubError::Http { url: url.to_string(), detail: chain(&e) })
}

/// reqwest's own message is generic ("error sending request"); the cause (refused, DNS, TLS)
/// is further down the chain.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn decode<T: serde::de::DeserializeOwned>(url: &Url, status: StatusCode, text: &str) -> Result<T, GitHubError> {
    serde_json::from_str(text).map_err(|e| GitHubError::Unexpected {
        url: url.to_string(),
        status: status.as_u16(),
        detail: format!("{e} in {}", text.chars().take(200).collect::<String>()),
    })
}

/// reqwest is built with `rustls-no-provider`: install ring first (another part of the
/// process may have done so already, which is fine).
fn http_client() -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    match Client::builder().build() {
        Ok(client) => client,
        // The platform verifier refuses to start without system CA certificates (minimal
        // containers): plain-http APIs still work, and HTTPS then fails with a clear TLS error.
        Err(_) => Client::builder().tls_certs_only(Vec::new()).build().unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_already_exists_answer_is_recognised() {
        let text = r#"{"message":"Validation Failed","errors":[{"resource":"PullRequest","code":"custom","message":"A pull request already exists for acme:revis/x."}]}"#;
        assert!(ErrorBody::parse(text).already_exists());
        let other = r#"{"message":"Validation Failed","errors":[{"resource":"PullRequest","code":"custom","message":"No commits between main and revis/x"}]}"#;
        let body = ErrorBody::parse(other);
        assert!(!body.already_exists());
        assert_eq!(body.error_messages(), vec!["No commits between main and revis/x".to_string()]);
    }

    #[test]
    fn errors_without_a_message_still_say_something() {
        let text =
            r#"{"message":"Validation Failed","errors":[{"resource":"PullRequest","code":"invalid","field":"base"}]}"#;
        assert_eq!(ErrorBody::parse(text).error_messages(), vec!["invalid base".to_string()]);
        assert_eq!(ErrorBody::parse("<html>oops</html>").message, "<html>oops</html>");
    }

    #[test]
    fn a_bad_token_error_names_the_variables() {
        let err = GitHubError::BadToken {
            token_from: TokenSource::GithubToken,
            repo: "acme/model".into(),
            status: 401,
            message: "Bad credentials".into(),
        };
        let text = err.to_string();
        assert!(text.contains("token from GITHUB_TOKEN (401 Bad credentials)"), "{text}");
        assert!(text.contains("GH_TOKEN or GITHUB_TOKEN") && text.contains("gh auth login"), "{text}");
    }

    #[test]
    fn request_urls_keep_the_base_path() {
        let token = Token { value: "t".into(), source: TokenSource::GhToken };
        let gh = GitHub::new("http://127.0.0.1:1/api/v3".into(), token).unwrap_or_else(|e| panic!("{e}"));
        let url = gh.url(&["repos", "acme", "model", "pulls"]).map(String::from).unwrap_or_default();
        assert_eq!(url, "http://127.0.0.1:1/api/v3/repos/acme/model/pulls");
        let token = Token { value: "t".into(), source: TokenSource::GhToken };
        let gh = GitHub::new("https://api.github.com".into(), token).unwrap_or_else(|e| panic!("{e}"));
        let url = gh.url(&["repos", "a", "b", "pulls"]).map(String::from).unwrap_or_default();
        assert_eq!(url, "https://api.github.com/repos/a/b/pulls");
    }

    #[test]
    fn a_token_with_a_newline_is_refused_without_showing_it() {
        let token = Token { value: "abc\ndef".into(), source: TokenSource::GhToken };
        let err = GitHub::new("https://api.github.com".into(), token).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("GH_TOKEN") && !err.contains("abc"), "{err}");
    }
}
