//! Looking for secrets where they must not be: files under a directory, every process's command
//! line (once, or sampled in the background while a session runs), a process's environment,
//! and the command lines of a tmux server's panes.
//!
//! Owns: reading `/proc` and files, and asking tmux for its panes. Must not: follow symlinks
//! while scanning a tree (a link out of it would scan someone else's files), or signal or change
//! any process it looks at.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Regular files under `root` (recursively, symlinks not followed) whose bytes contain `needle`;
/// every file read is pushed to `scanned`, so a caller can prove what the scan covered.
pub fn files_containing(root: &Path, needle: &[u8], scanned: &mut Vec<PathBuf>) -> Vec<PathBuf> {
    let mut hits = Vec::new();
    let Ok(entries) = std::fs::read_dir(root) else { return hits };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
        if meta.is_dir() {
            hits.extend(files_containing(&path, needle, scanned));
        } else if meta.is_file() {
            scanned.push(path.clone());
            if std::fs::read(&path).is_ok_and(|bytes| contains(&bytes, needle)) {
                hits.push(path);
            }
        }
    }
    hits
}

/// The numeric entries of /proc (live pids).
pub fn pids() -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries.flatten().filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok())).collect()
}

/// A process's command line with NULs shown as spaces (empty when it is gone).
pub fn command_line(pid: i32) -> String {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    String::from_utf8_lossy(&raw).replace('\0', " ").trim_end().to_string()
}

/// Processes whose command line contains `needle`: (pid, command line).
pub fn command_lines_containing(needle: &[u8]) -> Vec<(String, String)> {
    pids()
        .into_iter()
        .filter_map(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            contains(&cmdline, needle).then(|| (pid.to_string(), String::from_utf8_lossy(&cmdline).replace('\0', " ")))
        })
        .collect()
}

/// Whether `/proc/<pid>/environ` (the environment the process was started with) holds `needle`.
pub fn environ_contains(pid: i32, needle: &[u8]) -> bool {
    std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|env| contains(&env, needle))
}

/// `#{pane_start_command}` and `#{pane_current_command}` of every pane of the tmux server at
/// `socket`, one line per pane (empty when the server is not running).
pub fn tmux_pane_commands(socket: &Path) -> String {
    let out = Command::new("tmux")
        .arg("-S")
        .arg(socket)
        .args(["list-panes", "-a", "-F", "#{pane_pid} start=#{pane_start_command} current=#{pane_current_command}"])
        .env_remove("TMUX")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output();
    out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default()
}

/// What a [`CommandLineSampler`] saw.
#[derive(Debug, Default, Clone)]
pub struct Sampled {
    /// Full passes over /proc.
    pub passes: usize,
    /// Distinct command lines seen over the whole run.
    pub distinct: usize,
    /// (needle index, pid, command line) for every command line that held a needle.
    pub hits: Vec<(usize, i32, String)>,
}

/// Reads every process's command line over and over in a background thread until stopped, so
/// short-lived processes (git, tmux, the training, a coding agent) are seen too.
pub struct CommandLineSampler {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Sampled>>,
}

impl CommandLineSampler {
    /// Starts sampling for `needles`, one pass every `interval`.
    pub fn start(needles: Vec<String>, interval: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut seen = std::collections::HashSet::new();
            let mut sampled = Sampled::default();
            while !flag.load(Ordering::SeqCst) {
                for pid in pids() {
                    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else { continue };
                    for (index, needle) in needles.iter().enumerate() {
                        if contains(&cmdline, needle.as_bytes()) {
                            let shown = String::from_utf8_lossy(&cmdline).replace('\0', " ");
                            if !sampled.hits.iter().any(|(i, p, c)| *i == index && *p == pid && *c == shown) {
                                sampled.hits.push((index, pid, shown));
                            }
                        }
                    }
                    seen.insert(cmdline);
                }
                sampled.passes += 1;
                std::thread::sleep(interval);
            }
            sampled.distinct = seen.len();
            sampled
        });
        Self { stop, thread: Some(thread) }
    }

    /// Stops the thread and returns what it saw.
    pub fn finish(mut self) -> Sampled {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.take().and_then(|t| t.join().ok()).unwrap_or_default()
    }
}

impl Drop for CommandLineSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
