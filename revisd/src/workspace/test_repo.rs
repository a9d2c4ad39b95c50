//! A throwaway git repository shaped like a small training project, for workspace tests.

use std::path::{Path, PathBuf};

use git2::{IndexAddOption, Repository, RepositoryInitOptions, Signature};

pub(crate) struct TestRepo {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
}

impl TestRepo {
    /// Branch `main` with one commit of tracked files; ignored `data/`, `.venv/`, `.env`
    /// and `out.log` exist beside them.
    pub fn new() -> Self {
        let repo = Self::empty();
        repo.write(".gitignore", "data/\n.venv/\n.env\n*.log\n");
        repo.write("README.md", "# project\n");
        repo.write("train.py", "print('train')\n");
        repo.write("configs/base.yaml", "lr: 0.1\n");
        repo.commit("initial");
        repo.write("data/train.csv", "x,y\n1,2\n");
        repo.write(".venv/bin/python", "#!/bin/sh\n");
        repo.write(".env", "SECRET=1\n");
        repo.write("out.log", "log\n");
        repo
    }

    /// An initialised repository on an unborn `main` with a local user.
    pub fn empty() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = std::fs::canonicalize(dir.path()).expect("canonical temp dir");
        let mut opts = RepositoryInitOptions::new();
        opts.initial_head("main");
        let repo = Repository::init_opts(&root, &opts).expect("init");
        let mut config = repo.config().expect("config");
        config.set_str("user.name", "Test User").expect("user.name");
        config.set_str("user.email", "test@example.com").expect("user.email");
        Self { _dir: dir, root }
    }

    pub fn repo(&self) -> Repository {
        Repository::open(&self.root).expect("open")
    }

    pub fn write(&self, rel: &str, content: &str) {
        write(&self.root, rel, content);
    }

    /// Stages everything and commits on the current branch; returns the sha.
    pub fn commit(&self, message: &str) -> String {
        let repo = self.repo();
        let mut index = repo.index().expect("index");
        index.add_all(["*"], IndexAddOption::DEFAULT, None).expect("add");
        index.update_all(["*"], None).expect("update");
        index.write().expect("write index");
        let tree = repo.find_tree(index.write_tree().expect("tree")).expect("find tree");
        let sig = Signature::now("Test User", "test@example.com").expect("sig");
        let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        let id = repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parents).expect("commit");
        id.to_string()
    }
}

pub(crate) fn write(root: &Path, rel: &str, content: &str) {
    let path = root.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create parent");
    }
    std::fs::write(path, content).expect("write");
}

pub(crate) fn read(root: &Path, rel: &str) -> String {
    std::fs::read_to_string(root.join(rel)).expect("read")
}

/// `git status --porcelain` from the real git CLI: what the user would see.
pub(crate) fn porcelain(dir: &Path) -> String {
    let out = std::process::Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=all"])
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .expect("run git");
    assert!(out.status.success(), "git status: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The sorted paths of a commit's tree (blobs only).
pub(crate) fn tree_paths(repo: &Repository, commit: &str) -> Vec<String> {
    let commit = repo.revparse_single(commit).expect("rev").peel_to_commit().expect("commit");
    let tree = commit.tree().expect("tree");
    let mut paths = Vec::new();
    tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
        if entry.kind() == Some(git2::ObjectType::Blob) {
            paths.push(format!("{dir}{}", entry.name().unwrap_or("?")));
        }
        git2::TreeWalkResult::Ok
    })
    .expect("walk");
    paths.sort();
    paths
}
