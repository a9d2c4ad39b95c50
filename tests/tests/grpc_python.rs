//! Any gRPC client can script Revis: Python's grpcio (pinned in .ci/run) drives the real daemon
//! over its socket, as docs/api.md tells users to. It lists, shows, follows a watch stream live
//! and calls Hello through server reflection alone (no generated stub).
//!
//! grpcio runs with one option, `grpc.default_authority=localhost`: by default it sends the
//! %-encoded socket path as `:authority`, which h2 (under tonic) resets before revisd sees the
//! request, and no server option changes that. The script also records what the defaults get, so
//! this test notices the day they work and the advice can go.

use std::process::Command;

use revis_tests::bins::workspace_root;
use revis_tests::cli::{Running, describe, scrub_env};
use revis_tests::session::{numbers, pretty, state};
use revis_tests::{COMMAND_DEADLINE, SESSION_DEADLINE, TestEnv, standard_project, wait_until};
use serde_json::Value;

/// What .ci/run installs; named in the failure when the modules are missing.
const PIP_INSTALL: &str =
    "python3 -m pip install grpcio==1.85.4 grpcio-tools==1.85.4 grpcio-reflection==1.85.1 protobuf==7.36.2";

/// Fails (never skips) when grpcio is missing, naming the command that installs it.
fn require_grpcio() {
    let out = Command::new("python3")
        .args(["-c", "import grpc, grpc_tools, grpc_reflection"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3: {e}"));
    assert!(
        out.status.success(),
        "Python's grpcio is not installed ({}); install it with:\n  {PIP_INSTALL}",
        String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or_default()
    );
}

/// The complete JSON lines the script printed so far (a line still being written is left out).
fn lines(stdout: &str) -> Vec<Value> {
    stdout
        .split_inclusive('\n')
        .filter(|line| line.ends_with('\n') && !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("bad line from the script {line:?}: {e}")))
        .collect()
}

fn seq_kind(event: &Value) -> (u64, String) {
    let seq = event["seq"].as_u64().unwrap_or_else(|| panic!("event without seq: {event}"));
    (seq, event["kind"].as_str().unwrap_or_default().to_string())
}

#[test]
fn python_grpcio_lists_shows_watches_and_calls_hello_through_reflection() {
    require_grpcio();
    let project = standard_project(&[]);
    // Iteration 1 waits for its gate, so the script's watch is attached before the rest happens.
    project.touch_ctl("block-1");
    let env = TestEnv::new(project);
    env.start_loop("py", &["--max-iterations", "2"]);

    let mut cmd = Command::new("python3");
    cmd.arg(workspace_root().join("tests/python/grpc_client.py"))
        .arg(env.home.socket())
        .arg(workspace_root().join("proto"))
        .arg(env.project.path())
        .arg("py");
    scrub_env(&mut cmd, &env.home);
    let script = Running::spawn(cmd, "tests/python/grpc_client.py");

    env.wait_ctl("started-1");
    let attached = wait_until(SESSION_DEADLINE, || {
        lines(&script.stdout_so_far())
            .iter()
            .any(|l| l["event"]["kind"] == "run_started" && l["event"]["iteration"] == 1)
    });
    assert!(attached, "the script's watch did not replay iteration 1's start: {}", script.stdout_so_far());
    env.project.touch_ctl("gate-1");

    let out = script.wait(SESSION_DEADLINE + COMMAND_DEADLINE);
    assert!(out.status.success(), "{}\ndaemon log:\n{}", describe(&out), env.home.daemon_log());
    let lines = lines(&String::from_utf8_lossy(&out.stdout));
    let result = lines.last().map(|l| l["result"].clone()).unwrap_or_default();
    assert!(result.is_object(), "the script printed no result: {}", describe(&out));

    // What the defaults get depends on the client's version: this is the one .ci/run installs.
    assert_eq!(result["grpcio"], "1.85.4", "the test is pinned to grpcio 1.85.4; install it with:\n  {PIP_INSTALL}");

    // The documented limitation, seen from the real client.
    let defaults = &result["default_options"];
    assert_eq!(
        defaults["ok"], false,
        "grpcio's default options now reach revisd: drop the grpc.default_authority advice from \
         docs/api.md and tests/python/grpc_client.py"
    );
    assert_eq!(defaults["code"], "INTERNAL", "{defaults}");

    // Hello, from descriptors the daemon's reflection service gave.
    let hello = &result["hello"];
    let services: Vec<&str> = hello["services"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    assert!(services.contains(&"revis.v1.Revis"), "reflection lists {services:?}");
    assert_eq!(hello["input_type"], "revis.v1.HelloRequest", "{hello}");
    assert_eq!(hello["pid"].as_i64(), env.home.daemon_pid().map(i64::from), "{hello}");
    assert_eq!(hello["home"].as_str(), env.home.path().to_str(), "{hello}");
    assert!(hello["protocol"].as_u64().is_some_and(|p| p >= 1), "{hello}");

    let listed: Vec<&str> =
        result["list"].as_array().into_iter().flatten().filter_map(|s| s["name"].as_str()).collect();
    assert_eq!(listed, ["py"], "{}", pretty(&result["list"]));

    // What the script saw matches the CLI's view of the same session.
    let show = env.show("py");
    assert_eq!(state(&show), "completed", "{}", pretty(&show));
    assert_eq!(result["show"]["name"], "py");
    assert_eq!(result["show"]["primary_metric"], "val_loss");
    let seen: Vec<u64> =
        result["show"]["iterations"].as_array().into_iter().flatten().filter_map(Value::as_u64).collect();
    assert!(!seen.is_empty() && numbers(&show).starts_with(&seen), "script saw {seen:?}; show: {}", pretty(&show));

    // Every event once, in order, ending with the session; the same stream `revis watch` gets.
    let events: Vec<&Value> = lines.iter().filter_map(|l| l.get("event")).collect();
    let pairs: Vec<(u64, String)> = events.iter().map(|e| seq_kind(e)).collect();
    let seqs: Vec<u64> = pairs.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "seqs: {seqs:?}");
    assert_eq!(pairs.first().map(|(_, k)| k.as_str()), Some("session_started"), "{pairs:?}");
    let last = events.last().copied().cloned().unwrap_or_default();
    assert_eq!(last["kind"], "session_ended", "{pairs:?}");
    assert_eq!(last["final_state"], "completed", "{last}");

    let cli = env.revis_ok(&["watch", "py", "--json"]);
    let cli_pairs: Vec<(u64, String)> = cli
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("bad watch line {l:?}: {e}")))
        .map(|e| {
            let seq = e["seq"].as_u64().or_else(|| e["seq"].as_str().and_then(|s| s.parse().ok()));
            (
                seq.unwrap_or_else(|| panic!("watch event without seq: {e}")),
                e["kind"].as_str().unwrap_or_default().into(),
            )
        })
        .collect();
    assert_eq!(pairs, cli_pairs, "grpcio's watch and `revis watch --json` differ");
}
