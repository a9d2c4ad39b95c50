//! SSH hosts for `revis init`: the aliases the user's ~/.ssh/config names, and a connection
//! test of one that can also record its host key after the user agreed to trust it.

use std::path::PathBuf;

use crate::config::{Executor, ExecutorType};
use crate::exec::slurm::Cluster;
use crate::exec::slurm::check::Partition;
use crate::remote::{self, LocalShell, Remote, RemoteError, Shell};

use super::{EngineError, Result};

pub struct Probe {
    pub ok: bool,
    pub target: String,
    pub message: String,
    pub unknown_fingerprint: Option<String>,
}

fn home() -> Result<PathBuf> {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .ok_or_else(|| EngineError::Internal("HOME is not set: cannot read ~/.ssh".into()))
}

pub fn list() -> Result<Vec<String>> {
    Ok(remote::list_hosts(&home()?))
}

/// Connects to `host` and checks it has what runs need (sh, tar, tmux).
pub async fn probe(host: &str, trust: bool) -> Result<Probe> {
    let home = home()?;
    let executor = Executor { kind: ExecutorType::Ssh, host: Some(host.to_string()), ..Executor::default() };
    let target = remote::resolve(&executor, &home).map_err(|e| EngineError::InvalidArgument(e.to_string()))?;
    let shown = target.display();
    let mut connected = Remote::connect(target.clone(), home.clone()).await;
    if trust && let Err(RemoteError::UnknownHost { host, port, key, .. }) = &connected {
        remote::trust_host(&home, host, *port, key).map_err(|e| EngineError::Internal(e.to_string()))?;
        connected = Remote::connect(target, home).await;
    }
    let remote = match connected {
        Ok(remote) => remote,
        Err(RemoteError::UnknownHost { fingerprint, .. }) => {
            return Ok(Probe {
                ok: false,
                target: shown,
                message: format!("the host key of {host} is not known ({fingerprint})"),
                unknown_fingerprint: Some(fingerprint),
            });
        }
        Err(e) => return Ok(Probe { ok: false, target: shown, message: e.to_string(), unknown_fingerprint: None }),
    };
    let check = "for t in tar tmux; do command -v $t >/dev/null 2>&1 || echo \"missing: $t\"; done";
    let out = remote.exec(check, None).await;
    remote.disconnect().await;
    Ok(match out {
        Ok(out) => {
            let missing = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if missing.is_empty() {
                Probe {
                    ok: true,
                    target: shown,
                    message: "connected; tar and tmux found".into(),
                    unknown_fingerprint: None,
                }
            } else {
                Probe {
                    ok: false,
                    target: shown,
                    message: format!("connected, but {} (runs need tar and tmux there)", missing.replace('\n', ", ")),
                    unknown_fingerprint: None,
                }
            }
        }
        Err(e) => Probe { ok: false, target: shown, message: e.to_string(), unknown_fingerprint: None },
    })
}

/// Whether Slurm answers (`sinfo`) on this machine (`login` absent) or on the login host, and
/// its partitions; `Err` says why not.
pub async fn probe_slurm(login: Option<&str>) -> Result<std::result::Result<Vec<Partition>, String>> {
    let cluster = match login {
        None => Cluster::Here(LocalShell),
        Some(host) => {
            let home = home()?;
            let executor = Executor { kind: ExecutorType::Ssh, host: Some(host.to_string()), ..Executor::default() };
            let target = remote::resolve(&executor, &home).map_err(|e| EngineError::InvalidArgument(e.to_string()))?;
            match Remote::connect(target, home).await {
                Ok(remote) => Cluster::Login(remote),
                Err(e) => return Ok(Err(e.to_string())),
            }
        }
    };
    // A configured controller that does not answer makes sinfo retry for long: init waits
    // this long at most.
    let found =
        tokio::time::timeout(std::time::Duration::from_secs(20), crate::exec::slurm::check::partitions(&cluster))
            .await
            .unwrap_or(None);
    if let Cluster::Login(remote) = &cluster {
        remote.disconnect().await;
    }
    Ok(match found {
        Some(parts) if !parts.is_empty() => Ok(parts),
        Some(_) => Err(format!("sinfo lists no partition on {}", cluster.place())),
        None => Err(format!("sinfo does not answer on {}", cluster.place())),
    })
}
