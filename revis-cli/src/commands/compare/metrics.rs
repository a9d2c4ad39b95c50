//! The metric half of `revis compare`: every metric of either iteration side by side, with
//! the delta and whether it is an improvement. The primary metric's direction is the
//! session's objective; for the others it is read off the name (`loss`, `error`, ... lower is
//! better; `accuracy`, `f1`, ... higher), and left unknown rather than guessed otherwise, so no
//! delta is coloured on a hunch.

use std::collections::BTreeMap;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Minimize,
    Maximize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Better,
    Worse,
    Same,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricRow {
    pub name: String,
    pub primary: bool,
    /// Value in the first iteration given.
    pub a: Option<f64>,
    /// Value in the second iteration given.
    pub b: Option<f64>,
    /// b − a.
    pub delta: Option<f64>,
    /// The delta relative to |a|, in percent; null when a is 0.
    pub delta_percent: Option<f64>,
    pub direction: Option<Direction>,
    /// Whether b is better than a in `direction`.
    pub verdict: Option<Verdict>,
}

/// Name parts meaning lower is better / higher is better.
const LOWER_IS_BETTER: &[&str] = &[
    "loss",
    "error",
    "err",
    "perplexity",
    "ppl",
    "mse",
    "mae",
    "rmse",
    "nll",
    "wer",
    "cer",
    "bpb",
    "bpc",
    "fid",
    "latency",
];
const HIGHER_IS_BETTER: &[&str] = &[
    "acc",
    "accuracy",
    "f1",
    "precision",
    "recall",
    "auc",
    "auroc",
    "bleu",
    "rouge",
    "reward",
    "return",
    "iou",
    "map",
    "top1",
    "top5",
    "r2",
];

/// The primary metric first, then the rest by name; a metric either iteration reported is
/// listed.
pub fn rows(primary: &str, minimize: bool, a: &BTreeMap<String, f64>, b: &BTreeMap<String, f64>) -> Vec<MetricRow> {
    let mut names: Vec<&String> = a.keys().chain(b.keys()).collect();
    names.sort();
    names.dedup();
    names.sort_by_key(|name| name.as_str() != primary);
    names
        .into_iter()
        .map(|name| {
            let is_primary = name == primary;
            let direction = if is_primary {
                Some(if minimize { Direction::Minimize } else { Direction::Maximize })
            } else {
                direction_from_name(name)
            };
            row(name, is_primary, a.get(name).copied(), b.get(name).copied(), direction)
        })
        .collect()
}

fn row(name: &str, primary: bool, a: Option<f64>, b: Option<f64>, direction: Option<Direction>) -> MetricRow {
    let finite = |v: Option<f64>| v.filter(|v| v.is_finite());
    let delta = finite(a).zip(finite(b)).map(|(a, b)| b - a);
    let delta_percent = delta.zip(finite(a)).filter(|(_, a)| *a != 0.0).map(|(d, a)| d / a.abs() * 100.0);
    let verdict = delta.zip(direction).map(|(d, dir)| {
        let improved = if dir == Direction::Minimize { d < 0.0 } else { d > 0.0 };
        if d == 0.0 {
            Verdict::Same
        } else if improved {
            Verdict::Better
        } else {
            Verdict::Worse
        }
    });
    MetricRow { name: name.to_string(), primary, a, b, delta, delta_percent, direction, verdict }
}

/// `val_loss`, `eval/error_rate` → minimize; `top1_acc` → maximize; `lr`, `epoch` → unknown.
pub fn direction_from_name(name: &str) -> Option<Direction> {
    let lower = name.to_ascii_lowercase();
    let parts: Vec<&str> = lower.split(|c: char| !c.is_ascii_alphanumeric()).filter(|p| !p.is_empty()).collect();
    let lower_better = parts.iter().any(|p| LOWER_IS_BETTER.contains(p));
    let higher_better = parts.iter().any(|p| HIGHER_IS_BETTER.contains(p));
    match (lower_better, higher_better) {
        (true, false) => Some(Direction::Minimize),
        (false, true) => Some(Direction::Maximize),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn the_primary_metric_comes_first_and_follows_the_objective() {
        let a = map(&[("accuracy", 0.5), ("val_loss", 2.0)]);
        let b = map(&[("accuracy", 0.6), ("val_loss", 1.0), ("lr", 0.1)]);
        let r = rows("val_loss", true, &a, &b);
        let names: Vec<&str> = r.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["val_loss", "accuracy", "lr"]);
        assert!(r[0].primary);
        assert_eq!(r[0].delta, Some(-1.0));
        assert_eq!(r[0].delta_percent, Some(-50.0));
        assert_eq!(r[0].verdict, Some(Verdict::Better));
        assert_eq!(r[1].verdict, Some(Verdict::Better), "accuracy went up");
        assert_eq!(r[2].a, None);
        assert_eq!(r[2].verdict, None, "a metric only one side has has no delta");
    }

    #[test]
    fn a_maximized_primary_that_drops_is_worse() {
        let r = rows("score", false, &map(&[("score", 0.9)]), &map(&[("score", 0.8)]));
        assert_eq!(r[0].direction, Some(Direction::Maximize));
        assert_eq!(r[0].verdict, Some(Verdict::Worse));
        let same = rows("score", false, &map(&[("score", 0.9)]), &map(&[("score", 0.9)]));
        assert_eq!(same[0].verdict, Some(Verdict::Same));
    }

    #[test]
    fn other_metrics_get_a_direction_only_when_the_name_says_so() {
        assert_eq!(direction_from_name("eval/error_rate"), Some(Direction::Minimize));
        assert_eq!(direction_from_name("train_loss"), Some(Direction::Minimize));
        assert_eq!(direction_from_name("top1_acc"), Some(Direction::Maximize));
        assert_eq!(direction_from_name("F1"), Some(Direction::Maximize));
        assert_eq!(direction_from_name("lr"), None);
        assert_eq!(direction_from_name("glossary"), None, "parts, not substrings");
        assert_eq!(direction_from_name("acc_loss"), None, "contradictory names stay unknown");
    }

    #[test]
    fn a_zero_or_missing_baseline_has_no_percentage() {
        let r = rows("m", true, &map(&[("m", 0.0)]), &map(&[("m", 1.0)]));
        assert_eq!(r[0].delta, Some(1.0));
        assert_eq!(r[0].delta_percent, None);
        let nan = rows("m", true, &map(&[("m", f64::NAN)]), &map(&[("m", 1.0)]));
        assert_eq!(nan[0].delta, None);
        assert_eq!(nan[0].verdict, None);
    }
}
