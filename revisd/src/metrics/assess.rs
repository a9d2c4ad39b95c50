//! The verdict on one run's metrics: the primary value, or why the iteration failed
//! (missing primary metric, NaN/Inf, divergence from the baseline).

use crate::config::Guardrails;

use super::Collected;

#[derive(Debug, Clone, PartialEq)]
pub enum Assessment {
    Ok { primary: f64 },
    Failed { reason: String },
}

/// Judges `collected` for the primary metric. `baseline` is the baseline's primary value, if it
/// succeeded; divergence means being worse than it by `divergence_multiplier` times its size.
pub fn assess(
    collected: &Collected,
    primary: &str,
    minimize: bool,
    guardrails: &Guardrails,
    baseline: Option<f64>,
) -> Assessment {
    let Some(&value) = collected.metrics.get(primary) else {
        let known: Vec<&str> = collected.metrics.keys().map(String::as_str).collect();
        let known = if known.is_empty() { "none".to_string() } else { known.join(", ") };
        return Assessment::Failed {
            reason: format!("primary metric '{primary}' missing from eval.json (found: {known})"),
        };
    };
    if !value.is_finite() {
        // A non-finite value can never be compared or learned from, so it is never a result:
        // there is no setting that lets one through.
        let what = if value.is_nan() { "NaN" } else { "infinite" };
        return Assessment::Failed { reason: format!("primary metric '{primary}' is {what}") };
    }
    if guardrails.divergence_detection_enabled
        && let Some(base) = baseline
        && base != 0.0
    {
        let limit = guardrails.divergence_multiplier * base.abs();
        let diverged = if minimize { value - base > limit } else { base - value > limit };
        if diverged {
            return Assessment::Failed {
                reason: format!(
                    "diverged: {primary}={value} is worse than the baseline {base} by more than {}x its size \
                     (guardrails.divergence_multiplier)",
                    guardrails.divergence_multiplier
                ),
            };
        }
    }
    Assessment::Ok { primary: value }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collected(pairs: &[(&str, f64)]) -> Collected {
        Collected { metrics: pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect(), warnings: vec![], history: None }
    }

    /// Fix 7: there is no switch for this (`guardrails.nan_detection_enabled` is gone).
    #[test]
    fn a_non_finite_primary_always_fails_the_iteration() {
        let lenient = Guardrails { divergence_detection_enabled: false, ..Guardrails::default() };
        for (value, what) in [(f64::NAN, "NaN"), (f64::INFINITY, "infinite"), (f64::NEG_INFINITY, "infinite")] {
            for (minimize, guardrails) in [(true, &Guardrails::default()), (false, &lenient)] {
                let a = assess(&collected(&[("loss", value)]), "loss", minimize, guardrails, Some(1.0));
                assert_eq!(a, Assessment::Failed { reason: format!("primary metric 'loss' is {what}") });
            }
        }
    }

    #[test]
    fn missing_primary_names_what_was_found() {
        let a = assess(&collected(&[("acc", 0.5)]), "loss", true, &Guardrails::default(), None);
        let Assessment::Failed { reason } = a else { panic!("expected failure") };
        assert!(reason.contains("'loss' missing") && reason.contains("acc"), "{reason}");
    }

    #[test]
    fn divergence_is_relative_to_the_baseline_in_the_objective_direction() {
        let g = Guardrails::default(); // multiplier 10
        assert!(matches!(
            assess(&collected(&[("loss", 12.0)]), "loss", true, &g, Some(1.0)),
            Assessment::Failed { .. }
        ));
        assert_eq!(assess(&collected(&[("loss", 0.1)]), "loss", true, &g, Some(1.0)), Assessment::Ok { primary: 0.1 });
        assert!(matches!(
            assess(&collected(&[("acc", -20.0)]), "acc", false, &g, Some(1.0)),
            Assessment::Failed { .. }
        ));
        let off = Guardrails { divergence_detection_enabled: false, ..Guardrails::default() };
        assert_eq!(
            assess(&collected(&[("loss", 12.0)]), "loss", true, &off, Some(1.0)),
            Assessment::Ok { primary: 12.0 }
        );
    }
}
