//! The binaries under measurement: the release `revis` and `revisd` beside this program, built
//! first (cargo makes that a no-op when they are fresh), or those of `--bin-dir`.
//!
//! The harness finds them through `REVIS_BIN_DIR`, which is set here once, before any thread.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

pub fn prepare(explicit: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let dir = match explicit {
        Some(dir) => dir,
        None => {
            let exe = std::env::current_exe().context("locating revis-bench")?;
            let dir = exe.parent().map(Path::to_path_buf).context("revis-bench has no directory")?;
            build_release(&dir)?;
            dir
        }
    };
    for bin in ["revis", "revisd"] {
        if !dir.join(bin).is_file() {
            bail!("{} not found in {}: build it with `cargo build --release --bins`", bin, dir.display());
        }
    }
    let dir = dir.canonicalize().with_context(|| format!("resolving {}", dir.display()))?;
    // Not an environment variable: setting one is unsafe once threads run (edition 2024).
    revis_tests::bins::set_bin_dir(dir.clone());
    Ok(dir)
}

/// `cargo build --release -p revisd -p revis-cli`, when run through cargo (which sets `CARGO`).
fn build_release(dir: &Path) -> anyhow::Result<()> {
    let Some(cargo) = std::env::var_os("CARGO") else {
        // Started directly: measure what is there.
        return Ok(());
    };
    let profile = dir.file_name().and_then(|n| n.to_str()).unwrap_or("release");
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "-p", "revisd", "-p", "revis-cli", "--bins"]);
    if profile == "release" {
        cmd.arg("--release");
    }
    eprintln!("revis-bench: building the {profile} binaries (cargo build -p revisd -p revis-cli)");
    let status = cmd.current_dir(env!("CARGO_MANIFEST_DIR")).status().context("running cargo build")?;
    if !status.success() {
        bail!("cargo build of the binaries failed ({status})");
    }
    Ok(())
}
