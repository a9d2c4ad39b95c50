//! End-to-end harness for Revis: runs the real `revisd` and `revis` binaries against a temporary
//! `REVIS_HOME`, a private tmux server and a temporary git repository.
//!
//! Owns: locating the built binaries, temp homes and projects, running the CLI with a deadline,
//! polling helpers, and cleaning up every process a test started (even when it panics).
//! Must not: build the binaries, touch the user's real `REVIS_HOME` or tmux server, or sleep for
//! fixed amounts of time — every wait is a poll with a deadline.
//!
//! Harness functions panic with context on failure: in a test, a panic is the failure report.

pub mod agent_clis;
pub mod bins;
pub mod browser;
pub mod cli;
pub mod fakes;
pub mod fixtures;
pub mod git;
pub mod home;
pub mod llm;
pub mod process;
pub mod project;
pub mod scan;
pub mod scripts;
pub mod session;
pub mod wait;

pub use bins::{bin_dir, revis_bin, revisd_bin};
pub use cli::{Running, revis, revis_command};
pub use fixtures::{standard_project, standard_yaml};
pub use home::TestHome;
pub use project::Project;
pub use session::{TestEnv, show_json};
pub use wait::{closed_port, wait_until};

use std::time::Duration;

/// Deadline for a whole session of a few short runs to end.
pub const SESSION_DEADLINE: Duration = Duration::from_secs(60);
/// Deadline for a single CLI command.
pub const COMMAND_DEADLINE: Duration = Duration::from_secs(60);
