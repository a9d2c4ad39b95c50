//! Where the daemon lives: `$REVIS_HOME`, else `$XDG_STATE_HOME/revis`, else
//! `~/.local/state/revis` — resolved exactly as revisd does. Creates nothing.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::error::CliError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    root: PathBuf,
    /// Given by REVIS_HOME rather than defaulted. revisd treats an explicit home differently
    /// (a private tmux server inside it), so only an explicit home is passed as `--home`.
    explicit: bool,
}

impl Home {
    pub fn from_env() -> Result<Self, CliError> {
        Self::resolve(std::env::var_os("REVIS_HOME"), std::env::var_os("XDG_STATE_HOME"), std::env::var_os("HOME"))
    }

    /// The resolution rule, free of the process environment so it can be tested.
    fn resolve(
        revis_home: Option<OsString>,
        xdg_state_home: Option<OsString>,
        home: Option<OsString>,
    ) -> Result<Self, CliError> {
        let set = |v: Option<OsString>| v.filter(|v| !v.is_empty());
        if let Some(dir) = set(revis_home) {
            return Ok(Self { root: PathBuf::from(dir), explicit: true });
        }
        let root = if let Some(dir) = set(xdg_state_home) {
            PathBuf::from(dir).join("revis")
        } else if let Some(dir) = set(home) {
            PathBuf::from(dir).join(".local/state/revis")
        } else {
            return Err(CliError::Runtime("neither REVIS_HOME, XDG_STATE_HOME nor HOME is set".into()));
        };
        Ok(Self { root, explicit: false })
    }

    #[cfg(test)]
    pub fn at(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into(), explicit: true }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn is_explicit(&self) -> bool {
        self.explicit
    }
    pub fn socket(&self) -> PathBuf {
        self.root.join("revisd.sock")
    }
    pub fn log_file(&self) -> PathBuf {
        self.root.join("revisd.log")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(s: &str) -> Option<OsString> {
        Some(OsString::from(s))
    }

    #[test]
    fn revis_home_wins() {
        let home = Home::resolve(os("/r"), os("/x"), os("/h")).ok();
        assert_eq!(home.map(|h| h.socket()), Some(PathBuf::from("/r/revisd.sock")));
    }

    #[test]
    fn xdg_state_home_is_next() {
        let home = Home::resolve(None, os("/x"), os("/h")).ok();
        assert_eq!(home.map(|h| h.root().to_path_buf()), Some(PathBuf::from("/x/revis")));
    }

    #[test]
    fn empty_values_count_as_unset() {
        let home = Home::resolve(os(""), os(""), os("/h")).ok();
        assert_eq!(home.map(|h| h.log_file()), Some(PathBuf::from("/h/.local/state/revis/revisd.log")));
    }

    #[test]
    fn nothing_set_is_an_error() {
        assert!(Home::resolve(None, None, None).is_err());
    }
}
