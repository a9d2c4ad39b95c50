//! Discovery for `revis init`: the experiments on a tracking server and the metric keys their
//! recent runs logged, so the user picks from real names. Credentials come from the daemon's
//! environment (`MLFLOW_TRACKING_TOKEN`, `MLFLOW_TRACKING_USERNAME` / `_PASSWORD`).
//!
//! Must not: create anything on the server.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::experiment;
use super::rest::{MlflowError, Tracking};

/// How many recent runs are sampled for metric keys.
const RECENT_RUNS: u32 = 20;

/// Names of the active experiments, most recently updated first.
pub async fn experiments(tracking_uri: &str) -> Result<Vec<String>, MlflowError> {
    let tracking = Tracking::new(tracking_uri, daemon_var)?;
    let body = json!({"max_results": 1000, "view_type": "ACTIVE_ONLY", "order_by": ["last_update_time DESC"]});
    let answer = tracking.post("experiments/search", &body).await?;
    let empty = Vec::new();
    Ok(answer
        .get("experiments")
        .and_then(Value::as_array)
        .unwrap_or(&empty)
        .iter()
        .filter_map(|e| e.get("name").and_then(Value::as_str).map(str::to_string))
        .collect())
}

/// Metric keys logged by the experiment's recent runs, without step counters, learning rates,
/// throughput and timings (nobody optimizes those), sorted.
pub async fn metric_keys(tracking_uri: &str, experiment: &str) -> Result<Vec<String>, MlflowError> {
    let tracking = Tracking::new(tracking_uri, daemon_var)?;
    let Some(id) = experiment::find(&tracking, experiment).await? else {
        return Err(MlflowError::Run(format!("no MLflow experiment named '{experiment}' on {}", tracking.shown())));
    };
    let body = json!({
        "experiment_ids": [id],
        "max_results": RECENT_RUNS,
        "order_by": ["attributes.start_time DESC"],
    });
    let answer = tracking.post("runs/search", &body).await?;
    let empty = Vec::new();
    let keys: BTreeSet<String> = answer
        .get("runs")
        .and_then(Value::as_array)
        .unwrap_or(&empty)
        .iter()
        .filter_map(|run| run.pointer("/data/metrics").and_then(Value::as_array))
        .flatten()
        .filter_map(|m| m.get("key").and_then(Value::as_str))
        .filter(|key| is_objective_candidate(key))
        .map(str::to_string)
        .collect();
    Ok(keys.into_iter().collect())
}

fn daemon_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

pub use super::super::is_objective_candidate;

#[cfg(test)]
mod tests {
    use super::is_objective_candidate;

    #[test]
    fn counters_rates_and_timings_are_not_offered_as_objectives() {
        for key in ["val_loss", "eval/accuracy", "world_acc", "f1"] {
            assert!(is_objective_candidate(key), "{key}");
        }
        for key in ["step", "global_step", "epoch", "lr", "train/lr", "learning_rate", "throughput", "runtime"] {
            assert!(!is_objective_candidate(key), "{key}");
        }
        assert!(!is_objective_candidate("samples_per_sec"));
        assert!(!is_objective_candidate("timestamp"));
    }
}
