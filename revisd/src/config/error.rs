//! `ConfigError`: what went wrong with a revis.yaml, and where. It owns the wording of schema
//! errors (unknown/missing keys, wrong types) and the "did you mean" suggestion; it must not
//! decide what is valid (that is `decode.rs` and `validate.rs`).

use std::path::{Path, PathBuf};

use super::decode::{DecodeError, DecodeErrorKind};
use super::tree::Pos;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: cannot read: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}{}: {message}", .path.display(), position_suffix(*.pos))]
    Invalid {
        path: PathBuf,
        pos: Option<Pos>,
        /// Dotted path of the offending key, e.g. `guardrails.plateau_runs`.
        key: Option<String>,
        message: String,
    },
}

fn position_suffix(pos: Option<Pos>) -> String {
    pos.map(|p| format!(":{}:{}", p.line, p.column)).unwrap_or_default()
}

impl ConfigError {
    pub(crate) fn invalid(path: &Path, pos: Option<Pos>, key: Option<&str>, message: String) -> Self {
        Self::Invalid { path: path.to_path_buf(), pos, key: key.filter(|k| !k.is_empty()).map(str::to_string), message }
    }

    pub fn line(&self) -> Option<usize> {
        match self {
            Self::Invalid { pos: Some(p), .. } => Some(p.line),
            _ => None,
        }
    }

    pub fn column(&self) -> Option<usize> {
        match self {
            Self::Invalid { pos: Some(p), .. } => Some(p.column),
            _ => None,
        }
    }

    pub fn key(&self) -> Option<&str> {
        match self {
            Self::Invalid { key, .. } => key.as_deref(),
            Self::Io { .. } => None,
        }
    }

    /// The message without the file and position prefix.
    pub fn message(&self) -> String {
        match self {
            Self::Invalid { message, .. } => message.clone(),
            Self::Io { source, .. } => format!("cannot read: {source}"),
        }
    }

    pub fn path(&self) -> &Path {
        match self {
            Self::Io { path, .. } | Self::Invalid { path, .. } => path,
        }
    }

    pub(crate) fn from_decode(path: &Path, err: DecodeError) -> Self {
        let key = err.path.clone().unwrap_or_default();
        let message = match &err.kind {
            DecodeErrorKind::UnknownField { field, expected, section } => {
                let place = if section.is_empty() { "at the top level".to_string() } else { format!("in '{section}'") };
                format!("unknown key '{field}' {place}{}", suggestion(field, expected))
            }
            DecodeErrorKind::MissingField(field) if key.is_empty() => {
                format!("missing required section '{field}'")
            }
            DecodeErrorKind::MissingField(field) => format!("missing required key '{key}.{field}'"),
            DecodeErrorKind::UnknownVariant { value, expected } => {
                format!("{key}: unknown value '{value}'{}", suggestion(value, expected))
            }
            DecodeErrorKind::InvalidType { found, expected } if key.is_empty() => {
                format!("expected {expected}, found {found}")
            }
            DecodeErrorKind::InvalidType { found, expected } => {
                format!("{key}: expected {expected}, found {found}")
            }
            DecodeErrorKind::Custom(msg) if key.is_empty() => msg.clone(),
            DecodeErrorKind::Custom(msg) => format!("{key}: {msg}"),
        };
        let key = match &err.kind {
            DecodeErrorKind::MissingField(field) if key.is_empty() => field.to_string(),
            DecodeErrorKind::MissingField(field) => format!("{key}.{field}"),
            _ => key,
        };
        Self::invalid(path, err.pos, Some(&key), message)
    }
}

/// " (did you mean 'x'?)" when a known name is a plausible typo, else the list of known names.
pub(crate) fn suggestion(given: &str, known: &[&str]) -> String {
    let closest = known.iter().map(|k| (strsim::levenshtein(given, k), *k)).min_by_key(|(d, _)| *d);
    match closest {
        Some((distance, name)) if distance <= (given.chars().count() / 2).max(2) => {
            format!(" (did you mean '{name}'?)")
        }
        Some(_) => format!(" (expected one of: {})", known.join(", ")),
        None => String::new(),
    }
}
