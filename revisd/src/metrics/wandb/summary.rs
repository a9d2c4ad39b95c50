//! W&B summaries and history rows (JSON text) to numbers.
//!
//! A summary holds the last logged values plus W&B's own `_step`, `_runtime`, `_timestamp` and
//! `_wandb`; media and tables are objects with a `_type`. Nested dicts are named with dots, as
//! the W&B UI does. NaN may arrive as a bare Python token or as a string; both are kept as NaN
//! so the verdict can name it.
//!
//! Must not: read files or talk to the network.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::metrics::Collected;

/// Numbers of a JSON object, nested objects flattened with dots; other values are skipped.
pub fn numbers(text: &str) -> Result<BTreeMap<String, f64>, String> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => {
            let mut out = BTreeMap::new();
            for (key, value) in &map {
                flatten(key, value, &mut out);
            }
            Ok(out)
        }
        Ok(_) => Err("not a JSON object".into()),
        // Bare NaN / Infinity tokens: eval_json already knows how to read those (top level only).
        Err(e) => crate::metrics::eval_json::parse(&format!("{{\"metrics\": {text}}}"), Path::new("wandb-summary"))
            .map(|c| c.metrics)
            .map_err(|_| e.to_string()),
    }
}

/// Adds `value`'s numbers under `name` (nested objects as `name.key`).
pub fn flatten(name: &str, value: &Value, out: &mut BTreeMap<String, f64>) {
    match value {
        Value::Number(n) => {
            if let Some(n) = n.as_f64() {
                out.insert(name.to_string(), n);
            }
        }
        Value::String(s) => {
            let non_finite = match s.as_str() {
                "NaN" | "nan" => Some(f64::NAN),
                "Infinity" | "inf" => Some(f64::INFINITY),
                "-Infinity" | "-inf" => Some(f64::NEG_INFINITY),
                _ => None,
            };
            if let Some(n) = non_finite {
                out.insert(name.to_string(), n);
            }
        }
        Value::Object(map) if !map.contains_key("_type") => {
            for (key, inner) in map {
                flatten(&format!("{name}.{key}"), inner, out);
            }
        }
        _ => {}
    }
}

/// Adds a summary's user metrics (W&B's `_`-prefixed bookkeeping left out).
pub fn insert_summary(text: &str, collected: &mut Collected) {
    match numbers(text) {
        Ok(numbers) => collected.metrics.extend(numbers.into_iter().filter(|(k, _)| !k.starts_with('_'))),
        Err(e) => collected.warnings.push(format!("W&B summary is not readable ({e})")),
    }
}

/// The primary metric's (step, value) points; rows without it are skipped, rows without `_step`
/// are numbered by position.
pub fn curve<'a>(rows: impl Iterator<Item = &'a str>, primary: &str) -> Vec<(f64, f64)> {
    let mut points = Vec::new();
    for (index, row) in rows.enumerate() {
        let Ok(values) = numbers(row) else { continue };
        if let Some(value) = values.get(primary) {
            let step = values.get("_step").copied().unwrap_or(index as f64);
            points.push((step, *value));
        }
    }
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    points
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_keeps_user_numbers_flattens_dicts_and_skips_media() {
        let mut c = Collected::default();
        let text = r#"{"val_loss": 0.5, "_step": 3, "_wandb": {"runtime": 2}, "eval": {"acc": 0.9},
            "img": {"_type": "image-file", "size": 10}, "note": "x", "bad": "NaN"}"#;
        insert_summary(text, &mut c);
        assert_eq!(c.metrics.len(), 3, "{:?}", c.metrics);
        assert_eq!(c.metrics["val_loss"], 0.5);
        assert_eq!(c.metrics["eval.acc"], 0.9);
        assert!(c.metrics["bad"].is_nan());
    }

    #[test]
    fn bare_python_tokens_are_non_finite_values() {
        let n = numbers(r#"{"loss": NaN, "x": Infinity, "y": 1}"#).unwrap();
        assert!(n["loss"].is_nan());
        assert_eq!(n["x"], f64::INFINITY);
        assert!(numbers("{broken").is_err());
    }

    #[test]
    fn curve_uses_step_and_skips_rows_without_the_metric() {
        let rows = [r#"{"_step": 2, "loss": 0.3}"#, r#"{"_step": 0, "loss": 0.9}"#, r#"{"_step": 1, "lr": 1}"#, "junk"];
        assert_eq!(curve(rows.into_iter(), "loss"), vec![(0.0, 0.9), (2.0, 0.3)]);
    }
}
