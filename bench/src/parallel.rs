//! Parallel trials: what several slots buy, measured two ways (how far one daemon goes with
//! many slots is `slot_scale.rs`).
//!
//! - Throughput: a real session whose training sleeps a fixed 2 s, with 1 slot and with 4;
//!   trials per hour after the baseline, and their ratio (target ≥ 3.6×).
//! - Search efficiency: Revis's TPE in-process on the outcome objectives, one trial at a time
//!   against four at once (each proposal made beside the three still running, as the engine
//!   makes it); trials until within 5 % of the optimum, medians over seeds with 95 % bootstrap
//!   intervals, and the ratio of the medians (target ≤ 1.3×). These objectives are the ones
//!   the advisor was tuned on: in-sample figures.

use anyhow::{Context, ensure};
use indexmap::IndexMap;
use revis_tests::{Project, TestEnv};
use revisd::advisor::Observation;
use revisd::advisor::search::{Proposal, SearchAdvisor};
use revisd::config::{Search, SearchStrategy};
use serde_json::Value;

use crate::outcome::python::{self, Evaluator, Objective};
use crate::outcome::score::{Trace, incumbent_truth, iterations_to_within};
use crate::report::{Figure, Report, Target, percentile, trim};
use crate::world::{instant_of, run_session, span, yaml};

/// Trials after the baseline in the throughput sessions.
const TRIALS: u32 = 16;
const TRAIN_SECONDS: u32 = 2;
const CAP: usize = 100;

pub fn run(seeds: u64) -> anyhow::Result<Report> {
    let mut report = Report::new("Parallel trials (slots)");
    throughput(&mut report)?;
    search_efficiency(&mut report, seeds)?;
    Ok(report)
}

/// A project whose training sleeps `seconds` and writes a metric; `settings` go at the end of
/// revis.yaml (slots, parallel).
pub(crate) fn sleeping_project(seconds: f64, settings: &str) -> Project {
    let project = Project::new();
    let train = format!(
        "#!/bin/sh\nx=$2\nsleep {seconds}\nmkdir -p \"$REVIS_OUTPUT_DIR\"\n\
         echo \"{{\\\"metrics\\\": {{\\\"val_loss\\\": $(( 100 + x % 97 ))}}}}\" > \"$REVIS_OUTPUT_DIR/eval.json\"\n"
    );
    project.write("train.sh", &train).write("revis.yaml", &format!("{}{settings}", yaml("sh train.sh")));
    project.commit("baseline");
    project
}

/// Trials per hour after the baseline, and the session as `show --json` gave it.
fn trials_per_hour(slots: u32) -> anyhow::Result<(f64, Value)> {
    let env = TestEnv::new(sleeping_project(f64::from(TRAIN_SECONDS), &format!("executor:\n  slots: {slots}\n")));
    env.revis_ok(&["status"]);
    let name = format!("slots{slots}");
    let session = run_session(&env, &name, &["--max-iterations", &(TRIALS + 1).to_string()])?;
    let its = session["iterations"].as_array().context("no iterations")?;
    ensure!(its.len() == TRIALS as usize + 1, "ran {} iterations", its.len());
    let baseline_end = instant_of(its[0]["ended_at"].as_str().context("baseline end")?)?;
    let last_end = its
        .iter()
        .filter_map(|it| it["ended_at"].as_str())
        .map(instant_of)
        .collect::<anyhow::Result<Vec<_>>>()?
        .into_iter()
        .max()
        .context("no end")?;
    let seconds = last_end.duration_since(baseline_end).unwrap_or_default().as_secs_f64();
    Ok((f64::from(TRIALS) / seconds * 3600.0, session))
}

fn throughput(report: &mut Report) -> anyhow::Result<()> {
    let (one, _) = trials_per_hour(1)?;
    let (four, session) = trials_per_hour(4)?;
    let overlapping = session["iterations"].as_array().map_or(0, |its| {
        its.iter().filter(|it| span(it, "started_at", "ended_at").is_ok_and(|s| s >= f64::from(TRAIN_SECONDS))).count()
    });
    report.note(format!(
        "throughput: {TRIALS} trials of a {TRAIN_SECONDS} s training after the baseline; {overlapping} runs took the full {TRAIN_SECONDS} s"
    ));
    report.figure(Figure::new("1 slot: trials per hour", one, "/h"));
    report.figure(Figure::new("4 slots: trials per hour", four, "/h"));
    report.figure(Figure::new("4 slots vs 1: throughput", four / one, "×").target(Target::AtLeast(3.6)));
    Ok(())
}

/// Revis's TPE with `slots` trials at once, each taking the same time: the oldest running trial
/// ends, is measured, and its slot gets a proposal made beside the others still running.
/// Returns the trace in the order trials were measured (baseline first).
fn run_slots(objective: &Objective, seed: u64, slots: usize) -> anyhow::Result<Trace> {
    let search = Search { strategy: SearchStrategy::Tpe, seed, space: objective.space.clone() };
    let advisor = SearchAdvisor::new(&search).context("bad space")?;
    let mut evaluator = Evaluator::start(&objective.name, seed)?;
    let mut history: Vec<Observation> = Vec::new();
    let mut trace = Trace::default();
    let mut running: std::collections::VecDeque<IndexMap<String, Value>> = std::collections::VecDeque::new();
    let mut measure = |params: IndexMap<String, Value>, history: &mut Vec<Observation>| -> anyhow::Result<()> {
        let (seen, truth) = evaluator.evaluate(&params)?;
        trace.observed.push(seen);
        trace.truth.push(truth);
        let iteration = u32::try_from(history.len())?;
        history.push(Observation { iteration, params, primary: seen.is_finite().then_some(seen) });
        Ok(())
    };
    measure(objective.baseline.clone(), &mut history)?;
    let mut proposed = 1;
    loop {
        while running.len() < slots && proposed < CAP {
            let beside: Vec<IndexMap<String, Value>> = running.iter().cloned().collect();
            match advisor.propose_beside(&history, &beside, &objective.baseline, objective.minimize) {
                Proposal::Params { params, .. } => running.push_back(params),
                Proposal::Exhausted { .. } => break,
            }
            proposed += 1;
        }
        let Some(next) = running.pop_front() else { break };
        measure(next, &mut history)?;
    }
    Ok(trace)
}

/// A 95 % bootstrap interval of the median (1,000 resamples, a fixed generator).
fn median_interval(samples: &[f64]) -> (f64, f64) {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut medians: Vec<f64> = (0..1000)
        .map(|_| {
            let resample: Vec<f64> =
                (0..samples.len()).map(|_| samples[(next() % samples.len() as u64) as usize]).collect();
            percentile(&resample, 50.0)
        })
        .collect();
    medians.sort_by(f64::total_cmp);
    (percentile(&medians, 2.5), percentile(&medians, 97.5))
}

fn search_efficiency(report: &mut Report, seeds: u64) -> anyhow::Result<()> {
    // The objectives are plain Python (no Optuna needed here).
    report.note(format!(
        "search: Revis TPE, trials (baseline = 1) until within 5 % of the optimum, {seeds} seeds, {} = never in {CAP}; \
         in-sample objectives (the advisor was tuned on them)",
        CAP + 1
    ));
    for name in python::objective_names()? {
        let objective = python::describe(&name)?;
        let mut medians = Vec::new();
        for slots in [1, 4] {
            let mut trials = Vec::new();
            for seed in 0..seeds {
                let trace = run_slots(&objective, seed, slots)?;
                let incumbent = incumbent_truth(&trace, objective.minimize);
                trials.push(
                    iterations_to_within(&incumbent, objective.optimum, 0.05).map_or((CAP + 1) as f64, |n| n as f64),
                );
            }
            let median = percentile(&trials, 50.0);
            let (low, high) = median_interval(&trials);
            report.note(format!(
                "search {name}, {slots} slot(s): median {} trials [95 % CI {} – {}]",
                trim(median),
                trim(low),
                trim(high)
            ));
            medians.push(median);
        }
        let ratio = medians[1] / medians[0].max(1.0);
        report.figure(
            Figure::new(format!("{name}: trials to within 5 %, 4 slots / 1 slot"), ratio, "×")
                .target(Target::AtMost(1.3)),
        );
    }
    Ok(())
}
