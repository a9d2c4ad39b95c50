//! The files of a run on another machine (an SSH host, a cluster's shared filesystem), for the
//! executors that reach it through a `Shell`: the worktree synced there, the bundle that goes
//! there before the run (env file, command.sh and the executor's own script, as one tar
//! stream) and the output directory that comes back after it.

use std::path::Path;

use super::wrapper::{sh_quote, validate_env};
use super::{ExecError, RunSpec, SyncReport};
use crate::remote::{RemoteError, Shell, sync};

/// Brings `dir` up to date with `worktree` (only what changed since the sync recorded in
/// `state_file`) and checks that the `links` (`workspace.link`) exist there.
pub(crate) async fn sync_workdir(
    shell: &impl Shell,
    worktree: &Path,
    dir: &str,
    state_file: &Path,
    links: &[String],
) -> Result<SyncReport, ExecError> {
    let report = sync::sync(shell, worktree, dir, state_file).await.map_err(|e| ExecError::Sync(Box::new(e)))?;
    sync::check_links(shell, dir, links).await.map_err(|e| ExecError::Sync(Box::new(e)))?;
    Ok(report)
}

/// env (0600), command.sh and `script` (0700, named `script_name`) as a tar stream.
/// `output_dir` is where `REVIS_OUTPUT_DIR` points on the other machine.
pub(crate) fn bundle(spec: &RunSpec, output_dir: &str, script_name: &str, script: &str) -> Result<Vec<u8>, ExecError> {
    validate_env(&spec.env)?;
    let mut env = String::from("# Written by revisd: the run's environment. May hold secrets.\n");
    env.push_str(&format!("unset {}\n", crate::secrets::PROVIDER_VARIABLES.join(" ")));
    for (name, value) in &spec.env {
        env.push_str(&format!("export {name}={}\n", sh_quote(value)));
    }
    // Last, so it wins over the daemon's local path in `spec.env`.
    env.push_str(&format!("export REVIS_OUTPUT_DIR={}\n", sh_quote(output_dir)));
    let mut command = spec.command.clone();
    if !command.ends_with('\n') {
        command.push('\n');
    }
    let mut builder = tar::Builder::new(Vec::new());
    for (name, content, mode) in [
        ("env", env.as_bytes(), 0o600),
        ("command.sh", command.as_bytes(), 0o700),
        (script_name, script.as_bytes(), 0o700),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(mode);
        header.set_entry_type(tar::EntryType::Regular);
        builder.append_data(&mut header, name, content).map_err(|e| ExecError::io("archive", Path::new(name), e))?;
    }
    builder.into_inner().map_err(|e| ExecError::io("archive", &spec.run_dir, e))
}

/// Copies the run's output directory `remote` into `local`. An output too large for one
/// transfer (checkpoints) falls back to eval.json alone: that is what the metrics need.
pub(crate) async fn fetch_output(
    shell: &impl Shell,
    run_id: &str,
    remote: &str,
    local: &Path,
) -> Result<(), ExecError> {
    let out_dir = sh_quote(remote);
    let full = format!("cd {out_dir} 2>/dev/null || exit 0\ntar -cf - .");
    let failed = |action, source| ExecError::Remote { action, source: Box::new(source) };
    let archive = match shell.exec(&full, None).await {
        Ok(out) if out.success() => out.stdout,
        Ok(out) => {
            return Err(ExecError::RemoteRun {
                action: "copy the output directory",
                run_id: run_id.to_string(),
                message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Err(RemoteError::OutputTooLarge { .. }) => {
            tracing::warn!(run_id, "the run's output directory is too large to copy; fetching eval.json only");
            let small = format!("cd {out_dir} 2>/dev/null || exit 0\n[ -f eval.json ] && tar -cf - eval.json || true");
            shell.exec(&small, None).await.map_err(|e| failed("copy eval.json", e))?.stdout
        }
        Err(e) => return Err(failed("copy the output directory", e)),
    };
    std::fs::create_dir_all(local).map_err(|e| ExecError::io("create", local, e))?;
    if archive.is_empty() {
        return Ok(());
    }
    let mut archive = tar::Archive::new(archive.as_slice());
    archive.set_overwrite(true);
    // `unpack` refuses entries that would land outside `local`.
    archive.unpack(local).map_err(|e| ExecError::io("unpack the run's output into", local, e))
}
