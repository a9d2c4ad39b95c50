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

/// Each unit in nanoseconds.
const UNITS: &[(&str, u128)] = &[
    ("d", 86_400_000_000_000),
    ("h", 3_600_000_000_000),
    ("m", 60_000_000_000),
    ("s", 1_000_000_000),
    ("ms", 1_000_000),
];
const NANOS_PER_SEC: u128 = 1_000_000_000;
/// Fraction digits past this many are ignored: they are worth under 1e-10 ns for any unit,
/// and it keeps `fraction * unit` within a u128.
const FRACTION_DIGITS: usize = 24;

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
        return to_duration(nanos(trimmed, body, NANOS_PER_SEC)?, trimmed);
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
        let part = to_duration(nanos(trimmed, num_text, UNITS[index].1)?, trimmed)?;
        total = total.checked_add(part).ok_or_else(|| DurationError::Overflow(trimmed.to_string()))?;
        previous = format!("{num_text}{unit}");
        rest = tail.trim_start();
    }
    Ok(total)
}

fn is_number(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c.is_ascii_digit() || c == '.')
}

/// `num` (digits with at most one inner `.`) times `unit` nanoseconds, rounded to the nearest
/// nanosecond. Decimal arithmetic in integers, not floats: `2.5h` and `999ms` are exact, and so
/// is anything `format_duration` writes, however large (a float loses whole nanoseconds past
/// 2^53 of them, about 104 days, so long durations did not read back as written).
fn nanos(text: &str, num: &str, unit: u128) -> Result<u128, DurationError> {
    let invalid = || DurationError::InvalidNumber { text: text.to_string(), number: num.to_string() };
    let overflow = || DurationError::Overflow(text.to_string());
    let (whole, fraction) = num.split_once('.').unwrap_or((num, ""));
    let digits_only = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || num.ends_with('.') || !digits_only(whole) || !digits_only(fraction) {
        return Err(invalid());
    }
    let value =
        |digits: &str| digits.bytes().try_fold(0u128, |acc, b| acc.checked_mul(10)?.checked_add(u128::from(b - b'0')));
    let whole_nanos = value(whole).and_then(|w| w.checked_mul(unit)).ok_or_else(overflow)?;
    let fraction = &fraction[..fraction.len().min(FRACTION_DIGITS)];
    // At most 24 digits, so neither the value nor its product with a day's nanoseconds overflows.
    let scale = 10u128.pow(u32::try_from(fraction.len()).map_err(|_| invalid())?);
    let fraction_nanos = (value(fraction).ok_or_else(invalid)? * unit + scale / 2) / scale;
    whole_nanos.checked_add(fraction_nanos).ok_or_else(overflow)
}

fn to_duration(nanos: u128, text: &str) -> Result<Duration, DurationError> {
    let overflow = || DurationError::Overflow(text.to_string());
    let secs = u64::try_from(nanos / NANOS_PER_SEC).map_err(|_| overflow())?;
    let sub = u32::try_from(nanos % NANOS_PER_SEC).map_err(|_| overflow())?;
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
    fn long_durations_read_back_exactly() -> Result<(), DurationError> {
        // Found by the `duration` fuzz target: floats lost whole nanoseconds past ~104 days, and
        // the largest Duration's formatted text was refused as too large.
        let max_ms = Duration::new(u64::MAX, 999_000_000);
        assert_eq!(parse_duration(&format_duration(max_ms))?, max_ms);
        let found = Duration::new(7_868_668_605_836_059_697, 544_000_000);
        assert_eq!(format_duration(found), "91072553308287d17h28m17s544ms");
        assert_eq!(parse_duration("91072553308287d17h28m17s544ms")?, found);
        assert_eq!(parse_duration("123456789012.345678901s")?, Duration::new(123_456_789_012, 345_678_901));
        assert_eq!(parse_duration("0.0000000005s")?, Duration::from_nanos(1), "half a nanosecond rounds up");
        assert!(matches!(parse_duration("213503982334602d"), Err(DurationError::Overflow(_))));
        Ok(())
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
