//! CLI round trip: the wall time of whole `revis status` and `revis list --json` processes
//! (start, connect, hello, request, render, exit) against a store of many finished sessions.
//!
//! The store is grown from one real 20-iteration session whose rows (session, iterations,
//! events) are copied under new names, so every row holds what a real session writes.

use std::path::Path;

use anyhow::{Context, ensure};
use revis_tests::TestEnv;
use sqlx::{AssertSqlSafe, Row};

use crate::report::{Figure, Report, Target, median_p95};
use crate::world::{self, ms, quick_project, time_cli};

const ITERATIONS: u32 = 20;
const WARMUP: usize = 3;
const SAMPLES: usize = 40;
const TARGET_MS: f64 = 15.0;

pub fn run(sessions: usize) -> anyhow::Result<Report> {
    let env = TestEnv::new(quick_project());
    let first = world::run_session(&env, "seed", &["--max-iterations", &ITERATIONS.to_string()])?;
    let count = first["iterations"].as_array().map_or(0, Vec::len);
    ensure!(count == ITERATIONS as usize, "the seed session ran {count} iterations, not {ITERATIONS}");
    env.revis_ok(&["daemon", "stop"]);

    let db = revisd::paths::Home::at(env.home.path()).db();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(copy_session(&db, "seed", sessions.saturating_sub(1)))?;
    let db_bytes = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0);

    let mut report = Report::new(format!(
        "CLI round trip ({sessions} sessions × {ITERATIONS} iterations in the store, {:.1} MB)",
        db_bytes as f64 / 1e6
    ));
    for args in [&["status"][..], &["list", "--json"][..], &["list", "--all", "--json"][..]] {
        let dir = env.project.path();
        for _ in 0..WARMUP {
            time_cli(&env.home, dir, args)?;
        }
        let samples: Vec<f64> =
            (0..SAMPLES).map(|_| time_cli(&env.home, dir, args).map(ms)).collect::<anyhow::Result<_>>()?;
        let (median, p95) = median_p95(&samples);
        let label = format!("revis {}", args.join(" "));
        report.figure(Figure::new(format!("{label}: median"), median, "ms").target(Target::AtMost(TARGET_MS)));
        report.figure(Figure::new(format!("{label}: p95"), p95, "ms"));
    }
    let version = time_samples(&env, &["--version"])?;
    report.note(format!(
        "{SAMPLES} runs each after {WARMUP} warm-up runs; `revis --version` (process start only, no daemon): median {:.1} ms",
        version
    ));
    Ok(report)
}

fn time_samples(env: &TestEnv, args: &[&str]) -> anyhow::Result<f64> {
    let samples: Vec<f64> =
        (0..SAMPLES).map(|_| time_cli(&env.home, env.project.path(), args).map(ms)).collect::<anyhow::Result<_>>()?;
    Ok(median_p95(&samples).0)
}

/// Copies session `name` (with its iterations and events) `copies` times, in one transaction.
pub(crate) async fn copy_session(db: &Path, name: &str, copies: usize) -> anyhow::Result<()> {
    // A plain connection, no migrations: the daemon under measurement owns the schema.
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(db);
    let pool = &sqlx::SqlitePool::connect_with(options).await.with_context(|| format!("opening {}", db.display()))?;
    let source: i64 = sqlx::query_scalar("SELECT id FROM sessions WHERE name = ?").bind(name).fetch_one(pool).await?;
    let insert_session =
        copy_rows_statement(pool, "sessions", Some("id"), "name", "?1", "id = ?2").await.context("sessions")?;
    let insert_iterations = copy_rows_statement(pool, "iterations", None, "session_id", "?1", "session_id = ?2")
        .await
        .context("iterations")?;
    let insert_events =
        copy_rows_statement(pool, "events", None, "session_id", "?1", "session_id = ?2").await.context("events")?;

    let mut tx = pool.begin().await?;
    for k in 1..=copies {
        let id = sqlx::query(AssertSqlSafe(insert_session.clone()))
            .bind(format!("{name}-{k}"))
            .bind(source)
            .execute(&mut *tx)
            .await
            .context("copying a session")?
            .last_insert_rowid();
        for statement in [&insert_iterations, &insert_events] {
            sqlx::query(AssertSqlSafe(statement.clone()))
                .bind(id)
                .bind(source)
                .execute(&mut *tx)
                .await
                .context("copying rows")?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// `INSERT INTO table (…) SELECT … FROM table WHERE filter` over every column the daemon's schema
/// has (but `skip`), with `column` replaced by `expr`: copies rows whatever columns later
/// migrations added. `table` is one of the bench's constants; column names come from SQLite.
pub(crate) async fn copy_rows_statement(
    pool: &sqlx::SqlitePool,
    table: &'static str,
    skip: Option<&str>,
    column: &str,
    expr: &str,
    filter: &str,
) -> anyhow::Result<String> {
    let rows = sqlx::query(AssertSqlSafe(format!("PRAGMA table_info({table})"))).fetch_all(pool).await?;
    let cols: Vec<String> = rows
        .iter()
        .map(|r| r.try_get::<String, _>("name"))
        .filter(|c| c.as_ref().map_or(true, |c| Some(c.as_str()) != skip))
        .collect::<Result<_, _>>()?;
    let select: Vec<String> = cols.iter().map(|c| if c == column { expr.to_string() } else { c.clone() }).collect();
    Ok(format!("INSERT INTO {table} ({}) SELECT {} FROM {table} WHERE {filter}", cols.join(", "), select.join(", ")))
}
