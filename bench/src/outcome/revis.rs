//! Revis's own search advisor driven in-process, exactly as the engine drives it: the baseline
//! is iteration 0, then each proposal sees the whole history and the best point so far. Values
//! come from the objective's serve process; nothing here knows the objective's formula.

use anyhow::Context;
use indexmap::IndexMap;
use revisd::advisor::Observation;
use revisd::advisor::search::{Proposal, SearchAdvisor};
use revisd::config::{Search, SearchStrategy};
use serde_json::Value;

use super::python::{Evaluator, Objective};
use super::score::Trace;

pub fn run(objective: &Objective, strategy: SearchStrategy, seed: u64, trials: usize) -> anyhow::Result<Trace> {
    let search = Search { strategy, seed, space: objective.space.clone() };
    let advisor = SearchAdvisor::new(&search).with_context(|| format!("objective {}: bad space", objective.name))?;
    let mut evaluator = Evaluator::start(&objective.name, seed)?;
    let mut history: Vec<Observation> = Vec::with_capacity(trials);
    let mut trace = Trace::default();
    for iteration in 0..trials {
        let params = if iteration == 0 {
            objective.baseline.clone()
        } else {
            match advisor.propose(&history, &best_params(&history, objective.minimize), objective.minimize) {
                Proposal::Params { params, .. } => params,
                // A finite space fully explored: the run simply ends early.
                Proposal::Exhausted { .. } => break,
            }
        };
        let (seen, truth) = evaluator.evaluate(&params)?;
        trace.observed.push(seen);
        trace.truth.push(truth);
        let iteration = u32::try_from(iteration).context("too many trials")?;
        history.push(Observation { iteration, params, primary: seen.is_finite().then_some(seen) });
    }
    Ok(trace)
}

/// The parameters of the best observed iteration (the engine's "current" state).
fn best_params(history: &[Observation], minimize: bool) -> IndexMap<String, Value> {
    history
        .iter()
        .filter(|o| o.primary.is_some())
        .reduce(|best, o| {
            let (a, b) = (o.primary.unwrap_or(f64::NAN), best.primary.unwrap_or(f64::NAN));
            if (minimize && a < b) || (!minimize && a > b) { o } else { best }
        })
        .or_else(|| history.first())
        .map(|o| o.params.clone())
        .unwrap_or_default()
}
