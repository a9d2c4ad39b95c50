//! The store: SQLite through sqlx, and the only place SQL lives.
//!
//! Engine code composes a phase transition out of several of these functions inside one
//! transaction (`Store::begin`), so a transition and its event are committed together or not
//! at all. Nothing here knows about tonic, tmux or git.

pub mod events;
pub mod iterations;
pub mod sessions;

pub use events::{EventRow, NewEvent};
pub use iterations::{IterationRow, NewIteration};
pub use sessions::{NewSession, SessionRow};

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};

pub type Tx = Transaction<'static, Sqlite>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("opening the database {path}: {source}")]
    Open { path: PathBuf, source: sqlx::Error },
    #[error("migrating the database {path}: {source}")]
    Migrate { path: PathBuf, source: sqlx::migrate::MigrateError },
    #[error("database error while {doing}: {source}")]
    Query { doing: &'static str, source: sqlx::Error },
    #[error("stored value of {field} is unreadable: {detail}")]
    Corrupt { field: &'static str, detail: String },
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Attaches what was being done to a sqlx error.
pub(crate) trait Doing<T> {
    fn doing(self, doing: &'static str) -> Result<T>;
}

impl<T> Doing<T> for std::result::Result<T, sqlx::Error> {
    fn doing(self, doing: &'static str) -> Result<T> {
        self.map_err(|source| StoreError::Query { doing, source })
    }
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// A cheap, cloneable handle to the database.
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
}

impl Store {
    /// Opens (creating if needed) the database in WAL mode and runs the embedded migrations.
    pub async fn open(path: &Path) -> Result<Self> {
        let options = SqliteConnectOptions::from_str("sqlite://")
            .map_err(|source| StoreError::Open { path: path.to_path_buf(), source })?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // WAL + NORMAL is durable across process crashes (the SIGKILL case); only an OS
            // crash can lose the last transactions.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Open { path: path.to_path_buf(), source })?;
        MIGRATOR.run(&pool).await.map_err(|source| StoreError::Migrate { path: path.to_path_buf(), source })?;
        Ok(Self { pool })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Starts a write transaction. `BEGIN IMMEDIATE` takes the write lock up front (waiting on
    /// the busy timeout), so a transition that reads before it writes can never fail with
    /// SQLITE_BUSY when another session's actor commits in between.
    pub async fn begin(&self) -> Result<Tx> {
        self.pool.begin_with("BEGIN IMMEDIATE").await.doing("starting a transaction")
    }
}

/// Current time as stored: RFC 3339 UTC with milliseconds.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Seconds between two stored timestamps (0 when either is unreadable).
pub fn seconds_between(start: &str, end: &str) -> f64 {
    match (chrono::DateTime::parse_from_rfc3339(start), chrono::DateTime::parse_from_rfc3339(end)) {
        (Ok(a), Ok(b)) => (b - a).num_milliseconds() as f64 / 1000.0,
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use sessions::sample as new_session;

    #[tokio::test]
    async fn events_are_numbered_densely_per_session_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("revis.db");
        let store = Store::open(&db).await.unwrap();
        let mut tx = store.begin().await.unwrap();
        let a = sessions::insert(&mut tx, &new_session("a", "/p")).await.unwrap();
        let b = sessions::insert(&mut tx, &new_session("b", "/q")).await.unwrap();
        for i in 0..3 {
            events::append(&mut tx, a, NewEvent::new("x", Some(i), "m")).await.unwrap();
        }
        let first_b = events::append(&mut tx, b, NewEvent::new("x", None, "m")).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(first_b.seq, 1);
        drop(store);

        let store = Store::open(&db).await.unwrap();
        let seqs: Vec<i64> = events::after(store.pool(), a, 0, 100).await.unwrap().iter().map(|e| e.seq).collect();
        assert_eq!(seqs, vec![1, 2, 3]);
        assert_eq!(events::after(store.pool(), a, 2, 100).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_rolled_back_transition_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("revis.db")).await.unwrap();
        let mut tx = store.begin().await.unwrap();
        let id = sessions::insert(&mut tx, &new_session("a", "/p")).await.unwrap();
        tx.commit().await.unwrap();
        let mut tx = store.begin().await.unwrap();
        sessions::set_state(&mut tx, id, "completed", Some("plateau"), None).await.unwrap();
        events::append(&mut tx, id, NewEvent::new("session_ended", None, "m")).await.unwrap();
        drop(tx);
        let s = sessions::get(store.pool(), id).await.unwrap().unwrap();
        assert_eq!(s.state, "running");
        assert!(events::after(store.pool(), id, 0, 10).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn active_time_counts_running_stretches_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("revis.db")).await.unwrap();
        let mut tx = store.begin().await.unwrap();
        let id = sessions::insert(&mut tx, &new_session("a", "/p")).await.unwrap();
        tx.commit().await.unwrap();
        // Started running at insert: pretend that was 5 s ago.
        sqlx::query("UPDATE sessions SET active_since = ? WHERE id = ?")
            .bind((chrono::Utc::now() - chrono::Duration::seconds(5)).to_rfc3339())
            .bind(id)
            .execute(store.pool())
            .await
            .unwrap();
        let running = sessions::get(store.pool(), id).await.unwrap().unwrap();
        assert!(running.active_seconds_now() >= 5.0 && running.active_seconds == 0.0);

        let mut tx = store.begin().await.unwrap();
        sessions::set_state(&mut tx, id, "stopped", Some("user"), None).await.unwrap();
        tx.commit().await.unwrap();
        let stopped = sessions::get(store.pool(), id).await.unwrap().unwrap();
        assert!(stopped.active_since.is_none());
        assert!((5.0..6.0).contains(&stopped.active_seconds), "{}", stopped.active_seconds);
        assert_eq!(stopped.active_seconds_now(), stopped.active_seconds, "stopped time does not count");

        let mut tx = store.begin().await.unwrap();
        sessions::set_state(&mut tx, id, "running", None, None).await.unwrap();
        tx.commit().await.unwrap();
        let resumed = sessions::get(store.pool(), id).await.unwrap().unwrap();
        assert!(resumed.active_since.is_some() && resumed.active_seconds == stopped.active_seconds);
    }

    #[tokio::test]
    async fn listing_filters_by_project_and_liveness() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("revis.db")).await.unwrap();
        let mut tx = store.begin().await.unwrap();
        let a = sessions::insert(&mut tx, &new_session("a", "/p")).await.unwrap();
        sessions::insert(&mut tx, &new_session("b", "/p")).await.unwrap();
        sessions::insert(&mut tx, &new_session("c", "/q")).await.unwrap();
        sessions::set_state(&mut tx, a, "stopped", Some("user"), None).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(sessions::list(store.pool(), Some("/p"), false).await.unwrap().len(), 2);
        assert_eq!(sessions::list(store.pool(), Some("/p"), true).await.unwrap().len(), 1);
        assert_eq!(sessions::list(store.pool(), None, false).await.unwrap().len(), 3);
        let stopped = sessions::get(store.pool(), a).await.unwrap().unwrap();
        assert!(stopped.ended_at.is_some() && !stopped.is_live());
    }
}
