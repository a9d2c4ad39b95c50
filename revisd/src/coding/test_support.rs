//! Stand-in agents for tests: small sh scripts in a temp dir, found through a PATH the test
//! passes in (the process environment is never touched).

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::time::Instant;

/// Writes an executable `#!/bin/sh` script named `name` into `dir`.
pub(super) fn write_script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write stand-in");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod stand-in");
    path
}

pub(super) fn path_of(dirs: &[&Path]) -> OsString {
    std::env::join_paths(dirs).expect("join PATH")
}

/// Gone or a zombie (an orphan in a container may never be reaped).
pub(super) fn process_gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            crate::exec::process_group::parse_stat(&stat).is_some_and(|(state, _)| state == 'Z' || state == 'X')
        }
        Err(_) => true,
    }
}

/// Polls `check` until it holds, failing the test at the deadline.
pub(super) async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A pid written by a stand-in, once the file is complete.
pub(super) async fn read_pid(path: &Path) -> i32 {
    let mut pid = None;
    eventually(&format!("pid file {}", path.display()), || {
        pid = std::fs::read_to_string(path).ok().filter(|t| t.ends_with('\n')).and_then(|t| t.trim().parse().ok());
        pid.is_some()
    })
    .await;
    pid.unwrap_or_default()
}
