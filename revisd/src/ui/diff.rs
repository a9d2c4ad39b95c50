//! An iteration's change as the page shows it: the coding agent's diff when one made it, else
//! its commit against the commit it started from. Files `context.deny` hides (and the ones
//! always hidden, such as `.env`) are left out, names included.

use std::path::Path;

use revis_proto::v1 as pb;

use crate::engine::records::SessionRow;
use crate::path_policy::Deny;

/// A page shows at most this much of a diff.
const MAX_DIFF_BYTES: usize = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    #[error("the session's context.deny cannot be read: {0}")]
    Deny(String),
    #[error(transparent)]
    Git(#[from] crate::workspace::WorkspaceError),
    #[error("the diff task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

pub async fn of_iteration(session: &SessionRow, it: &pb::Iteration) -> Result<String, DiffError> {
    let deny = deny_of(session)?;
    if let Some(agent) = it.agent.as_ref().filter(|a| !a.diff.trim().is_empty()) {
        return Ok(without_denied(&agent.diff, &deny));
    }
    let Some(commit) = it.commit.clone() else { return Ok(String::new()) };
    let project = session.project.clone();
    let text = tokio::task::spawn_blocking(move || {
        crate::workspace::commit_patch(Path::new(&project), &commit, MAX_DIFF_BYTES, &|path| deny.is_denied(path))
    })
    .await??;
    Ok(text)
}

/// The session's `context.deny`, from the configuration it started with.
fn deny_of(session: &SessionRow) -> Result<Deny, DiffError> {
    let config: serde_json::Value =
        serde_json::from_str(&session.config_json).map_err(|e| DiffError::Deny(e.to_string()))?;
    let patterns: Vec<String> = config
        .pointer("/context/deny")
        .and_then(|v| v.as_array())
        .map(|list| list.iter().filter_map(|p| p.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    Deny::new(&patterns).map_err(|e| DiffError::Deny(e.to_string()))
}

/// A unified diff without the file sections of hidden paths.
fn without_denied(diff: &str, deny: &Deny) -> String {
    let mut out = String::new();
    let mut keep = true;
    for line in diff.split_inclusive('\n') {
        if let Some(header) = line.strip_prefix("diff --git ") {
            keep = !header.split_whitespace().any(|side| {
                let path = side.trim_start_matches("a/").trim_start_matches("b/");
                deny.is_denied(Path::new(path))
            });
        }
        if keep {
            out.push_str(line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_files_leave_no_section_and_no_name() {
        let deny = Deny::new(&["secrets/".to_string()]).expect("deny");
        let diff = "diff --git a/train.py b/train.py\n--- a/train.py\n+++ b/train.py\n@@ -1 +1 @@\n-a\n+b\n\
                    diff --git a/secrets/key.txt b/secrets/key.txt\n--- a/secrets/key.txt\n+++ b/secrets/key.txt\n@@ -1 +1 @@\n-x\n+y\n\
                    diff --git a/.env b/.env\n+TOKEN=1\n";
        let shown = without_denied(diff, &deny);
        assert!(shown.contains("train.py") && shown.contains("+b"));
        assert!(
            !shown.contains("secrets")
                && !shown.contains("key.txt")
                && !shown.contains(".env")
                && !shown.contains("TOKEN")
        );
    }
}
