//! Creating, opening and removing session worktrees in real temporary repositories.

use std::path::Path;

use super::test_repo::{TestRepo, porcelain, read, write};
use super::*;

fn head_of(root: &Path) -> (String, String) {
    let repo = git2::Repository::open(root).expect("open");
    let head = repo.head().expect("head");
    let name = head.name().unwrap_or_default().to_string();
    (name, head.peel_to_commit().expect("commit").id().to_string())
}

#[test]
fn worktree_starts_from_head_and_the_user_checkout_is_untouched() {
    let t = TestRepo::new();
    // The user has work in progress: a modified file and a staged new file.
    t.write("train.py", "print('mine')\n");
    t.write("staged.txt", "staged\n");
    let repo = t.repo();
    let mut index = repo.index().expect("index");
    index.add_path(Path::new("staged.txt")).expect("stage");
    index.write().expect("write index");
    let head_before = head_of(&t.root);
    let index_before = std::fs::read(t.root.join(".git/index")).expect("index bytes");
    let status_before = porcelain(&t.root);

    let ws = create(&t.root, "s1", &[]).expect("create");

    assert_eq!(ws.project, t.root);
    assert_eq!(ws.worktree, t.root.join(".revis/worktrees/s1"));
    assert_eq!(ws.branch, "revis/s1");
    assert_eq!(ws.base_branch, "main");
    assert_eq!(ws.base_commit, head_before.1);
    assert_eq!(head_commit(&ws.worktree).expect("head"), ws.base_commit);
    assert_eq!(branch_head(&t.root, "revis/s1").expect("branch"), Some(ws.base_commit.clone()));
    // The baseline is HEAD: uncommitted changes stay in the user's checkout.
    assert_eq!(read(&ws.worktree, "train.py"), "print('train')\n");
    assert!(!ws.worktree.join("staged.txt").exists());

    assert_eq!(head_of(&t.root), head_before);
    assert_eq!(std::fs::read(t.root.join(".git/index")).expect("index bytes"), index_before);
    assert_eq!(read(&t.root, "train.py"), "print('mine')\n");
    assert_eq!(porcelain(&t.root), status_before, "the user's git status must not change");
    assert_eq!(open(&t.root, "s1").expect("open"), ws);
}

#[test]
fn ignored_entries_are_linked_and_do_not_show_as_untracked() {
    let t = TestRepo::new();
    t.write("notes/todo.md", "untracked, not ignored\n");
    let ws = create(&t.root, "s1", &["notes".into(), "configs".into()]).expect("create");
    for entry in ["data", ".venv", ".env", "out.log", "notes"] {
        let link = ws.worktree.join(entry);
        let meta = link.symlink_metadata().expect(entry);
        assert!(meta.file_type().is_symlink(), "{entry} must be a link");
        assert_eq!(std::fs::read_link(&link).expect("target"), t.root.join(entry));
    }
    // Tracked in the worktree already: left alone. Git's and revis's own dirs: never linked.
    assert!(!ws.worktree.join("configs").symlink_metadata().expect("configs").is_symlink());
    assert!(ws.worktree.join(".git").is_file());
    assert!(!ws.worktree.join(".revis").exists());
    assert_eq!(read(&ws.worktree, "data/train.csv"), "x,y\n1,2\n");

    // Links of ignored entries are invisible to git; the explicit unignored one is not, but
    // revis itself never reports or commits it.
    assert_eq!(porcelain(&ws.worktree), "?? notes\n");
    assert!(diff_stat(&ws.worktree).expect("diff").is_empty());
    assert_eq!(porcelain(&t.root), "?? notes/todo.md\n", "the user's view keeps notes/");
}

#[test]
fn missing_link_is_an_error_naming_it_and_leaves_nothing_behind() {
    let t = TestRepo::new();
    let err = create(&t.root, "s1", &["nope/x".into()]).expect_err("missing link");
    assert!(err.to_string().contains("nope/x"), "{err}");
    assert!(matches!(err, WorkspaceError::MissingLink { .. }));
    assert_eq!(branch_head(&t.root, "revis/s1").expect("branch"), None);
    assert!(!t.root.join(".revis/worktrees/s1").exists());
}

#[test]
fn creation_errors() {
    let t = TestRepo::new();
    create(&t.root, "s1", &[]).expect("create");
    assert!(matches!(create(&t.root, "s1", &[]), Err(WorkspaceError::BranchExists(_))));
    std::fs::create_dir_all(t.root.join(".revis/worktrees/s2")).expect("dir");
    assert!(matches!(create(&t.root, "s2", &[]), Err(WorkspaceError::WorktreeExists(_))));
    assert!(matches!(create(&t.root, "a/b", &[]), Err(WorkspaceError::InvalidName(_))));
    let empty = TestRepo::empty();
    assert!(matches!(create(&empty.root, "s1", &[]), Err(WorkspaceError::NoCommits { .. })));
}

#[test]
fn detached_head_gives_base_branch_head() {
    let t = TestRepo::new();
    let repo = t.repo();
    let head = repo.head().expect("head").target().expect("oid");
    repo.set_head_detached(head).expect("detach");
    let ws = create(&t.root, "s1", &[]).expect("create");
    assert_eq!(ws.base_branch, "HEAD");
    assert_eq!(ws.base_commit, head.to_string());
}

#[test]
fn remove_deletes_worktree_and_branch_but_never_linked_data() {
    let t = TestRepo::new();
    let ws = create(&t.root, "s1", &[]).expect("create");
    remove(&t.root, "s1", false).expect("remove");
    assert!(!ws.worktree.exists());
    assert_eq!(branch_head(&t.root, "revis/s1").expect("branch"), None);
    assert_eq!(read(&t.root, "data/train.csv"), "x,y\n1,2\n");
    assert_eq!(read(&t.root, ".env"), "SECRET=1\n");
    assert!(matches!(open(&t.root, "s1"), Err(WorkspaceError::NotFound { .. })));
    // The name is free again, and removing twice is harmless.
    create(&t.root, "s1", &[]).expect("create again");
    remove(&t.root, "s1", false).expect("remove");
    remove(&t.root, "s1", false).expect("remove again");
}

#[test]
fn remove_can_keep_the_branch() {
    let t = TestRepo::new();
    let ws = create(&t.root, "s1", &[]).expect("create");
    write(&ws.worktree, "new.txt", "kept\n");
    let sha = commit_all(&ws.worktree, "keep me").expect("commit");
    remove(&t.root, "s1", true).expect("remove");
    assert!(!ws.worktree.exists());
    assert_eq!(branch_head(&t.root, "revis/s1").expect("branch"), Some(sha));
    assert!(git2::Repository::open(&t.root).expect("open").worktrees().expect("list").is_empty());
}

#[test]
fn project_root_from_subdir_and_from_inside_a_worktree() {
    let t = TestRepo::new();
    let ws = create(&t.root, "s1", &[]).expect("create");
    assert_eq!(project_root(&t.root).expect("root"), t.root);
    assert_eq!(project_root(&t.root.join("configs")).expect("subdir"), t.root);
    assert_eq!(project_root(&ws.worktree).expect("worktree"), t.root);
    assert_eq!(project_root(&ws.worktree.join("configs")).expect("worktree subdir"), t.root);

    let plain = tempfile::tempdir().expect("temp dir");
    let err = project_root(plain.path());
    assert!(matches!(err, Err(WorkspaceError::NotARepo { .. })), "{err:?}");
    let bare_dir = tempfile::tempdir().expect("temp dir");
    git2::Repository::init_bare(bare_dir.path()).expect("bare");
    let err = project_root(bare_dir.path());
    assert!(matches!(err, Err(WorkspaceError::Bare { .. })), "{err:?}");
}

/// `git` itself, in `dir`: what a user would see of the repository.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git").args(args).current_dir(dir).output().expect("run git");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_slot_is_a_detached_worktree_git_knows_and_one_half_made_is_made_again() {
    let t = TestRepo::new();
    let ws = create(&t.root, "s1", &["data".into()]).expect("create");
    let base = ws.base_commit.clone();

    let slot = create_slot(&t.root, "s1", 3, &base).expect("create slot");
    assert_eq!(slot, t.root.join(".revis/worktrees/s1.slot3"));
    assert_eq!(read(&slot, "train.py"), "print('train')\n");
    assert_eq!(head_commit(&slot).expect("head"), base);
    // git sees a detached worktree, clean, with no branch of its own.
    let listed = git(&t.root, &["worktree", "list", "--porcelain"]);
    let entry = listed.split("\n\n").find(|e| e.contains("s1.slot3")).expect("git lists the slot");
    assert!(entry.contains("detached") && entry.contains(&base), "{entry}");
    assert_eq!(git(&slot, &["status", "--porcelain"]), "");
    assert!(!git(&t.root, &["branch", "--list"]).contains("slot"));
    // The session's links are there too.
    assert!(slot.join("data").symlink_metadata().expect("link").file_type().is_symlink());

    // Made again only when a crash cut it short: without its metadata the slot is not whole.
    std::fs::write(slot.join("train.py"), "edited\n").expect("edit");
    assert_eq!(create_slot(&t.root, "s1", 3, &base).expect("again"), slot);
    assert_eq!(read(&slot, "train.py"), "edited\n", "a whole slot is left as it is");
    let admin = t.root.join(".git/worktrees/revis-s1.slot3");
    std::fs::remove_file(admin.join("revis.json")).expect("drop the metadata");
    create_slot(&t.root, "s1", 3, &base).expect("made again");
    assert_eq!(read(&slot, "train.py"), "print('train')\n");
    assert_eq!(git(&slot, &["status", "--porcelain"]), "");

    remove_slots(&t.root, "s1").expect("remove");
    assert!(!slot.exists() && !admin.exists());
    assert!(!git(&t.root, &["worktree", "list"]).contains("s1.slot3"));
}
