//! Opening one authenticated SSH connection with russh: strict host key checking against
//! `<home>/.ssh/known_hosts`, agent auth then key files, keepalives and a connect timeout, and
//! one optional ProxyJump hop (a direct-tcpip channel through the jump host).
//!
//! Never accepts an unknown or changed host key on its own: `trust_host` is the only writer of
//! known_hosts and callers run it after asking the user. Never prompts for passphrases
//! (encrypted keys are skipped and named in the error).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use russh::client::{self, Handle};
use russh::keys::agent::AgentIdentity;
use russh::keys::agent::client::AgentClient;
use russh::keys::{HashAlg, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};

use super::RemoteError;
use super::target::SshTarget;

/// How to connect, beyond where.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// The daemon's $HOME: `.ssh/known_hosts` lives there.
    pub home: PathBuf,
    /// The ssh-agent socket; `None` skips agent auth. Explicit rather than read from the
    /// process environment so tests (and multiple daemons) never race on `SSH_AUTH_SOCK`.
    pub agent_socket: Option<PathBuf>,
    /// Covers TCP connect, handshake and authentication.
    pub connect_timeout: Duration,
    pub keepalive_interval: Duration,
    /// Missed keepalives before the connection is declared dead.
    pub keepalive_max: usize,
    /// Reconnect attempts after a transient failure (backoff doubles from `backoff_initial`).
    pub reconnect_attempts: u32,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// Per stream (stdout, stderr) limit of `Remote::exec`.
    pub max_output: usize,
}

impl ConnectOptions {
    /// Defaults, with the agent taken from `SSH_AUTH_SOCK` as the user's `ssh` would.
    pub fn from_env(home: PathBuf) -> Self {
        let agent_socket = std::env::var_os("SSH_AUTH_SOCK").filter(|s| !s.is_empty()).map(PathBuf::from);
        ConnectOptions {
            home,
            agent_socket,
            connect_timeout: Duration::from_secs(10),
            keepalive_interval: Duration::from_secs(15),
            keepalive_max: 3,
            reconnect_attempts: 5,
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(10),
            max_output: 64 * 1024 * 1024,
        }
    }
}

/// `<home>/.ssh/known_hosts`.
pub fn known_hosts_path(home: &Path) -> PathBuf {
    home.join(".ssh").join("known_hosts")
}

/// Records `key` for `host:port` in `<home>/.ssh/known_hosts` (as `[host]:port` when the port is
/// not 22, like OpenSSH), creating `~/.ssh` (0700) and the file (0600) if needed.
pub fn trust_host(home: &Path, host: &str, port: u16, key: &PublicKey) -> Result<(), RemoteError> {
    use std::io::{Read, Seek, SeekFrom, Write};
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};

    let path = known_hosts_path(home);
    let fail = |message: String| RemoteError::KnownHosts { path: path.clone(), message };
    let ssh_dir = home.join(".ssh");
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&ssh_dir).map_err(|e| fail(e.to_string()))?;
    let name = if port == 22 { host.to_owned() } else { format!("[{host}]:{port}") };
    let key = key.to_openssh().map_err(|e| fail(e.to_string()))?;
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| fail(e.to_string()))?;
    // A file whose last line lacks its newline must not get our entry glued onto it.
    let mut last = [0u8; 1];
    let needs_newline = file.seek(SeekFrom::End(-1)).is_ok() && file.read_exact(&mut last).is_ok() && last[0] != b'\n';
    let line = format!("{}{name} {key}\n", if needs_newline { "\n" } else { "" });
    file.write_all(line.as_bytes()).map_err(|e| fail(e.to_string()))
}

/// An open, authenticated connection. Holds the jump connection (if any) because the tunnel
/// lives inside it.
pub(crate) struct Connection {
    pub(crate) handle: Handle<Client>,
    _jump: Option<Handle<Client>>,
}

impl Connection {
    pub(crate) fn is_closed(&self) -> bool {
        self.handle.is_closed() || self._jump.as_ref().is_some_and(|j| j.is_closed())
    }
}

/// Connects to `target` (through its jump host, if any) within `opts.connect_timeout`.
pub(crate) async fn open(target: &SshTarget, opts: &ConnectOptions) -> Result<Connection, RemoteError> {
    let secs = opts.connect_timeout.as_secs();
    let work = async {
        let config = Arc::new(client::Config {
            keepalive_interval: Some(opts.keepalive_interval),
            keepalive_max: opts.keepalive_max,
            nodelay: true,
            ..client::Config::default()
        });
        let jump = match &target.proxy_jump {
            None => None,
            Some(jump) => Some(open_direct(jump, opts, config.clone()).await?),
        };
        let handle = match &jump {
            None => open_direct(target, opts, config).await?,
            Some(jump_handle) => {
                let channel = jump_handle
                    .channel_open_direct_tcpip(target.host.clone(), u32::from(target.port), "127.0.0.1", 0)
                    .await
                    .map_err(|source| RemoteError::Ssh {
                        target: format!("{} (via {})", target.display(), jump_display(target)),
                        source,
                    })?;
                let handler = Client::new(target, &opts.home);
                let handle = client::connect_stream(config, channel.into_stream(), handler)
                    .await
                    .map_err(|e| e.into_remote(target))?;
                authenticate(handle, target, opts).await?
            }
        };
        Ok(Connection { handle, _jump: jump })
    };
    match tokio::time::timeout(opts.connect_timeout, work).await {
        Ok(result) => result,
        Err(_) => Err(RemoteError::Timeout { target: target.display(), secs }),
    }
}

fn jump_display(target: &SshTarget) -> String {
    target.proxy_jump.as_ref().map(|j| j.display()).unwrap_or_default()
}

async fn open_direct(
    target: &SshTarget,
    opts: &ConnectOptions,
    config: Arc<client::Config>,
) -> Result<Handle<Client>, RemoteError> {
    let socket = tokio::net::TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(|source| RemoteError::Connect { target: target.display(), source })?;
    let handle = client::connect_stream(config, socket, Client::new(target, &opts.home))
        .await
        .map_err(|e| e.into_remote(target))?;
    authenticate(handle, target, opts).await
}

/// Agent identities first, then identity files; stops at the first success.
async fn authenticate(
    mut handle: Handle<Client>,
    target: &SshTarget,
    opts: &ConnectOptions,
) -> Result<Handle<Client>, RemoteError> {
    let ssh_err = |source| RemoteError::Ssh { target: target.display(), source };
    let rsa_hash: Option<HashAlg> = handle.best_supported_rsa_hash().await.map_err(ssh_err)?.flatten();
    let mut tried = Vec::new();

    if let Some(sock) = &opts.agent_socket {
        match AgentClient::connect_uds(sock).await {
            Err(e) => tried.push(format!("agent {} (unreachable: {e})", sock.display())),
            Ok(mut agent) => match agent.request_identities().await {
                Err(e) => tried.push(format!("agent {} ({e})", sock.display())),
                Ok(identities) => {
                    for identity in identities {
                        let AgentIdentity::PublicKey { key, comment } = identity else {
                            continue; // certificates: not supported yet
                        };
                        let hash = is_rsa(&key).then_some(rsa_hash).flatten();
                        tried.push(format!("agent key {comment}"));
                        match handle.authenticate_publickey_with(target.user.clone(), key, hash, &mut agent).await {
                            Ok(result) if result.success() => return Ok(handle),
                            Ok(_) => {}
                            Err(e) => tried.push(format!("agent signing failed: {e}")),
                        }
                    }
                }
            },
        }
    }

    for path in &target.identity_files {
        if !path.exists() {
            continue;
        }
        let key = match russh::keys::load_secret_key(path, None) {
            Ok(k) => k,
            Err(e) => {
                tried.push(format!("{} (unusable: {e})", path.display()));
                continue;
            }
        };
        let hash = is_rsa(key.public_key()).then_some(rsa_hash).flatten();
        tried.push(path.display().to_string());
        let key = PrivateKeyWithHashAlg::new(Arc::new(key), hash);
        let result = handle.authenticate_publickey(target.user.clone(), key).await.map_err(ssh_err)?;
        if result.success() {
            return Ok(handle);
        }
    }
    Err(RemoteError::AuthFailed { target: target.display(), tried })
}

fn is_rsa(key: &PublicKey) -> bool {
    matches!(key.algorithm(), russh::keys::Algorithm::Rsa { .. })
}

/// The russh event handler: only host key checking matters here.
pub(crate) struct Client {
    host: String,
    port: u16,
    known_hosts: PathBuf,
}

impl Client {
    fn new(target: &SshTarget, home: &Path) -> Self {
        Client { host: target.host.clone(), port: target.port, known_hosts: known_hosts_path(home) }
    }
}

/// Why the handshake stopped: russh's own errors, or our host key verdict (kept structured
/// so the caller gets the fingerprint and the key, not a bare "unknown key").
#[derive(Debug)]
pub(crate) enum HandlerError {
    Ssh(russh::Error),
    Refused(Box<RemoteError>),
}

impl From<russh::Error> for HandlerError {
    fn from(e: russh::Error) -> Self {
        HandlerError::Ssh(e)
    }
}

impl HandlerError {
    fn into_remote(self, target: &SshTarget) -> RemoteError {
        match self {
            HandlerError::Refused(e) => *e,
            HandlerError::Ssh(russh::Error::IO(source)) => RemoteError::Connect { target: target.display(), source },
            HandlerError::Ssh(source) => RemoteError::Ssh { target: target.display(), source },
        }
    }
}

impl client::Handler for Client {
    type Error = HandlerError;

    async fn check_server_key(&mut self, server_key: &PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        let key = match server_key {
            PublicKeyOrCertificate::PublicKey { key, .. } => key,
            PublicKeyOrCertificate::Certificate(_) => {
                return Err(HandlerError::Refused(Box::new(RemoteError::HostCertificate {
                    host: self.host.clone(),
                    port: self.port,
                })));
            }
        };
        let fingerprint = key.fingerprint(HashAlg::Sha256).to_string();
        match russh::keys::check_known_hosts_path(&self.host, self.port, key, &self.known_hosts) {
            Ok(true) => Ok(true),
            // Ok(false) means "not recorded": never trust on first use silently.
            Ok(false) => Err(HandlerError::Refused(Box::new(RemoteError::UnknownHost {
                host: self.host.clone(),
                port: self.port,
                fingerprint,
                known_hosts: self.known_hosts.clone(),
                key: Box::new(key.clone()),
            }))),
            Err(russh::keys::Error::KeyChanged { line }) => {
                Err(HandlerError::Refused(Box::new(RemoteError::HostKeyChanged {
                    host: self.host.clone(),
                    port: self.port,
                    known_host_name: if self.port == 22 {
                        self.host.clone()
                    } else {
                        format!("[{}]:{}", self.host, self.port)
                    },
                    fingerprint,
                    known_hosts: self.known_hosts.clone(),
                    line,
                })))
            }
            Err(e) => Err(HandlerError::Refused(Box::new(RemoteError::KnownHosts {
                path: self.known_hosts.clone(),
                message: e.to_string(),
            }))),
        }
    }
}
