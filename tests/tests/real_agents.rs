//! Full handoffs through `revis loop` with the real coding-agent CLIs (Claude Code, codex and
//! aider at the versions tests/tools/install-agents.sh pins): the scripted advisor asks for a
//! code change, the daemon runs the real agent against a loopback model that speaks what that
//! agent really sends, and the outcome is judged from what the agent did. Each agent is driven
//! through a success, an auth error, an unreachable model and a model that changes nothing.
//! A canary in a tracked file of `context.deny` must never reach the agent's model, not even
//! its name.
//!
//! The advisor and the agent have different endpoints (`llm.api_base` stays unset and the
//! advisor follows the session's `ANTHROPIC_BASE_URL`; the agent gets `coding_agent.api_base`),
//! which is also how a user splits them.

#[allow(dead_code)]
#[path = "../src/agents.rs"]
mod agents;
#[path = "../src/handoff_support.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use revis_tests::agent_clis::{AgentCli, CODEX_NO_PLUGINS, cli_path, closed_port, seed_aider_model_info};
use revis_tests::fakes::FakeLlm;
use revis_tests::fakes::agent_model::{AgentModel, EditTask, Mode};
use revis_tests::llm::{Checks, brief, fake_key};
use revis_tests::session::{ENDED_STATES, iteration, pretty, state, stop_reason};
use serde_json::Value;
use support::{Spec, World, code_decision};

const REQUEST: &str = "Lower the constant offset of the loss in train.py from 0.5 to 0.25";
const OLD: &str = "loss = 0.5 + (math.log10(lr) + 2) ** 2 + 0.1 * (x - 3) ** 2";
const NEW: &str = "loss = 0.25 + (math.log10(lr) + 2) ** 2 + 0.1 * (x - 3) ** 2";
/// Python, so that a repository map (aider's) would list it with its symbols.
const SECRET_FILE: &str = "secrets/keys.py";
/// A handoff with a real agent, retries included, ends well within this.
const AGENT_DEADLINE: Duration = Duration::from_secs(240);
const CANARY: &str = "CANARY-hidden-7f3a9c-never-sent";

/// How the agent's model endpoint behaves in a scenario.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scenario {
    Success,
    AuthError,
    NoChange,
    Unreachable,
}

struct RealWorld {
    w: World,
    model: AgentModel,
    cli: AgentCli,
    /// The daemon's (and so the agent's) HOME: agents keep their state there, not in the user's.
    _home: tempfile::TempDir,
    home_path: PathBuf,
    /// Links to the real CLI, first on the daemon's PATH.
    bin: PathBuf,
}

fn agent_type(cli: AgentCli) -> &'static str {
    match cli {
        AgentCli::Claude => "claude-code",
        AgentCli::Codex => "codex",
        AgentCli::Aider => "aider",
    }
}

impl RealWorld {
    fn new(cli: AgentCli, scenario: Scenario) -> Self {
        let program = cli_path(cli);
        let home = tempfile::tempdir().unwrap_or_else(|e| panic!("temp HOME: {e}"));
        let home_path = home.path().to_path_buf();
        // Claude Code reads the session's ANTHROPIC_API_KEY, the advisor's too: one key for both.
        let key = fake_key("sk-agent");
        // The model tries to read the hidden file and revis.yaml (whose context.deny names it),
        // and with a shell lists the tree, first.
        let task = EditTask::new("train.py", OLD, NEW).probing(&[SECRET_FILE, "revis.yaml"]);
        let model = AgentModel::start(&key, task);
        match scenario {
            Scenario::AuthError => model.set_mode(Mode::AuthError),
            Scenario::NoChange => model.set_mode(Mode::NoOp),
            Scenario::Success | Scenario::Unreachable => {}
        }
        let (anthropic_base, openai_base) = match scenario {
            Scenario::Unreachable => {
                let port = closed_port();
                (format!("http://127.0.0.1:{port}"), format!("http://127.0.0.1:{port}/v1"))
            }
            _ => (model.anthropic_base_url(), model.openai_base_url()),
        };
        let spec = Spec::new(&[])
            .guardrail("retry_budget", "1")
            .context("deny: [\"secrets/**\"]")
            .file(SECRET_FILE, &format!("API_KEY = \"{CANARY}\"\n\n\ndef load_key():\n    return API_KEY\n"))
            .coding_agent(&format!("type: {}", agent_type(cli)))
            .coding_agent("timeout: 3m");
        let spec = match cli {
            AgentCli::Claude => spec
                .coding_agent("model: anthropic/claude-sonnet-4-5")
                .coding_agent(&format!("api_base: {anthropic_base}"))
                .coding_agent("env:")
                // Claude Code retries a 401 for minutes by default; a user bounds it this way.
                .coding_agent("  CLAUDE_CODE_MAX_RETRIES: \"1\"")
                .coding_agent("  DISABLE_TELEMETRY: \"1\""),
            AgentCli::Codex => spec
                .coding_agent("model: openai/gpt-5-codex")
                .coding_agent(&format!("api_base: {openai_base}"))
                .coding_agent("env:")
                .coding_agent(&format!("  CODEX_HOME: {}", home_path.join(".codex").display()))
                // Per-agent arguments, as a user would keep codex from syncing plugins online.
                .coding_agent("args:")
                .coding_agent(&format!("  codex: [-c, {CODEX_NO_PLUGINS}]")),
            AgentCli::Aider => {
                spec.coding_agent("model: openai/gpt-4.1").coding_agent(&format!("api_base: {openai_base}"))
            }
        };
        match cli {
            AgentCli::Codex => {
                std::fs::create_dir_all(home_path.join(".codex")).unwrap_or_else(|e| panic!("CODEX_HOME: {e}"))
            }
            // aider downloads litellm's price list at start unless its cache is fresh: the tests
            // reach nothing but loopback.
            AgentCli::Aider => seed_aider_model_info(&home_path),
            AgentCli::Claude => {}
        }
        let w = World::with_fake(spec, FakeLlm::anthropic(&key));
        let bin = w.env.project.scratch().join("real-agents");
        std::fs::create_dir_all(&bin).unwrap_or_else(|e| panic!("{e}"));
        let link = bin.join(program.file_name().unwrap_or_default());
        std::os::unix::fs::symlink(&program, &link).unwrap_or_else(|e| panic!("link {}: {e}", program.display()));
        Self { w, model, cli, _home: home, home_path, bin }
    }

    /// The loop's environment: the advisor's fake model, the agent's key under the names each
    /// agent family reads, HOME for the agents' state, and PATH with the real CLI first (and
    /// the real python3 before any shim that needs the user's HOME).
    fn vars(&self) -> Vec<(String, String)> {
        let mut vars: Vec<(String, String)> =
            self.w.vars().into_iter().filter(|(k, _)| k != "PATH" && k != "OPENAI_API_KEY").collect();
        let key = self.model.key().to_string();
        match self.cli {
            // The session's ANTHROPIC_API_KEY (the advisor's) is the one Claude Code reads.
            AgentCli::Claude => {}
            AgentCli::Codex => vars.push(("CODEX_API_KEY".into(), key)),
            AgentCli::Aider => vars.push(("OPENAI_API_KEY".into(), key)),
        }
        let python = std::process::Command::new("python3")
            .args(["-c", "import sys, os; print(os.path.dirname(os.path.realpath(sys.executable)))"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        let path = std::env::var("PATH").unwrap_or_default();
        vars.push(("PATH".into(), format!("{}:{python}:{path}", self.bin.display())));
        vars.push(("HOME".into(), self.home_path.display().to_string()));
        vars
    }

    fn run(&self, name: &str, max_iterations: u32) -> Value {
        let n = max_iterations.to_string();
        self.w.env.start_llm_loop(name, &["--max-iterations", &n], &self.vars());
        // aider keeps retrying an unreachable model for about a minute before it gives up.
        self.w.env.wait_show(name, AGENT_DEADLINE, "the session to pause or end", |s| {
            state(s) == "paused" || ENDED_STATES.contains(&state(s))
        })
    }

    fn context(&self, name: &str) -> String {
        let requests: Vec<String> = self
            .model
            .requests()
            .iter()
            .map(|r| format!("#{} {} {} -> {}", r.index, r.method, r.path, r.status))
            .collect();
        let logs = agent_logs(&self.w.env.home.path().join("runs"));
        format!("agent model requests:\n{}\nagent logs:\n{logs}\n{}", requests.join("\n"), self.w.context(name))
    }

    /// No request the agent's model received carries the hidden file's content or its name.
    /// The model's own probe (it asks for `secrets/keys.py` by name, which a real model could
    /// not know) is not a leak; a listing, a read's result or a repository map would be.
    fn check_hidden(&self, c: &mut Checks) {
        let requests = self.model.requests();
        // aider has no tools to probe with: any mention of the file is a leak.
        let allowed: &[&str] = if self.cli == AgentCli::Aider { &[] } else { &[SECRET_FILE] };
        for needle in [CANARY, "keys.py", "load_key", "secrets/", "secrets:"] {
            let found: Vec<_> = requests.iter().filter(|r| r.contains_apart_from(needle, allowed)).collect();
            c.check(found.is_empty(), || {
                format!(
                    "{} sent {needle:?} to its model in {} request(s), e.g. {}",
                    self.cli.name(),
                    found.len(),
                    found.first().map(|r| r.raw.chars().take(1500).collect::<String>()).unwrap_or_default()
                )
            });
        }
        if self.model.mode() == Mode::Edit && !requests.is_empty() {
            // The probe happened: the model did ask for the hidden file (not for aider, which
            // has no tools and sees what its repository map shows).
            let probed = requests.iter().any(|r| r.contains(SECRET_FILE));
            c.check(probed || self.cli == AgentCli::Aider, || "the scripted model never probed the hidden file".into());
        }
    }
}

/// Every agent log under the runs directory, for failure messages.
fn agent_logs(runs: &Path) -> String {
    let mut out = String::new();
    let mut stack = vec![runs.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("agent-")) {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                let tail: String = text.chars().rev().take(4000).collect::<Vec<_>>().into_iter().rev().collect();
                out.push_str(&format!("--- {}\n{tail}\n", path.display()));
            }
        }
    }
    out
}

fn success(cli: AgentCli) {
    let rw = RealWorld::new(cli, Scenario::Success);
    let name = format!("{}-ok", cli.name());
    rw.w.fake.push(code_decision(REQUEST, &["train.py"]));
    let s = rw.run(&name, 2);
    let mut c = Checks::new();
    c.check(state(&s) == "completed" && stop_reason(&s) == "max_iterations", || {
        format!("the session must complete its 2 iterations: {} / {}", state(&s), stop_reason(&s))
    });
    let it1 = iteration(&s, 1).unwrap_or_default();
    c.check(it1["state"] == "succeeded", || format!("iteration 1 must train the agent's change: {}", pretty(&it1)));
    let agent = &it1["agent"];
    c.check(agent["agent"] == agent_type(cli), || format!("iteration 1's agent record: {agent}"));
    c.check(agent["summary"].as_str().is_some_and(|t| !t.trim().is_empty()), || {
        format!("the agent's summary must be recorded: {agent}")
    });
    let cost = agent["cost_usd"].as_f64();
    c.check(cost.is_some_and(|usd| usd > 0.0), || format!("the agent's cost must be counted: {agent}"));
    // Iteration 1 trained the agent's code: the loss is 0.25 lower than the baseline's.
    let base = iteration(&s, 0).and_then(|i| i["metrics"]["val_loss"].as_f64());
    let after = it1["metrics"]["val_loss"].as_f64();
    c.check(matches!((base, after), (Some(b), Some(a)) if (b - a - 0.25).abs() < 1e-9), || {
        format!("iteration 1 must run the edited train.py (val_loss {base:?} -> {after:?})")
    });
    let committed = rw.w.committed(&s, 1, "train.py").unwrap_or_default();
    c.check(committed.contains(NEW) && !committed.contains(OLD), || "the commit must hold the agent's edit".into());
    // Nothing of the agent's own files is committed, and .gitignore is untouched.
    let sha = it1["commit"].as_str().unwrap_or_default();
    let project = rw.w.env.project.path();
    let tree = revis_tests::git::git(project, &["ls-tree", "-r", "--name-only", sha]);
    c.check(!tree.lines().any(|p| p.starts_with(".aider")), || {
        format!("the agent's bookkeeping reached the commit:\n{tree}")
    });
    let base = s["base_commit"].as_str().unwrap_or_default();
    let ignore_at =
        |commit: &str| revis_tests::git::git_output(project, &["show", &format!("{commit}:.gitignore")]).stdout;
    c.check(ignore_at(base) == ignore_at(sha), || "the agent's change touched .gitignore".into());
    let message = revis_tests::git::git(rw.w.env.project.path(), &["log", "-1", "--format=%B", sha]);
    c.check(message.contains(&format!("Code change by {}", agent_type(cli))) && message.contains('$'), || {
        format!("the commit message must carry the agent's summary and cost:\n{message}")
    });
    c.check(rw.model.violations().is_empty(), || format!("malformed requests: {:?}", rw.model.violations()));
    c.check(!rw.model.model_calls().is_empty(), || "the agent never called its model".into());
    rw.check_hidden(&mut c);
    c.finish(|| rw.context(&name));
}

/// A failed handoff: the session ends after the one try (retry budget 1) with the reason.
fn failure(cli: AgentCli, scenario: Scenario, expected: &[&str]) {
    let rw = RealWorld::new(cli, scenario);
    let name = format!("{}-fail", cli.name());
    rw.w.fake.push(code_decision(REQUEST, &["train.py"]));
    let s = rw.run(&name, 2);
    let mut c = Checks::new();
    let events = rw.w.events(&name, &s);
    let reasons = rw.w.failure_reasons(&mut c, &events);
    let reason = reasons.first().cloned().unwrap_or_default();
    c.check(support::mentions(&reason, expected), || {
        format!("the handoff failure must say why ({expected:?}): {reason}\nevents:\n{}", brief(&events))
    });
    c.check(reason.contains(agent_type(cli)), || format!("the failure must name the agent: {reason}"));
    rw.w.check_nothing_committed(&mut c, &name, &s);
    rw.w.check_reverted(&mut c, &s, &[]);
    rw.check_hidden(&mut c);
    c.finish(|| rw.context(&name));
}

#[test]
fn claude_code_makes_the_change_and_never_sees_the_hidden_file() {
    success(AgentCli::Claude);
}

#[test]
fn claude_code_auth_error_fails_the_handoff() {
    failure(AgentCli::Claude, Scenario::AuthError, &["invalid api key", "401", "authentication"]);
}

#[test]
fn claude_code_that_changes_nothing_fails_the_handoff() {
    failure(AgentCli::Claude, Scenario::NoChange, &["changed nothing"]);
}

#[test]
fn claude_code_with_an_unreachable_model_fails_the_handoff() {
    failure(AgentCli::Claude, Scenario::Unreachable, &["connect", "connection", "ECONNREFUSED"]);
}

#[test]
fn codex_makes_the_change_and_never_sees_the_hidden_file() {
    success(AgentCli::Codex);
}

#[test]
fn codex_auth_error_fails_the_handoff() {
    failure(AgentCli::Codex, Scenario::AuthError, &["401", "unauthorized"]);
}

#[test]
fn codex_that_changes_nothing_fails_the_handoff() {
    failure(AgentCli::Codex, Scenario::NoChange, &["changed nothing"]);
}

#[test]
fn codex_with_an_unreachable_model_fails_the_handoff() {
    // codex never gives up by itself ("Reconnecting... waiting for network" forever): Revis
    // does, after three such notices in a row, well before the handoff's timeout.
    failure(AgentCli::Codex, Scenario::Unreachable, &["codex cannot reach its model (3 tries): Reconnecting"]);
}

#[test]
fn aider_makes_the_change_and_never_sees_the_hidden_file() {
    success(AgentCli::Aider);
}

#[test]
fn aider_auth_error_fails_the_handoff() {
    failure(AgentCli::Aider, Scenario::AuthError, &["AuthenticationError", "401"]);
}

#[test]
fn aider_that_changes_nothing_fails_the_handoff() {
    failure(AgentCli::Aider, Scenario::NoChange, &["changed nothing"]);
}

#[test]
fn aider_with_an_unreachable_model_exits_0_but_fails_the_handoff() {
    failure(AgentCli::Aider, Scenario::Unreachable, &["no reply from its model", "APIConnectionError"]);
}
