//! Commits, restores, diffs and trailer lookups on a session branch.

use super::test_repo::{TestRepo, read, tree_paths, write};
use super::*;

fn session(t: &TestRepo) -> SessionWorkspace {
    create(&t.root, "s1", &[]).expect("create")
}

#[test]
fn commit_all_records_new_modified_and_deleted_files_only() {
    let t = TestRepo::new();
    let ws = session(&t);
    write(&ws.worktree, "train.py", "print('changed')\n");
    write(&ws.worktree, "src/model.py", "new\n");
    write(&ws.worktree, "run.log", "ignored\n");
    std::fs::remove_file(ws.worktree.join("README.md")).expect("delete");
    assert_eq!(diff_stat(&ws.worktree).expect("diff"), ["README.md", "src/model.py", "train.py"]);

    let sha = commit_all(&ws.worktree, "change things").expect("commit");
    assert_eq!(head_commit(&ws.worktree).expect("head"), sha);
    assert_eq!(branch_head(&t.root, "revis/s1").expect("branch"), Some(sha.clone()));
    let repo = t.repo();
    // Links (data, .venv, .env, out.log) and ignored files stay out of the tree.
    assert_eq!(tree_paths(&repo, &sha), [".gitignore", "configs/base.yaml", "src/model.py", "train.py"]);
    let commit = repo.find_commit(git2::Oid::from_str(&sha).expect("oid")).expect("commit");
    assert_eq!(commit.parent_id(0).expect("parent").to_string(), ws.base_commit);
    assert_eq!(commit.author().name().ok(), Some("Test User"));
    assert_eq!(commit.message().ok(), Some("change things"));
    assert!(diff_stat(&ws.worktree).expect("diff").is_empty());
    // The user's branch did not move.
    assert_eq!(branch_head(&t.root, "main").expect("main"), Some(ws.base_commit.clone()));
}

#[test]
fn unchanged_tree_still_gets_a_commit() {
    let t = TestRepo::new();
    let ws = session(&t);
    let first = commit_all(&ws.worktree, "only the CLI args changed").expect("commit");
    let second = commit_all(&ws.worktree, "again").expect("commit");
    assert_ne!(first, second);
    assert_ne!(first, ws.base_commit);
    let repo = t.repo();
    let tree = |sha: &str| repo.revparse_single(sha).and_then(|o| o.peel_to_tree()).expect("tree").id();
    assert_eq!(tree(&first), tree(&ws.base_commit));
    assert_eq!(tree(&second), tree(&first));
}

#[test]
fn restore_tree_resets_files_without_moving_the_branch() {
    let t = TestRepo::new();
    let ws = session(&t);
    write(&ws.worktree, "configs/base.yaml", "lr: 0.5\n");
    write(&ws.worktree, "extra.py", "worse\n");
    let worse = commit_all(&ws.worktree, "worse").expect("commit");
    write(&ws.worktree, "scratch.txt", "untracked\n");
    write(&ws.worktree, "keep.log", "ignored stays\n");

    restore_tree(&ws.worktree, &ws.base_commit).expect("restore");

    assert_eq!(read(&ws.worktree, "configs/base.yaml"), "lr: 0.1\n");
    assert!(!ws.worktree.join("extra.py").exists());
    assert!(!ws.worktree.join("scratch.txt").exists(), "untracked files are removed");
    assert_eq!(read(&ws.worktree, "keep.log"), "ignored stays\n");
    assert_eq!(read(&ws.worktree, "data/train.csv"), "x,y\n1,2\n", "links survive");
    assert_eq!(read(&t.root, "data/train.csv"), "x,y\n1,2\n", "linked data survives");
    assert_eq!(head_commit(&ws.worktree).expect("head"), worse, "the branch did not move");

    let restored = commit_all(&ws.worktree, "restore best").expect("commit");
    let repo = t.repo();
    let commit = repo.find_commit(git2::Oid::from_str(&restored).expect("oid")).expect("commit");
    assert_eq!(commit.parent_id(0).expect("parent").to_string(), worse);
    assert_eq!(tree_paths(&repo, &restored), tree_paths(&repo, &ws.base_commit));
    let base = repo.find_commit(git2::Oid::from_str(&ws.base_commit).expect("oid")).expect("base");
    assert_eq!(commit.tree_id(), base.tree_id());
}

#[test]
fn restore_keeps_unignored_explicit_links() {
    let t = TestRepo::new();
    write(&t.root, "notes/todo.md", "mine\n");
    let ws = create(&t.root, "s1", &["notes".into()]).expect("create");
    restore_tree(&ws.worktree, &ws.base_commit).expect("restore");
    assert!(ws.worktree.join("notes").symlink_metadata().expect("link").is_symlink());
    assert_eq!(read(&t.root, "notes/todo.md"), "mine\n");
    let sha = commit_all(&ws.worktree, "no links committed").expect("commit");
    assert!(!tree_paths(&t.repo(), &sha).iter().any(|p| p.starts_with("notes")));
}

#[test]
fn trailer_lookup_finds_the_iteration_commit() {
    let t = TestRepo::new();
    let ws = session(&t);
    let trailers = |i: &str| vec![("Revis-Session", "s1".to_string()), ("Revis-Iteration", i.to_string())];
    let msg1 = commit_message("Iteration 1", "Raise lr.", &trailers("1"));
    let first = commit_all(&ws.worktree, &msg1).expect("commit");
    let msg2 = commit_message("Iteration 2", "", &trailers("2"));
    let second = commit_all(&ws.worktree, &msg2).expect("commit");

    let find = |key: &str, value: &str| find_commit_with_trailer(&t.root, "revis/s1", key, value).expect("lookup");
    assert_eq!(find("Revis-Iteration", "1"), Some(first));
    assert_eq!(find("revis-iteration", "2"), Some(second));
    assert_eq!(find("Revis-Iteration", "3"), None);
    assert_eq!(find_commit_with_trailer(&t.root, "revis/none", "Revis-Iteration", "1").expect("lookup"), None);
}
