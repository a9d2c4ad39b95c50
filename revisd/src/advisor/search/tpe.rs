//! Tree-structured Parzen Estimator, independent per parameter (like Optuna's default sampler):
//! finished iterations are split into a good group (the best `gamma(n)`) and the rest, each
//! group is modelled per parameter by a Parzen estimator (`l` for good, `g` for the rest), and
//! the candidate drawn from `l` with the largest `l(x)/g(x)` is proposed.
//!
//! Failed iterations count as the worst. Sessions are short, so warm-up is brief and the good
//! group is a quarter of the runs rather than Optuna's tenth.

use std::collections::HashSet;

use indexmap::IndexMap;
use serde_json::Value;

use super::parzen::{Categorical, Numeric};
use super::rng::Rng;
use super::space::{Dim, Domain, Space};
use crate::advisor::Observation;

/// Candidates drawn from `l` per parameter (Optuna's `n_ei_candidates`).
const CANDIDATES: usize = 24;
/// Rounds of fresh candidates before giving up on finding an unevaluated point.
const ROUNDS: usize = 4;

/// Iterations (baseline included) before the model is used; earlier proposals are random.
pub fn startup_trials(space: &Space) -> usize {
    (space.dims.len() + 2).min(5)
}

/// Size of the good group for `n` finished iterations.
fn gamma(n: usize) -> usize {
    ((0.25 * n as f64).ceil() as usize).clamp(1, 25)
}

/// The good and bad groups, each in chronological order. `None` when nothing succeeded.
fn split(history: &[Observation], minimize: bool) -> Option<(Vec<&Observation>, Vec<&Observation>)> {
    let loss = |o: &Observation| match o.primary.filter(|p| p.is_finite()) {
        Some(p) if minimize => p,
        Some(p) => -p,
        None => f64::INFINITY,
    };
    let successes = history.iter().filter(|o| loss(o).is_finite()).count();
    if successes == 0 {
        return None;
    }
    let mut ranked: Vec<usize> = (0..history.len()).collect();
    ranked.sort_by(|&a, &b| loss(&history[a]).total_cmp(&loss(&history[b])).then(a.cmp(&b)));
    let n_below = gamma(history.len()).min(successes);
    let mut below: Vec<usize> = ranked[..n_below].to_vec();
    let mut above: Vec<usize> = ranked[n_below..].to_vec();
    below.sort_unstable();
    above.sort_unstable();
    Some((below.iter().map(|&i| &history[i]).collect(), above.iter().map(|&i| &history[i]).collect()))
}

/// What TPE proposes, with the size of the good group and of the history for the rationale.
pub struct TpePoint {
    pub params: IndexMap<String, Value>,
    pub good: usize,
    pub total: usize,
}

/// A model-based proposal, or `None` when the model has nothing to learn from (no success)
/// or only proposes evaluated points.
pub fn propose(
    space: &Space,
    history: &[Observation],
    minimize: bool,
    rng: &mut Rng,
    visited: &HashSet<String>,
) -> Option<TpePoint> {
    let (below, above) = split(history, minimize)?;
    let models: Vec<Model> = space.dims.iter().map(|d| Model::new(d, &below, &above)).collect();
    for _ in 0..ROUNDS {
        let scored: Vec<Vec<(Value, f64)>> = space
            .dims
            .iter()
            .zip(&models)
            .map(|(dim, model)| (0..CANDIDATES).map(|_| model.candidate(&dim.domain, rng)).collect())
            .collect();
        for values in ranked_points(&scored) {
            let params: IndexMap<String, Value> = space.dims.iter().map(|d| d.name.clone()).zip(values).collect();
            if !visited.contains(&space.point_key(&params)) {
                return Some(TpePoint { params, good: below.len(), total: history.len() });
            }
        }
    }
    None
}

/// Joint points in order of preference: the per-parameter argmax first (the independent TPE
/// choice), then the aligned candidate tuples by total score, as fallbacks when it was evaluated.
fn ranked_points(scored: &[Vec<(Value, f64)>]) -> Vec<Vec<Value>> {
    let best: Vec<Value> = scored
        .iter()
        .filter_map(|candidates| {
            candidates
                .iter()
                .enumerate()
                .max_by(|(i, a), (j, b)| a.1.total_cmp(&b.1).then(j.cmp(i)))
                .map(|(_, (v, _))| v.clone())
        })
        .collect();
    let mut tuples: Vec<(f64, Vec<Value>)> = (0..CANDIDATES)
        .map(|j| {
            let score = scored.iter().map(|c| c[j].1).sum();
            (score, scored.iter().map(|c| c[j].0.clone()).collect())
        })
        .collect();
    tuples.sort_by(|a, b| b.0.total_cmp(&a.0));
    std::iter::once(best).chain(tuples.into_iter().map(|(_, v)| v)).collect()
}

/// `l` and `g` for one parameter.
enum Model {
    Categorical { good: Categorical, bad: Categorical },
    Numeric { good: Numeric, bad: Numeric, scale: Scale },
}

/// The numeric parameter's modelling space: log or linear, and the half-width of an integer's cell.
#[derive(Clone, Copy)]
struct Scale {
    log: bool,
    half_cell: Option<f64>,
    /// Lower edge in the original units (so a log scale never sees a value ≤ 0).
    low_edge: f64,
}

impl Scale {
    fn forward(self, x: f64) -> f64 {
        if self.log { x.max(self.low_edge).ln() } else { x }
    }

    fn inverse(self, t: f64) -> f64 {
        if self.log { t.exp() } else { t }
    }
}

impl Model {
    fn new(dim: &Dim, below: &[&Observation], above: &[&Observation]) -> Self {
        let observed = |group: &[&Observation]| -> Vec<f64> {
            group.iter().filter_map(|o| dim.domain.encode(o.params.get(&dim.name)?)).collect()
        };
        let (good, bad) = (observed(below), observed(above));
        match &dim.domain {
            Domain::Categorical(values) => {
                let index = |xs: &[f64]| -> Vec<usize> { xs.iter().map(|x| *x as usize).collect() };
                Self::Categorical {
                    good: Categorical::new(&index(&good), values.len()),
                    bad: Categorical::new(&index(&bad), values.len()),
                }
            }
            Domain::Int { low, high, step, log } => {
                let half = *step as f64 / 2.0;
                let (low, high) = (*low as f64, *high as f64);
                let low_edge = if *log { (low - half).max(low / 2.0) } else { low - half };
                let scale = Scale { log: *log, half_cell: Some(half), low_edge };
                Self::numeric(scale, &good, &bad, low_edge, high + half)
            }
            Domain::Float { low, high, log, .. } => {
                let scale = Scale { log: *log, half_cell: None, low_edge: *low };
                Self::numeric(scale, &good, &bad, *low, *high)
            }
        }
    }

    fn numeric(scale: Scale, good: &[f64], bad: &[f64], low: f64, high: f64) -> Self {
        let (lo, hi) = (scale.forward(low), scale.forward(high));
        let model = |xs: &[f64]| {
            let ts: Vec<f64> = xs.iter().map(|x| scale.forward(*x)).collect();
            Numeric::new(&ts, lo, hi)
        };
        Self::Numeric { good: model(good), bad: model(bad), scale }
    }

    /// A legal value drawn from `l`, with its score `log l - log g`.
    fn candidate(&self, domain: &Domain, rng: &mut Rng) -> (Value, f64) {
        match self {
            Self::Categorical { good, bad } => {
                let index = good.sample(rng);
                (domain.snap(index as f64), good.log_pmf(index) - bad.log_pmf(index))
            }
            Self::Numeric { good, bad, scale } => {
                let value = domain.snap(scale.inverse(good.sample(rng)));
                let x = value.as_f64().unwrap_or(0.0);
                let score = match scale.half_cell {
                    Some(half) => {
                        let (a, b) = (scale.forward(x - half), scale.forward(x + half));
                        good.log_mass(a, b) - bad.log_mass(a, b)
                    }
                    None => {
                        let t = scale.forward(x);
                        good.log_pdf(t) - bad.log_pdf(t)
                    }
                };
                (value, score)
            }
        }
    }
}
