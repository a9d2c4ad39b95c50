//! The parameters view: each trial's value of every parameter a change touched (a config key
//! or a CLI argument), and how much of the metric's spread each one explains.
//!
//! A trial's value is read where the trial ran it: the config file as its commit holds it, the
//! argument in its command (`Lookup`). Without those (a trial not committed yet), it is its
//! parent's value with its own changes on top (the ratchet).
//!
//! Importance is the correlation ratio η² of the metric on each parameter: the share of the
//! metric's variance between groups of trials (a categorical value, or one of four quantile
//! bins of a numeric one). It is what optuna-dashboard users read as "which knob matters",
//! needs no model, and says nothing about interactions; scores are scaled to sum to 1.

use std::collections::BTreeMap;
use std::path::Path;

use revis_proto::v1 as pb;
use serde::Serialize;

use crate::changes::{ArgValue, read_arg, value_in_text};

/// Where a parameter lives.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Key {
    Config { file: String, key: String },
    Arg { name: String },
}

impl Key {
    fn of(change: &pb::Change) -> Option<Key> {
        match change.kind.as_str() {
            "config_edit" => Some(Key::Config { file: change.file.clone()?, key: change.key.clone()? }),
            "arg" => Some(Key::Arg { name: change.name.clone()? }),
            _ => None,
        }
    }

    /// `key (file)` for a config key, the argument as written.
    fn label(&self) -> String {
        match self {
            Key::Config { file, key } => format!("{key} ({file})"),
            Key::Arg { name } => name.clone(),
        }
    }
}

/// A trial's value of a parameter, as JSON text, where it can be read.
pub trait Lookup {
    fn value(&self, trial: &pb::Iteration, key: &Key) -> Option<String>;
}

/// A project whose repository cannot be opened: values follow the changes alone.
pub struct NoRepo;

impl Lookup for NoRepo {
    fn value(&self, _: &pb::Iteration, _: &Key) -> Option<String> {
        None
    }
}

/// Reads values from the session's repository: the config file at the trial's commit, the
/// argument in the trial's command.
pub struct Repo {
    repo: git2::Repository,
}

impl Repo {
    pub fn open(project: &Path) -> Option<Self> {
        git2::Repository::open(project).ok().map(|repo| Self { repo })
    }
}

impl Lookup for Repo {
    fn value(&self, trial: &pb::Iteration, key: &Key) -> Option<String> {
        match key {
            Key::Arg { name } => match read_arg(&trial.command, name).ok()? {
                Some(ArgValue::Value(text)) => Some(text),
                Some(ArgValue::Flag) => Some("true".to_string()),
                None => None,
            },
            Key::Config { file, key } => {
                let commit = trial.commit.as_deref()?;
                let text = crate::workspace::file_at(&self.repo, commit, Path::new(file)).ok()??;
                value_in_text(&text, Path::new(file), key).ok().map(|v| v.to_string())
            }
        }
    }
}

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

pub fn table(iterations: &[pb::Iteration], lookup: &dyn Lookup) -> Table {
    let mut keys: Vec<Key> = Vec::new();
    let mut points: BTreeMap<u32, BTreeMap<Key, String>> = BTreeMap::new();
    let mut sorted: Vec<&pb::Iteration> = iterations.iter().collect();
    sorted.sort_by_key(|it| it.number);
    for it in &sorted {
        let mut point = it.parent.and_then(|p| points.get(&p).cloned()).unwrap_or_default();
        for change in &it.changes {
            let Some(key) = Key::of(change) else { continue };
            if !keys.contains(&key) {
                keys.push(key.clone());
            }
            match change.value.as_deref() {
                Some("null") | None => point.remove(&key),
                Some(value) => point.insert(key, value.to_string()),
            };
        }
        points.insert(it.number, point);
    }
    let trials: Vec<Trial> = sorted
        .iter()
        .filter_map(|it| {
            let primary = it.primary.filter(|v| v.is_finite())?;
            let ratchet = points.get(&it.number);
            let values = keys
                .iter()
                .map(|key| lookup.value(it, key).or_else(|| ratchet.and_then(|p| p.get(key)).cloned()))
                .collect();
            Some(Trial { number: it.number, primary, values })
        })
        .collect();
    let params: Vec<Param> = keys
        .iter()
        .enumerate()
        .map(|(i, key)| {
            let mut seen = trials.iter().filter_map(|t| t.values[i].as_deref()).peekable();
            let numeric = seen.peek().is_some() && seen.all(|v| number(v).is_some());
            Param { name: key.label(), numeric }
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

    /// Values from a table of (trial, parameter label) → value, as a repository would give.
    struct Known(Vec<(u32, &'static str, &'static str)>);

    impl Lookup for Known {
        fn value(&self, trial: &pb::Iteration, key: &Key) -> Option<String> {
            let label = key.label();
            self.0.iter().find(|(n, l, _)| *n == trial.number && *l == label).map(|(_, _, v)| v.to_string())
        }
    }

    #[test]
    fn values_are_read_where_the_trial_ran_else_follow_the_ratchet() {
        let its = vec![
            trial(0, None, 1.0, vec![]),
            trial(1, Some(0), 0.5, vec![change("lr", "0.01", "0.1")]),
            trial(2, Some(1), 0.4, vec![change("width", "64", "32")]),
            // Started from the baseline again; not committed yet, so nothing to read.
            trial(3, Some(0), 0.9, vec![change("width", "128", "32")]),
        ];
        let known = Known(vec![
            (0, "lr (c.json)", "0.1"),
            (0, "width (c.json)", "32"),
            (1, "lr (c.json)", "0.01"),
            (1, "width (c.json)", "32"),
            (2, "lr (c.json)", "0.01"),
            (2, "width (c.json)", "64"),
        ]);
        let t = table(&its, &known);
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
                // lr unknown (the baseline's changed nothing), width from its own change.
                vec![None, Some("128")],
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
        let t = table(&its, &Known(Vec::new()));
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
