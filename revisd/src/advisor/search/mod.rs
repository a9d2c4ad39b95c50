//! The built-in offline advisor: proposes values for `search.space` by TPE (default), random
//! or grid search, learning from every finished iteration. Works with no network and no LLM.
//!
//! Proposals are deterministic: the generator is seeded from `search.seed` and the number of
//! finished iterations, so a resumed session proposes what the uninterrupted one would have.
//! It never proposes a point that was already evaluated, and it never touches files: turning a
//! proposal into changes is `changes::changes_for`.

mod edits;
mod grid;
mod parzen;
mod random;
mod rng;
mod space;
mod tpe;

#[cfg(test)]
mod tests;

use std::collections::HashSet;

use indexmap::IndexMap;
use serde_json::Value;

use crate::advisor::Observation;
use crate::config::{Search, SearchStrategy};
pub use edits::{apply_edits, describe as describe_edits};
use rng::Rng;
use space::{Space, round_sig, value_key};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SearchError {
    #[error("search.space is empty: declare at least one parameter")]
    EmptySpace,
    #[error("search.space.{param}: {reason}")]
    BadParam { param: String, reason: String },
}

/// What the search advisor wants next.
#[derive(Debug, Clone, PartialEq)]
pub enum Proposal {
    Params {
        params: IndexMap<String, Value>,
        rationale: String,
        hypothesis: String,
        /// TPE's expected improvement relative to a neutral point (see `TpePoint`); `None` for
        /// grid, random and TPE's warm-up draws.
        expected_improvement: Option<f64>,
    },
    Exhausted {
        reason: String,
    },
}

#[derive(Debug, Clone)]
pub struct SearchAdvisor {
    strategy: SearchStrategy,
    seed: u64,
    space: Space,
}

impl SearchAdvisor {
    pub fn new(search: &Search) -> Result<Self, SearchError> {
        Ok(Self { strategy: search.strategy, seed: search.seed, space: Space::new(search)? })
    }

    /// Trials (baseline included) TPE draws from its space-filling design before its model.
    pub fn startup_trials(&self) -> usize {
        tpe::startup_trials(&self.space)
    }

    pub fn strategy(&self) -> SearchStrategy {
        self.strategy
    }

    /// The next point to evaluate. `history` is every finished iteration in order (baseline
    /// first); `current` holds the parameters of the best state, which the proposal is compared
    /// against in the rationale.
    pub fn propose(&self, history: &[Observation], current: &IndexMap<String, Value>, minimize: bool) -> Proposal {
        self.propose_beside(history, &[], current, minimize)
    }

    /// Like [`SearchAdvisor::propose`] while the trials at `running` (their parameters) are
    /// still being measured: those points are never proposed again.
    pub fn propose_beside(
        &self,
        history: &[Observation],
        running: &[IndexMap<String, Value>],
        current: &IndexMap<String, Value>,
        minimize: bool,
    ) -> Proposal {
        let visited: HashSet<String> =
            history.iter().map(|o| &o.params).chain(running).map(|params| self.space.point_key(params)).collect();
        // Trials still running count as drawn: a batch of proposals gets distinct draws.
        let seen = history.len() + running.len();
        let mut rng = Rng::new(self.seed, seen as u64);
        let next = history.last().map_or(0, |o| o.iteration + 1);
        let best = best_so_far(history, minimize);
        let direction = if minimize { "lower" } else { "raise" };

        let mut expected_improvement = None;
        let (params, label, hypothesis) = match self.strategy {
            SearchStrategy::Grid => {
                let (params, position, total) = match grid::next(&self.space, &visited) {
                    Ok(next) => next,
                    Err(total) => {
                        return Proposal::Exhausted {
                            reason: format!("grid search is exhausted: all {total} points were evaluated"),
                        };
                    }
                };
                let label = format!("Grid point {position} of {total}");
                (params, label, "Systematic coverage: this grid point has not been run yet.".to_string())
            }
            SearchStrategy::Random => {
                let Some(params) = random::propose(&self.space, &mut rng, &visited) else {
                    return self.exhausted();
                };
                let hypothesis = format!("An unexplored random point may {direction} the metric.");
                (params, "Random search".to_string(), hypothesis)
            }
            SearchStrategy::Tpe => {
                let startup = tpe::startup_trials(&self.space);
                // Constant liar: each running point is taken as if it had scored the worst value
                // seen so far, so the model steers the next proposal away from it (Ginsbourger
                // et al.; Optuna's `constant_liar`). The liars join the bad group only: the good
                // group stays the best 15 % of the trials measured (counting the liars made it
                // larger, which cost the most exploiting objective a third more trials with 4
                // slots: docs/performance.md). With nothing running this is plain TPE.
                let fitted = with_liars(history, running, minimize);
                let model = if seen >= startup && history.len() >= 2 {
                    tpe::propose(&self.space, &fitted, history.len(), minimize, &mut rng, &visited)
                } else {
                    None
                };
                match model {
                    Some(point) => {
                        expected_improvement = Some(point.relative_ei);
                        let label = format!(
                            "TPE, best {} of {} runs as the good group, expected improvement {:.2}x a neutral point",
                            point.good, point.total, point.relative_ei
                        );
                        let hypothesis = format!(
                            "Values where the best runs cluster, away from the poor ones, should {direction} the metric further."
                        );
                        (point.params, label, hypothesis)
                    }
                    None => {
                        // Warm-up draws cover each parameter's range evenly (a Latin hypercube),
                        // which random draws do poorly with so few points.
                        let design = (seen < startup && seen > 0)
                            .then(|| random::design_point(&self.space, self.seed, startup - 1, seen - 1))
                            .filter(|p| !visited.contains(&self.space.point_key(p)));
                        let Some(params) = design.or_else(|| random::propose(&self.space, &mut rng, &visited)) else {
                            return self.exhausted();
                        };
                        let label = if seen < startup {
                            format!("TPE warm-up, space-filling draw {} of {}", seen.max(1), startup - 1)
                        } else {
                            "TPE fallback to a random draw".to_string()
                        };
                        let hypothesis =
                            format!("Exploring an untried point gives the model data; it may {direction} the metric.");
                        (params, label, hypothesis)
                    }
                }
            }
        };
        let best_text = match best {
            Some((value, iteration)) => {
                format!("best so far {} at iteration {iteration}", round_sig(value, 4))
            }
            None => "no successful run yet".to_string(),
        };
        let rationale =
            format!("{label} (iteration {next}): {} — {best_text}", describe(&self.space, &params, current));
        Proposal::Params { params, rationale, hypothesis, expected_improvement }
    }

    /// Up to `n` points to evaluate at once beside the `running` ones, each proposed beside
    /// those before it (so they spread out): what the engine asks when several slots are free.
    /// An exhausted space ends the batch early; only an empty batch says why.
    pub fn propose_batch(
        &self,
        history: &[Observation],
        running: &[IndexMap<String, Value>],
        current: &IndexMap<String, Value>,
        minimize: bool,
        n: usize,
    ) -> Vec<Proposal> {
        let mut beside = running.to_vec();
        let mut batch = Vec::with_capacity(n);
        for _ in 0..n.max(1) {
            match self.propose_beside(history, &beside, current, minimize) {
                Proposal::Params { params, rationale, hypothesis, expected_improvement } => {
                    beside.push(params.clone());
                    batch.push(Proposal::Params { params, rationale, hypothesis, expected_improvement });
                }
                exhausted @ Proposal::Exhausted { .. } => {
                    if batch.is_empty() {
                        batch.push(exhausted);
                    }
                    break;
                }
            }
        }
        batch
    }

    fn exhausted(&self) -> Proposal {
        let reason = match self.space.finite_size() {
            Some(size) if size <= space::ENUMERABLE => {
                format!("all {size} combinations of the search space were evaluated")
            }
            _ => "no unevaluated point of the search space could be found".to_string(),
        };
        Proposal::Exhausted { reason }
    }
}

/// The history plus one observation per running point, valued at the worst result so far (no
/// result yet: the points are left out).
fn with_liars(history: &[Observation], running: &[IndexMap<String, Value>], minimize: bool) -> Vec<Observation> {
    let worst = history.iter().filter_map(|o| o.primary.filter(|p| p.is_finite())).reduce(|a, b| {
        let worse = if minimize { b > a } else { b < a };
        if worse { b } else { a }
    });
    let mut fitted = history.to_vec();
    if let Some(worst) = worst {
        let next = history.last().map_or(0, |o| o.iteration + 1);
        fitted.extend(running.iter().zip(next..).map(|(params, iteration)| Observation {
            iteration,
            params: params.clone(),
            primary: Some(worst),
        }));
    }
    fitted
}

/// The best primary value and the iteration that reached it.
fn best_so_far(history: &[Observation], minimize: bool) -> Option<(f64, u32)> {
    history.iter().filter_map(|o| Some((o.primary.filter(|p| p.is_finite())?, o.iteration))).reduce(|best, o| {
        let better = if minimize { o.0 < best.0 } else { o.0 > best.0 };
        if better { o } else { best }
    })
}

/// `lr=0.003 (was 0.01), batch_size=64`.
fn describe(space: &Space, params: &IndexMap<String, Value>, current: &IndexMap<String, Value>) -> String {
    let parts: Vec<String> = space
        .dims
        .iter()
        .filter_map(|d| {
            let value = params.get(&d.name)?;
            let shown = show(value);
            Some(match current.get(&d.name) {
                Some(old) if value_key(old) != value_key(value) => {
                    format!("{}={shown} (was {})", d.name, show(old))
                }
                _ => format!("{}={shown}", d.name),
            })
        })
        .collect();
    parts.join(", ")
}

fn show(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
