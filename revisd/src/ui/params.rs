//! The parameters view: each trial's value of every parameter a change touched (a config key
//! or a CLI argument), and how much of the metric's spread each one explains.
//!
//! A trial's values are its parent's with its own changes on top (the ratchet: a trial starts
//! from the state of the trial it names as parent); a value before any change is the
//! `previous` of the first change that touched it.
//!
//! Importance is the correlation ratio η² of the metric on each parameter: the share of the
//! metric's variance between groups of trials (a categorical value, or one of four quantile
//! bins of a numeric one). It is what optuna-dashboard users read as "which knob matters",
//! needs no model, and says nothing about interactions; scores are scaled to sum to 1.

use std::collections::BTreeMap;

use revis_proto::v1 as pb;
use serde::Serialize;

#[derive(Debug, Serialize, PartialEq)]
pub struct Table {
    pub params: Vec<Param>,
    /// One row per trial with a metric, in trial order.
    pub trials: Vec<Trial>,
    /// Most important first.
    pub importance: Vec<Importance>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Param {
    pub name: String,
    /// Every value parses as a number.
    pub numeric: bool,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Trial {
    pub number: u32,
    pub primary: f64,
    /// Parallel to `params`: the value (JSON text as the change wrote it), or none.
    pub values: Vec<Option<String>>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Importance {
    pub name: String,
    pub score: f64,
}

/// The parameter a change sets: `file:key` for a config edit, `--name` for an argument.
fn param_of(change: &pb::Change) -> Option<String> {
    match change.kind.as_str() {
        "config_edit" => {
            let key = change.key.as_deref()?;
            Some(match change.file.as_deref() {
                Some(file) => format!("{key} ({file})"),
                None => key.to_string(),
            })
        }
        "arg" => change.name.clone(),
        _ => None,
    }
}

pub fn table(iterations: &[pb::Iteration]) -> Table {
    let mut order: Vec<String> = Vec::new();
    let mut initial: BTreeMap<String, String> = BTreeMap::new();
    let mut points: BTreeMap<u32, BTreeMap<String, String>> = BTreeMap::new();
    let mut sorted: Vec<&pb::Iteration> = iterations.iter().collect();
    sorted.sort_by_key(|it| it.number);
    for it in &sorted {
        let mut point = it.parent.and_then(|p| points.get(&p).cloned()).unwrap_or_default();
        for change in &it.changes {
            let Some(name) = param_of(change) else { continue };
            if !order.contains(&name) {
                order.push(name.clone());
            }
            if let Some(previous) = &change.previous {
                initial.entry(name.clone()).or_insert_with(|| previous.clone());
            }
            match change.value.as_deref() {
                Some("null") | None => point.remove(&name),
                Some(value) => point.insert(name, value.to_string()),
            };
        }
        points.insert(it.number, point);
    }
    let trials: Vec<Trial> = sorted
        .iter()
        .filter_map(|it| {
            let primary = it.primary.filter(|v| v.is_finite())?;
            let point = points.get(&it.number);
            let values = order
                .iter()
                .map(|name| point.and_then(|p| p.get(name)).or_else(|| initial.get(name)).cloned())
                .collect();
            Some(Trial { number: it.number, primary, values })
        })
        .collect();
    let params: Vec<Param> = order
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let mut seen = trials.iter().filter_map(|t| t.values[i].as_deref()).peekable();
            let numeric = seen.peek().is_some() && seen.all(|v| number(v).is_some());
            Param { name: name.clone(), numeric }
        })
        .collect();
    let importance = importance(&params, &trials);
    Table { params, trials, importance }
}

fn number(text: &str) -> Option<f64> {
    text.trim().trim_matches('"').parse::<f64>().ok().filter(|v| v.is_finite())
}

fn importance(params: &[Param], trials: &[Trial]) -> Vec<Importance> {
    let mut scores: Vec<Importance> = params
        .iter()
        .enumerate()
        .map(|(i, param)| {
            let pairs: Vec<(String, f64)> =
                trials.iter().filter_map(|t| t.values[i].clone().map(|v| (v, t.primary))).collect();
            Importance { name: param.name.clone(), score: eta_squared(&groups(&pairs, param.numeric)) }
        })
        .collect();
    let total: f64 = scores.iter().map(|s| s.score).sum();
    if total > 0.0 {
        for s in &mut scores {
            s.score /= total;
        }
    }
    scores.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.name.cmp(&b.name)));
    scores
}

/// The metric's values grouped by the parameter's value: categories as they are, numbers in
/// up to four bins of equal count.
fn groups(pairs: &[(String, f64)], numeric: bool) -> Vec<Vec<f64>> {
    if !numeric {
        let mut by: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
        for (value, metric) in pairs {
            by.entry(value.as_str()).or_default().push(*metric);
        }
        return by.into_values().collect();
    }
    let mut sorted: Vec<(f64, f64)> = pairs.iter().filter_map(|(v, m)| number(v).map(|x| (x, *m))).collect();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let bins = sorted.len().min(4);
    if bins == 0 {
        return Vec::new();
    }
    let mut out: Vec<Vec<f64>> = vec![Vec::new(); bins];
    for (k, (_, metric)) in sorted.iter().enumerate() {
        out[k * bins / sorted.len()].push(*metric);
    }
    out
}

/// Between-group variance over total variance (0 when the metric does not vary).
fn eta_squared(groups: &[Vec<f64>]) -> f64 {
    let all: Vec<f64> = groups.iter().flatten().copied().collect();
    if all.len() < 3 || groups.iter().filter(|g| !g.is_empty()).count() < 2 {
        return 0.0;
    }
    let mean = all.iter().sum::<f64>() / all.len() as f64;
    let total: f64 = all.iter().map(|v| (v - mean).powi(2)).sum();
    if total <= f64::EPSILON {
        return 0.0;
    }
    let between: f64 = groups
        .iter()
        .filter(|g| !g.is_empty())
        .map(|g| {
            let m = g.iter().sum::<f64>() / g.len() as f64;
            g.len() as f64 * (m - mean).powi(2)
        })
        .sum();
    (between / total).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(key: &str, value: &str, previous: &str) -> pb::Change {
        pb::Change {
            kind: "config_edit".into(),
            file: Some("c.json".into()),
            key: Some(key.into()),
            value: Some(value.into()),
            previous: Some(previous.into()),
            ..Default::default()
        }
    }

    fn trial(number: u32, parent: Option<u32>, primary: f64, changes: Vec<pb::Change>) -> pb::Iteration {
        pb::Iteration { number, parent, primary: Some(primary), changes, ..Default::default() }
    }

    #[test]
    fn values_follow_the_ratchet_and_start_from_the_first_previous() {
        let its = vec![
            trial(0, None, 1.0, vec![]),
            trial(1, Some(0), 0.5, vec![change("lr", "0.01", "0.1")]),
            trial(2, Some(1), 0.4, vec![change("width", "64", "32")]),
            // Started from the baseline again: lr is back to its first value.
            trial(3, Some(0), 0.9, vec![change("width", "128", "32")]),
        ];
        let t = table(&its);
        let names: Vec<&str> = t.params.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["lr (c.json)", "width (c.json)"]);
        assert!(t.params.iter().all(|p| p.numeric));
        let values: Vec<Vec<Option<&str>>> =
            t.trials.iter().map(|t| t.values.iter().map(|v| v.as_deref()).collect()).collect();
        assert_eq!(
            values,
            [
                vec![Some("0.1"), Some("32")],
                vec![Some("0.01"), Some("32")],
                vec![Some("0.01"), Some("64")],
                vec![Some("0.1"), Some("128")],
            ]
        );
    }

    #[test]
    fn the_parameter_that_moves_the_metric_ranks_first() {
        // lr decides the metric; seed is noise with no relation to it.
        let mut its = vec![trial(0, None, 5.0, vec![])];
        for n in 1..=24u32 {
            let lr: f64 = [0.001, 0.01, 0.1, 1.0][(n % 4) as usize];
            let seed = ["\"a\"", "\"b\"", "\"c\""][((n * 7) % 3) as usize];
            let metric = lr.log10().abs() + 0.01 * f64::from(n % 3);
            its.push(trial(
                n,
                Some(0),
                metric,
                vec![change("lr", &lr.to_string(), "0.5"), change("seed", seed, "\"a\"")],
            ));
        }
        let t = table(&its);
        assert_eq!(t.importance[0].name, "lr (c.json)");
        assert!(t.importance[0].score > 0.9, "{:?}", t.importance);
        let sum: f64 = t.importance.iter().map(|i| i.score).sum();
        assert!((sum - 1.0).abs() < 1e-9);
        assert!(!t.params[1].numeric, "quoted strings are categories");
    }

    #[test]
    fn no_spread_means_no_importance() {
        assert_eq!(eta_squared(&[vec![1.0, 1.0], vec![1.0, 1.0]]), 0.0);
        assert_eq!(eta_squared(&[vec![1.0, 2.0, 3.0]]), 0.0);
        assert!((eta_squared(&[vec![0.0, 0.0], vec![1.0, 1.0]]) - 1.0).abs() < 1e-12);
    }
}
