//! Git as the user runs it: the CLI, with a fixed identity so commits work on a bare CI machine.
//! Also reads Revis's commit trailers back.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Runs `git args...` in `dir`; returns the output whatever the exit code.
pub fn git_output(dir: &Path, args: &[&str]) -> Output {
    Command::new("git")
        .args([
            "-c",
            "user.name=Revis Tests",
            "-c",
            "user.email=tests@revis.invalid",
            "-c",
            "commit.gpgsign=false",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run git {args:?} in {}: {e}", dir.display()))
}

/// Runs `git args...` in `dir`, asserts success and returns stdout, trimmed.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = git_output(dir, args);
    assert!(out.status.success(), "git {args:?} failed in {}: {}", dir.display(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// One commit with the trailers of its message (`Key: value` lines of the last paragraph).
#[derive(Debug, Clone)]
pub struct CommitInfo {
    pub sha: String,
    pub subject: String,
    pub trailers: BTreeMap<String, String>,
}

impl CommitInfo {
    pub fn trailer(&self, key: &str) -> Option<&str> {
        self.trailers.get(key).map(String::as_str)
    }
}

/// Commits in `range` (e.g. `main..revis/x`), newest first.
pub fn commits(dir: &Path, range: &str) -> Vec<CommitInfo> {
    // %x1e separates records, %x1f fields; git's own trailer parser extracts the trailers.
    let log = git(dir, &["log", "--format=%H%x1f%s%x1f%(trailers:only,unfold)%x1e", range]);
    log.split('\x1e')
        .map(str::trim)
        .filter(|record| !record.is_empty())
        .map(|record| {
            let mut fields = record.split('\x1f');
            let sha = fields.next().unwrap_or_default().trim().to_string();
            let subject = fields.next().unwrap_or_default().to_string();
            let trailers = fields
                .next()
                .unwrap_or_default()
                .lines()
                .filter_map(|line| line.split_once(':'))
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .collect();
            CommitInfo { sha, subject, trailers }
        })
        .collect()
}
