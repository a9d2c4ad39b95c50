//! Duration text as written in revis.yaml and on the command line (`90s`, `45m`, `1h30m`,
//! `2.5h`, `1d`, `500ms`, a bare number of seconds), and its canonical short form. It owns
//! nothing else: whether a duration is acceptable for a given key is the caller's business.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("empty duration (write e.g. 90s, 45m, 1h30m, 2.5h or 1d)")]
    Empty,
    #[error("duration '{0}' is negative")]
    Negative(String),
    #[error("duration '{text}': unknown unit '{unit}' (use ms, s, m, h or d)")]
    UnknownUnit { text: String, unit: String },
    #[error("duration '{text}': '{number}' is not a number")]
    InvalidNumber { text: String, number: String },
    #[error("duration '{text}': the number after '{after}' has no unit")]
    MissingUnit { text: String, after: String },
    #[error("duration '{text}': units must go from largest to smallest, each at most once")]
    UnitOrder { text: String },
    #[error("duration '{0}' is too large")]
    Overflow(String),
}

const UNITS: &[(&str, f64)] = &[("d", 86_400.0), ("h", 3_600.0), ("m", 60.0), ("s", 1.0), ("ms", 0.001)];

/// Parses `1h30m`-style text. Components must appear largest unit first (`30m1h` is rejected
/// because it is more likely a typo than an intent); spaces between components are allowed.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(DurationError::Empty);
    }
    if trimmed.starts_with('-') {
        return Err(DurationError::Negative(trimmed.to_string()));
    }
    let body = trimmed.strip_prefix('+').unwrap_or(trimmed);
    if is_number(body) {
        return to_duration(number(trimmed, body)?, 1.0, trimmed);
    }

    let mut total = Duration::ZERO;
    let mut last_unit = None::<usize>;
    let mut rest = body;
    let mut previous = String::new();
    while !rest.is_empty() {
        rest = rest.trim_start();
        let digits = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let (num_text, after) = rest.split_at(digits);
        let unit_len = after.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(after.len());
        let (unit, tail) = after.split_at(unit_len);
        if num_text.is_empty() {
            let bad = if unit.is_empty() { after.chars().take(1).collect() } else { unit.to_string() };
            return Err(DurationError::InvalidNumber { text: trimmed.to_string(), number: bad });
        }
        if unit.is_empty() {
            return Err(DurationError::MissingUnit { text: trimmed.to_string(), after: previous });
        }
        let Some(index) = UNITS.iter().position(|(name, _)| *name == unit) else {
            return Err(DurationError::UnknownUnit { text: trimmed.to_string(), unit: unit.to_string() });
        };
        if last_unit.is_some_and(|last| index <= last) {
            return Err(DurationError::UnitOrder { text: trimmed.to_string() });
        }
        last_unit = Some(index);
        let part = to_duration(number(trimmed, num_text)?, UNITS[index].1, trimmed)?;
        total = total.checked_add(part).ok_or_else(|| DurationError::Overflow(trimmed.to_string()))?;
        previous = format!("{num_text}{unit}");
        rest = tail.trim_start();
    }
    Ok(total)
}

fn is_number(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c.is_ascii_digit() || c == '.')
}

fn number(text: &str, num: &str) -> Result<f64, DurationError> {
    let invalid = || DurationError::InvalidNumber { text: text.to_string(), number: num.to_string() };
    if num.starts_with('.') || num.ends_with('.') {
        return Err(invalid());
    }
    num.parse::<f64>().map_err(|_| invalid())
}

/// Works in whole nanoseconds so that `999ms` or `2.5h` come out exact rather than off by a
/// float rounding step.
fn to_duration(value: f64, unit_secs: f64, text: &str) -> Result<Duration, DurationError> {
    let overflow = || DurationError::Overflow(text.to_string());
    let nanos = (value * unit_secs * 1e9).round();
    // u64::MAX seconds in nanoseconds, with margin: anything near it is not a real run length.
    if !nanos.is_finite() || !(0.0..1.8e28).contains(&nanos) {
        return Err(overflow());
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let nanos = nanos as u128;
    let secs = u64::try_from(nanos / 1_000_000_000).map_err(|_| overflow())?;
    let sub = u32::try_from(nanos % 1_000_000_000).map_err(|_| overflow())?;
    Ok(Duration::new(secs, sub))
}

/// The shortest form `parse_duration` reads back: `1h30m`, `45s`, `2d3h`, `1s500ms`, `0s`.
/// Below a millisecond is dropped.
pub fn format_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let parts = [
        (secs / 86_400, "d"),
        (secs % 86_400 / 3_600, "h"),
        (secs % 3_600 / 60, "m"),
        (secs % 60, "s"),
        (u64::from(d.subsec_millis()), "ms"),
    ];
    let text: String = parts.iter().filter(|(n, _)| *n > 0).map(|(n, unit)| format!("{n}{unit}")).collect();
    if text.is_empty() { "0s".to_string() } else { text }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(text: &str) -> Result<f64, DurationError> {
        parse_duration(text).map(|d| d.as_secs_f64())
    }

    #[test]
    fn accepts_every_documented_form() -> Result<(), DurationError> {
        assert_eq!(secs("90s")?, 90.0);
        assert_eq!(secs("45m")?, 2_700.0);
        assert_eq!(secs("1h30m")?, 5_400.0);
        assert_eq!(secs("2.5h")?, 9_000.0);
        assert_eq!(secs("1d")?, 86_400.0);
        assert_eq!(secs("1d2h")?, 93_600.0);
        assert_eq!(secs("500ms")?, 0.5);
        assert_eq!(secs("24h")?, 86_400.0);
        assert_eq!(secs("1h 30m")?, 5_400.0);
        Ok(())
    }

    #[test]
    fn a_bare_number_is_seconds() -> Result<(), DurationError> {
        assert_eq!(secs("90")?, 90.0);
        assert_eq!(secs("1.5")?, 1.5);
        assert_eq!(secs(" 0 ")?, 0.0);
        Ok(())
    }

    #[test]
    fn rejects_bad_text_with_a_clear_message() {
        assert_eq!(parse_duration(""), Err(DurationError::Empty));
        assert_eq!(parse_duration("  "), Err(DurationError::Empty));
        assert!(matches!(parse_duration("-5m"), Err(DurationError::Negative(_))));
        assert!(matches!(parse_duration("5y"), Err(DurationError::UnknownUnit { unit, .. }) if unit == "y"));
        assert!(matches!(parse_duration("1h30"), Err(DurationError::MissingUnit { .. })));
        assert!(matches!(parse_duration("30m1h"), Err(DurationError::UnitOrder { .. })));
        assert!(matches!(parse_duration("1h1h"), Err(DurationError::UnitOrder { .. })));
        assert!(matches!(parse_duration("h"), Err(DurationError::InvalidNumber { .. })));
        assert!(matches!(parse_duration("1..5h"), Err(DurationError::InvalidNumber { .. })));
        assert!(matches!(parse_duration("forever"), Err(DurationError::InvalidNumber { .. })));
        let overflow = parse_duration("99999999999999999999999d");
        assert!(matches!(overflow, Err(DurationError::Overflow(_))));
        let message = parse_duration("5y").map_err(|e| e.to_string()).err().unwrap_or_default();
        assert!(message.contains("unknown unit 'y'"), "{message}");
    }

    #[test]
    fn formats_in_the_shortest_readable_form() {
        assert_eq!(format_duration(Duration::from_secs(5_400)), "1h30m");
        assert_eq!(format_duration(Duration::from_secs(45)), "45s");
        assert_eq!(format_duration(Duration::from_secs(2 * 86_400 + 3 * 3_600)), "2d3h");
        assert_eq!(format_duration(Duration::from_millis(1_500)), "1s500ms");
        assert_eq!(format_duration(Duration::ZERO), "0s");
    }

    #[test]
    fn formatted_text_parses_back_to_the_same_duration() -> Result<(), DurationError> {
        for ms in [0, 1, 999, 1_000, 59_999, 3_600_000, 93_784_005] {
            let d = Duration::from_millis(ms);
            assert_eq!(parse_duration(&format_duration(d))?, d);
        }
        Ok(())
    }
}
