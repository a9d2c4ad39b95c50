//! The engine: the session supervisor and one actor task per live session.
//!
//! `Engine` is the cheap, cloneable handle the API calls. It owns no session state itself: the
//! store does. Each live session has exactly one actor (`actor.rs`) that alone advances it
//! through `prepare → train → collect → advise → apply → commit`; commands from the API
//! (stop) are recorded in the store and the actor is woken. Nothing here knows about tonic.

mod actor;
mod bus;
pub mod discovery;
pub mod faults;
pub mod handoff;
pub mod hosts;
mod lifecycle;
pub mod llm_advice;
mod names;
pub mod rules;
mod streams;

pub use bus::EventBus;
pub use lifecycle::{StartOptions, Started, load_project_config, session_variable_names};
pub use streams::{LogChunk, LogSource, LogsResume};

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::exec::{ExecError, Executor};
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

struct ActorHandle {
    wake: Arc<Notify>,
    task: JoinHandle<()>,
}

struct Inner {
    store: Store,
    home: Home,
    exec: Arc<dyn Executor>,
    bus: EventBus,
    actors: Mutex<HashMap<i64, ActorHandle>>,
    started: Instant,
    /// Flips to true when the daemon shuts down, so streams end and clients reconnect.
    closing: tokio::sync::watch::Sender<bool>,
    /// Serializes worktree creation and removal: libgit2 checks every worktree's HEAD and
    /// rewrites `info/exclude` while adding one, which races with a concurrent add.
    workspace_lock: tokio::sync::Mutex<()>,
    /// Provider keys and base URLs each session got from the CLI: memory only, by design.
    credentials: Mutex<HashMap<i64, crate::advisor::llm::Credentials>>,
    /// One SSH executor per remote (user@host:port work_dir), shared by its sessions.
    remotes: tokio::sync::Mutex<HashMap<String, Arc<dyn Executor>>>,
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
                exec,
                bus: EventBus::new(),
                actors: Mutex::new(HashMap::new()),
                started: Instant::now(),
                closing: tokio::sync::watch::Sender::new(false),
                workspace_lock: tokio::sync::Mutex::new(()),
                credentials: Mutex::new(HashMap::new()),
                remotes: tokio::sync::Mutex::new(HashMap::new()),
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
    pub(crate) fn exec(&self) -> &Arc<dyn Executor> {
        &self.inner.exec
    }
    pub fn uptime(&self) -> std::time::Duration {
        self.inner.started.elapsed()
    }

    /// Picks up every session that was running when the daemon last stopped.
    pub async fn resume_all(&self) -> Result<usize> {
        let sessions = store::sessions::resumable(self.store().pool()).await?;
        for s in &sessions {
            tracing::info!(session = %s.name, "resuming session after daemon start");
            self.spawn_actor(s.id).await;
        }
        Ok(sessions.len())
    }

    /// Ends every actor task. Sessions keep their state in the store and training keeps running
    /// in tmux; the next daemon resumes them.
    /// Ends every watch and logs stream with "unavailable", so followers reconnect to the next
    /// daemon instead of holding this one open.
    pub fn close_streams(&self) {
        self.inner.closing.send_replace(true);
    }

    /// Replaces a session's credentials (an empty set keeps the ones it had).
    pub(crate) fn set_credentials(&self, id: i64, credentials: crate::advisor::llm::Credentials) {
        if credentials.is_empty() {
            return;
        }
        let mut all = match self.inner.credentials.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        all.insert(id, credentials);
    }

    pub(crate) fn credentials(&self, id: i64) -> crate::advisor::llm::Credentials {
        let all = match self.inner.credentials.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        all.get(&id).cloned().unwrap_or_default()
    }

    /// The executor a session's runs use: the local tmux one, or an SSH executor for
    /// `executor.type: ssh` (connected on first use; the connection is re-opened on demand).
    pub(crate) async fn executor_for(&self, config: &crate::config::Config) -> Result<Arc<dyn Executor>> {
        if config.executor.kind == crate::config::ExecutorType::Local {
            return Ok(self.exec().clone());
        }
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .ok_or_else(|| EngineError::Internal("HOME is not set: cannot read ~/.ssh".into()))?;
        let target = crate::remote::resolve(&config.executor, &home)
            .map_err(|e| EngineError::FailedPrecondition(format!("executor: {e}")))?;
        let work_dir = config.executor.work_dir.clone().unwrap_or_else(|| "~/revis-work".to_string());
        let key = format!("{}:{work_dir}", target.display());
        let mut remotes = self.inner.remotes.lock().await;
        if let Some(exec) = remotes.get(&key) {
            return Ok(exec.clone());
        }
        let remote = crate::remote::Remote::connect(target, home)
            .await
            .map_err(|e| EngineError::FailedPrecondition(format!("executor: {e}")))?;
        let exec: Arc<dyn Executor> = Arc::new(crate::exec::SshExecutor::new(remote, work_dir));
        remotes.insert(key, exec.clone());
        Ok(exec)
    }

    pub(crate) async fn lock_workspaces(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.inner.workspace_lock.lock().await
    }

    pub(crate) fn closing(&self) -> tokio::sync::watch::Receiver<bool> {
        self.inner.closing.subscribe()
    }

    pub fn shutdown(&self) {
        self.close_streams();
        let actors = match self.inner.actors.lock() {
            Ok(mut guard) => std::mem::take(&mut *guard),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        };
        for (_, actor) in actors {
            actor.task.abort();
        }
    }

    /// Starts the actor of a session unless one is already driving it. An actor that is just
    /// finishing (the session ended a moment ago) is awaited first, so a session is never
    /// driven by two actors nor left with none.
    pub(crate) async fn spawn_actor(&self, id: i64) {
        let previous = {
            let mut actors = self.lock_actors();
            match actors.get(&id) {
                Some(a) if !a.task.is_finished() => actors.remove(&id),
                _ => None,
            }
        };
        if let Some(old) = previous
            && tokio::time::timeout(std::time::Duration::from_secs(10), old.task).await.is_err()
        {
            tracing::warn!(session_id = id, "previous actor did not finish; starting anew");
        }
        let wake = Arc::new(Notify::new());
        let task = tokio::spawn(actor::run(self.clone(), id, wake.clone()));
        self.lock_actors().insert(id, ActorHandle { wake, task });
    }

    pub(crate) fn wake_actor(&self, id: i64) -> bool {
        match self.lock_actors().get(&id) {
            Some(a) if !a.task.is_finished() => {
                a.wake.notify_one();
                true
            }
            _ => false,
        }
    }

    pub(crate) fn abort_actor(&self, id: i64) {
        if let Some(a) = self.lock_actors().remove(&id) {
            a.task.abort();
        }
    }

    fn lock_actors(&self) -> std::sync::MutexGuard<'_, HashMap<i64, ActorHandle>> {
        match self.inner.actors.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
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
