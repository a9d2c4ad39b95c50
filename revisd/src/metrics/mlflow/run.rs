//! What MLflow's JSON says about one run: its status, its latest metrics and a metric's history.
//!
//! MLflow serializes through protobuf's JSON mapping, so a NaN metric arrives as the string
//! `"NaN"` and int64 fields (step, timestamp) may arrive as strings; both are read as numbers.
//! Must not: talk to the server (that is `rest.rs`).

use std::collections::BTreeMap;

use serde_json::Value;

/// Longest curve stored per iteration: enough for a chart, small enough for the LLM's context.
pub const MAX_HISTORY_POINTS: usize = 1000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunStatus {
    /// RUNNING or SCHEDULED: the training has not ended the run (yet).
    Active,
    Finished,
    /// FAILED or KILLED, with the name MLflow uses.
    Ended(String),
}

#[derive(Debug, Clone)]
pub struct RunView {
    pub status: RunStatus,
    pub metrics: BTreeMap<String, f64>,
    pub warnings: Vec<String>,
}

/// A `runs/get` answer: `{"run": {"info": {"status": ...}, "data": {"metrics": [...]}}}`.
pub fn parse_run(answer: &Value) -> Result<RunView, String> {
    let run = answer.get("run").ok_or("no \"run\" object")?;
    let status = run.pointer("/info/status").and_then(Value::as_str).ok_or("no run.info.status")?;
    let status = match status {
        "RUNNING" | "SCHEDULED" => RunStatus::Active,
        "FINISHED" => RunStatus::Finished,
        other => RunStatus::Ended(other.to_string()),
    };
    let mut view = RunView { status, metrics: BTreeMap::new(), warnings: Vec::new() };
    let empty = Vec::new();
    let entries = run.pointer("/data/metrics").and_then(Value::as_array).unwrap_or(&empty);
    for entry in entries {
        let Some(key) = entry.get("key").and_then(Value::as_str) else { continue };
        match entry.get("value").and_then(number) {
            Some(value) => {
                view.metrics.insert(key.to_string(), value);
            }
            None => view.warnings.push(format!("mlflow: metric '{key}' ignored: its value is not a number")),
        }
    }
    Ok(view)
}

/// A number, or the protobuf JSON spellings of numbers: "NaN", "Infinity", "-Infinity", "12".
pub fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            other => other.parse().ok(),
        },
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub step: f64,
    pub timestamp: f64,
    pub value: f64,
}

/// One `metrics/get-history` page: its points and the token of the next page.
pub fn parse_history_page(answer: &Value) -> (Vec<Point>, Option<String>) {
    let empty = Vec::new();
    let points = answer
        .get("metrics")
        .and_then(Value::as_array)
        .unwrap_or(&empty)
        .iter()
        .filter_map(|m| {
            Some(Point {
                step: m.get("step").and_then(number).unwrap_or(0.0),
                timestamp: m.get("timestamp").and_then(number).unwrap_or(0.0),
                value: m.get("value").and_then(number)?,
            })
        })
        .collect();
    let next = answer.get("next_page_token").and_then(Value::as_str).filter(|t| !t.is_empty()).map(str::to_string);
    (points, next)
}

/// (step, value) in logging order; a long curve is thinned evenly, always keeping the last point
/// (the value the run ended on).
pub fn curve(mut points: Vec<Point>) -> Vec<(f64, f64)> {
    points.sort_by(|a, b| a.step.total_cmp(&b.step).then(a.timestamp.total_cmp(&b.timestamp)));
    let all: Vec<(f64, f64)> = points.into_iter().map(|p| (p.step, p.value)).collect();
    if all.len() <= MAX_HISTORY_POINTS {
        return all;
    }
    let last = all.len() - 1;
    let mut thinned: Vec<(f64, f64)> =
        (0..MAX_HISTORY_POINTS - 1).map(|i| all[i * last / (MAX_HISTORY_POINTS - 1)]).collect();
    thinned.push(all[last]);
    thinned
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn protobuf_spellings_of_numbers_are_numbers() {
        assert!(number(&json!("NaN")).is_some_and(f64::is_nan));
        assert_eq!(number(&json!("-Infinity")), Some(f64::NEG_INFINITY));
        assert_eq!(number(&json!("12")), Some(12.0));
        assert_eq!(number(&json!(0.5)), Some(0.5));
        assert_eq!(number(&json!(null)), None);
    }

    #[test]
    fn a_run_reads_status_and_latest_metrics() {
        let answer = json!({"run": {"info": {"status": "KILLED"}, "data": {"metrics": [
            {"key": "val_loss", "value": 0.25, "timestamp": 1, "step": "3"},
            {"key": "odd", "value": "x", "timestamp": 1, "step": 0}
        ]}}});
        let view = parse_run(&answer).unwrap();
        assert_eq!(view.status, RunStatus::Ended("KILLED".into()));
        assert_eq!(view.metrics["val_loss"], 0.25);
        assert_eq!(view.warnings.len(), 1);
        assert!(parse_run(&json!({"run": {"data": {}}})).is_err());
        let no_metrics = parse_run(&json!({"run": {"info": {"status": "RUNNING"}, "data": {}}})).unwrap();
        assert_eq!(no_metrics.status, RunStatus::Active);
        assert!(no_metrics.metrics.is_empty());
    }

    #[test]
    fn history_is_ordered_by_step_and_long_curves_keep_their_last_point() {
        let page = json!({"metrics": [
            {"key": "l", "value": 2.0, "timestamp": "5", "step": "1"},
            {"key": "l", "value": 3.0, "timestamp": "4", "step": "0"}
        ], "next_page_token": "abc"});
        let (points, next) = parse_history_page(&page);
        assert_eq!(next.as_deref(), Some("abc"));
        assert_eq!(curve(points), vec![(0.0, 3.0), (1.0, 2.0)]);

        let many = (0..5000).map(|i| Point { step: f64::from(i), timestamp: 0.0, value: f64::from(i) }).collect();
        let thinned = curve(many);
        assert_eq!(thinned.len(), MAX_HISTORY_POINTS);
        assert_eq!(thinned.first(), Some(&(0.0, 0.0)));
        assert_eq!(thinned.last(), Some(&(4999.0, 4999.0)));
    }
}
