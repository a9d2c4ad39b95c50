//! A test's world (home + project) and the session-level helpers the tests share: starting a
//! loop, reading `show --json`, waiting for states.

use serde_json::Value;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use crate::cli::{describe, revis};
use crate::home::TestHome;
use crate::project::Project;
use crate::wait::wait_until;

/// Session states after which nothing runs.
pub const ENDED_STATES: &[&str] = &["stopped", "completed", "failed"];

/// `revis show NAME --json`, parsed; panics when the command fails.
pub fn show_json(home: &TestHome, project_dir: &Path, name: &str) -> Value {
    let out = revis(home, project_dir, &["show", name, "--json"]);
    assert!(out.status.success(), "revis show {name} --json failed: {}", describe(&out));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("revis show {name} --json printed invalid JSON ({e}): {}", describe(&out)))
}

/// The home and the project of one test. Fields drop in order: the daemon and tmux server stop
/// before the repository they work in is removed.
pub struct TestEnv {
    pub home: TestHome,
    pub project: Project,
}

impl TestEnv {
    /// The project's revis.yaml as the daemon loads it; panics, showing the file, if it does not.
    pub fn written_config(&self) -> revisd::config::Config {
        let path = self.project.path().join("revis.yaml");
        match revisd::config::load(&path) {
            Ok(loaded) => loaded.config,
            Err(e) => panic!("the revis.yaml init wrote does not load: {e}\n{}", self.project.read("revis.yaml")),
        }
    }

    pub fn new(project: Project) -> Self {
        Self { home: TestHome::new(), project }
    }

    /// `revis args...` in the project.
    pub fn revis(&self, args: &[&str]) -> Output {
        revis(&self.home, self.project.path(), args)
    }

    /// `revis args...` in the project; asserts exit 0 and returns stdout.
    pub fn revis_ok(&self, args: &[&str]) -> String {
        let out = self.revis(args);
        assert!(
            out.status.success(),
            "revis {} failed: {}\ndaemon log:\n{}",
            args.join(" "),
            describe(&out),
            self.home.daemon_log()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `revis loop --name NAME --advisor search extra...`; asserts that it succeeds and prints the
    /// session name alone on its first line.
    pub fn start_loop(&self, name: &str, extra: &[&str]) {
        let mut args = vec!["loop", "--name", name, "--advisor", "search"];
        args.extend_from_slice(extra);
        let stdout = self.revis_ok(&args);
        assert_eq!(
            stdout.lines().next().map(str::trim),
            Some(name),
            "revis loop must print the session name on its first line; stdout:\n{stdout}"
        );
    }

    pub fn show(&self, name: &str) -> Value {
        show_json(&self.home, self.project.path(), name)
    }

    /// Polls `show --json` until `pred` holds; panics after `timeout`, naming `what`.
    pub fn wait_show(&self, name: &str, timeout: Duration, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let mut last = Value::Null;
        let ok = wait_until(timeout, || {
            last = self.show(name);
            pred(&last)
        });
        assert!(
            ok,
            "timed out after {timeout:?} waiting for session {name}: {what}\nlast show --json: {}\ndaemon log:\n{}",
            serde_json::to_string_pretty(&last).unwrap_or_default(),
            self.home.daemon_log()
        );
        last
    }

    /// Waits until the session is stopped, completed or failed.
    pub fn wait_ended(&self, name: &str) -> Value {
        self.wait_show(name, crate::SESSION_DEADLINE, "the session to end", |s| ENDED_STATES.contains(&state(s)))
    }

    /// Waits until the control file `name` exists (a marker the training script writes).
    pub fn wait_ctl(&self, file: &str) {
        let path = self.project.ctl_file(file);
        assert!(
            wait_until(crate::SESSION_DEADLINE, || path.exists()),
            "timed out waiting for the training script to write {}\ndaemon log:\n{}",
            path.display(),
            self.home.daemon_log()
        );
    }
}

pub fn state(session: &Value) -> &str {
    session["state"].as_str().unwrap_or_default()
}

pub fn stop_reason(session: &Value) -> &str {
    session["stop_reason"].as_str().unwrap_or_default()
}

pub fn iterations(session: &Value) -> Vec<Value> {
    session["iterations"].as_array().cloned().unwrap_or_default()
}

/// The last entry with this number (an interrupted iteration may be listed before its re-run).
pub fn iteration(session: &Value, number: u64) -> Option<Value> {
    iterations(session).into_iter().rfind(|it| it["number"].as_u64() == Some(number))
}

/// Iteration numbers in the order `show` lists them.
pub fn numbers(session: &Value) -> Vec<u64> {
    iterations(session).iter().filter_map(|it| it["number"].as_u64()).collect()
}

/// Short JSON rendering for assertion messages.
pub fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}
