//! Faults of the environment around a session: an unwritable runs directory, a deleted worktree,
//! a branch moved by the user, revis.yaml edited mid-session. Each ends in a clear state and
//! reason (or a clear event), never a hang or a panic.

use revis_tests::git::git;
use revis_tests::scripts::event_lines;
use revis_tests::session::{iteration, iterations, pretty, state, stop_reason};
use revis_tests::{TestEnv, standard_project};
use serde_json::Value;
use std::path::PathBuf;

fn detail(s: &Value) -> String {
    s["stop_detail"].as_str().unwrap_or_default().to_string()
}

/// A session blocked in iteration 1 (its run started, waiting for `gate-1`).
fn blocked_in_iteration_1(name: &str, max_iterations: &str) -> TestEnv {
    let project = standard_project(&[]);
    project.touch_ctl("block-1");
    let env = TestEnv::new(project);
    env.start_loop(name, &["--max-iterations", max_iterations]);
    env.wait_ctl("started-1");
    env
}

#[test]
fn an_unwritable_runs_directory_fails_iterations_until_the_retry_budget_ends_the_session() {
    let env = TestEnv::new(standard_project(&[("retry_budget", "2")]));
    env.revis_ok(&["daemon", "start"]);
    // Tests may run as root, which ignores permission bits: a plain file where the runs
    // directory should be makes every run directory under it impossible to create, for anyone.
    let runs = env.home.path().join("runs");
    std::fs::remove_dir(&runs).unwrap_or_else(|e| panic!("cannot remove the empty {}: {e}", runs.display()));
    std::fs::write(&runs, b"not a directory").unwrap_or_else(|e| panic!("cannot write {}: {e}", runs.display()));

    env.start_loop("homeless", &["--max-iterations", "5"]);
    let s = env.wait_ended("homeless");
    assert_eq!(state(&s), "failed", "{}", pretty(&s));
    assert_eq!(stop_reason(&s), "retry_budget", "{}", pretty(&s));
    let it0 = iteration(&s, 0).expect("iteration 0");
    assert_eq!(it0["state"], "failed", "{}", pretty(&s));
    let reason = it0["failure_reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains(&runs.display().to_string()),
        "the failure must name the path under {}: {}",
        runs.display(),
        pretty(&it0)
    );
}

#[test]
fn a_worktree_deleted_mid_run_fails_the_session_naming_the_worktree() {
    let env = blocked_in_iteration_1("orphaned", "4");
    let worktree = PathBuf::from(env.show("orphaned")["worktree"].as_str().unwrap_or_default());
    assert!(worktree.is_dir(), "worktree {} missing", worktree.display());
    std::fs::remove_dir_all(&worktree).unwrap_or_else(|e| panic!("cannot delete {}: {e}", worktree.display()));
    env.project.touch_ctl("gate-1");

    let s = env.wait_ended("orphaned");
    assert_eq!(state(&s), "failed", "{}", pretty(&s));
    assert_eq!(stop_reason(&s), "error", "{}", pretty(&s));
    let d = detail(&s);
    assert!(d.contains("deleted"), "stop_detail must say the worktree was deleted: {d:?}");
    assert!(d.contains(&worktree.display().to_string()), "stop_detail must name {}: {d:?}", worktree.display());
}

#[test]
fn a_branch_moved_by_the_user_fails_the_session() {
    let env = blocked_in_iteration_1("hijacked", "4");
    let base = env.project.head();
    // `git branch -f` refuses a branch checked out in a worktree; update-ref is what a
    // determined user (or a script) does.
    git(env.project.path(), &["update-ref", "refs/heads/revis/hijacked", &base]);
    env.project.touch_ctl("gate-1");

    let s = env.wait_ended("hijacked");
    assert_eq!(state(&s), "failed", "{}", pretty(&s));
    assert_eq!(stop_reason(&s), "error", "{}", pretty(&s));
    let d = detail(&s);
    assert!(d.contains("moved"), "stop_detail must say the branch was moved: {d:?}");
    assert!(d.contains("revis/hijacked"), "stop_detail must name the branch: {d:?}");
}

#[test]
fn editing_revis_yaml_mid_session_keeps_the_started_config_and_says_so_once() {
    let env = blocked_in_iteration_1("steady", "4");
    let original = env.project.read("revis.yaml");
    let edited = original
        .replace("train: python3 train.py --x 1", "train: python3 -c 'import sys; sys.exit(7)'")
        .replace("primary: val_loss", "primary: accuracy");
    assert_ne!(edited, original, "the edit must change revis.yaml");
    env.project.write("revis.yaml", &edited);
    env.project.touch_ctl("gate-1");

    let s = env.wait_ended("steady");
    assert_eq!(state(&s), "completed", "the session must go on with its own config: {}", pretty(&s));
    assert_eq!(stop_reason(&s), "max_iterations", "{}", pretty(&s));
    assert_eq!(s["primary_metric"], "val_loss", "{}", pretty(&s));
    for it in iterations(&s) {
        assert_eq!(it["state"], "succeeded", "runs after the edit use the started config: {}", pretty(&it));
        assert!(
            it["command"].as_str().is_some_and(|c| c.starts_with("python3 train.py")),
            "the edited training command must not be used: {}",
            pretty(&it)
        );
    }

    let watch = env.revis_ok(&["watch", "steady", "--json"]);
    let changed: Vec<Value> = event_lines(&watch).into_iter().filter(|e| e["kind"] == "config_changed").collect();
    assert_eq!(changed.len(), 1, "exactly one config_changed event: {changed:?}");
    let message = changed[0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("revis.yaml") && message.contains("keep"),
        "the event must say revis.yaml changed and the session keeps its config: {message:?}"
    );
}
