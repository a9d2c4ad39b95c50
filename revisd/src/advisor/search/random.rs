//! Random search: each parameter drawn independently (uniform, log-uniform for log ranges,
//! uniform over categories), never repeating an evaluated point.

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
