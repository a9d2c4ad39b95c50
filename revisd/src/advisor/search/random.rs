//! Random search: each parameter drawn independently (uniform, log-uniform for log ranges,
//! uniform over categories), never repeating an evaluated point. Also the Latin hypercube
//! design of TPE's warm-up, over the same distributions.

use std::collections::HashSet;

use indexmap::IndexMap;
use serde_json::Value;

use super::rng::Rng;
use super::space::{Domain, ENUMERABLE, Space};

/// Draws tried before falling back to enumerating the unevaluated points.
const DRAWS: usize = 64;

/// One independent draw of every parameter.
pub fn draw(space: &Space, rng: &mut Rng) -> IndexMap<String, Value> {
    space.dims.iter().map(|d| (d.name.clone(), draw_one(&d.domain, rng))).collect()
}

fn draw_one(domain: &Domain, rng: &mut Rng) -> Value {
    match domain {
        Domain::Categorical(values) => values[rng.below(values.len())].clone(),
        Domain::Int { low, high, step, log: true } => {
            let half = *step as f64 / 2.0;
            let low_edge = (*low as f64 - half).max(*low as f64 / 2.0);
            let x = rng.range(low_edge.ln(), (*high as f64 + half).ln()).exp();
            domain.snap(x)
        }
        Domain::Int { low, high, step, log: false } => {
            let count = usize::try_from((high - low) / step + 1).unwrap_or(usize::MAX);
            Value::from(low + rng.below(count) as i64 * step)
        }
        Domain::Float { low, high, log: true, .. } => domain.snap(rng.range(low.ln(), high.ln()).exp()),
        Domain::Float { low, high, log: false, .. } => domain.snap(rng.range(*low, *high)),
    }
}

/// A random unevaluated point, `None` when none is left (or none could be found).
pub fn propose(space: &Space, rng: &mut Rng, visited: &HashSet<String>) -> Option<IndexMap<String, Value>> {
    for _ in 0..DRAWS {
        let point = draw(space, rng);
        if !visited.contains(&space.point_key(&point)) {
            return Some(point);
        }
    }
    unevaluated(space, rng, visited)
}

/// For a small finite space: a uniformly chosen point among those never evaluated.
pub fn unevaluated(space: &Space, rng: &mut Rng, visited: &HashSet<String>) -> Option<IndexMap<String, Value>> {
    let size = space.finite_size().filter(|s| *s <= ENUMERABLE)?;
    let mut left: Vec<IndexMap<String, Value>> =
        (0..size).map(|i| space.grid_point(i)).filter(|p| !visited.contains(&space.point_key(p))).collect();
    if left.is_empty() {
        return None;
    }
    let pick = rng.below(left.len());
    Some(left.swap_remove(pick))
}

/// Point `index` of a Latin hypercube design of `count` points, the same for every call with
/// the same seed, so warm-up proposals cover each parameter's range evenly.
pub fn design_point(space: &Space, seed: u64, count: usize, index: usize) -> IndexMap<String, Value> {
    let mut rng = Rng::new(seed, u64::MAX);
    space
        .dims
        .iter()
        .map(|d| {
            // A fresh permutation of the strata per parameter (Fisher-Yates).
            let mut strata: Vec<usize> = (0..count).collect();
            for i in (1..count).rev() {
                strata.swap(i, rng.below(i + 1));
            }
            let offsets: Vec<f64> = (0..count).map(|_| rng.uniform()).collect();
            let u = (strata[index % count] as f64 + offsets[index % count]) / count as f64;
            (d.name.clone(), from_unit(&d.domain, u))
        })
        .collect()
}

/// The value at quantile `u` of the parameter's random-search distribution.
fn from_unit(domain: &Domain, u: f64) -> Value {
    match domain {
        Domain::Categorical(values) => values[((u * values.len() as f64) as usize).min(values.len() - 1)].clone(),
        Domain::Int { low, high, step, log: true } => {
            let half = *step as f64 / 2.0;
            let low_edge = (*low as f64 - half).max(*low as f64 / 2.0);
            let (a, b) = (low_edge.ln(), (*high as f64 + half).ln());
            domain.snap((a + (b - a) * u).exp())
        }
        Domain::Int { low, high, step, log: false } => {
            let count = (high - low) / step + 1;
            let k = ((u * count as f64) as i64).min(count - 1);
            Value::from(low + k * step)
        }
        Domain::Float { low, high, log: true, .. } => domain.snap((low.ln() + (high.ln() - low.ln()) * u).exp()),
        Domain::Float { low, high, log: false, .. } => domain.snap(low + (high - low) * u),
    }
}
