//! Edits of the search space during a session: the LLM (in a hybrid session) widens a range
//! whose best value sits at an edge, narrows one around the good region, or changes a
//! categorical parameter's values. An edit is checked like revis.yaml's own `search.space`
//! entry, and keeps where the parameter lives and how it is scaled: only its domain moves.

use indexmap::IndexMap;
use serde_json::Value;

use super::space::Domain;
use crate::advisor::SpaceEdit;
use crate::config::{ParamKind, SearchParam};

/// `space` with `edits` applied in order, or every problem found (named by the edit's index).
pub fn apply_edits(
    space: &IndexMap<String, SearchParam>,
    edits: &[SpaceEdit],
) -> Result<IndexMap<String, SearchParam>, Vec<String>> {
    let mut out = space.clone();
    let mut problems = Vec::new();
    for (i, edit) in edits.iter().enumerate() {
        let Some(param) = out.get(&edit.param) else {
            let known: Vec<&str> = space.keys().map(String::as_str).collect();
            problems.push(format!(
                "search_space[{i}]: `{}` is not a searched parameter (they are: {})",
                edit.param,
                known.join(", ")
            ));
            continue;
        };
        match edited(param, edit) {
            Ok(new) => {
                out.insert(edit.param.clone(), new);
            }
            Err(reason) => problems.push(format!("search_space[{i}] ({}): {reason}", edit.param)),
        }
    }
    if problems.is_empty() { Ok(out) } else { Err(problems) }
}

fn edited(param: &SearchParam, edit: &SpaceEdit) -> Result<SearchParam, String> {
    let mut new = param.clone();
    match (&param.values, &edit.values) {
        (Some(_), Some(values)) if edit.low.is_none() && edit.high.is_none() => new.values = Some(values.clone()),
        (Some(_), _) => return Err("a categorical parameter takes `values` only".into()),
        (None, Some(_)) => return Err("a numeric range takes `low` and/or `high`, not `values`".into()),
        (None, None) => {
            if edit.low.is_none() && edit.high.is_none() {
                return Err("give `low`, `high` or both".into());
            }
            // The type is fixed before the bounds move: integral bounds must not turn a float
            // range into an int one, nor fractional ones an int range into a float one.
            new.kind = Some(if param.is_int() { ParamKind::Int } else { ParamKind::Float });
            new.low = edit.low.or(param.low);
            new.high = edit.high.or(param.high);
        }
    }
    Domain::new(&new)?;
    Ok(new)
}

/// The edits in words, old domain → new: `lr: 0.0001..1 → 1e-05..0.1 (log)`.
pub fn describe(before: &IndexMap<String, SearchParam>, edits: &[SpaceEdit]) -> String {
    let domain = |p: &SearchParam| match (&p.values, p.low, p.high) {
        (Some(values), _, _) => Value::from(values.clone()).to_string(),
        (None, Some(low), Some(high)) => format!("{low}..{high}{}", if p.log { " (log)" } else { "" }),
        _ => "?".to_string(),
    };
    let mut space = before.clone();
    let mut parts = Vec::new();
    for edit in edits {
        let Some(old) = space.get(&edit.param).cloned() else { continue };
        let Ok(new) = edited(&old, edit) else { continue };
        parts.push(format!("{}: {} → {}", edit.param, domain(&old), domain(&new)));
        space.insert(edit.param.clone(), new);
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn space() -> IndexMap<String, SearchParam> {
        let yaml = "lr: {file: c.json, key: lr, low: 1.0e-4, high: 1.0, log: true}\n\
                    layers: {arg: --layers, low: 1, high: 8}\n\
                    act: {arg: --act, values: [relu, gelu]}\n";
        serde_norway::from_str(yaml).unwrap_or_else(|e| panic!("{e}"))
    }

    fn edit(param: &str, low: Option<f64>, high: Option<f64>, values: Option<Vec<Value>>) -> SpaceEdit {
        SpaceEdit { param: param.into(), low, high, values }
    }

    #[test]
    fn a_range_moves_its_bounds_and_keeps_its_place_scale_and_type() {
        let out = apply_edits(&space(), &[edit("lr", Some(1e-6), None, None), edit("layers", None, Some(16.0), None)])
            .unwrap_or_else(|e| panic!("{e:?}"));
        let lr = &out["lr"];
        assert_eq!((lr.low, lr.high, lr.log), (Some(1e-6), Some(1.0), true));
        assert_eq!((lr.file.as_deref(), lr.key.as_deref()), (Some("c.json"), Some("lr")));
        assert_eq!(lr.kind, Some(ParamKind::Float));
        assert_eq!(
            (out["layers"].low, out["layers"].high, out["layers"].kind),
            (Some(1.0), Some(16.0), Some(ParamKind::Int))
        );
        // A float range given whole-number bounds stays a float range.
        let out = apply_edits(&space(), &[edit("lr", Some(1.0), Some(2.0), None)]).unwrap_or_else(|e| panic!("{e:?}"));
        assert!(!out["lr"].is_int());
    }

    #[test]
    fn a_categorical_parameter_takes_new_values() {
        let values = vec![Value::from("relu"), Value::from("silu")];
        let out =
            apply_edits(&space(), &[edit("act", None, None, Some(values.clone()))]).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(out["act"].values, Some(values));
    }

    #[test]
    fn every_bad_edit_is_named_with_its_index() {
        let bad = [
            edit("momentum", Some(0.1), None, None),
            edit("lr", Some(-1.0), None, None),
            edit("lr", Some(2.0), None, None),
            edit("layers", Some(1.5), None, None),
            edit("act", Some(1.0), None, None),
            edit("lr", None, None, Some(vec![Value::from(1)])),
            edit("lr", None, None, None),
            edit("act", None, None, Some(vec![])),
        ];
        let problems = apply_edits(&space(), &bad).err().unwrap_or_default();
        assert_eq!(problems.len(), bad.len(), "{problems:#?}");
        assert!(
            problems[0].contains("`momentum` is not a searched parameter (they are: lr, layers, act)"),
            "{}",
            problems[0]
        );
        assert!(problems[1].contains("search_space[1] (lr)") && problems[1].contains("low"), "{}", problems[1]);
        assert!(problems[2].contains("below"), "{}", problems[2]);
        assert!(problems[3].contains("integer"), "{}", problems[3]);
    }

    #[test]
    fn the_description_shows_old_and_new_domains() {
        let text = describe(&space(), &[edit("lr", Some(1e-5), Some(0.1), None)]);
        assert_eq!(text, "lr: 0.0001..1 (log) → 0.00001..0.1 (log)");
    }
}
