//! revisd: the Revis daemon as a library. `main.rs` only parses flags and calls `daemon::run`.
//!
//! Module map (see ARCHITECTURE.md): `api` is the thin tonic service, `engine` drives sessions,
//! `store` is the only place SQL lives, `exec` runs training, `metrics` reads results,
//! `advisor` decides, `changes` applies decisions, `workspace` owns git, `config` owns revis.yaml,
//! `daemon` owns the socket, the pid file and signals. Pieces several of them share have modules
//! of their own: `http` (the HTTP client), `path_policy` (what may be seen and changed in a
//! worktree), `secrets`, `paths`. Top-level modules import each other without loops
//! (`module_graph_tests`).

pub mod advisor;
pub mod api;
pub mod changes;
pub mod coding;
pub mod config;
pub mod daemon;
pub mod engine;
pub mod exec;
pub mod http;
pub mod metrics;
pub mod path_policy;
pub mod paths;
pub mod program;
pub mod remote;
pub mod secrets;
pub mod states;
pub mod store;
pub mod ui;
pub mod workspace;

/// Data for the benchmarks' test trees.
#[cfg(test)]
pub(crate) mod test_data {
    /// `len` bytes that compress about as badly as model weights do (xorshift64), the same
    /// for the same `seed`.
    pub(crate) fn incompressible(len: usize, seed: &mut u64) -> Vec<u8> {
        (0..len)
            .map(|_| {
                *seed ^= *seed << 13;
                *seed ^= *seed >> 7;
                *seed ^= *seed << 17;
                *seed as u8
            })
            .collect()
    }
}

#[cfg(test)]
mod module_graph_tests;
