//! The files of a remote run on both sides: the wrapper bundle (run.sh, command.sh, env)
//! shipped as a tar stream to the remote run directory, and the local run directory, which
//! holds the state a later `wait` needs and the mirror of the remote log.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::RemoteRun;
use crate::exec::wrapper::{RunFiles, sh_quote};
use crate::exec::{ExecError, RunSpec};

/// Written by `start` into the local run directory; lets `wait` (maybe in a later daemon)
/// know where results go and which part of the local log is the mirror.
pub(super) const LOCAL_STATE: &str = "ssh_run.json";

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct LocalRunState {
    pub(super) output_dir: PathBuf,
    /// Length of the local train.log when the remote run started: the mirror begins there.
    pub(super) log_base: u64,
}

/// The local run directory (0700, for the mirrored log), the output directory and the state
/// a later `wait` needs.
pub(super) fn prepare_local(spec: &RunSpec) -> Result<(), ExecError> {
    let dir = &spec.run_dir;
    fs::create_dir_all(dir).map_err(|e| ExecError::io("create", dir, e))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .map_err(|e| ExecError::io("set permissions of", dir, e))?;
    fs::create_dir_all(&spec.output_dir).map_err(|e| ExecError::io("create", &spec.output_dir, e))?;
    let files = RunFiles::new(dir);
    for stale in [files.exit_code(), files.pid()] {
        match fs::remove_file(&stale) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(ExecError::io("remove", &stale, e)),
            _ => {}
        }
    }
    let output_dir =
        std::path::absolute(&spec.output_dir).map_err(|e| ExecError::io("resolve", &spec.output_dir, e))?;
    let state = LocalRunState { output_dir, log_base: local_len(&files.log()) };
    let path = dir.join(LOCAL_STATE);
    let json = serde_json::to_vec(&state).map_err(|e| ExecError::io("encode", &path, std::io::Error::other(e)))?;
    fs::write(&path, json).map_err(|e| ExecError::io("write", &path, e))
}

pub(super) fn read_local_state(run_dir: &Path) -> LocalRunState {
    fs::read(run_dir.join(LOCAL_STATE))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_else(|| LocalRunState { output_dir: run_dir.join("output"), log_base: 0 })
}

/// run.sh, command.sh and env as a tar stream for the remote run directory.
pub(super) fn wrapper_bundle(spec: &RunSpec, run: &RemoteRun, workdir: &str) -> Result<Vec<u8>, ExecError> {
    let (pid_tmp, pid, env_file, cmd, log, code_tmp, code) = (
        run.file("pid.tmp"),
        run.file("pid"),
        run.file("env"),
        run.file("command.sh"),
        run.file("train.log"),
        run.file("exit_code.tmp"),
        run.file("exit_code"),
    );
    let workdir = sh_quote(workdir);
    // The same wrapper as a local run (see `wrapper`): the pane's shell leads the process group.
    let run_sh = format!(
        "#!/bin/sh\n\
         # Written by revisd for run {id}.\n\
         echo $$ > {pid_tmp} && mv -f {pid_tmp} {pid}\n\
         (\n\
         \x20 . {env_file}\n\
         \x20 cd {workdir} || exit 126\n\
         \x20 exec /bin/sh {cmd}\n\
         ) < /dev/null >> {log} 2>&1\n\
         code=$?\n\
         printf '%s\\n' \"$code\" > {code_tmp} && mv -f {code_tmp} {code}\n",
        id = run.id,
    );
    crate::exec::remote_files::bundle(spec, &run.output, "run.sh", &run_sh)
}

pub(super) fn local_len(path: &Path) -> u64 {
    fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// The local copy of the remote train.log, appended to as the remote log grows. The file is
/// opened on the first bytes, once per watch.
pub(crate) struct LogMirror<'a> {
    path: &'a Path,
    file: Option<File>,
}

impl<'a> LogMirror<'a> {
    pub(crate) fn new(path: &'a Path) -> Self {
        LogMirror { path, file: None }
    }

    pub(crate) fn append(&mut self, data: &[u8]) -> Result<(), ExecError> {
        if data.is_empty() {
            return Ok(());
        }
        let file = match &mut self.file {
            Some(file) => file,
            None => self.file.insert(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(self.path)
                    .map_err(|e| ExecError::io("open", self.path, e))?,
            ),
        };
        file.write_all(data).map_err(|e| ExecError::io("append to", self.path, e))
    }
}
