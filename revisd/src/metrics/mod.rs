//! Metrics sources read what a finished run produced. `eval_json` reads
//! `$REVIS_OUTPUT_DIR/eval.json`; W&B and MLflow arrive later behind the same trait.
//! `assess` turns raw metrics into the iteration's verdict (missing, NaN, diverged).

mod assess;
mod eval_json;

pub use assess::{Assessment, assess};
pub use eval_json::EvalJson;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

/// What a source needs to find one run's metrics.
#[derive(Debug, Clone)]
pub struct RunContext {
    pub output_dir: PathBuf,
    pub session: String,
    pub iteration: u32,
    pub run_id: String,
}

/// Metrics as read: non-finite values are kept so the verdict can name them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Collected {
    pub metrics: BTreeMap<String, f64>,
    pub warnings: Vec<String>,
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
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

pub trait MetricsSource: Send + Sync {
    fn collect<'a>(&'a self, run: &'a RunContext) -> BoxFuture<'a, Result<Collected, MetricsError>>;
}
