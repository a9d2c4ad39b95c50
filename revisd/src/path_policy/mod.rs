//! Which paths of a session's worktree may be seen and changed, and where a named path really
//! leads: `context.deny` and `context.frozen` globs (gitignore-like, plus files that are always
//! hidden), and confinement to the worktree (no `..`, no absolute path, no symlink that leads
//! outside). The advisor's tools, `changes`, `config` validation, the engine's checks of a
//! decision and the coding agents' view all decide with these same rules.
//!
//! This module only answers questions about paths: it never reads a file's content, never
//! writes, and knows nothing of LLMs, decisions or revis.yaml (callers name the list a bad
//! pattern came from).

mod confine;
mod deny;
mod resolve;

pub use confine::confine;
pub use deny::Deny;
pub use resolve::{resolve, resolve_existing};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// A deny or frozen pattern that does not compile; the caller says which list it is in.
    #[error("invalid pattern `{pattern}`: {reason}")]
    BadPattern { pattern: String, reason: String },
    /// `..`, absolute paths, symlinks that lead outside the worktree.
    #[error("path `{path}` is not allowed: {reason}")]
    Refused { path: String, reason: String },
    /// Used for missing *and* denied paths alike, so that whoever asked cannot tell them apart.
    #[error("no such file or directory: {path}")]
    NotFound { path: String },
    /// The worktree itself could not be resolved.
    #[error("cannot resolve `{path}`: {message}")]
    Unavailable { path: String, message: String },
}
