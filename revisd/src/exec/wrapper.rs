//! The wrapper protocol shared by every executor: the files of a run directory and the script
//! that runs the user's command. A daemon that restarts finds a run's fate in these files alone.
//!
//! The user's command and environment only ever land in files (0700 scripts, a 0600 env file),
//! never in a command line, so quotes, `$` and secrets pass through untouched. This module
//! writes and reads those files; it must not start or signal anything.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use super::{ExecError, RunSpec};

/// The umask the user's training runs under: the one revisd was started with. The daemon
/// itself runs with 077 so its own state (logs, run files) is private; training output
/// (checkpoints in the worktree) keeps the user's usual permissions. `u32::MAX`: not set.
static TRAINING_UMASK: AtomicU32 = AtomicU32::new(u32::MAX);

/// Records the umask training should run under (called once, at daemon start).
pub fn set_training_umask(mask: u32) {
    TRAINING_UMASK.store(mask & 0o777, Ordering::Relaxed);
}

fn umask_line() -> String {
    match TRAINING_UMASK.load(Ordering::Relaxed) {
        u32::MAX => String::new(),
        mask => format!("\x20 umask {mask:04o}\n"),
    }
}

/// The paths of one run directory.
#[derive(Debug, Clone)]
pub struct RunFiles {
    dir: PathBuf,
}

impl RunFiles {
    pub fn new(dir: &Path) -> Self {
        Self { dir: dir.to_path_buf() }
    }
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// The pane's program: sources `env`, runs `command.sh`, publishes the exit code.
    pub fn run_script(&self) -> PathBuf {
        self.dir.join("run.sh")
    }
    /// The user's command, verbatim.
    pub fn command_script(&self) -> PathBuf {
        self.dir.join("command.sh")
    }
    pub fn env(&self) -> PathBuf {
        self.dir.join("env")
    }
    pub fn log(&self) -> PathBuf {
        self.dir.join("train.log")
    }
    pub fn exit_code(&self) -> PathBuf {
        self.dir.join("exit_code")
    }
    fn exit_code_tmp(&self) -> PathBuf {
        self.dir.join("exit_code.tmp")
    }
    /// The pid of the wrapper shell, which is also its process group id.
    pub fn pid(&self) -> PathBuf {
        self.dir.join("pid")
    }
    fn pid_tmp(&self) -> PathBuf {
        self.dir.join("pid.tmp")
    }

    /// Creates the run and output directories and writes the scripts and the env file.
    /// Results of an earlier attempt (exit code, pid) are removed; the log is appended to.
    pub fn prepare(&self, spec: &RunSpec) -> Result<(), ExecError> {
        validate_env(&spec.env)?;
        fs::create_dir_all(&self.dir).map_err(|e| ExecError::io("create", &self.dir, e))?;
        // Logs and the env file may hold secrets; the directory is ours alone.
        fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o700))
            .map_err(|e| ExecError::io("set permissions of", &self.dir, e))?;
        fs::create_dir_all(&spec.output_dir).map_err(|e| ExecError::io("create", &spec.output_dir, e))?;
        for stale in [self.exit_code(), self.exit_code_tmp(), self.pid(), self.pid_tmp()] {
            remove_if_exists(&stale)?;
        }
        let output_dir = absolute(&spec.output_dir)?;
        let workdir = absolute(&spec.workdir)?;
        write_private(&self.env(), env_file(spec, &output_dir).as_bytes(), 0o600)?;
        let mut command = spec.command.clone();
        if !command.ends_with('\n') {
            command.push('\n');
        }
        write_private(&self.command_script(), command.as_bytes(), 0o700)?;
        write_private(&self.run_script(), self.run_script_text(&spec.run_id, &workdir).as_bytes(), 0o700)
    }

    fn run_script_text(&self, run_id: &str, workdir: &Path) -> String {
        let q = |p: PathBuf| sh_quote(&p.to_string_lossy());
        let (pid_tmp, pid, env, cmd, log, code_tmp, code) = (
            q(self.pid_tmp()),
            q(self.pid()),
            q(self.env()),
            q(self.command_script()),
            q(self.log()),
            q(self.exit_code_tmp()),
            q(self.exit_code()),
        );
        let workdir = sh_quote(&workdir.to_string_lossy());
        let umask = umask_line();
        // The environment is sourced in a subshell so a PATH the user sets cannot break the
        // `mv` that publishes the exit code. No job control in a script: the subshell and
        // everything it starts stay in this shell's process group.
        format!(
            "#!/bin/sh\n\
             # Written by revisd for run {run_id}.\n\
             echo $$ > {pid_tmp} && mv -f {pid_tmp} {pid}\n\
                          (\n\
             {umask}\
             \x20 . {env}\n\
             \x20 cd {workdir} || exit 126\n\
             \x20 exec /bin/sh {cmd}\n\
             ) < /dev/null >> {log} 2>&1\n\
             code=$?\n\
             printf '%s\\n' \"$code\" > {code_tmp} && mv -f {code_tmp} {code}\n"
        )
    }

    /// `Ok(None)` while the run has not finished.
    pub fn read_exit_code(&self) -> Result<Option<i32>, ExecError> {
        let path = self.exit_code();
        let Some(content) = read_optional(&path)? else {
            return Ok(None);
        };
        content.trim().parse().map(Some).map_err(|_| ExecError::BadExitCode { path, content })
    }

    pub fn has_exit_code(&self) -> bool {
        self.exit_code().exists()
    }

    /// `Ok(None)` before the wrapper has started. A pid of 0 or 1 is refused: signalling
    /// `-0` or `-1` would reach our own group or every process we may signal.
    pub fn read_pid(&self) -> Result<Option<i32>, ExecError> {
        let path = self.pid();
        let Some(content) = read_optional(&path)? else {
            return Ok(None);
        };
        match content.trim().parse::<i32>() {
            Ok(pid) if pid > 1 => Ok(Some(pid)),
            _ => Err(ExecError::BadPidFile { path, content }),
        }
    }
}

/// Single-quotes `s` for a POSIX shell; safe for every byte but NUL.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn env_file(spec: &RunSpec, output_dir: &Path) -> String {
    let mut out = String::from("# Written by revisd: the run's environment. May hold secrets.\n");
    // Panes inherit the tmux server's environment: Revis's own secrets (LLM keys the daemon
    // may have inherited) are taken out; `entry.env_passthrough` can still put one back below.
    out.push_str(&format!("unset {}\n", crate::secrets::PROVIDER_VARIABLES.join(" ")));
    let mut export = |name: &str, value: &str| {
        out.push_str(&format!("export {name}={}\n", sh_quote(value)));
    };
    // That environment may also be older than ours.
    if let Some(path) = std::env::var_os("PATH") {
        export("PATH", &path.to_string_lossy());
    }
    for (name, value) in &spec.env {
        export(name, value);
    }
    export("REVIS_OUTPUT_DIR", &output_dir.to_string_lossy());
    out
}

/// Variable names a shell accepts, values without NUL: checked before anything is written.
pub(crate) fn validate_env(env: &[(String, String)]) -> Result<(), ExecError> {
    for (name, value) in env {
        let mut bytes = name.bytes();
        let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
        if !first_ok || !bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(ExecError::InvalidEnvName(name.clone()));
        }
        if value.contains('\0') {
            return Err(ExecError::NulInEnv(name.clone()));
        }
    }
    Ok(())
}

fn absolute(path: &Path) -> Result<PathBuf, ExecError> {
    std::path::absolute(path).map_err(|e| ExecError::io("resolve", path, e))
}

/// Creates or truncates `path` with `mode`; an existing file gets `mode` too.
fn write_private(path: &Path, content: &[u8], mode: u32) -> Result<(), ExecError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(|e| ExecError::io("create", path, e))?;
    file.set_permissions(fs::Permissions::from_mode(mode)).map_err(|e| ExecError::io("set permissions of", path, e))?;
    file.write_all(content).map_err(|e| ExecError::io("write", path, e))
}

fn remove_if_exists(path: &Path) -> Result<(), ExecError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(ExecError::io("remove", path, e)),
        _ => Ok(()),
    }
}

fn read_optional(path: &Path) -> Result<Option<String>, ExecError> {
    match fs::read_to_string(path) {
        Ok(content) => Ok(Some(content)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ExecError::io("read", path, e)),
    }
}
