//! Checks on `search.space`: each parameter has exactly one target (a key in a YAML/JSON file
//! inside the project, or a CLI argument) and exactly one domain (a numeric range or a list of
//! values). It also settles `type` for ranges, because only the loader can still see whether the
//! bounds were written as integers. It does not sample or enumerate the space (the search
//! advisor does).
//!
//! Grid strategy: a float range with neither `step` nor `grid_points` is accepted and uses the
//! schema's default of 5 grid points; an int range without `step` uses step 1.

use super::index::KeyIndex;
use super::schema::{ParamKind, Search, SearchParam};
use super::validate::{Issue, relative_path_problem};

pub fn check_space(search: &mut Search, index: &KeyIndex) -> Result<(), Issue> {
    for (name, param) in search.space.iter_mut() {
        let key = format!("search.space.{name}");
        check_target(&key, param)?;
        check_domain(&key, param, index)?;
    }
    Ok(())
}

fn check_target(key: &str, p: &SearchParam) -> Result<(), Issue> {
    match (&p.file, &p.key, &p.arg) {
        (_, _, Some(_)) if p.file.is_some() || p.key.is_some() => {
            Err(Issue::new(format!("{key}.arg"), format!("{key}: give either 'file' and 'key', or 'arg', not both")))
        }
        (None, None, None) => Err(Issue::new(
            key,
            format!("{key}: needs a target: 'file' and 'key' (a config value) or 'arg' (a CLI argument)"),
        )),
        (None, None, Some(arg)) => {
            let name = arg.trim_start_matches('-');
            let well_formed = !name.is_empty() && !name.contains(|c: char| c.is_whitespace() || c == '=');
            if arg.starts_with('-') && well_formed {
                Ok(())
            } else {
                Err(Issue::new(
                    format!("{key}.arg"),
                    format!("{key}.arg: '{arg}' must be an option name starting with '-', e.g. --batch-size"),
                ))
            }
        }
        (Some(_), None, _) => Err(Issue::new(format!("{key}.file"), format!("{key}: 'file' needs 'key'"))),
        (None, Some(_), _) => Err(Issue::new(format!("{key}.key"), format!("{key}: 'key' needs 'file'"))),
        (Some(file), Some(dotted), _) => {
            if let Some(problem) = relative_path_problem(file) {
                return Err(Issue::new(format!("{key}.file"), format!("{key}.file: '{file}' {problem}")));
            }
            let lower = file.to_ascii_lowercase();
            if ![".yaml", ".yml", ".json"].iter().any(|ext| lower.ends_with(ext)) {
                return Err(Issue::new(
                    format!("{key}.file"),
                    format!("{key}.file: '{file}' must be a .yaml, .yml or .json file"),
                ));
            }
            if dotted.trim().is_empty() || dotted.split('.').any(str::is_empty) {
                return Err(Issue::new(
                    format!("{key}.key"),
                    format!("{key}.key: '{dotted}' must be a dotted key such as optimizer.lr"),
                ));
            }
            Ok(())
        }
    }
}

fn check_domain(key: &str, p: &mut SearchParam, index: &KeyIndex) -> Result<(), Issue> {
    let has_range = p.low.is_some() || p.high.is_some();
    match (&p.values, has_range) {
        (Some(_), true) => Err(Issue::new(
            format!("{key}.values"),
            format!("{key}: give either a range ('low' and 'high') or 'values', not both"),
        )),
        (None, false) => Err(Issue::new(key, format!("{key}: needs a range ('low' and 'high') or a list of 'values'"))),
        (Some(values), false) => {
            if values.is_empty() {
                return Err(Issue::new(format!("{key}.values"), format!("{key}.values must not be empty")));
            }
            for (i, v) in values.iter().enumerate() {
                if !(v.is_number() || v.is_string() || v.is_boolean()) {
                    return Err(Issue::new(
                        format!("{key}.values[{i}]"),
                        format!("{key}.values: each value must be a number, a string or a boolean (got {v})"),
                    ));
                }
            }
            for (field, set) in [
                ("log", p.log),
                ("step", p.step.is_some()),
                ("grid_points", p.grid_points.is_some()),
                ("type", p.kind.is_some()),
            ] {
                if set {
                    return Err(Issue::new(
                        format!("{key}.{field}"),
                        format!("{key}: '{field}' applies only to a range (low/high), not to 'values'"),
                    ));
                }
            }
            Ok(())
        }
        (None, true) => check_range(key, p, index),
    }
}

fn check_range(key: &str, p: &mut SearchParam, index: &KeyIndex) -> Result<(), Issue> {
    let (low, high) = match (p.low, p.high) {
        (Some(low), Some(high)) => (low, high),
        (Some(_), None) => {
            return Err(Issue::new(format!("{key}.low"), format!("{key}: 'low' needs 'high'")));
        }
        _ => {
            return Err(Issue::new(format!("{key}.high"), format!("{key}: 'high' needs 'low'")));
        }
    };
    if !(low.is_finite() && high.is_finite()) {
        return Err(Issue::new(format!("{key}.low"), format!("{key}: 'low' and 'high' must be finite numbers")));
    }
    if low >= high {
        return Err(Issue::new(
            format!("{key}.low"),
            format!("{key}: 'low' ({low}) must be less than 'high' ({high})"),
        ));
    }
    if p.log && low <= 0.0 {
        return Err(Issue::new(
            format!("{key}.low"),
            format!("{key}: a log range needs 'low' greater than 0 (got {low})"),
        ));
    }
    let written_as_ints = index.is_int_literal(&format!("{key}.low")) && index.is_int_literal(&format!("{key}.high"));
    let kind = *p.kind.get_or_insert(if written_as_ints { ParamKind::Int } else { ParamKind::Float });
    if kind == ParamKind::Int && (low.fract() != 0.0 || high.fract() != 0.0) {
        return Err(Issue::new(
            format!("{key}.type"),
            format!("{key}: type int needs whole-number bounds (got {low} .. {high})"),
        ));
    }
    if let Some(step) = p.step
        && !(step.is_finite() && step > 0.0)
    {
        return Err(Issue::new(format!("{key}.step"), format!("{key}.step must be greater than 0 (got {step})")));
    }
    if p.grid_points.is_some_and(|n| n < 2) {
        return Err(Issue::new(format!("{key}.grid_points"), format!("{key}.grid_points must be at least 2")));
    }
    Ok(())
}
