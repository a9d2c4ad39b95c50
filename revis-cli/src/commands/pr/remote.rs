//! Which GitHub repository a git remote points at, and where that GitHub's REST API lives.
//! Pure parsing of the remote URL (https, ssh://, scp-like `git@host:owner/repo`, git://);
//! must not run git or touch the network.

/// `REVIS_GITHUB_API`: replaces the derived API base (tests point it at a loopback server).
pub const API_OVERRIDE_VAR: &str = "REVIS_GITHUB_API";

/// A repository on some GitHub host, as named by a remote URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteRepo {
    /// Lower-case host, with the port only for http(s) URLs (an ssh port says nothing about
    /// where the web server listens).
    pub host: String,
    pub owner: String,
    pub repo: String,
    /// Whether the remote was http rather than https: an Enterprise API on plain http is
    /// then reached the same way.
    pub plain_http: bool,
}

#[derive(Debug, thiserror::Error)]
#[error(
    "cannot tell the GitHub repository from the remote URL '{url}': expected https://HOST/OWNER/REPO or git@HOST:OWNER/REPO"
)]
pub struct RemoteUrlError {
    pub url: String,
}

impl RemoteRepo {
    /// Parses a remote URL; the error names the URL.
    pub fn parse(url: &str) -> Result<Self, RemoteUrlError> {
        parse(url.trim()).ok_or_else(|| RemoteUrlError { url: url.to_string() })
    }

    /// Whether this is github.com itself (as opposed to an Enterprise server).
    pub fn is_dotcom(&self) -> bool {
        matches!(self.host.as_str(), "github.com" | "www.github.com" | "ssh.github.com")
    }

    /// The host `gh auth token --hostname` knows this repository's login under.
    pub fn auth_host(&self) -> &str {
        if self.is_dotcom() { "github.com" } else { &self.host }
    }

    /// The REST API base, without a trailing slash: api.github.com for github.com,
    /// `api.SUB.ghe.com` for GitHub Enterprise Cloud with data residency, and
    /// `https://HOST/api/v3` for GitHub Enterprise Server.
    pub fn api_base(&self) -> String {
        if self.is_dotcom() {
            return "https://api.github.com".to_string();
        }
        if self.host.ends_with(".ghe.com") {
            return format!("https://api.{}", self.host);
        }
        let scheme = if self.plain_http { "http" } else { "https" };
        format!("{scheme}://{}/api/v3", self.host)
    }
}

/// The API base to use: the override when set (trailing slashes dropped), else derived.
pub fn api_base(remote: &RemoteRepo, override_value: Option<&str>) -> String {
    match override_value.map(str::trim).filter(|v| !v.is_empty()) {
        Some(base) => base.trim_end_matches('/').to_string(),
        None => remote.api_base(),
    }
}

fn parse(url: &str) -> Option<RemoteRepo> {
    if let Some((scheme, rest)) = url.split_once("://") {
        let scheme = scheme.to_ascii_lowercase();
        let web = matches!(scheme.as_str(), "http" | "https");
        if !web && !matches!(scheme.as_str(), "ssh" | "git" | "git+ssh" | "ssh+git") {
            return None;
        }
        let (authority, path) = rest.split_once('/')?;
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let host = if web { host_port } else { strip_port(host_port) };
        return build(host, path, scheme == "http");
    }
    // scp-like: [user@]host:owner/repo — no scheme, and no slash before the colon.
    let (authority, path) = url.split_once(':')?;
    if authority.contains('/') || path.starts_with("//") {
        return None;
    }
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    build(host, path, false)
}

fn strip_port(host_port: &str) -> &str {
    match host_port.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => host_port,
    }
}

fn build(host: &str, path: &str, plain_http: bool) -> Option<RemoteRepo> {
    let mut parts = path.trim_matches('/').split('/');
    let owner = parts.next()?.trim();
    let repo = parts.next()?.trim();
    let repo = repo.strip_suffix(".git").unwrap_or(repo);
    let valid = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if parts.next().is_some() || host.is_empty() || !valid(owner) || !valid(repo) {
        return None;
    }
    Some(RemoteRepo { host: host.to_ascii_lowercase(), owner: owner.to_string(), repo: repo.to_string(), plain_http })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(url: &str) -> (String, String, String) {
        let r = RemoteRepo::parse(url).unwrap_or_else(|e| panic!("{e}"));
        (r.host, r.owner, r.repo)
    }

    fn triple(host: &str, owner: &str, repo: &str) -> (String, String, String) {
        (host.into(), owner.into(), repo.into())
    }

    #[test]
    fn https_and_ssh_forms_name_the_same_repository() {
        for url in [
            "https://github.com/acme/model.git",
            "https://github.com/acme/model",
            "https://github.com/acme/model/",
            "https://x-access-token:abc@github.com/acme/model.git",
            "git@github.com:acme/model.git",
            "git@github.com:acme/model",
            "ssh://git@github.com/acme/model.git",
            "ssh://git@github.com:22/acme/model.git",
            "git://github.com/acme/model.git",
            "  https://GitHub.com/acme/model.git\n",
        ] {
            assert_eq!(parsed(url), triple("github.com", "acme", "model"), "{url}");
        }
    }

    #[test]
    fn dotted_and_dashed_names_survive() {
        assert_eq!(parsed("git@github.com:my-org/repo.name.git"), triple("github.com", "my-org", "repo.name"));
    }

    #[test]
    fn urls_that_are_not_a_github_repository_are_refused_with_the_url() {
        for url in ["/srv/git/model.git", "file:///srv/git/model.git", "https://github.com/acme", "", "git@host:"] {
            let err = RemoteRepo::parse(url).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains(&format!("'{url}'")), "{url}: {err}");
        }
        assert!(RemoteRepo::parse("https://gitlab.example.com/group/sub/repo.git").is_err());
    }

    #[test]
    fn github_com_uses_the_public_api() {
        for url in ["https://github.com/a/b", "git@github.com:a/b.git", "ssh://git@ssh.github.com:443/a/b.git"] {
            let remote = RemoteRepo::parse(url).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(remote.api_base(), "https://api.github.com", "{url}");
            assert_eq!(remote.auth_host(), "github.com");
        }
    }

    #[test]
    fn enterprise_server_api_base_comes_from_the_remote_host() {
        for url in [
            "https://ghe.corp.example/team/model.git",
            "git@ghe.corp.example:team/model.git",
            "ssh://git@ghe.corp.example:7999/team/model.git",
        ] {
            let remote = RemoteRepo::parse(url).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(remote.api_base(), "https://ghe.corp.example/api/v3", "{url}");
            assert_eq!(remote.auth_host(), "ghe.corp.example");
        }
        // An https port is the web server's, so the API is there too; plain http stays http.
        let custom = RemoteRepo::parse("https://ghe.corp.example:8443/team/model").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(custom.api_base(), "https://ghe.corp.example:8443/api/v3");
        let plain = RemoteRepo::parse("http://ghe.lan/team/model").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(plain.api_base(), "http://ghe.lan/api/v3");
    }

    #[test]
    fn ghe_com_data_residency_uses_its_api_subdomain() {
        let remote = RemoteRepo::parse("https://octo.ghe.com/team/model.git").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(remote.api_base(), "https://api.octo.ghe.com");
    }

    #[test]
    fn the_override_wins_and_loses_its_trailing_slash() {
        let remote = RemoteRepo::parse("git@github.com:a/b.git").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(api_base(&remote, Some("http://127.0.0.1:9/api/v3/")), "http://127.0.0.1:9/api/v3");
        assert_eq!(api_base(&remote, Some("  ")), "https://api.github.com");
        assert_eq!(api_base(&remote, None), "https://api.github.com");
    }
}
