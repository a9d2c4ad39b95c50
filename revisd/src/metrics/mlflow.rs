//! `mlflow`: metrics from an MLflow tracking server, read over its REST API.
//!
//! Before each run, `prepare` creates (or finds, after a restart) an MLflow run tagged
//! `revis.session`, `revis.iteration` and `revis.run_id` in the experiment named by
//! `metrics.project`, and hands its id to the training as `MLFLOW_RUN_ID`: MLflow's client then
//! resumes exactly that run on `mlflow.start_run()`, so no guessing by time window or run name
//! is needed. After the run, `collect` waits (with a deadline) for the training to end the MLflow
//! run, then reads its latest metrics and the primary metric's history.
//!
//! Must not: read local `mlruns/` directories (only a tracking server is supported), delete or
//! rewrite what the training logged, or print credentials.

mod discovery;
mod experiment;
mod rest;
mod run;
#[cfg(test)]
mod tests;

pub use discovery::{experiments, metric_keys};
pub use rest::MlflowError;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::json;

use super::{BoxFuture, Collected, MetricsError, MetricsSource, RunContext};
use rest::Tracking;
use run::{RunStatus, RunView};

/// How long `collect` waits for the training to end its MLflow run: the client ends it when the
/// script exits, but asynchronous logging may still be flushing when the process is gone.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(60);
const MAX_POLL_PAUSE: Duration = Duration::from_secs(2);
/// Experiment used when neither metrics.project nor MLFLOW_EXPERIMENT_NAME names one.
const DEFAULT_EXPERIMENT: &str = "Default";
const MAX_HISTORY_PAGES: usize = 50;

pub const TAG_SESSION: &str = "revis.session";
pub const TAG_ITERATION: &str = "revis.iteration";
pub const TAG_RUN_ID: &str = "revis.run_id";

pub struct Mlflow {
    wait: Duration,
    /// Revis run id → MLflow run id for runs prepared by this daemon; after a restart the run is
    /// found again by its `revis.run_id` tag.
    prepared: Mutex<HashMap<String, String>>,
}

impl Default for Mlflow {
    fn default() -> Self {
        Self::new()
    }
}

impl Mlflow {
    pub fn new() -> Self {
        Self { wait: DEFAULT_WAIT, prepared: Mutex::new(HashMap::new()) }
    }

    /// How long `collect` waits for a run still RUNNING.
    pub fn with_wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }

    fn remember(&self, revis_run: &str, mlflow_run: &str) {
        if let Ok(mut map) = self.prepared.lock() {
            map.insert(revis_run.to_string(), mlflow_run.to_string());
        }
    }

    fn remembered(&self, revis_run: &str) -> Option<String> {
        self.prepared.lock().ok().and_then(|map| map.get(revis_run).cloned())
    }

    async fn prepare_run(&self, ctx: &RunContext) -> Result<Vec<(String, String)>, MlflowError> {
        let tracking = tracking_for(ctx)?;
        let name = experiment_name(ctx);
        let experiment_id = experiment::find_or_create(&tracking, &name).await?;
        // A restart between prepare and the run start must not leave a second run behind.
        let existing = match ctx.run_id.is_empty() {
            true => None,
            false => experiment::run_by_tag(&tracking, &experiment_id, TAG_RUN_ID, &ctx.run_id).await?,
        };
        let run_id = match existing {
            Some(id) => id,
            None => create_run(&tracking, &experiment_id, ctx).await?,
        };
        self.remember(&ctx.run_id, &run_id);
        Ok(vec![
            ("MLFLOW_TRACKING_URI".into(), tracking.uri().to_string()),
            ("MLFLOW_EXPERIMENT_NAME".into(), name),
            ("MLFLOW_EXPERIMENT_ID".into(), experiment_id),
            ("MLFLOW_RUN_ID".into(), run_id),
        ])
    }

    async fn collect_run(&self, ctx: &RunContext) -> Result<Collected, MlflowError> {
        let tracking = tracking_for(ctx)?;
        let run_id = self.locate(&tracking, ctx).await?;
        let view = self.wait_for_end(&tracking, &run_id).await?;
        let mut collected = Collected { metrics: view.metrics, warnings: view.warnings, history: None };
        if collected.metrics.contains_key(&ctx.primary) {
            match history(&tracking, &run_id, &ctx.primary).await {
                Ok(curve) => collected.history = Some(curve),
                Err(e) => collected.warnings.push(format!("mlflow: history of '{}' unavailable: {e}", ctx.primary)),
            }
        }
        Ok(collected)
    }

    /// The MLflow run prepared for this Revis run: remembered, named by the run's environment,
    /// or found by tag.
    async fn locate(&self, tracking: &Tracking, ctx: &RunContext) -> Result<String, MlflowError> {
        if let Some(id) = self.remembered(&ctx.run_id) {
            return Ok(id);
        }
        // Only the run's own environment: a daemon-wide MLFLOW_RUN_ID would name some other run.
        if let Some((_, id)) = ctx.env.iter().rev().find(|(k, v)| k == "MLFLOW_RUN_ID" && !v.is_empty()) {
            return Ok(id.clone());
        }
        let name = experiment_name(ctx);
        let not_found = || {
            MlflowError::Run(format!(
                "no MLflow run tagged {TAG_RUN_ID}={} in experiment '{name}' on {}",
                ctx.run_id,
                tracking.shown()
            ))
        };
        let experiment_id = experiment::find(tracking, &name).await?.ok_or_else(not_found)?;
        experiment::run_by_tag(tracking, &experiment_id, TAG_RUN_ID, &ctx.run_id).await?.ok_or_else(not_found)
    }

    async fn wait_for_end(&self, tracking: &Tracking, run_id: &str) -> Result<RunView, MlflowError> {
        let deadline = Instant::now() + self.wait;
        let mut pause = Duration::from_millis(100);
        loop {
            let view = read_run(tracking, run_id).await?;
            match view.status {
                RunStatus::Finished => return Ok(view),
                RunStatus::Ended(status) => {
                    return Err(MlflowError::Run(format!(
                        "MLflow run {run_id} ended {status}: the training reported a failure (see its log)"
                    )));
                }
                RunStatus::Active if Instant::now() >= deadline => return self.give_up(tracking, run_id, view).await,
                RunStatus::Active => {
                    tokio::time::sleep(pause.min(deadline.saturating_duration_since(Instant::now()))).await;
                    pause = (pause * 2).min(MAX_POLL_PAUSE);
                }
            }
        }
    }

    /// The training process is gone but its run still says RUNNING (the script never ended it,
    /// or never used it): its metrics are final if it has any; either way the run is closed so
    /// it does not stay RUNNING in the MLflow UI forever.
    async fn give_up(&self, tracking: &Tracking, run_id: &str, mut view: RunView) -> Result<RunView, MlflowError> {
        let waited = self.wait.as_secs_f64();
        let (status, result) = if view.metrics.is_empty() {
            let error = MlflowError::Run(format!(
                "MLflow run {run_id} is still RUNNING with no metrics {waited:.0}s after the training ended: log \
                 through `mlflow.start_run()` without a run_id so it resumes MLFLOW_RUN_ID, and end it \
                 (`mlflow.end_run()`)"
            ));
            ("KILLED", Err(error))
        } else {
            view.warnings.push(format!(
                "mlflow: run {run_id} was still RUNNING {waited:.0}s after the training ended; its latest metrics \
                 were used and Revis marked it FINISHED"
            ));
            ("FINISHED", Ok(view))
        };
        let end_time = chrono::Utc::now().timestamp_millis();
        let update = json!({ "run_id": run_id, "status": status, "end_time": end_time });
        if let Err(e) = tracking.post("runs/update", &update).await {
            tracing::warn!(error = %e, run_id, "could not close a dangling MLflow run");
        }
        result
    }
}

impl MetricsSource for Mlflow {
    fn prepare<'a>(&'a self, run: &'a RunContext) -> BoxFuture<'a, Result<Vec<(String, String)>, MetricsError>> {
        Box::pin(async move { self.prepare_run(run).await.map_err(MetricsError::from) })
    }

    fn collect<'a>(&'a self, run: &'a RunContext) -> BoxFuture<'a, Result<Collected, MetricsError>> {
        Box::pin(async move { self.collect_run(run).await.map_err(MetricsError::from) })
    }

    /// The run's `metrics/get-history` of the primary metric, as the training logs it.
    fn live_curve<'a>(&'a self, run: &'a RunContext) -> BoxFuture<'a, Option<Vec<(f64, f64)>>> {
        Box::pin(async move {
            let tracking = tracking_for(run).ok()?;
            let run_id = self.locate(&tracking, run).await.ok()?;
            let curve = history(&tracking, &run_id, &run.primary).await.ok()?;
            (!curve.is_empty()).then_some(curve)
        })
    }
}

fn tracking_for(ctx: &RunContext) -> Result<Tracking, MlflowError> {
    let uri = ctx
        .tracking_uri
        .clone()
        .filter(|u| !u.trim().is_empty())
        .or_else(|| ctx.var("MLFLOW_TRACKING_URI"))
        .ok_or(MlflowError::NoTrackingUri)?;
    Tracking::new(&uri, |name| ctx.var(name))
}

fn experiment_name(ctx: &RunContext) -> String {
    ctx.project
        .clone()
        .filter(|p| !p.trim().is_empty())
        .or_else(|| ctx.var("MLFLOW_EXPERIMENT_NAME"))
        .unwrap_or_else(|| DEFAULT_EXPERIMENT.to_string())
}

async fn create_run(tracking: &Tracking, experiment_id: &str, ctx: &RunContext) -> Result<String, MlflowError> {
    let tags = [
        (TAG_SESSION, ctx.session.clone()),
        (TAG_ITERATION, ctx.iteration.to_string()),
        (TAG_RUN_ID, ctx.run_id.clone()),
    ];
    let body = json!({
        "experiment_id": experiment_id,
        "run_name": format!("{}-i{}", ctx.session, ctx.iteration),
        "start_time": chrono::Utc::now().timestamp_millis(),
        "tags": tags.iter().map(|(k, v)| json!({"key": k, "value": v})).collect::<Vec<_>>(),
    });
    let answer = tracking.post("runs/create", &body).await?;
    answer
        .pointer("/run/info/run_id")
        .and_then(serde_json::Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| MlflowError::Invalid { endpoint: "runs/create".into(), detail: "no run.info.run_id".into() })
}

async fn read_run(tracking: &Tracking, run_id: &str) -> Result<RunView, MlflowError> {
    let answer = match tracking.get("runs/get", &[("run_id", run_id)]).await {
        Ok(answer) => answer,
        Err(e) if e.is_not_found() => {
            return Err(MlflowError::Run(format!(
                "MLflow run {run_id} does not exist on {} (deleted?)",
                tracking.shown()
            )));
        }
        Err(e) => return Err(e),
    };
    run::parse_run(&answer).map_err(|detail| MlflowError::Invalid { endpoint: "runs/get".into(), detail })
}

async fn history(tracking: &Tracking, run_id: &str, key: &str) -> Result<Vec<(f64, f64)>, MlflowError> {
    let mut points = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_HISTORY_PAGES {
        let mut query = vec![("run_id", run_id), ("metric_key", key)];
        if let Some(token) = token.as_deref() {
            query.push(("page_token", token));
        }
        let answer = tracking.get("metrics/get-history", &query).await?;
        let (page, next) = run::parse_history_page(&answer);
        points.extend(page);
        match next {
            Some(next) => token = Some(next),
            None => break,
        }
    }
    Ok(run::curve(points))
}
