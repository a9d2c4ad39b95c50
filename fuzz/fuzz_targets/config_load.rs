//! `config_load`: `revisd::config::load_str` never panics on any revis.yaml text. An error always
//! names the file: its message starts with the path, followed by `:line:column` exactly when
//! the error has a position, and that position is inside the text (1-based, at most one line
//! past the end). An accepted config keeps its promises to the code that uses it: warnings name
//! the file, `max_run_duration` is the parsed `guardrails.max_run_duration`, and the
//! `context.deny` / `context.frozen` patterns compile with the runtime matcher (`Deny::new`),
//! so a session never fails later on a pattern the config check let through.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use revisd::path_policy::Deny;
use revisd::config::duration::parse_duration;
use revisd::config::load_str;

/// YAML line breaks: `\r\n`, `\n` and a lone `\r`.
fn line_breaks(text: &str) -> usize {
    let bytes = text.as_bytes();
    let lone_cr =
        bytes.windows(2).filter(|w| w[0] == b'\r' && w[1] != b'\n').count() + usize::from(bytes.last() == Some(&b'\r'));
    bytes.iter().filter(|&&b| b == b'\n').count() + lone_cr
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let path = Path::new("/work/project/revis.yaml");
    let shown = path.display().to_string();
    match load_str(text, path) {
        Err(e) => {
            let message = e.to_string();
            assert_eq!(e.path(), path);
            match (e.line(), e.column()) {
                (Some(line), Some(column)) => {
                    let prefix = format!("{shown}:{line}:{column}: ");
                    assert!(message.starts_with(&prefix), "{message:?} should start with {prefix:?}");
                    let last = line_breaks(text) + 1;
                    assert!(line >= 1 && line <= last, "line {line} outside 1..={last} in {message:?}");
                    assert!(column >= 1, "column 0 in {message:?}");
                }
                (None, None) => {
                    let prefix = format!("{shown}: ");
                    assert!(message.starts_with(&prefix), "{message:?} should start with {prefix:?}");
                }
                (line, column) => panic!("line {line:?} without column {column:?} (or the reverse): {message:?}"),
            }
        }
        Ok(loaded) => {
            for warning in &loaded.warnings {
                assert!(warning.starts_with(&shown), "warning without the file: {warning:?}");
            }
            let guardrails = &loaded.config.guardrails;
            assert_eq!(parse_duration(&guardrails.max_run_duration).ok(), Some(loaded.max_run_duration));
            let context = &loaded.config.context;
            if let Err(e) = Deny::new(&context.deny) {
                panic!("context.deny {:?} was accepted but does not compile: {e}", context.deny);
            }
            if let Err(e) = Deny::new(&context.frozen) {
                panic!("context.frozen {:?} was accepted but does not compile: {e}", context.frozen);
            }
        }
    }
});
