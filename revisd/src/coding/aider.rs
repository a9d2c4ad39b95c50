//! aider: `aider --message <prompt> --yes-always --no-auto-commits --no-stream <files…>`. It
//! reports nothing structured: exit 0 is success and the end of its output is the summary.

use std::ffi::OsString;
use std::sync::LazyLock;

use regex::Regex;

use super::agent::Report;

const SUMMARY_LINES: usize = 20;

pub(super) fn args(prompt: &str, files: &[String]) -> Vec<OsString> {
    let mut args: Vec<OsString> = ["--message", prompt, "--yes-always", "--no-auto-commits", "--no-stream"]
        .into_iter()
        .map(OsString::from)
        .collect();
    // A file named like a flag would be read as one; "./" keeps it a path.
    args.extend(files.iter().map(|file| if file.starts_with('-') { format!("./{file}") } else { file.clone() }.into()));
    args
}

static ANSI: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"\x1b\[[0-9;?]*[ -/]*[@-~]").ok());

pub(super) fn read(stdout: &str) -> Report {
    let plain = match ANSI.as_ref() {
        Some(ansi) => ansi.replace_all(stdout, ""),
        None => stdout.into(),
    };
    let lines: Vec<&str> = plain.trim_end().lines().collect();
    let summary = lines[lines.len().saturating_sub(SUMMARY_LINES)..].join("\n");
    Report { summary, parsed: true, ..Report::default() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_is_the_last_twenty_lines_without_colour() {
        let out: String = (1..=30).map(|i| format!("\x1b[32mline {i}\x1b[0m\n")).collect();
        let report = read(&out);
        assert_eq!(report.summary.lines().count(), 20);
        assert!(report.summary.starts_with("line 11\n"));
        assert!(report.summary.ends_with("line 30"));
        assert_eq!(report.error, None);
    }

    #[test]
    fn files_follow_the_flags() {
        let args = args("do it", &["a.py".to_string(), "-odd.py".to_string()]);
        let expected = ["--message", "do it", "--yes-always", "--no-auto-commits", "--no-stream", "a.py", "./-odd.py"];
        assert_eq!(args, expected.map(OsString::from));
    }
}
