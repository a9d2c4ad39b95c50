//! `wandb`: one run's metrics from Weights & Biases, found by the `WANDB_RUN_ID` Revis set.
//!
//! Order of sources: a local offline run directory (nothing was uploaded), then the GraphQL API
//! (waiting while the run still shows `running`), then the local run directory when the API is
//! unreachable, rejects the key or never shows the run. The primary metric's history comes along
//! when the source has it (the API, `files/wandb-history.jsonl`, or the client's binary run log
//! `run-<id>.wandb`, the only record an offline run keeps).
//!
//! Owns: choosing the source, the wait-for-run policy and turning failures into one clear
//! `MetricsError`. Must not: write anything, print the API key, or wait without a deadline.

mod api;
mod auth;
mod datastore;
mod discovery;
mod local;
mod summary;

#[cfg(test)]
mod tests;

pub use api::ApiError;
pub use auth::Connection;
pub use discovery::{DiscoveryError, metric_keys, projects};

use std::path::PathBuf;
use std::time::Duration;

use tokio::time::Instant;

use super::{BoxFuture, Collected, MetricsError, MetricsSource, RunContext};
use api::{Api, RunInfo};

/// W&B's project for runs whose project nobody named (the client library's own default).
const DEFAULT_PROJECT: &str = "uncategorized";

/// History rows requested from the API: enough for a curve, bounded for large runs.
const HISTORY_SAMPLES: i64 = 500;

/// How long to wait and how hard to retry. Injectable so tests do not wait for real W&B delays.
#[derive(Debug, Clone)]
pub struct Timing {
    /// How long a run may take to appear in the API after the training ended.
    pub appear: Duration,
    /// How long to wait while the API still reports the run `running` (the client may still be
    /// uploading its last rows after the process exited).
    pub finish: Duration,
    /// First pause between polls; doubles up to `poll_max`.
    pub poll: Duration,
    pub poll_max: Duration,
    /// Per request.
    pub request: Duration,
    /// Attempts per request for 5xx, 429 and connection failures.
    pub attempts: u32,
    /// First pause between attempts; doubles.
    pub backoff: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            appear: Duration::from_secs(30),
            finish: Duration::from_secs(60),
            poll: Duration::from_secs(1),
            poll_max: Duration::from_secs(5),
            request: Duration::from_secs(30),
            attempts: 4,
            backoff: Duration::from_millis(500),
        }
    }
}

#[derive(Debug, Default)]
pub struct Wandb {
    timing: Timing,
}

impl Wandb {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_timing(timing: Timing) -> Self {
        Self { timing }
    }
}

/// Why no metrics could be read; flattened into `MetricsError::Service` for the engine.
#[derive(Debug, thiserror::Error)]
enum WandbError {
    #[error("run '{run_id}' is offline (WANDB_MODE={mode}) but no local run directory was found under {}", roots(.searched))]
    OfflineWithoutFiles { run_id: String, mode: String, searched: Vec<PathBuf> },
    #[error(
        "no W&B API key (set WANDB_API_KEY or add a ~/.netrc entry for {host}) and no local run directory for '{run_id}' under {}",
        roots(.searched)
    )]
    NoKeyNoFiles { run_id: String, host: String, searched: Vec<PathBuf> },
    #[error("{api}; no local run directory for '{run_id}' under {} either", roots(.searched))]
    ApiFailedNoFiles { api: RunLookupError, run_id: String, searched: Vec<PathBuf> },
    #[error(transparent)]
    Local(#[from] local::LocalError),
}

/// Failures of the API path (before any fallback).
#[derive(Debug, thiserror::Error)]
enum RunLookupError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(
        "W&B run {entity}/{project}/{run_id} never appeared (waited {}s; did the training call wandb.init() with the WANDB_RUN_ID Revis set?)",
        .waited.as_secs()
    )]
    NeverAppeared { entity: String, project: String, run_id: String, waited: Duration },
}

fn roots(searched: &[PathBuf]) -> String {
    let list: Vec<String> = searched.iter().map(|p| p.display().to_string()).collect();
    list.join(", ")
}

impl MetricsSource for Wandb {
    /// W&B finds its run by the id Revis sets (not by scraping logs); unique per attempt.
    fn environment(&self, run: &RunContext) -> Vec<(String, String)> {
        let mut env = vec![
            ("WANDB_RUN_ID".to_string(), run.run_id.clone()),
            ("WANDB_RUN_GROUP".to_string(), format!("revis-{}", run.session)),
            ("WANDB_TAGS".to_string(), format!("revis,{},iteration-{}", run.session, run.iteration)),
        ];
        if let Some(project) = &run.project {
            env.push(("WANDB_PROJECT".into(), project.clone()));
        }
        if let Some(entity) = &run.entity {
            env.push(("WANDB_ENTITY".into(), entity.clone()));
        }
        env
    }

    fn collect<'a>(&'a self, run: &'a RunContext) -> BoxFuture<'a, Result<Collected, MetricsError>> {
        Box::pin(async move {
            self.collect_run(run)
                .await
                .map_err(|e| MetricsError::Service { source_name: "wandb", message: e.to_string() })
        })
    }

    /// The client's own files first (written as the run goes, online or offline, wherever the
    /// training runs on this machine), else the API's sampled history.
    fn live_curve<'a>(&'a self, run: &'a RunContext) -> BoxFuture<'a, Option<Vec<(f64, f64)>>> {
        Box::pin(async move {
            if let Some(found) = local::find(&local::roots(run), &run.run_id) {
                let (dir, id, primary) = (found.dir.clone(), run.run_id.clone(), run.primary.clone());
                let curve = tokio::task::spawn_blocking(move || local::curve_so_far(&dir, &id, &primary)).await.ok()?;
                if curve.is_some() || found.offline {
                    return curve;
                }
            }
            let api = Api::new(&Connection::resolve(|name| run.var(name)), &self.timing)?;
            let entity = match run.entity.clone().or_else(|| run.var("WANDB_ENTITY")) {
                Some(entity) => entity,
                None => api.default_entity().await.ok()?,
            };
            let project =
                run.project.clone().or_else(|| run.var("WANDB_PROJECT")).unwrap_or_else(|| DEFAULT_PROJECT.to_string());
            let rows = api.history(&entity, &project, &run.run_id, HISTORY_SAMPLES).await.ok()?;
            let curve = summary::curve(rows.iter().map(String::as_str), &run.primary);
            (!curve.is_empty()).then_some(curve)
        })
    }
}

impl Wandb {
    async fn collect_run(&self, ctx: &RunContext) -> Result<Collected, WandbError> {
        let searched = local::roots(ctx);
        let found = local::find(&searched, &ctx.run_id);
        if let Some(run) = found.as_ref().filter(|r| r.offline) {
            return Ok(local::read(run, &ctx.run_id, &ctx.primary)?);
        }
        if let Some(mode) = ctx.var("WANDB_MODE").filter(|m| matches!(m.as_str(), "offline" | "disabled" | "dryrun")) {
            return match &found {
                Some(run) => Ok(local::read(run, &ctx.run_id, &ctx.primary)?),
                None => Err(WandbError::OfflineWithoutFiles { run_id: ctx.run_id.clone(), mode, searched }),
            };
        }
        let connection = Connection::resolve(|name| ctx.var(name));
        let Some(api) = Api::new(&connection, &self.timing) else {
            return match &found {
                Some(run) => Ok(local::read(run, &ctx.run_id, &ctx.primary)?),
                None => Err(WandbError::NoKeyNoFiles { run_id: ctx.run_id.clone(), host: connection.host(), searched }),
            };
        };
        match self.read_api(&api, ctx).await {
            Ok(collected) => Ok(collected),
            Err(api_error) => match &found {
                Some(run) => {
                    let mut collected = local::read(run, &ctx.run_id, &ctx.primary)?;
                    collected
                        .warnings
                        .push(format!("{api_error}; read the local run files in {} instead", run.dir.display()));
                    Ok(collected)
                }
                None => Err(WandbError::ApiFailedNoFiles { api: api_error, run_id: ctx.run_id.clone(), searched }),
            },
        }
    }

    async fn read_api(&self, api: &Api, ctx: &RunContext) -> Result<Collected, RunLookupError> {
        let entity = match ctx.entity.clone().or_else(|| ctx.var("WANDB_ENTITY")) {
            Some(entity) => entity,
            None => api.default_entity().await?,
        };
        let project =
            ctx.project.clone().or_else(|| ctx.var("WANDB_PROJECT")).unwrap_or_else(|| DEFAULT_PROJECT.to_string());
        let (run, still_running) = self.wait_for_run(api, &entity, &project, &ctx.run_id).await?;
        let mut collected = Collected::default();
        summary::insert_summary(run.summary.as_deref().unwrap_or("{}"), &mut collected);
        if still_running {
            collected.warnings.push(format!(
                "W&B run {entity}/{project}/{} still showed 'running' {}s after the training ended; its latest summary was used",
                ctx.run_id,
                self.timing.finish.as_secs()
            ));
        } else if run.state != "finished" {
            collected
                .warnings
                .push(format!("W&B run {entity}/{project}/{} ended in state '{}'", ctx.run_id, run.state));
        }
        if run.history_lines != Some(0) {
            match api.history(&entity, &project, &ctx.run_id, HISTORY_SAMPLES).await {
                Ok(rows) => {
                    let curve = summary::curve(rows.iter().map(String::as_str), &ctx.primary);
                    collected.history = (!curve.is_empty()).then_some(curve);
                }
                Err(e) => collected.warnings.push(format!("history of '{}' not available: {e}", ctx.primary)),
            }
        }
        Ok(collected)
    }

    /// Polls until the run exists and is no longer `running`; returns `true` as second value when
    /// the finish deadline passed while it was still running.
    async fn wait_for_run(
        &self,
        api: &Api,
        entity: &str,
        project: &str,
        run_id: &str,
    ) -> Result<(RunInfo, bool), RunLookupError> {
        let start = Instant::now();
        let mut finish_deadline: Option<Instant> = None;
        let mut pause = self.timing.poll;
        loop {
            let deadline = match api.run(entity, project, run_id).await? {
                None => {
                    let deadline = start + self.timing.appear;
                    if Instant::now() >= deadline {
                        return Err(RunLookupError::NeverAppeared {
                            entity: entity.into(),
                            project: project.into(),
                            run_id: run_id.into(),
                            waited: self.timing.appear,
                        });
                    }
                    deadline
                }
                Some(run) if matches!(run.state.as_str(), "running" | "pending" | "preempting") => {
                    let deadline = *finish_deadline.get_or_insert_with(|| Instant::now() + self.timing.finish);
                    if Instant::now() >= deadline {
                        return Ok((run, true));
                    }
                    deadline
                }
                Some(run) => return Ok((run, false)),
            };
            let now = Instant::now();
            tokio::time::sleep(pause.min(deadline.saturating_duration_since(now))).await;
            pause = (pause * 2).min(self.timing.poll_max);
        }
    }
}
