//! `eval_json`: `revisd::metrics::eval_json::parse` never panics on any text, and never invents
//! a non-finite metric. NaN/Infinity are accepted only as Python's bare tokens (documented in
//! eval_json.rs), so: for input that is already valid JSON (where no bare token can occur) the
//! result is exactly the numeric members of `"metrics"`, all finite, with one warning per other
//! member; and a NaN (infinite) metric needs a `NaN` (`Infinity`) somewhere in the text.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use revisd::metrics::eval_json::parse;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let path = Path::new("/run/out/eval.json");
    let Ok(collected) = parse(text, path) else { return };

    for (name, value) in &collected.metrics {
        if value.is_nan() {
            assert!(text.contains("NaN"), "metric {name:?} is NaN but the text has no NaN token: {text:?}");
        }
        if value.is_infinite() {
            assert!(text.contains("Infinity"), "metric {name:?} is infinite without an Infinity token: {text:?}");
        }
    }

    if let Ok(json) = serde_json::from_str::<serde_json::Value>(text) {
        let Some(members) = json.get("metrics").and_then(|m| m.as_object()) else {
            panic!("accepted without a metrics object: {text:?}");
        };
        let numbers: Vec<(&String, f64)> = members.iter().filter_map(|(k, v)| v.as_f64().map(|n| (k, n))).collect();
        assert_eq!(collected.metrics.len(), numbers.len(), "metrics of {text:?}: {:?}", collected.metrics);
        for (name, n) in numbers {
            assert_eq!(collected.metrics.get(name), Some(&n), "metric {name:?} of {text:?}");
        }
        assert_eq!(collected.warnings.len(), members.len() - collected.metrics.len(), "warnings of {text:?}");
        assert!(collected.metrics.values().all(|v| v.is_finite()), "valid JSON gave a non-finite metric: {text:?}");
    }
});
