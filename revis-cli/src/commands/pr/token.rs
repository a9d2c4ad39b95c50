//! The user's GitHub token: `GH_TOKEN`, then `GITHUB_TOKEN`, then `gh auth token` (the same
//! order as the gh CLI). Must not print the token or put it in an error.

use std::process::{Command, Stdio};

/// Where a token came from, named in errors so the user knows which one to fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    GhToken,
    GithubToken,
    GhCli,
}

impl std::fmt::Display for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TokenSource::GhToken => "GH_TOKEN",
            TokenSource::GithubToken => "GITHUB_TOKEN",
            TokenSource::GhCli => "`gh auth token`",
        })
    }
}

pub struct Token {
    pub value: String,
    pub source: TokenSource,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Token(from {}, redacted)", self.source)
    }
}

/// What to tell a user who has no token at all.
pub fn missing_token_message(host: &str) -> String {
    format!(
        "no GitHub token for {host}: set GH_TOKEN or GITHUB_TOKEN, or log in with `gh auth login --hostname {host}`"
    )
}

/// The token for `host` from the real environment and the real `gh`.
pub fn find(host: &str) -> Option<Token> {
    resolve(|name| std::env::var(name).ok(), || gh_auth_token(host))
}

/// The lookup order, with the environment and `gh` passed in so it can be tested.
pub fn resolve(env: impl Fn(&str) -> Option<String>, gh: impl FnOnce() -> Option<String>) -> Option<Token> {
    let usable = |v: String| Some(v.trim().to_string()).filter(|v| !v.is_empty());
    for (name, source) in [("GH_TOKEN", TokenSource::GhToken), ("GITHUB_TOKEN", TokenSource::GithubToken)] {
        if let Some(value) = env(name).and_then(usable) {
            return Some(Token { value, source });
        }
    }
    gh().and_then(usable).map(|value| Token { value, source: TokenSource::GhCli })
}

/// `gh auth token --hostname HOST`; None when gh is missing or not logged in there.
fn gh_auth_token(host: &str) -> Option<String> {
    let output = Command::new("gh")
        .args(["auth", "token", "--hostname", host])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    String::from_utf8(output.stdout).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    }

    #[test]
    fn gh_token_comes_first_then_github_token_then_gh() {
        let t = resolve(env(&[("GH_TOKEN", "a"), ("GITHUB_TOKEN", "b")]), || Some("c".into()));
        assert_eq!(t.map(|t| (t.value, t.source)), Some(("a".into(), TokenSource::GhToken)));
        let t = resolve(env(&[("GH_TOKEN", " "), ("GITHUB_TOKEN", "b\n")]), || Some("c".into()));
        assert_eq!(t.map(|t| (t.value, t.source)), Some(("b".into(), TokenSource::GithubToken)));
        let t = resolve(env(&[]), || Some("c\n".into()));
        assert_eq!(t.map(|t| (t.value, t.source)), Some(("c".into(), TokenSource::GhCli)));
        assert!(resolve(env(&[]), || None).is_none());
        assert!(resolve(env(&[]), || Some(String::new())).is_none());
    }

    #[test]
    fn gh_is_not_asked_when_the_environment_has_a_token() {
        let t = resolve(env(&[("GITHUB_TOKEN", "b")]), || panic!("gh must not run"));
        assert!(t.is_some());
    }

    #[test]
    fn debug_output_never_shows_the_token() {
        let t = Token { value: "ghp_secret".into(), source: TokenSource::GhToken };
        assert!(!format!("{t:?}").contains("secret"));
    }
}
