//! The dashboard in a real headless Chromium: how long the list of 1,000 sessions and a
//! 500-trial session take to show (navigation to the last row or point drawn), the page's JS
//! heap, and the daemon's CPU while 5 pages stay open, idle and while a session runs.
//!
//! The store is grown from one real 20-iteration session (`cli_roundtrip::copy_session`), and
//! that session's iterations are copied under later numbers to 500 trials.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use revis_tests::TestEnv;
use revis_tests::browser::{self, Browser};
use sqlx::AssertSqlSafe;

use crate::report::{Figure, Report, median_p95};
use crate::world::{self, quick_project};

const SESSIONS: usize = 1000;
const TRIALS: u32 = 500;
const SEED_ITERATIONS: u32 = 20;
const LOADS: usize = 5;
const PAGES: usize = 5;
const CPU_WINDOW: Duration = Duration::from_secs(20);
/// Trials of the session run while the daemon's CPU is measured (about 5 s of work).
const CPU_TRIALS: u32 = 100;

pub fn run() -> anyhow::Result<Report> {
    ensure!(browser::available(), "the dashboard bench needs {} and {}", browser::CHROMIUM, browser::CHROMEDRIVER);
    let env = TestEnv::new(quick_project());
    world::run_session(&env, "seed", &["--max-iterations", &SEED_ITERATIONS.to_string()])?;
    env.revis_ok(&["daemon", "stop"]);
    let db = revisd::paths::Home::at(env.home.path()).db();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(crate::cli_roundtrip::copy_session(&db, "seed", SESSIONS - 1))?;
    runtime.block_on(grow_iterations(&db, "seed", TRIALS))?;

    let out = env.revis_ok(&["ui", "--no-open"]);
    let url = out.split_whitespace().find(|w| w.starts_with("http://127.0.0.1:")).context("no dashboard address")?;
    let project = env.project.path().display().to_string();
    // Temporary directories have no character a query needs escaped.
    let session_url = format!("{url}#/session?name=seed&project={project}");

    let mut report = Report::new(format!(
        "Dashboard in headless Chromium ({SESSIONS} sessions in the store, one with {TRIALS} trials)"
    ));
    let page = Browser::start();
    let list = format!("return document.querySelectorAll('#sessions tr.session').length === {SESSIONS}");
    let (load, heap) = measure(&page, url, &list)?;
    report.figure(Figure::new(format!("list of {SESSIONS} sessions: load to last row, median"), load.0, "ms"));
    report.figure(Figure::new("list: p95", load.1, "ms"));
    report.figure(Figure::new("list: JS heap used", heap, "MB"));
    let drawn = format!(
        "const c = document.getElementById('metric-chart'); \
         return !!c && Number(c.dataset.points) === {TRIALS} && !!document.getElementById('parallel')"
    );
    let (load, heap) = measure(&page, &session_url, &drawn)?;
    report.figure(Figure::new(
        format!("session of {TRIALS} trials: load to chart and parameters drawn, median"),
        load.0,
        "ms",
    ));
    report.figure(Figure::new("session: p95", load.1, "ms"));
    report.figure(Figure::new("session: JS heap used", heap, "MB"));
    drop(page);

    let pid = env.home.daemon_pid().context("no daemon pid")?;
    let idle_alone = cpu_share(pid, CPU_WINDOW)?;
    let pages: Vec<Browser> = (0..PAGES).map(|_| Browser::start()).collect();
    for (k, page) in pages.iter().enumerate() {
        page.goto(if k % 2 == 0 { url } else { &session_url });
    }
    std::thread::sleep(Duration::from_secs(5));
    let idle_watched = cpu_share(pid, CPU_WINDOW)?;
    report.figure(Figure::new("daemon CPU, idle, no page", idle_alone, "% of a core"));
    report.figure(Figure::new(format!("daemon CPU, idle, {PAGES} pages open"), idle_watched, "% of a core"));
    let (with_pages, session_seconds) = cpu_during_session(&env, pid, "watched")?;
    drop(pages);
    let (without, _) = cpu_during_session(&env, pid, "unwatched")?;
    report.figure(Figure::new(
        format!("daemon CPU while a session runs, {PAGES} pages open"),
        with_pages,
        "% of a core",
    ));
    report.figure(Figure::new("daemon CPU while the same session runs, no page", without, "% of a core"));
    report.note(format!(
        "load = navigation start to the last row (list) or the {TRIALS} points, the parallel coordinates and the scatter plots (session), {LOADS} loads each; heap from performance.memory; CPU from /proc/<pid>/stat over {}s idle and over a {session_seconds:.0}s {CPU_TRIALS}-trial session (5 pages: 3 on the list, 2 on the 500-trial session)",
        CPU_WINDOW.as_secs()
    ));
    Ok(report)
}

/// Median and p95 of `LOADS` navigations to `url` until `ready` holds, and the heap after.
fn measure(page: &Browser, url: &str, ready: &str) -> anyhow::Result<((f64, f64), f64)> {
    let mut samples = Vec::new();
    for _ in 0..LOADS {
        page.goto("about:blank");
        let start = Instant::now();
        page.goto(url);
        page.wait_for("the page to draw", Duration::from_secs(120), ready);
        samples.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    let heap = page.eval("return performance.memory ? performance.memory.usedJSHeapSize : null");
    let heap = heap.as_f64().context("performance.memory is not there")? / 1e6;
    Ok((median_p95(&samples), heap))
}

/// The daemon's CPU time over `window`, as a share of one core (%).
fn cpu_share(pid: i32, window: Duration) -> anyhow::Result<f64> {
    let before = cpu_ticks(pid)?;
    std::thread::sleep(window);
    let after = cpu_ticks(pid)?;
    Ok(ticks_share(after - before, window))
}

fn cpu_during_session(env: &TestEnv, pid: i32, name: &str) -> anyhow::Result<(f64, f64)> {
    let before = cpu_ticks(pid)?;
    let start = Instant::now();
    world::run_session(env, name, &["--max-iterations", &CPU_TRIALS.to_string()])?;
    let took = start.elapsed();
    Ok((ticks_share(cpu_ticks(pid)? - before, took), took.as_secs_f64()))
}

fn ticks_share(ticks: u64, window: Duration) -> f64 {
    // USER_HZ is 100 on Linux.
    ticks as f64 / 100.0 / window.as_secs_f64() * 100.0
}

/// utime + stime of `pid`, in clock ticks.
fn cpu_ticks(pid: i32) -> anyhow::Result<u64> {
    let stat =
        std::fs::read_to_string(format!("/proc/{pid}/stat")).with_context(|| format!("reading /proc/{pid}/stat"))?;
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).context("bad stat")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 of stat(5), counted after the command's closing parenthesis.
    let (Some(user), Some(system)) = (fields.get(11), fields.get(12)) else { bail!("short stat line") };
    Ok(user.parse::<u64>()? + system.parse::<u64>()?)
}

/// Copies session `name`'s iterations under later numbers until it has `total`.
async fn grow_iterations(db: &Path, name: &str, total: u32) -> anyhow::Result<()> {
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(db);
    let pool = &sqlx::SqlitePool::connect_with(options).await.with_context(|| format!("opening {}", db.display()))?;
    let id: i64 = sqlx::query_scalar("SELECT id FROM sessions WHERE name = ?").bind(name).fetch_one(pool).await?;
    let insert = crate::cli_roundtrip::copy_rows_statement(
        pool,
        "iterations",
        None,
        "number",
        "number + ?1",
        "session_id = ?2 AND number < ?3",
    )
    .await?;
    let mut tx = pool.begin().await?;
    let mut have = SEED_ITERATIONS;
    while have < total {
        let take = SEED_ITERATIONS.min(total - have);
        sqlx::query(AssertSqlSafe(insert.clone())).bind(have).bind(id).bind(take).execute(&mut *tx).await?;
        have += take;
    }
    tx.commit().await?;
    Ok(())
}
