//! The engine: the session supervisor and one actor task per session.
//!
//! `Engine` is the cheap, cloneable handle the API calls. Reads go straight to the store
//! (`queries`); every command that changes a session (stop, resume, approve, delete, the pull
//! request of `revis pr`) is a message to the session's actor (`commands`), which alone writes
//! the session's rows and answers on a oneshot. `supervisor` makes sure a session has at most one
//! actor; `actor/` advances a session through `prepare → train → collect → advise → apply →
//! commit`. Nothing here knows about tonic.

mod actor;
mod advice;
mod bus;
mod commands;
pub mod discovery;
pub mod faults;
pub mod handoff;
pub mod hosts;
pub mod llm_advice;
mod names;
pub mod progress;
mod queries;
pub mod records;
pub mod rules;
pub mod significance;
pub mod slots;
mod start;
mod stored;
mod streams;
mod supervisor;
#[cfg(test)]
mod supervisor_tests;
mod worktree;

pub use bus::EventBus;
pub use queries::Trace;
pub use start::{StartOptions, Started, load_project_config, session_variable_names};
pub use streams::{LogChunk, LogSource, LogsResume};

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::exec::{ExecError, Executor, Executors};
use crate::paths::Home;
use crate::store::{self, SessionRow, Store, StoreError};
use crate::workspace::WorkspaceError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Workspace(#[from] WorkspaceError),
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error("{0}")]
    Internal(String),
    /// The daemon is going away; clients reconnect and resume.
    #[error("{0}")]
    Unavailable(String),
}

pub type Result<T> = std::result::Result<T, EngineError>;

struct Inner {
    store: Store,
    home: Home,
    executors: Executors,
    bus: EventBus,
    supervisor: supervisor::Supervisor,
    started: Instant,
    /// Flips to true when the daemon shuts down, so streams end and clients reconnect.
    closing: tokio::sync::watch::Sender<bool>,
    /// Serializes worktree creation and removal: libgit2 checks every worktree's HEAD and
    /// rewrites `info/exclude` while adding one, which races with a concurrent add.
    workspace_lock: tokio::sync::Mutex<()>,
    /// Provider keys and base URLs each session got from the CLI: memory only, by design.
    credentials: Mutex<std::collections::HashMap<i64, crate::advisor::llm::Credentials>>,
}

#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl Engine {
    pub fn new(store: Store, home: Home, exec: Arc<dyn Executor>) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                home,
                executors: Executors::new(exec),
                bus: EventBus::new(),
                supervisor: supervisor::Supervisor::default(),
                started: Instant::now(),
                closing: tokio::sync::watch::Sender::new(false),
                workspace_lock: tokio::sync::Mutex::new(()),
                credentials: Mutex::new(std::collections::HashMap::new()),
            }),
        }
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }
    pub fn home(&self) -> &Home {
        &self.inner.home
    }
    pub fn bus(&self) -> &EventBus {
        &self.inner.bus
    }
    /// The executor of local runs (it also reads the files of every run directory).
    pub(crate) fn exec(&self) -> &Arc<dyn Executor> {
        self.inner.executors.local()
    }
    pub fn uptime(&self) -> std::time::Duration {
        self.inner.started.elapsed()
    }
    pub(crate) fn supervisor(&self) -> &supervisor::Supervisor {
        &self.inner.supervisor
    }

    /// Picks up every session that was running when the daemon last stopped.
    pub async fn resume_all(&self) -> Result<usize> {
        let sessions = store::sessions::resumable(self.store().pool()).await?;
        for s in &sessions {
            tracing::info!(session = %s.name, "resuming session after daemon start");
            self.command(s.id, None);
        }
        Ok(sessions.len())
    }

    /// Ends every watch and logs stream with "unavailable", so followers reconnect to the next
    /// daemon instead of holding this one open.
    pub fn close_streams(&self) {
        self.inner.closing.send_replace(true);
    }

    fn lock_credentials(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<i64, crate::advisor::llm::Credentials>> {
        // Each edit is one insert: a poisoned lock still holds a whole map.
        self.inner.credentials.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Replaces a session's credentials (an empty set keeps the ones it had).
    pub(crate) fn set_credentials(&self, id: i64, credentials: crate::advisor::llm::Credentials) {
        if !credentials.is_empty() {
            self.lock_credentials().insert(id, credentials);
        }
    }

    pub(crate) fn credentials(&self, id: i64) -> crate::advisor::llm::Credentials {
        self.lock_credentials().get(&id).cloned().unwrap_or_default()
    }

    /// The executor a session's runs use, from its `executor:` section; `max_run` is a batch
    /// job's time limit unless the section sets one.
    pub(crate) async fn executor_for(
        &self,
        executor: &crate::config::Executor,
        max_run: std::time::Duration,
    ) -> Result<Arc<dyn Executor>> {
        self.inner
            .executors
            .for_config(executor, max_run)
            .await
            .map_err(|e| EngineError::FailedPrecondition(e.to_string()))
    }

    /// Whether the cluster of a `type: slurm` executor takes the jobs it describes: the key and
    /// message of a problem.
    pub(crate) async fn check_slurm(
        &self,
        executor: &crate::config::Executor,
        max_run: std::time::Duration,
    ) -> std::result::Result<(), (String, String)> {
        self.inner.executors.check_slurm(executor, max_run).await
    }

    pub(crate) async fn lock_workspaces(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.inner.workspace_lock.lock().await
    }

    pub(crate) fn closing(&self) -> tokio::sync::watch::Receiver<bool> {
        self.inner.closing.subscribe()
    }

    /// Ends every actor task. Sessions keep their state in the store and training keeps running
    /// in tmux; the next daemon resumes them.
    pub fn shutdown(&self) {
        self.close_streams();
        self.supervisor().abort_all();
    }

    /// Resolves a session by name: in the project containing `project_dir` first (names are
    /// unique per project), else the one session of that name in any project.
    pub async fn find_session(&self, name: &str, project_dir: &str) -> Result<SessionRow> {
        let pool = self.store().pool();
        if !project_dir.is_empty()
            && let Ok(project) = project_of(Path::new(project_dir))
            && let Some(session) = store::sessions::by_project_name(pool, &project.display().to_string(), name).await?
        {
            return Ok(session);
        }
        let mut all = store::sessions::by_name(pool, name).await?;
        match all.len() {
            0 => Err(EngineError::NotFound(format!("no session named '{name}'"))),
            1 => Ok(all.remove(0)),
            _ => Err(EngineError::FailedPrecondition(format!(
                "several projects have a session named '{name}' ({}); run the command inside the project or pass -C DIR",
                all.iter().map(|s| s.project.as_str()).collect::<Vec<_>>().join(", ")
            ))),
        }
    }

    /// The run directory of an iteration's attempt. Sessions are keyed by id and name (names
    /// repeat across projects); attempts after the first get a suffix, so a re-run never
    /// overwrites the interrupted run's log.
    pub fn run_dir(&self, session_id: i64, session: &str, iteration: u32, attempt: i64) -> PathBuf {
        self.replicate_run_dir(session_id, session, iteration, 1, attempt)
    }

    /// Like [`Engine::run_dir`] for one of the baseline's replicate runs (`0-r2`, `0-r3`, ...).
    pub fn replicate_run_dir(
        &self,
        session_id: i64,
        session: &str,
        iteration: u32,
        replicate: i64,
        attempt: i64,
    ) -> PathBuf {
        let mut name = iteration.to_string();
        if replicate > 1 {
            name.push_str(&format!("-r{replicate}"));
        }
        if attempt > 1 {
            name.push_str(&format!("-{attempt}"));
        }
        self.home().run_dir(&run_key(session_id, session), iteration).with_file_name(name)
    }

    /// The run directory of an iteration's current run.
    pub fn iteration_run_dir(&self, session_id: i64, session: &str, it: &store::IterationRow) -> PathBuf {
        self.replicate_run_dir(session_id, session, it.number(), it.replicate, it.attempt)
    }
}

/// Names a session's runs uniquely in this home: `<id>-<name>`.
pub fn run_key(session_id: i64, session: &str) -> String {
    format!("{session_id}-{session}")
}

/// The git project containing `dir`, as an absolute path.
pub fn project_of(dir: &Path) -> Result<PathBuf> {
    Ok(crate::workspace::project_root(dir)?)
}
