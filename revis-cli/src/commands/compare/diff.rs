//! The code/config half of `revis compare`: `git diff --stat` and the full diff between two
//! iteration commits, run with the `git` CLI in the session's project (the worktree's branch
//! shares its objects). A failure here is reported inside the comparison, not as an error:
//! the metrics are still worth showing when a commit was garbage-collected or the project
//! moved. Long diffs are cut to a number of lines with a note of how to see all of it.

use serde::Serialize;

/// Hard cap on the diff text kept in memory and printed, whatever the line limit.
const MAX_BYTES: usize = 1024 * 1024;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CodeDiff {
    pub from: Option<String>,
    pub to: Option<String>,
    /// The command that shows the whole diff.
    pub command: String,
    pub stat: String,
    pub text: String,
    /// Whether `text` was cut.
    pub truncated: bool,
    /// Lines in the whole diff.
    pub total_lines: usize,
    /// Why there is no diff (missing commit, git failed), when so.
    pub error: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("cannot run git in {dir}: {source}")]
    Spawn { dir: String, source: std::io::Error },
    #[error("`{command}` failed: {stderr}")]
    Failed { command: String, stderr: String },
    #[error("{what} is not a commit id: {id:?}")]
    BadCommit { what: String, id: String },
}

impl CodeDiff {
    /// No diff can be made; `reason` says why.
    pub fn unavailable(from: Option<String>, to: Option<String>, reason: String) -> Self {
        Self { from, to, error: Some(reason), ..Default::default() }
    }
}

/// The diff from commit `from` to commit `to` in the repository at `project`.
pub async fn between(project: &str, from: &str, to: &str, max_lines: usize) -> CodeDiff {
    let mut diff = CodeDiff {
        from: Some(from.to_string()),
        to: Some(to.to_string()),
        command: format!("git -C {} diff {from} {to}", shell_word(project)),
        ..Default::default()
    };
    let result = async {
        let stat = git_diff(project, from, to, true).await?;
        let text = git_diff(project, from, to, false).await?;
        Ok::<_, GitError>((stat, text))
    }
    .await;
    match result {
        Ok((stat, text)) => {
            let (kept, total, truncated) = cap(&text, max_lines);
            diff.stat = stat;
            diff.text = kept;
            diff.total_lines = total;
            diff.truncated = truncated;
        }
        Err(e) => diff.error = Some(e.to_string()),
    }
    diff
}

async fn git_diff(project: &str, from: &str, to: &str, stat: bool) -> Result<String, GitError> {
    for (what, id) in [("first", from), ("second", to)] {
        // Ids come from the daemon; refuse anything git could read as an option.
        if id.is_empty() || id.starts_with('-') {
            return Err(GitError::BadCommit { what: format!("the {what} iteration's commit"), id: id.to_string() });
        }
    }
    let mut args = vec!["--no-pager", "-C", project, "diff", "--no-color", "--no-ext-diff"];
    if stat {
        args.push("--stat");
    }
    args.extend([from, to, "--"]);
    let output = tokio::process::Command::new("git")
        .args(&args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|source| GitError::Spawn { dir: project.to_string(), source })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
        return Err(GitError::Failed { command: format!("git {}", args.join(" ")), stderr });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// At most `max_lines` lines (0: no line limit) and `MAX_BYTES` bytes of `text`:
/// (kept text, total lines, whether anything was cut).
pub fn cap(text: &str, max_lines: usize) -> (String, usize, bool) {
    let total = text.lines().count();
    let limit = if max_lines == 0 { usize::MAX } else { max_lines };
    let mut kept = String::new();
    let mut cut = false;
    for (i, line) in text.lines().enumerate() {
        if i >= limit || kept.len() + line.len() + 1 > MAX_BYTES {
            cut = true;
            break;
        }
        kept.push_str(line);
        kept.push('\n');
    }
    (kept, total, cut)
}

/// The project path quoted for a copy-pasteable hint when it has spaces or quotes.
fn shell_word(path: &str) -> String {
    if path.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+:@".contains(c)) {
        path.to_string()
    } else {
        format!("'{}'", path.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_diffs_are_cut_by_lines() {
        let text = "a\nb\nc\nd\n";
        assert_eq!(cap(text, 2), ("a\nb\n".to_string(), 4, true));
        assert_eq!(cap(text, 0), (text.to_string(), 4, false));
        assert_eq!(cap(text, 4), (text.to_string(), 4, false));
    }

    #[test]
    fn huge_lines_are_cut_by_bytes() {
        let line = "x".repeat(MAX_BYTES / 2);
        let text = format!("{line}\n{line}\n{line}\n");
        let (kept, total, cut) = cap(&text, 0);
        assert!(cut);
        assert_eq!(total, 3);
        assert!(kept.len() <= MAX_BYTES);
    }

    #[test]
    fn hints_quote_odd_paths() {
        assert_eq!(shell_word("/tmp/p-1"), "/tmp/p-1");
        assert_eq!(shell_word("/tmp/my proj"), "'/tmp/my proj'");
        assert_eq!(shell_word("/tmp/it's"), "'/tmp/it'\\''s'");
    }

    #[tokio::test]
    async fn git_failures_are_reported_not_fatal() {
        let d = between("/nonexistent-revis-dir", "abc", "def", 10).await;
        assert!(d.error.is_some(), "{d:?}");
        assert!(d.text.is_empty());
        let bad = between("/tmp", "--output=/tmp/x", "abc", 10).await;
        assert!(bad.error.as_deref().is_some_and(|e| e.contains("not a commit id")), "{bad:?}");
    }

    #[tokio::test]
    async fn diffs_between_two_commits_of_a_real_repository() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let repo = dir.path().to_string_lossy().into_owned();
        let git = |args: &[&str]| {
            std::process::Command::new("git")
                .args(["-C", &repo, "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"])
                .args(args)
                .output()
        };
        git(&["init", "-q"])?;
        std::fs::write(dir.path().join("config.json"), "{\"lr\": 1.0}\n")?;
        git(&["add", "."])?;
        git(&["commit", "-q", "-m", "one"])?;
        let first = String::from_utf8(git(&["rev-parse", "HEAD"])?.stdout)?.trim().to_string();
        std::fs::write(dir.path().join("config.json"), "{\"lr\": 0.01}\n")?;
        git(&["commit", "-q", "-am", "two"])?;
        let second = String::from_utf8(git(&["rev-parse", "HEAD"])?.stdout)?.trim().to_string();

        let d = between(&repo, &first, &second, 100).await;
        assert_eq!(d.error, None, "{d:?}");
        assert!(d.stat.contains("config.json"), "{d:?}");
        assert!(d.text.contains("-{\"lr\": 1.0}") && d.text.contains("+{\"lr\": 0.01}"), "{d:?}");
        assert!(!d.truncated);
        let cut = between(&repo, &first, &second, 2).await;
        assert!(cut.truncated && cut.total_lines > 2, "{cut:?}");
        let gone = between(&repo, &first, "0123456789abcdef0123456789abcdef01234567", 10).await;
        assert!(gone.error.is_some(), "{gone:?}");
        Ok(())
    }
}
