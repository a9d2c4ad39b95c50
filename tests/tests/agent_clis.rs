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
    AgentRun, aider_command, claude_command, closed_port, codex_command, codex_command_for_model, run_agent,
    run_agent_for,
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

/// With a model from its catalogue codex offers a freeform `apply_patch` tool (a grammar
/// "custom" tool answered by `custom_tool_call` items) and `shell_command`.
#[test]
fn codex_makes_the_edit_with_its_apply_patch_tool() {
    let _one = serial();
    let (ws, model) = (Workspace::new(), model());
    let cmd = codex_command_for_model(&ws.repo, &ws.home, &model.openai_base_url(), KEY, PROMPT, "gpt-5.5");
    let run = run_agent(cmd, "codex exec -m gpt-5.5", RUN_DEADLINE);
    eprintln!("{}\n{}", run.describe(), model.transcript());
    assert_eq!(run.code(), Some(0), "{}", run.describe());
    assert_eq!(ws.train_py(), edited(), "{}\n{}", run.describe(), model.transcript());
    let answers: Vec<String> = model.model_calls().iter().map(|r| r.answer.clone()).collect();
    assert!(answers.contains(&"call apply_patch".to_string()), "{}", model.transcript());
    assert_clean_requests(&model, &run);
}

/// What the agents send unasked: Claude Code puts CLAUDE.md and codex AGENTS.md from the
/// working tree into their prompts, whatever the task.
#[test]
fn instruction_files_of_the_tree_reach_the_model() {
    let _one = serial();
    let ws = Workspace::new();
    std::fs::write(ws.repo.join("CLAUDE.md"), "Project rule: claude-md-canary-51\n").expect("CLAUDE.md");
    std::fs::write(ws.repo.join("AGENTS.md"), "Project rule: agents-md-canary-52\n").expect("AGENTS.md");
    let model = model().with_mode(Mode::NoOp);
    let run = claude(&ws, &model.anthropic_base_url(), 0);
    assert_eq!(run.code(), Some(0), "{}", run.describe());
    assert!(!model.requests_containing("claude-md-canary-51").is_empty(), "{}", model.transcript());
    let model = self::model().with_mode(Mode::NoOp);
    let run = codex(&ws, &model.openai_base_url(), &[]);
    assert_eq!(run.code(), Some(0), "{}", run.describe());
    assert!(!model.requests_containing("agents-md-canary-52").is_empty(), "{}", model.transcript());
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
    let retries = ["model_providers.revis.stream_max_retries=1", "model_providers.revis.request_max_retries=0"];
    let run = codex(&ws, &model.openai_base_url(), &retries);
    eprintln!("{}\n{}", run.describe(), model.transcript());
    assert_eq!(run.code(), Some(1), "{}", run.describe());
    let events = jsonl(&run.stdout());
    assert_eq!(events.last().map(|e| e["type"].clone()), Some("turn.failed".into()), "{}", run.describe());
    // Each stream attempt makes 1 + request_max_retries requests (defaults 5 and 4: 30 in all).
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

fn aider(ws: &Workspace, model: &str, base_url: &str, extra: &[&str]) -> AgentRun {
    let mut cmd = aider_command(&ws.repo, &ws.home, model, base_url, KEY, PROMPT, &["train.py"]);
    cmd.args(extra);
    run_agent(cmd, "aider --message", RUN_DEADLINE)
}

/// aider's `format_tokens`: `842`, `2.8k`, `12k`.
fn aider_tokens(n: u64) -> String {
    match n {
        0..1000 => n.to_string(),
        1000..10_000 => format!("{:.1}k", n as f64 / 1000.0),
        _ => format!("{}k", (n as f64 / 1000.0).round()),
    }
}

/// The usage line aider prints for one model call, from what the fake reported.
fn aider_usage_line(model: &AgentModel) -> String {
    let (usage, _) = model.usage_reported();
    format!(
        "Tokens: {} sent, {} received. Cost: $",
        aider_tokens(usage.input_tokens),
        aider_tokens(usage.output_tokens)
    )
}

#[test]
fn aider_openai_makes_the_edit() {
    let _one = serial();
    let (ws, model) = (Workspace::new(), model());
    let run = aider(&ws, "openai/gpt-4.1", &model.openai_base_url(), &[]);
    eprintln!("{}\n{}\nstatus:\n{}", run.describe(), model.transcript(), ws.status());
    assert_eq!(run.code(), Some(0), "{}", run.describe());
    assert_eq!(ws.train_py(), edited(), "{}\n{}", run.describe(), model.transcript());
    let stdout = run.stdout();
    assert!(stdout.contains("Main model: openai/gpt-4.1 with diff edit format"), "{stdout}");
    assert!(stdout.contains(&aider_usage_line(&model)), "{stdout}");
    assert!(stdout.contains("Applied edit to train.py"), "{stdout}");
    assert!(!stdout.contains("raw.githubusercontent.com"), "aider tried to download its model list:\n{stdout}");
    assert_clean_requests(&model, &run);
    // Its repo map tells the model the names of the other tracked files.
    assert!(!model.requests_containing("notes.txt").is_empty(), "{}", model.transcript());
    let status = ws.status();
    for file in [".aider.chat.history.md", ".aider.input.history", ".aider.tags.cache.v4/cache.db"] {
        assert!(status.contains(file), "{status}");
    }
}

#[test]
fn aider_anthropic_makes_the_edit() {
    let _one = serial();
    let (ws, model) = (Workspace::new(), model());
    let run = aider(&ws, "anthropic/claude-sonnet-4-5", &model.anthropic_base_url(), &[]);
    eprintln!("{}\n{}\nstatus:\n{}", run.describe(), model.transcript(), ws.status());
    assert_eq!(run.code(), Some(0), "{}", run.describe());
    assert_eq!(ws.train_py(), edited(), "{}\n{}", run.describe(), model.transcript());
    let stdout = run.stdout();
    assert!(stdout.contains(&aider_usage_line(&model)), "{stdout}");
    assert!(stdout.contains("Applied edit to train.py"), "{stdout}");
    assert_eq!(model.model_calls().iter().map(|r| r.path.as_str()).collect::<Vec<_>>(), ["/v1/messages"]);
    assert_clean_requests(&model, &run);
}

/// Without a repo map aider sends no other file names and writes no tags cache; the history
/// files go where the flags say.
#[test]
fn aider_keeps_to_its_files_without_a_repo_map() {
    let _one = serial();
    let (ws, model) = (Workspace::new(), model());
    let (chat, input) = (ws.home.join("chat.md"), ws.home.join("input.history"));
    let (chat, input) = (chat.to_string_lossy(), input.to_string_lossy());
    let extra = ["--map-tokens", "0", "--chat-history-file", &chat, "--input-history-file", &input];
    let run = aider(&ws, "openai/gpt-4.1", &model.openai_base_url(), &extra);
    eprintln!("{}\n{}\nstatus:\n{}", run.describe(), model.transcript(), ws.status());
    assert_eq!(ws.train_py(), edited(), "{}\n{}", run.describe(), model.transcript());
    assert!(model.requests_containing("notes.txt").is_empty(), "{}", model.transcript());
    assert_eq!(ws.status(), "M train.py");
    assert_clean_requests(&model, &run);
}

#[test]
fn aider_changes_nothing_when_the_model_only_talks() {
    let _one = serial();
    let (ws, model) = (Workspace::new(), model().with_mode(Mode::NoOp));
    let run = aider(&ws, "openai/gpt-4.1", &model.openai_base_url(), &[]);
    eprintln!("{}\n{}\nstatus:\n{}", run.describe(), model.transcript(), ws.status());
    assert_eq!(run.code(), Some(0), "{}", run.describe());
    assert_eq!(ws.train_py(), TRAIN_PY);
    let stdout = run.stdout();
    assert!(stdout.contains(&aider_usage_line(&model)), "{stdout}");
    assert!(!stdout.contains("Applied edit"), "{stdout}");
}

/// aider exits 0 when its model refuses the key: only its output says so.
#[test]
fn aider_reports_a_rejected_key() {
    let _one = serial();
    let (ws, model) = (Workspace::new(), model().with_mode(Mode::AuthError));
    let run = aider(&ws, "openai/gpt-4.1", &model.openai_base_url(), &[]);
    eprintln!("{}\n{}\nstatus:\n{}", run.describe(), model.transcript(), ws.status());
    assert_eq!(run.code(), Some(0), "{}", run.describe());
    assert_eq!(ws.train_py(), TRAIN_PY);
    let stdout = run.stdout();
    assert!(stdout.contains("litellm.AuthenticationError: AuthenticationError: OpenAIException"), "{stdout}");
    assert!(!stdout.contains("Tokens:"), "{stdout}");
    assert_eq!(model.model_calls().len(), 1, "a 401 is not retried\n{}", model.transcript());
}

/// aider retries a refused connection for about 80 s (waits 0.25 s doubling to 32 s, fixed in
/// its code), then gives up — and exits 0.
#[test]
fn aider_reports_an_unreachable_model() {
    let _one = serial();
    let ws = Workspace::new();
    let run = aider(&ws, "openai/gpt-4.1", &format!("http://127.0.0.1:{}/v1", closed_port()), &[]);
    eprintln!("{}\nstatus:\n{}", run.describe(), ws.status());
    assert_eq!(run.code(), Some(0), "{}", run.describe());
    assert_eq!(ws.train_py(), TRAIN_PY);
    let stdout = run.stdout();
    assert!(
        stdout.contains("litellm.InternalServerError: InternalServerError: OpenAIException - Connection"),
        "{stdout}"
    );
    assert!(stdout.contains("Retrying in 32.0 seconds..."), "{stdout}");
    assert!(!stdout.contains("Tokens:"), "{stdout}");
}

// ---------------------------------------------------------------------------------------------
// The fake itself, spoken to directly (no CLI needed): the wire shapes the CLIs rely on.

mod fake {
    use super::*;
    use revis_fixtures::http::post;
    use serde_json::json;

    /// `(event name, data)` of each SSE record.
    fn sse(body: &[u8]) -> Vec<(String, Value)> {
        let text = String::from_utf8_lossy(body);
        text.split("\n\n")
            .filter(|r| !r.trim().is_empty())
            .map(|record| {
                let mut name = String::new();
                let mut data = Value::Null;
                for line in record.lines() {
                    if let Some(n) = line.strip_prefix("event: ") {
                        name = n.to_string();
                    } else if let Some(d) = line.strip_prefix("data: ") {
                        data = serde_json::from_str(d).unwrap_or(Value::String(d.to_string()));
                    }
                }
                (name, data)
            })
            .collect()
    }

    fn messages(model: &AgentModel, messages: Value) -> Vec<(String, Value)> {
        let body = json!({
            "model": "claude-sonnet-4-5", "max_tokens": 32000, "stream": true,
            "system": [{"type": "text", "text": "# Environment\n - Primary working directory: /work/repo\n"}],
            "tools": [{"name": "Read", "input_schema": {"type": "object"}}, {"name": "Edit", "input_schema": {"type": "object"}}],
            "messages": messages,
        });
        let headers = [("x-api-key", KEY), ("anthropic-version", "2023-06-01"), ("content-type", "application/json")];
        let response = post(model.addr(), "/v1/messages?beta=true", &headers, &body.to_string()).expect("post");
        assert_eq!(response.status, 200, "{}", String::from_utf8_lossy(&response.body));
        sse(&response.body)
    }

    /// The tool call (name, input) or text an Anthropic stream carries, joined from its deltas.
    fn joined(events: &[(String, Value)]) -> (Option<String>, String, String) {
        let mut tool = None;
        let (mut json_text, mut text) = (String::new(), String::new());
        for (_, data) in events {
            match data["type"].as_str() {
                Some("content_block_start") if data["content_block"]["type"] == "tool_use" => {
                    tool = data["content_block"]["name"].as_str().map(str::to_string);
                }
                Some("content_block_delta") => {
                    json_text.push_str(data["delta"]["partial_json"].as_str().unwrap_or_default());
                    text.push_str(data["delta"]["text"].as_str().unwrap_or_default());
                }
                _ => {}
            }
        }
        (tool, json_text, text)
    }

    #[test]
    fn the_anthropic_stream_reads_edits_then_sums_up() {
        let model = model();
        let user = json!({"role": "user", "content": [{"type": "text", "text": PROMPT}]});
        let events = messages(&model, json!([user]));
        let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "message_start",
                "ping",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        let (tool, input, _) = joined(&events);
        assert_eq!(tool.as_deref(), Some("Read"));
        assert_eq!(serde_json::from_str::<Value>(&input).expect("input"), json!({"file_path": "/work/repo/train.py"}));
        let stop = &events[6].1;
        assert_eq!(stop["delta"]["stop_reason"], "tool_use");
        assert!(stop["usage"]["output_tokens"].as_u64().is_some_and(|n| n > 0), "{stop}");

        let read = json!({"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {}}]});
        let result = json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "1\tLR = 0.1"}]});
        let (tool, input, _) = joined(&messages(&model, json!([user, read, result])));
        assert_eq!(tool.as_deref(), Some("Edit"));
        let input: Value = serde_json::from_str(&input).expect("input");
        assert_eq!((input["old_string"].as_str(), input["new_string"].as_str()), (Some("LR = 0.1"), Some("LR = 0.05")));

        let edit = json!({"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_2", "name": "Edit", "input": {}}]});
        let done =
            json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_2", "content": "ok"}]});
        let events = messages(&model, json!([user, read, result, edit, done]));
        let (tool, _, text) = joined(&events);
        assert_eq!((tool, text), (None, model.task().summary()));
        assert!(model.violations().is_empty(), "{:?}", model.violations());
        assert_eq!(model.usage_reported().1, 3);
    }

    #[test]
    fn the_responses_stream_runs_the_shell_then_patches() {
        let model = model();
        let tools = json!([{"type": "function", "name": "exec_command", "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}}}]);
        let prompt = json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": PROMPT}]});
        let call = |input: Value| {
            let body = json!({"model": "gpt-5-codex", "stream": true, "store": false, "tools": tools, "input": input});
            let auth = format!("Bearer {KEY}");
            let headers = [("authorization", auth.as_str()), ("content-type", "application/json")];
            let response = post(model.addr(), "/v1/responses", &headers, &body.to_string()).expect("post");
            assert_eq!(response.status, 200);
            let events = sse(&response.body);
            assert_eq!(events.first().map(|(n, _)| n.as_str()), Some("response.created"));
            let (last, completed) = events.last().cloned().expect("events");
            assert_eq!(last, "response.completed");
            assert!(completed["response"]["usage"]["input_tokens"].as_u64().is_some_and(|n| n > 0));
            let done = events.iter().find(|(n, _)| n == "response.output_item.done").expect("an item").1.clone();
            done["item"].clone()
        };
        let first = call(json!([prompt]));
        assert_eq!((first["type"].as_str(), first["name"].as_str()), (Some("function_call"), Some("exec_command")));
        assert_eq!(first["arguments"], json!({"cmd": "cat train.py"}).to_string());
        let output = json!({"type": "function_call_output", "call_id": first["call_id"], "output": "LR = 0.1"});
        let second = call(json!([prompt, first, output]));
        let cmd: Value = serde_json::from_str(second["arguments"].as_str().unwrap_or_default()).expect("arguments");
        assert!(cmd["cmd"].as_str().is_some_and(|c| c.starts_with("apply_patch <<'PATCH'\n*** Begin Patch")), "{cmd}");
        let output2 = json!({"type": "function_call_output", "call_id": second["call_id"], "output": "Success"});
        let third = call(json!([prompt, first, output, second, output2]));
        assert_eq!(third["type"], "message");
        assert_eq!(third["content"][0]["text"], model.task().summary());
    }

    #[test]
    fn errors_come_in_each_providers_shape() {
        let model = model().with_mode(Mode::AuthError);
        let anthropic = [("x-api-key", KEY), ("anthropic-version", "2023-06-01"), ("content-type", "application/json")];
        let r = post(model.addr(), "/v1/messages", &anthropic, r#"{"model":"m","max_tokens":1,"messages":[]}"#)
            .expect("post");
        let body: Value = serde_json::from_slice(&r.body).expect("json");
        assert_eq!(
            (r.status, body["type"].as_str(), body["error"]["type"].as_str()),
            (401, Some("error"), Some("authentication_error"))
        );
        let auth = format!("Bearer {KEY}");
        let openai = [("authorization", auth.as_str()), ("content-type", "application/json")];
        let r = post(model.addr(), "/v1/chat/completions", &openai, r#"{"model":"m","messages":[]}"#).expect("post");
        let body: Value = serde_json::from_slice(&r.body).expect("json");
        assert_eq!(r.status, 401);
        let error = body["error"].as_object().expect("error object");
        let mut keys: Vec<&str> = error.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["code", "message", "param", "type"]);
        assert_eq!(body["error"]["code"], "invalid_api_key");

        model.set_mode(Mode::ServerError(529));
        let r = post(model.addr(), "/v1/messages", &anthropic, r#"{"model":"m","max_tokens":1,"messages":[]}"#)
            .expect("post");
        let body: Value = serde_json::from_slice(&r.body).expect("json");
        assert_eq!((r.status, body["error"]["type"].as_str()), (529, Some("overloaded_error")));

        // A wrong key is refused whatever the mode.
        model.set_mode(Mode::Edit);
        let wrong = [("authorization", "Bearer sk-wrong"), ("content-type", "application/json")];
        let r = post(model.addr(), "/v1/responses", &wrong, r#"{"model":"m","input":[]}"#).expect("post");
        assert_eq!(r.status, 401);
    }

    #[test]
    fn requests_containing_finds_escaped_and_plain_text() {
        let model = model();
        let auth = format!("Bearer {KEY}");
        let headers = [("authorization", auth.as_str()), ("content-type", "application/json")];
        let body = json!({"model": "m", "messages": [{"role": "user", "content": "see \"quoted\"\nfile: secret.txt"}]});
        post(model.addr(), "/v1/chat/completions", &headers, &body.to_string()).expect("post");
        assert_eq!(model.requests_containing("see \"quoted\"\nfile").len(), 1);
        assert_eq!(model.requests_containing("secret.txt").len(), 1);
        assert!(model.requests_containing("absent").is_empty());
    }
}
