//! Which executor runs a session's trials, chosen from `executor.type`. This is the one place
//! that knows the executor kinds: a new executor is its own module plus one line here, and the
//! engine only ever sees `Arc<dyn Executor>`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use std::time::Duration;

use super::slurm::{self, Cluster, JobSettings};
use super::{Executor, SlurmExecutor, SshExecutor};
use crate::config::{self, ExecutorType};
use crate::remote::LocalShell;

/// An executor that cannot be set up from the session's configuration (no SSH host, a key
/// that cannot be read, a host that does not answer).
#[derive(Debug, thiserror::Error)]
#[error("executor: {0}")]
pub struct SetupError(String);

pub struct Executors {
    local: Arc<dyn Executor>,
    /// One SSH executor per remote (user@host:port work_dir), shared by its sessions.
    remotes: tokio::sync::Mutex<HashMap<String, Arc<dyn Executor>>>,
    /// One Slurm executor per cluster, work directory and job settings.
    clusters: tokio::sync::Mutex<HashMap<String, Arc<SlurmExecutor>>>,
}

impl Executors {
    pub fn new(local: Arc<dyn Executor>) -> Self {
        Self {
            local,
            remotes: tokio::sync::Mutex::new(HashMap::new()),
            clusters: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The executor of runs on this machine (also the one that reads local run files).
    pub fn local(&self) -> &Arc<dyn Executor> {
        &self.local
    }

    /// The executor a session's runs use (remote ones connect on first use and reconnect on
    /// demand).
    /// `max_run` (`guardrails.max_run_duration`) is a Slurm job's time limit unless
    /// `executor.time` says otherwise.
    pub async fn for_config(
        &self,
        executor: &config::Executor,
        max_run: Duration,
    ) -> Result<Arc<dyn Executor>, SetupError> {
        match executor.kind {
            ExecutorType::Local => Ok(self.local.clone()),
            ExecutorType::Ssh => self.ssh(executor).await,
            ExecutorType::Slurm => Ok(self.slurm(executor, max_run).await?),
        }
    }

    /// A Slurm executor, through the `login` host when one is given. One per cluster, work
    /// directory and job settings: sessions with the same ones share it.
    async fn slurm(&self, executor: &config::Executor, max_run: Duration) -> Result<Arc<SlurmExecutor>, SetupError> {
        let settings = JobSettings::from_config(executor, max_run).map_err(SetupError)?;
        let poll = match executor.poll_interval.as_deref() {
            Some(text) => config::duration::parse_duration(text)
                .map_err(|e| SetupError(format!("executor.poll_interval: {e}")))?,
            None => slurm::DEFAULT_POLL,
        };
        let work_dir = executor.work_dir.clone().unwrap_or_else(|| "~/revis-work".to_string());
        let key = format!("slurm:{:?}:{work_dir}:{settings:?}:{poll:?}", executor.login);
        if let Some(exec) = self.clusters.lock().await.get(&key) {
            return Ok(exec.clone());
        }
        let cluster = match &executor.login {
            None => Cluster::Here(LocalShell),
            Some(login) => {
                let home = std::env::var_os("HOME")
                    .map(PathBuf::from)
                    .ok_or_else(|| SetupError("HOME is not set: cannot read ~/.ssh".into()))?;
                let as_host = config::Executor {
                    kind: ExecutorType::Ssh,
                    host: Some(login.clone()),
                    user: executor.user.clone(),
                    port: executor.port,
                    key_path: executor.key_path.clone(),
                    ..config::Executor::default()
                };
                let target = crate::remote::resolve(&as_host, &home).map_err(|e| SetupError(e.to_string()))?;
                let remote = crate::remote::Remote::connect(target, home)
                    .await
                    .map_err(|e| SetupError(format!("executor.login {login}: {e}")))?;
                Cluster::Login(remote)
            }
        };
        let exec = Arc::new(SlurmExecutor::new(cluster, work_dir, settings, poll));
        Ok(self.clusters.lock().await.entry(key).or_insert(exec).clone())
    }

    /// Asks the cluster whether it would take the jobs `executor` describes (see
    /// `slurm::check`): the key and message of a problem.
    pub async fn check_slurm(&self, executor: &config::Executor, max_run: Duration) -> Result<(), (String, String)> {
        let exec = self.slurm(executor, max_run).await.map_err(|e| ("executor.login".to_string(), e.to_string()))?;
        slurm::check::check(&exec, executor).await
    }

    async fn ssh(&self, executor: &config::Executor) -> Result<Arc<dyn Executor>, SetupError> {
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .ok_or_else(|| SetupError("HOME is not set: cannot read ~/.ssh".into()))?;
        let target = crate::remote::resolve(executor, &home).map_err(|e| SetupError(e.to_string()))?;
        let work_dir = executor.work_dir.clone().unwrap_or_else(|| "~/revis-work".to_string());
        // How long a lost connection is retried during a run before the run is given up on.
        let window = match executor.host_timeout.as_deref() {
            Some(text) => Some(
                config::duration::parse_duration(text)
                    .map_err(|e| SetupError(format!("executor.host_timeout: {e}")))?,
            ),
            None => None,
        };
        let key = format!("{}:{work_dir}:{window:?}", target.display());
        if let Some(exec) = self.remotes.lock().await.get(&key) {
            return Ok(exec.clone());
        }
        // Connected without the lock: a slow or unreachable host must not hold up the sessions
        // of every other host. Two sessions connecting to one host at once keep the first.
        let remote = crate::remote::Remote::connect(target, home).await.map_err(|e| SetupError(e.to_string()))?;
        let exec = SshExecutor::new(remote, work_dir);
        let exec: Arc<dyn Executor> = Arc::new(match window {
            Some(window) => exec.with_reconnect_window(window),
            None => exec,
        });
        Ok(self.remotes.lock().await.entry(key).or_insert(exec).clone())
    }
}
