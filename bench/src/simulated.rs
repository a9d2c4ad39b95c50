//! A daemon whose local executor runs nothing: each run "trains" for a fixed delay and then
//! leaves the metric the bench project's `train.sh` would write (`100 + x mod 97` for `--x N`).
//! It stands where tmux would, so what the scale benchmark measures is the daemon's own work
//! (scheduling, advising, git, SQLite) at a number of slots no test machine could train on.
//!
//! It runs as this program started again with [`FLAG`], so its CPU time and memory are its own.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use revisd::exec::{ExecError, ExecFuture, Executor, RunOutcome, RunSpec, RunStatus};
use revisd::paths::Home;
use tokio::sync::Notify;
use tokio::time::Instant;

/// The first argument that makes this program a simulated daemon: `FLAG HOME DELAY_MS`.
pub const FLAG: &str = "--simulated-daemon";

/// Runs the simulated daemon when this process was started as one; `None` otherwise.
pub fn main_if_asked() -> Option<ExitCode> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) != Some(FLAG) {
        return None;
    }
    let run = || -> anyhow::Result<()> {
        let [_, home, delay_ms] = args.as_slice() else {
            bail!("usage: revis-bench {FLAG} HOME DELAY_MS");
        };
        let delay = Duration::from_millis(delay_ms.parse().context("DELAY_MS")?);
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        let executor = Arc::new(FixedDelay { delay, runs: Mutex::new(HashMap::new()) });
        runtime.block_on(revisd::daemon::run_with(Home::at(home), executor))?;
        Ok(())
    };
    Some(match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("simulated daemon: {e:#}");
            ExitCode::FAILURE
        }
    })
}

/// A simulated daemon serving `home`, stopped (SIGKILL, then reaped) when dropped.
pub struct SimulatedDaemon {
    child: Child,
}

impl SimulatedDaemon {
    /// Starts one and waits until its socket answers.
    pub fn start(home: &Path, delay: Duration) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("locating revis-bench")?;
        let child = Command::new(exe)
            .arg(FLAG)
            .arg(home)
            .arg(delay.as_millis().to_string())
            .spawn()
            .context("starting the simulated daemon")?;
        let daemon = Self { child };
        let socket = home.join("revisd.sock");
        let ready = revis_tests::wait_until(Duration::from_secs(30), || {
            std::os::unix::net::UnixStream::connect(&socket).is_ok()
        });
        if !ready {
            bail!("the simulated daemon did not open {} within 30 s", socket.display());
        }
        Ok(daemon)
    }

    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).unwrap_or(i32::MAX)
    }
}

impl Drop for SimulatedDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One simulated run.
struct Run {
    run_dir: PathBuf,
    output_dir: PathBuf,
    ends: Instant,
    value: i64,
    killed: bool,
    /// Wakes `wait` when the run is killed.
    kill: Arc<Notify>,
}

/// Every run ends `delay` after it started, with exit code 0.
struct FixedDelay {
    delay: Duration,
    runs: Mutex<HashMap<String, Run>>,
}

/// The exit code of a run killed by SIGTERM, as a shell reports it.
const KILLED: i32 = 143;

impl FixedDelay {
    fn runs(&self) -> std::sync::MutexGuard<'_, HashMap<String, Run>> {
        // A panic while the map was held cannot leave it half-updated: every update is one insert.
        self.runs.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// How the run stands now; an ended run has its eval.json.
    fn status_now(&self, run_id: &str) -> Result<RunStatus, ExecError> {
        let runs = self.runs();
        let Some(run) = runs.get(run_id) else { return Ok(RunStatus::Vanished) };
        if run.killed {
            return Ok(RunStatus::Exited { code: KILLED });
        }
        if Instant::now() < run.ends {
            return Ok(RunStatus::Running);
        }
        let eval = run.output_dir.join("eval.json");
        if !eval.exists() {
            let text = format!("{{\"metrics\": {{\"val_loss\": {}}}}}\n", 100 + run.value.rem_euclid(97));
            std::fs::write(&eval, text).map_err(|e| io("write", &eval, e))?;
        }
        Ok(RunStatus::Exited { code: 0 })
    }
}

fn io(action: &'static str, path: &Path, source: std::io::Error) -> ExecError {
    ExecError::Io { action, path: path.to_path_buf(), source }
}

/// The value of `--x N` in the training command (1 when absent, as in the project's file).
fn x_of(command: &str) -> i64 {
    let mut words = command.split_whitespace();
    while let Some(word) = words.next() {
        if word == "--x" {
            return words.next().and_then(|v| v.trim_matches('\'').parse().ok()).unwrap_or(1);
        }
    }
    1
}

impl Executor for FixedDelay {
    fn start<'a>(&'a self, spec: &'a RunSpec) -> ExecFuture<'a, ()> {
        Box::pin(async move {
            for dir in [&spec.run_dir, &spec.output_dir] {
                std::fs::create_dir_all(dir).map_err(|e| io("create", dir, e))?;
            }
            let log = self.log_path(&spec.run_dir);
            std::fs::write(&log, "simulated run\n").map_err(|e| io("write", &log, e))?;
            let run = Run {
                run_dir: spec.run_dir.clone(),
                output_dir: spec.output_dir.clone(),
                ends: Instant::now() + self.delay,
                value: x_of(&spec.command),
                killed: false,
                kill: Arc::new(Notify::new()),
            };
            self.runs().insert(spec.run_id.clone(), run);
            Ok(())
        })
    }

    fn status<'a>(&'a self, run_id: &'a str, _run_dir: &'a Path) -> ExecFuture<'a, RunStatus> {
        Box::pin(async move { self.status_now(run_id) })
    }

    fn wait<'a>(&'a self, run_id: &'a str, run_dir: &'a Path, deadline: Option<Instant>) -> ExecFuture<'a, RunOutcome> {
        Box::pin(async move {
            let Some((ends, kill)) = self.runs().get(run_id).map(|r| (r.ends, r.kill.clone())) else {
                return Ok(RunOutcome::Vanished);
            };
            let until = deadline.map_or(ends, |d| d.min(ends));
            tokio::select! {
                () = tokio::time::sleep_until(until) => {}
                () = kill.notified() => {}
            }
            if deadline.is_some_and(|d| d < ends && Instant::now() >= d) {
                self.kill(run_id, run_dir, Duration::ZERO).await?;
                return Ok(RunOutcome::TimedOut);
            }
            Ok(match self.status_now(run_id)? {
                RunStatus::Exited { code } => RunOutcome::Exited { code },
                RunStatus::Ended { reason } => RunOutcome::Ended { reason },
                RunStatus::Running | RunStatus::Queued { .. } | RunStatus::Vanished => RunOutcome::Vanished,
            })
        })
    }

    fn kill<'a>(&'a self, run_id: &'a str, _run_dir: &'a Path, _grace: Duration) -> ExecFuture<'a, ()> {
        Box::pin(async move {
            if let Some(run) = self.runs().get_mut(run_id) {
                run.killed = true;
                run.kill.notify_one();
            }
            Ok(())
        })
    }

    fn is_alive<'a>(&'a self, run_id: &'a str) -> ExecFuture<'a, bool> {
        Box::pin(async move { Ok(matches!(self.status_now(run_id)?, RunStatus::Running)) })
    }

    fn was_started(&self, run_dir: &Path) -> bool {
        self.runs().values().any(|run| run.run_dir == run_dir)
    }

    fn gpu_listing(&self) -> ExecFuture<'_, Option<String>> {
        Box::pin(async { Ok(None) })
    }
}

#[cfg(test)]
mod tests {
    use super::x_of;

    #[test]
    fn reads_the_knob_from_the_command() {
        assert_eq!(x_of("sh train.sh --x 42"), 42);
        assert_eq!(x_of("sh train.sh --x '7' --y 3"), 7);
        assert_eq!(x_of("sh train.sh"), 1);
    }
}
