//! Scoring a run of a sampler: what the user would keep (the best *observed* point so far) and
//! how good it truly is (its noise-free value). Pure arithmetic, no processes.

/// One run of a sampler on an objective: per trial, in order (baseline first), the value the
/// sampler saw and the noise-free value of the same point.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Trace {
    pub observed: Vec<f64>,
    pub truth: Vec<f64>,
}

/// After each trial, the noise-free value of the point with the best observed value so far
/// (earliest wins a tie). Trials that observed no finite value never become the incumbent;
/// before the first finite one the entry is NaN.
pub fn incumbent_truth(trace: &Trace, minimize: bool) -> Vec<f64> {
    let mut best: Option<(f64, f64)> = None;
    trace
        .observed
        .iter()
        .zip(&trace.truth)
        .map(|(&seen, &truth)| {
            if seen.is_finite() {
                let better = best.is_none_or(|(b, _)| if minimize { seen < b } else { seen > b });
                if better {
                    best = Some((seen, truth));
                }
            }
            best.map_or(f64::NAN, |(_, t)| t)
        })
        .collect()
}

/// Trials (1-based, the baseline being trial 1) until the incumbent's true value is within
/// `tolerance` (relative) of `optimum`; `None` when it never is.
pub fn iterations_to_within(incumbent: &[f64], optimum: f64, tolerance: f64) -> Option<usize> {
    incumbent.iter().position(|v| (v - optimum).abs() <= tolerance * optimum.abs()).map(|i| i + 1)
}

/// The incumbent's true value after `n` trials; a run that stopped earlier (its space was
/// exhausted) keeps its last incumbent.
pub fn value_after(incumbent: &[f64], n: usize) -> f64 {
    match n.min(incumbent.len()) {
        0 => f64::NAN,
        k => incumbent[k - 1],
    }
}

/// A 95 % percentile-bootstrap interval of `stat` over `values` (resampled with replacement,
/// `reps` times, from a fixed-seed generator so a run is reproducible).
pub fn bootstrap(values: &[f64], stat: impl Fn(&[f64]) -> f64, reps: usize) -> (f64, f64) {
    if values.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    // splitmix64: enough for resampling, and no dependency.
    let mut state: u64 = 0x5eed_b007_5747_0001;
    let mut next = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let n = values.len();
    let mut stats: Vec<f64> = (0..reps)
        .map(|_| {
            let sample: Vec<f64> = (0..n).map(|_| values[(next() % n as u64) as usize]).collect();
            stat(&sample)
        })
        .collect();
    stats.sort_by(f64::total_cmp);
    let at = |q: f64| stats[((q * (reps - 1) as f64).round() as usize).min(reps - 1)];
    (at(0.025), at(0.975))
}

pub fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace(observed: &[f64], truth: &[f64]) -> Trace {
        Trace { observed: observed.to_vec(), truth: truth.to_vec() }
    }

    #[test]
    fn the_incumbent_is_chosen_by_observed_value_but_scored_by_truth() {
        // Trial 3 looks best through lucky noise; its true value is what counts.
        let t = trace(&[5.0, 4.0, 1.0, 2.0], &[5.0, 4.0, 3.5, 2.0]);
        assert_eq!(incumbent_truth(&t, true), [5.0, 4.0, 3.5, 3.5]);
        assert_eq!(incumbent_truth(&t, false), [5.0, 5.0, 5.0, 5.0]);
    }

    #[test]
    fn failed_trials_never_become_the_incumbent() {
        let t = trace(&[f64::NAN, 3.0, f64::INFINITY, 2.0], &[0.0, 3.0, 0.0, 2.0]);
        let inc = incumbent_truth(&t, true);
        assert!(inc[0].is_nan());
        assert_eq!(&inc[1..], [3.0, 3.0, 2.0]);
    }

    #[test]
    fn iterations_count_the_baseline_as_the_first() {
        // Optimum 0.5: within 5 % means within 0.025.
        assert_eq!(iterations_to_within(&[0.6, 0.53, 0.524, 0.5], 0.5, 0.05), Some(3));
        assert_eq!(iterations_to_within(&[0.51], 0.5, 0.05), Some(1));
        assert_eq!(iterations_to_within(&[0.6, 0.53], 0.5, 0.05), None);
        assert_eq!(iterations_to_within(&[f64::NAN, 0.5], 0.5, 0.05), Some(2));
        // Maximizing: 0.95 within 5 % means at least 0.9025.
        assert_eq!(iterations_to_within(&[0.8, 0.9, 0.903], 0.95, 0.05), Some(3));
    }

    #[test]
    fn value_after_keeps_the_last_incumbent_of_a_short_run() {
        let inc = [3.0, 2.0, 1.0];
        assert_eq!(value_after(&inc, 2), 2.0);
        assert_eq!(value_after(&inc, 20), 1.0);
        assert!(value_after(&[], 20).is_nan());
    }
}
