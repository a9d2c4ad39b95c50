//! Names of the settings that are secrets of Revis itself (LLM provider keys and endpoints).
//! They reach the daemon's memory and the providers' HTTP headers, nothing else: not the
//! store, not logs, not tmux or the training's environment (unless a user names one in
//! `entry.env_passthrough` on purpose).

/// The variables `revis loop` and `revis resume` pass from the user's shell to the daemon.
pub use revis_proto::{CLOUD_VARIABLES, PROVIDER_VARIABLES};
