//! Durations and timestamps for humans. The daemon sends RFC 3339 times and seconds; the CLI
//! shows local wall-clock times and compact durations. Unparseable input is shown as sent.

use chrono::{DateTime, Local};

/// `3.2s`, `42s`, `3m 12s`, `1h 02m`, `2d 03h`.
pub fn duration(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "-".to_string();
    }
    if seconds < 10.0 {
        return format!("{seconds:.1}s");
    }
    let s = seconds.round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        3600..86400 => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d {:02}h", s / 86400, (s % 86400) / 3600),
    }
}

/// A whole-unit duration for budgets: `4h`, `30m`, `1h 30m`, `45s`.
pub fn budget(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "-".to_string();
    }
    let s = seconds.round() as u64;
    let (h, m, sec) = (s / 3600, (s % 3600) / 60, s % 60);
    let mut parts = Vec::new();
    if h > 0 {
        parts.push(format!("{h}h"));
    }
    if m > 0 {
        parts.push(format!("{m}m"));
    }
    if sec > 0 || parts.is_empty() {
        parts.push(format!("{sec}s"));
    }
    parts.join(" ")
}

/// The instant in local time; None unless `at` is RFC 3339.
pub fn parse_rfc3339(at: &str) -> Option<DateTime<Local>> {
    DateTime::parse_from_rfc3339(at).ok().map(|t| t.with_timezone(&Local))
}

/// `HH:MM:SS` in local time, for event lines.
pub fn clock(at: &str) -> String {
    parse_rfc3339(at).map_or_else(|| at.to_string(), |t| t.format("%H:%M:%S").to_string())
}

/// `YYYY-MM-DD HH:MM` in local time, for headers.
pub fn timestamp(at: &str) -> String {
    parse_rfc3339(at).map_or_else(|| at.to_string(), |t| t.format("%Y-%m-%d %H:%M").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_pick_the_two_largest_units() {
        assert_eq!(duration(3.24), "3.2s");
        assert_eq!(duration(42.4), "42s");
        assert_eq!(duration(192.0), "3m 12s");
        assert_eq!(duration(3720.0), "1h 02m");
        assert_eq!(duration(2.0 * 86400.0 + 3.0 * 3600.0), "2d 03h");
        assert_eq!(duration(-1.0), "-");
        assert_eq!(duration(f64::NAN), "-");
    }

    #[test]
    fn budgets_read_like_the_flags_users_type() {
        assert_eq!(budget(4.0 * 3600.0), "4h");
        assert_eq!(budget(1800.0), "30m");
        assert_eq!(budget(5400.0), "1h 30m");
        assert_eq!(budget(0.0), "0s");
    }

    #[test]
    fn clock_is_local_time_of_the_instant() {
        let at = "2024-05-01T10:20:30Z";
        let expected =
            DateTime::parse_from_rfc3339(at).map(|t| t.with_timezone(&Local).format("%H:%M:%S").to_string()).ok();
        assert_eq!(Some(clock(at)), expected);
        assert_eq!(clock("2024-05-01T10:20:30+02:00").len(), 8);
    }

    #[test]
    fn unparseable_times_pass_through() {
        assert_eq!(clock("soon"), "soon");
        assert_eq!(timestamp(""), "");
    }
}
