//! The engine: the session supervisor and one actor task per live session.
//!
//! `Engine` is the cheap, cloneable handle the API calls. It owns no session state itself: the
//! store does. Each live session has exactly one actor (`actor.rs`) that alone advances it
//! through `prepare → train → collect → advise → apply → commit`; commands from the API
//! (stop) are recorded in the store and the actor is woken. Nothing here knows about tonic.

mod actor;
mod bus;
mod lifecycle;
mod names;
pub mod rules;
mod streams;

pub use bus::EventBus;
pub use lifecycle::{StartOptions, Started, load_project_config};
pub use streams::{LogChunk, LogSource};

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
    pub fn shutdown(&self) {
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
        let dir = self.home().run_dir(&run_key(session_id, session), iteration);
        if attempt <= 1 { dir } else { dir.with_file_name(format!("{iteration}-{attempt}")) }
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
