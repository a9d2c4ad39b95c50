//! Where shell commands run: over SSH (`Remote`) or on this machine (`LocalShell`). The sync and
//! the Slurm executor are written against `Shell`, so a cluster reached through a login host and
//! one whose `sbatch` works where the daemon runs are driven by the same code.
//!
//! Both run the command with `sh -c`, stdin fed (then closed) while stdout and stderr are
//! collected, each bounded. Secrets go on stdin, never in the command.

use std::future::Future;
use std::process::Stdio;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::{Output, Remote, RemoteError};

/// What a local command may print on each of stdout and stderr: as much as a remote one.
const MAX_OUTPUT: usize = 64 * 1024 * 1024;

pub trait Shell: Send + Sync {
    /// Runs `command` with `sh -c`, stdin streamed from `stdin` and closed once every sender is
    /// gone. A command that exits without reading all of stdin is not an error.
    fn exec_piped<T: AsRef<[u8]> + Send>(
        &self,
        command: &str,
        stdin: mpsc::Receiver<T>,
    ) -> impl Future<Output = Result<Output, RemoteError>> + Send;

    /// `exec_piped` with stdin given whole (or none).
    fn exec(&self, command: &str, stdin: Option<Vec<u8>>) -> impl Future<Output = Result<Output, RemoteError>> + Send {
        let (tx, rx) = mpsc::channel(1);
        if let Some(data) = stdin {
            // The channel is new, with room for one: this cannot fail.
            let _ = tx.try_send(data);
        }
        drop(tx);
        async move { self.exec_piped(command, rx).await }
    }

    /// Where commands run, for messages (`user@host:22`, `this machine`).
    fn place(&self) -> String;
}

impl Shell for Remote {
    fn exec_piped<T: AsRef<[u8]> + Send>(
        &self,
        command: &str,
        stdin: mpsc::Receiver<T>,
    ) -> impl Future<Output = Result<Output, RemoteError>> + Send {
        Remote::exec_piped(self, command, stdin)
    }

    fn place(&self) -> String {
        self.target().display()
    }
}

/// Commands on this machine. The daemon's own environment is passed on without the LLM
/// provider keys it may have inherited: those belong to sessions, never to training.
#[derive(Debug, Clone, Default)]
pub struct LocalShell;

impl Shell for LocalShell {
    fn exec_piped<T: AsRef<[u8]> + Send>(
        &self,
        command: &str,
        stdin: mpsc::Receiver<T>,
    ) -> impl Future<Output = Result<Output, RemoteError>> + Send {
        run_local(command.to_owned(), stdin)
    }

    fn place(&self) -> String {
        "this machine".to_string()
    }
}

async fn run_local<T: AsRef<[u8]> + Send>(
    command: String,
    mut stdin: mpsc::Receiver<T>,
) -> Result<Output, RemoteError> {
    let spawn_error = |source| RemoteError::Local { command: command.clone(), source };
    let mut cmd = tokio::process::Command::new("/bin/sh");
    cmd.arg("-c").arg(&command).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    // A caller that gives up (a deadline, a dropped step) takes the command with it.
    cmd.kill_on_drop(true);
    for name in crate::secrets::PROVIDER_VARIABLES {
        cmd.env_remove(name);
    }
    let mut child = cmd.spawn().map_err(spawn_error)?;
    let (Some(mut input), Some(out), Some(err)) = (child.stdin.take(), child.stdout.take(), child.stderr.take()) else {
        return Err(spawn_error(std::io::Error::other("the child's pipes are missing")));
    };
    let feed = async move {
        while let Some(chunk) = stdin.recv().await {
            if input.write_all(chunk.as_ref()).await.is_err() {
                // The command closed its stdin: its exit says how that went.
                return;
            }
        }
        drop(input);
    };
    let too_large =
        || RemoteError::OutputTooLarge { target: "this machine".into(), command: command.clone(), limit: MAX_OUTPUT };
    let read = |mut pipe: Box<dyn tokio::io::AsyncRead + Send + Unpin>| async move {
        let mut kept = Vec::new();
        let mut buf = [0u8; 16 * 1024];
        loop {
            match pipe.read(&mut buf).await {
                Ok(0) | Err(_) => return Ok(kept),
                Ok(n) => {
                    kept.extend_from_slice(&buf[..n]);
                    if kept.len() > MAX_OUTPUT {
                        return Err(());
                    }
                }
            }
        }
    };
    let (_, stdout, stderr) = tokio::join!(feed, read(Box::new(out)), read(Box::new(err)));
    let (Ok(stdout), Ok(stderr)) = (stdout, stderr) else {
        let _ = child.kill().await;
        return Err(too_large());
    };
    let status = child.wait().await.map_err(spawn_error)?;
    Ok(Output { status: status.code().and_then(|c| u32::try_from(c).ok()), stdout, stderr })
}
