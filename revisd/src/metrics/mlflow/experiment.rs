//! Experiments and run lookups on a tracking server: find an experiment by name (creating it
//! when the session needs one), and find the run Revis tagged for one of its runs.
//!
//! Must not: create runs or read metrics (the source does), or restore deleted experiments.

use serde_json::{Value, json};

use super::rest::{MlflowError, Tracking};

/// The experiment's id, or None when the server has none with that name.
pub async fn find(tracking: &Tracking, name: &str) -> Result<Option<String>, MlflowError> {
    let answer = match tracking.get("experiments/get-by-name", &[("experiment_name", name)]).await {
        Ok(answer) => answer,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(e),
    };
    let experiment = answer.get("experiment").ok_or_else(|| invalid("experiments/get-by-name", "no experiment"))?;
    if experiment.get("lifecycle_stage").and_then(Value::as_str) == Some("deleted") {
        return Err(MlflowError::Run(format!(
            "MLflow experiment '{name}' on {} is deleted: restore it (`mlflow experiments restore`) or choose \
             another metrics.project",
            tracking.shown()
        )));
    }
    experiment
        .get("experiment_id")
        .and_then(Value::as_str)
        .map(|id| Some(id.to_string()))
        .ok_or_else(|| invalid("experiments/get-by-name", "no experiment_id"))
}

/// The experiment's id, created when missing (another session may create it at the same time).
pub async fn find_or_create(tracking: &Tracking, name: &str) -> Result<String, MlflowError> {
    if let Some(id) = find(tracking, name).await? {
        return Ok(id);
    }
    match tracking.post("experiments/create", &json!({ "name": name })).await {
        Ok(answer) => answer
            .get("experiment_id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| invalid("experiments/create", "no experiment_id")),
        Err(e) if e.is_already_exists() => find(tracking, name)
            .await?
            .ok_or_else(|| MlflowError::Run(format!("MLflow experiment '{name}' vanished while being created"))),
        Err(e) => Err(e),
    }
}

/// The most recent run in `experiment_id` whose tag `key` equals `value`.
pub async fn run_by_tag(
    tracking: &Tracking,
    experiment_id: &str,
    key: &str,
    value: &str,
) -> Result<Option<String>, MlflowError> {
    // Revis's own ids never hold quotes; refusing them keeps the filter from being injectable.
    if value.contains(['\'', '"', '\\', '`']) {
        return Ok(None);
    }
    let body = json!({
        "experiment_ids": [experiment_id],
        "filter": format!("tags.`{key}` = '{value}'"),
        "max_results": 5,
        "order_by": ["attributes.start_time DESC"],
    });
    let answer = tracking.post("runs/search", &body).await?;
    Ok(answer
        .get("runs")
        .and_then(Value::as_array)
        .and_then(|runs| runs.first())
        .and_then(|run| run.pointer("/info/run_id"))
        .and_then(Value::as_str)
        .map(str::to_string))
}

fn invalid(endpoint: &str, detail: &str) -> MlflowError {
    MlflowError::Invalid { endpoint: endpoint.to_string(), detail: detail.to_string() }
}
