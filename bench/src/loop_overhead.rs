//! Loop overhead: a session of 50 iterations of a training command that does nearly nothing,
//! against a plain shell loop running the same command 50 times. The difference per iteration
//! is what Revis adds: advice, applying the change, the commit, the store, tmux and scheduling.

use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail, ensure};
use revis_tests::TestEnv;

use crate::report::{Figure, Report, Target, median_p95};
use crate::world::{self, quick_project, span};

const ITERATIONS: u32 = 50;
const TARGET_MS: f64 = 50.0;

pub fn run() -> anyhow::Result<Report> {
    let env = TestEnv::new(quick_project());
    // Start the daemon first so its start-up is not billed to the session.
    env.revis_ok(&["status"]);
    let session = world::run_session(&env, "overhead", &["--max-iterations", &ITERATIONS.to_string()])?;
    let iterations = session["iterations"].as_array().context("show --json has no iterations")?;
    ensure!(
        iterations.len() == ITERATIONS as usize,
        "the session ran {} iterations, not {ITERATIONS} (state {})",
        iterations.len(),
        session["state"]
    );
    let session_s = span(&session, "created_at", "ended_at")?;
    let first_to_last = between(&iterations[0], "started_at", &iterations[iterations.len() - 1], "ended_at")?;
    let gaps: Vec<f64> = iterations
        .windows(2)
        .map(|w| between(&w[0], "ended_at", &w[1], "started_at").map(|s| s * 1000.0))
        .collect::<anyhow::Result<_>>()?;
    let runs: Vec<f64> = iterations
        .iter()
        .map(|it| span(it, "started_at", "ended_at").map(|s| s * 1000.0))
        .collect::<anyhow::Result<_>>()?;

    let shell_s = shell_loop(&env)?;
    let n = f64::from(ITERATIONS);
    let overhead_ms = (session_s - shell_s) / n * 1000.0;
    let (gap_median, gap_p95) = median_p95(&gaps);
    let (run_median, _) = median_p95(&runs);

    let mut report =
        Report::new(format!("Loop overhead ({ITERATIONS} iterations of a training that only writes eval.json)"));
    report.note(format!(
        "session {session_s:.2} s from `revis loop` to the end (first run start to last run end {first_to_last:.2} s); \
         plain shell loop {shell_s:.3} s"
    ));
    report.note(format!(
        "per iteration: run (tmux start to exit seen) median {run_median:.1} ms; between runs (metrics, advice, \
         apply, commit, store) median {gap_median:.1} ms, p95 {gap_p95:.1} ms"
    ));
    report.figure(
        Figure::new("Overhead per iteration over a shell loop", overhead_ms, "ms").target(Target::AtMost(TARGET_MS)),
    );
    report.figure(Figure::new("Session time per iteration", session_s / n * 1000.0, "ms"));
    report.figure(Figure::new("Shell loop time per iteration", shell_s / n * 1000.0, "ms"));
    Ok(report)
}

/// Seconds from `a[from]` to `b[to]`.
fn between(a: &serde_json::Value, from: &str, b: &serde_json::Value, to: &str) -> anyhow::Result<f64> {
    let start = a[from].as_str().with_context(|| format!("iteration without {from}"))?;
    let end = b[to].as_str().with_context(|| format!("iteration without {to}"))?;
    Ok(world::instant_of(end)?.duration_since(world::instant_of(start)?).unwrap_or_default().as_secs_f64())
}

/// The same command, 50 times, from `sh`: what a hand-written loop costs.
fn shell_loop(env: &TestEnv) -> anyhow::Result<f64> {
    let out_dir = env.project.scratch().join("shell-out");
    let script = format!("i=1; while [ $i -le {ITERATIONS} ]; do sh train.sh --x $i || exit 1; i=$((i + 1)); done");
    let start = Instant::now();
    let status = Command::new("sh")
        .args(["-c", &script])
        .current_dir(env.project.path())
        .env("REVIS_OUTPUT_DIR", &out_dir)
        .status()
        .context("running the shell loop")?;
    let took = start.elapsed().as_secs_f64();
    if !status.success() {
        bail!("the shell loop failed ({status})");
    }
    Ok(took)
}
