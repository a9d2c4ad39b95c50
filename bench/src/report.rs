//! What a benchmark hands back: named figures, each with its unit and, where the project sets
//! one, the target it is judged against. Printing lives here so every benchmark reads alike.

use std::fmt::Write as _;

/// How a figure compares with its target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    /// Lower is better; met when the figure is at most this.
    AtMost(f64),
    /// Higher is better; met when the figure is at least this.
    AtLeast(f64),
}

impl Target {
    pub fn met(self, value: f64) -> bool {
        match self {
            Self::AtMost(limit) => value <= limit,
            Self::AtLeast(limit) => value >= limit,
        }
    }

    fn describe(self, unit: &str) -> String {
        match self {
            Self::AtMost(limit) => format!("≤ {} {unit}", trim(limit)),
            Self::AtLeast(limit) => format!("≥ {} {unit}", trim(limit)),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Figure {
    pub name: String,
    pub value: f64,
    pub unit: String,
    pub target: Option<Target>,
}

impl Figure {
    pub fn new(name: impl Into<String>, value: f64, unit: impl Into<String>) -> Self {
        Self { name: name.into(), value, unit: unit.into(), target: None }
    }

    pub fn target(mut self, target: Target) -> Self {
        self.target = Some(target);
        self
    }
}

/// One benchmark's result: its figures plus free-form lines (tables, context).
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub title: String,
    pub figures: Vec<Figure>,
    pub notes: Vec<String>,
}

impl Report {
    pub fn new(title: impl Into<String>) -> Self {
        Self { title: title.into(), ..Self::default() }
    }

    pub fn figure(&mut self, figure: Figure) -> &mut Self {
        self.figures.push(figure);
        self
    }

    pub fn note(&mut self, line: impl Into<String>) -> &mut Self {
        self.notes.push(line.into());
        self
    }

    /// The report as printed: title, notes, then one line per figure with its verdict.
    pub fn render(&self) -> String {
        let mut out = format!("\n== {} ==\n", self.title);
        for line in &self.notes {
            let _ = writeln!(out, "  {line}");
        }
        for f in &self.figures {
            let _ = writeln!(out, "  {}", figure_line(f));
        }
        out
    }
}

pub fn figure_line(f: &Figure) -> String {
    let verdict = match f.target {
        Some(t) if t.met(f.value) => format!("  [target {}: met]", t.describe(&f.unit)),
        Some(t) => format!("  [target {}: MISSED]", t.describe(&f.unit)),
        None => String::new(),
    };
    format!("{:<58} {:>12} {}{verdict}", f.name, trim(f.value), f.unit)
}

/// A number with at most 3 decimals and no trailing zeros.
pub fn trim(x: f64) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    let s = format!("{x:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".to_string() } else { s.to_string() }
}

/// Median and 95th percentile (nearest rank) of `samples`; `(NaN, NaN)` when empty.
pub fn median_p95(samples: &[f64]) -> (f64, f64) {
    (percentile(samples, 50.0), percentile(samples, 95.0))
}

pub fn percentile(samples: &[f64], p: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let xs: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(median_p95(&xs), (10.0, 19.0));
        assert_eq!(percentile(&[3.0], 95.0), 3.0);
        assert!(percentile(&[], 50.0).is_nan());
    }

    #[test]
    fn verdicts_follow_the_direction_of_the_target() {
        assert!(Target::AtMost(15.0).met(14.9));
        assert!(!Target::AtMost(15.0).met(15.1));
        assert!(Target::AtLeast(1.0).met(1.0));
        let line = figure_line(&Figure::new("x", 20.0, "ms").target(Target::AtMost(15.0)));
        assert!(line.contains("MISSED"), "{line}");
    }
}
