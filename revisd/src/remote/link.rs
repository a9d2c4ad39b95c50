//! `Link`: the one SSH connection behind a `Remote`, cached while healthy and (re)opened with
//! backoff when it is gone.
//!
//! The lock guards the cached fields only and is never held across an await. A connect runs
//! in its own task: a connect to a slow or silent host must not stall callers that only drop or
//! forget a connection, and callers that arrive while it runs wait on that same attempt (and
//! get its outcome) instead of queueing to start their own. The attempt finishes even if every
//! caller gave up on it, so a late success is not wasted.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::watch;

use super::RemoteError;
use super::connect::{self, ConnectOptions, Connection};
use super::target::SshTarget;

/// The outcome of one connect attempt, shared by everyone who waited on it.
type Attempt = Result<Arc<Connection>, Arc<RemoteError>>;

#[derive(Clone)]
pub(crate) struct Link {
    shared: Arc<Shared>,
}

struct Shared {
    target: SshTarget,
    opts: ConnectOptions,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// `None` until connected, or after a drop was noticed.
    conn: Option<Arc<Connection>>,
    /// The attempt in progress: its outcome is published here once.
    connecting: Option<watch::Receiver<Option<Attempt>>>,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // Every critical section is a plain field update that cannot panic halfway, so a
        // poisoned lock still guards a consistent state.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Link {
    pub(crate) fn new(target: SshTarget, opts: ConnectOptions) -> Link {
        Link { shared: Arc::new(Shared { target, opts, state: Mutex::new(State::default()) }) }
    }

    pub(crate) fn target(&self) -> &SshTarget {
        &self.shared.target
    }

    pub(crate) fn opts(&self) -> &ConnectOptions {
        &self.shared.opts
    }

    /// The live connection: the cached one while healthy, else the outcome of the connect in
    /// progress, else of a new one.
    pub(crate) async fn get(&self) -> Result<Arc<Connection>, RemoteError> {
        let mut attempt = {
            let mut state = self.shared.state();
            if let Some(conn) = state.conn.as_ref()
                && !conn.is_closed()
            {
                return Ok(conn.clone());
            }
            state.conn = None;
            match &state.connecting {
                Some(attempt) => attempt.clone(),
                None => self.start_connect(&mut state),
            }
        };
        let outcome = attempt.wait_for(Option::is_some).await.ok().and_then(|done| (*done).clone());
        match outcome {
            Some(Ok(conn)) => Ok(conn),
            Some(Err(e)) => Err(e.duplicate()),
            // The attempt's task ended without an outcome: it panicked or the runtime is
            // shutting down. Transient: a later call starts afresh.
            None => Err(RemoteError::Connect {
                target: self.shared.target.display(),
                source: std::io::Error::other("the connection attempt was abandoned"),
            }),
        }
    }

    /// Forgets `conn` if it is still the cached connection (it was found dead), so the next
    /// `get` reconnects.
    pub(crate) fn forget(&self, conn: &Arc<Connection>) {
        let mut state = self.shared.state();
        if state.conn.as_ref().is_some_and(|c| Arc::ptr_eq(c, conn)) {
            state.conn = None;
        }
    }

    /// Takes the cached connection out, leaving any connect in progress alone.
    pub(crate) fn take(&self) -> Option<Arc<Connection>> {
        self.shared.state().conn.take()
    }

    fn start_connect(&self, state: &mut State) -> watch::Receiver<Option<Attempt>> {
        let (publish, attempt) = watch::channel(None);
        state.connecting = Some(attempt.clone());
        let shared = self.shared.clone();
        let mine = attempt.clone();
        tokio::spawn(async move {
            // Clears `connecting` however this task ends (panic, runtime shutdown), so later
            // callers start a new attempt instead of waiting on a dead one.
            let clear = ClearOnDrop { shared: &shared, attempt: mine };
            let outcome: Attempt =
                connect_with_backoff(&shared.target, &shared.opts).await.map(Arc::new).map_err(Arc::new);
            if let Ok(conn) = &outcome {
                shared.state().conn = Some(conn.clone());
            }
            // Over before anyone hears of it: a caller arriving after a failure starts afresh
            // rather than being handed this stale outcome.
            drop(clear);
            // Nobody waiting is fine: a success stays cached for the next caller.
            publish.send_replace(Some(outcome));
        });
        attempt
    }
}

struct ClearOnDrop<'a> {
    shared: &'a Shared,
    attempt: watch::Receiver<Option<Attempt>>,
}

impl Drop for ClearOnDrop<'_> {
    fn drop(&mut self) {
        let mut state = self.shared.state();
        if state.connecting.as_ref().is_some_and(|a| a.same_channel(&self.attempt)) {
            state.connecting = None;
        }
    }
}

/// One connection, retried with exponential backoff on transient failures.
async fn connect_with_backoff(target: &SshTarget, opts: &ConnectOptions) -> Result<Connection, RemoteError> {
    let mut delay = opts.backoff_initial;
    let mut attempt = 0;
    loop {
        match connect::open(target, opts).await {
            Ok(conn) => return Ok(conn),
            Err(e) if e.is_transient() && attempt < opts.reconnect_attempts => {
                attempt += 1;
                tracing::warn!(
                    target = %target.display(),
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
