//! LLM-advised sessions end to end: `revis` commands carrying a provider's key and base URL (set
//! after the harness scrubs the developer's own), projects whose revis.yaml selects a model,
//! unique fake keys, and reading a session's events.
//! Must not: let a real key or endpoint reach a test daemon — only the fakes' values are set.

use serde_json::Value;
use std::process::Output;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::cli::{Running, describe, revis_command};
use crate::fakes::FakeLlm;
use crate::fixtures::{CONFIG_JSON, standard_yaml, train_py};
use crate::project::Project;
use crate::session::{ENDED_STATES, TestEnv, state};

/// revis.yaml of [`crate::fixtures::standard_project`] followed by `extra` (top-level sections
/// such as `llm:` and `context:`, as YAML text).
pub fn llm_yaml(guardrails: &[(&str, &str)], extra: &str) -> String {
    format!("{}{extra}", standard_yaml(guardrails))
}

/// A committed project with `train.py`, `config.json` and [`llm_yaml`]; `files` are written
/// before the commit.
pub fn llm_project(guardrails: &[(&str, &str)], extra_yaml: &str, files: &[(&str, &str)]) -> Project {
    let project = Project::new();
    project
        .write("train.py", &train_py(project.ctl()))
        .write("config.json", CONFIG_JSON)
        .write("revis.yaml", &llm_yaml(guardrails, extra_yaml));
    for (path, text) in files {
        project.write(path, text);
    }
    project.commit("baseline");
    project
}

/// A key no other test or process uses, so finding it anywhere is a leak of this one.
pub fn fake_key(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{prefix}-{}-{nanos:x}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst))
}

/// The environment pointing at these fakes, with proxies bypassed for loopback.
pub fn env_of(fakes: &[&FakeLlm]) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = fakes.iter().flat_map(|f| f.env()).collect();
    env.push(("NO_PROXY".into(), "127.0.0.1,localhost".into()));
    env.push(("no_proxy".into(), "127.0.0.1,localhost".into()));
    env
}

/// Panics listing every malformed or unexpected request the fakes saw.
pub fn assert_no_violations(fakes: &[&FakeLlm]) {
    let all: Vec<String> = fakes.iter().flat_map(|f| f.violations()).collect();
    assert!(all.is_empty(), "the daemon sent requests the real API would refuse:\n{}", all.join("\n"));
}

impl TestEnv {
    /// `revis args...` with `env` added after the harness's scrubbing.
    pub fn revis_env(&self, args: &[&str], env: &[(String, String)]) -> Output {
        let mut cmd = revis_command(&self.home, self.project.path(), args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Running::spawn(cmd, &format!("revis {}", args.join(" "))).wait(crate::COMMAND_DEADLINE)
    }

    /// Like [`TestEnv::revis_env`]; asserts exit 0 and returns stdout.
    pub fn revis_env_ok(&self, args: &[&str], env: &[(String, String)]) -> String {
        let out = self.revis_env(args, env);
        assert!(
            out.status.success(),
            "revis {} failed: {}\ndaemon log:\n{}",
            args.join(" "),
            describe(&out),
            self.home.daemon_log()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `revis loop --name NAME --advisor llm extra...` with `env`; asserts it prints the name.
    pub fn start_llm_loop(&self, name: &str, extra: &[&str], env: &[(String, String)]) {
        let mut args = vec!["loop", "--name", name, "--advisor", "llm"];
        args.extend_from_slice(extra);
        let stdout = self.revis_env_ok(&args, env);
        assert_eq!(
            stdout.lines().next().map(str::trim),
            Some(name),
            "revis loop must print the session name on its first line; stdout:\n{stdout}"
        );
    }

    /// Waits (up to `timeout`) until the session ended.
    pub fn wait_ended_within(&self, name: &str, timeout: Duration) -> Value {
        self.wait_show(name, timeout, "the session to end", |s| ENDED_STATES.contains(&state(s)))
    }

    /// The session's events (`watch --json` of an ended session), each with its `data` text
    /// parsed into `data_json` (Null when absent or not JSON).
    pub fn events(&self, name: &str) -> Vec<Value> {
        // watch exits 1 for a failed session: its output is what matters here.
        let out = self.revis(&["watch", name, "--json"]);
        assert!(
            matches!(out.status.code(), Some(0 | 1)) && !out.stdout.is_empty(),
            "revis watch {name} --json printed no events: {}",
            describe(&out)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .map(|mut e| {
                let data = e["data"].as_str().and_then(|d| serde_json::from_str(d).ok()).unwrap_or(Value::Null);
                e["data_json"] = data;
                e
            })
            .collect()
    }
}

/// The events of one kind.
pub fn of_kind<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["kind"] == kind).collect()
}

/// An event rendered for messages: kind, iteration, message, data.
pub fn brief(events: &[Value]) -> String {
    events
        .iter()
        .map(|e| format!("{} #{} {} {}", e["kind"], e["iteration"], e["message"], e["data"]))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Collects failed expectations so one run reports every symptom, then fails with all of them.
#[derive(Default)]
pub struct Checks {
    failures: Vec<String>,
}

impl Checks {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.failures.push(what());
        }
    }

    /// Panics listing every failed expectation, followed by `context` (e.g. the daemon log).
    pub fn finish(self, context: impl FnOnce() -> String) {
        assert!(
            self.failures.is_empty(),
            "{} failed expectation(s):\n- {}\n\n{}",
            self.failures.len(),
            self.failures.join("\n- "),
            context()
        );
    }
}
