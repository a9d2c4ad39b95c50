//! Discovery for `revis init`: an entity's projects and the metric keys of a project's recent
//! runs, leaving out what is never an objective (step counters, learning rates, throughput,
//! timestamps and W&B's own `_` keys).
//!
//! Must not: change anything on W&B.

use std::collections::BTreeSet;

use super::api::{Api, ApiError};
use super::auth::Connection;
use super::{Timing, summary};

/// Pages of 50 projects read at most; init offers a choice, not a full inventory.
const MAX_PAGES: usize = 20;
/// Recent runs whose summaries name the keys.
const RECENT_RUNS: i64 = 20;

/// Why discovery could not answer.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("no W&B API key (set WANDB_API_KEY or run `wandb login`, which writes ~/.netrc for {0})")]
    NoKey(String),
    #[error(transparent)]
    Api(#[from] ApiError),
}

fn api(connection: &Connection) -> Result<Api, DiscoveryError> {
    Api::new(connection, &Timing { attempts: 2, ..Timing::default() })
        .ok_or_else(|| DiscoveryError::NoKey(connection.host()))
}

/// Project names of `entity` (the key owner's default entity when None), sorted.
pub async fn projects(connection: &Connection, entity: Option<&str>) -> Result<Vec<String>, DiscoveryError> {
    let api = api(connection)?;
    let entity = match entity {
        Some(entity) => entity.to_string(),
        None => api.default_entity().await?,
    };
    let mut names = BTreeSet::new();
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let (page, next) = api.projects_page(&entity, cursor.as_deref()).await?;
        names.extend(page);
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    Ok(names.into_iter().collect())
}

/// Numeric summary keys of the project's recent runs that could be an objective, sorted.
pub async fn metric_keys(
    connection: &Connection,
    entity: Option<&str>,
    project: &str,
) -> Result<Vec<String>, DiscoveryError> {
    let api = api(connection)?;
    let entity = match entity {
        Some(entity) => entity.to_string(),
        None => api.default_entity().await?,
    };
    let mut keys = BTreeSet::new();
    for text in api.recent_summaries(&entity, project, RECENT_RUNS).await? {
        if let Ok(numbers) = summary::numbers(&text) {
            keys.extend(numbers.into_keys().filter(|k| is_candidate(k)));
        }
    }
    Ok(keys.into_iter().collect())
}

pub use super::super::is_objective_candidate as is_candidate;

#[cfg(test)]
mod tests {
    use super::is_candidate;

    #[test]
    fn bookkeeping_keys_are_not_candidates() {
        for key in [
            "_step",
            "_runtime",
            "epoch",
            "train/global_step",
            "lr",
            "train/lr",
            "learning_rate",
            "throughput",
            "samples_per_sec",
            "eval/runtime",
            "timestamp",
        ] {
            assert!(!is_candidate(key), "{key}");
        }
        for key in ["val_loss", "eval/accuracy", "world_acc", "f1"] {
            assert!(is_candidate(key), "{key}");
        }
    }
}
