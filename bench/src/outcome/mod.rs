//! Search outcome: Revis's offline search advisor against Optuna's TPE (with its defaults, and
//! with as many start-up trials as Revis uses) and both tools' random samplers, on the
//! objectives of bench/outcome/objectives.py: three the advisor was tuned on (quickstart,
//! mixed, noisy) and three held out from that tuning (smooth6, conditional, heavy_noise).
//!
//! Sample efficiency only, not speed: our advisor runs in-process, Optuna in its own Python
//! process, and both evaluate the same baseline first and are scored by the same Python code.
//! Per seed: the best true value after 10 and after 20 trials (the best being the best
//! *observed* point; for noisy objectives its noise-free value) and the trials until within 5 %
//! of the known optimum. Reported: the mean best@10 and best@20 and the median trials, each
//! with a 95 % bootstrap interval over the seeds, and Revis's paired gain over Optuna's TPE
//! (seed by seed: same baseline, same noise) with its interval.

pub(crate) mod python;
mod revis;
pub(crate) mod score;

use std::fmt::Write as _;

use revisd::advisor::search::SearchAdvisor;
use revisd::config::{Search, SearchStrategy};

use crate::report::{Figure, Report, Target, percentile, trim};
use python::Objective;
use score::{Trace, bootstrap, incumbent_truth, iterations_to_within, mean, value_after};

/// Trials per run, baseline included. Runs that never get within the tolerance count CAP + 1.
const CAP: usize = 100;
/// Relative distance to the optimum that counts as "found".
const TOLERANCE: f64 = 0.05;
/// The budgets at which the best value is compared.
const EARLY: [usize; 2] = [10, 20];
/// Bootstrap resamples per interval.
const REPS: usize = 2000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sampler {
    RevisTpe,
    OptunaTpe,
    /// Optuna's TPE with Revis's number of start-up trials.
    OptunaTpeMatched,
    OptunaRandom,
    RevisRandom,
}

impl Sampler {
    const ALL: [Self; 5] =
        [Self::RevisTpe, Self::OptunaTpe, Self::OptunaTpeMatched, Self::OptunaRandom, Self::RevisRandom];

    fn label(self) -> &'static str {
        match self {
            Self::RevisTpe => "revis TPE",
            Self::OptunaTpe => "optuna TPE",
            Self::OptunaTpeMatched => "optuna TPE (k)",
            Self::OptunaRandom => "optuna random",
            Self::RevisRandom => "revis random",
        }
    }

    /// Start-up trials of a TPE sampler (random draws or a design before the model).
    fn startup(self, revis: usize) -> Option<usize> {
        match self {
            Self::RevisTpe | Self::OptunaTpeMatched => Some(revis),
            // Optuna's TPESampler default.
            Self::OptunaTpe => Some(10),
            Self::OptunaRandom | Self::RevisRandom => None,
        }
    }

    fn run(self, objective: &Objective, seed: u64, revis_startup: usize) -> anyhow::Result<Trace> {
        match self {
            Self::RevisTpe => revis::run(objective, SearchStrategy::Tpe, seed, CAP),
            Self::RevisRandom => revis::run(objective, SearchStrategy::Random, seed, CAP),
            Self::OptunaTpe => python::optuna(&objective.name, "tpe", seed, CAP, None),
            Self::OptunaTpeMatched => python::optuna(&objective.name, "tpe", seed, CAP, Some(revis_startup)),
            Self::OptunaRandom => python::optuna(&objective.name, "random", seed, CAP, None),
        }
    }
}

/// Per seed, one sampler's scores on one objective.
#[derive(Debug, Default)]
struct Scores {
    iterations: Vec<f64>,
    /// best@10, best@20.
    early_best: [Vec<f64>; 2],
    misses: usize,
}

impl Scores {
    fn add(&mut self, trace: &Trace, objective: &Objective) {
        let incumbent = incumbent_truth(trace, objective.minimize);
        match iterations_to_within(&incumbent, objective.optimum, TOLERANCE) {
            Some(n) => self.iterations.push(n as f64),
            None => {
                self.misses += 1;
                self.iterations.push((CAP + 1) as f64);
            }
        }
        for (k, n) in EARLY.iter().enumerate() {
            self.early_best[k].push(value_after(&incumbent, *n));
        }
    }

    fn median_iterations(&self) -> f64 {
        percentile(&self.iterations, 50.0)
    }

    fn best(&self, k: usize) -> f64 {
        mean(&self.early_best[k])
    }

    /// "value [lo, hi]" of the mean best@EARLY[k] or of the median trials.
    fn best_text(&self, k: usize) -> String {
        let (lo, hi) = bootstrap(&self.early_best[k], mean, REPS);
        format!("{:.4} [{:.4}, {:.4}]", self.best(k), lo, hi)
    }

    fn iterations_text(&self) -> String {
        let (lo, hi) = bootstrap(&self.iterations, |v| percentile(v, 50.0), REPS);
        format!("{} [{}, {}]", trim(self.median_iterations()), trim(lo), trim(hi))
    }
}

pub fn run(seeds: u64) -> anyhow::Result<Report> {
    anyhow::ensure!(seeds > 0, "--seeds must be at least 1");
    python::check_python()?;
    let mut report = Report::new(format!(
        "Search outcome (over {seeds} seeds, {CAP} trials per run, baseline first; optuna {})",
        python::optuna_version()
    ));
    report.note(format!(
        "best@10 / best@20 = mean true value of the best observed point after 10 / 20 trials; iters = median \
         trials until the best point is within {}% of the optimum (baseline = 1, {} = not within {CAP}); \
         [95 % bootstrap intervals over seeds]; k = start-up trials; optuna TPE (k) = TPESampler(n_startup_trials=k \
         of Revis)",
        TOLERANCE * 100.0,
        CAP + 1
    ));
    let mut table = format!(
        "{:<12} {:<9} {:<15} {:>3} {:>26} {:>26} {:>14} {:>6}",
        "objective", "set", "sampler", "k", "best@10", "best@20", "iters", "misses"
    );
    for name in python::objective_names()? {
        let objective = python::describe(&name)?;
        let search = Search { strategy: SearchStrategy::Tpe, seed: 0, space: objective.space.clone() };
        let revis_startup = SearchAdvisor::new(&search).map(|a| a.startup_trials()).unwrap_or(0);
        let set = if objective.held_out { "held-out" } else { "tuning" };
        let mut all: Vec<(Sampler, Scores)> = Vec::new();
        for sampler in Sampler::ALL {
            let mut scores = Scores::default();
            for seed in 0..seeds {
                let trace = sampler.run(&objective, seed, revis_startup)?;
                scores.add(&trace, &objective);
            }
            all.push((sampler, scores));
        }
        let reference = all.iter().find(|(s, _)| *s == Sampler::OptunaTpe).map(|(_, sc)| sc);
        let ours = all.iter().find(|(s, _)| *s == Sampler::RevisTpe).map(|(_, sc)| sc);
        if let (Some(ours), Some(theirs)) = (ours, reference) {
            // Both samplers see the same seeds (the same baseline and noise stream), so the
            // per-seed difference is the sharper comparison than two separate intervals.
            let _ = write!(table, "\n{:<12} {:<9} paired gain of revis TPE over optuna TPE:", objective.name, set);
            for (k, n) in EARLY.iter().enumerate() {
                let gains: Vec<f64> = ours.early_best[k]
                    .iter()
                    .zip(&theirs.early_best[k])
                    .map(|(a, b)| if objective.minimize { b - a } else { a - b })
                    .collect();
                let (lo, hi) = bootstrap(&gains, mean, REPS);
                let _ = write!(table, " @{n} {:+.4} [{lo:+.4}, {hi:+.4}]", mean(&gains));
            }
        }
        for (sampler, scores) in &all {
            let k = sampler.startup(revis_startup).map_or_else(|| "-".to_string(), |k| k.to_string());
            let _ = write!(
                table,
                "\n{:<12} {:<9} {:<15} {:>3} {:>26} {:>26} {:>14} {:>6}",
                objective.name,
                set,
                sampler.label(),
                k,
                scores.best_text(0),
                scores.best_text(1),
                scores.iterations_text(),
                scores.misses
            );
            if *sampler != Sampler::RevisTpe {
                continue;
            }
            let direction = if objective.minimize { "min" } else { "max" };
            let mut early = Figure::new(
                format!("{} ({set}, {direction}): revis TPE, mean best after 20", objective.name),
                scores.best(1),
                "",
            );
            let mut iterations = Figure::new(
                format!("{} ({set}, {direction}): revis TPE, median trials to within 5 %", objective.name),
                scores.median_iterations(),
                "iters",
            );
            if let Some(optuna) = reference {
                let bound = optuna.best(1);
                early = early.target(if objective.minimize { Target::AtMost(bound) } else { Target::AtLeast(bound) });
                iterations = iterations.target(Target::AtMost(optuna.median_iterations()));
            }
            report.figure(early);
            report.figure(iterations);
        }
    }
    for line in table.lines() {
        report.note(line.to_string());
    }
    Ok(report)
}
