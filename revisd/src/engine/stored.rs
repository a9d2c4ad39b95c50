//! The JSON the engine keeps in session and iteration rows (decisions, pending changes,
//! parameters, metrics, spend). A value that does not parse is an error that names what it
//! is and whose: it is never read as empty, which would silently drop a decision or a history.

use serde::de::DeserializeOwned;

use crate::store::IterationRow;

use super::{EngineError, Result};

/// Parses `text`, a stored `field` of iteration `it`.
pub(crate) fn parse<T: DeserializeOwned>(text: &str, field: &'static str, it: &IterationRow) -> Result<T> {
    serde_json::from_str(text).map_err(|e| super::records::corrupt(field, it, e))
}

/// Like [`parse`] for a column that may be empty (NULL).
pub(crate) fn parse_opt<T: DeserializeOwned>(
    text: Option<&str>,
    field: &'static str,
    it: &IterationRow,
) -> Result<Option<T>> {
    text.map(|t| parse(t, field, it)).transpose()
}

/// Serializes a value for storing; a failure is a bug (every stored type is plain data).
pub(crate) fn to_json<T: serde::Serialize>(value: &T, what: &'static str) -> Result<String> {
    serde_json::to_string(value).map_err(|e| EngineError::Internal(format!("serializing {what}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_that_does_not_parse_is_an_error_naming_field_and_iteration() {
        let it = crate::store::iterations::sample(7, 3);
        let e = parse::<indexmap::IndexMap<String, f64>>("{\"lr\": 0.1", "params_json", &it).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("params_json") && text.contains("session 7 iteration 3"), "{text}");
        assert_eq!(parse_opt::<Vec<f64>>(None, "replicates_json", &it).unwrap(), None);
        assert_eq!(parse::<Vec<f64>>("[1.0]", "replicates_json", &it).unwrap(), vec![1.0]);
    }
}
