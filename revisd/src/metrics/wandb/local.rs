//! The run directory the W&B client writes locally:
//! `<WANDB_DIR or worktree>/wandb/{run|offline-run}-YYYYMMDD_HHMMSS-<run id>/files/`, holding
//! `wandb-summary.json` (last values; online runs) and, with some client versions,
//! `wandb-history.jsonl`; next to `files/`, the binary run log `run-<id>.wandb` (see `datastore`).
//!
//! Must not: write or delete anything there (the user may `wandb sync` it later).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::metrics::{Collected, RunContext};

use super::{datastore, summary};

#[derive(Debug, Clone)]
pub struct LocalRun {
    pub dir: PathBuf,
    /// `offline-run-*`: nothing was uploaded, so the API cannot know it.
    pub offline: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error(
        "W&B run directory {} has neither files/wandb-summary.json nor a run-<id>.wandb log (did the training end with wandb.finish()?)",
        .0.display()
    )]
    NoSummary(PathBuf),
    #[error(transparent)]
    Log(#[from] datastore::DatastoreError),
    #[error("W&B summary {} could not be read: {source}", .path.display())]
    Unreadable { path: PathBuf, source: std::io::Error },
    #[error("W&B summary {} is not a JSON object: {detail}", .path.display())]
    Invalid { path: PathBuf, detail: String },
}

/// The `wandb/` directories the client may have written to, most specific first.
pub fn roots(ctx: &RunContext) -> Vec<PathBuf> {
    let mut roots = Vec::new();
    if let Some(dir) = ctx.var("WANDB_DIR") {
        // A relative WANDB_DIR is relative to where the training ran.
        roots.push(ctx.worktree.join(dir).join("wandb"));
    }
    let default = ctx.worktree.join("wandb");
    if !roots.contains(&default) {
        roots.push(default);
    }
    roots
}

/// The newest directory of `run_id` under `roots` (a resumed id gets one directory per start).
pub fn find(roots: &[PathBuf], run_id: &str) -> Option<LocalRun> {
    roots.iter().find_map(|root| {
        let entries = std::fs::read_dir(root).ok()?;
        let mut matches: Vec<(String, LocalRun)> = entries
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let (timestamp, offline) = parse_dir_name(&name, run_id)?;
                Some((timestamp.to_string(), LocalRun { dir: e.path(), offline }))
            })
            .collect();
        matches.sort_by(|a, b| a.0.cmp(&b.0));
        matches.pop().map(|(_, run)| run)
    })
}

/// `(timestamp, offline)` when `name` is a run directory of exactly `run_id`.
fn parse_dir_name<'a>(name: &'a str, run_id: &str) -> Option<(&'a str, bool)> {
    let (rest, offline) = match name.strip_prefix("offline-run-") {
        Some(rest) => (rest, true),
        None => (name.strip_prefix("run-")?, false),
    };
    // The timestamp has no '-', run ids may.
    let (timestamp, id) = rest.split_once('-')?;
    (id == run_id).then_some((timestamp, offline))
}

/// Summary from `files/wandb-summary.json`, else from the run log; history from
/// `files/wandb-history.jsonl`, else from the run log.
pub fn read(run: &LocalRun, run_id: &str, primary: &str) -> Result<Collected, LocalError> {
    let files = run.dir.join("files");
    let summary_path = files.join("wandb-summary.json");
    let log_path = run.dir.join(format!("run-{run_id}.wandb"));
    let mut log: Option<datastore::Contents> = None;
    let mut collected = Collected::default();
    let numbers = match std::fs::read_to_string(&summary_path) {
        Ok(text) => {
            summary::numbers(&text).map_err(|detail| LocalError::Invalid { path: summary_path.clone(), detail })?
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if !log_path.exists() {
                return Err(LocalError::NoSummary(run.dir.clone()));
            }
            let contents = datastore::read(&log_path)?;
            if contents.truncated {
                collected.warnings.push(format!(
                    "W&B run log {} ends in an incomplete record (the client was stopped mid-write); read what came before",
                    log_path.display()
                ));
            }
            let numbers = contents.summary.clone();
            log = Some(contents);
            numbers
        }
        Err(source) => return Err(LocalError::Unreadable { path: summary_path, source }),
    };
    collected.metrics.extend(numbers.into_iter().filter(|(k, _)| !k.starts_with('_')));
    collected.history = match history(&files.join("wandb-history.jsonl"), primary) {
        Some(curve) => Some(curve),
        None => {
            let contents = match log {
                Some(contents) => Some(contents),
                // Online runs keep the log too; history there is better than none.
                None if log_path.exists() => datastore::read(&log_path).ok(),
                None => None,
            };
            contents.map(|c| curve_of(&c.history, primary)).filter(|c| !c.is_empty())
        }
    };
    Ok(collected)
}

/// The primary metric's curve in a run directory still being written: the history file, else
/// the binary run log up to its last whole record.
pub fn curve_so_far(dir: &Path, run_id: &str, primary: &str) -> Option<Vec<(f64, f64)>> {
    if let Some(curve) = history(&dir.join("files").join("wandb-history.jsonl"), primary) {
        return Some(curve);
    }
    let contents = datastore::read(&dir.join(format!("run-{run_id}.wandb"))).ok()?;
    let curve = curve_of(&contents.history, primary);
    (!curve.is_empty()).then_some(curve)
}

fn curve_of(rows: &[BTreeMap<String, f64>], primary: &str) -> Vec<(f64, f64)> {
    let mut points: Vec<(f64, f64)> = rows
        .iter()
        .enumerate()
        .filter_map(|(i, row)| row.get(primary).map(|v| (row.get("_step").copied().unwrap_or(i as f64), *v)))
        .collect();
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    points
}

fn history(path: &Path, primary: &str) -> Option<Vec<(f64, f64)>> {
    let text = std::fs::read_to_string(path).ok()?;
    let curve = summary::curve(text.lines().filter(|l| !l.trim().is_empty()), primary);
    (!curve.is_empty()).then_some(curve)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_names_match_the_exact_run_id() {
        assert_eq!(parse_dir_name("run-20260101_000000-abc-i1-a1", "abc-i1-a1"), Some(("20260101_000000", false)));
        assert_eq!(parse_dir_name("offline-run-20260101_000000-abc", "abc"), Some(("20260101_000000", true)));
        assert_eq!(parse_dir_name("run-20260101_000000-abc-i1-a1", "i1-a1"), None);
        assert_eq!(parse_dir_name("run-20260101_000000-abc-i1-a10", "abc-i1-a1"), None);
        assert_eq!(parse_dir_name("latest-run", "abc"), None);
    }
}
