//! TOML for the config editor: a JSON model of the document (to read and type-check a key and
//! to verify an edit) and the byte span of one scalar, taken from `toml_edit`'s spans so an edit
//! replaces exactly the value's text and keeps comments, order and formatting.
//!
//! Like the YAML and JSON locators, this never decides what a value means beyond its TOML type;
//! the caller re-parses the edited text to prove nothing else changed.

use serde_json::{Map, Value};
use toml_edit::{Document, Item};

use super::locate::{LocateError, Scalar};
use super::render::YamlQuote;

/// The document as JSON: integers stay integers, floats floats; datetimes become their text,
/// and NaN or infinite floats their TOML spelling (JSON has neither).
pub fn to_json(text: &str) -> Result<Value, String> {
    let doc = Document::parse(text).map_err(|e| e.to_string())?;
    Ok(item_json(doc.as_item()))
}

fn item_json(item: &Item) -> Value {
    match item {
        Item::None => Value::Null,
        Item::Value(value) => value_json(value),
        Item::Table(table) => {
            Value::Object(table.iter().map(|(k, v)| (k.to_string(), item_json(v))).collect::<Map<_, _>>())
        }
        Item::ArrayOfTables(tables) => Value::Array(
            tables
                .iter()
                .map(|t| Value::Object(t.iter().map(|(k, v)| (k.to_string(), item_json(v))).collect()))
                .collect(),
        ),
    }
}

fn value_json(value: &toml_edit::Value) -> Value {
    use toml_edit::Value as T;
    match value {
        T::String(s) => Value::String(s.value().clone()),
        T::Integer(i) => Value::from(*i.value()),
        T::Float(f) => {
            serde_json::Number::from_f64(*f.value()).map_or_else(|| Value::String(f.value().to_string()), Value::Number)
        }
        T::Boolean(b) => Value::Bool(*b.value()),
        T::Datetime(d) => Value::String(d.value().to_string()),
        T::Array(a) => Value::Array(a.iter().map(value_json).collect()),
        T::InlineTable(t) => Value::Object(t.iter().map(|(k, v)| (k.to_string(), value_json(v))).collect()),
    }
}

/// A step down the document: tables hold items, inline tables hold values.
enum Node<'a> {
    Item(&'a Item),
    Value(&'a toml_edit::Value),
}

/// The span of the scalar at `path`, and how a string there was quoted.
pub fn locate(text: &str, path: &[&str]) -> Result<Scalar, LocateError> {
    let doc = Document::parse(text).map_err(|e| LocateError::Syntax(e.to_string()))?;
    let mut node = Node::Item(doc.as_item());
    for (level, part) in path.iter().enumerate() {
        node = match node {
            Node::Item(Item::Table(table)) => Node::Item(table.get(part).ok_or(LocateError::Missing { level })?),
            Node::Item(Item::Value(toml_edit::Value::InlineTable(table)))
            | Node::Value(toml_edit::Value::InlineTable(table)) => {
                Node::Value(table.get(part).ok_or(LocateError::Missing { level })?)
            }
            _ => return Err(LocateError::NotMapping { level }),
        };
    }
    let value = match node {
        Node::Item(Item::Value(value)) | Node::Value(value) => value,
        Node::Item(_) => return Err(LocateError::NotScalar),
    };
    match value {
        toml_edit::Value::Array(_) | toml_edit::Value::InlineTable(_) => return Err(LocateError::NotScalar),
        toml_edit::Value::Datetime(_) => {
            return Err(LocateError::Unsupported("TOML dates and times cannot be edited".to_string()));
        }
        _ => {}
    }
    let span = value.span().ok_or_else(|| LocateError::Unsupported("the value's position is unknown".to_string()))?;
    let raw = text.get(span.clone()).ok_or_else(|| LocateError::Syntax("value span out of range".to_string()))?;
    // A multi-line string is rewritten as a basic string, which is always valid in its place.
    let quote = if raw.starts_with("'''") || raw.starts_with('"') {
        YamlQuote::Double
    } else if raw.starts_with('\'') {
        YamlQuote::Single
    } else {
        YamlQuote::Plain
    };
    Ok(Scalar { start: span.start, end: span.end, quote, needs_space: false })
}
