//! Commit messages with git trailers (`Revis-Session: ...`), and finding a commit by one:
//! the engine looks its commit up before committing, so a resumed phase never commits twice.

use std::path::Path;

use git2::{BranchType, Sort};

use super::root::open_main;
use super::{GitContext, WorkspaceError};

/// `summary`, a blank line, `body` (if any), a blank line and the trailer block. Line breaks
/// in the summary and in trailer values are folded into spaces: each must stay one line.
pub fn commit_message(summary: &str, body: &str, trailers: &[(&str, String)]) -> String {
    let mut message = one_line(summary);
    let body = body.trim();
    if !body.is_empty() {
        message.push_str("\n\n");
        message.push_str(body);
    }
    if !trailers.is_empty() {
        message.push_str("\n\n");
        let block: Vec<String> = trailers.iter().map(|(key, value)| format!("{key}: {}", one_line(value))).collect();
        message.push_str(&block.join("\n"));
    }
    message.push('\n');
    message
}

/// The newest commit on `branch` whose message has the trailer `key: value` (keys compare
/// case-insensitively, as git does). `None` when there is none or no such branch.
pub fn find_commit_with_trailer(
    project: &Path,
    branch: &str,
    key: &str,
    value: &str,
) -> Result<Option<String>, WorkspaceError> {
    let (repo, _) = open_main(project)?;
    let Ok(found) = repo.find_branch(branch, BranchType::Local) else {
        return Ok(None);
    };
    let tip = found.get().peel_to_commit().git(|| format!("resolve branch {branch}"))?;
    let mut walk = repo.revwalk().git(|| "walk history".into())?;
    walk.set_sorting(Sort::TOPOLOGICAL).git(|| "sort history".into())?;
    walk.push(tip.id()).git(|| format!("walk branch {branch}"))?;
    for oid in walk {
        let oid = oid.git(|| format!("walk branch {branch}"))?;
        let commit = repo.find_commit(oid).git(|| format!("read commit {oid}"))?;
        let Ok(message) = commit.message() else {
            continue;
        };
        // Cheap filter first: most commits of a long user history carry no trailer at all.
        if !message.contains(value) {
            continue;
        }
        let Ok(trailers) = git2::message_trailers_strs(message) else {
            continue;
        };
        if trailers.iter().any(|(k, v)| k.eq_ignore_ascii_case(key) && v.trim() == value) {
            return Ok(Some(oid.to_string()));
        }
    }
    Ok(None)
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ends_with_a_parseable_trailer_block() {
        let message = commit_message(
            "Raise lr\nto 0.01",
            "Because the loss plateaued.\n\nSecond paragraph.",
            &[("Revis-Session", "s1".into()), ("Revis-Iteration", "3".into())],
        );
        assert!(message.starts_with("Raise lr to 0.01\n\nBecause"));
        let trailers = git2::message_trailers_strs(&message).expect("trailers");
        let pairs: Vec<(&str, &str)> = trailers.iter().collect();
        assert_eq!(pairs, [("Revis-Session", "s1"), ("Revis-Iteration", "3")]);
    }

    #[test]
    fn message_without_body_or_trailers() {
        assert_eq!(commit_message("Baseline", "  ", &[]), "Baseline\n");
    }
}
