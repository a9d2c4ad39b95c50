//! One module per `revis` command. Each parses its own flags (clap `Args`), talks to the daemon
//! through `Context::connect`, and prints through `out`/`out_json`. Shared here: the context
//! (home, project directory, palette) and stdout handling.

pub mod approve;
pub mod compare;
pub mod completions;
pub mod daemon;
pub mod delete;
pub mod export;
pub mod init;
pub mod list;
pub mod logs;
pub mod loop_cmd;
pub mod pr;
pub mod report;
pub mod resume;
pub mod show;
pub mod status;
pub mod stop;
pub mod ui;
pub mod watch;

use std::io::Write;
use std::path::PathBuf;

use serde::Serialize;

use crate::client::{self, Connection};
use crate::error::CliError;
use crate::home::Home;
use crate::render::color::Palette;

pub struct Context {
    pub home: Home,
    pub palette: Palette,
    /// `-C DIR` as given; None means the current directory.
    project_arg: Option<PathBuf>,
}

impl Context {
    pub fn new(project_arg: Option<PathBuf>) -> Result<Self, CliError> {
        Ok(Self { home: Home::from_env()?, palette: Palette::for_stdout(), project_arg })
    }

    #[cfg(test)]
    pub fn for_test(home: Home, project_dir: PathBuf) -> Self {
        Self { home, palette: Palette::plain(), project_arg: Some(project_dir) }
    }

    pub async fn connect(&self) -> Result<Connection, CliError> {
        client::connect(&self.home).await
    }

    /// The project directory as the absolute path the daemon expects.
    pub fn project_dir(&self) -> Result<String, CliError> {
        let dir = match &self.project_arg {
            Some(dir) => dir.clone(),
            None => std::env::current_dir().map_err(|e| CliError::io("cannot read the current directory", e))?,
        };
        let absolute = std::fs::canonicalize(&dir)
            .map_err(|e| CliError::Usage(format!("cannot use project directory {}: {e}", dir.display())))?;
        absolute
            .into_os_string()
            .into_string()
            .map_err(|raw| CliError::Usage(format!("project directory {} is not valid UTF-8", raw.display())))
    }

    /// ` -C DIR` for hints, only when the user gave `-C` (so the hint works from where they are).
    pub fn project_hint(&self) -> String {
        self.project_arg.as_ref().map(|d| format!(" -C {}", d.display())).unwrap_or_default()
    }
}

/// Writes to stdout; a closed pipe ends the command quietly instead of panicking.
pub fn out(text: &str) -> Result<(), CliError> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()).map_err(|e| {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            CliError::StdoutClosed
        } else {
            CliError::io("cannot write to stdout", e)
        }
    })
}

/// Prints `value` as JSON followed by a newline.
pub fn out_json<T: Serialize + ?Sized>(value: &T, pretty: bool) -> Result<(), CliError> {
    let text = if pretty { serde_json::to_string_pretty(value) } else { serde_json::to_string(value) }
        .map_err(|e| CliError::Runtime(format!("cannot encode JSON: {e}")))?;
    out(&format!("{text}\n"))
}
