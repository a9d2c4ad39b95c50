//! A temporary git repository standing in for the user's ML project, plus a control directory
//! outside it where training scripts leave markers and wait for gates the test opens.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::git::git;

pub struct Project {
    root: tempfile::TempDir,
    repo: PathBuf,
    ctl: PathBuf,
}

impl Project {
    /// An empty repository on branch `main` (no commit yet, no .gitignore).
    pub fn empty() -> Self {
        let root = tempfile::Builder::new()
            .prefix("rvs-p-")
            .tempdir_in("/tmp")
            .unwrap_or_else(|e| panic!("cannot create a temp dir in /tmp: {e}"));
        let repo = root.path().join("repo");
        let ctl = root.path().join("ctl");
        for dir in [&repo, &ctl] {
            std::fs::create_dir(dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        }
        git(&repo, &["init", "-q", "-b", "main"]);
        Self { root, repo, ctl }
    }

    /// An empty repository whose .gitignore already ignores `.revis/`, as after `revis init`.
    pub fn new() -> Self {
        let project = Self::empty();
        project.write(".gitignore", ".revis/\n__pycache__/\n");
        project
    }

    /// The repository's working directory.
    pub fn path(&self) -> &Path {
        &self.repo
    }

    /// The control directory (outside the repository).
    pub fn ctl(&self) -> &Path {
        &self.ctl
    }

    pub fn ctl_file(&self, name: &str) -> PathBuf {
        self.ctl.join(name)
    }

    /// Creates an empty file in the control directory (a gate or a block flag).
    pub fn touch_ctl(&self, name: &str) {
        let path = self.ctl_file(name);
        std::fs::write(&path, b"").unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }

    /// Scratch space beside the repository, removed with it.
    pub fn scratch(&self) -> &Path {
        self.root.path()
    }

    /// Writes `contents` to `rel` inside the repository, creating parent directories.
    pub fn write(&self, rel: &str, contents: &str) -> &Self {
        let path = self.repo.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("cannot create {}: {e}", parent.display()));
        }
        std::fs::write(&path, contents).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        self
    }

    /// Like [`Project::write`], then marks the file executable.
    pub fn write_executable(&self, rel: &str, contents: &str) -> &Self {
        self.write(rel, contents);
        let path = self.repo.join(rel);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| panic!("cannot chmod {}: {e}", path.display()));
        self
    }

    pub fn read(&self, rel: &str) -> String {
        let path = self.repo.join(rel);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
    }

    /// Stages everything and commits; returns the new HEAD.
    pub fn commit(&self, message: &str) -> String {
        git(&self.repo, &["add", "-A"]);
        git(&self.repo, &["commit", "-q", "-m", message]);
        self.head()
    }

    pub fn git(&self, args: &[&str]) -> String {
        git(&self.repo, args)
    }

    pub fn head(&self) -> String {
        git(&self.repo, &["rev-parse", "HEAD"])
    }

    /// The checked-out branch's full ref name (e.g. `refs/heads/main`).
    pub fn current_branch(&self) -> String {
        git(&self.repo, &["symbolic-ref", "HEAD"])
    }

    /// Whether a local branch exists.
    pub fn has_branch(&self, branch: &str) -> bool {
        crate::git::git_output(&self.repo, &["rev-parse", "--verify", "--quiet", &format!("refs/heads/{branch}")])
            .status
            .success()
    }

    /// The lines of `git status --porcelain` (untracked files included).
    pub fn status_porcelain(&self) -> String {
        git(&self.repo, &["status", "--porcelain", "--untracked-files=all"])
    }
}

impl Default for Project {
    fn default() -> Self {
        Self::new()
    }
}
