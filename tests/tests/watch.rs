//! `revis watch --json` delivers every event of a session exactly once, in order, whether it
//! attaches at the start, in the middle (replay then live) or after the end (replay only).

use revis_tests::cli::{Running, describe, revis_command};
use revis_tests::session::{pretty, state};
use revis_tests::{SESSION_DEADLINE, TestEnv, standard_project, wait_until};
use serde_json::Value;

fn watcher(env: &TestEnv, name: &str) -> Running {
    let cmd = revis_command(&env.home, env.project.path(), &["watch", name, "--json"]);
    Running::spawn(cmd, &format!("revis watch {name} --json"))
}

/// Parses watch's JSON lines and checks the stream's invariants; returns (seq, kind) pairs.
fn events(stdout: &str, session: &str) -> Vec<(u64, String)> {
    let events: Vec<Value> = stdout
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("bad event line {line:?}: {e}")))
        .collect();
    assert!(!events.is_empty(), "watch printed no events");
    let seqs: Vec<u64> = events
        .iter()
        .map(|e| {
            e["seq"]
                .as_u64()
                .or_else(|| e["seq"].as_str().and_then(|s| s.parse().ok()))
                .unwrap_or_else(|| panic!("event without seq: {e}"))
        })
        .collect();
    assert_eq!(seqs[0], 1, "the replay starts at the first event: {seqs:?}");
    for pair in seqs.windows(2) {
        assert_eq!(pair[1], pair[0] + 1, "seqs must increase by one, no gaps or repeats: {seqs:?}");
    }
    for e in &events {
        assert_eq!(e["session"], session, "{e}");
    }
    let kinds: Vec<String> = events.iter().map(|e| e["kind"].as_str().unwrap_or_default().to_string()).collect();
    assert_eq!(kinds.first().map(String::as_str), Some("session_started"), "{kinds:?}");
    assert_eq!(kinds.iter().filter(|k| *k == "session_ended").count(), 1, "{kinds:?}");
    let last = events.last().expect("events");
    assert_eq!(last["kind"], "session_ended", "{kinds:?}");
    assert_eq!(last["final_state"], "completed", "{last}");
    seqs.into_iter().zip(kinds).collect()
}

#[test]
fn watch_json_delivers_every_event_once_from_start_middle_and_end() {
    let project = standard_project(&[]);
    project.touch_ctl("block-1");
    let env = TestEnv::new(project);

    env.start_loop("watched", &["--max-iterations", "3"]);
    let from_start = watcher(&env, "watched");

    // Mid-session: iteration 1 is blocked; this watcher must replay what happened so far and
    // be attached before the gate opens.
    env.wait_ctl("started-1");
    let mid = watcher(&env, "watched");
    assert!(
        wait_until(SESSION_DEADLINE, || mid.stdout_so_far().contains("\"run_started\"")
            && mid.stdout_so_far().lines().count() >= 4),
        "the mid-session watcher did not replay the earlier events: {}",
        mid.stdout_so_far()
    );
    let replayed_before_gate = mid.stdout_so_far().lines().count();
    env.project.touch_ctl("gate-1");

    let start_out = from_start.wait(SESSION_DEADLINE);
    let mid_out = mid.wait(SESSION_DEADLINE);
    assert!(start_out.status.success(), "{}", describe(&start_out));
    assert!(mid_out.status.success(), "{}", describe(&mid_out));

    let s = env.show("watched");
    assert_eq!(state(&s), "completed", "{}", pretty(&s));

    let start_events = events(&String::from_utf8_lossy(&start_out.stdout), "watched");
    let mid_events = events(&String::from_utf8_lossy(&mid_out.stdout), "watched");
    assert_eq!(mid_events, start_events, "a mid-session watcher sees the same events");
    assert!(mid_events.len() > replayed_before_gate, "the mid-session watcher received live events after the replay");

    // After the end: a pure replay of the same events, then exit 0.
    let after_out = watcher(&env, "watched").wait(SESSION_DEADLINE);
    assert!(after_out.status.success(), "{}", describe(&after_out));
    let after_events = events(&String::from_utf8_lossy(&after_out.stdout), "watched");
    assert_eq!(after_events, start_events);

    // Every iteration shows up in the stream: three runs, two commits (iterations 1 and 2).
    let count = |kind: &str| start_events.iter().filter(|(_, k)| k == kind).count();
    for kind in ["run_started", "run_finished", "metrics"] {
        assert_eq!(count(kind), 3, "{kind} events: {start_events:?}");
    }
    assert_eq!(count("committed"), 2, "committed events: {start_events:?}");

    // The human-readable form prints one line per event and exits 0 for a completed session.
    let plain = env.revis(&["watch", "watched"]);
    assert!(plain.status.success(), "{}", describe(&plain));
    let lines = String::from_utf8_lossy(&plain.stdout).lines().count();
    assert!(lines >= start_events.len(), "one line per event: {}", describe(&plain));
}
