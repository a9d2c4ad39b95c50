//! How far one daemon goes with many slots, measured three ways:
//!
//! - the advisor alone: a batch of 256 proposals with 5,000 trials of history;
//! - a real session with 64 slots of a short training (tmux, real processes);
//! - a simulated session with 256 slots: the daemon runs with an executor whose runs end after
//!   a fixed delay (`simulated.rs`), so everything else (scheduling, advising, git, SQLite) is
//!   the daemon's real work at a width this machine could not train at.
//!
//! Slot-time busy is measured from the baseline's end (when trials may first start) to the
//! last trial's start (after which slots empty because the session wants no more trials, not
//! because the daemon was late): the ramp to full width and every gap between trials count.

use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use indexmap::IndexMap;
use revis_tests::TestEnv;
use revisd::advisor::Observation;
use revisd::advisor::search::{Proposal, SearchAdvisor};
use revisd::config::{Search, SearchStrategy};
use serde_json::Value;

use crate::parallel::sleeping_project;
use crate::report::{Figure, Report, Target};
use crate::simulated::SimulatedDaemon;
use crate::world::instant_of;

pub fn run() -> anyhow::Result<Report> {
    let mut report = Report::new("How far one daemon goes (many slots)");
    proposals(&mut report)?;
    real_session(&mut report)?;
    simulated_sessions(&mut report)?;
    Ok(report)
}

/// The advisor alone at the scale of 256 slots: a batch of 256 proposals with 5,000 trials of
/// history, as the engine asks when 256 slots are free.
fn proposals(report: &mut Report) -> anyhow::Result<()> {
    let mut space = IndexMap::new();
    for (name, low, high, log) in [("lr", 1e-5, 1e-1, true), ("wd", 1e-6, 1e-2, true), ("dropout", 0.0, 0.5, false)] {
        let param =
            serde_json::json!({"arg": format!("--{name}"), "low": low, "high": high, "log": log, "type": "float"});
        space.insert(name.to_string(), serde_json::from_value(param).context("search parameter")?);
    }
    let search = Search { strategy: SearchStrategy::Tpe, seed: 7, space };
    let advisor = SearchAdvisor::new(&search).context("bad space")?;
    let history: Vec<Observation> = (0..5000u32)
        .map(|i| {
            let x = f64::from(i) / 5000.0;
            let mut params = IndexMap::new();
            params.insert("lr".to_string(), Value::from(1e-5 + x * 0.1));
            params.insert("wd".to_string(), Value::from(1e-6 + (1.0 - x) * 0.01));
            params.insert("dropout".to_string(), Value::from((x * 7.0).fract() * 0.5));
            Observation { iteration: i, params, primary: Some(((x - 0.3) * 10.0).powi(2) + (x * 13.0).sin()) }
        })
        .collect();
    let current = history[0].params.clone();

    let start = Instant::now();
    let batch = advisor.propose_batch(&history, &[], &current, true, 256);
    let took = start.elapsed();
    ensure!(batch.len() == 256, "only {} proposals in the batch", batch.len());
    ensure!(batch.iter().all(|p| matches!(p, Proposal::Params { .. })), "the space was exhausted");
    report.figure(Figure::new("batch of 256 proposals, 5,000 trials of history", ms(took), "ms"));
    report.figure(Figure::new("one proposal at that scale", ms(took) / 256.0, "ms"));
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// What a wide session cost and how busy it kept its slots.
struct Width {
    /// Share of slot-time with a trial running, from the baseline's end to the last start.
    busy: f64,
    /// From the baseline's end until every slot had its first trial.
    ramp: f64,
    window: f64,
    cpu_per_trial_ms: f64,
    peak_mib: f64,
    wall: f64,
}

/// Runs `trials` after the baseline on `slots` slots and measures them; `pid` is the daemon.
fn measure(env: &TestEnv, pid: i32, slots: u32, trials: u32, deadline: Duration) -> anyhow::Result<Width> {
    let cpu_before = cpu_seconds(pid)?;
    let started = Instant::now();
    env.start_loop("wide", &["--max-iterations", &(trials + 1).to_string()]);
    // Polled every 2 s: `show --json` of hundreds of trials is work for the daemon measured.
    let session = loop {
        let session = env.show("wide");
        let state = revis_tests::session::state(&session);
        if revis_tests::session::ENDED_STATES.contains(&state) {
            break session;
        }
        if started.elapsed() > deadline {
            bail!("the {slots}-slot session did not end within {deadline:?}");
        }
        std::thread::sleep(Duration::from_secs(2));
    };
    let wall = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds(pid)? - cpu_before;
    let peak_kib = peak_rss_kib(pid)?;
    ensure!(session["state"] != "failed", "the session failed: {}", session["stop_detail"]);
    let its = session["iterations"].as_array().context("no iterations")?;
    ensure!(its.len() == trials as usize + 1, "ran {} iterations of {}", its.len(), trials + 1);
    if let Some(failed) = its.iter().find(|it| it["failure_reason"].is_string()) {
        bail!("iteration {} failed: {}", failed["number"], failed["failure_reason"]);
    }
    let time = |it: &Value, key: &str| -> anyhow::Result<f64> {
        let at = instant_of(it[key].as_str().with_context(|| format!("no {key}"))?)?;
        Ok(at.duration_since(std::time::UNIX_EPOCH)?.as_secs_f64())
    };
    let t0 = time(&its[0], "ended_at")?;
    let mut spans = Vec::new();
    for it in its.iter().skip(1) {
        spans.push((time(it, "started_at")?, time(it, "ended_at")?));
    }
    let t1 = spans.iter().map(|s| s.0).fold(t0, f64::max);
    let window = t1 - t0;
    let busy: f64 = spans.iter().map(|&(a, b)| (b.min(t1) - a.max(t0)).max(0.0)).sum();
    let mut starts: Vec<f64> = spans.iter().map(|s| s.0).collect();
    starts.sort_by(f64::total_cmp);
    let ramp = starts.get(slots as usize - 1).map_or(f64::NAN, |s| s - t0);
    Ok(Width {
        busy: busy / (window * f64::from(slots)),
        ramp,
        window,
        cpu_per_trial_ms: cpu / f64::from(trials) * 1000.0,
        peak_mib: peak_kib / 1024.0,
        wall,
    })
}

fn record(report: &mut Report, label: &str, width: &Width) {
    report.figure(
        Figure::new(format!("{label}: share of slot-time busy"), width.busy * 100.0, "%").target(Target::AtLeast(95.0)),
    );
    report.figure(Figure::new(format!("{label}: every slot running after"), width.ramp, "s"));
    report.figure(Figure::new(format!("{label}: daemon CPU per trial"), width.cpu_per_trial_ms, "ms"));
    report.figure(Figure::new(format!("{label}: daemon peak memory"), width.peak_mib, "MiB"));
}

/// A real session with 64 slots of a short training.
fn real_session(report: &mut Report) -> anyhow::Result<()> {
    const SLOTS: u32 = 64;
    const RUN: f64 = 8.0;
    let trials = SLOTS * 3;
    let env = TestEnv::new(sleeping_project(RUN, &format!("executor:\n  slots: {SLOTS}\n")));
    env.revis_ok(&["status"]);
    let pid = env.home.daemon_pid().context("no daemon")?;
    let width = measure(&env, pid, SLOTS, trials, Duration::from_secs(600))?;
    report.note(format!(
        "real: {SLOTS} slots, {trials} trials of a {RUN} s training (tmux); session {:.1} s, window {:.1} s",
        width.wall, width.window
    ));
    record(report, &format!("{SLOTS} slots (real)"), &width);
    Ok(())
}

/// 256 slots whose runs end after a fixed delay, in a daemon of its own: a delay that makes
/// the daemon decide, commit and start 8.5 trials a second, and one three times as long.
fn simulated_sessions(report: &mut Report) -> anyhow::Result<()> {
    const SLOTS: u32 = 256;
    for run in [Duration::from_secs(30), Duration::from_secs(90)] {
        let trials = SLOTS * 3;
        let env = TestEnv::new(sleeping_project(0.0, &format!("executor:\n  slots: {SLOTS}\n")));
        let daemon = SimulatedDaemon::start(env.home.path(), run)?;
        env.revis_ok(&["status"]);
        let width = measure(&env, daemon.pid(), SLOTS, trials, Duration::from_secs(1800))?;
        report.note(format!(
            "simulated: {SLOTS} slots, {trials} trials whose runs end after {} s; session {:.1} s, window {:.1} s",
            run.as_secs(),
            width.wall,
            width.window
        ));
        record(report, &format!("{SLOTS} slots, {} s runs (simulated)", run.as_secs()), &width);
    }
    Ok(())
}

/// User + system CPU seconds of a process so far (from /proc).
fn cpu_seconds(pid: i32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after = stat.rsplit_once(") ").map(|(_, rest)| rest).context("bad stat")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 =
        fields.get(11).context("utime")?.parse::<f64>()? + fields.get(12).context("stime")?.parse::<f64>()?;
    Ok(ticks / 100.0)
}

/// Peak resident memory of a process (VmHWM), KiB.
fn peak_rss_kib(pid: i32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).context("no VmHWM")?;
    Ok(line.split_whitespace().nth(1).context("VmHWM value")?.parse()?)
}
