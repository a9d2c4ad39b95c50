//! Metric values, money and improvements as short text.

/// Five significant digits, trailing zeros dropped; scientific notation for very large or
/// tiny magnitudes.
pub fn metric(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    if v == 0.0 {
        return "0".to_string();
    }
    let magnitude = v.abs().log10().floor() as i32;
    if !(-4..6).contains(&magnitude) {
        return format!("{v:.3e}");
    }
    let decimals = (4 - magnitude).max(0) as usize;
    let text = format!("{v:.decimals$}");
    if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_string() } else { text }
}

pub fn usd(v: f64) -> String {
    format!("${v:.2}")
}

/// A session's LLM spend: dollars at known prices, and calls at unknown prices said to be
/// unknown (never counted as $0).
pub fn llm_spend(usd_known: f64, unpriced_calls: u32) -> String {
    match unpriced_calls {
        0 => format!("{} LLM", usd(usd_known)),
        n => {
            let calls = if n == 1 { "1 call".to_string() } else { format!("{n} calls") };
            if usd_known > 0.0 {
                format!("{} LLM + unknown ({calls} at unknown prices: set llm.pricing)", usd(usd_known))
            } else {
                format!("unknown LLM ({calls} at unknown prices: set llm.pricing)")
            }
        }
    }
}

/// A cost of which a part is unknown: `unknown` when nothing is known, the known part with
/// `+?` otherwise (`$0.04+?`), so an unpriced call never reads as $0.
pub fn cost_with_unknown(known: f64, unknown: bool) -> String {
    match (unknown, known > 0.0) {
        (false, _) => llm_cost(known),
        (true, false) => "unknown".to_string(),
        (true, true) => format!("{}+?", llm_cost(known)),
    }
}

/// The cost of one LLM decision: cents usually, but a cheap call still shows it cost
/// something (`$0.0042` rather than `$0.00`).
pub fn llm_cost(v: f64) -> String {
    if v > 0.0 && v < 0.01 { format!("${v:.4}") } else { usd(v) }
}

/// Token counts at a glance: `850`, `12.3k`, `1.2M`.
pub fn tokens(n: u64) -> String {
    match n {
        0..1_000 => n.to_string(),
        1_000..1_000_000 => format!("{:.1}k", n as f64 / 1e3),
        _ => format!("{:.1}M", n as f64 / 1e6),
    }
}

/// Relative improvement of `best` over `baseline` in percent, positive when better in the
/// metric's direction. None when the baseline is zero (no meaningful ratio).
pub fn improvement_percent(baseline: f64, best: f64, minimize: bool) -> Option<f64> {
    if baseline == 0.0 || !baseline.is_finite() || !best.is_finite() {
        return None;
    }
    let gain = if minimize { baseline - best } else { best - baseline };
    Some(gain / baseline.abs() * 100.0)
}

/// `12.3% better`, `0.4% worse`, `no change`.
pub fn improvement(baseline: f64, best: f64, minimize: bool) -> Option<String> {
    let pct = improvement_percent(baseline, best, minimize)?;
    Some(if pct.abs() < 0.05 {
        "no change".to_string()
    } else if pct > 0.0 {
        format!("{pct:.1}% better")
    } else {
        format!("{:.1}% worse", -pct)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partly_unknown_cost_never_reads_as_a_figure_alone() {
        assert_eq!(cost_with_unknown(0.042, false), "$0.04");
        assert_eq!(cost_with_unknown(0.0, false), "$0.00");
        assert_eq!(cost_with_unknown(0.0, true), "unknown");
        assert_eq!(cost_with_unknown(0.042, true), "$0.04+?");
        assert_eq!(cost_with_unknown(0.004, true), "$0.0040+?");
    }

    #[test]
    fn unpriced_llm_calls_are_shown_as_unknown_never_as_zero() {
        assert_eq!(llm_spend(0.0, 0), "$0.00 LLM");
        assert_eq!(llm_spend(0.0, 3), "unknown LLM (3 calls at unknown prices: set llm.pricing)");
        assert_eq!(llm_spend(1.5, 1), "$1.50 LLM + unknown (1 call at unknown prices: set llm.pricing)");
    }

    #[test]
    fn metrics_keep_five_significant_digits() {
        assert_eq!(metric(0.23456789), "0.23457");
        assert_eq!(metric(0.9), "0.9");
        assert_eq!(metric(1234.5678), "1234.6");
        assert_eq!(metric(-2.5), "-2.5");
        assert_eq!(metric(3.0), "3");
        assert_eq!(metric(0.0), "0");
        assert_eq!(metric(1.5e-7), "1.500e-7");
        assert_eq!(metric(f64::NAN), "NaN");
    }

    #[test]
    fn improvement_follows_the_metric_direction() {
        assert_eq!(improvement(0.5, 0.4, true).as_deref(), Some("20.0% better"));
        assert_eq!(improvement(0.5, 0.4, false).as_deref(), Some("20.0% worse"));
        assert_eq!(improvement(0.8, 0.9, false).as_deref(), Some("12.5% better"));
        assert_eq!(improvement(0.8, 0.8, false).as_deref(), Some("no change"));
        assert_eq!(improvement(0.0, 0.1, true), None);
    }

    #[test]
    fn money_has_two_decimals() {
        assert_eq!(usd(0.1234), "$0.12");
        assert_eq!(usd(0.0), "$0.00");
        assert_eq!(llm_cost(0.0042), "$0.0042");
        assert_eq!(llm_cost(0.126), "$0.13");
        assert_eq!(llm_cost(0.0), "$0.00");
    }

    #[test]
    fn token_counts_are_compact() {
        assert_eq!(tokens(850), "850");
        assert_eq!(tokens(12_345), "12.3k");
        assert_eq!(tokens(1_240_000), "1.2M");
    }
}
