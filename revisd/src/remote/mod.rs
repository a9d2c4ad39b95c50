//! Remote hosts over SSH: where to connect (`target`), how to connect safely (`connect`: strict
//! known_hosts, agent then key-file auth, keepalives, timeouts), keeping one connection per
//! handle without holding a lock across a connect (`link`) and a cheap cloneable handle that
//! runs commands, streams their input or output, and reconnects on demand (`session`).
//!
//! This module owns the SSH transport only. It must not know about runs, tmux, the wrapper
//! protocol or sync (those live in `exec::ssh` and `remote::sync`), and it never writes anything
//! into the user's `~/.ssh` except through `trust_host`, which callers invoke after asking.

mod connect;
mod link;
pub mod session;
pub mod shell;
pub mod sync;
pub mod target;

#[cfg(test)]
mod sync_tests;
#[cfg(test)]
pub(crate) mod test_sshd;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

pub use connect::{ConnectOptions, known_hosts_path, trust_host};
pub use russh::keys::PublicKey;
pub use session::{Follow, FollowEvent, Output, Remote};
pub use shell::{LocalShell, Shell};
pub use target::{SshTarget, list_hosts, resolve};

/// Everything that can go wrong reaching or talking to a remote host. Variants name the
/// target (`user@host:port`) or the file they concern so the message alone is actionable.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("executor.host is not set: an ssh executor needs a host or an alias from ~/.ssh/config")]
    NoHost,
    #[error("cannot read ssh config {path}: {message}")]
    Config { path: PathBuf, message: String },
    #[error("host `{alias}`: ProxyJump `{jump}` is not supported ({reason})")]
    ProxyJump { alias: String, jump: String, reason: &'static str },
    #[error("cannot connect to {target}: {source}")]
    Connect {
        target: String,
        #[source]
        source: std::io::Error,
    },
    #[error("connecting to {target} timed out after {secs} s")]
    Timeout { target: String, secs: u64 },
    #[error(
        "host key of {host}:{port} is not known (fingerprint {fingerprint}); refusing to connect. \
         Trust it with `revis init` (which records it in {known_hosts}), or connect once with \
         `ssh -p {port} {host}` and check the fingerprint"
    )]
    UnknownHost {
        host: String,
        port: u16,
        fingerprint: String,
        known_hosts: PathBuf,
        /// The key the server presented, so a caller can offer `trust_host` with it.
        key: Box<PublicKey>,
    },
    #[error(
        "HOST KEY OF {host}:{port} HAS CHANGED (now {fingerprint}; {known_hosts} line {line} \
         records another key). Someone may be intercepting the connection, or the host was \
         reinstalled; refusing to connect. If the change is expected, remove the old entry \
         (`ssh-keygen -R '{known_host_name}' -f {known_hosts}`) and trust the host again"
    )]
    HostKeyChanged {
        host: String,
        port: u16,
        known_host_name: String,
        fingerprint: String,
        known_hosts: PathBuf,
        line: usize,
    },
    #[error("host {host}:{port} presented a host certificate; only plain host keys are supported")]
    HostCertificate { host: String, port: u16 },
    #[error("cannot use known_hosts file {path}: {message}")]
    KnownHosts { path: PathBuf, message: String },
    #[error("authentication to {target} failed; tried: {}", if tried.is_empty() { "nothing (no agent, no key files found)".to_owned() } else { tried.join(", ") })]
    AuthFailed { target: String, tried: Vec<String> },
    #[error("ssh protocol error with {target}: {source}")]
    Ssh {
        target: String,
        #[source]
        source: russh::Error,
    },
    #[error("connection to {target} dropped while running `{command}`")]
    Disconnected { target: String, command: String },
    #[error("cannot run `{command}` on this machine: {source}")]
    Local {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("output of `{command}` on {target} exceeded {limit} bytes")]
    OutputTooLarge { target: String, command: String, limit: usize },
}

impl RemoteError {
    /// Transient errors are worth a reconnect with backoff; the others (host keys, auth,
    /// configuration) will fail the same way again and need a human.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            RemoteError::Connect { .. }
                | RemoteError::Timeout { .. }
                | RemoteError::Ssh { .. }
                | RemoteError::Disconnected { .. }
        )
    }

    /// A copy for each caller that waited on the same failed connect. The io and russh
    /// errors inside are not `Clone`: their copies keep the kind and the message, which is all
    /// a caller acts on or shows.
    pub(crate) fn duplicate(&self) -> RemoteError {
        let io = |e: &std::io::Error| std::io::Error::new(e.kind(), e.to_string());
        match self {
            RemoteError::NoHost => RemoteError::NoHost,
            RemoteError::Config { path, message } => {
                RemoteError::Config { path: path.clone(), message: message.clone() }
            }
            RemoteError::ProxyJump { alias, jump, reason } => {
                RemoteError::ProxyJump { alias: alias.clone(), jump: jump.clone(), reason }
            }
            RemoteError::Connect { target, source } => {
                RemoteError::Connect { target: target.clone(), source: io(source) }
            }
            RemoteError::Timeout { target, secs } => RemoteError::Timeout { target: target.clone(), secs: *secs },
            RemoteError::UnknownHost { host, port, fingerprint, known_hosts, key } => RemoteError::UnknownHost {
                host: host.clone(),
                port: *port,
                fingerprint: fingerprint.clone(),
                known_hosts: known_hosts.clone(),
                key: key.clone(),
            },
            RemoteError::HostKeyChanged { host, port, known_host_name, fingerprint, known_hosts, line } => {
                RemoteError::HostKeyChanged {
                    host: host.clone(),
                    port: *port,
                    known_host_name: known_host_name.clone(),
                    fingerprint: fingerprint.clone(),
                    known_hosts: known_hosts.clone(),
                    line: *line,
                }
            }
            RemoteError::HostCertificate { host, port } => {
                RemoteError::HostCertificate { host: host.clone(), port: *port }
            }
            RemoteError::KnownHosts { path, message } => {
                RemoteError::KnownHosts { path: path.clone(), message: message.clone() }
            }
            RemoteError::AuthFailed { target, tried } => {
                RemoteError::AuthFailed { target: target.clone(), tried: tried.clone() }
            }
            RemoteError::Ssh { target, source } => RemoteError::Ssh {
                target: target.clone(),
                source: match source {
                    russh::Error::IO(e) => russh::Error::IO(io(e)),
                    other => russh::Error::IO(std::io::Error::other(other.to_string())),
                },
            },
            RemoteError::Disconnected { target, command } => {
                RemoteError::Disconnected { target: target.clone(), command: command.clone() }
            }
            RemoteError::Local { command, source } => {
                RemoteError::Local { command: command.clone(), source: io(source) }
            }
            RemoteError::OutputTooLarge { target, command, limit } => {
                RemoteError::OutputTooLarge { target: target.clone(), command: command.clone(), limit: *limit }
            }
        }
    }
}
