//! The git CLI as the user runs it (their credentials, helpers and config): the remote's URL,
//! whether the session branch has commits, and the push. Must not change any ref or config
//! other than what `git push` itself records.

use std::path::Path;
use std::process::{Command, Stdio};

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("cannot run git in {dir}: {source}")]
    Spawn { dir: String, source: std::io::Error },

    #[error("the project has no git remote '{remote}' (add one with `git remote add {remote} URL`, or pass --remote)")]
    NoRemote { remote: String },

    #[error("`git {command}` failed in {dir}{}", stderr_suffix(.stderr))]
    Failed { command: String, dir: String, stderr: String },
}

fn stderr_suffix(stderr: &str) -> String {
    let stderr = stderr.trim();
    if stderr.is_empty() { String::new() } else { format!(": {stderr}") }
}

/// The remote's URLs: as git will use it (after `url.*.insteadOf` rewriting) and as configured.
/// The second is what names the GitHub repository when a rewrite points elsewhere (a mirror).
pub fn remote_urls(dir: &Path, remote: &str) -> Result<(String, String), GitError> {
    let configured = run(dir, &["config", "--get", &format!("remote.{remote}.url")])?
        .ok_or_else(|| GitError::NoRemote { remote: remote.to_string() })?;
    let effective = run(dir, &["remote", "get-url", remote])?.unwrap_or_else(|| configured.clone());
    Ok((effective, configured))
}

/// Commits on `branch` that `base` does not have; None when git cannot tell (`base` missing).
pub fn commits_ahead(dir: &Path, base: &str, branch: &str) -> Result<Option<u64>, GitError> {
    let count = run(dir, &["rev-list", "--count", &format!("{base}..refs/heads/{branch}")])?;
    Ok(count.and_then(|c| c.trim().parse().ok()))
}

/// Whether the local branch exists.
pub fn has_branch(dir: &Path, branch: &str) -> Result<bool, GitError> {
    Ok(run(dir, &["rev-parse", "--verify", "--quiet", &format!("refs/heads/{branch}")])?.is_some())
}

/// `git push REMOTE BRANCH`: git's progress and prompts go to the user's terminal.
pub fn push(dir: &Path, remote: &str, branch: &str) -> Result<(), GitError> {
    let refspec = format!("refs/heads/{branch}:refs/heads/{branch}");
    let output = Command::new("git")
        .args(["push", remote, &refspec])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|source| GitError::Spawn { dir: dir.display().to_string(), source })?;
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    if output.status.success() {
        // Git reports the new branch (and a "create a pull request" link) on stderr.
        eprint!("{stderr}");
        return Ok(());
    }
    Err(GitError::Failed { command: format!("push {remote} {branch}"), dir: dir.display().to_string(), stderr })
}

/// Runs a query; Ok(None) when git exits non-zero (the thing asked about does not exist).
fn run(dir: &Path, args: &[&str]) -> Result<Option<String>, GitError> {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map_err(|source| GitError::Spawn { dir: dir.display().to_string(), source })?;
    if !output.status.success() {
        return Ok(None);
    }
    Ok(Some(String::from_utf8_lossy(&output.stdout).trim().to_string()))
}
