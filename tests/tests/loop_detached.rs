//! `revis loop` returns while the session runs: the baseline's training waits for a gate file
//! that this test creates only after `loop` has returned, so no timing assumption is involved.

use revis_tests::session::{iteration, pretty, state, stop_reason};
use revis_tests::{TestEnv, standard_project};

#[test]
fn loop_returns_while_the_session_is_still_running() {
    let project = standard_project(&[]);
    project.touch_ctl("block-0");
    let env = TestEnv::new(project);

    // Returns although the training cannot finish before the gate below exists.
    env.start_loop("detached", &["--max-iterations", "1"]);
    env.wait_ctl("started-0");

    let s = env.show("detached");
    assert_eq!(state(&s), "running", "{}", pretty(&s));
    let it0 = iteration(&s, 0).expect("iteration 0 listed while it runs");
    assert_eq!(it0["state"], "running", "{}", pretty(&s));

    // Live sessions appear in status and list.
    let status: serde_json::Value = serde_json::from_str(&env.revis_ok(&["status", "--json"])).expect("status --json");
    let live = status
        .as_array()
        .and_then(|a| a.iter().find(|x| x["name"] == "detached").cloned())
        .unwrap_or_else(|| panic!("status --json should list the running session: {status}"));
    assert_eq!(live["state"], "running", "{live}");
    let list: serde_json::Value = serde_json::from_str(&env.revis_ok(&["list", "--json"])).expect("list --json");
    assert!(list.as_array().is_some_and(|a| a.iter().any(|x| x["name"] == "detached")), "list --json: {list}");

    env.project.touch_ctl("gate-0");
    let s = env.wait_ended("detached");
    assert_eq!(state(&s), "completed", "{}", pretty(&s));
    assert_eq!(stop_reason(&s), "max_iterations", "{}", pretty(&s));
    let it0 = iteration(&s, 0).expect("iteration 0");
    assert_eq!(it0["state"], "succeeded", "{}", pretty(&s));
    assert_eq!(s["best"]["iteration"], 0, "{}", pretty(&s));
}

#[test]
fn a_duplicate_session_name_is_refused() {
    let project = standard_project(&[]);
    project.touch_ctl("block-0");
    let env = TestEnv::new(project);
    env.start_loop("twice", &["--max-iterations", "1"]);

    let out = env.revis(&["loop", "--name", "twice", "--advisor", "search"]);
    assert_eq!(out.status.code(), Some(1), "{}", revis_tests::cli::describe(&out));

    env.project.touch_ctl("gate-0");
    env.wait_ended("twice");
}
