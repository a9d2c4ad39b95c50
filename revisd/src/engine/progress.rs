//! Progress a training reports while it runs: lines `{"step": 120, "metrics": {"val_loss":
//! 0.41}}` appended to `$REVIS_OUTPUT_DIR/progress.jsonl`, read as they come (`ProgressFile`)
//! into the primary metric's curve. With `guardrails.early_stop`, that curve is judged against
//! the curves of earlier runs (`should_stop`): the median stopping rule, or asynchronous
//! successive halving (ASHA) at the rungs given.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::config::{EarlyStop, Guardrails};

pub const FILE: &str = "progress.jsonl";

/// A curve: (step, value) in the order reported.
pub type Curve = Vec<(f64, f64)>;

/// Reads the lines appended to progress.jsonl since the last read.
pub struct ProgressFile {
    path: PathBuf,
    offset: u64,
    /// A line not yet ended by its newline.
    partial: String,
}

impl ProgressFile {
    pub fn new(output_dir: &Path) -> Self {
        Self { path: output_dir.join(FILE), offset: 0, partial: String::new() }
    }

    /// The primary metric's points reported since the last call. Lines that are not JSON, or
    /// lack the step or the metric (or hold NaN), are skipped: progress is advisory.
    pub fn read_new(&mut self, primary: &str) -> Curve {
        let Ok(mut file) = std::fs::File::open(&self.path) else { return Vec::new() };
        if file.seek(SeekFrom::Start(self.offset)).is_err() {
            return Vec::new();
        }
        let mut bytes = Vec::new();
        let Ok(n) = file.take(4 * 1024 * 1024).read_to_end(&mut bytes) else { return Vec::new() };
        self.offset += n as u64;
        self.partial.push_str(&String::from_utf8_lossy(&bytes));
        let mut points = Vec::new();
        while let Some(end) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=end).collect();
            if let Some(point) = parse_line(&line, primary) {
                points.push(point);
            }
        }
        points
    }
}

fn parse_line(line: &str, primary: &str) -> Option<(f64, f64)> {
    let v: serde_json::Value = serde_json::from_str(line.trim()).ok()?;
    let step = v.get("step")?.as_f64()?;
    let value = v.get("metrics")?.get(primary)?.as_f64()?;
    (step.is_finite() && value.is_finite()).then_some((step, value))
}

/// The best value a curve reached by `step` (`None` before its first point at or below it).
fn best_by(curve: &[(f64, f64)], step: f64, minimize: bool) -> Option<f64> {
    curve.iter().filter(|(s, _)| *s <= step).map(|(_, v)| *v).reduce(|a, b| if (a < b) == minimize { a } else { b })
}

/// A curve's value at a rung: its best up to its first report at or past the rung (runs
/// report at steps of their own); `None` while it has not reached the rung.
fn at_rung(curve: &[(f64, f64)], rung: f64, minimize: bool) -> Option<f64> {
    let reached = curve.iter().position(|(s, _)| *s >= rung)?;
    best_by(&curve[..=reached], f64::INFINITY, minimize)
}

/// Whether the run whose curve is `current` should stop now, judged against the curves of
/// earlier runs (each the whole curve that run reported). Returns the step it stops at.
pub fn should_stop(g: &Guardrails, current: &[(f64, f64)], earlier: &[Curve], minimize: bool) -> Option<f64> {
    let &(step, _) = current.last()?;
    match g.early_stop {
        EarlyStop::None => None,
        EarlyStop::Median => {
            if step < g.min_steps {
                return None;
            }
            let mine = best_by(current, step, minimize)?;
            // Only runs that got this far count: a short run says nothing about this step.
            let mut theirs: Vec<f64> = earlier
                .iter()
                .filter(|c| c.last().is_some_and(|(s, _)| *s >= step))
                .filter_map(|c| best_by(c, step, minimize))
                .collect();
            if theirs.len() < g.min_runs as usize {
                return None;
            }
            theirs.sort_by(f64::total_cmp);
            let median = if theirs.len() % 2 == 1 {
                theirs[theirs.len() / 2]
            } else {
                (theirs[theirs.len() / 2 - 1] + theirs[theirs.len() / 2]) / 2.0
            };
            let worse = if minimize { mine > median } else { mine < median };
            worse.then_some(step)
        }
        EarlyStop::Asha => {
            // The highest rung this run has reached decides; each rung keeps the best
            // 1/reduction_factor of the runs that reached it (at least one).
            let rung = g.rungs.iter().copied().filter(|r| *r <= step).fold(None, |_, r| Some(r))?;
            let mine = at_rung(current, rung, minimize)?;
            let mut values: Vec<f64> = earlier.iter().filter_map(|c| at_rung(c, rung, minimize)).collect();
            if values.len() < g.min_runs as usize {
                return None;
            }
            values.push(mine);
            values.sort_by(|a, b| if minimize { a.total_cmp(b) } else { b.total_cmp(a) });
            let keep = (values.len() / g.reduction_factor.max(2) as usize).max(1);
            let cutoff = values[keep - 1];
            let kept = if minimize { mine <= cutoff } else { mine >= cutoff };
            (!kept).then_some(step)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(early_stop: EarlyStop) -> Guardrails {
        Guardrails {
            early_stop,
            min_steps: 10.0,
            min_runs: 3,
            rungs: vec![10.0, 30.0],
            reduction_factor: 3,
            ..Guardrails::default()
        }
    }

    fn curve(points: &[(f64, f64)]) -> Curve {
        points.to_vec()
    }

    #[test]
    fn progress_lines_are_read_as_they_are_appended() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let mut p = ProgressFile::new(dir.path());
        assert!(p.read_new("loss").is_empty(), "no file yet");
        std::fs::write(
            dir.path().join(FILE),
            "{\"step\": 1, \"metrics\": {\"loss\": 0.9}}\nnot json\n{\"step\": 2, \"met",
        )?;
        assert_eq!(p.read_new("loss"), vec![(1.0, 0.9)]);
        let mut f = std::fs::OpenOptions::new().append(true).open(dir.path().join(FILE))?;
        std::io::Write::write_all(
            &mut f,
            b"rics\": {\"loss\": 0.8, \"acc\": 1}}\n{\"step\": 3, \"metrics\": {\"acc\": 1}}\n",
        )?;
        assert_eq!(p.read_new("loss"), vec![(2.0, 0.8)], "a line finished later is read whole");
        Ok(())
    }

    #[test]
    fn the_median_rule_stops_a_run_worse_than_the_median_of_earlier_runs_at_its_step() {
        let g = rules(EarlyStop::Median);
        let earlier = vec![
            curve(&[(10.0, 0.5), (20.0, 0.4)]),
            curve(&[(10.0, 0.6), (20.0, 0.5)]),
            curve(&[(10.0, 0.7), (20.0, 0.6)]),
        ];
        assert_eq!(should_stop(&g, &[(5.0, 2.0)], &earlier, true), None, "before min_steps");
        assert_eq!(should_stop(&g, &[(10.0, 0.9)], &earlier, true), Some(10.0));
        assert_eq!(should_stop(&g, &[(10.0, 0.55)], &earlier, true), None, "better than the median 0.6");
        assert_eq!(should_stop(&g, &[(10.0, 0.9)], &earlier[..2], true), None, "too few earlier runs");
        assert_eq!(should_stop(&g, &[(10.0, 0.1), (20.0, 0.9)], &earlier, true), None, "its best by step 20 counts");
        assert_eq!(should_stop(&g, &[(10.0, 0.9)], &earlier, false), None, "maximizing, 0.9 is good");
    }

    #[test]
    fn asha_keeps_the_best_third_at_each_rung() {
        let g = rules(EarlyStop::Asha);
        let earlier: Vec<Curve> =
            (0..5).map(|k| curve(&[(10.0, 0.5 + f64::from(k) / 10.0), (30.0, 0.4 + f64::from(k) / 10.0)])).collect();
        // At rung 10, six runs: the best two (0.5, 0.6 or better) go on.
        assert_eq!(should_stop(&g, &[(10.0, 0.55)], &earlier, true), None);
        assert_eq!(should_stop(&g, &[(12.0, 0.65)], &earlier, true), Some(12.0));
        assert_eq!(should_stop(&g, &[(5.0, 9.0)], &earlier, true), None, "no rung reached yet");
        assert_eq!(should_stop(&g, &[(10.0, 0.55), (30.0, 0.75)], &earlier, true), Some(30.0), "kept at 10, not at 30");
    }
}
