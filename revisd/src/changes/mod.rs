//! Applying a decision to a worktree: config-file edits (YAML, JSON, TOML) that keep every other
//! byte of the file, CLI-argument changes in the training command, and command replacement.
//! Every change is validated before anything is written, so a bad decision leaves the worktree
//! untouched; `validate` lists every problem of a decision at once, for the LLM to correct.
//!
//! This module never decides *what* to change (advisors do) and never commits (workspace does).
//! Code changes belong to coding agents: they are checked here but never applied.

mod apply;
mod args;
mod config_file;
mod locate;
mod params;
mod render;
mod shell;
mod toml_file;
mod validate;
mod yaml_block;

use std::path::PathBuf;

use crate::path_policy::PolicyError;

pub use apply::{Applied, AppliedChange, apply};
pub use args::{ArgValue, read_arg, set_arg};
pub use config_file::{read_config_value, value_in_text, write_config_value};
pub use params::{changes_for, current_params};
pub use render::float_text;
pub use validate::validate;

#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error("path `{path}` is not allowed: {reason}")]
    OutsideWorktree { path: String, reason: String },
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("config file `{path}` does not exist in the worktree")]
    MissingFile { path: String },
    #[error("{}: only YAML (.yaml, .yml), JSON (.json) and TOML (.toml) config files can be edited", path.display())]
    UnsupportedFormat { path: PathBuf },
    #[error("cannot parse {}: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    #[error("key `{key}` not found in {}: `{missing}` does not exist", path.display())]
    MissingKey { path: PathBuf, key: String, missing: String },
    #[error("key `{key}` not found in {}: {at} is not a mapping", path.display())]
    NotMapping { path: PathBuf, key: String, at: String },
    #[error("key `{key}` in {} holds a mapping or a list, not a single value", path.display())]
    NotScalar { path: PathBuf, key: String },
    #[error("cannot edit `{key}` in {}: {reason}", path.display())]
    CannotEdit { path: PathBuf, key: String, reason: String },
    #[error("wrong value for {target}: {reason}")]
    TypeMismatch { target: String, reason: String },
    #[error("`{name}` is not a CLI option name (expected something like `--batch-size`)")]
    BadArgName { name: String },
    #[error("cannot parse the command `{command}`: {reason}")]
    Shell { command: String, reason: String },
    #[error("search parameter `{param}` names neither `file` with `key` nor `arg`")]
    BadParam { param: String },
    #[error("{what} cannot be applied here")]
    Unsupported { what: String },
    /// A named path that cannot be resolved at all (the worktree is gone).
    #[error(transparent)]
    Path(PolicyError),
}

/// The path policy speaks of paths in general; here a refused path is one a change named.
impl From<PolicyError> for ChangeError {
    fn from(error: PolicyError) -> Self {
        match error {
            PolicyError::Refused { path, reason } => Self::OutsideWorktree { path, reason },
            other => Self::Path(other),
        }
    }
}

#[cfg(test)]
mod tests;
