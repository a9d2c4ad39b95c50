//! The session's worktree as the engine uses it: work that must not run on the async workers
//! (git, file edits), short commit names, and the fingerprint that tells whether a human edited
//! the worktree.

use std::path::Path;

use crate::workspace;

use super::{EngineError, Result};

/// What the worktree holds beyond its last commit: changed paths and a hash of their content.
/// Equal fingerprints mean nobody edited anything in between.
pub(super) fn fingerprint(worktree: &Path) -> std::result::Result<String, workspace::WorkspaceError> {
    let mut text = String::new();
    for path in workspace::diff_stat(worktree)? {
        let content = std::fs::read(worktree.join(&path)).unwrap_or_default();
        let hash =
            content.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
        text.push_str(&format!("{path}:{hash:016x}\n"));
    }
    Ok(text)
}

pub(super) fn short(sha: &str) -> &str {
    sha.get(..8).unwrap_or(sha)
}

/// Runs blocking work (git, file edits) off the async workers.
pub(super) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| EngineError::Internal(format!("a background task failed: {e}")))
}
