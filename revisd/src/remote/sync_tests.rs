//! Sync against a real OpenSSH server on 127.0.0.1 (see `test_sshd`): what it buffers stays
//! bounded however large the worktree, and its blocking work (the libgit2 scan, reading files
//! into the archive) never occupies an async worker.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::Remote;
use super::sync::{self, SyncProbe};
use super::test_sshd::{KeyKind, SshdExt, TestSshd, test_options};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const MIB: u64 = 1024 * 1024;

struct Fixture {
    _sshd: TestSshd,
    dir: tempfile::TempDir,
    remote: Remote,
}

impl Fixture {
    async fn start() -> Result<Fixture, Box<dyn std::error::Error>> {
        let sshd = TestSshd::start()?;
        let dir = tempfile::Builder::new().prefix("rvs-sync-").tempdir()?;
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home)?;
        sshd.trust(&home)?;
        let key = sshd.authorized_key("id_ed25519", KeyKind::Ed25519)?;
        let remote = Remote::connect_with(sshd.target(vec![key])?, test_options(&home)).await?;
        Ok(Fixture { _sshd: sshd, dir, remote })
    }

    fn repo(&self) -> PathBuf {
        self.dir.path().join("worktree")
    }

    fn remote_dir(&self) -> PathBuf {
        self.dir.path().join("remote")
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state.json")
    }

    async fn sync(&self, probe: &SyncProbe) -> Result<sync::SyncReport, sync::SyncError> {
        let remote_dir = self.remote_dir().display().to_string();
        sync::sync_with(&self.remote, &self.repo(), &remote_dir, &self.state(), probe).await
    }
}

fn git(dir: &Path, args: &[&str]) -> TestResult {
    let status = std::process::Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"])
        .args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .status()?;
    if !status.success() {
        return Err(format!("git {args:?} failed: {status}").into());
    }
    Ok(())
}

/// `count` files of 1 MiB of incompressible data under `assets/`, plus `train.py`; committed
/// when `commit`, else left untracked (so the scan must hash every one of them).
fn large_repo(repo: &Path, count: usize, commit: bool) -> TestResult {
    std::fs::create_dir_all(repo.join("assets"))?;
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for i in 0..count {
        let data = crate::test_data::incompressible(MIB as usize, &mut seed);
        std::fs::write(repo.join(format!("assets/blob{i:02}.bin")), data)?;
    }
    std::fs::write(repo.join("train.py"), "print('train')\n")?;
    git(repo, &["init", "-q"])?;
    if commit {
        git(repo, &["add", "-A"])?;
        git(repo, &["commit", "-q", "-m", "base"])?;
    }
    Ok(())
}

/// The size of a tar stream of these regular files (short names: one header block each), with
/// its two closing blocks.
fn tar_len(repo: &Path, files: &[&str]) -> std::io::Result<u64> {
    let mut len = 1024;
    for file in files {
        len += 512 + std::fs::metadata(repo.join(file))?.len().div_ceil(512) * 512;
    }
    Ok(len)
}

#[tokio::test]
async fn first_sync_of_a_large_repository_buffers_a_bounded_amount() -> TestResult {
    let f = Fixture::start().await?;
    large_repo(&f.repo(), 40, true)?;
    let probe = SyncProbe::default();
    let first = f.sync(&probe).await?;

    let names: Vec<String> = (0..40).map(|i| format!("assets/blob{i:02}.bin")).collect();
    let mut files: Vec<&str> = names.iter().map(String::as_str).collect();
    files.push("train.py");
    let archive = tar_len(&f.repo(), &files)?;
    assert_eq!((first.files_sent, first.files_deleted), (41, 0), "{first:?}");
    // Everything on stdin is counted: the archive exactly, plus the short deletion script.
    assert!(first.bytes_sent >= archive && first.bytes_sent < archive + 1024, "{first:?} for a {archive} byte archive");
    for file in &files {
        let sent = std::fs::read(f.remote_dir().join(file))?;
        assert!(sent == std::fs::read(f.repo().join(file))?, "{file} differs on the remote");
    }
    println!("first sync: {} bytes sent, at most {} bytes buffered", first.bytes_sent, probe.peak());
    assert!(
        probe.peak() <= MIB,
        "{} bytes buffered at once to send {} bytes: the archive is held in memory",
        probe.peak(),
        first.bytes_sent
    );

    // Incremental behaviour is unchanged: one file modified, one deleted.
    std::fs::write(f.repo().join("train.py"), "print('train harder')\n")?;
    std::fs::remove_file(f.repo().join("assets/blob07.bin"))?;
    let probe = SyncProbe::default();
    let second = f.sync(&probe).await?;
    assert_eq!((second.files_sent, second.files_deleted), (1, 1), "{second:?}");
    let archive = tar_len(&f.repo(), &["train.py"])?;
    assert!(second.bytes_sent >= archive && second.bytes_sent < archive + 1024, "{second:?}");
    assert_eq!(std::fs::read_to_string(f.remote_dir().join("train.py"))?, "print('train harder')\n");
    assert!(!f.remote_dir().join("assets/blob07.bin").exists());
    Ok(())
}

/// Each blocking step waits, from inside, until another task of this single-threaded runtime
/// has had a turn: a step running on the runtime's one thread would wait in vain (and is
/// recorded as starving the runtime when its deadline passes).
#[tokio::test(flavor = "current_thread")]
async fn the_scan_and_the_archive_leave_the_runtime_free() -> TestResult {
    let f = Fixture::start().await?;
    // Untracked files: the scan hashes each one.
    large_repo(&f.repo(), 8, false)?;

    let ticks = Arc::new(AtomicU64::new(0));
    let starved = Arc::new(Mutex::new(Vec::new()));
    let steps = Arc::new(Mutex::new(Vec::new()));
    let ticker = {
        let ticks = ticks.clone();
        tokio::spawn(async move {
            loop {
                ticks.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
    };
    let probe = SyncProbe {
        on_blocking: Some({
            let (ticks, starved, steps) = (ticks.clone(), starved.clone(), steps.clone());
            Arc::new(move |step: &'static str| {
                steps.lock().map(|mut s| s.push(step)).ok();
                let seen = ticks.load(Ordering::SeqCst);
                let deadline = Instant::now() + Duration::from_secs(10);
                while ticks.load(Ordering::SeqCst) == seen {
                    if Instant::now() > deadline {
                        starved.lock().map(|mut s| s.push(step)).ok();
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
            })
        }),
        ..SyncProbe::default()
    };
    let report = f.sync(&probe).await?;
    ticker.abort();
    assert_eq!(report.files_sent, 9, "{report:?}");
    assert_eq!(*steps.lock().map_err(|e| e.to_string())?, ["scan", "archive"]);
    let starved = starved.lock().map_err(|e| e.to_string())?.clone();
    assert!(starved.is_empty(), "{starved:?} ran on the async worker: no other task ran for 10 s");
    Ok(())
}
