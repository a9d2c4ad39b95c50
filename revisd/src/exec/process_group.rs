//! Signalling a run's process group and telling when it is gone.
//!
//! A zombie still counts for `kill(-pgid, 0)`, and an orphaned grandchild is reaped by
//! whatever pid 1 is (in a container it may never reap). So "gone" means: no live, non-zombie
//! member in `/proc`; where there is no `/proc`, the signal probe is the fallback.

use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::time::Instant;

use super::ExecError;

const POLL: Duration = Duration::from_millis(25);

/// Sends `signal` to the group; a group that no longer exists is not an error.
pub(crate) fn signal(pgid: i32, signal: Signal) -> Result<(), ExecError> {
    match killpg(Pid::from_raw(pgid), signal) {
        Ok(()) | Err(Errno::ESRCH) => Ok(()),
        Err(source) => Err(ExecError::Signal { pgid, source }),
    }
}

pub(crate) fn is_alive(pgid: i32) -> bool {
    match live_members_in_proc(pgid) {
        Some(alive) => alive,
        None => killpg(Pid::from_raw(pgid), None::<Signal>).is_ok(),
    }
}

/// Polls until the group is gone; false if it still lives at `deadline`.
pub(crate) async fn wait_gone(pgid: i32, deadline: Instant) -> bool {
    loop {
        if !is_alive(pgid) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(POLL.min(deadline.saturating_duration_since(Instant::now()))).await;
    }
}

/// SIGTERM, then SIGKILL if the group outlives `grace`.
pub(crate) async fn terminate(pgid: i32, grace: Duration) -> Result<(), ExecError> {
    signal(pgid, Signal::SIGTERM)?;
    if wait_gone(pgid, Instant::now() + grace).await {
        return Ok(());
    }
    signal(pgid, Signal::SIGKILL)?;
    // SIGKILL cannot be ignored; this only waits for the kernel to finish the job.
    wait_gone(pgid, Instant::now() + Duration::from_secs(5)).await;
    Ok(())
}

/// `None` when `/proc` cannot be read.
fn live_members_in_proc(pgid: i32) -> Option<bool> {
    let entries = std::fs::read_dir("/proc").ok()?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().filter(|n| n.bytes().all(|b| b.is_ascii_digit())) else {
            continue;
        };
        // Processes vanish while we scan: an unreadable stat file is simply skipped.
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        if let Some((state, pgrp)) = parse_stat(&stat)
            && pgrp == pgid
            && state != 'Z'
            && state != 'X'
        {
            return Some(true);
        }
    }
    Some(false)
}

/// `(state, pgrp)` from `/proc/PID/stat`: "pid (comm) state ppid pgrp ..."; comm may hold
/// spaces and parentheses, so fields are counted from the last ')'.
pub(crate) fn parse_stat(stat: &str) -> Option<(char, i32)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let _ppid = fields.next()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some((state, pgrp))
}

#[cfg(test)]
mod tests {
    use super::parse_stat;

    #[test]
    fn stat_with_odd_command_name() {
        let stat = "123 (a) b (c)) S 1 456 456 0 -1 4194560";
        assert_eq!(parse_stat(stat), Some(('S', 456)));
        assert_eq!(parse_stat("garbage"), None);
    }
}
