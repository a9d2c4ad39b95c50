//! Where the daemon keeps its state: `$REVIS_HOME` (default `$XDG_STATE_HOME/revis`, else
//! `~/.local/state/revis`) with `revis.db`, `revisd.sock`, `revisd.pid`, `revisd.log`, `runs/`.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Home {
    root: PathBuf,
    /// True when REVIS_HOME was given explicitly (tests, several daemons side by side).
    explicit: bool,
}

impl Home {
    /// Resolves the home from the environment. Does not create anything.
    pub fn from_env() -> Result<Self, String> {
        if let Some(dir) = std::env::var_os("REVIS_HOME").filter(|v| !v.is_empty()) {
            return Ok(Self { root: absolute(PathBuf::from(dir)), explicit: true });
        }
        if let Some(dir) = std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
            return Ok(Self { root: PathBuf::from(dir).join("revis"), explicit: false });
        }
        let home = std::env::var_os("HOME")
            .filter(|v| !v.is_empty())
            .ok_or("neither REVIS_HOME, XDG_STATE_HOME nor HOME is set")?;
        Ok(Self { root: PathBuf::from(home).join(".local/state/revis"), explicit: false })
    }

    pub fn at(root: impl Into<PathBuf>) -> Self {
        Self { root: absolute(root.into()), explicit: true }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn is_explicit(&self) -> bool {
        self.explicit
    }
    pub fn db(&self) -> PathBuf {
        self.root.join("revis.db")
    }
    pub fn socket(&self) -> PathBuf {
        self.root.join("revisd.sock")
    }
    pub fn pid_file(&self) -> PathBuf {
        self.root.join("revisd.pid")
    }
    pub fn log_file(&self) -> PathBuf {
        self.root.join("revisd.log")
    }
    pub fn runs(&self) -> PathBuf {
        self.root.join("runs")
    }
    /// `runs/<session>/<iteration>/`
    pub fn run_dir(&self, session: &str, iteration: u32) -> PathBuf {
        self.runs().join(session).join(iteration.to_string())
    }
}

/// The daemon changes its working directory to "/", so a relative home must be fixed first.
fn absolute(path: PathBuf) -> PathBuf {
    std::path::absolute(&path).unwrap_or(path)
}
