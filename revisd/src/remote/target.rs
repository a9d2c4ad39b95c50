//! Where to connect: the executor's `host` resolved the way the user's own `ssh` would, through
//! `<home>/.ssh/config` (Host patterns, HostName, User, Port, IdentityFile, one ProxyJump hop),
//! with explicit `executor.user/port/key_path` taking precedence.
//!
//! Pure configuration: no network, no writes. `<home>` is passed in (the daemon's $HOME) so tests
//! can point it at a temp dir.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use ssh2_config::{ParseRule, SshConfig};

use super::RemoteError;
use crate::config::Executor;

/// Default identity files, in the order OpenSSH tries them (dsa is gone).
const DEFAULT_IDENTITIES: [&str; 3] = ["id_ed25519", "id_ecdsa", "id_rsa"];

/// A fully resolved SSH destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    /// What the user wrote (`executor.host`), kept for messages.
    pub alias: String,
    /// The real host name or address (`HostName`), also the known_hosts key.
    pub host: String,
    pub port: u16,
    pub user: String,
    /// Tried in order after the agent; missing files are skipped.
    pub identity_files: Vec<PathBuf>,
    /// One hop only: the connection to `host` is tunnelled through this one.
    pub proxy_jump: Option<Box<SshTarget>>,
}

impl SshTarget {
    /// `user@host:port`, for messages.
    pub fn display(&self) -> String {
        format!("{}@{}:{}", self.user, self.host, self.port)
    }
}

/// Resolves `executor.host` (an alias or a host name) against `<home>/.ssh/config`.
pub fn resolve(executor: &Executor, home: &Path) -> Result<SshTarget, RemoteError> {
    let alias = executor.host.as_deref().map(str::trim).filter(|h| !h.is_empty()).ok_or(RemoteError::NoHost)?;
    let config = load_config(home)?;
    let key_path = executor.key_path.as_deref().map(|p| expand_tilde(p, home));
    let mut target = resolve_one(alias, executor.user.as_deref(), executor.port, key_path, config.as_ref(), home)?;
    let jumps = config.as_ref().and_then(|c| c.query(alias).proxy_jump).unwrap_or_default();
    target.proxy_jump = match jumps.as_slice() {
        [] => None,
        [only] if only.eq_ignore_ascii_case("none") => None,
        [only] => {
            let (user, host, port) = split_jump(only).ok_or_else(|| RemoteError::ProxyJump {
                alias: alias.to_owned(),
                jump: only.clone(),
                reason: "expected [user@]host[:port]",
            })?;
            let jump = resolve_one(host, user, port, None, config.as_ref(), home)?;
            let nested = config
                .as_ref()
                .and_then(|c| c.query(host).proxy_jump)
                .is_some_and(|j| !j.iter().all(|h| h.eq_ignore_ascii_case("none")));
            if nested {
                return Err(RemoteError::ProxyJump {
                    alias: alias.to_owned(),
                    jump: only.clone(),
                    reason: "the jump host has a ProxyJump of its own; only one hop is supported",
                });
            }
            Some(Box::new(jump))
        }
        [..] => {
            return Err(RemoteError::ProxyJump {
                alias: alias.to_owned(),
                jump: jumps.join(","),
                reason: "only one hop is supported",
            });
        }
    };
    Ok(target)
}

/// Host aliases from `<home>/.ssh/config` that name one host (no wildcard or negated
/// patterns), in file order, for `revis init` to offer. An unreadable config lists nothing.
pub fn list_hosts(home: &Path) -> Vec<String> {
    let Ok(Some(config)) = load_config(home) else {
        return Vec::new();
    };
    let mut hosts: Vec<String> = Vec::new();
    for host in config.get_hosts() {
        for clause in &host.pattern {
            let p = &clause.pattern;
            let wildcard = p.contains(['*', '?', '!']);
            if !clause.negated && !wildcard && !p.is_empty() && !hosts.contains(p) {
                hosts.push(p.clone());
            }
        }
    }
    hosts
}

fn resolve_one(
    alias: &str,
    user: Option<&str>,
    port: Option<u16>,
    key_path: Option<PathBuf>,
    config: Option<&SshConfig>,
    home: &Path,
) -> Result<SshTarget, RemoteError> {
    let params = config.map(|c| c.query(alias));
    let params = params.as_ref();
    let host = params
        .and_then(|p| p.host_name.clone())
        // `%h` is the one HostName token people actually use (`HostName %h.corp`).
        .map(|h| h.replace("%h", alias))
        .unwrap_or_else(|| alias.to_owned());
    let user = match user.map(str::to_owned).or_else(|| params.and_then(|p| p.user.clone())) {
        Some(u) => u,
        None => local_user().ok_or_else(|| RemoteError::Config {
            path: home.to_path_buf(),
            message: "cannot determine the local user name; set executor.user".to_owned(),
        })?,
    };
    let identity_files = match key_path {
        Some(k) => vec![k],
        None => params
            .and_then(|p| p.identity_file.clone())
            .filter(|files| !files.is_empty())
            .unwrap_or_else(|| DEFAULT_IDENTITIES.iter().map(|name| home.join(".ssh").join(name)).collect()),
    };
    Ok(SshTarget {
        alias: alias.to_owned(),
        host,
        port: port.or_else(|| params.and_then(|p| p.port)).unwrap_or(22),
        user,
        identity_files,
        proxy_jump: None,
    })
}

fn load_config(home: &Path) -> Result<Option<SshConfig>, RemoteError> {
    let path = home.join(".ssh").join("config");
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(RemoteError::Config { path, message: e.to_string() });
        }
    };
    // Real configs carry options ssh2-config does not model (SendEnv, ControlMaster, ...):
    // they must not make the whole file unusable.
    let rules = ParseRule::ALLOW_UNKNOWN_FIELDS | ParseRule::ALLOW_UNSUPPORTED_FIELDS;
    SshConfig::default()
        .home_dir(home)
        .parse(&mut BufReader::new(file), rules)
        .map(Some)
        .map_err(|e| RemoteError::Config { path, message: e.to_string() })
}

/// `[user@]host[:port]` of a ProxyJump entry.
fn split_jump(spec: &str) -> Option<(Option<&str>, &str, Option<u16>)> {
    let (user, rest) = match spec.rsplit_once('@') {
        Some((u, r)) => (Some(u), r),
        None => (None, spec),
    };
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, Some(p.parse().ok()?)),
        _ => (rest, None),
    };
    (!host.is_empty()).then_some((user, host, port))
}

fn expand_tilde(path: &str, home: &Path) -> PathBuf {
    match path.strip_prefix("~/") {
        Some(rest) => home.join(rest),
        None if path == "~" => home.to_path_buf(),
        None => PathBuf::from(path),
    }
}

fn local_user() -> Option<String> {
    std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(|| nix::unistd::User::from_uid(nix::unistd::getuid()).ok().flatten().map(|u| u.name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn home_with(config: &str) -> Result<tempfile::TempDir, std::io::Error> {
        let home = tempfile::tempdir()?;
        std::fs::create_dir_all(home.path().join(".ssh"))?;
        std::fs::write(home.path().join(".ssh/config"), config)?;
        Ok(home)
    }

    fn executor(host: &str) -> Executor {
        Executor { host: Some(host.to_owned()), ..Executor::default() }
    }

    const CONFIG: &str = "\
Host gpu gpu-alt
    HostName 10.0.0.5
    User alice
    Port 2222
    IdentityFile ~/.ssh/gpu_key
    SendEnv LANG

Host jumped
    HostName 10.0.0.6
    ProxyJump bob@bastion:2200

Host bastion
    HostName bastion.example.org

Host twohops
    ProxyJump a,b

Host *.corp !skip.corp
    User carol
";

    #[test]
    fn alias_resolves_host_user_port_and_identity() -> Result<(), Box<dyn std::error::Error>> {
        let home = home_with(CONFIG)?;
        let t = resolve(&executor("gpu"), home.path())?;
        assert_eq!(t.alias, "gpu");
        assert_eq!(t.host, "10.0.0.5");
        assert_eq!(t.user, "alice");
        assert_eq!(t.port, 2222);
        assert_eq!(t.identity_files, vec![home.path().join(".ssh/gpu_key")]);
        assert_eq!(t.proxy_jump, None);
        Ok(())
    }

    #[test]
    fn explicit_settings_override_config() -> Result<(), Box<dyn std::error::Error>> {
        let home = home_with(CONFIG)?;
        let mut e = executor("gpu");
        e.user = Some("root".into());
        e.port = Some(22);
        e.key_path = Some("~/k".into());
        let t = resolve(&e, home.path())?;
        assert_eq!((t.user.as_str(), t.port), ("root", 22));
        assert_eq!(t.identity_files, vec![home.path().join("k")]);
        Ok(())
    }

    #[test]
    fn plain_host_gets_defaults_and_patterns_apply() -> Result<(), Box<dyn std::error::Error>> {
        let home = home_with(CONFIG)?;
        let t = resolve(&executor("box.corp"), home.path())?;
        assert_eq!(t.host, "box.corp");
        assert_eq!(t.port, 22);
        assert_eq!(t.user, "carol");
        assert_eq!(t.identity_files.len(), 3);
        assert!(t.identity_files[0].ends_with(".ssh/id_ed25519"));
        Ok(())
    }

    #[test]
    fn one_proxy_jump_hop_is_resolved_and_two_are_refused() -> Result<(), Box<dyn std::error::Error>> {
        let home = home_with(CONFIG)?;
        let t = resolve(&executor("jumped"), home.path())?;
        let jump = t.proxy_jump.ok_or("no jump")?;
        assert_eq!((jump.user.as_str(), jump.host.as_str(), jump.port), ("bob", "bastion.example.org", 2200));
        let err = resolve(&executor("twohops"), home.path());
        assert!(matches!(err, Err(RemoteError::ProxyJump { .. })), "{err:?}");
        Ok(())
    }

    #[test]
    fn missing_host_and_missing_config() -> Result<(), Box<dyn std::error::Error>> {
        let home = tempfile::tempdir()?;
        assert!(matches!(resolve(&Executor::default(), home.path()), Err(RemoteError::NoHost)));
        let mut e = executor("plain");
        e.user = Some("u".into());
        let t = resolve(&e, home.path())?;
        assert_eq!((t.host.as_str(), t.port), ("plain", 22));
        assert!(list_hosts(home.path()).is_empty());
        Ok(())
    }

    #[test]
    fn list_hosts_skips_patterns() -> Result<(), Box<dyn std::error::Error>> {
        let home = home_with(CONFIG)?;
        assert_eq!(list_hosts(home.path()), vec!["gpu", "gpu-alt", "jumped", "bastion", "twohops"]);
        Ok(())
    }
}
