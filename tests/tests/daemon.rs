//! The daemon as an OS citizen: private home and socket, one instance per home, a stale socket
//! (or a SIGKILLed daemon's leftovers) replaced, `daemon status` never autostarting.

use revis_tests::cli::{Running, describe, scrub_env};
use revis_tests::process::{pid_alive, read_pid};
use revis_tests::{TestEnv, TestHome, revisd_bin, standard_project, wait_until};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::process::Command;
use std::time::Duration;

const DAEMON_DEADLINE: Duration = Duration::from_secs(15);

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap_or_else(|e| panic!("cannot stat {}: {e}", path.display())).permissions().mode()
        & 0o777
}

#[test]
fn home_is_0700_and_socket_0600() {
    let env = TestEnv::new(standard_project(&[]));
    let home = &env.home;
    assert!(!home.path().exists());

    env.revis_ok(&["daemon", "start"]);
    assert_eq!(mode(home.path()), 0o700, "REVIS_HOME mode");
    let socket = home.socket();
    let meta = std::fs::metadata(&socket).expect("revisd.sock exists");
    assert!(meta.file_type().is_socket(), "revisd.sock is not a socket");
    assert_eq!(mode(&socket), 0o600, "socket mode");

    let status = env.revis_ok(&["daemon", "status"]);
    let pid = home.daemon_pid().expect("pid file names a live daemon");
    assert!(status.contains(&pid.to_string()), "status should show the pid {pid}: {status}");

    // A graceful stop removes the socket and ends the process.
    env.revis_ok(&["daemon", "stop"]);
    assert!(wait_until(DAEMON_DEADLINE, || !pid_alive(pid)), "revisd {pid} still running");
    assert!(!socket.exists(), "socket left behind after a graceful stop");
    let status = env.revis(&["daemon", "status"]);
    assert_eq!(status.status.code(), Some(1), "{}", describe(&status));
}

#[test]
fn a_second_daemon_on_the_same_home_refuses_to_start() {
    let env = TestEnv::new(standard_project(&[]));
    env.revis_ok(&["daemon", "start"]);
    let first = env.home.daemon_pid().expect("first daemon's pid");

    let mut cmd = Command::new(revisd_bin());
    cmd.arg("--home").arg(env.home.path());
    scrub_env(&mut cmd, &env.home);
    let out = Running::spawn(cmd, "second revisd").wait(DAEMON_DEADLINE);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("already running") && stderr.contains(&first.to_string()),
        "expected `revisd is already running (pid {first})`: {stderr}"
    );

    // The first one is untouched and still serving.
    assert!(pid_alive(first));
    assert_eq!(read_pid(&env.home.pid_file()), Some(first));
    env.revis_ok(&["daemon", "status"]);
}

#[test]
fn a_stale_socket_file_is_replaced_by_a_new_daemon() {
    let home = TestHome::new();
    std::fs::create_dir(home.path()).expect("create home");
    std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o700)).expect("chmod");
    // Bound, then abandoned: the file stays, connecting is refused.
    drop(std::os::unix::net::UnixListener::bind(home.socket()).expect("bind a stale socket"));
    assert!(home.socket().exists());

    let cwd = home.scratch().to_path_buf();
    let status = revis_tests::revis(&home, &cwd, &["daemon", "status"]);
    assert_eq!(status.status.code(), Some(1), "status must not autostart: {}", describe(&status));
    assert!(home.daemon_pid().is_none(), "daemon status started a daemon");

    let start = revis_tests::revis(&home, &cwd, &["daemon", "start"]);
    assert!(start.status.success(), "{}\ndaemon log:\n{}", describe(&start), home.daemon_log());
    let status = revis_tests::revis(&home, &cwd, &["daemon", "status"]);
    assert!(status.status.success(), "{}", describe(&status));
    assert_eq!(mode(&home.socket()), 0o600);
}

#[test]
fn a_killed_daemon_is_replaced_on_the_next_command() {
    let env = TestEnv::new(standard_project(&[]));
    env.revis_ok(&["daemon", "start"]);
    let pid = env.home.daemon_pid().expect("daemon pid");
    // SIGKILL leaves the socket and the pid file behind.
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL).expect("kill revisd");
    assert!(wait_until(DAEMON_DEADLINE, || !pid_alive(pid)), "revisd {pid} survived SIGKILL");

    // Any command autostarts a fresh daemon.
    let list = env.revis_ok(&["list", "--json"]);
    assert_eq!(list.trim(), "[]");
    let fresh = env.home.daemon_pid().expect("a new daemon");
    assert_ne!(fresh, pid);
}

/// Keys belong to sessions: a daemon started (by hand or by `revis`) from a shell holding
/// provider keys keeps none of them in its environment, and a session started from a shell
/// without a key gets the offline advisor, not the daemon's.
#[test]
fn the_daemon_keeps_no_provider_key_from_the_shell_that_started_it() {
    let env = TestEnv::new(standard_project(&[]));
    let keys = [
        ("ANTHROPIC_API_KEY", "sk-ant-daemon-canary"),
        ("OPENAI_API_KEY", "sk-openai-daemon-canary"),
        ("CODEX_API_KEY", "sk-codex-daemon-canary"),
    ];
    // revisd started by hand (`revis` strips the keys when it starts one itself).
    let mut cmd = Command::new(revisd_bin());
    cmd.arg("--home").arg(env.home.path()).arg("--detach");
    scrub_env(&mut cmd, &env.home);
    cmd.envs(keys);
    cmd.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start revisd: {e}"));
    assert!(wait_until(DAEMON_DEADLINE, || env.home.socket().exists()), "revisd did not start");
    let pid = env.home.daemon_pid().expect("a daemon pid");
    assert_eq!(pid, child.id() as i32, "the daemon keeps its pid when it drops the keys");
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
    let environ = String::from_utf8_lossy(&environ);
    for (name, value) in keys {
        assert!(!environ.contains(value), "{name} stayed in the daemon's environment");
    }
    assert!(environ.contains("REVIS_HOME="), "the rest of the environment is kept");

    // A loop from a shell without keys: the daemon has none to lend, so the search advisor runs.
    let out = env.revis_ok(&["loop", "--name", "nokey", "--max-iterations", "1"]);
    assert!(out.lines().next().is_some_and(|l| l.trim() == "nokey"), "{out}");
    let show = env.revis_ok(&["show", "nokey", "--json"]);
    let session: serde_json::Value = serde_json::from_str(&show).unwrap_or_default();
    assert_eq!(session["advisor"], "search", "{show}");
    // And asking for the LLM advisor says why it cannot run.
    let refused = env.revis(&["loop", "--name", "llm", "--advisor", "llm", "--max-iterations", "1"]);
    assert_eq!(refused.status.code(), Some(2), "{}", describe(&refused));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("ANTHROPIC_API_KEY"), "{}", describe(&refused));
    env.revis_ok(&["daemon", "stop"]);
    assert!(wait_until(DAEMON_DEADLINE, || !pid_alive(pid)), "revisd {pid} still running");
    let _ = child.wait();
}
