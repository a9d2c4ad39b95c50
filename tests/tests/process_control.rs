//! A run is a whole process tree: stop, timeout and delete end the training, its children and
//! grandchildren, even those that ignore SIGTERM (SIGKILL follows after guardrails.kill_grace).
//! Training output is never lost when the daemon dies and a new one takes over mid-run.

use revis_tests::process::pid_alive;
use revis_tests::scripts::{kill_daemon, script_project, ticker_py, ticks, wait_pid_file, wait_ticks};
use revis_tests::session::{iteration, pretty, state, stop_reason};
use revis_tests::{Project, TestEnv, wait_until};
use std::path::Path;
use std::time::Duration;

/// Longer than kill_grace (1s) plus the daemon's reaction, far shorter than the session deadline.
const GONE_DEADLINE: Duration = Duration::from_secs(20);

/// train.sh starts child.sh, which starts grandchild.sh; both ignore SIGTERM and sleep forever
/// (SIG_IGN survives exec, so the pid each writes is the sleeping process itself).
fn tree_project(guardrails: &[(&str, &str)]) -> Project {
    let project = script_project(
        "sh",
        "train.sh",
        |ctl| {
            format!(
                "it=\"$REVIS_ITERATION\"\n\
                 echo $$ > '{ctl}/main-'\"$it\"'.pid'\n\
                 echo \"training $it\"\n\
                 sh child.sh \"$it\" &\n\
                 wait\n",
                ctl = ctl.display()
            )
        },
        guardrails,
    );
    let ctl = project.ctl().display().to_string();
    project
        .write(
            "child.sh",
            &format!(
                "trap '' TERM\necho $$ > '{ctl}/child-'\"$1\"'.pid'\nsh grandchild.sh \"$1\" &\nexec sleep 100000\n"
            ),
        )
        .write(
            "grandchild.sh",
            &format!("trap '' TERM\necho $$ > '{ctl}/grandchild-'\"$1\"'.pid'\nexec sleep 100000\n"),
        );
    project.commit("helpers");
    project
}

/// Starts the session and waits until the baseline's whole tree is up; returns its pids.
fn start_tree(env: &TestEnv, name: &str) -> Vec<i32> {
    env.start_loop(name, &["--max-iterations", "3"]);
    let pids: Vec<i32> =
        ["main-0.pid", "child-0.pid", "grandchild-0.pid"].iter().map(|f| wait_pid_file(&env.project, f)).collect();
    assert!(pids.iter().all(|pid| pid_alive(*pid)), "the run's processes should be running: {pids:?}");
    pids
}

fn assert_all_gone(env: &TestEnv, pids: &[i32], after: &str) {
    let ok = wait_until(GONE_DEADLINE, || pids.iter().all(|pid| !pid_alive(*pid)));
    let alive: Vec<i32> = pids.iter().copied().filter(|pid| pid_alive(*pid)).collect();
    assert!(
        ok,
        "after {after}, processes of the run (main, child, grandchild: {pids:?}) still alive: {alive:?}\ndaemon log:\n{}",
        env.home.daemon_log()
    );
}

const GRACE: (&str, &str) = ("kill_grace", "1s");

#[test]
fn stop_kills_children_and_grandchildren_that_ignore_sigterm() {
    let env = TestEnv::new(tree_project(&[GRACE]));
    let pids = start_tree(&env, "stubborn");
    env.revis_ok(&["stop", "stubborn"]);
    assert_all_gone(&env, &pids, "revis stop");
    let s = env.wait_ended("stubborn");
    assert_eq!(state(&s), "stopped", "{}", pretty(&s));
    assert_eq!(stop_reason(&s), "user", "{}", pretty(&s));
    assert_eq!(iteration(&s, 0).map(|it| it["state"].clone()), Some("interrupted".into()), "{}", pretty(&s));
}

#[test]
fn a_timeout_kills_the_whole_tree_and_fails_the_iteration() {
    let env = TestEnv::new(tree_project(&[GRACE, ("max_run_duration", "1s"), ("retry_budget", "1")]));
    let pids = start_tree(&env, "overdue");
    assert_all_gone(&env, &pids, "max_run_duration");
    let s = env.wait_ended("overdue");
    assert_eq!(state(&s), "failed", "{}", pretty(&s));
    assert_eq!(stop_reason(&s), "retry_budget", "{}", pretty(&s));
    let it0 = iteration(&s, 0).expect("iteration 0");
    assert_eq!(it0["state"], "failed", "{}", pretty(&s));
    let reason = it0["failure_reason"].as_str().unwrap_or_default();
    assert!(reason.contains("timed out"), "the failure must say it timed out: {}", pretty(&it0));
}

#[test]
fn deleting_a_running_session_kills_the_tree_and_removes_worktree_and_branch() {
    let env = TestEnv::new(tree_project(&[GRACE]));
    let pids = start_tree(&env, "doomed");
    let worktree = env.show("doomed")["worktree"].as_str().unwrap_or_default().to_string();
    assert!(Path::new(&worktree).is_dir(), "worktree {worktree} missing before delete");

    env.revis_ok(&["delete", "doomed"]);
    assert_all_gone(&env, &pids, "revis delete");
    assert!(
        wait_until(GONE_DEADLINE, || !Path::new(&worktree).exists()),
        "worktree {worktree} still exists after delete"
    );
    assert!(!env.project.has_branch("revis/doomed"), "branch revis/doomed still exists after delete");
    assert!(env.revis(&["show", "doomed"]).status.code() != Some(0), "the deleted session is still shown");
    assert_eq!(env.project.current_branch(), "refs/heads/main");
}

#[test]
fn training_output_written_around_a_daemon_restart_is_all_in_the_log() {
    let env = TestEnv::new(script_project("python3", "train.py", ticker_py, &[]));
    env.start_loop("chatty", &["--max-iterations", "2"]);
    wait_ticks(&env, 5, "before the crash");

    kill_daemon(&env.home);
    let at_kill = ticks(&env.project);
    wait_ticks(&env, at_kill + 10, "while no daemon ran");
    env.revis_ok(&["daemon", "start"]);
    let at_restart = ticks(&env.project);
    wait_ticks(&env, at_restart + 10, "after the restart");
    env.project.touch_ctl("gate");

    let s = env.wait_ended("chatty");
    assert_eq!(state(&s), "completed", "{}", pretty(&s));
    let log = env.revis_ok(&["logs", "chatty", "--iteration", "1"]);
    let last: u64 = log
        .lines()
        .find_map(|l| l.strip_prefix("last tick ").and_then(|n| n.trim().parse().ok()))
        .unwrap_or_else(|| panic!("no `last tick` line in the log of iteration 1:\n{log}"));
    assert!(last > at_restart + 10, "the run ended before the gate? last tick {last}");
    for n in 1..=last {
        let count = log.lines().filter(|l| l.trim() == format!("tick {n}")).count();
        assert_eq!(
            count, 1,
            "`tick {n}` appears {count} times in the log (crash at tick {at_kill}, restart at {at_restart}):\n{log}"
        );
    }
}
