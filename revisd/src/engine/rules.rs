//! Stop rules and comparisons that do not need I/O, so each rule has a test named after it.

/// True when `value` is strictly better than `best` in the objective's direction.
pub fn is_better(value: f64, best: f64, minimize: bool) -> bool {
    if minimize { value < best } else { value > best }
}

/// How much better `value` is than `best` in the objective's direction (negative: worse).
pub fn gain(value: f64, best: f64, minimize: bool) -> f64 {
    if minimize { best - value } else { value - best }
}

/// The smallest gain that counts as progress: the relative threshold or the measured noise,
/// whichever is larger.
pub fn margin(best: f64, threshold: f64, noise_floor: f64) -> f64 {
    (threshold * best.abs()).max(noise_floor)
}

pub fn mean(values: &[f64]) -> f64 {
    if values.is_empty() { f64::NAN } else { values.iter().sum::<f64>() / values.len() as f64 }
}

/// Two sample standard deviations of repeated baseline runs: a difference smaller than this is
/// what the same configuration produces by chance about one time in twenty.
pub fn noise_floor(values: &[f64]) -> f64 {
    if values.len() < 2 {
        return 0.0;
    }
    let m = mean(values);
    let var = values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (values.len() - 1) as f64;
    2.0 * var.sqrt()
}

/// True when `best` meets the target.
pub fn target_reached(best: f64, target: f64, minimize: bool) -> bool {
    if minimize { best <= target } else { best >= target }
}

/// Plateau: none of the last `runs` iterations improved on the best value before it by more
/// than `max(threshold × |best|, noise_floor)`. `results` are primary values in iteration
/// order (`None` = failed); the baseline is first. Needs at least `runs` iterations after the
/// baseline, so a session is never declared flat before it has tried `runs` changes.
pub fn plateaued(results: &[Option<f64>], minimize: bool, threshold: f64, runs: usize, noise_floor: f64) -> bool {
    if runs == 0 || results.len() < runs + 1 {
        return false;
    }
    let split = results.len() - runs;
    let best = results[..split].iter().flatten().copied().reduce(|a, b| if is_better(b, a, minimize) { b } else { a });
    for value in results[split..].iter().flatten().copied() {
        match best {
            None => return false, // the first success after only failures is progress
            Some(b) => {
                if gain(value, b, minimize) > margin(b, threshold, noise_floor) {
                    return false;
                }
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plateau_needs_runs_iterations_after_the_baseline() {
        assert!(!plateaued(&[Some(1.0), Some(1.0), Some(1.0)], true, 0.01, 3, 0.0));
        assert!(plateaued(&[Some(1.0), Some(1.0), Some(1.0), Some(1.0)], true, 0.01, 3, 0.0));
    }

    #[test]
    fn plateau_is_broken_by_an_improvement_larger_than_the_threshold() {
        assert!(!plateaued(&[Some(1.0), Some(1.0), Some(0.9), Some(0.9)], true, 0.01, 3, 0.0));
        // 0.5 % better is below the 1 % threshold: still flat.
        assert!(plateaued(&[Some(1.0), Some(0.995), Some(0.995), Some(0.996)], true, 0.01, 3, 0.0));
    }

    #[test]
    fn plateau_respects_direction_and_noise_floor() {
        assert!(!plateaued(&[Some(0.5), Some(0.6), Some(0.5), Some(0.5)], false, 0.01, 3, 0.0));
        assert!(plateaued(&[Some(0.5), Some(0.6), Some(0.5), Some(0.5)], false, 0.01, 3, 0.2));
    }

    #[test]
    fn failures_count_as_no_progress() {
        assert!(plateaued(&[Some(1.0), None, None, Some(1.0)], true, 0.01, 3, 0.0));
        assert!(!plateaued(&[None, None, None, Some(1.0)], true, 0.01, 3, 0.0));
    }

    #[test]
    fn noise_floor_is_two_standard_deviations_of_the_replicates() {
        assert_eq!(noise_floor(&[1.0]), 0.0);
        assert!((noise_floor(&[1.0, 2.0, 3.0]) - 2.0).abs() < 1e-12);
        assert!((mean(&[1.0, 2.0, 3.0]) - 2.0).abs() < 1e-12);
    }

    #[test]
    fn progress_must_exceed_both_threshold_and_noise() {
        assert!((margin(10.0, 0.01, 0.05) - 0.1).abs() < 1e-12);
        assert!((margin(10.0, 0.01, 0.5) - 0.5).abs() < 1e-12);
        assert!(gain(0.8, 1.0, true) > 0.0 && gain(0.8, 1.0, false) < 0.0);
    }

    #[test]
    fn target_and_better_follow_the_objective() {
        assert!(target_reached(0.2, 0.25, true));
        assert!(!target_reached(0.3, 0.25, true));
        assert!(target_reached(0.9, 0.8, false));
        assert!(is_better(0.1, 0.2, true) && is_better(0.3, 0.2, false));
        assert!(!is_better(0.2, 0.2, true));
    }
}
