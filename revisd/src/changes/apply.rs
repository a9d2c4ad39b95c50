//! Validating and applying a decision's changes as one unit: every change is planned in memory
//! first (paths confined, keys found, types checked), and files are written only when all of
//! them are valid.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde_json::Value;

use super::ChangeError;
use super::args::{ArgValue, read_arg, set_arg};
use super::config_file::{Format, edit_text, read_text, write_atomically};
use super::render::number_text;
use crate::advisor::Change;
use crate::path_policy::confine;

/// The outcome of [`apply`]: the training command after the changes, and what each one did.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub command: String,
    pub applied: Vec<AppliedChange>,
    /// `Code` changes, in order, left for a coding agent (or the user): `apply` never performs
    /// them, and the engine pauses the session for them before or after applying the rest.
    pub deferred: Vec<Change>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AppliedChange {
    /// The change as applied (a config value after type coercion, e.g. `64.0` → `64`).
    pub change: Change,
    /// The value before: a config value, an argument's value (`true` for a bare flag, `None`
    /// when absent), or the previous command.
    pub previous: Option<Value>,
    /// One line for humans: `optimizer.lr in configs/base.json: 0.01 → 0.003`.
    pub summary: String,
}

/// A config file being edited: its current text and whether it changed.
pub(super) struct PendingFile {
    pub text: String,
    pub changed: bool,
}

/// A decision being applied in memory: config files by real path, the command so far, and
/// what each change did. Nothing touches the disk until [`Plan::write`].
pub(super) struct Plan {
    pub files: IndexMap<PathBuf, PendingFile>,
    pub command: String,
    pub applied: Vec<AppliedChange>,
    pub deferred: Vec<Change>,
}

impl Plan {
    pub fn new(command: &str) -> Self {
        Self { files: IndexMap::new(), command: command.to_string(), applied: Vec::new(), deferred: Vec::new() }
    }

    /// Apply one change in memory. On error the plan is unchanged, so later changes can still
    /// be checked against the state the earlier valid ones produced.
    pub fn add(&mut self, worktree: &Path, change: &Change) -> Result<(), ChangeError> {
        let done = match change {
            Change::ConfigEdit { file, key, value } => {
                let real = confine(worktree, file)?;
                let format = Format::of(Path::new(file))?;
                if !self.files.contains_key(&real) {
                    if !real.is_file() {
                        return Err(ChangeError::MissingFile { path: file.clone() });
                    }
                    self.files.insert(real.clone(), PendingFile { text: read_text(&real)?, changed: false });
                }
                let Some(pending) = self.files.get_mut(&real) else {
                    return Err(ChangeError::MissingFile { path: file.clone() });
                };
                let edit = edit_text(&pending.text, format, Path::new(file), key, value)?;
                pending.text = edit.text;
                pending.changed = true;
                AppliedChange {
                    summary: format!("{key} in {file}: {} → {}", show(&edit.previous), show(&edit.written)),
                    change: Change::ConfigEdit { file: file.clone(), key: key.clone(), value: edit.written },
                    previous: Some(edit.previous),
                }
            }
            Change::Arg { name, value } => {
                let before = read_arg(&self.command, name)?;
                let command = set_arg(&self.command, name, value.as_ref())?;
                let after = read_arg(&command, name)?;
                self.command = command;
                AppliedChange {
                    summary: format!("{name}: {} → {}", show_arg(before.as_ref()), show_arg(after.as_ref())),
                    change: change.clone(),
                    previous: before.map(|v| match v {
                        ArgValue::Flag => Value::Bool(true),
                        ArgValue::Value(text) => Value::String(text),
                    }),
                }
            }
            Change::Command { text } => {
                let previous = std::mem::replace(&mut self.command, text.clone());
                AppliedChange {
                    summary: format!("command: `{previous}` → `{text}`"),
                    change: change.clone(),
                    previous: Some(Value::String(previous)),
                }
            }
            Change::Code { .. } => {
                self.deferred.push(change.clone());
                return Ok(());
            }
        };
        self.applied.push(done);
        Ok(())
    }

    /// Write every changed file (each atomically) and return the outcome.
    pub fn write(self) -> Result<Applied, ChangeError> {
        for real in self.files.iter().filter(|(_, p)| p.changed).map(|(real, _)| real) {
            still_where_planned(real)?;
        }
        for (real, pending) in &self.files {
            if pending.changed {
                write_atomically(real, &pending.text)?;
            }
        }
        Ok(Applied { command: self.command, applied: self.applied, deferred: self.deferred })
    }
}

/// The plan holds real paths (`confine` resolved every symlink and proved them inside the
/// worktree). If the file or a directory above it has become a symlink since, writing would go
/// wherever it now leads, so the write is refused. The replacement itself is a rename, which
/// never follows a symlink in the last component. This narrows the check-to-write window, it
/// does not close it (that would take openat2 with RESOLVE_BENEATH); nothing else is meant to
/// run in the worktree while a decision is applied.
fn still_where_planned(real: &Path) -> Result<(), ChangeError> {
    let moved =
        |reason: &str| ChangeError::OutsideWorktree { path: real.display().to_string(), reason: reason.to_string() };
    match std::fs::symlink_metadata(real) {
        Ok(meta) if meta.file_type().is_symlink() => return Err(moved("it became a symlink after it was checked")),
        Ok(meta) if !meta.is_file() => return Err(moved("it is no longer a regular file")),
        Ok(_) => {}
        Err(_) => return Err(moved("it disappeared after it was checked")),
    }
    let parent = real.parent().unwrap_or(Path::new("/"));
    match parent.canonicalize() {
        Ok(now) if now == parent => Ok(()),
        _ => Err(moved("a directory above it became a symlink after it was checked")),
    }
}

/// Apply `changes` to the worktree and to `command`. Nothing is written unless every change
/// is valid. `Code` changes are not performed: they are returned in [`Applied::deferred`].
/// Deny lists are not checked here; decisions from the LLM go through `validate` first.
pub fn apply(worktree: &Path, command: &str, changes: &[Change]) -> Result<Applied, ChangeError> {
    let mut plan = Plan::new(command);
    for change in changes {
        plan.add(worktree, change)?;
    }
    plan.write()
}

fn show(value: &Value) -> String {
    match value {
        Value::Number(n) => number_text(n).unwrap_or_else(|| n.to_string()),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn show_arg(value: Option<&ArgValue>) -> String {
    match value {
        None => "(absent)".to_string(),
        Some(ArgValue::Flag) => "(flag)".to_string(),
        Some(ArgValue::Value(text)) => text.clone(),
    }
}
