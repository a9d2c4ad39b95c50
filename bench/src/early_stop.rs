//! Early stopping, measured: GPU time saved and the best model found at equal GPU time, with
//! and without `guardrails.early_stop`, on an objective with learning curves.
//!
//! The objective: three knobs (a log-scaled lr, a width, a float) set the final loss and how
//! fast a run converges, so some curves cross (a slow starter can end best: early stopping is
//! not free). Every run reports its loss every `EVERY` steps up to `STEPS`; the engine's own
//! rules (`revisd::engine::progress::should_stop`) decide from those reports, and the engine's
//! TPE advisor proposes, learning from a stopped run's partial value as a session does. The
//! budget is GPU time: `BUDGET_RUNS` full runs' worth of steps. Scored by the true final loss of
//! the best run that finished (a stopped run is never the best).

use indexmap::IndexMap;
use revisd::advisor::Observation;
use revisd::advisor::search::{Proposal, SearchAdvisor};
use revisd::config::{EarlyStop, Guardrails, Search, SearchParam, SearchStrategy};
use revisd::engine::progress::{Curve, should_stop};
use serde_json::{Value, json};

use crate::outcome::score::{bootstrap, mean};
use crate::report::{Figure, Report, Target};

/// Steps of a full run, and how often it reports.
const STEPS: u32 = 100;
const EVERY: u32 = 5;
/// GPU time available: this many full runs.
const BUDGET_RUNS: u32 = 30;
const REPS: usize = 2000;

/// How much the convergence rate depends on lr: across the lr range, `Crossing` spans 10x (a
/// fast, worse run leads a slow, better one for long: early stopping is misled), `Ordered`
/// 1.5x (early ranks mostly hold, the usual case).
#[derive(Debug, Clone, Copy)]
enum Shape {
    Crossing,
    Ordered,
}

impl Shape {
    fn span(self) -> f64 {
        match self {
            Shape::Crossing => 10.0,
            Shape::Ordered => 1.5,
        }
    }
}

/// The loss at `step` of a run with these knobs: converges from 2.0 towards its final value at
/// a rate set by lr (higher: faster), with a small wobble.
fn loss(shape: Shape, p: &IndexMap<String, Value>, step: u32, seed: u64, trial: u32) -> (f64, f64) {
    let lr = p.get("lr").and_then(Value::as_f64).unwrap_or(1e-3).log10();
    let width = p.get("width").and_then(Value::as_f64).unwrap_or(64.0).log2();
    let mix = p.get("mix").and_then(Value::as_f64).unwrap_or(0.5);
    let last = 0.2 + 0.04 * (lr + 3.0).powi(2) + 0.01 * (width - 7.0).powi(2) + 0.3 * (mix - 0.35).powi(2);
    // Higher lr converges faster; lr spans 5 decades around its best (1e-3).
    let rate = 0.08 * shape.span().powf((lr + 3.0) / 3.0);
    let t = f64::from(step);
    let truth = last + (2.0 - last) * (-rate * t).exp();
    // Deterministic wobble per (seed, trial, step): what a training's eval noise looks like.
    let h = (seed.wrapping_mul(0x9e37_79b9) ^ u64::from(trial).wrapping_mul(0x85eb_ca6b) ^ u64::from(step))
        .wrapping_mul(0xc2b2_ae35)
        % 10_000;
    let wobble = (h as f64 / 10_000.0 - 0.5) * 0.01;
    (truth + wobble, last)
}

fn space() -> IndexMap<String, SearchParam> {
    let mut space = IndexMap::new();
    let p = |v: Value| -> SearchParam { serde_json::from_value(v).unwrap_or_else(|e| panic!("bench space: {e}")) };
    space.insert("lr".into(), p(json!({"arg": "--lr", "low": 1.0e-5, "high": 1.0, "log": true})));
    space.insert("width".into(), p(json!({"arg": "--width", "values": [16, 32, 64, 128, 256, 512]})));
    space.insert("mix".into(), p(json!({"arg": "--mix", "low": 0.0, "high": 1.0})));
    space
}

/// One session under a GPU-time budget: (best true final loss among finished runs, GPU steps
/// per trial, trials run).
fn session(shape: Shape, rule: &Guardrails, seed: u64) -> anyhow::Result<(f64, f64, usize)> {
    let search = Search { strategy: SearchStrategy::Tpe, seed, space: space() };
    let advisor = SearchAdvisor::new(&search).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut history: Vec<Observation> = Vec::new();
    let mut curves: Vec<Curve> = Vec::new();
    let (mut used, budget) = (0u32, BUDGET_RUNS * STEPS);
    let mut best: Option<(f64, f64)> = None;
    let mut trial = 0u32;
    while used < budget {
        let best_params = history
            .iter()
            .filter(|o| o.primary.is_some())
            .min_by(|a, b| a.primary.unwrap_or(f64::MAX).total_cmp(&b.primary.unwrap_or(f64::MAX)))
            .map(|o| o.params.clone())
            .unwrap_or_default();
        let params = match advisor.propose(&history, &best_params, true) {
            Proposal::Params { params, .. } => params,
            Proposal::Exhausted { .. } => break,
        };
        let mut curve: Curve = Vec::new();
        let mut stopped = false;
        let mut step = 0;
        while step < STEPS && used < budget {
            step += EVERY;
            used += EVERY;
            let (seen, _) = loss(shape, &params, step, seed, trial);
            curve.push((f64::from(step), seen));
            if trial > 0 && should_stop(rule, &curve, &curves, true).is_some() {
                stopped = true;
                break;
            }
        }
        let finished = !stopped && step >= STEPS;
        let partial = curve.iter().map(|(_, v)| *v).fold(f64::MAX, f64::min);
        if finished {
            let (seen, truth) = loss(shape, &params, STEPS, seed, trial);
            if best.is_none_or(|(b, _)| seen < b) {
                best = Some((seen, truth));
            }
        }
        history.push(Observation { iteration: trial, params, primary: Some(partial) });
        curves.push(curve);
        trial += 1;
    }
    let trials = trial as usize;
    Ok((best.map_or(f64::NAN, |(_, t)| t), f64::from(used) / trials.max(1) as f64, trials))
}

pub fn run(seeds: u64) -> anyhow::Result<Report> {
    let mut report = Report::new(format!(
        "Early stopping at equal GPU time ({seeds} seeds; budget {BUDGET_RUNS} full runs of {STEPS} steps; TPE)"
    ));
    report.note("best = mean true final loss of the best finished run [95 % bootstrap interval]; optimum 0.2");
    let rules: [(&str, Guardrails); 3] = [
        ("none", Guardrails::default()),
        ("median", Guardrails { early_stop: EarlyStop::Median, min_steps: 20.0, ..Guardrails::default() }),
        (
            "asha",
            Guardrails {
                early_stop: EarlyStop::Asha,
                rungs: vec![10.0, 30.0],
                reduction_factor: 3,
                ..Guardrails::default()
            },
        ),
    ];
    for shape in [Shape::Ordered, Shape::Crossing] {
        let mut baseline_best = f64::NAN;
        for (name, rule) in &rules {
            let mut bests = Vec::new();
            let mut steps = Vec::new();
            let mut trials = Vec::new();
            for seed in 0..seeds {
                let (best, per_trial, n) = session(shape, rule, seed)?;
                bests.push(best);
                steps.push(per_trial);
                trials.push(n as f64);
            }
            let (lo, hi) = bootstrap(&bests, mean, REPS);
            let saved = 1.0 - mean(&steps) / f64::from(STEPS);
            report.note(format!(
            "{shape:?} curves, {name:<7} best {:.4} [{lo:.4}, {hi:.4}]   GPU steps per trial {:.1} ({:.0} % saved)   trials {:.1}",
            mean(&bests),
            mean(&steps),
            saved * 100.0,
            mean(&trials)
        ));
            let mut figure =
                Figure::new(format!("early_stop {shape:?} {name}: best at equal GPU time"), mean(&bests), "");
            if *name == "none" {
                baseline_best = mean(&bests);
            } else {
                figure = figure.target(Target::AtMost(baseline_best));
            }
            report.figure(figure);
            report.figure(Figure::new(
                format!("early_stop {shape:?} {name}: GPU time saved per trial"),
                saved * 100.0,
                "%",
            ));
        }
    }
    Ok(report)
}
