//! Stop and resume: `stop` kills the run and records the iteration as interrupted; `resume`
//! continues the same session (counters, spend, branch) and re-runs the interrupted iteration
//! under the same number. `stop --after-run` lets the current run finish first.

use revis_tests::git::commits;
use revis_tests::process::{pid_alive, read_pid};
use revis_tests::scripts::runs_log;
use revis_tests::session::{iteration, iterations, pretty, state, stop_reason};
use revis_tests::{SESSION_DEADLINE, TestEnv, standard_project, wait_until};

#[test]
fn stop_interrupts_the_run_and_resume_reruns_it_with_the_same_number() {
    let project = standard_project(&[]);
    project.touch_ctl("block-1");
    let env = TestEnv::new(project);
    let base = env.project.head();

    env.start_loop("pausable", &["--max-iterations", "3"]);
    env.wait_ctl("started-1");
    let train_pid = read_pid(&env.project.ctl_file("pid-1")).expect("pid-1");

    let stopped = env.revis_ok(&["stop", "pausable"]);
    let s = env.wait_show("pausable", SESSION_DEADLINE, "stopped", |s| state(s) == "stopped");
    assert_eq!(stop_reason(&s), "user", "{}", pretty(&s));
    let it1 = iteration(&s, 1).expect("iteration 1");
    assert_eq!(it1["state"], "interrupted", "{}", pretty(&s));
    assert!(
        wait_until(SESSION_DEADLINE, || !pid_alive(train_pid)),
        "the interrupted training (pid {train_pid}) is still running; stop said: {stopped}"
    );
    let spend_before = s["spend"]["active_seconds"].as_f64().expect("spend.active_seconds");
    assert!(spend_before > 0.0, "{}", pretty(&s));
    let baseline_before = iteration(&s, 0).expect("baseline")["primary"].clone();

    // A stopped session is over for watch: it replays and exits 0.
    let watch = env.revis(&["watch", "pausable"]);
    assert!(watch.status.success(), "{}", revis_tests::cli::describe(&watch));

    env.project.touch_ctl("gate-1");
    env.revis_ok(&["resume", "pausable"]);
    let s = env.wait_ended("pausable");
    assert_eq!(state(&s), "completed", "{}", pretty(&s));
    assert_eq!(stop_reason(&s), "max_iterations", "{}", pretty(&s));

    // Same session: the baseline ran once and keeps its result; iteration 1 ran again as 1.
    assert_eq!(runs_log(&env.project, "runs.log"), vec![0, 1, 1, 2], "training runs by REVIS_ITERATION");
    let baselines: Vec<_> = iterations(&s).into_iter().filter(|it| it["number"] == 0).collect();
    assert_eq!(baselines.len(), 1, "{}", pretty(&s));
    assert_eq!(baselines[0]["primary"], baseline_before);
    let it1 = iteration(&s, 1).expect("iteration 1");
    assert_eq!(it1["state"], "succeeded", "{}", pretty(&s));
    assert!(iteration(&s, 2).is_some_and(|it| it["state"] == "succeeded"), "{}", pretty(&s));
    let spend_after = s["spend"]["active_seconds"].as_f64().expect("spend.active_seconds");
    assert!(spend_after >= spend_before, "spend went from {spend_before} to {spend_after}");

    // Still one commit per iteration: the re-run did not add a second commit for 1.
    let mut numbers: Vec<u64> = commits(env.project.path(), &format!("{base}..revis/pausable"))
        .iter()
        .filter_map(|c| c.trailer("Revis-Iteration").and_then(|n| n.parse().ok()))
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, vec![1, 2]);
}

#[test]
fn stop_after_run_lets_the_current_run_finish() {
    let project = standard_project(&[]);
    project.touch_ctl("block-1");
    let env = TestEnv::new(project);

    env.start_loop("gentle", &["--max-iterations", "5"]);
    env.wait_ctl("started-1");
    env.revis_ok(&["stop", "gentle", "--after-run"]);

    let s = env.show("gentle");
    assert_eq!(s["stop_requested"], true, "{}", pretty(&s));
    assert_eq!(state(&s), "running", "{}", pretty(&s));

    env.project.touch_ctl("gate-1");
    let s = env.wait_ended("gentle");
    assert_eq!(state(&s), "stopped", "{}", pretty(&s));
    assert_eq!(stop_reason(&s), "user", "{}", pretty(&s));
    let it1 = iteration(&s, 1).expect("iteration 1");
    assert_eq!(it1["state"], "succeeded", "{}", pretty(&s));
    assert!(it1["primary"].is_f64(), "the finished run's metrics are collected: {}", pretty(&s));
    assert!(iteration(&s, 2).is_none(), "no run after the stop: {}", pretty(&s));
    assert_eq!(runs_log(&env.project, "runs.log"), vec![0, 1]);
}
