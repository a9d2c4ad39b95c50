//! The bridge between the search space and the worktree: reading the current value of every
//! search parameter, and turning a proposed point into the changes that produce it.

use std::path::Path;

use indexmap::IndexMap;
use serde_json::Value;

use super::ChangeError;
use super::args::{ArgValue, read_arg};
use super::config_file::read_config_value;
use crate::advisor::Change;
use crate::config::SearchParam;
use crate::path_policy::confine;

/// Where a parameter lives.
enum Location<'a> {
    Config { file: &'a str, key: &'a str },
    Arg(&'a str),
}

fn location<'a>(name: &str, param: &'a SearchParam) -> Result<Location<'a>, ChangeError> {
    match (&param.file, &param.key, &param.arg) {
        (Some(file), Some(key), _) => Ok(Location::Config { file, key }),
        (_, _, Some(arg)) => Ok(Location::Arg(arg)),
        _ => Err(ChangeError::BadParam { param: name.to_string() }),
    }
}

/// The current value of every parameter of `space`: from its config key, or from the training
/// command's argument (an absent argument reads as `null`, or `false` for a boolean knob).
pub fn current_params(
    space: &IndexMap<String, SearchParam>,
    worktree: &Path,
    command: &str,
) -> Result<IndexMap<String, Value>, ChangeError> {
    let mut current = IndexMap::with_capacity(space.len());
    for (name, param) in space {
        let value = match location(name, param)? {
            Location::Config { file, key } => {
                let real = confine(worktree, file)?;
                if !real.is_file() {
                    return Err(ChangeError::MissingFile { path: file.to_string() });
                }
                read_config_value(&real, key)?
            }
            Location::Arg(arg) => match read_arg(command, arg)? {
                None if is_boolean(param) => Value::Bool(false),
                None => Value::Null,
                Some(ArgValue::Flag) => Value::Bool(true),
                Some(ArgValue::Value(text)) => interpret(&text, param),
            },
        };
        current.insert(name.clone(), value);
    }
    Ok(current)
}

fn is_boolean(param: &SearchParam) -> bool {
    param.values.as_ref().is_some_and(|values| values.iter().any(Value::is_boolean))
}

/// An argument's text as the parameter's type: the matching categorical value, or a number for
/// a range; text that fits neither stays a string.
fn interpret(text: &str, param: &SearchParam) -> Value {
    let number = text.parse::<f64>().ok().filter(|x| x.is_finite());
    if let Some(values) = &param.values {
        let matching = values.iter().find(|v| match v {
            Value::String(s) => s == text,
            Value::Number(n) => number.is_some() && n.as_f64() == number,
            Value::Bool(b) => text.eq_ignore_ascii_case(if *b { "true" } else { "false" }),
            _ => false,
        });
        return matching.cloned().unwrap_or_else(|| Value::String(text.to_string()));
    }
    if param.is_int()
        && let Ok(n) = text.parse::<i64>()
    {
        return Value::from(n);
    }
    number.and_then(serde_json::Number::from_f64).map_or_else(|| Value::String(text.to_string()), Value::Number)
}

/// Numbers compare by value (`64` equals `64.0`).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// The changes that move the worktree from `from` to `to`, for the parameters that differ.
pub fn changes_for(
    space: &IndexMap<String, SearchParam>,
    from: &IndexMap<String, Value>,
    to: &IndexMap<String, Value>,
) -> Vec<Change> {
    space
        .iter()
        .filter_map(|(name, param)| {
            let new = to.get(name)?;
            if from.get(name).is_some_and(|old| same(old, new)) {
                return None;
            }
            match location(name, param).ok()? {
                Location::Config { file, key } => {
                    Some(Change::ConfigEdit { file: file.to_string(), key: key.to_string(), value: new.clone() })
                }
                Location::Arg(arg) => {
                    Some(Change::Arg { name: arg.to_string(), value: (!new.is_null()).then(|| new.clone()) })
                }
            }
        })
        .collect()
}
