//! The stops a user sets up front, end to end: the wall-clock `--budget` of active time (a run
//! still going when it is used up is ended), `resume --budget` giving a finished session more
//! time, `metrics.target` ending a session once the best value reaches it, and a grid whose
//! every point was measured.

use revis_tests::process::{pid_alive, read_pid};
use revis_tests::session::{iteration, pretty, state, stop_reason};
use revis_tests::{SESSION_DEADLINE, TestEnv, standard_project, wait_until};
use serde_json::Value;

fn active_seconds(s: &Value) -> f64 {
    s["spend"]["active_seconds"].as_f64().unwrap_or(-1.0)
}

#[test]
fn the_budget_ends_a_run_that_outlasts_it_and_resume_budget_gives_more_time() {
    let project = standard_project(&[("kill_grace", "1s")]);
    // Iteration 1 trains until the test lets it go: it never does, so only the budget ends it.
    project.touch_ctl("block-1");
    let env = TestEnv::new(project);

    env.start_loop("budgeted", &["--budget", "3s", "--max-iterations", "10"]);
    env.wait_ctl("started-1");
    let train = read_pid(&env.project.ctl_file("pid-1")).expect("pid-1");
    let s = env.wait_ended("budgeted");
    assert_eq!((state(&s), stop_reason(&s)), ("completed", "budget"), "{}", pretty(&s));
    let first = active_seconds(&s);
    assert!((3.0..30.0).contains(&first), "active time {first} s for a 3 s budget: {}", pretty(&s));
    assert!(wait_until(SESSION_DEADLINE, || !pid_alive(train)), "the run (pid {train}) outlived the budget");
    assert_eq!(iteration(&s, 0).map(|i| i["state"].clone()), Some("succeeded".into()), "{}", pretty(&s));

    // More time: the same session goes on, and the new budget counts from what was spent.
    let resumed = env.revis_ok(&["resume", "budgeted", "--budget", "2s"]);
    assert!(resumed.contains("Resumed budgeted"), "{resumed}");
    let s = env.wait_show("budgeted", SESSION_DEADLINE, "the resumed session to end", |s| {
        state(s) == "completed" && active_seconds(s) > first
    });
    assert_eq!(stop_reason(&s), "budget", "{}", pretty(&s));
    let more = active_seconds(&s) - first;
    assert!((2.0..30.0).contains(&more), "the resumed session ran {more} s more for a 2 s budget: {}", pretty(&s));
}

#[test]
fn the_target_ends_the_session_once_the_best_value_reaches_it() {
    // The baseline gives val_loss 4.9; with the `constant` switch the training gives 1.0.
    let project = standard_project(&[]);
    let yaml = project.read("revis.yaml").replacen("  minimize: true\n", "  minimize: true\n  target: 2.0\n", 1);
    project.write("revis.yaml", &yaml);
    project.commit("a target");
    project.touch_ctl("block-1");
    let env = TestEnv::new(project);

    env.start_loop("targeted", &["--max-iterations", "10"]);
    env.wait_ctl("started-1");
    // The baseline (4.9) did not reach the target; iteration 1 will.
    env.project.touch_ctl("constant");
    env.project.touch_ctl("gate-1");
    let s = env.wait_ended("targeted");
    assert_eq!((state(&s), stop_reason(&s)), ("completed", "target"), "{}", pretty(&s));
    let it1 = iteration(&s, 1).unwrap_or_default();
    assert_eq!(it1["metrics"]["val_loss"].as_f64(), Some(1.0), "{}", pretty(&s));
    assert!(iteration(&s, 2).is_none_or(|it| it["state"] != "succeeded"), "no run after the target: {}", pretty(&s));
}

#[test]
fn a_grid_that_has_measured_every_point_ends_as_space_exhausted() {
    let project = standard_project(&[]);
    let yaml = project.read("revis.yaml");
    let space_at = yaml.find("search:").unwrap_or(yaml.len());
    let yaml =
        format!("{}search:\n  strategy: grid\n  space:\n    x: {{arg: --x, values: [2, 3]}}\n", &yaml[..space_at]);
    project.write("revis.yaml", &yaml);
    project.commit("a small grid");
    let env = TestEnv::new(project);
    env.start_loop("grid", &["--max-iterations", "10"]);
    let s = env.wait_ended("grid");
    assert_eq!((state(&s), stop_reason(&s)), ("completed", "space_exhausted"), "{}", pretty(&s));
}
