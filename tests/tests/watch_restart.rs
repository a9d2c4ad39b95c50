//! `revis watch --json` and `revis logs -f` survive a daemon crash: the clients reconnect on their
//! own (starting the next daemon) and resume where they were, so every event and every line of
//! training output is shown exactly once.

use revis_tests::cli::{Running, describe, revis_command};
use revis_tests::scripts::{
    event_lines, event_seq, kill_daemon, runs_log, script_project, ticker_py, ticks, wait_ticks,
};
use revis_tests::session::{pretty, state};
use revis_tests::{SESSION_DEADLINE, TestEnv, wait_until};

const NAME: &str = "phoenix";

fn client(env: &TestEnv, args: &[&str]) -> Running {
    Running::spawn(revis_command(&env.home, env.project.path(), args), &format!("revis {}", args.join(" ")))
}

#[test]
fn watch_and_logs_follow_resume_across_a_daemon_crash_without_repeats_or_gaps() {
    let env = TestEnv::new(script_project("python3", "train.py", ticker_py, &[]));
    env.start_loop(NAME, &["--max-iterations", "3"]);
    let watch = client(&env, &["watch", NAME, "--json"]);
    wait_ticks(&env, 1, "before logs -f attached");
    // Attached while iteration 1 is the latest, so `logs -f` follows its training output.
    let logs = client(&env, &["logs", NAME, "-f"]);
    assert!(
        wait_until(SESSION_DEADLINE, || logs.stdout_so_far().contains("tick 3\n")),
        "logs -f printed no training output before the crash:\n{}",
        logs.stdout_so_far()
    );

    let old = kill_daemon(&env.home);
    let at_kill = ticks(&env.project);
    // Nobody but the two clients may start the next daemon.
    assert!(
        wait_until(SESSION_DEADLINE, || env.home.daemon_pid().is_some_and(|pid| pid != old)),
        "neither watch nor logs -f reconnected (no new daemon after the crash)\nwatch so far:\n{}\nlogs so far:\n{}",
        watch.stdout_so_far(),
        logs.stdout_so_far()
    );
    wait_ticks(&env, at_kill + 10, "after the restart");
    env.project.touch_ctl("gate");

    let watch_out = watch.wait(SESSION_DEADLINE);
    let logs_out = logs.wait(SESSION_DEADLINE);
    let s = env.show(NAME);
    assert_eq!(state(&s), "completed", "{}", pretty(&s));
    assert_eq!(runs_log(&env.project, "runs.log"), vec![0, 1, 2], "each iteration ran once");

    // watch: every seq once, contiguous from 1, ending with session_ended.
    assert!(watch_out.status.success(), "watch: {}", describe(&watch_out));
    let events = event_lines(&String::from_utf8_lossy(&watch_out.stdout));
    let seqs: Vec<u64> =
        events.iter().map(|e| event_seq(e).unwrap_or_else(|| panic!("event without seq: {e}"))).collect();
    let expected: Vec<u64> = (1..=seqs.len() as u64).collect();
    assert_eq!(seqs, expected, "watch must print every seq exactly once, in order, across the crash");
    let last = events.last().expect("watch printed events");
    assert_eq!(last["kind"], "session_ended", "the stream must end with session_ended: {last}");
    assert_eq!(last["final_state"], "completed", "{last}");

    // logs -f: every training line once.
    assert!(logs_out.status.success(), "logs -f: {}", describe(&logs_out));
    let text = String::from_utf8_lossy(&logs_out.stdout);
    let last_tick: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("last tick ").and_then(|n| n.trim().parse().ok()))
        .unwrap_or_else(|| panic!("logs -f never printed `last tick` (crash at tick {at_kill}):\n{text}"));
    for n in 1..=last_tick {
        let count = text.lines().filter(|l| l.trim() == format!("tick {n}")).count();
        assert_eq!(count, 1, "logs -f printed `tick {n}` {count} times (crash at tick {at_kill}):\n{text}");
    }
    // Event-log lines (`HH:MM:SS  #I  message`) are distinct events: none may repeat either.
    let event_lines: Vec<&str> = text.lines().filter(|l| is_clock(l)).collect();
    for line in &event_lines {
        let count = event_lines.iter().filter(|l| *l == line).count();
        assert_eq!(count, 1, "logs -f printed the event line {line:?} {count} times:\n{text}");
    }
}

fn is_clock(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() > 8 && b[2] == b':' && b[5] == b':' && [0, 1, 3, 4, 6, 7].iter().all(|i| b[*i].is_ascii_digit())
}
