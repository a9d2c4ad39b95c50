//! Scale: twenty sessions at once in one daemon against one session alone, each running the
//! same number of iterations of a training that does nearly nothing. Reported as each
//! session's time per iteration (median over sessions) and as the daemon's total throughput.

use std::time::{Duration, Instant};

use anyhow::Context;
use revis_tests::TestEnv;
use revis_tests::session::{ENDED_STATES, state};

use crate::report::{Figure, Report, median_p95};
use crate::world::{self, quick_project, span};

const CONCURRENT: usize = 20;
const ITERATIONS: u32 = 10;

pub fn run() -> anyhow::Result<Report> {
    let env = TestEnv::new(quick_project());
    env.revis_ok(&["status"]);
    let max = ITERATIONS.to_string();
    let single = world::run_session(&env, "alone", &["--max-iterations", &max])?;
    let single_per_it = span(&single, "created_at", "ended_at")? / f64::from(ITERATIONS) * 1000.0;

    let names: Vec<String> = (0..CONCURRENT).map(|i| format!("crowd{i}")).collect();
    let start = Instant::now();
    for name in &names {
        env.start_loop(name, &["--max-iterations", &max]);
    }
    let mut per_it = Vec::new();
    for name in &names {
        let s =
            env.wait_show(name, Duration::from_secs(600), "the session to end", |s| ENDED_STATES.contains(&state(s)));
        let ran = s["iterations"].as_array().map_or(0, Vec::len);
        anyhow::ensure!(ran == ITERATIONS as usize, "{name} ran {ran} iterations ({})", s["state"]);
        per_it.push(span(&s, "created_at", "ended_at").context("session span")? / f64::from(ITERATIONS) * 1000.0);
    }
    let wall = start.elapsed().as_secs_f64();
    let (median, p95) = median_p95(&per_it);
    let total = CONCURRENT as f64 * f64::from(ITERATIONS);

    let mut report = Report::new(format!("Scale ({CONCURRENT} concurrent sessions × {ITERATIONS} iterations)"));
    report.note(format!(
        "all {CONCURRENT} sessions done {wall:.1} s after the first `revis loop`; {:.1} iterations/s in total \
         (one session alone: {:.1} iterations/s)",
        total / wall,
        1000.0 / single_per_it
    ));
    report.figure(Figure::new("One session alone: time per iteration", single_per_it, "ms"));
    report.figure(Figure::new(format!("{CONCURRENT} at once: time per iteration, median session"), median, "ms"));
    report.figure(Figure::new(format!("{CONCURRENT} at once: time per iteration, p95 session"), p95, "ms"));
    report.figure(Figure::new("Slowdown of a session when 20 share the daemon", median / single_per_it, "×"));
    report.figure(Figure::new("Throughput gain of 20 sessions over one", (total / wall) * single_per_it / 1000.0, "×"));
    Ok(report)
}
