//! Grid search: the cartesian product of every parameter's grid, first parameter slowest,
//! skipping points already evaluated (the baseline included).

use std::collections::HashSet;

use indexmap::IndexMap;
use serde_json::Value;

use super::space::Space;

/// The next unevaluated grid point with its 1-based position and the grid's size, or the
/// grid's size when every point was evaluated.
pub fn next(space: &Space, visited: &HashSet<String>) -> Result<(IndexMap<String, Value>, u128, u128), u128> {
    let total = space.grid_size();
    // At most `visited.len() + 1` points are looked at, however large the grid.
    (0..total)
        .find_map(|index| {
            let point = space.grid_point(index);
            (!visited.contains(&space.point_key(&point))).then_some((point, index + 1, total))
        })
        .ok_or(total)
}
