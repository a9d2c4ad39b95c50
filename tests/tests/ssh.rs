//! The ssh executor end to end: the real daemon trains on "remote" host 127.0.0.1 through a
//! real sshd, reached by an alias from a test `~/.ssh/config`. Covers a full loop, agent and
//! key-file auth, unknown and changed host keys, a dropped connection and a daemon restart in
//! the middle of a run, and `revis stop` killing the remote training.

#[path = "../src/sshd.rs"]
mod sshd;

use std::time::Duration;

use revis_tests::process::{pid_alive, read_pid};
use revis_tests::scripts::runs_log;
use revis_tests::session::{iteration, iterations, pretty, state};
use revis_tests::{SESSION_DEADLINE, TestEnv, standard_yaml, wait_until};
use sshd::{ALIAS, SshServer};

/// `train.py` and friends with `executor: ssh` on `host`.
fn ssh_env(server: &SshServer, host: &str) -> TestEnv {
    let project = revis_tests::standard_project(&[]);
    let yaml = format!("{}{}", standard_yaml(&[]), server.executor_yaml(host));
    project.write("revis.yaml", &yaml);
    project.commit("ssh executor");
    TestEnv::new(project)
}

fn start_loop(server: &SshServer, env: &TestEnv, name: &str, iterations: &str) {
    server.revis_ok(env, &["loop", "--name", name, "--advisor", "search", "--max-iterations", iterations]);
}

fn wait_ended(server: &SshServer, env: &TestEnv, name: &str) -> serde_json::Value {
    server.wait_show(env, name, SESSION_DEADLINE * 2, |s| ["stopped", "completed", "failed"].contains(&state(s)))
}

fn assert_trained(s: &serde_json::Value, n: usize) {
    assert_eq!(state(s), "completed", "{}", pretty(s));
    let its = iterations(s);
    assert_eq!(its.len(), n, "{}", pretty(s));
    for it in its {
        assert_eq!(it["state"], "succeeded", "{}", pretty(&it));
        assert!(it["metrics"]["val_loss"].is_f64(), "metrics came back: {}", pretty(&it));
    }
}

#[test]
fn full_loop_over_ssh_with_an_alias_and_a_key_file() {
    let server = SshServer::start();
    let env = ssh_env(&server, ALIAS);
    start_loop(&server, &env, "remote", "3");
    let s = wait_ended(&server, &env, "remote");
    assert_trained(&s, 3);
    // The code was synced under work_dir/<session key> and the logs mirrored locally.
    let synced = std::fs::read_dir(server.work_dir())
        .expect("work dir")
        .flatten()
        .any(|e| e.file_name().to_string_lossy().ends_with("-remote") && e.path().join("train.py").exists());
    assert!(synced, "no synced session directory in {}", server.work_dir().display());
    let logs = server.revis_ok(&env, &["logs", "remote"]);
    assert!(logs.contains("val_loss="), "logs: {logs}");
}

#[test]
fn agent_auth_without_key_files() {
    let mut server = SshServer::start();
    server.write_ssh_config(false);
    server.start_agent();
    let env = ssh_env(&server, ALIAS);
    start_loop(&server, &env, "agent", "1");
    assert_trained(&wait_ended(&server, &env, "agent"), 1);
}

/// The session must not train: `revis loop` refuses, or the session ends failed or paused
/// with `needle` in what it reports.
fn assert_refused(server: &SshServer, env: &TestEnv, name: &str, needle: &str) {
    let out = server.revis(env, &["loop", "--name", name, "--advisor", "search", "--max-iterations", "1"]);
    let printed = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if !out.status.success() {
        assert!(printed.contains(needle), "refusal must mention {needle}: {printed}");
        return;
    }
    let s = server.wait_show(env, name, SESSION_DEADLINE, |s| ["failed", "paused", "stopped"].contains(&state(s)));
    let text = s.to_string();
    assert!(text.contains(needle), "session must report {needle}: {}", pretty(&s));
    assert!(runs_log(&env.project, "runs.log").is_empty(), "nothing may train");
}

#[test]
fn unknown_host_is_refused_with_its_fingerprint() {
    let server = SshServer::start();
    std::fs::write(server.known_hosts(), "").expect("empty known_hosts");
    let env = ssh_env(&server, ALIAS);
    assert_refused(&server, &env, "unknown", &server.host_fingerprint());
}

#[test]
fn changed_host_key_is_refused() {
    let server = SshServer::start();
    server.trust_wrong_key();
    let env = ssh_env(&server, ALIAS);
    assert_refused(&server, &env, "changed", "HAS CHANGED");
}

/// Iteration 1 blocks until released; returns the env once it trains remotely.
fn blocked_run(server: &SshServer, name: &str) -> TestEnv {
    let env = ssh_env(server, ALIAS);
    env.project.touch_ctl("block-1");
    start_loop(server, &env, name, "3");
    assert!(
        wait_until(SESSION_DEADLINE, || env.project.ctl_file("started-1").exists()),
        "iteration 1 did not start\ndaemon log:\n{}",
        env.home.daemon_log()
    );
    env
}

#[test]
fn dropped_connection_mid_run_and_the_result_is_collected() {
    let server = SshServer::start();
    let env = blocked_run(&server, "drop");
    server.kill_sessions();
    let train_pid = read_pid(&env.project.ctl_file("pid-1")).expect("pid-1");
    assert!(pid_alive(train_pid), "training must survive the dropped connection");
    env.project.touch_ctl("gate-1");
    let s = wait_ended(&server, &env, "drop");
    assert_trained(&s, 3);
    assert_eq!(runs_log(&env.project, "runs.log"), vec![0, 1, 2], "each iteration trained once");
}

#[test]
fn daemon_restart_mid_run_reattaches_to_the_remote_run() {
    let server = SshServer::start();
    let env = blocked_run(&server, "restart");
    let daemon = env.home.daemon_pid().expect("a running daemon");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(daemon), nix::sys::signal::Signal::SIGKILL)
        .expect("SIGKILL revisd");
    assert!(wait_until(SESSION_DEADLINE, || !pid_alive(daemon)), "revisd did not die");
    env.project.touch_ctl("gate-1");
    let s = wait_ended(&server, &env, "restart");
    assert_trained(&s, 3);
    assert_eq!(runs_log(&env.project, "runs.log"), vec![0, 1, 2], "each iteration trained once");
    assert!(iteration(&s, 1).is_some_and(|it| it["primary"].is_f64()), "{}", pretty(&s));
}

#[test]
fn stop_kills_the_remote_training() {
    let server = SshServer::start();
    let env = blocked_run(&server, "halt");
    let train_pid = read_pid(&env.project.ctl_file("pid-1")).expect("pid-1");
    server.revis_ok(&env, &["stop", "halt"]);
    assert!(wait_until(Duration::from_secs(30), || !pid_alive(train_pid)), "remote training {train_pid} survived stop");
    let s = server.wait_show(&env, "halt", SESSION_DEADLINE, |s| state(s) == "stopped");
    assert_eq!(state(&s), "stopped");
}

#[test]
fn init_tests_the_host_and_trusts_its_key_only_when_asked() {
    let server = SshServer::start();
    let _ = std::fs::remove_file(server.known_hosts());
    let project = revis_tests::Project::new();
    project.write("train.py", "print('hi')\n");
    project.commit("a training script");
    let env = TestEnv::new(project);
    let init = ["init", "--yes", "--train", "python3 train.py", "--primary", "val_loss", "--ssh", ALIAS];

    // Unknown host key: refused, with the fingerprint to check; nothing written.
    let out = server.revis(&env, &init);
    assert_eq!(out.status.code(), Some(2), "{}", revis_tests::cli::describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&server.host_fingerprint()), "{stderr}");
    assert!(!env.project.path().join("revis.yaml").exists());

    // --trust-host records the key, tests the connection and writes an ssh executor.
    let with_trust: Vec<&str> = init.iter().copied().chain(["--trust-host"]).collect();
    let stdout = server.revis_ok(&env, &with_trust);
    assert!(stdout.contains("tar and tmux found"), "{stdout}");
    let known = std::fs::read_to_string(server.known_hosts()).expect("known_hosts");
    assert!(known.contains(&format!("[127.0.0.1]:{}", server.port())), "{known}");
    let yaml = env.project.read("revis.yaml");
    assert!(yaml.contains("type: ssh") && yaml.contains(ALIAS), "{yaml}");
}
