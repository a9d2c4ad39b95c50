//! Reading a tool call's arguments as the model sent them (a JSON value of any shape) and
//! saying precisely what is wrong when they do not fit the schema. Lenient only where models
//! commonly slip harmlessly: integers written as `10.0` or `"10"`.

use serde_json::{Map, Value};

/// The arguments of one call of `tool`, checked against the names it takes.
pub struct Args<'a> {
    tool: &'static str,
    map: Option<&'a Map<String, Value>>,
}

impl<'a> Args<'a> {
    /// `null` counts as no arguments; anything but an object is refused, and so is an
    /// argument the tool does not take (a misspelt name would otherwise be silently ignored).
    pub fn new(tool: &'static str, value: &'a Value, takes: &[&str]) -> Result<Self, String> {
        let map = match value {
            Value::Null => None,
            Value::Object(map) => Some(map),
            other => return Err(format!("the arguments of {tool} must be a JSON object, got {}", kind(other))),
        };
        if let Some(unknown) = map.and_then(|m| m.keys().find(|k| !takes.contains(&k.as_str()))) {
            let list = if takes.is_empty() { "none".to_string() } else { takes.join(", ") };
            return Err(format!("{tool} has no argument `{unknown}` (it takes: {list})"));
        }
        Ok(Self { tool, map })
    }

    fn get(&self, name: &str) -> Option<&'a Value> {
        self.map.and_then(|m| m.get(name)).filter(|v| !v.is_null())
    }

    pub fn string(&self, name: &str) -> Result<Option<&'a str>, String> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(format!("{}: `{name}` must be a string, got {}", self.tool, kind(other))),
        }
    }

    pub fn required_string(&self, name: &str) -> Result<&'a str, String> {
        match self.string(name)? {
            Some(s) if !s.trim().is_empty() => Ok(s),
            Some(_) => Err(format!("{}: `{name}` must not be empty", self.tool)),
            None => Err(format!("{}: the argument `{name}` is required", self.tool)),
        }
    }

    /// A whole number in `min..=max`.
    pub fn integer(&self, name: &str, min: u64, max: u64) -> Result<Option<u64>, String> {
        let Some(value) = self.get(name) else {
            return Ok(None);
        };
        let number = match value {
            Value::Number(n) => n.as_u64().or_else(|| {
                n.as_f64().filter(|x| x.fract() == 0.0 && *x >= 0.0).map(|x| {
                    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                    let whole = x as u64;
                    whole
                })
            }),
            Value::String(s) => s.trim().parse::<u64>().ok(),
            _ => None,
        };
        match number {
            Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
            Some(n) => Err(format!("{}: `{name}` must be between {min} and {max}, got {n}", self.tool)),
            None => Err(format!("{}: `{name}` must be a whole number >= {min}, got {value}", self.tool)),
        }
    }

    /// One of `choices`.
    pub fn choice(&self, name: &str, choices: &[&'static str]) -> Result<Option<&'static str>, String> {
        let Some(given) = self.string(name)? else {
            return Ok(None);
        };
        let wanted = given.trim().to_ascii_lowercase();
        choices
            .iter()
            .copied()
            .find(|c| *c == wanted)
            .map(Some)
            .ok_or_else(|| format!("{}: `{name}` must be one of {}, got {given:?}", self.tool, choices.join(", ")))
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
