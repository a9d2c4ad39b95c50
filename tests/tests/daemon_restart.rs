//! Training never runs inside the daemon: a daemon that exits (SIGTERM) or dies (SIGKILL) in the
//! middle of a run leaves the run going in tmux, and the next daemon re-attaches to it, collects
//! it once, and finishes the session with no iteration lost or run twice.

use revis_tests::git::commits;
use revis_tests::process::{pid_alive, read_pid};
use revis_tests::scripts::runs_log;
use revis_tests::session::{iteration, pretty, state, stop_reason};
use revis_tests::{SESSION_DEADLINE, TestEnv, standard_project, wait_until};

fn survive(kill: impl FnOnce(&TestEnv)) {
    let project = standard_project(&[]);
    project.touch_ctl("block-1");
    let env = TestEnv::new(project);
    let base = env.project.head();

    env.start_loop("sturdy", &["--max-iterations", "3"]);
    env.wait_ctl("started-1");
    let train_pid = read_pid(&env.project.ctl_file("pid-1")).expect("pid-1");
    let daemon_pid = env.home.daemon_pid().expect("a running daemon");

    kill(&env);
    assert!(wait_until(SESSION_DEADLINE, || !pid_alive(daemon_pid)), "revisd {daemon_pid} did not exit");
    assert!(pid_alive(train_pid), "training must outlive the daemon");

    // The run finishes while no daemon is watching; the next command starts a new daemon,
    // which re-attaches (or collects the finished run) and carries on.
    env.project.touch_ctl("gate-1");
    let s = env.wait_ended("sturdy");
    assert_ne!(env.home.daemon_pid(), Some(daemon_pid), "a new daemon took over");
    assert_eq!(state(&s), "completed", "{}", pretty(&s));
    assert_eq!(stop_reason(&s), "max_iterations", "{}", pretty(&s));
    assert_eq!(runs_log(&env.project, "runs.log"), vec![0, 1, 2], "each iteration trained exactly once");
    let it1 = iteration(&s, 1).expect("iteration 1");
    assert_eq!(it1["state"], "succeeded", "{}", pretty(&s));
    assert!(it1["primary"].is_f64(), "{}", pretty(&s));
    let mut numbers: Vec<u64> = commits(env.project.path(), &format!("{base}..revis/sturdy"))
        .iter()
        .filter_map(|c| c.trailer("Revis-Iteration").and_then(|n| n.parse().ok()))
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, vec![1, 2], "one commit per iteration");
}

#[test]
fn a_gracefully_stopped_daemon_leaves_training_running_and_the_next_one_resumes() {
    survive(|env| {
        env.revis_ok(&["daemon", "stop"]);
    });
}

#[test]
fn a_killed_daemon_leaves_training_running_and_the_next_one_resumes() {
    survive(|env| {
        let pid = env.home.daemon_pid().expect("a running daemon");
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL)
            .expect("SIGKILL revisd");
    });
}
