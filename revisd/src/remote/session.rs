//! `Remote`: a cheap cloneable handle on one SSH destination that runs commands and reconnects
//! on demand, with backoff, when the connection has dropped.
//!
//! It never re-runs a command whose exec request may have reached the server: only failures
//! before that point are retried transparently. A drop mid-command is reported as
//! `RemoteError::Disconnected` and the caller decides (remote runs live in tmux and survive).

use std::sync::Arc;
use std::time::Duration;

use russh::ChannelMsg;
use tokio::sync::Mutex;

use super::RemoteError;
use super::connect::{self, ConnectOptions, Connection};
use super::target::SshTarget;

/// What a remote command produced. `status` is `None` when it died from a signal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub status: Option<u32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Output {
    pub fn success(&self) -> bool {
        self.status == Some(0)
    }
}

#[derive(Clone)]
pub struct Remote {
    inner: Arc<Inner>,
}

struct Inner {
    target: SshTarget,
    opts: ConnectOptions,
    /// `None` until connected or after a drop was noticed. The lock also serializes
    /// reconnects so concurrent callers do not open several connections.
    conn: Mutex<Option<Arc<Connection>>>,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote").field("target", &self.inner.target.display()).finish()
    }
}

impl Remote {
    /// Connects now (so configuration, host key and auth problems surface immediately), with
    /// the agent from `SSH_AUTH_SOCK` and default timeouts.
    pub async fn connect(target: SshTarget, home: std::path::PathBuf) -> Result<Remote, RemoteError> {
        Remote::connect_with(target, ConnectOptions::from_env(home)).await
    }

    pub async fn connect_with(target: SshTarget, opts: ConnectOptions) -> Result<Remote, RemoteError> {
        let remote = Remote { inner: Arc::new(Inner { target, opts, conn: Mutex::new(None) }) };
        remote.connection().await?;
        Ok(remote)
    }

    pub fn target(&self) -> &SshTarget {
        &self.inner.target
    }

    /// Runs `command` with `sh -c` on the remote (whatever the login shell), feeding `stdin`
    /// (then EOF) if given. Secrets belong on stdin, never in `command`. Each of stdout and
    /// stderr is bounded by `ConnectOptions::max_output`.
    pub async fn exec(&self, command: &str, stdin: Option<Vec<u8>>) -> Result<Output, RemoteError> {
        let wrapped = format!("sh -c {}", shell_quote(command));
        let mut reconnected = false;
        let (conn, channel) = loop {
            let conn = self.connection().await?;
            let open = tokio::time::timeout(self.inner.opts.connect_timeout, conn.handle.channel_open_session()).await;
            match open {
                Ok(Ok(channel)) => break (conn, channel),
                // The connection died under us (noticed or not): nothing ran yet, so one
                // fresh connection may retry safely.
                Ok(Err(_)) | Err(_) if !reconnected => {
                    self.forget(&conn).await;
                    reconnected = true;
                }
                Ok(Err(source)) => return Err(self.ssh_error(source)),
                Err(_) => {
                    self.forget(&conn).await;
                    return Err(RemoteError::Timeout {
                        target: self.inner.target.display(),
                        secs: self.inner.opts.connect_timeout.as_secs(),
                    });
                }
            }
        };
        channel.exec(true, wrapped.as_bytes()).await.map_err(|source| self.ssh_error(source))?;
        let (mut reader, writer) = channel.split();

        let feed = async {
            if let Some(data) = stdin {
                writer.data_bytes(data).await?;
            }
            writer.eof().await
        };
        let limit = self.inner.opts.max_output;
        let collect = async {
            let mut out = Output { status: None, stdout: Vec::new(), stderr: Vec::new() };
            let mut exited = false;
            while let Some(msg) = reader.wait().await {
                match msg {
                    ChannelMsg::Data { data } => out.stdout.extend_from_slice(&data),
                    ChannelMsg::ExtendedData { data, ext: 1 } => out.stderr.extend_from_slice(&data),
                    ChannelMsg::ExitStatus { exit_status } => {
                        out.status = Some(exit_status);
                        exited = true;
                    }
                    ChannelMsg::ExitSignal { .. } => exited = true,
                    _ => {}
                }
                if out.stdout.len() > limit || out.stderr.len() > limit {
                    return Err(RemoteError::OutputTooLarge {
                        target: self.inner.target.display(),
                        command: command.to_owned(),
                        limit,
                    });
                }
            }
            Ok((out, exited))
        };
        // Feeding and collecting run together: a command that writes before it has read all
        // of stdin must not deadlock against a full window.
        let (fed, collected) = tokio::join!(feed, collect);
        let (out, exited) = collected?;
        if !exited {
            // The channel closed without an exit report: the connection went away.
            self.forget(&conn).await;
            return Err(RemoteError::Disconnected { target: self.inner.target.display(), command: command.to_owned() });
        }
        // A command may exit without reading its stdin; that is its business, not an error.
        let _ = fed;
        Ok(out)
    }

    /// Drops the cached connection so the next call reconnects (used after a drop, and by
    /// callers that know the connection is stale).
    pub async fn disconnect(&self) {
        let taken = self.inner.conn.lock().await.take();
        if let Some(conn) = taken {
            let _ = conn.handle.disconnect(russh::Disconnect::ByApplication, "", "en").await;
        }
    }

    /// The live connection, (re)connecting with exponential backoff on transient failures.
    async fn connection(&self) -> Result<Arc<Connection>, RemoteError> {
        let mut slot = self.inner.conn.lock().await;
        if let Some(conn) = slot.as_ref()
            && !conn.is_closed()
        {
            return Ok(conn.clone());
        }
        *slot = None;
        let opts = &self.inner.opts;
        let mut delay = opts.backoff_initial;
        let mut attempt = 0;
        loop {
            match connect::open(&self.inner.target, opts).await {
                Ok(conn) => {
                    let conn = Arc::new(conn);
                    *slot = Some(conn.clone());
                    return Ok(conn);
                }
                Err(e) if e.is_transient() && attempt < opts.reconnect_attempts => {
                    attempt += 1;
                    tracing::warn!(
                        target = %self.inner.target.display(),
                        attempt,
                        error = %e,
                        "ssh connection failed; retrying in {delay:?}"
                    );
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(opts.backoff_max);
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn forget(&self, conn: &Arc<Connection>) {
        let mut slot = self.inner.conn.lock().await;
        if slot.as_ref().is_some_and(|c| Arc::ptr_eq(c, conn)) {
            *slot = None;
        }
    }

    fn ssh_error(&self, source: russh::Error) -> RemoteError {
        RemoteError::Ssh { target: self.inner.target.display(), source }
    }
}

/// Single-quotes `s` for a POSIX shell.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Backoff for callers that loop on `exec` themselves (e.g. polling a remote run across drops).
pub fn backoff_delay(attempt: u32, opts: &ConnectOptions) -> Duration {
    let factor = 2u32.saturating_pow(attempt.min(16));
    opts.backoff_initial.saturating_mul(factor).min(opts.backoff_max)
}
