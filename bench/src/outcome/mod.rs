//! Search outcome: Revis's offline search advisor against Optuna's TPE and random samplers on
//! the objectives of bench/outcome/objectives.py (quickstart, categorical+integer, noisy).
//!
//! Sample efficiency only, not speed: our advisor runs in-process, Optuna in its own Python
//! process, and both evaluate the same baseline first and are scored by the same Python code.
//! Figures are medians over seeds of "iterations until within 5 % of the known optimum" and
//! "best true value after 20 iterations", the best being the best *observed* point (for the
//! noisy objective, its noise-free value).

pub(crate) mod python;
mod revis;
pub(crate) mod score;

use std::fmt::Write as _;

use revisd::config::SearchStrategy;

use crate::report::{Figure, Report, Target, percentile, trim};
use python::Objective;
use score::{Trace, incumbent_truth, iterations_to_within, value_after};

/// Trials per run, baseline included. Runs that never get within the tolerance count CAP + 1.
const CAP: usize = 100;
/// Relative distance to the optimum that counts as "found".
const TOLERANCE: f64 = 0.05;
/// The budget at which the best value is compared.
const EARLY: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sampler {
    RevisTpe,
    OptunaTpe,
    OptunaRandom,
    RevisRandom,
}

impl Sampler {
    const ALL: [Self; 4] = [Self::RevisTpe, Self::OptunaTpe, Self::OptunaRandom, Self::RevisRandom];

    fn label(self) -> &'static str {
        match self {
            Self::RevisTpe => "revis TPE",
            Self::OptunaTpe => "optuna TPE",
            Self::OptunaRandom => "optuna random",
            Self::RevisRandom => "revis random",
        }
    }

    fn run(self, objective: &Objective, seed: u64) -> anyhow::Result<Trace> {
        match self {
            Self::RevisTpe => revis::run(objective, SearchStrategy::Tpe, seed, CAP),
            Self::RevisRandom => revis::run(objective, SearchStrategy::Random, seed, CAP),
            Self::OptunaTpe => python::optuna(&objective.name, "tpe", seed, CAP),
            Self::OptunaRandom => python::optuna(&objective.name, "random", seed, CAP),
        }
    }
}

/// Per seed, one sampler's two scores on one objective.
#[derive(Debug, Default)]
struct Scores {
    iterations: Vec<f64>,
    early_best: Vec<f64>,
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
        self.early_best.push(value_after(&incumbent, EARLY));
    }

    fn median_iterations(&self) -> f64 {
        percentile(&self.iterations, 50.0)
    }

    fn median_early_best(&self) -> f64 {
        percentile(&self.early_best, 50.0)
    }
}

pub fn run(seeds: u64) -> anyhow::Result<Report> {
    anyhow::ensure!(seeds > 0, "--seeds must be at least 1");
    python::check_python()?;
    let mut report = Report::new(format!(
        "Search outcome (median over {seeds} seeds, {CAP} trials per run, baseline first; optuna {})",
        python::optuna_version()
    ));
    report.note(format!(
        "iters = trials until the best point is within {}% of the optimum, baseline = 1, {} = not within {CAP}; \
         best@{EARLY} = true value of the best observed point after {EARLY} trials",
        TOLERANCE * 100.0,
        CAP + 1
    ));
    let mut table = format!(
        "{:<11} {:>8} {:<14} {:>6} {:>10}  iters per seed",
        "objective", "optimum", "sampler", "iters", "best@20"
    );
    for name in python::objective_names()? {
        let objective = python::describe(&name)?;
        let mut all: Vec<(Sampler, Scores)> = Vec::new();
        for sampler in Sampler::ALL {
            let mut scores = Scores::default();
            for seed in 0..seeds {
                let trace = sampler.run(&objective, seed)?;
                scores.add(&trace, &objective);
            }
            all.push((sampler, scores));
        }
        let reference = all.iter().find(|(s, _)| *s == Sampler::OptunaTpe).map(|(_, sc)| sc);
        for (sampler, scores) in &all {
            let per_seed: Vec<String> = scores.iterations.iter().map(|x| trim(*x)).collect();
            let _ = write!(
                table,
                "\n{:<11} {:>8} {:<14} {:>6} {:>10}  [{}]",
                objective.name,
                trim(objective.optimum),
                sampler.label(),
                trim(scores.median_iterations()),
                trim(scores.median_early_best()),
                per_seed.join(" ")
            );
            let direction = if objective.minimize { "min" } else { "max" };
            let mut iterations = Figure::new(
                format!("{} ({direction}): {}, iterations to within 5 %", objective.name, sampler.label()),
                scores.median_iterations(),
                "iters",
            );
            let mut early = Figure::new(
                format!("{} ({direction}): {}, best after {EARLY}", objective.name, sampler.label()),
                scores.median_early_best(),
                "",
            );
            if let (Sampler::RevisTpe, Some(optuna)) = (sampler, reference) {
                iterations = iterations.target(Target::AtMost(optuna.median_iterations()));
                let bound = optuna.median_early_best();
                early = early.target(if objective.minimize { Target::AtMost(bound) } else { Target::AtLeast(bound) });
            }
            report.figure(iterations);
            report.figure(early);
            if scores.misses > 0 {
                report.note(format!(
                    "{} / {}: {} of {seeds} runs never got within 5 % in {CAP} trials (counted {})",
                    objective.name,
                    sampler.label(),
                    scores.misses,
                    CAP + 1
                ));
            }
        }
    }
    for line in table.lines() {
        report.note(line.to_string());
    }
    Ok(report)
}
