//! `revis delete` removes a session, its worktree and its branch; `--keep-branch` keeps the branch.

use revis_tests::session::pretty;
use revis_tests::{TestEnv, standard_project};
use std::path::PathBuf;

fn run_to_end(env: &TestEnv, name: &str) -> PathBuf {
    env.start_loop(name, &["--max-iterations", "2"]);
    let s = env.wait_ended(name);
    let worktree = PathBuf::from(s["worktree"].as_str().unwrap_or_default());
    assert!(worktree.is_dir(), "worktree missing before delete: {}", pretty(&s));
    assert!(env.project.has_branch(&format!("revis/{name}")));
    worktree
}

fn listed(env: &TestEnv) -> Vec<String> {
    let list: serde_json::Value = serde_json::from_str(&env.revis_ok(&["list", "--json"])).expect("list --json");
    list.as_array()
        .map(|a| a.iter().filter_map(|s| s["name"].as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

#[test]
fn delete_removes_worktree_and_branch_unless_keep_branch() {
    let env = TestEnv::new(standard_project(&[]));
    let gone = run_to_end(&env, "gone");
    let kept = run_to_end(&env, "kept");
    assert_eq!(listed(&env).len(), 2);

    env.revis_ok(&["delete", "gone"]);
    assert!(!gone.exists(), "worktree {} still exists", gone.display());
    assert!(!env.project.has_branch("revis/gone"), "branch revis/gone still exists");
    let worktrees = env.project.git(&["worktree", "list", "--porcelain"]);
    assert!(!worktrees.contains("/gone"), "git still lists the worktree: {worktrees}");

    env.revis_ok(&["delete", "kept", "--keep-branch"]);
    assert!(!kept.exists(), "worktree {} still exists", kept.display());
    assert!(env.project.has_branch("revis/kept"), "--keep-branch removed revis/kept");

    assert_eq!(listed(&env), Vec::<String>::new());
    assert!(env.revis(&["show", "gone"]).status.code() != Some(0));
    // The user's checkout is unaffected.
    assert_eq!(env.project.current_branch(), "refs/heads/main");
    assert_eq!(env.project.status_porcelain(), "");
}
