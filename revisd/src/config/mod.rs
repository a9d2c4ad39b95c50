//! revis.yaml: the schema, loading with precise errors, validation, and the file `init` writes.
//!
//! Loading goes text → positioned tree (`tree`) → typed `Config` through a serde deserializer
//! that tracks key paths (`decode`) → semantic checks (`validate`, `space`), so every error can
//! name the file, line, column and key. This module reads the one file it is given and nothing
//! else: no environment, no other files, no network.

mod decode;
pub mod duration;
mod error;
mod index;
pub mod schema;
pub mod slurm;
mod space;
pub mod template;
mod tree;
mod validate;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub use error::ConfigError;
pub use schema::*;
pub use validate::is_env_name;

pub const FILE_NAME: &str = "revis.yaml";

/// Keys that are accepted but do nothing, each with the warning a file that has it gets. They
/// stay accepted so that older files (and the configs stored with existing sessions) load.
const INERT_KEYS: &[(&str, &str)] = &[
    ("artifacts", "section 'artifacts' is ignored (it belonged to the earlier Python implementation)"),
    ("github", "section 'github' is ignored (it belonged to the earlier Python implementation)"),
    (
        "guardrails.nan_detection_enabled",
        "guardrails.nan_detection_enabled has no effect and can be removed: a NaN or infinite primary metric \
         always fails the iteration",
    ),
];

/// A validated revis.yaml.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    pub path: PathBuf,
    /// Accepted but ignored content, one line each, prefixed with `path:line:column:`.
    pub warnings: Vec<String>,
    /// `guardrails.max_run_duration`, parsed.
    pub max_run_duration: Duration,
}

pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io { path: path.to_path_buf(), source })?;
    load_str(&text, path)
}

/// A problem found after loading (one that needs the machine: a GPU that does not exist),
/// located at `key`'s line in `text` when the key is written there.
pub fn located_error(path: &Path, text: &str, key: &str, message: String) -> ConfigError {
    let pos = tree::parse(text).ok().and_then(|root| index::KeyIndex::build(&root).pos(key));
    ConfigError::invalid(path, pos, Some(key), message)
}

/// Parses and validates `text`; `path` is only used to name the file in errors and warnings.
///
/// Beyond the schema's defaults, a search-space range without `type` gets `int` when both
/// bounds are written as integers and `float` otherwise.
pub fn load_str(text: &str, path: &Path) -> Result<Loaded, ConfigError> {
    let root = tree::parse(text)
        .map_err(|e| ConfigError::invalid(path, Some(e.pos), None, format!("invalid YAML: {}", e.message)))?;
    if root.is_null() {
        return Err(ConfigError::invalid(
            path,
            None,
            None,
            "the file is empty; it needs at least entry.train and metrics.primary".into(),
        ));
    }
    if !matches!(root.kind, tree::NodeKind::Map(_)) {
        return Err(ConfigError::invalid(
            path,
            Some(root.pos),
            None,
            "expected a mapping of sections (entry:, metrics:, ...) at the top level".into(),
        ));
    }
    let mut config =
        Config::deserialize(decode::NodeDeserializer::new(&root)).map_err(|e| ConfigError::from_decode(path, e))?;
    let index = index::KeyIndex::build(&root);
    let max_run_duration = validate::validate(&mut config, &index)
        .map_err(|issue| ConfigError::invalid(path, index.pos(&issue.key), Some(&issue.key), issue.message))?;
    let warnings = INERT_KEYS
        .iter()
        .filter(|(key, _)| index.contains(key))
        .map(|(key, why)| {
            let at = index.pos(key).map(|p| format!(":{}:{}", p.line, p.column)).unwrap_or_default();
            format!("{}{at}: {why}", path.display())
        })
        .collect();
    Ok(Loaded { config, path: path.to_path_buf(), warnings, max_run_duration })
}
