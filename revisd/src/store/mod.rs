//! The store: SQLite through sqlx, and the only place SQL lives.
//!
//! Engine code composes a phase transition out of several of these functions inside one
//! transaction (`Store::begin`), so a transition and its event are committed together or not
//! at all. Nothing here knows about tonic, tmux or git.

pub mod confirmations;
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
    #[error("restricting the database file {path} to its owner: {source}")]
    Permissions { path: PathBuf, source: std::io::Error },
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

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A cheap, cloneable handle to the database.
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
}

impl Store {
    /// Opens (creating if needed) the database in WAL mode and runs the embedded migrations.
    pub async fn open(path: &Path) -> Result<Self> {
        restrict_database_files(path)?;
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

/// The database and its `-wal` and `-shm` files hold every session's history (commands,
/// decisions, logs' excerpts): only their owner may read them, whatever the daemon's umask.
/// SQLite gives `-wal` and `-shm` the main file's mode when it creates them, so creating the main
/// file 0600 before SQLite does covers a new home; files left more open (by an older revisd, a
/// copy made by hand) are restricted in place.
fn restrict_database_files(path: &Path) -> Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let failed = |at: &Path| {
        let at = at.to_path_buf();
        move |source| StoreError::Permissions { path: at, source }
    };
    // `create` without `truncate` leaves an existing database as it is.
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(failed(path))?;
    let mut companions = vec![path.to_path_buf()];
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        companions.push(PathBuf::from(name));
    }
    for file in companions {
        match std::fs::symlink_metadata(&file) {
            Ok(meta) if meta.is_file() && meta.permissions().mode() & 0o077 != 0 => {
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).map_err(failed(&file))?;
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(failed(&file)(e)),
        }
    }
    Ok(())
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

    use crate::states::{SessionState, StopReason};
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

    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).map(|m| m.permissions().mode() & 0o777).unwrap_or_else(|e| panic!("{e}"))
    }

    #[tokio::test]
    async fn the_database_files_are_private_to_their_owner() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("revis.db");
        // A database left world-readable by an older daemon, with a stray shared-memory file.
        std::fs::write(dir.path().join("old.db-shm"), b"").unwrap();
        std::fs::set_permissions(dir.path().join("old.db-shm"), std::fs::Permissions::from_mode(0o644)).unwrap();
        let old = Store::open(&dir.path().join("old.db")).await.unwrap();
        drop(old);
        std::fs::set_permissions(dir.path().join("old.db"), std::fs::Permissions::from_mode(0o666)).unwrap();
        let old = Store::open(&dir.path().join("old.db")).await.unwrap();
        assert_eq!(mode(&dir.path().join("old.db")), 0o600);
        assert_eq!(mode(&dir.path().join("old.db-shm")), 0o600);
        drop(old);

        let store = Store::open(&db).await.unwrap();
        let mut tx = store.begin().await.unwrap();
        sessions::insert(&mut tx, &new_session("a", "/p")).await.unwrap();
        tx.commit().await.unwrap();
        for name in ["revis.db", "revis.db-wal", "revis.db-shm"] {
            assert_eq!(mode(&dir.path().join(name)), 0o600, "{name}");
        }
    }

    /// The listing's facts come from one query over the covering index; they must say what
    /// the iterations say: baseline and best values, runs started, the latest phase.
    #[tokio::test]
    async fn session_summaries_are_computed_from_the_iterations() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("revis.db")).await.unwrap();
        let mut tx = store.begin().await.unwrap();
        let id = sessions::insert(&mut tx, &new_session("a", "/p")).await.unwrap();
        let empty = sessions::insert(&mut tx, &new_session("b", "/p")).await.unwrap();
        for number in 0..4u32 {
            iterations::insert(&mut tx, id, &NewIteration { number, command: "c".into(), ..Default::default() })
                .await
                .unwrap();
        }
        // Runs 0..2 ran (values 3, 1, 2); iteration 3 waits for advice, without a run.
        // Values that 15 significant digits would not carry back exactly.
        let (baseline, best) = (0.1 + 0.2, 1.0 / 3.0);
        for (number, value) in [(0i64, baseline), (1, best), (2, 2.0)] {
            sqlx::query("UPDATE iterations SET run_id = 'r', primary_value = ?, phase = 'commit' WHERE session_id = ? AND number = ?")
                .bind(value)
                .bind(id)
                .bind(number)
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        sqlx::query("UPDATE iterations SET phase = 'advise' WHERE session_id = ? AND number = 3")
            .bind(id)
            .execute(&mut *tx)
            .await
            .unwrap();
        sessions::set_progress(&mut tx, id, Some(1), 0).await.unwrap();
        tx.commit().await.unwrap();

        let rows = sessions::list_summaries(store.pool(), Some("/p"), false).await.unwrap();
        assert_eq!(rows.iter().map(|r| r.session.name.as_str()).collect::<Vec<_>>(), ["b", "a"]);
        let facts = &rows[1].facts;
        assert_eq!(facts.baseline_value, Some(baseline));
        assert_eq!(facts.best_value, Some(best));
        assert_eq!(facts.runs, 3);
        assert_eq!(facts.current_number, Some(3));
        assert_eq!(facts.current_phase, Some(crate::states::Phase::Advise));
        assert_eq!(rows[0].facts, sessions::IterationFacts::default());
        assert!(rows[1].session.minimize && rows[1].session.active_seconds == 0.0);
        assert_eq!(rows[1].session.max_iterations, new_session("a", "/p").max_iterations.map(i64::from));
        let live = sessions::list_summaries(store.pool(), None, true).await.unwrap();
        assert_eq!(live.len(), 2, "both sessions are running");
        assert!(sessions::list_summaries(store.pool(), Some("/elsewhere"), false).await.unwrap().is_empty());
        assert_eq!(&sessions::facts(store.pool(), id).await.unwrap(), facts);
        assert_eq!(sessions::facts(store.pool(), empty).await.unwrap(), sessions::IterationFacts::default());
    }

    #[tokio::test]
    async fn a_rolled_back_transition_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("revis.db")).await.unwrap();
        let mut tx = store.begin().await.unwrap();
        let id = sessions::insert(&mut tx, &new_session("a", "/p")).await.unwrap();
        tx.commit().await.unwrap();
        let mut tx = store.begin().await.unwrap();
        sessions::set_state(&mut tx, id, SessionState::Completed, Some(StopReason::Plateau), None).await.unwrap();
        events::append(&mut tx, id, NewEvent::new("session_ended", None, "m")).await.unwrap();
        drop(tx);
        let s = sessions::get(store.pool(), id).await.unwrap().unwrap();
        assert_eq!(s.state, SessionState::Running);
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
        let pretended = std::time::Instant::now();
        sqlx::query("UPDATE sessions SET active_since = ? WHERE id = ?")
            // Millisecond precision like every stored time, so "now" can never read as < 5 s later.
            .bind(
                (chrono::Utc::now() - chrono::Duration::seconds(5))
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            )
            .bind(id)
            .execute(store.pool())
            .await
            .unwrap();
        let running = sessions::get(store.pool(), id).await.unwrap().unwrap();
        assert!(running.active_seconds_now() >= 5.0 && running.active_seconds == 0.0);

        let mut tx = store.begin().await.unwrap();
        sessions::set_state(&mut tx, id, SessionState::Stopped, Some(StopReason::User), None).await.unwrap();
        tx.commit().await.unwrap();
        let stopped = sessions::get(store.pool(), id).await.unwrap().unwrap();
        assert!(stopped.active_since.is_none());
        // 5 s plus however long this took on a loaded machine (timestamps have ms precision).
        let upper = 5.0 + pretended.elapsed().as_secs_f64() + 0.002;
        assert!((4.999..=upper).contains(&stopped.active_seconds), "{} not in 5..{upper}", stopped.active_seconds);
        assert_eq!(stopped.active_seconds_now(), stopped.active_seconds, "stopped time does not count");

        let mut tx = store.begin().await.unwrap();
        sessions::set_state(&mut tx, id, SessionState::Running, None, None).await.unwrap();
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
        sessions::set_state(&mut tx, a, SessionState::Stopped, Some(StopReason::User), None).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(sessions::list(store.pool(), Some("/p"), false).await.unwrap().len(), 2);
        assert_eq!(sessions::list(store.pool(), Some("/p"), true).await.unwrap().len(), 1);
        assert_eq!(sessions::list(store.pool(), None, false).await.unwrap().len(), 3);
        let stopped = sessions::get(store.pool(), a).await.unwrap().unwrap();
        assert!(stopped.ended_at.is_some() && !stopped.is_live());
    }
}

/// Migrations are append-only once landed: sqlx refuses a database whose applied migration
/// changed, so an edited one would stop the daemon for every existing user. Each landed
/// migration's checksum is held here; a new migration appends its line.
#[cfg(test)]
mod migration_checksums {
    const LANDED: &str = include_str!("migration_checksums.txt");

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn landed_migrations_are_never_edited_or_removed() {
        let embedded: Vec<(i64, String)> = super::MIGRATOR.iter().map(|m| (m.version, hex(&m.checksum))).collect();
        let mut problems = Vec::new();
        for line in LANDED.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
            let mut parts = line.split_whitespace();
            let (Some(version), Some(sum)) = (parts.next().and_then(|v| v.parse::<i64>().ok()), parts.next()) else {
                problems.push(format!("unreadable line in migration_checksums.txt: {line}"));
                continue;
            };
            match embedded.iter().find(|(v, _)| *v == version) {
                None => problems.push(format!("migration {version} has landed and must not be removed")),
                Some((_, now)) if now != sum => problems
                    .push(format!("migration {version} was edited after it landed (write a new migration instead)")),
                Some(_) => {}
            }
        }
        for (version, sum) in &embedded {
            if !LANDED.contains(&format!("{version} ")) {
                problems.push(format!("new migration {version}: append `{version} {sum}` to migration_checksums.txt"));
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}
