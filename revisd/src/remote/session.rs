//! `Remote`: a cheap cloneable handle on one SSH destination that runs commands over the
//! connection its `Link` keeps (reconnecting on demand, with backoff, after a drop).
//!
//! Three shapes of command: `exec` (stdin given whole, output collected), `exec_piped` (stdin
//! streamed from a bounded channel, so a large input is never held whole) and `follow` (output
//! handed over as it arrives, for as long as the command runs, on one channel).
//!
//! It never re-runs a command whose exec request may have reached the server: only failures
//! before that point are retried transparently. A drop mid-command is reported as
//! `RemoteError::Disconnected` and the caller decides (remote runs live in tmux and survive).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use russh::client::Msg;
use russh::{Channel, ChannelMsg, ChannelReadHalf, ChannelWriteHalf};
use tokio::sync::mpsc;

use super::RemoteError;
use super::connect::{ConnectOptions, Connection};
use super::link::Link;
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
    link: Link,
    /// Exec channels opened so far: how tests tell one long-lived channel from one per poll.
    channels_opened: AtomicU64,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote").field("target", &self.target().display()).finish()
    }
}

impl Remote {
    /// Connects now (so configuration, host key and auth problems surface immediately), with
    /// the agent from `SSH_AUTH_SOCK` and default timeouts.
    pub async fn connect(target: SshTarget, home: std::path::PathBuf) -> Result<Remote, RemoteError> {
        Remote::connect_with(target, ConnectOptions::from_env(home)).await
    }

    pub async fn connect_with(target: SshTarget, opts: ConnectOptions) -> Result<Remote, RemoteError> {
        let remote = Remote::new(target, opts);
        remote.inner.link.get().await?;
        Ok(remote)
    }

    /// A handle that connects on first use.
    pub(crate) fn new(target: SshTarget, opts: ConnectOptions) -> Remote {
        Remote { inner: Arc::new(Inner { link: Link::new(target, opts), channels_opened: AtomicU64::new(0) }) }
    }

    pub fn target(&self) -> &SshTarget {
        self.inner.link.target()
    }

    #[cfg(test)]
    pub(crate) fn channels_opened(&self) -> u64 {
        self.inner.channels_opened.load(Ordering::Relaxed)
    }

    /// Runs `command` with `sh -c` on the remote (whatever the login shell), feeding `stdin`
    /// (then EOF) if given. Secrets belong on stdin, never in `command`. Each of stdout and
    /// stderr is bounded by `ConnectOptions::max_output`.
    pub async fn exec(&self, command: &str, stdin: Option<Vec<u8>>) -> Result<Output, RemoteError> {
        let (tx, rx) = mpsc::channel(1);
        if let Some(data) = stdin {
            // The channel is new, with room for one: this cannot fail.
            let _ = tx.try_send(data);
        }
        drop(tx);
        self.exec_piped(command, rx).await
    }

    /// `exec` with stdin streamed from `stdin`, chunk by chunk, then EOF once every sender is
    /// gone: what is held at once is bounded by the channel's capacity, however much is sent.
    /// Each chunk is dropped as soon as the connection has taken it, so a producer can count
    /// what is in flight. A command that exits without reading everything is not an error;
    /// the receiver is then dropped, which tells the producer to stop.
    pub async fn exec_piped<T: AsRef<[u8]> + Send>(
        &self,
        command: &str,
        mut stdin: mpsc::Receiver<T>,
    ) -> Result<Output, RemoteError> {
        let (conn, channel) = self.open_exec(command).await?;
        let (mut reader, writer) = channel.split();
        let writer = Arc::new(writer);
        let mut close = CloseOnDrop(Some(writer.clone()));
        let feed = async move {
            while let Some(chunk) = stdin.recv().await {
                writer.data(chunk.as_ref()).await?;
            }
            writer.eof().await
        };
        let limit = self.inner.link.opts().max_output;
        let collect = async {
            let mut out = Output { status: None, stdout: Vec::new(), stderr: Vec::new() };
            let mut exit = Exit::default();
            while let Some(msg) = reader.wait().await {
                let Some((stream, data)) = exit.sort(msg) else { continue };
                let kept = match stream {
                    Stream::Stdout => &mut out.stdout,
                    Stream::Stderr => &mut out.stderr,
                };
                kept.extend_from_slice(&data);
                if kept.len() > limit {
                    return Err(RemoteError::OutputTooLarge {
                        target: self.target().display(),
                        command: command.to_owned(),
                        limit,
                    });
                }
            }
            out.status = exit.status;
            Ok((out, exit.reported))
        };
        // Feeding and collecting run together: a command that writes before it has read all
        // of stdin must not deadlock against a full window. Once the command has ended, the
        // feed is dropped (with `stdin`) even if it was still waiting for window space.
        let mut feed = std::pin::pin!(feed);
        let mut collect = std::pin::pin!(collect);
        let mut fed = false;
        let collected = loop {
            tokio::select! {
                // A failed feed (the command closed its stdin) is the command's business: its
                // exit says how that went.
                _ = &mut feed, if !fed => fed = true,
                collected = &mut collect => break collected,
            }
        };
        let (out, exited) = collected?;
        close.disarm();
        if !exited {
            // The channel closed without an exit report: the connection went away.
            self.inner.link.forget(&conn);
            return Err(RemoteError::Disconnected { target: self.target().display(), command: command.to_owned() });
        }
        Ok(out)
    }

    /// Starts `command` (stdin closed at once) and hands its output over as it comes: one
    /// channel for as long as the command runs, however long that is.
    pub async fn follow(&self, command: &str) -> Result<Follow, RemoteError> {
        let (conn, channel) = self.open_exec(command).await?;
        let (reader, writer) = channel.split();
        // The command may have closed its stdin already; that is its business.
        let _ = writer.eof().await;
        Ok(Follow {
            remote: self.clone(),
            conn,
            command: command.to_owned(),
            reader,
            close: CloseOnDrop(Some(Arc::new(writer))),
            exit: Exit::default(),
        })
    }

    /// Drops the cached connection so the next call reconnects (used after a drop, and by
    /// callers that know the connection is stale). A connect in progress is left alone.
    pub async fn disconnect(&self) {
        if let Some(conn) = self.inner.link.take() {
            let _ = conn.handle.disconnect(russh::Disconnect::ByApplication, "", "en").await;
        }
    }

    /// A session channel with `command` requested on it, over a live connection.
    async fn open_exec(&self, command: &str) -> Result<(Arc<Connection>, Channel<Msg>), RemoteError> {
        let link = &self.inner.link;
        let timeout = link.opts().connect_timeout;
        let mut reconnected = false;
        let (conn, channel) = loop {
            let conn = link.get().await?;
            match tokio::time::timeout(timeout, conn.handle.channel_open_session()).await {
                Ok(Ok(channel)) => break (conn, channel),
                // The connection died under us (noticed or not): nothing ran yet, so one
                // fresh connection may retry safely.
                Ok(Err(_)) | Err(_) if !reconnected => {
                    link.forget(&conn);
                    reconnected = true;
                }
                Ok(Err(source)) => return Err(self.ssh_error(source)),
                Err(_) => {
                    link.forget(&conn);
                    return Err(RemoteError::Timeout { target: self.target().display(), secs: timeout.as_secs() });
                }
            }
        };
        self.inner.channels_opened.fetch_add(1, Ordering::Relaxed);
        let wrapped = format!("sh -c {}", shell_quote(command));
        channel.exec(true, wrapped.as_bytes()).await.map_err(|source| self.ssh_error(source))?;
        Ok((conn, channel))
    }

    fn ssh_error(&self, source: russh::Error) -> RemoteError {
        RemoteError::Ssh { target: self.target().display(), source }
    }
}

/// A running command whose output is handed over as it arrives (see `Remote::follow`).
/// Dropping it closes the channel.
pub struct Follow {
    remote: Remote,
    conn: Arc<Connection>,
    command: String,
    reader: ChannelReadHalf,
    close: CloseOnDrop,
    exit: Exit,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FollowEvent {
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
    /// The command ended with this status (`None`: killed by a signal) and the channel
    /// closed: nothing follows.
    Exited(Option<u32>),
}

impl Follow {
    pub fn target(&self) -> &SshTarget {
        self.remote.target()
    }

    /// The next piece of output, or the exit once the channel has closed (so everything the
    /// command wrote came first). Cancel-safe: a call dropped while waiting loses nothing.
    pub async fn next(&mut self) -> Result<FollowEvent, RemoteError> {
        loop {
            let Some(msg) = self.reader.wait().await else {
                self.close.disarm();
                if self.exit.reported {
                    return Ok(FollowEvent::Exited(self.exit.status));
                }
                self.remote.inner.link.forget(&self.conn);
                return Err(RemoteError::Disconnected {
                    target: self.remote.target().display(),
                    command: self.command.clone(),
                });
            };
            match self.exit.sort(msg) {
                Some((Stream::Stdout, data)) => return Ok(FollowEvent::Stdout(data)),
                Some((Stream::Stderr, data)) => return Ok(FollowEvent::Stderr(data)),
                None => {}
            }
        }
    }
}

enum Stream {
    Stdout,
    Stderr,
}

/// How a command ended, as far as its channel has said.
#[derive(Default)]
struct Exit {
    status: Option<u32>,
    reported: bool,
}

impl Exit {
    /// Notes an exit report; returns output with the stream it came on.
    fn sort(&mut self, msg: ChannelMsg) -> Option<(Stream, Vec<u8>)> {
        match msg {
            ChannelMsg::Data { data } => Some((Stream::Stdout, data.into())),
            ChannelMsg::ExtendedData { data, ext: 1 } => Some((Stream::Stderr, data.into())),
            ChannelMsg::ExitStatus { exit_status } => {
                self.status = Some(exit_status);
                self.reported = true;
                None
            }
            ChannelMsg::ExitSignal { .. } => {
                self.reported = true;
                None
            }
            _ => None,
        }
    }
}

/// Closes a channel whose caller went away mid-command (cancelled, e.g. by a deadline): the
/// server then closes the command's pipes instead of keeping it on an open channel until the
/// connection ends.
struct CloseOnDrop(Option<Arc<ChannelWriteHalf<Msg>>>);

impl CloseOnDrop {
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        if let Some(writer) = self.0.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            // Drop cannot await: the close is sent from a task, best effort.
            runtime.spawn(async move {
                let _ = writer.close().await;
            });
        }
    }
}

/// Single-quotes `s` for a POSIX shell.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Backoff for callers that loop on `exec` themselves (e.g. retrying a command across drops).
pub fn backoff_delay(attempt: u32, opts: &ConnectOptions) -> Duration {
    let factor = 2u32.saturating_pow(attempt.min(16));
    opts.backoff_initial.saturating_mul(factor).min(opts.backoff_max)
}
