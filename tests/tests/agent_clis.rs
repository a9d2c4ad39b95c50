//! The real coding-agent CLIs (Claude Code, codex, aider — installed by
//! tests/tools/install-agents.sh) run directly, not through Revis, against the loopback agent
//! model: each must make the edit the model asks for, change nothing when the model only talks,
//! and fail in its own way (which these tests pin down) on a 401 and on an unreachable model.
//! Runs are serialised: each CLI is heavy, and a 2-core machine running several at once turns
//! deadlines into flakes.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use revis_tests::agent_clis::{
    AgentRun, aider_command, claude_command, closed_port, codex_command, run_agent, run_agent_for,
};
use revis_tests::fakes::agent_model::{AgentModel, EditTask, Mode};
use revis_tests::git::git;
use serde_json::Value;

const KEY: &str = "sk-revis-fake-agent-key-0001";
const PROMPT: &str = "In train.py change LR = 0.1 to LR = 0.05";
const TRAIN_PY: &str = "import math\n\nLR = 0.1\nEPOCHS = 3\n\nprint(LR * EPOCHS, math.pi)\n";
/// Only in a file the prompt never names, committed next to train.py: no request may carry it.
const CANARY: &str = "canary-7f3a9c-secret-notes";
const RUN_DEADLINE: Duration = Duration::from_secs(240);

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

/// A temp git repo with train.py and an unrelated file holding the canary, plus a temp HOME.
struct Workspace {
    _root: tempfile::TempDir,
    repo: PathBuf,
    home: PathBuf,
}

impl Workspace {
    fn new() -> Self {
        let root = tempfile::Builder::new().prefix("rvs-agent-").tempdir().expect("temp dir");
        let (repo, home) = (root.path().join("repo"), root.path().join("home"));
        std::fs::create_dir_all(&repo).expect("repo dir");
        std::fs::create_dir_all(&home).expect("home dir");
        std::fs::write(repo.join("train.py"), TRAIN_PY).expect("train.py");
        std::fs::write(repo.join("notes.txt"), format!("{CANARY}\n")).expect("notes.txt");
        git(&repo, &["init", "-q"]);
        git(&repo, &["add", "."]);
        git(&repo, &["commit", "-qm", "initial"]);
        Self { _root: root, repo, home }
    }

    fn train_py(&self) -> String {
        std::fs::read_to_string(self.repo.join("train.py")).expect("read train.py")
    }

    fn status(&self) -> String {
        git(&self.repo, &["status", "--porcelain", "--untracked-files=all"])
    }
}

fn model() -> AgentModel {
    AgentModel::start(KEY, EditTask::new("train.py", "LR = 0.1", "LR = 0.05"))
}

fn edited() -> String {
    TRAIN_PY.replace("LR = 0.1", "LR = 0.05")
}

fn assert_clean_requests(model: &AgentModel, run: &AgentRun) {
    assert!(model.violations().is_empty(), "violations: {:?}\n{}", model.violations(), model.transcript());
    let leaks: Vec<String> =
        model.requests_containing(CANARY).iter().map(|r| format!("#{} {}", r.index, r.path)).collect();
    assert!(leaks.is_empty(), "requests carried the canary: {leaks:?}\n{}", run.describe());
}

fn last_json_line(stdout: &str) -> Value {
    let line = stdout.lines().rev().find(|l| l.trim_start().starts_with('{')).unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("stdout's last line is not JSON ({e}): {stdout}"))
}

// ---------------------------------------------------------------------------------------------
// Claude Code

fn claude(ws: &Workspace, base_url: &str, retries: u32) -> AgentRun {
    let cmd = claude_command(&ws.repo, &ws.home, base_url, KEY, PROMPT, retries);
    run_agent(cmd, "claude -p", RUN_DEADLINE)
}

#[test]
fn claude_makes_the_edit() {
    let _one = serial();
    let (ws, model) = (Workspace::new(), model());
    let run = claude(&ws, &model.anthropic_base_url(), 0);
    eprintln!("{}\n{}", run.describe(), model.transcript());
    assert_eq!(run.code(), Some(0), "{}", run.describe());
    let result = last_json_line(&run.stdout());
    assert_eq!(result["is_error"], false, "{result}");
    assert_eq!(result["subtype"], "success", "{result}");
    assert_eq!(ws.train_py(), edited(), "{}\n{}", run.describe(), model.transcript());
    assert_eq!(ws.status(), "M train.py");
    let (usage, _) = model.usage_reported();
    assert_eq!(result["usage"]["input_tokens"], usage.input_tokens, "{result}");
    assert_eq!(result["usage"]["output_tokens"], usage.output_tokens, "{result}");
    assert_clean_requests(&model, &run);
}

#[test]
fn claude_changes_nothing_when_the_model_only_talks() {
    let _one = serial();
    let (ws, model) = (Workspace::new(), model().with_mode(Mode::NoOp));
    let run = claude(&ws, &model.anthropic_base_url(), 0);
    eprintln!("{}\n{}", run.describe(), model.transcript());
    assert_eq!(run.code(), Some(0), "{}", run.describe());
    let result = last_json_line(&run.stdout());
    assert_eq!(result["is_error"], false, "{result}");
    assert_eq!(ws.train_py(), TRAIN_PY);
    assert_eq!(ws.status(), "");
    assert_clean_requests(&model, &run);
}

#[test]
fn claude_reports_a_rejected_key() {
    let _one = serial();
    let (ws, model) = (Workspace::new(), model().with_mode(Mode::AuthError));
    let run = claude(&ws, &model.anthropic_base_url(), 0);
    eprintln!("{}\n{}", run.describe(), model.transcript());
    let result = last_json_line(&run.stdout());
    assert_eq!(result["is_error"], true, "{result}");
    assert_eq!(result["api_error_status"], 401, "{result}");
    assert_eq!(run.code(), Some(1), "{}", run.describe());
    assert_eq!(ws.status(), "");
}

#[test]
fn claude_reports_an_unreachable_model() {
    let _one = serial();
    let ws = Workspace::new();
    let run = claude(&ws, &format!("http://127.0.0.1:{}", closed_port()), 0);
    eprintln!("{}", run.describe());
    let result = last_json_line(&run.stdout());
    assert_eq!(result["is_error"], true, "{result}");
    assert_eq!(run.code(), Some(1), "{}", run.describe());
    assert_eq!(ws.status(), "");
}

// ---------------------------------------------------------------------------------------------
// codex

fn codex(ws: &Workspace, base_url: &str, overrides: &[&str]) -> AgentRun {
    let mut cmd = codex_command(&ws.repo, &ws.home, base_url, KEY, PROMPT);
    for o in overrides {
        cmd.args(["-c", o]);
    }
    run_agent(cmd, "codex exec", RUN_DEADLINE)
}

fn jsonl(stdout: &str) -> Vec<Value> {
    stdout.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

#[test]
fn codex_makes_the_edit() {
    let _one = serial();
    let (ws, model) = (Workspace::new(), model());
    let run = codex(&ws, &model.openai_base_url(), &[]);
    eprintln!("{}\n{}", run.describe(), model.transcript());
    assert_eq!(run.code(), Some(0), "{}", run.describe());
    let events = jsonl(&run.stdout());
    let last = events.last().cloned().unwrap_or_default();
    assert_eq!(last["type"], "turn.completed", "{}", run.describe());
    assert_eq!(ws.train_py(), edited(), "{}\n{}", run.describe(), model.transcript());
    assert_clean_requests(&model, &run);
}

#[test]
fn codex_changes_nothing_when_the_model_only_talks() {
    let _one = serial();
    let (ws, model) = (Workspace::new(), model().with_mode(Mode::NoOp));
    let run = codex(&ws, &model.openai_base_url(), &[]);
    eprintln!("{}\n{}", run.describe(), model.transcript());
    assert_eq!(run.code(), Some(0), "{}", run.describe());
    assert_eq!(ws.train_py(), TRAIN_PY);
    assert_clean_requests(&model, &run);
}

#[test]
fn codex_reports_a_rejected_key() {
    let _one = serial();
    let (ws, model) = (Workspace::new(), model().with_mode(Mode::AuthError));
    let run = codex(&ws, &model.openai_base_url(), &[]);
    eprintln!("{}\n{}", run.describe(), model.transcript());
    assert_eq!(run.code(), Some(1), "{}", run.describe());
    assert_eq!(ws.train_py(), TRAIN_PY);
}

#[test]
fn codex_gives_up_after_its_stream_retries_when_the_model_hangs_up() {
    let _one = serial();
    let (ws, model) = (Workspace::new(), model().with_mode(Mode::HangUp));
    let run = codex(&ws, &model.openai_base_url(), &["model_providers.revis.stream_max_retries=1"]);
    eprintln!("{}\n{}", run.describe(), model.transcript());
    assert_eq!(run.code(), Some(1), "{}", run.describe());
    let events = jsonl(&run.stdout());
    assert_eq!(events.last().map(|e| e["type"].clone()), Some("turn.failed".into()), "{}", run.describe());
    assert_eq!(model.model_calls().len(), 2, "one try and one retry\n{}", model.transcript());
}

/// On a refused connection codex 0.171 does not count retries: it prints
/// `Reconnecting... waiting for network (…)` with a growing delay and never gives up (on this
/// machine at least), so whoever runs it must bound it. Where it does give up (another network
/// setup), it must fail the turn.
#[test]
fn codex_waits_for_the_network_when_the_model_is_unreachable() {
    let _one = serial();
    let ws = Workspace::new();
    let cmd = codex_command(&ws.repo, &ws.home, &format!("http://127.0.0.1:{}/v1", closed_port()), KEY, PROMPT);
    let run = run_agent_for(cmd, "codex exec", Duration::from_secs(20));
    eprintln!("{}", run.describe());
    let events = jsonl(&run.stdout());
    if run.timed_out {
        let mut messages = events.iter().filter(|e| e["type"] == "error").filter_map(|e| e["message"].as_str());
        assert!(messages.any(|m| m.starts_with("Reconnecting... waiting for network")), "{}", run.describe());
    } else {
        assert_eq!(run.code(), Some(1), "{}", run.describe());
        assert_eq!(events.last().map(|e| e["type"].clone()), Some("turn.failed".into()), "{}", run.describe());
    }
    assert_eq!(ws.train_py(), TRAIN_PY);
}

// ---------------------------------------------------------------------------------------------
// aider

fn aider(ws: &Workspace, model: &str, base_url: &str) -> AgentRun {
    let cmd = aider_command(&ws.repo, &ws.home, model, base_url, KEY, PROMPT, &["train.py"]);
    run_agent(cmd, "aider --message", RUN_DEADLINE)
}

#[test]
fn aider_openai_makes_the_edit() {
    let _one = serial();
    let (ws, model) = (Workspace::new(), model());
    let run = aider(&ws, "openai/gpt-4.1", &model.openai_base_url());
    eprintln!("{}\n{}\nstatus:\n{}", run.describe(), model.transcript(), ws.status());
    assert_eq!(run.code(), Some(0), "{}", run.describe());
    assert_eq!(ws.train_py(), edited(), "{}\n{}", run.describe(), model.transcript());
    assert_clean_requests(&model, &run);
}

#[test]
fn aider_anthropic_makes_the_edit() {
    let _one = serial();
    let (ws, model) = (Workspace::new(), model());
    let run = aider(&ws, "anthropic/claude-sonnet-4-5", &model.anthropic_base_url());
    eprintln!("{}\n{}\nstatus:\n{}", run.describe(), model.transcript(), ws.status());
    assert_eq!(run.code(), Some(0), "{}", run.describe());
    assert_eq!(ws.train_py(), edited(), "{}\n{}", run.describe(), model.transcript());
    assert_clean_requests(&model, &run);
}

#[test]
fn aider_changes_nothing_when_the_model_only_talks() {
    let _one = serial();
    let (ws, model) = (Workspace::new(), model().with_mode(Mode::NoOp));
    let run = aider(&ws, "openai/gpt-4.1", &model.openai_base_url());
    eprintln!("{}\n{}\nstatus:\n{}", run.describe(), model.transcript(), ws.status());
    assert_eq!(run.code(), Some(0), "{}", run.describe());
    assert_eq!(ws.train_py(), TRAIN_PY);
}

#[test]
fn aider_reports_a_rejected_key() {
    let _one = serial();
    let (ws, model) = (Workspace::new(), model().with_mode(Mode::AuthError));
    let run = aider(&ws, "openai/gpt-4.1", &model.openai_base_url());
    eprintln!("{}\n{}\nstatus:\n{}", run.describe(), model.transcript(), ws.status());
    assert_eq!(ws.train_py(), TRAIN_PY);
}

#[test]
fn aider_reports_an_unreachable_model() {
    let _one = serial();
    let ws = Workspace::new();
    let run = aider(&ws, "openai/gpt-4.1", &format!("http://127.0.0.1:{}/v1", closed_port()));
    eprintln!("{}\nstatus:\n{}", run.describe(), ws.status());
    assert_eq!(ws.train_py(), TRAIN_PY);
}
