//! The world of a coding-agent handoff test: an LLM-advised project (scripted fake Anthropic
//! model), stand-in agents on the PATH of the `revis loop` command that starts the daemon, and
//! the checks the handoff tests share (reverted worktree, committed change, events).
//!
//! Included by `#[path]` from tests/tests/handoff*.rs next to `mod agents` (tests/src/agents.rs),
//! so it names the stand-ins as `crate::agents` and the harness as `revis_tests`.
//! Must not: start the daemon itself (the `revis loop` command must, so it inherits the PATH with
//! the stand-ins) or sleep for fixed amounts of time.

#![allow(dead_code)]

use serde_json::{Value, json};
use std::path::{Path, PathBuf};

use crate::agents::{Agent, StandIns};
use revis_tests::fakes::{FakeLlm, Reply, submit};
use revis_tests::fixtures::{CONFIG_JSON, standard_yaml, train_py};
use revis_tests::git::commits;
use revis_tests::llm::{Checks, brief, env_of, fake_key};
use revis_tests::session::{ENDED_STATES, iteration, pretty, state};
use revis_tests::{Project, TestEnv};

/// How the project of one test is configured.
pub struct Spec {
    /// Guardrail overrides; unset ones default to retry_budget 1, kill_grace 1s.
    pub guardrails: Vec<(&'static str, String)>,
    /// Lines under `coding_agent:` (without indentation), e.g. `type: claude-code`.
    pub coding_agent: Vec<String>,
    /// Extra lines under `context:` (without indentation), e.g. `frozen: ["eval/**"]`.
    pub context: Vec<String>,
    /// `entry.smoke`.
    pub smoke: Option<String>,
    /// Committed with the baseline.
    pub files: Vec<(String, String)>,
    pub agents: Vec<Agent>,
}

impl Spec {
    pub fn new(agents: &[Agent]) -> Self {
        Self {
            guardrails: Vec::new(),
            coding_agent: Vec::new(),
            context: Vec::new(),
            smoke: None,
            files: Vec::new(),
            agents: agents.to_vec(),
        }
    }

    pub fn guardrail(mut self, key: &'static str, value: &str) -> Self {
        self.guardrails.push((key, value.to_string()));
        self
    }

    pub fn coding_agent(mut self, line: &str) -> Self {
        self.coding_agent.push(line.to_string());
        self
    }

    pub fn context(mut self, line: &str) -> Self {
        self.context.push(line.to_string());
        self
    }

    pub fn smoke(mut self, command: &str) -> Self {
        self.smoke = Some(command.to_string());
        self
    }

    pub fn file(mut self, path: &str, text: &str) -> Self {
        self.files.push((path.to_string(), text.to_string()));
        self
    }

    fn yaml(&self) -> String {
        let mut guardrails: Vec<(&str, &str)> = self.guardrails.iter().map(|(k, v)| (*k, v.as_str())).collect();
        for (key, value) in [("retry_budget", "1"), ("kill_grace", "1s")] {
            if !guardrails.iter().any(|(k, _)| *k == key) {
                guardrails.push((key, value));
            }
        }
        let mut yaml = standard_yaml(&guardrails);
        if let Some(smoke) = &self.smoke {
            let entry = "entry:\n  train: python3 train.py --x 1\n";
            assert!(yaml.starts_with(entry), "standard_yaml changed its entry section:\n{yaml}");
            yaml = yaml.replacen(entry, &format!("{entry}  smoke: {smoke}\n"), 1);
        }
        yaml.push_str("llm:\n  model: anthropic/claude-sonnet-4-5\ncontext:\n  max_agent_iterations: 4\n");
        for line in &self.context {
            yaml.push_str(&format!("  {line}\n"));
        }
        if !self.coding_agent.is_empty() {
            yaml.push_str("coding_agent:\n");
            for line in &self.coding_agent {
                yaml.push_str(&format!("  {line}\n"));
            }
        }
        yaml
    }
}

/// One handoff test's home, project, fake model and stand-in agents.
pub struct World {
    pub env: TestEnv,
    pub fake: FakeLlm,
    pub agents: StandIns,
    /// The baseline commit's content of every committed file, to check reverts against.
    pub baseline_files: Vec<(String, String)>,
    /// A key for the other provider, set in the loop's environment: no agent may receive it
    /// unless it is that agent's own.
    pub openai_key: String,
}

impl World {
    pub fn new(spec: Spec) -> Self {
        Self::with_fake(spec, FakeLlm::anthropic(&fake_key("sk-ant-handoff")))
    }

    /// With the advisor's fake model given (e.g. one whose key another fake also accepts).
    pub fn with_fake(spec: Spec, fake: FakeLlm) -> Self {
        let project = Project::new();
        let mut files = vec![
            ("train.py".to_string(), train_py(project.ctl())),
            ("config.json".to_string(), CONFIG_JSON.to_string()),
            ("revis.yaml".to_string(), spec.yaml()),
        ];
        files.extend(spec.files.iter().cloned());
        for (path, text) in &files {
            project.write(path, text);
        }
        project.commit("baseline");
        let agents = StandIns::install(project.scratch(), project.ctl(), &spec.agents);
        Self { env: TestEnv::new(project), fake, agents, baseline_files: files, openai_key: fake_key("sk-proj-other") }
    }

    /// The loop's environment: the fake model's key and URL, another provider's key, and PATH
    /// with the stand-ins first.
    pub fn vars(&self) -> Vec<(String, String)> {
        let mut vars = env_of(&[&self.fake]);
        vars.push(("OPENAI_API_KEY".into(), self.openai_key.clone()));
        vars.push(self.agents.path_env());
        vars
    }

    /// `revis loop --advisor llm --max-iterations N`: the command starts the daemon.
    pub fn start(&self, name: &str, max_iterations: u32) {
        assert!(
            self.env.home.daemon_pid().is_none(),
            "the daemon must be started by `revis loop` so it inherits the stand-ins' PATH"
        );
        let n = max_iterations.to_string();
        self.env.start_llm_loop(name, &["--max-iterations", &n], &self.vars());
    }

    /// Waits until the session is paused or ended.
    pub fn settle(&self, name: &str) -> Value {
        self.env.wait_show(name, revis_tests::SESSION_DEADLINE, "the session to pause or end", |s| {
            state(s) == "paused" || ENDED_STATES.contains(&state(s))
        })
    }

    pub fn worktree(&self, session: &Value) -> PathBuf {
        PathBuf::from(session["worktree"].as_str().unwrap_or_default())
    }

    /// Events of an ended session (watch --json); empty for a session that is not ended.
    pub fn events(&self, name: &str, session: &Value) -> Vec<Value> {
        if ENDED_STATES.contains(&state(session)) { self.env.events(name) } else { Vec::new() }
    }

    /// Everything useful after a failure: the agents' calls, the model's requests, the daemon log.
    pub fn context(&self, name: &str) -> String {
        let calls: Vec<String> = self.agents.calls().iter().map(|c| c.raw.to_string()).collect();
        let requests: Vec<String> = self
            .fake
            .requests()
            .iter()
            .map(|r| format!("#{} -> {} ({} bytes)", r.index, r.status, r.raw.len()))
            .collect();
        let show = self.env.revis(&["show", name, "--json"]);
        format!(
            "agent calls:\n{}\nmodel requests:\n{}\nshow --json:\n{}\ndaemon log:\n{}",
            calls.join("\n"),
            requests.join("\n"),
            String::from_utf8_lossy(&show.stdout),
            self.env.home.daemon_log()
        )
    }

    /// The worktree holds exactly the baseline files (nothing the agent wrote survives) and has
    /// no uncommitted change.
    pub fn check_reverted(&self, c: &mut Checks, session: &Value, created: &[&str]) {
        let worktree = self.worktree(session);
        if !worktree.is_dir() {
            c.check(false, || format!("the worktree {} is gone", worktree.display()));
            return;
        }
        for (path, text) in &self.baseline_files {
            let now = std::fs::read_to_string(worktree.join(path)).unwrap_or_else(|e| format!("<unreadable: {e}>"));
            c.check(&now == text, || format!("{path} in the worktree was not reverted:\n{now}"));
        }
        for path in created {
            c.check(!worktree.join(path).exists(), || {
                format!("{path}, created by the agent, is still in the worktree")
            });
        }
        let status = revis_tests::git::git(&worktree, &["status", "--porcelain", "--untracked-files=all"]);
        c.check(status.is_empty(), || format!("the worktree has uncommitted changes after the revert:\n{status}"));
    }

    /// No iteration 1 was produced and no commit carries its trailer.
    pub fn check_nothing_committed(&self, c: &mut Checks, name: &str, session: &Value) {
        let it1 = iteration(session, 1);
        c.check(it1.as_ref().is_none_or(|it| it["state"] != "succeeded"), || {
            format!(
                "a failed handoff must not produce a successful iteration 1: {}",
                pretty(&it1.clone().unwrap_or_default())
            )
        });
        if let Some(branch) = self.branch_commits(name, session) {
            c.check(!branch.iter().any(|x| x.trailer("Revis-Iteration") == Some("1")), || {
                format!("revis/{name} has a commit for iteration 1 after a failed handoff")
            });
        }
    }

    fn branch_commits(&self, name: &str, session: &Value) -> Option<Vec<revis_tests::git::CommitInfo>> {
        let base = session["base_commit"].as_str().filter(|b| !b.is_empty())?;
        if !self.env.project.has_branch(&format!("revis/{name}")) {
            return None;
        }
        Some(commits(self.env.project.path(), &format!("{base}..revis/{name}")))
    }

    /// `path` as committed by iteration `number` (its own commit, not the branch tip, which may
    /// restore a better state).
    pub fn committed(&self, session: &Value, number: u64, path: &str) -> Option<String> {
        let it = iteration(session, number)?;
        let sha = it["commit"].as_str().filter(|s| !s.is_empty())?;
        let out = revis_tests::git::git_output(self.env.project.path(), &["show", &format!("{sha}:{path}")]);
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The one `handoff_failed` event's reason (message + data), checked to exist.
    pub fn failure_reasons(&self, c: &mut Checks, events: &[Value]) -> Vec<String> {
        let failed: Vec<String> = events
            .iter()
            .filter(|e| e["kind"] == "handoff_failed")
            .map(|e| {
                format!("{} {}", e["message"].as_str().unwrap_or_default(), e["data"].as_str().unwrap_or_default())
            })
            .collect();
        c.check(!failed.is_empty(), || format!("no handoff_failed event; events:\n{}", brief(events)));
        failed
    }
}

/// A decision whose only change is a code change.
pub fn code_decision(request: &str, files: &[&str]) -> Reply {
    code_decision_with(request, files, Vec::new())
}

/// A decision with a code change after `other` changes.
pub fn code_decision_with(request: &str, files: &[&str], mut other: Vec<Value>) -> Reply {
    other.push(json!({"kind": "code", "request": request, "files": files}));
    Reply::call(submit(json!({
        "action": "change",
        "rationale": "the schedule needs a code change",
        "hypothesis": "a cosine learning-rate schedule lowers val_loss",
        "changes": other,
    })))
}

/// A `stop` decision.
pub fn stop_decision() -> Reply {
    Reply::call(submit(json!({"action": "stop", "rationale": "nothing more to try", "changes": []})))
}

/// True when `text` contains any of `needles` (case-insensitive).
pub fn mentions(text: &str, needles: &[&str]) -> bool {
    let lower = text.to_lowercase();
    needles.iter().any(|n| lower.contains(&n.to_lowercase()))
}

/// A path relative to the worktree, for messages.
pub fn rel(worktree: &Path, path: &str) -> PathBuf {
    worktree.join(path)
}
