//! `duration`: `parse_duration` and `format_duration` never panic, and formatting is exact:
//! for any text that parses to `d`, and for any `Duration` `d` built from raw bytes,
//! `parse_duration(format_duration(d))` is `d` truncated to the millisecond (the format drops
//! what is below a millisecond), and formatting that again gives the same text.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use revisd::config::duration::{format_duration, parse_duration};

fn to_millis(d: Duration) -> Duration {
    Duration::new(d.as_secs(), d.subsec_millis() * 1_000_000)
}

fn round_trips(d: Duration, origin: &str) {
    let text = format_duration(d);
    let back = match parse_duration(&text) {
        Ok(back) => back,
        Err(e) => panic!("format_duration({d:?}) = {text:?} does not parse back ({origin}): {e}"),
    };
    assert_eq!(back, to_millis(d), "format_duration({d:?}) = {text:?} parsed back differently ({origin})");
    assert_eq!(format_duration(back), text, "formatting is not stable for {d:?} ({origin})");
}

fuzz_target!(|data: &[u8]| {
    // The first 12 bytes also make a raw Duration, so the formatter is exercised over the whole
    // range, not only over what the parser happens to produce.
    if let Some((secs, rest)) = data.split_first_chunk::<8>()
        && let Some((nanos, _)) = rest.split_first_chunk::<4>()
    {
        let d = Duration::new(u64::from_le_bytes(*secs), u32::from_le_bytes(*nanos) % 1_000_000_000);
        round_trips(d, "raw");
    }
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(d) = parse_duration(text)
    {
        round_trips(d, text);
    }
});
