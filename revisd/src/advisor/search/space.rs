//! The search space as the samplers see it: each parameter of `search.space` becomes a typed
//! dimension (categorical, int range, float range) that knows how to snap a raw number to a
//! legal value, list its grid points, and say whether a recorded value is one of its own.
//!
//! Only reads the config schema; where a parameter lives (file, key, arg) is `changes`' business.

use indexmap::IndexMap;
use serde_json::Value;

use super::SearchError;
use crate::config::{Search, SearchParam};

/// Finite spaces up to this size are enumerated to find unevaluated points exactly.
pub const ENUMERABLE: u128 = 100_000;

#[derive(Debug, Clone, PartialEq)]
pub enum Domain {
    Categorical(Vec<Value>),
    Int { low: i64, high: i64, step: i64, log: bool },
    Float { low: f64, high: f64, log: bool, step: Option<f64>, grid_points: u32 },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Dim {
    pub name: String,
    pub domain: Domain,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Space {
    pub dims: Vec<Dim>,
}

impl Space {
    pub fn new(search: &Search) -> Result<Self, SearchError> {
        if search.space.is_empty() {
            return Err(SearchError::EmptySpace);
        }
        let dims = search
            .space
            .iter()
            .map(|(name, param)| {
                Ok(Dim {
                    name: name.clone(),
                    domain: Domain::new(param)
                        .map_err(|reason| SearchError::BadParam { param: name.clone(), reason })?,
                })
            })
            .collect::<Result<Vec<_>, SearchError>>()?;
        Ok(Self { dims })
    }

    /// Number of distinct points, `None` when a dimension is continuous.
    pub fn finite_size(&self) -> Option<u128> {
        self.dims.iter().try_fold(1u128, |acc, d| Some(acc.saturating_mul(d.domain.finite_size()?)))
    }

    /// The identity of a point, used to never propose what was already evaluated. Numbers are
    /// compared by value (`64` equals `64.0`); a parameter missing from `params` counts as null.
    pub fn point_key(&self, params: &IndexMap<String, Value>) -> String {
        let parts: Vec<String> =
            self.dims.iter().map(|d| value_key(params.get(&d.name).unwrap_or(&Value::Null))).collect();
        parts.join("\u{1f}")
    }

    /// Number of points of the grid (the cartesian product of every parameter's grid).
    pub fn grid_size(&self) -> u128 {
        self.dims.iter().fold(1u128, |acc, d| acc.saturating_mul(d.domain.grid_len()))
    }

    /// The point at `index` of the grid (first parameter varies slowest).
    pub fn grid_point(&self, mut index: u128) -> IndexMap<String, Value> {
        let mut values = vec![Value::Null; self.dims.len()];
        for (slot, dim) in values.iter_mut().zip(&self.dims).rev() {
            let len = dim.domain.grid_len().max(1);
            *slot = dim.domain.grid_at(index % len);
            index /= len;
        }
        self.dims.iter().map(|d| d.name.clone()).zip(values).collect()
    }
}

pub fn value_key(value: &Value) -> String {
    match value {
        Value::Number(n) => n.as_f64().map_or_else(|| n.to_string(), |x| format!("{x:e}")),
        Value::String(s) => format!("s:{s}"),
        other => other.to_string(),
    }
}

/// `x` rounded to `digits` significant digits.
pub fn round_sig(x: f64, digits: usize) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    format!("{x:.prec$e}", prec = digits.saturating_sub(1)).parse().unwrap_or(x)
}

pub fn float_value(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

impl Domain {
    pub(super) fn new(param: &SearchParam) -> Result<Self, String> {
        if let Some(values) = &param.values {
            if param.low.is_some() || param.high.is_some() {
                return Err("give either `values` or `low`/`high`, not both".into());
            }
            if values.is_empty() {
                return Err("`values` is empty".into());
            }
            if values.iter().any(|v| v.is_array() || v.is_object() || v.is_null()) {
                return Err("`values` may hold numbers, strings and booleans only".into());
            }
            return Ok(Self::Categorical(values.clone()));
        }
        let (Some(low), Some(high)) = (param.low, param.high) else {
            return Err("needs `values`, or both `low` and `high`".into());
        };
        if !(low.is_finite() && high.is_finite() && low < high) {
            return Err(format!("`low` ({low}) must be below `high` ({high})"));
        }
        if param.log && low <= 0.0 {
            return Err("a `log` range needs `low` > 0".into());
        }
        if param.step.is_some_and(|s| !(s.is_finite() && s > 0.0)) {
            return Err("`step` must be positive".into());
        }
        if param.is_int() {
            if low.fract() != 0.0 || high.fract() != 0.0 {
                return Err("an int range needs integer bounds".into());
            }
            let step = param.step.unwrap_or(1.0);
            if step.fract() != 0.0 {
                return Err("an int range needs an integer `step`".into());
            }
            #[allow(clippy::cast_possible_truncation)]
            return Ok(Self::Int { low: low as i64, high: high as i64, step: step as i64, log: param.log });
        }
        let grid_points = param.grid_points.unwrap_or(5);
        if grid_points == 0 {
            return Err("`grid_points` must be at least 1".into());
        }
        Ok(Self::Float { low, high, log: param.log, step: param.step, grid_points })
    }

    pub fn finite_size(&self) -> Option<u128> {
        match self {
            Self::Categorical(values) => Some(values.len() as u128),
            Self::Int { low, high, step, .. } => Some(((high - low) / step) as u128 + 1),
            Self::Float { .. } => None,
        }
    }

    /// Number of grid points of this dimension.
    pub fn grid_len(&self) -> u128 {
        match self {
            Self::Float { low, high, step: Some(step), .. } => ((high - low) / step + 1e-9).floor() as u128 + 1,
            Self::Float { grid_points, .. } => u128::from(*grid_points),
            discrete => discrete.finite_size().unwrap_or(1),
        }
    }

    /// The grid point at `index` (< `grid_len`), computed without listing the grid.
    pub fn grid_at(&self, index: u128) -> Value {
        match self {
            Self::Categorical(values) => {
                values.get(usize::try_from(index).unwrap_or(usize::MAX)).cloned().unwrap_or(Value::Null)
            }
            Self::Int { low, step, .. } => Value::from(low + i64::try_from(index).unwrap_or(i64::MAX / 2) * step),
            Self::Float { low, step: Some(step), .. } => float_value(round_sig(low + index as f64 * step, 12)),
            Self::Float { low, high, log, grid_points, .. } => {
                if *grid_points <= 1 {
                    return float_value(*low);
                }
                let (a, b) = if *log { (low.ln(), high.ln()) } else { (*low, *high) };
                let t = a + (b - a) * index as f64 / f64::from(grid_points - 1);
                let x = if *log { t.exp() } else { t };
                float_value(round_sig(x, 4).clamp(*low, *high))
            }
        }
    }

    /// The whole grid of this dimension, in order (small grids only).
    #[cfg(test)]
    pub fn grid(&self) -> Vec<Value> {
        (0..self.grid_len()).map(|i| self.grid_at(i)).collect()
    }

    /// A legal value near the raw number `x`: ints snapped to the step and clamped, floats
    /// rounded to 4 significant digits and clamped.
    pub fn snap(&self, x: f64) -> Value {
        match self {
            Self::Categorical(values) => {
                let index = (x.round().max(0.0) as usize).min(values.len().saturating_sub(1));
                values.get(index).cloned().unwrap_or(Value::Null)
            }
            Self::Int { low, high, step, .. } => {
                let k = ((x - *low as f64) / *step as f64).round();
                let max_k = (high - low) / step;
                #[allow(clippy::cast_possible_truncation)]
                let k = (k.max(0.0) as i64).min(max_k);
                Value::from(low + k * step)
            }
            Self::Float { low, high, .. } => float_value(round_sig(x, 4).clamp(*low, *high)),
        }
    }

    /// A recorded value as the samplers' number: a category index, or the numeric value clamped
    /// into the range. `None` when the value is not usable (missing, wrong type, unknown category).
    pub fn encode(&self, value: &Value) -> Option<f64> {
        match self {
            Self::Categorical(values) => {
                let key = value_key(value);
                values.iter().position(|v| value_key(v) == key).map(|i| i as f64)
            }
            Self::Int { low, high, log, .. } => {
                let x = value.as_f64().filter(|x| x.is_finite())?;
                (!*log || x > 0.0).then(|| x.clamp(*low as f64, *high as f64))
            }
            Self::Float { low, high, log, .. } => {
                let x = value.as_f64().filter(|x| x.is_finite())?;
                (!*log || x > 0.0).then(|| x.clamp(*low, *high))
            }
        }
    }
}
