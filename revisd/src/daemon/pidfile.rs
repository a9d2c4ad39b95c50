//! Single instance per home: an exclusive, non-blocking `flock` on `revisd.pid`, held for the
//! daemon's lifetime. The kernel drops the lock when the process dies, even on SIGKILL, so a
//! stale pid file never blocks a new daemon.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use super::DaemonError;

pub struct PidLock {
    _lock: Flock<File>,
    path: PathBuf,
}

impl PidLock {
    pub fn acquire(path: &Path) -> Result<Self, DaemonError> {
        let io = |what: &'static str| move |source| DaemonError::Io { what, path: path.to_path_buf(), source };
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(io("opening the pid file"))?;
        let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => lock,
            Err((mut file, errno)) if errno == nix::errno::Errno::EWOULDBLOCK => {
                let mut text = String::new();
                let pid = file.read_to_string(&mut text).ok().and_then(|_| text.trim().parse::<u32>().ok());
                return Err(DaemonError::AlreadyRunning { pid });
            }
            Err((_, errno)) => return Err(io("locking the pid file")(errno.into())),
        };
        lock.set_len(0).map_err(io("writing the pid file"))?;
        lock.rewind().map_err(io("writing the pid file"))?;
        writeln!(lock, "{}", std::process::id()).map_err(io("writing the pid file"))?;
        lock.sync_all().map_err(io("writing the pid file"))?;
        Ok(Self { _lock: lock, path: path.to_path_buf() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}
