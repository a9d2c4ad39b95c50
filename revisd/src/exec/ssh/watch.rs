//! Watching a remote run: `wait` follows it over one long-lived channel, on which a remote
//! shell loop streams the log as it grows and reports how the run ended, reopened (from the
//! mirrored length) when the connection drops. `status` is the same loop's single look.
//!
//! The loop's stdout is the raw log from the requested offset; its stderr carries a heartbeat
//! line (`.`) and, last, the verdict (`exit N`, `vanished`, `gone`, or `running` for a single
//! look). The verdict is read once the channel has closed, so every log byte came first.

use std::path::Path;
use std::time::Duration;

use tokio::time::Instant;

use super::files::{LocalRunState, LogMirror, local_len, read_local_state};
use super::{RemoteRun, SshExecutor, is_transient, remote_error};
use crate::exec::wrapper::{RunFiles, sh_quote};
use crate::exec::{ExecError, RunOutcome, RunStatus};
use crate::remote::{Follow, FollowEvent, RemoteError};

/// Seconds between two looks of the remote loop at the run.
const LOOK_SECS: u32 = 1;
/// Looks between two heartbeats: a loop orphaned by a dropped connection dies on its next
/// write, and a link that went silent shows here before the keepalives give up.
const HEARTBEAT_LOOKS: u32 = 10;
/// Silence after which the link is presumed dead and the watch reopened: three heartbeats.
const SILENCE: Duration = Duration::from_secs(3 * (LOOK_SECS * HEARTBEAT_LOOKS) as u64 + 5);
/// First delay before reopening a lost watch; it doubles up to `BACKOFF_MAX`.
const BACKOFF: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// The stderr kept for the verdict: the last line is all that counts.
const VERDICT_TAIL: usize = 4096;

/// The remote loop. With `follow_from`, it streams train.log from that offset and runs until
/// the run ends; without, it looks once and also answers `running`.
fn watch_script(run: &RemoteRun, follow_from: Option<u64>) -> String {
    let (offset, log, idle) = match follow_from {
        Some(offset) => (
            offset,
            // The run only appends to its log, so the `n - off` bytes after `off` are stable
            // once `wc` has seen them.
            "\x20 n=$(wc -c < train.log); n=$((${n:-0}))\n\
             \x20 if [ \"$n\" -gt \"$off\" ]; then tail -c +$((off + 1)) train.log | head -c $((n - off)); off=$n; fi\n"
                .to_string(),
            // A failed heartbeat means nobody listens any more (where SIGPIPE is ignored).
            format!(
                "\x20 k=$((k + 1))\n\
                 \x20 if [ $((k % {HEARTBEAT_LOOKS})) -eq 0 ]; then echo . >&3 || exit 0; fi\n\
                 \x20 sleep {LOOK_SECS}\n"
            ),
        ),
        None => (0, String::new(), "\x20 echo running >&3; exit 0\n".to_string()),
    };
    // The exit file is read before the log: once it exists the log is complete, so the last
    // pass streams all of it before the verdict.
    format!(
        "unset TMUX\n\
         exec 3>&2 2>/dev/null\n\
         cd {dir} || {{ echo gone >&3; exit 0; }}\n\
         off={offset}; k=0\n\
         while :; do\n\
         \x20 c=$(cat exit_code); v=\n\
         \x20 if [ -z \"$c\" ] && ! {tmux} has-session -t {id}; then c=$(cat exit_code); [ -n \"$c\" ] || v=1; fi\n\
         {log}\
         \x20 [ -n \"$c\" ] && {{ echo \"exit $c\" >&3; exit 0; }}\n\
         \x20 [ -n \"$v\" ] && {{ echo vanished >&3; exit 0; }}\n\
         {idle}\
         done\n",
        dir = sh_quote(&run.dir),
        tmux = run.tmux(),
        id = sh_quote(&format!("={}", run.id)),
    )
}

/// The run's status from the loop's stderr: its last line other than heartbeats.
fn parse_verdict(run_id: &str, stderr: &[u8]) -> Result<RunStatus, ExecError> {
    let text = String::from_utf8_lossy(stderr);
    let last = text.lines().map(str::trim).rfind(|l| !l.is_empty() && *l != ".").unwrap_or_default();
    let bad = || ExecError::RemoteRun {
        action: "watch",
        run_id: run_id.to_string(),
        message: format!("unexpected answer {:?}", last.chars().take(200).collect::<String>()),
    };
    match last {
        "running" => Ok(RunStatus::Running),
        "vanished" | "gone" => Ok(RunStatus::Vanished),
        _ => {
            let code = last.strip_prefix("exit ").ok_or_else(bad)?;
            Ok(RunStatus::Exited { code: code.trim().parse().map_err(|_| bad())? })
        }
    }
}

impl SshExecutor {
    /// One look at the run (one command).
    pub(super) async fn look(&self, run: &RemoteRun) -> Result<RunStatus, ExecError> {
        let out = self.exec("look at the remote run", &watch_script(run, None), None).await?;
        parse_verdict(&run.id, &out.stderr)
    }

    pub(super) async fn run_status(&self, run_id: &str) -> Result<RunStatus, ExecError> {
        let run = self.run_paths(run_id).await?;
        self.look(&run).await
    }

    pub(super) async fn wait_run(
        &self,
        run_id: &str,
        run_dir: &Path,
        deadline: Option<Instant>,
    ) -> Result<RunOutcome, ExecError> {
        let run = self.run_paths(run_id).await?;
        let state = read_local_state(run_dir);
        let log = RunFiles::new(run_dir).log();
        let mut failures = 0u32;
        let mut failing_since: Option<Instant> = None;
        loop {
            let watch = async {
                let mut follow = self.open_watch(&run, &log, state.log_base).await?;
                // The host answered: a later drop starts a new reconnect window.
                failures = 0;
                failing_since = None;
                stream(&mut follow, &run, &log).await
            };
            let watched = match deadline {
                Some(deadline) => match tokio::time::timeout_at(deadline, watch).await {
                    Ok(watched) => watched,
                    // Dropping the watch closed its channel.
                    Err(_) => {
                        self.kill_run(run_id, self.timeout_grace).await?;
                        // What the run printed until it was killed is still worth having.
                        let _ = self.drain(&run, &log, state.log_base).await;
                        return Ok(RunOutcome::TimedOut);
                    }
                },
                None => watch.await,
            };
            match watched {
                // Its output directory comes back with `collect`.
                Ok(RunStatus::Exited { code }) => return Ok(RunOutcome::Exited { code }),
                // The log was streamed to its end before the verdict.
                Ok(RunStatus::Vanished) => return Ok(RunOutcome::Vanished),
                Ok(RunStatus::Ended { reason }) => return Ok(RunOutcome::Ended { reason }),
                Ok(RunStatus::Running | RunStatus::Queued { .. }) => {
                    return Err(ExecError::RemoteRun {
                        action: "watch",
                        run_id: run_id.to_string(),
                        message: "the watch ended while the run was still running".to_string(),
                    });
                }
                Err(e) if is_transient(&e) => {
                    let now = Instant::now();
                    let since = *failing_since.get_or_insert(now);
                    if now.duration_since(since) >= self.reconnect_window {
                        return Err(e);
                    }
                    failures += 1;
                    let delay = backoff(failures);
                    tracing::warn!(run_id, error = %e, "lost the connection to the remote run; retrying in {delay:?}");
                    nap(delay, deadline).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// A watch that streams the log from where the local mirror ends.
    async fn open_watch(&self, run: &RemoteRun, log: &Path, log_base: u64) -> Result<Follow, ExecError> {
        let from = local_len(log).saturating_sub(log_base);
        let script = watch_script(run, Some(from));
        self.remote.follow(&script).await.map_err(|e| remote_error("watch the remote run", e))
    }

    /// The rest of the log of a run that has ended (or been killed).
    async fn drain(&self, run: &RemoteRun, log: &Path, log_base: u64) -> Result<RunStatus, ExecError> {
        let mut follow = self.open_watch(run, log, log_base).await?;
        stream(&mut follow, run, log).await
    }

    /// After the run: its output directory, retried across drops. (The log is complete: the
    /// watch streamed it before the verdict.)
    pub(super) async fn collect_run(&self, run_id: &str, run_dir: &Path) -> Result<(), ExecError> {
        let run = self.run_paths(run_id).await?;
        let state = read_local_state(run_dir);
        self.finish(&run, &state).await
    }

    async fn finish(&self, run: &RemoteRun, state: &LocalRunState) -> Result<(), ExecError> {
        let mut failures = 0u32;
        let started = Instant::now();
        loop {
            match self.fetch_output(run, &state.output_dir).await {
                Err(e) if is_transient(&e) && started.elapsed() < self.reconnect_window => {
                    failures += 1;
                    let delay = backoff(failures);
                    tracing::warn!(run_id = %run.id, error = %e, "lost the connection collecting results; retrying in {delay:?}");
                    tokio::time::sleep(delay).await;
                }
                other => return other,
            }
        }
    }

    async fn fetch_output(&self, run: &RemoteRun, local: &Path) -> Result<(), ExecError> {
        crate::exec::remote_files::fetch_output(&self.remote, &run.id, &run.output, local).await
    }
}

/// Reads a watch to its end: log bytes go to the local mirror as they come; the verdict is
/// parsed once the channel has closed. Silence beyond `SILENCE` (no heartbeat) is a dead link.
async fn stream(follow: &mut Follow, run: &RemoteRun, log: &Path) -> Result<RunStatus, ExecError> {
    let mut mirror = LogMirror::new(log);
    let mut stderr = Vec::new();
    loop {
        let event = match tokio::time::timeout(SILENCE, follow.next()).await {
            Ok(event) => event.map_err(|e| remote_error("watch the remote run", e))?,
            Err(_) => {
                return Err(remote_error(
                    "watch the remote run",
                    RemoteError::Disconnected {
                        target: follow.target().display(),
                        command: format!("watch run {} (silent for {} s)", run.id, SILENCE.as_secs()),
                    },
                ));
            }
        };
        match event {
            FollowEvent::Stdout(data) => mirror.append(&data)?,
            FollowEvent::Stderr(data) => {
                stderr.extend_from_slice(&data);
                if stderr.len() > VERDICT_TAIL {
                    stderr.drain(..stderr.len() - VERDICT_TAIL);
                }
            }
            FollowEvent::Exited(_) => return parse_verdict(&run.id, &stderr),
        }
    }
}

fn backoff(failures: u32) -> Duration {
    BACKOFF.saturating_mul(2u32.saturating_pow(failures.min(6))).min(BACKOFF_MAX)
}

async fn nap(delay: Duration, deadline: Option<Instant>) {
    let delay = match deadline {
        Some(d) => delay.min(d.saturating_duration_since(Instant::now())),
        None => delay,
    };
    tokio::time::sleep(delay).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_are_read_from_the_last_line() {
        let status = |s: &str| parse_verdict("r", s.as_bytes()).ok();
        assert_eq!(status(".\n.\nexit 3\n"), Some(RunStatus::Exited { code: 3 }));
        assert_eq!(status("exit 0\n.\n"), Some(RunStatus::Exited { code: 0 }));
        assert_eq!(status("vanished\n"), Some(RunStatus::Vanished));
        assert_eq!(status("gone\n"), Some(RunStatus::Vanished));
        assert_eq!(status("running\n"), Some(RunStatus::Running));
        assert_eq!(status(""), None);
        assert_eq!(status("exit x\n"), None);
    }
}
