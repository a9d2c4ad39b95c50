//! The ssh executor and sync against a real OpenSSH server on 127.0.0.1 (see
//! `remote::test_sshd`): start, wait, logs, results, kill, reconnects and incremental sync.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::time::Instant;

use super::{Executor, RunOutcome, RunSpec, RunStatus, SshExecutor};
use crate::remote::test_sshd::{KeyKind, SshdExt, TestSshd, test_options};
use crate::remote::{Remote, sync};

const LONG: Duration = Duration::from_secs(30);

struct World {
    sshd: TestSshd,
    dir: tempfile::TempDir,
    exec: SshExecutor,
}

impl World {
    async fn new() -> World {
        let sshd = TestSshd::start().expect("sshd");
        let dir = tempfile::Builder::new().prefix("rvs-ssh-").tempdir_in("/tmp").expect("temp dir");
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).expect("home");
        sshd.trust(&home).expect("trust");
        let key = sshd.authorized_key("id_ed25519", KeyKind::Ed25519).expect("key");
        let target = sshd.target(vec![key]).expect("target");
        let remote = Remote::connect_with(target, test_options(&home)).await.expect("connect");
        let work = dir.path().join("remote");
        let exec = SshExecutor::new(remote, work.display().to_string()).with_timeout_grace(Duration::from_secs(2));
        std::fs::create_dir_all(work.join("1-s")).expect("session dir");
        World { sshd, dir, exec }
    }

    fn local(&self) -> PathBuf {
        self.dir.path().join("local")
    }

    fn remote_dir(&self) -> PathBuf {
        self.dir.path().join("remote")
    }

    fn spec(&self, run_id: &str, command: &str) -> RunSpec {
        let run_dir = self.local().join("runs").join(run_id);
        RunSpec {
            run_id: run_id.to_string(),
            output_dir: run_dir.join("output"),
            run_dir,
            workdir: self.local().join("worktree"),
            command: command.to_string(),
            env: vec![("SECRET".into(), "it's $HOME \"quoted\"".into())],
            session: "1-s".into(),
        }
    }

    /// Waits for the run, then collects its output as the engine does.
    async fn wait(&self, spec: &RunSpec) -> RunOutcome {
        let outcome = self.exec.wait(&spec.run_id, &spec.run_dir, Some(Instant::now() + LONG)).await.expect("wait");
        if matches!(outcome, RunOutcome::Exited { .. }) {
            self.exec.collect(&spec.run_id, &spec.run_dir).await.expect("collect");
        }
        outcome
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let socket = self.remote_dir().join(".revis/tmux.sock");
        super::TmuxServer::Socket(socket).kill_server_blocking();
    }
}

async fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + LONG;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn run_mirrors_log_and_copies_output_back() {
    let w = World::new().await;
    let spec = w.spec(
        "r1",
        "echo \"hello $SECRET\"; pwd; echo '{\"metrics\": {\"loss\": 0.5}}' > \"$REVIS_OUTPUT_DIR/eval.json\"; exit 3",
    );
    w.exec.start(&spec).await.expect("start");
    assert_eq!(w.wait(&spec).await, RunOutcome::Exited { code: 3 });
    let log = std::fs::read_to_string(spec.run_dir.join("train.log")).expect("log");
    assert!(log.contains("hello it's $HOME \"quoted\""), "{log}");
    assert!(log.contains(&w.remote_dir().join("1-s").display().to_string()), "ran in the session dir: {log}");
    let eval = std::fs::read_to_string(spec.output_dir.join("eval.json")).expect("eval.json copied back");
    assert!(eval.contains("0.5"));
    assert_eq!(w.exec.status("r1", &spec.run_dir).await.expect("status"), RunStatus::Exited { code: 3 });
    // The env file is private on the remote.
    let env = w.remote_dir().join(".revis/runs/r1/env");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&env).expect("env").permissions());
    assert_eq!(mode & 0o777, 0o600);
}

#[tokio::test]
async fn kill_stops_the_remote_tree() {
    let w = World::new().await;
    let marker = w.dir.path().join("child-started");
    // sshd may run in its own pid namespace: the tree is found by a unique argument, not a pid.
    let spec = w.spec("r2", &format!("sh -c 'touch {}; exec sleep 7771' & sleep 7772", marker.display()));
    w.exec.start(&spec).await.expect("start");
    wait_for("the child to start", || marker.exists()).await;
    assert!(running_with_arg("7771") && running_with_arg("7772"));
    assert!(w.exec.is_alive("r2").await.expect("alive"));
    w.exec.kill("r2", &spec.run_dir, Duration::from_secs(2)).await.expect("kill");
    wait_for("the remote tree to go", || !running_with_arg("7771") && !running_with_arg("7772")).await;
    assert!(!w.exec.is_alive("r2").await.expect("alive"));
    assert_eq!(w.wait(&spec).await, RunOutcome::Vanished);
}

/// A live (not zombie) `sleep ARG` anywhere on this machine.
fn running_with_arg(arg: &str) -> bool {
    let needle = format!("sleep\0{arg}\0");
    std::fs::read_dir("/proc").into_iter().flatten().flatten().any(|e| {
        let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let live = std::fs::read_to_string(e.path().join("stat"))
            .ok()
            .and_then(|s| crate::exec::process_group::parse_stat(&s))
            .is_some_and(|(state, _)| state != 'Z' && state != 'X');
        live && cmdline.windows(needle.len()).any(|w| w == needle.as_bytes())
    })
}

/// Drops every ssh connection by killing sshd's per-connection processes, sparing whatever
/// they started that lives on (the remote tmux server): unlike `TestSshd::kill_sessions`,
/// which also reaps orphans when sshd is pid 1 of its own namespace.
fn drop_connections(sshd: &TestSshd) {
    let config = sshd.dir().join("sshd_config").display().to_string();
    let mut procs = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        let ppid =
            stat.rsplit_once(')').and_then(|(_, r)| r.split_whitespace().nth(1)).and_then(|p| p.parse::<i32>().ok());
        let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        let cmdline =
            String::from_utf8_lossy(&std::fs::read(entry.path().join("cmdline")).unwrap_or_default()).into_owned();
        procs.push((pid, ppid.unwrap_or(0), comm.trim().to_string(), cmdline));
    }
    let listeners: Vec<i32> = procs.iter().filter(|p| p.3.contains(&config) && p.2 == "sshd").map(|p| p.0).collect();
    let mut victims = Vec::new();
    let mut frontier = listeners.clone();
    while let Some(parent) = frontier.pop() {
        for p in &procs {
            if p.1 == parent && p.2.starts_with("sshd") && !victims.contains(&p.0) && !listeners.contains(&p.0) {
                victims.push(p.0);
                frontier.push(p.0);
            }
        }
    }
    assert!(!victims.is_empty(), "no sshd session processes to kill");
    for pid in victims {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
    }
}

#[tokio::test]
async fn run_survives_a_dropped_connection_and_a_new_executor_reattaches() {
    let w = World::new().await;
    let gate = w.dir.path().join("gate");
    let spec = w.spec(
        "r3",
        &format!(
            "echo before; while [ ! -e {} ]; do sleep 0.05; done; echo after; echo '{{}}' > \"$REVIS_OUTPUT_DIR/eval.json\"",
            gate.display()
        ),
    );
    w.exec.start(&spec).await.expect("start");
    drop_connections(&w.sshd);
    // A fresh executor on a fresh connection (a restarted daemon) finds the run by id.
    let key = w.sshd.dir().join("id_ed25519");
    let home = w.dir.path().join("home");
    let remote =
        Remote::connect_with(w.sshd.target(vec![key]).expect("target"), test_options(&home)).await.expect("connect");
    let again = SshExecutor::new(remote, w.remote_dir().display().to_string());
    assert!(again.is_alive("r3").await.expect("alive"));
    let waiting = {
        let exec = w.exec.clone();
        let (id, dir) = (spec.run_id.clone(), spec.run_dir.clone());
        tokio::spawn(async move { exec.wait(&id, &dir, Some(Instant::now() + LONG)).await })
    };
    let log = spec.run_dir.join("train.log");
    wait_for("the first line mirrored", || std::fs::read_to_string(&log).is_ok_and(|l| l.contains("before"))).await;
    drop_connections(&w.sshd);
    std::fs::write(&gate, "").expect("gate");
    let outcome = waiting.await.expect("join").expect("wait");
    assert_eq!(outcome, RunOutcome::Exited { code: 0 });
    let log = std::fs::read_to_string(spec.run_dir.join("train.log")).expect("log");
    assert_eq!(log, "before\nafter\n", "mirrored once, in order");
    w.exec.collect(&spec.run_id, &spec.run_dir).await.expect("collect");
    assert!(spec.output_dir.join("eval.json").exists());
}

/// Waiting follows the run over one long-lived channel: what it opens does not grow with the
/// run's length (the old poll opened one channel per second).
#[tokio::test]
async fn waiting_on_a_run_opens_a_constant_number_of_channels() {
    let w = World::new().await;
    let spec = w.spec("r5", "echo begin; sleep 3; echo end; echo '{}' > \"$REVIS_OUTPUT_DIR/eval.json\"");
    w.exec.start(&spec).await.expect("start");
    let before = w.exec.remote().channels_opened();
    assert_eq!(w.wait(&spec).await, RunOutcome::Exited { code: 0 });
    let opened = w.exec.remote().channels_opened() - before;
    println!("exec channels opened while waiting on a 3 s run: {opened}");
    // One to follow the run, one to copy its output directory back.
    assert!(opened <= 2, "{opened} exec channels opened while waiting on a 3 s run");
    let log = std::fs::read_to_string(spec.run_dir.join("train.log")).expect("log");
    assert_eq!(log, "begin\nend\n");
    assert!(spec.output_dir.join("eval.json").exists());
}

#[tokio::test]
async fn second_start_of_a_live_run_is_refused() {
    let w = World::new().await;
    let spec = w.spec("r4", "sleep 300");
    w.exec.start(&spec).await.expect("start");
    let again = w.exec.start(&spec).await;
    assert!(matches!(again, Err(super::ExecError::AlreadyRunning(_))), "{again:?}");
    w.exec.kill("r4", &spec.run_dir, Duration::from_secs(1)).await.expect("kill");
}

fn git(dir: &Path, args: &[&str]) {
    let status = std::process::Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"])
        .args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("git");
    assert!(status.success(), "git {args:?}");
}

#[tokio::test]
async fn sync_sends_only_changes_and_deletions() {
    let w = World::new().await;
    let repo = w.local().join("worktree");
    std::fs::create_dir_all(repo.join("src")).expect("dirs");
    std::fs::write(repo.join("train.py"), "print(1)\n").expect("write");
    std::fs::write(repo.join("src/lib.py"), "x = 1\n").expect("write");
    std::fs::write(repo.join("gone.txt"), "bye\n").expect("write");
    std::fs::write(repo.join(".gitignore"), "data/\n").expect("write");
    std::fs::create_dir_all(repo.join("data")).expect("data");
    std::fs::write(repo.join("data/big.bin"), vec![7u8; 100_000]).expect("write");
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "base"]);
    let state = w.local().join("state");
    let first = w.exec.prepare_workdir(&repo, "2-sync", &[], &state).await.expect("sync").expect("report");
    assert_eq!(first.files_sent, 4, "{first:?}");
    let remote = w.remote_dir().join("2-sync");
    assert_eq!(std::fs::read_to_string(remote.join("src/lib.py")).expect("synced"), "x = 1\n");
    assert!(!remote.join("data").exists(), "ignored data is not shipped");

    std::fs::write(repo.join("src/lib.py"), "x = 2\n").expect("write");
    std::fs::remove_file(repo.join("gone.txt")).expect("rm");
    std::fs::write(repo.join("new.py"), "y = 1\n").expect("write");
    let second = w.exec.prepare_workdir(&repo, "2-sync", &[], &state).await.expect("sync").expect("report");
    assert_eq!((second.files_sent, second.files_deleted), (2, 1), "{second:?}");
    assert!(second.bytes_sent < first.bytes_sent + 4096);
    assert_eq!(std::fs::read_to_string(remote.join("src/lib.py")).expect("synced"), "x = 2\n");
    assert!(remote.join("new.py").exists() && !remote.join("gone.txt").exists());

    let third = w.exec.prepare_workdir(&repo, "2-sync", &[], &state).await.expect("sync").expect("report");
    assert_eq!((third.files_sent, third.files_deleted), (0, 0), "{third:?}");

    // A wiped remote directory gets everything again.
    std::fs::remove_dir_all(&remote).expect("wipe");
    let fourth = w.exec.prepare_workdir(&repo, "2-sync", &[], &state).await.expect("sync").expect("report");
    assert_eq!(fourth.files_sent, 4, "{fourth:?}");

    let missing = w.exec.prepare_workdir(&repo, "2-sync", &["data".to_string()], &state).await;
    let message = missing.expect_err("link check").to_string();
    assert!(message.contains("data") && message.contains("workspace.link"), "{message}");
    std::fs::create_dir_all(remote.join("data")).expect("data");
    w.exec.prepare_workdir(&repo, "2-sync", &["data".to_string()], &state).await.expect("links present");
}

#[test]
fn remote_paths_expand_home() {
    assert_eq!(sync::remote_path("~/w"), "\"$HOME\"/'w'");
    assert_eq!(sync::remote_path("/a b"), "'/a b'");
}

/// `cargo test -p revisd --lib sync_benchmark -- --ignored --nocapture`: bytes sent for the first
/// sync of a worktree with 50 MB of tracked files and for a one-line change.
#[tokio::test]
#[ignore = "benchmark: prints figures"]
async fn sync_benchmark_50mb() {
    let w = World::new().await;
    let repo = w.local().join("worktree");
    std::fs::create_dir_all(repo.join("assets")).expect("dirs");
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for i in 0..50 {
        // Incompressible-ish content, 1 MB per file.
        let data = crate::test_data::incompressible(1024 * 1024, &mut seed);
        std::fs::write(repo.join(format!("assets/blob{i:02}.bin")), data).expect("write");
    }
    let train: String = (0..200).map(|i| format!("step_{i} = {i}\n")).collect();
    std::fs::write(repo.join("train.py"), &train).expect("write");
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "base"]);
    let state = w.local().join("state");
    let started = Instant::now();
    let first = w.exec.prepare_workdir(&repo, "3-bench", &[], &state).await.expect("sync").expect("report");
    let first_time = started.elapsed();
    std::fs::write(repo.join("train.py"), train.replace("step_7 = 7", "step_7 = 8")).expect("write");
    let started = Instant::now();
    let second = w.exec.prepare_workdir(&repo, "3-bench", &[], &state).await.expect("sync").expect("report");
    let second_time = started.elapsed();
    println!("first sync:  {} bytes, {} files, {first_time:?}", first.bytes_sent, first.files_sent);
    println!("one-line change: {} bytes, {} files, {second_time:?}", second.bytes_sent, second.files_sent);
    assert!(first.bytes_sent >= 50 * 1024 * 1024);
    assert!(second.bytes_sent < 100 * 1024, "{second:?}");
    let synced = std::fs::read_to_string(w.remote_dir().join("3-bench/train.py")).expect("synced");
    assert!(synced.contains("step_7 = 8"));
}
