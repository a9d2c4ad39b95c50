//! Format-preserving edits of one key in a YAML, JSON or TOML config file: the file is parsed with a
//! real parser to read and type-check the value, the scalar's span is located, only that text
//! is replaced, and the result is parsed again to prove nothing else changed.
//!
//! This module owns the file's bytes only for the duration of one edit; it does not decide
//! which files may be edited (see `path_policy::confine`).

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;

use super::ChangeError;
use super::locate::{Flow, LocateError};
use super::render::{json_scalar, toml_scalar, yaml_scalar};
use super::{toml_file, yaml_block};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
    Toml,
}

impl Format {
    pub fn of(path: &Path) -> Result<Self, ChangeError> {
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("yaml" | "yml") => Ok(Self::Yaml),
            Some("json") => Ok(Self::Json),
            Some("toml") => Ok(Self::Toml),
            _ => Err(ChangeError::UnsupportedFormat { path: path.to_path_buf() }),
        }
    }
}

/// The current value of `dotted_key` in the file at `path`.
pub fn read_config_value(path: &Path, dotted_key: &str) -> Result<Value, ChangeError> {
    let format = Format::of(path)?;
    let text = read_text(path)?;
    read_value(&text, format, path, dotted_key)
}

/// Replace the value of `dotted_key` in place and return the previous value. Everything but
/// the scalar's text stays byte-identical; the file is replaced atomically.
pub fn write_config_value(path: &Path, dotted_key: &str, value: &Value) -> Result<Value, ChangeError> {
    let format = Format::of(path)?;
    let text = read_text(path)?;
    let edit = edit_text(&text, format, path, dotted_key, value)?;
    write_atomically(path, &edit.text)?;
    Ok(edit.previous)
}

/// The outcome of an in-memory edit.
#[derive(Debug, Clone)]
pub struct Edit {
    pub text: String,
    pub previous: Value,
    /// The value as written, after type coercion (an integral float for an int key becomes an
    /// int; an int for a float key becomes a float).
    pub written: Value,
}

pub fn read_text(path: &Path) -> Result<String, ChangeError> {
    std::fs::read_to_string(path).map_err(|source| ChangeError::Io { path: path.to_path_buf(), action: "read", source })
}

/// A parsed document, kept in the parser's own model so the verification compares like with
/// like (a YAML float written as `1.0e-05` equals the one it was rendered from).
#[derive(Debug, Clone, PartialEq)]
enum Doc {
    Yaml(serde_norway::Value),
    Json(Value),
    /// TOML through its JSON model (see `toml_file::to_json`).
    Toml(Value),
}

fn parse(text: &str, format: Format, path: &Path) -> Result<Doc, ChangeError> {
    let parse_error = |message: String| ChangeError::Parse { path: path.to_path_buf(), message };
    match format {
        Format::Yaml => serde_norway::from_str(text).map(Doc::Yaml).map_err(|e| parse_error(e.to_string())),
        Format::Json => serde_json::from_str(text).map(Doc::Json).map_err(|e| parse_error(e.to_string())),
        Format::Toml => toml_file::to_json(text).map(Doc::Toml).map_err(parse_error),
    }
}

/// Where a dotted key leads in a parsed document.
enum Lookup {
    Found(Value),
    Collection,
    Missing { level: usize },
    NotMapping { level: usize },
    Unconvertible,
}

fn lookup(doc: &Doc, parts: &[&str]) -> Lookup {
    match doc {
        Doc::Json(root) | Doc::Toml(root) => {
            let mut node = root;
            for (level, part) in parts.iter().enumerate() {
                let Value::Object(map) = node else {
                    return Lookup::NotMapping { level };
                };
                match map.get(*part) {
                    Some(child) => node = child,
                    None => return Lookup::Missing { level },
                }
            }
            match node {
                Value::Array(_) | Value::Object(_) => Lookup::Collection,
                scalar => Lookup::Found(scalar.clone()),
            }
        }
        Doc::Yaml(root) => {
            let mut node = root;
            for (level, part) in parts.iter().enumerate() {
                let serde_norway::Value::Mapping(map) = node else {
                    return Lookup::NotMapping { level };
                };
                match map.get(*part) {
                    Some(child) => node = child,
                    None => return Lookup::Missing { level },
                }
            }
            match node {
                serde_norway::Value::Mapping(_) | serde_norway::Value::Sequence(_) => Lookup::Collection,
                scalar => match serde_json::to_value(scalar) {
                    Ok(value) if !value.is_array() && !value.is_object() => Lookup::Found(value),
                    _ => Lookup::Unconvertible,
                },
            }
        }
    }
}

/// Put `value` at `parts` in a parsed document (used to build the expected result).
fn assign(doc: &mut Doc, parts: &[&str], value: &Value) -> bool {
    match doc {
        Doc::Json(root) | Doc::Toml(root) => {
            let mut node = root;
            for part in parts {
                match node.get_mut(*part) {
                    Some(child) => node = child,
                    None => return false,
                }
            }
            *node = value.clone();
            true
        }
        Doc::Yaml(root) => {
            let Ok(new) = serde_norway::to_value(value) else {
                return false;
            };
            let mut node = root;
            for part in parts {
                match node.get_mut(*part) {
                    Some(child) => node = child,
                    None => return false,
                }
            }
            *node = new;
            true
        }
    }
}

fn key_error(path: &Path, key: &str, parts: &[&str], found: Lookup) -> ChangeError {
    let prefix = |level: usize| parts[..level].join(".");
    match found {
        Lookup::Missing { level } => {
            ChangeError::MissingKey { path: path.to_path_buf(), key: key.to_string(), missing: prefix(level + 1) }
        }
        Lookup::NotMapping { level } => ChangeError::NotMapping {
            path: path.to_path_buf(),
            key: key.to_string(),
            at: if level == 0 { "the document root".to_string() } else { prefix(level) },
        },
        Lookup::Collection | Lookup::Found(_) => {
            ChangeError::NotScalar { path: path.to_path_buf(), key: key.to_string() }
        }
        Lookup::Unconvertible => ChangeError::CannotEdit {
            path: path.to_path_buf(),
            key: key.to_string(),
            reason: "the value has no JSON equivalent".to_string(),
        },
    }
}

fn split_key(key: &str) -> Vec<&str> {
    key.split('.').collect()
}

/// The value of `dotted_key` in `text`, a config file named `path` (its extension says the
/// format): a file as it was at some commit, not on disk.
pub fn value_in_text(text: &str, path: &Path, dotted_key: &str) -> Result<Value, ChangeError> {
    read_value(text, Format::of(path)?, path, dotted_key)
}

pub fn read_value(text: &str, format: Format, path: &Path, dotted_key: &str) -> Result<Value, ChangeError> {
    let parts = split_key(dotted_key);
    let doc = parse(text, format, path)?;
    match lookup(&doc, &parts) {
        Lookup::Found(value) => Ok(value),
        other => Err(key_error(path, dotted_key, &parts, other)),
    }
}

/// The value to write for a key that currently holds `current`, or why it does not fit.
pub fn coerce(current: &Value, new: &Value) -> Result<Value, String> {
    let kind = |v: &Value| match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a float",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    };
    match (current, new) {
        (_, Value::Array(_) | Value::Object(_)) => Err(format!("{} is not a scalar", kind(new))),
        (Value::Null, _) => Ok(new.clone()),
        (Value::Number(old), Value::Number(n)) => {
            let Some(x) = n.as_f64().filter(|x| x.is_finite()) else {
                return Err("the number is not finite".to_string());
            };
            if old.is_f64() {
                return serde_json::Number::from_f64(x)
                    .map(Value::Number)
                    .ok_or_else(|| "the number is not finite".to_string());
            }
            if n.is_f64() {
                if x.fract() != 0.0 || x.abs() > 9.0e15 {
                    return Err(format!("the key holds an integer, got {x}"));
                }
                #[allow(clippy::cast_possible_truncation)]
                return Ok(Value::from(x as i64));
            }
            Ok(new.clone())
        }
        (Value::Bool(_), Value::Bool(_)) | (Value::String(_), Value::String(_)) => Ok(new.clone()),
        _ => Err(format!("the key holds {}, got {}", kind(current), kind(new))),
    }
}

/// Edit `text` in memory: check the key and the value's type, replace the scalar's text, and
/// verify by re-parsing that the document changed at that key only.
pub fn edit_text(
    text: &str,
    format: Format,
    path: &Path,
    dotted_key: &str,
    value: &Value,
) -> Result<Edit, ChangeError> {
    let parts = split_key(dotted_key);
    let doc = parse(text, format, path)?;
    let previous = match lookup(&doc, &parts) {
        Lookup::Found(value) => value,
        other => return Err(key_error(path, dotted_key, &parts, other)),
    };
    let written = coerce(&previous, value).map_err(|reason| ChangeError::TypeMismatch {
        target: format!("{dotted_key} in {}", path.display()),
        reason,
    })?;
    let cannot =
        |reason: String| ChangeError::CannotEdit { path: path.to_path_buf(), key: dotted_key.to_string(), reason };
    let located = match format {
        Format::Yaml => yaml_block::locate(text, &parts),
        Format::Json => Flow::new(text, 0, false).locate(&parts, 0),
        Format::Toml => toml_file::locate(text, &parts),
    }
    .map_err(|e| match e {
        LocateError::Missing { level } => key_error(path, dotted_key, &parts, Lookup::Missing { level }),
        LocateError::NotMapping { level } => key_error(path, dotted_key, &parts, Lookup::NotMapping { level }),
        LocateError::NotScalar => key_error(path, dotted_key, &parts, Lookup::Collection),
        LocateError::Unsupported(reason) | LocateError::Syntax(reason) => cannot(reason),
    })?;
    let rendered = match format {
        Format::Yaml => yaml_scalar(&written, located.quote),
        Format::Json => json_scalar(&written),
        Format::Toml => toml_scalar(&written, located.quote),
    }
    .ok_or_else(|| cannot(format!("{written} cannot be written as a scalar")))?;
    let separator = if located.needs_space { " " } else { "" };
    let new_text = format!("{}{separator}{rendered}{}", &text[..located.start], &text[located.end..]);

    let mut expected = doc;
    let reparsed = parse(&new_text, format, path);
    let verified = assign(&mut expected, &parts, &written) && reparsed.as_ref().is_ok_and(|actual| *actual == expected);
    if !verified {
        return Err(cannot("the edited file would differ in more than this value; left unchanged".to_string()));
    }
    Ok(Edit { text: new_text, previous, written })
}

/// Dotted keys of the document that lead to a scalar (at most `limit`, in no promised order):
/// what a missing key's "did you mean" is chosen from.
pub fn scalar_keys(text: &str, format: Format, path: &Path, limit: usize) -> Result<Vec<String>, ChangeError> {
    let doc = parse(text, format, path)?;
    let json = match doc {
        Doc::Json(value) | Doc::Toml(value) => value,
        Doc::Yaml(value) => serde_json::to_value(value).unwrap_or(Value::Null),
    };
    let mut keys = Vec::new();
    let mut stack = vec![(String::new(), &json)];
    while let Some((prefix, node)) = stack.pop() {
        match node {
            Value::Object(map) => {
                for (key, child) in map.iter().rev() {
                    let dotted = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                    stack.push((dotted, child));
                }
            }
            Value::Array(_) => {}
            _ if !prefix.is_empty() => {
                keys.push(prefix);
                if keys.len() >= limit {
                    break;
                }
            }
            _ => {}
        }
    }
    Ok(keys)
}

/// Write `text` to a temporary file beside `path` and rename it over `path`, keeping the
/// original's permissions, so a reader never sees a half-written config.
pub fn write_atomically(path: &Path, text: &str) -> Result<(), ChangeError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let io = |action: &'static str, at: &Path| {
        let at = at.to_path_buf();
        move |source| ChangeError::Io { path: at, action, source }
    };
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temp = dir.join(format!(".{name}.revis-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed)));
    let result = (|| {
        let mut file =
            std::fs::OpenOptions::new().write(true).create_new(true).open(&temp).map_err(io("create", &temp))?;
        file.write_all(text.as_bytes()).map_err(io("write", &temp))?;
        if let Ok(meta) = std::fs::metadata(path) {
            file.set_permissions(meta.permissions()).map_err(io("set permissions of", &temp))?;
        }
        file.sync_all().map_err(io("sync", &temp))?;
        std::fs::rename(&temp, path).map_err(io("replace", path))
    })();
    if result.is_err() {
        // Best effort: the error that matters is the one already being returned.
        let _ = std::fs::remove_file(&temp);
    }
    result
}
