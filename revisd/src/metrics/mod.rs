//! Metrics sources read what a finished run produced. `eval_json` reads
//! `$REVIS_OUTPUT_DIR/eval.json`; W&B and MLflow arrive later behind the same trait.
//! `assess` turns raw metrics into the iteration's verdict (missing, NaN, diverged).

mod assess;
pub mod eval_json;
pub mod mlflow;
pub mod wandb;

pub use assess::{Assessment, assess};
pub use eval_json::EvalJson;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

/// What a source needs to find one run's metrics.
#[derive(Debug, Clone, Default)]
pub struct RunContext {
    pub output_dir: PathBuf,
    pub session: String,
    pub iteration: u32,
    /// Unique per run (iteration and attempt): W&B's run id, MLflow's `revis.run_id` tag.
    pub run_id: String,
    /// Where the training ran locally (W&B writes `wandb/` there unless WANDB_DIR says otherwise).
    pub worktree: PathBuf,
    /// Settings a source may need (WANDB_API_KEY, WANDB_BASE_URL, MLFLOW_TRACKING_URI, ...): the
    /// run's environment as Revis set it, then the daemon's.
    pub env: Vec<(String, String)>,
    /// metrics.project / metrics.entity / metrics.tracking_uri and the primary metric.
    pub project: Option<String>,
    pub entity: Option<String>,
    pub tracking_uri: Option<String>,
    pub primary: String,
}

impl RunContext {
    /// A setting from the run's environment, else the daemon's.
    pub fn var(&self, name: &str) -> Option<String> {
        self.env
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .or_else(|| std::env::var(name).ok())
            .filter(|v| !v.is_empty())
    }
}

/// Metrics as read: non-finite values are kept so the verdict can name them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Collected {
    pub metrics: BTreeMap<String, f64>,
    pub warnings: Vec<String>,
    /// The primary metric's curve as (step, value), when the source keeps one.
    pub history: Option<Vec<(f64, f64)>>,
}

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("eval.json not found: {0} (the training command must write it to $REVIS_OUTPUT_DIR)")]
    NotFound(PathBuf),
    #[error("eval.json could not be read: {path}: {source}")]
    Unreadable { path: PathBuf, source: std::io::Error },
    #[error("eval.json is not valid JSON: {path}: {detail}")]
    InvalidJson { path: PathBuf, detail: String },
    #[error("eval.json has no \"metrics\" object: {0} (expected {{\"metrics\": {{\"name\": number}}}})")]
    NoMetricsObject(PathBuf),
    /// W&B, MLflow and other services: the message says what failed and what to do.
    #[error("{source_name}: {message}")]
    Service { source_name: &'static str, message: String },
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A metrics source: what the run needs in its environment so the source can find it, a set-up
/// before the run, and collecting its metrics (with the primary metric's history when the
/// source keeps one) after it.
pub trait MetricsSource: Send + Sync {
    /// Variables the training gets so this source can find its run afterwards.
    fn environment(&self, _run: &RunContext) -> Vec<(String, String)> {
        Vec::new()
    }

    /// Called before the run starts; returns environment variables the training needs so this
    /// source can find its run afterwards (a pre-created MLflow run id, say).
    fn prepare<'a>(&'a self, _run: &'a RunContext) -> BoxFuture<'a, Result<Vec<(String, String)>, MetricsError>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    fn collect<'a>(&'a self, run: &'a RunContext) -> BoxFuture<'a, Result<Collected, MetricsError>>;

    /// The primary metric's curve so far, read while the run goes on (for `watch` and early
    /// stopping); `None` when this source keeps no history or has none yet. Never waits for the
    /// run, and a failure is `None`: progress is advisory.
    fn live_curve<'a>(&'a self, _run: &'a RunContext) -> BoxFuture<'a, Option<Vec<(f64, f64)>>> {
        Box::pin(async { None })
    }
}

/// The source named by `metrics.source`: the one place that knows the kinds of source (a new
/// one is its own module plus one line here).
pub fn source_for(kind: crate::config::MetricsSourceType) -> Box<dyn MetricsSource> {
    use crate::config::MetricsSourceType;
    match kind {
        MetricsSourceType::EvalJson => Box::new(EvalJson),
        MetricsSourceType::Wandb => Box::new(wandb::Wandb::new()),
        MetricsSourceType::Mlflow => Box::new(mlflow::Mlflow::new()),
    }
}

/// Whether a metric key could be an objective: counters, learning rates, throughput and
/// timings are left out of the choices offered by `revis init`.
pub fn is_objective_candidate(key: &str) -> bool {
    if key.starts_with('_') {
        return false;
    }
    let lower = key.to_ascii_lowercase();
    const CONTAINS: &[&str] = &[
        "step",
        "epoch",
        "learning_rate",
        "throughput",
        "time",
        "samples_per_sec",
        "tokens_per_sec",
        "per_second",
        "per_sec",
    ];
    if CONTAINS.iter().any(|part| lower.contains(part)) {
        return false;
    }
    // "lr" only as a whole word: "train/lr" is a learning rate, "world_acc" is not.
    !lower.split(|c: char| !c.is_ascii_alphanumeric()).any(|word| word == "lr")
}
