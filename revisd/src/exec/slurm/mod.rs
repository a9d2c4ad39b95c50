//! The Slurm executor: each run is a batch job. The worktree is synced to `<work_dir>/<session>`
//! on the cluster's shared filesystem (the SSH executor's incremental sync), the run's files go
//! to `<work_dir>/.revis/runs/<run_id>/` (job.sh, env, command.sh; the job writes train.log
//! and exit_code there, and its results under output/), and the job is submitted with
//! `sbatch --parsable`. Commands run where `sbatch` works: this machine, or the `login` host
//! over SSH (`Cluster`).
//!
//! A run is followed by looking every `poll` (`state::look_script`: squeue, then scontrol and
//! sacct once the job left the queue, the exit file, and the log from where the local mirror
//! ends). The local run directory holds the job id (`slurm_job.json`), a copy of job.sh and the
//! mirrored log, so a restarted daemon re-attaches by job id; a submission the daemon did not
//! live to record is found by the job's name, never submitted twice.

pub mod check;
mod script;
mod state;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;
use tokio::time::Instant;

pub use script::{JOB_SCRIPT, JobSettings, job_name};

use super::ssh::LogMirror;
use super::wrapper::sh_quote;
use super::{ExecError, ExecFuture, Executor, RunOutcome, RunSpec, RunStatus, SyncReport, validate_run_id};
use crate::remote::{LocalShell, Output, Remote, RemoteError, Shell};

/// Written into the local run directory once the job is submitted.
const LOCAL_STATE: &str = "slurm_job.json";
/// Log bytes brought over by one look: a chatty job catches up over a few looks.
const LOG_CHUNK: u64 = 8 * 1024 * 1024;
/// How long a lost login host is retried during a run before the run is given up on.
const RECONNECT_WINDOW: Duration = Duration::from_secs(30 * 60);
pub const DEFAULT_POLL: Duration = Duration::from_secs(10);

/// Where Slurm's commands run.
#[derive(Debug, Clone)]
pub enum Cluster {
    /// `sbatch` works where the daemon runs.
    Here(LocalShell),
    /// Through the `login` host.
    Login(Remote),
}

impl Shell for Cluster {
    async fn exec_piped<T: AsRef<[u8]> + Send>(
        &self,
        command: &str,
        stdin: tokio::sync::mpsc::Receiver<T>,
    ) -> Result<Output, RemoteError> {
        match self {
            Cluster::Here(shell) => shell.exec_piped(command, stdin).await,
            Cluster::Login(remote) => Shell::exec_piped(remote, command, stdin).await,
        }
    }

    fn place(&self) -> String {
        match self {
            Cluster::Here(shell) => shell.place(),
            Cluster::Login(remote) => remote.target().display(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct LocalJob {
    job_id: String,
    output_dir: PathBuf,
    /// Length of the local train.log when the job was submitted: the mirror begins there.
    log_base: u64,
}

#[derive(Debug, Clone)]
pub struct SlurmExecutor {
    cluster: Cluster,
    work_dir: String,
    settings: JobSettings,
    poll: Duration,
    /// `work_dir` made absolute on the cluster (`~` expanded), looked up once.
    base: std::sync::Arc<OnceCell<String>>,
}

/// The cluster-side paths of one run.
struct ClusterRun {
    id: String,
    dir: String,
    output: String,
}

impl SlurmExecutor {
    pub fn new(cluster: Cluster, work_dir: String, settings: JobSettings, poll: Duration) -> Self {
        Self { cluster, work_dir, settings, poll, base: std::sync::Arc::new(OnceCell::new()) }
    }

    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    pub fn settings(&self) -> &JobSettings {
        &self.settings
    }

    async fn exec(&self, action: &'static str, command: &str, stdin: Option<Vec<u8>>) -> Result<Output, ExecError> {
        self.cluster.exec(command, stdin).await.map_err(|e| ExecError::Remote { action, source: Box::new(e) })
    }

    /// The absolute work directory on the cluster.
    pub async fn base_dir(&self) -> Result<String, ExecError> {
        self.base
            .get_or_try_init(|| async {
                let dir = self.work_dir.trim_end_matches('/');
                if dir.starts_with('/') {
                    return Ok(dir.to_string());
                }
                let out = self.exec("find the home directory", "printf '%s' \"$HOME\"", None).await?;
                let home = String::from_utf8_lossy(&out.stdout).trim_end_matches('/').to_string();
                let rest = dir.strip_prefix('~').unwrap_or(dir).trim_start_matches('/');
                Ok(if rest.is_empty() { home } else { format!("{home}/{rest}") })
            })
            .await
            .cloned()
    }

    async fn run_paths(&self, run_id: &str) -> Result<ClusterRun, ExecError> {
        validate_run_id(run_id)?;
        let dir = format!("{}/.revis/runs/{run_id}", self.base_dir().await?);
        Ok(ClusterRun { id: run_id.to_string(), output: format!("{dir}/output"), dir })
    }

    async fn submit(&self, spec: &RunSpec) -> Result<(), ExecError> {
        let run = self.run_paths(&spec.run_id).await?;
        let workdir = format!("{}/{}", self.base_dir().await?, spec.session);
        let job = script::job_script(spec, &self.settings, &run.dir, &workdir);
        prepare_local(spec, &job)?;
        let bundle = super::remote_files::bundle(spec, &run.output, JOB_SCRIPT, &job)?;
        let name = sh_quote(&job_name(&run.id));
        // One command does it all, so a submission is recorded beside the job where it
        // happens. A job already submitted for this run (by a daemon that died before it
        // recorded the id) is adopted: by the id file, or by the job's name in the queue.
        let submit = format!(
            "umask 077\n\
             [ -d {work} ] || {{ echo 'the work directory {work_msg} does not exist' >&2; exit 4; }}\n\
             mkdir -p {out} && chmod 700 {dir} && cd {dir} || exit 4\n\
             if [ -s job_id ]; then cat job_id; exit 0; fi\n\
             id=$(squeue -h -n {name} -o %i 2>/dev/null | head -n 1)\n\
             if [ -n \"$id\" ]; then echo \"$id\" > job_id; echo \"$id\"; exit 0; fi\n\
             rm -f exit_code exit_code.tmp\n\
             tar -xf - || exit 4\n\
             out=$(sbatch --parsable {job} 2>sbatch.err) || {{ cat sbatch.err >&2; exit 5; }}\n\
             id=${{out%%;*}}\n\
             echo \"$id\" > job_id.tmp && mv -f job_id.tmp job_id\n\
             echo \"$id\"\n",
            work = sh_quote(&workdir),
            work_msg = workdir.replace('\'', ""),
            out = sh_quote(&run.output),
            dir = sh_quote(&run.dir),
            job = JOB_SCRIPT,
        );
        let out = self.exec("submit the Slurm job", &submit, Some(bundle)).await?;
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        match out.status {
            Some(0) => {}
            Some(5) => return Err(ExecError::Submit { run_id: run.id, message: sbatch_message(&stderr) }),
            _ => {
                return Err(ExecError::StartFailed {
                    run_id: run.id,
                    reason: format!("on {}: {stderr}", self.cluster.place()),
                });
            }
        }
        let job_id = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if job_id.is_empty() || !job_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.') {
            return Err(ExecError::Submit { run_id: run.id, message: format!("unexpected answer {job_id:?}") });
        }
        let files = super::wrapper::RunFiles::new(&spec.run_dir);
        let output_dir =
            std::path::absolute(&spec.output_dir).map_err(|e| ExecError::io("resolve", &spec.output_dir, e))?;
        let state = LocalJob { job_id, output_dir, log_base: local_len(&files.log()) };
        let path = spec.run_dir.join(LOCAL_STATE);
        let json = serde_json::to_vec(&state).map_err(|e| ExecError::io("encode", &path, std::io::Error::other(e)))?;
        let tmp = path.with_extension("tmp");
        fs::write(&tmp, json).map_err(|e| ExecError::io("write", &tmp, e))?;
        fs::rename(&tmp, &path).map_err(|e| ExecError::io("replace", &path, e))
    }

    /// One look; with `mirror`, the new log bytes are appended to the local train.log.
    async fn look(&self, run_id: &str, run_dir: &Path, mirror: bool) -> Result<RunStatus, ExecError> {
        let run = self.run_paths(run_id).await?;
        let Some(job) = read_local(run_dir) else {
            return Ok(RunStatus::Vanished);
        };
        let log = super::wrapper::RunFiles::new(run_dir).log();
        let offset = local_len(&log).saturating_sub(job.log_base);
        let limit = if mirror { LOG_CHUNK } else { 0 };
        let out =
            self.exec("look at the Slurm job", &state::look_script(&run.dir, &job.job_id, offset, limit), None).await?;
        if mirror && !out.stdout.is_empty() {
            LogMirror::new(&log).append(&out.stdout)?;
        }
        Ok(state::verdict(&state::parse_view(&String::from_utf8_lossy(&out.stderr))))
    }

    async fn wait_job(&self, run_id: &str, run_dir: &Path, deadline: Option<Instant>) -> Result<RunOutcome, ExecError> {
        let mut failing_since: Option<Instant> = None;
        let mut failures = 0u32;
        loop {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                self.cancel(run_dir, Duration::from_secs(10)).await?;
                let _ = self.look(run_id, run_dir, true).await;
                return Ok(RunOutcome::TimedOut);
            }
            let delay = match self.look(run_id, run_dir, true).await {
                Ok(RunStatus::Exited { code }) => return Ok(RunOutcome::Exited { code }),
                Ok(RunStatus::Ended { reason }) => return Ok(RunOutcome::Ended { reason }),
                Ok(RunStatus::Vanished) => return Ok(RunOutcome::Vanished),
                Ok(RunStatus::Queued { .. } | RunStatus::Running) => {
                    failing_since = None;
                    failures = 0;
                    self.poll
                }
                Err(e) if e.is_unreachable() => {
                    let since = *failing_since.get_or_insert_with(Instant::now);
                    if since.elapsed() >= RECONNECT_WINDOW {
                        return Err(e);
                    }
                    failures += 1;
                    tracing::warn!(run_id, error = %e, "lost the login host while following a Slurm job; retrying");
                    Duration::from_secs(1 << failures.min(5)).min(Duration::from_secs(30))
                }
                Err(e) => return Err(e),
            };
            let delay = match deadline {
                Some(d) => delay.min(d.saturating_duration_since(Instant::now())),
                None => delay,
            };
            tokio::time::sleep(delay).await;
        }
    }

    /// `scancel --signal=TERM` to every process of the job, `KILL` after `grace`, then the job
    /// is cancelled for good (a pending one never starts).
    async fn cancel(&self, run_dir: &Path, grace: Duration) -> Result<(), ExecError> {
        let Some(job) = read_local(run_dir) else {
            return Ok(());
        };
        let tenths = grace.as_millis().div_ceil(100);
        let script = format!(
            "id={id}\n\
             running() {{ case $(squeue -h -j \"$id\" -o %T 2>/dev/null) in RUNNING|COMPLETING|SUSPENDED|CONFIGURING) return 0 ;; *) return 1 ;; esac; }}\n\
             if running; then\n\
             \x20 scancel --full --signal=TERM \"$id\" 2>/dev/null\n\
             \x20 n=0; while running; do n=$((n+1)); [ $n -gt {tenths} ] && break; sleep 0.1; done\n\
             \x20 running && scancel --full --signal=KILL \"$id\" 2>/dev/null\n\
             fi\n\
             scancel \"$id\" 2>/dev/null\n\
             n=0; while running; do n=$((n+1)); [ $n -gt 100 ] && break; sleep 0.1; done\n\
             exit 0\n",
            id = sh_quote(&job.job_id),
        );
        self.exec("cancel the Slurm job", &script, None).await.map(|_| ())
    }

    async fn collect_output(&self, run_id: &str, run_dir: &Path) -> Result<(), ExecError> {
        let run = self.run_paths(run_id).await?;
        let local = read_local(run_dir).map_or_else(|| run_dir.join("output"), |j| j.output_dir);
        super::remote_files::fetch_output(&self.cluster, &run.id, &run.output, &local).await
    }

    async fn in_queue(&self, run_id: &str) -> Result<bool, ExecError> {
        validate_run_id(run_id)?;
        let script = format!("squeue -h -n {} -o %i 2>/dev/null | head -n 1", sh_quote(&job_name(run_id)));
        let out = self.exec("look for the Slurm job", &script, None).await?;
        Ok(!String::from_utf8_lossy(&out.stdout).trim().is_empty())
    }

    async fn prepare(
        &self,
        worktree: &Path,
        session: &str,
        links: &[String],
        state_dir: &Path,
    ) -> Result<SyncReport, ExecError> {
        let dir = format!("{}/{session}", self.base_dir().await?);
        let state_file = state_dir.join("slurm-sync.json");
        super::remote_files::sync_workdir(&self.cluster, worktree, &dir, &state_file, links).await
    }
}

impl Executor for SlurmExecutor {
    /// Submitted: the job id is recorded locally.
    fn was_started(&self, run_dir: &Path) -> bool {
        run_dir.join(LOCAL_STATE).exists()
    }

    fn start<'a>(&'a self, spec: &'a RunSpec) -> ExecFuture<'a, ()> {
        Box::pin(self.submit(spec))
    }

    fn status<'a>(&'a self, run_id: &'a str, run_dir: &'a Path) -> ExecFuture<'a, RunStatus> {
        Box::pin(self.look(run_id, run_dir, true))
    }

    fn wait<'a>(&'a self, run_id: &'a str, run_dir: &'a Path, deadline: Option<Instant>) -> ExecFuture<'a, RunOutcome> {
        Box::pin(self.wait_job(run_id, run_dir, deadline))
    }

    fn kill<'a>(&'a self, _run_id: &'a str, run_dir: &'a Path, grace: Duration) -> ExecFuture<'a, ()> {
        Box::pin(self.cancel(run_dir, grace))
    }

    fn is_alive<'a>(&'a self, run_id: &'a str) -> ExecFuture<'a, bool> {
        Box::pin(self.in_queue(run_id))
    }

    fn collect<'a>(&'a self, run_id: &'a str, run_dir: &'a Path) -> ExecFuture<'a, ()> {
        Box::pin(self.collect_output(run_id, run_dir))
    }

    fn prepare_workdir<'a>(
        &'a self,
        worktree: &'a Path,
        session: &'a str,
        links: &'a [String],
        state_dir: &'a Path,
    ) -> ExecFuture<'a, Option<SyncReport>> {
        Box::pin(async move { self.prepare(worktree, session, links, state_dir).await.map(Some) })
    }

    fn job_id(&self, run_dir: &Path) -> Option<String> {
        read_local(run_dir).map(|j| j.job_id)
    }

    fn queue_poll(&self) -> Option<Duration> {
        Some(self.poll)
    }

    /// Slurm hands out the GPUs: nothing to list.
    fn gpu_listing(&self) -> ExecFuture<'_, Option<String>> {
        Box::pin(async { Ok(None) })
    }
}

/// The local run directory (0700, for the mirrored log), the output directory and a copy of
/// the job script; the result of an earlier attempt goes.
fn prepare_local(spec: &RunSpec, job: &str) -> Result<(), ExecError> {
    use std::os::unix::fs::PermissionsExt;
    let dir = &spec.run_dir;
    fs::create_dir_all(dir).map_err(|e| ExecError::io("create", dir, e))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .map_err(|e| ExecError::io("set permissions of", dir, e))?;
    fs::create_dir_all(&spec.output_dir).map_err(|e| ExecError::io("create", &spec.output_dir, e))?;
    let path = dir.join(JOB_SCRIPT);
    fs::write(&path, job).map_err(|e| ExecError::io("write", &path, e))
}

fn read_local(run_dir: &Path) -> Option<LocalJob> {
    fs::read(run_dir.join(LOCAL_STATE)).ok().and_then(|bytes| serde_json::from_slice(&bytes).ok())
}

fn local_len(path: &Path) -> u64 {
    fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// sbatch's own words, without its `sbatch: error:` prefixes.
fn sbatch_message(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .map(|l| l.trim().trim_start_matches("sbatch: error: ").trim_start_matches("sbatch: "))
        .filter(|l| !l.is_empty())
        .collect();
    if lines.is_empty() { "no message".to_string() } else { lines.join("; ") }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sbatch_messages_lose_their_prefixes() {
        let text = "sbatch: error: invalid partition specified: nope\nsbatch: error: Batch job submission failed: Invalid partition name specified\n";
        assert_eq!(
            super::sbatch_message(text),
            "invalid partition specified: nope; Batch job submission failed: Invalid partition name specified"
        );
    }
}
