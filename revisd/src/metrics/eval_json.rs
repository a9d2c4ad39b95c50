//! `eval_json`: `$REVIS_OUTPUT_DIR/eval.json` = `{"metrics": {"name": number, ...}}`.
//!
//! Python's `json.dump` writes `NaN`, `Infinity` and `-Infinity` as bare tokens, which are not
//! JSON. A NaN metric is a training problem to report as such, not a parse error, so those
//! tokens are accepted here and reported by `assess`. Only those tokens: a JSON string never
//! becomes a number, whatever it holds (see `parse`).

use std::collections::BTreeMap;
use std::path::Path;

use super::{BoxFuture, Collected, MetricsError, MetricsSource, RunContext};

pub struct EvalJson;

impl MetricsSource for EvalJson {
    fn collect<'a>(&'a self, run: &'a RunContext) -> BoxFuture<'a, Result<Collected, MetricsError>> {
        Box::pin(async move {
            let path = run.output_dir.join("eval.json");
            let text = match tokio::fs::read_to_string(&path).await {
                Ok(text) => text,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(MetricsError::NotFound(path)),
                Err(source) => return Err(MetricsError::Unreadable { path, source }),
            };
            parse(&text, &path)
        })
    }
}

const NAN: &str = "\u{0}revis:NaN";
const POS_INF: &str = "\u{0}revis:Infinity";
const NEG_INF: &str = "\u{0}revis:-Infinity";

/// The sentinels are ordinary strings once parsed, so a file could spell one itself
/// (`"\u0000revis:NaN"`). A value is taken for a token only when the same text with every token
/// replaced by `null` has `null` at that place: the two parses differ exactly where tokens were.
pub fn parse(text: &str, path: &Path) -> Result<Collected, MetricsError> {
    let invalid = |e: serde_json::Error| MetricsError::InvalidJson { path: path.to_path_buf(), detail: e.to_string() };
    let (normalized, tokens) = replace_non_finite_tokens(text, Replacement::Sentinel);
    let value: serde_json::Value = serde_json::from_str(&normalized).map_err(invalid)?;
    // A token where a key belongs parses as a sentinel key but is not JSON even for Python.
    let with_nulls: Option<serde_json::Value> = if tokens > 0 {
        Some(serde_json::from_str(&replace_non_finite_tokens(text, Replacement::Null).0).map_err(invalid)?)
    } else {
        None
    };
    let Some(metrics) = value.get("metrics").and_then(|m| m.as_object()) else {
        return Err(MetricsError::NoMetricsObject(path.to_path_buf()));
    };
    let token_at = |name: &str| {
        with_nulls.as_ref().and_then(|v| v.get("metrics")).and_then(|m| m.get(name)).is_some_and(|v| v.is_null())
    };
    let mut out = Collected { metrics: BTreeMap::new(), warnings: Vec::new(), history: None };
    for (name, value) in metrics {
        let number = match value {
            serde_json::Value::Number(n) => n.as_f64(),
            serde_json::Value::String(s) if s == NAN && token_at(name) => Some(f64::NAN),
            serde_json::Value::String(s) if s == POS_INF && token_at(name) => Some(f64::INFINITY),
            serde_json::Value::String(s) if s == NEG_INF && token_at(name) => Some(f64::NEG_INFINITY),
            _ => None,
        };
        match number {
            Some(n) => {
                out.metrics.insert(name.clone(), n);
            }
            None => {
                out.warnings.push(format!("eval.json: metric '{name}' ignored: {} is not a number", describe(value)))
            }
        }
    }
    Ok(out)
}

fn describe(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "an object",
        serde_json::Value::Number(_) => "a number",
    }
}

#[derive(Clone, Copy)]
enum Replacement {
    Sentinel,
    Null,
}

/// Replaces bare NaN / Infinity / -Infinity tokens outside strings by sentinel strings (or
/// `null`), and counts them.
fn replace_non_finite_tokens(text: &str, with: Replacement) -> (String, usize) {
    let mut out = String::with_capacity(text.len());
    let mut count = 0;
    let mut in_string = false;
    let mut escaped = false;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            rest = &rest[c.len_utf8()..];
            continue;
        }
        let replaced = [("-Infinity", NEG_INF), ("Infinity", POS_INF), ("NaN", NAN)]
            .into_iter()
            .find(|(token, _)| rest.starts_with(token));
        if let Some((token, sentinel)) = replaced {
            count += 1;
            match with {
                Replacement::Sentinel => {
                    out.push('"');
                    out.push_str(&sentinel.replace('\u{0}', "\\u0000"));
                    out.push('"');
                }
                Replacement::Null => out.push_str("null"),
            }
            rest = &rest[token.len()..];
            continue;
        }
        if c == '"' {
            in_string = true;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    (out, count)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<Collected, MetricsError> {
        parse(text, Path::new("/run/eval.json"))
    }

    #[test]
    fn reads_numbers_and_ignores_the_rest_with_warnings() {
        let c = p(r#"{"metrics": {"val_loss": 0.5, "acc": 1, "note": "x", "flag": true}}"#).unwrap();
        assert_eq!(c.metrics.len(), 2);
        assert_eq!(c.metrics["val_loss"], 0.5);
        assert_eq!(c.warnings.len(), 2);
        assert!(c.warnings.iter().any(|w| w.contains("'note'")));
    }

    #[test]
    fn python_non_finite_tokens_are_values_not_parse_errors() {
        let c = p(r#"{"metrics": {"a": NaN, "b": Infinity, "c": -Infinity, "d": "NaN in a string"}}"#).unwrap();
        assert!(c.metrics["a"].is_nan());
        assert_eq!(c.metrics["b"], f64::INFINITY);
        assert_eq!(c.metrics["c"], f64::NEG_INFINITY);
        assert!(!c.metrics.contains_key("d"));
    }

    #[test]
    fn a_string_spelling_a_sentinel_is_not_a_number() {
        // Found by the `eval_json` fuzz target: the escaped sentinel was read as NaN (and as
        // infinities), though the file holds only strings.
        let c = p(r#"{"metrics": {"a": "\u0000revis:NaN", "b": "\u0000revis:Infinity", "c": 2}}"#).unwrap();
        assert_eq!(c.metrics.len(), 1, "{:?}", c.metrics);
        assert_eq!(c.warnings.len(), 2);
        // With a real token elsewhere too, only the token is a number.
        let c = p(r#"{"metrics": {"a": "\u0000revis:NaN", "b": NaN}}"#).unwrap();
        assert!(!c.metrics.contains_key("a"));
        assert!(c.metrics["b"].is_nan());
        // A token used as a key is not JSON, not a metric named after the sentinel.
        assert!(matches!(p(r#"{"metrics": {NaN: 1.0}}"#), Err(MetricsError::InvalidJson { .. })));
    }

    #[test]
    fn bad_json_and_missing_metrics_object_are_errors() {
        assert!(matches!(p("{\"metrics\": {"), Err(MetricsError::InvalidJson { .. })));
        assert!(matches!(p("{\"val_loss\": 1.0}"), Err(MetricsError::NoMetricsObject(_))));
        assert!(matches!(p("[1, 2]"), Err(MetricsError::NoMetricsObject(_))));
    }
}
