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
    let columns = |table: &'static str| async move {
        // Table names are the constants below, column names come from SQLite itself.
        let rows = sqlx::query(AssertSqlSafe(format!("PRAGMA table_info({table})"))).fetch_all(pool).await?;
        rows.iter().map(|r| r.try_get::<String, _>("name")).collect::<Result<Vec<String>, _>>()
    };
    let session_cols: Vec<String> = columns("sessions").await?.into_iter().filter(|c| c != "id").collect();
    let select_session: Vec<String> =
        session_cols.iter().map(|c| if c == "name" { "?1".to_string() } else { c.clone() }).collect();
    let insert_session = format!(
        "INSERT INTO sessions ({}) SELECT {} FROM sessions WHERE id = ?2",
        session_cols.join(", "),
        select_session.join(", ")
    );
    let child = |cols: Vec<String>, table: &str| {
        let select: Vec<String> =
            cols.iter().map(|c| if c == "session_id" { "?1".to_string() } else { c.clone() }).collect();
        format!(
            "INSERT INTO {table} ({}) SELECT {} FROM {table} WHERE session_id = ?2",
            cols.join(", "),
            select.join(", ")
        )
    };
    let insert_iterations = child(columns("iterations").await?, "iterations");
    let insert_events = child(columns("events").await?, "events");

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
