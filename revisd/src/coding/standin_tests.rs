//! End-to-end runs against stand-in `claude`, `codex` and `aider` scripts that record their
//! argv, cwd and environment and answer in each CLI's format.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::agent::run_with;
use super::process::group_alive;
use super::test_support::{eventually, path_of, process_gone, read_pid, write_script};
use super::{AgentKind, AgentResult, AgentRun};

/// Records what the stand-in was given into `$STANDIN_DIR`.
const RECORD: &str = r#"for a in "$@"; do printf '%s\0' "$a"; done > "$STANDIN_DIR/argv"
pwd -P > "$STANDIN_DIR/cwd"
env > "$STANDIN_DIR/env""#;

const GRACE: Duration = Duration::from_millis(300);

struct Fixture {
    _root: tempfile::TempDir,
    bin: PathBuf,
    worktree: PathBuf,
    record: PathBuf,
    log: PathBuf,
}

impl Fixture {
    fn new() -> Self {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = |name: &str| {
            let path = root.path().join(name);
            std::fs::create_dir_all(&path).expect("mkdir");
            path.canonicalize().expect("canonicalize")
        };
        let (bin, worktree, record) = (dir("bin"), dir("work"), dir("record"));
        // The log's directory does not exist yet: `run` creates it.
        let log = root.path().join("logs").join("agent.log");
        Fixture { _root: root, bin, worktree, record, log }
    }

    fn agent(&self, kind: AgentKind, body: &str) {
        write_script(&self.bin, kind.program(), &format!("{RECORD}\n{body}"));
    }

    fn run(&self, kind: AgentKind) -> AgentRun {
        AgentRun {
            kind,
            worktree: self.worktree.clone(),
            prompt: "# Task\n\nChange the schedule; keep \"quotes\" & $DOLLARS literal".into(),
            timeout: Duration::from_secs(60),
            max_turns: 7,
            files: vec!["train.py".into(), "model dir/net.py".into()],
            log_path: self.log.clone(),
            env: vec![
                ("STANDIN_DIR".into(), self.record.display().to_string()),
                ("ANTHROPIC_API_KEY".into(), "agent-key".into()),
            ],
            path_var: Some(path_of(&[&self.bin, Path::new("/usr/bin"), Path::new("/bin")])),
            model: None,
            api_base: None,
            extra_args: vec![],
        }
    }

    /// Runs with a daemon environment that holds provider secrets the agent must not see.
    async fn go(&self, run: &AgentRun) -> AgentResult {
        let mut base: Vec<(OsString, OsString)> = std::env::vars_os().collect();
        for (name, value) in [("OPENAI_API_KEY", "leak"), ("ANTHROPIC_API_KEY", "leak"), ("OLLAMA_API_BASE", "leak")] {
            base.push((name.into(), value.into()));
        }
        run_with(run, base, GRACE).await
    }

    fn argv(&self) -> Vec<String> {
        let raw = std::fs::read(self.record.join("argv")).expect("argv recorded");
        let text = String::from_utf8(raw).expect("utf-8 argv");
        text.split_terminator('\0').map(str::to_string).collect()
    }

    fn recorded(&self, name: &str) -> String {
        std::fs::read_to_string(self.record.join(name)).expect("recorded file")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).expect("log")
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn claude_success_reads_result_cost_and_tokens() {
    let fx = Fixture::new();
    fx.agent(
        AgentKind::ClaudeCode,
        r#"echo "new" > created.py
echo "thinking on stderr" >&2
echo '{"type":"result","subtype":"success","is_error":false,"result":"Added created.py","num_turns":2,"total_cost_usd":0.042,"usage":{"input_tokens":10,"output_tokens":5}}'"#,
    );
    let run = fx.run(AgentKind::ClaudeCode);
    let result = fx.go(&run).await;
    assert!(result.ok, "{result:?}");
    assert_eq!(result.failure, None);
    assert_eq!(result.summary, "Added created.py");
    assert_eq!(result.cost_usd, Some(0.042));
    assert_eq!(result.tokens, Some((10, 5)));
    assert_eq!(result.exit_code, Some(0));

    let prompt = run.prompt.as_str();
    let expected = ["-p", prompt, "--output-format", "json", "--max-turns", "7", "--permission-mode", "acceptEdits"];
    assert_eq!(fx.argv(), strings(&expected));
    assert_eq!(fx.recorded("cwd").trim(), fx.worktree.display().to_string());
    assert!(fx.worktree.join("created.py").exists());

    let env = fx.recorded("env");
    assert!(env.lines().any(|l| l == "ANTHROPIC_API_KEY=agent-key"), "passed key missing");
    assert!(!env.contains("leak"), "a provider variable leaked:\n{env}");
    assert!(!env.lines().any(|l| l.starts_with("OPENAI_API_KEY=")));
    let path_line = format!("PATH={}", fx.bin.display());
    assert!(env.lines().any(|l| l.starts_with(&path_line)), "PATH not the one passed");

    let log = fx.log();
    assert!(log.contains("\"total_cost_usd\":0.042"), "stdout in log");
    assert!(log.contains("thinking on stderr"), "stderr in log");
    assert!(log.contains("=== revis: claude-code started in"));
    assert!(log.contains("=== revis: claude-code ended after"));
}

#[tokio::test]
async fn log_is_appended_not_replaced() {
    let fx = Fixture::new();
    fx.agent(AgentKind::ClaudeCode, r#"echo '{"type":"result","subtype":"success","result":"ok"}'"#);
    std::fs::create_dir_all(fx.log.parent().expect("parent")).expect("mkdir");
    std::fs::write(&fx.log, "earlier handoff\n").expect("seed log");
    assert!(fx.go(&fx.run(AgentKind::ClaudeCode)).await.ok);
    assert!(fx.log().starts_with("earlier handoff\n"));
}

#[tokio::test]
async fn claude_is_error_with_exit_zero_fails() {
    let fx = Fixture::new();
    fx.agent(
        AgentKind::ClaudeCode,
        r#"echo '{"type":"result","subtype":"success","is_error":true,"result":"API Error: overloaded","total_cost_usd":0.01}'"#,
    );
    let result = fx.go(&fx.run(AgentKind::ClaudeCode)).await;
    assert!(!result.ok);
    assert_eq!(result.failure.as_deref(), Some("claude-code reported an error: API Error: overloaded"));
    assert_eq!(result.exit_code, Some(0));
    // A failed handoff still cost money.
    assert_eq!(result.cost_usd, Some(0.01));
}

#[tokio::test]
async fn claude_max_turns_fails() {
    let fx = Fixture::new();
    fx.agent(
        AgentKind::ClaudeCode,
        r#"echo '{"type":"result","subtype":"error_max_turns","is_error":false,"num_turns":7,"total_cost_usd":0.3}'"#,
    );
    let result = fx.go(&fx.run(AgentKind::ClaudeCode)).await;
    assert!(!result.ok);
    assert_eq!(result.failure.as_deref(), Some("claude-code stopped at its turn limit (error_max_turns)"));
}

#[tokio::test]
async fn claude_non_zero_exit_fails_with_its_stderr() {
    let fx = Fixture::new();
    fx.agent(AgentKind::ClaudeCode, "echo 'Error: invalid API key' >&2\nexit 3");
    let result = fx.go(&fx.run(AgentKind::ClaudeCode)).await;
    assert!(!result.ok);
    assert_eq!(result.exit_code, Some(3));
    assert_eq!(result.failure.as_deref(), Some("claude-code exited with code 3: Error: invalid API key"));
}

#[tokio::test]
async fn claude_unparseable_output_fails() {
    let fx = Fixture::new();
    fx.agent(AgentKind::ClaudeCode, "echo 'I changed some things'");
    let result = fx.go(&fx.run(AgentKind::ClaudeCode)).await;
    assert!(!result.ok);
    let failure = result.failure.unwrap_or_default();
    assert!(failure.starts_with("claude-code output is not a Claude Code JSON result"), "{failure}");
}

#[tokio::test]
async fn codex_completed_turn_succeeds() {
    let fx = Fixture::new();
    fx.agent(
        AgentKind::Codex,
        r#"cat <<'EOF'
{"type":"thread.started","thread_id":"th"}
{"type":"turn.started"}
{"type":"item.completed","item":{"id":"item_1","type":"agent_message","text":"Switched the optimizer to AdamW."}}
{"type":"turn.completed","usage":{"input_tokens":900,"cached_input_tokens":0,"output_tokens":120}}
EOF"#,
    );
    let run = fx.run(AgentKind::Codex);
    let result = fx.go(&run).await;
    assert!(result.ok, "{result:?}");
    assert_eq!(result.summary, "Switched the optimizer to AdamW.");
    assert_eq!(result.tokens, Some((900, 120)));
    assert_eq!(result.cost_usd, None);
    assert_eq!(
        fx.argv(),
        strings(&["exec", run.prompt.as_str(), "--json", "--sandbox", "workspace-write", "--skip-git-repo-check"])
    );
    assert_eq!(fx.recorded("cwd").trim(), fx.worktree.display().to_string());
}

#[tokio::test]
async fn codex_turn_failed_fails() {
    let fx = Fixture::new();
    fx.agent(
        AgentKind::Codex,
        r#"echo '{"type":"turn.started"}'
echo '{"type":"turn.failed","error":{"message":"usage limit reached"}}'
exit 1"#,
    );
    let result = fx.go(&fx.run(AgentKind::Codex)).await;
    assert!(!result.ok);
    assert_eq!(result.failure.as_deref(), Some("codex exited with code 1: turn failed: usage limit reached"));
}

#[tokio::test]
async fn codex_error_without_a_completed_turn_fails_even_with_exit_zero() {
    let fx = Fixture::new();
    fx.agent(AgentKind::Codex, r#"echo '{"type":"error","message":"model not found"}'"#);
    let result = fx.go(&fx.run(AgentKind::Codex)).await;
    assert!(!result.ok);
    assert_eq!(result.failure.as_deref(), Some("codex ended without completing its turn: model not found"));
    assert_eq!(result.exit_code, Some(0));
}

#[tokio::test]
async fn a_timeout_quotes_the_agents_last_error() {
    let fx = Fixture::new();
    fx.agent(
        AgentKind::Codex,
        r#"echo '{"type":"turn.started"}'
echo '{"type":"error","message":"Reconnecting... 2/5 (error sending request for url)"}'
exec sleep 30"#,
    );
    let mut run = fx.run(AgentKind::Codex);
    run.timeout = Duration::from_millis(800);
    let result = fx.go(&run).await;
    assert!(!result.ok);
    assert_eq!(
        result.failure.as_deref(),
        Some("timed out after 800ms; its last error: Reconnecting... 2/5 (error sending request for url)")
    );
}

#[tokio::test]
async fn aider_exit_zero_succeeds_with_files_on_its_command_line() {
    let fx = Fixture::new();
    fx.agent(AgentKind::Aider, "echo 'Applied edit to train.py'\necho 'Tokens: 2k sent, 300 received.'");
    let run = fx.run(AgentKind::Aider);
    let result = fx.go(&run).await;
    assert!(result.ok, "{result:?}");
    assert_eq!(result.summary, "Applied edit to train.py\nTokens: 2k sent, 300 received.");
    let argv = fx.argv();
    assert_eq!(&argv[..2], strings(&["--message", run.prompt.as_str()]));
    assert_eq!(&argv[argv.len() - 2..], strings(&["train.py", "model dir/net.py"]));
    assert!(argv.contains(&"--no-gitignore".to_string()), "{argv:?}");
}

#[tokio::test]
async fn aider_exit_one_fails() {
    let fx = Fixture::new();
    fx.agent(AgentKind::Aider, "echo 'Model error' >&2\nexit 1");
    let result = fx.go(&fx.run(AgentKind::Aider)).await;
    assert!(!result.ok);
    assert_eq!(result.failure.as_deref(), Some("aider exited with code 1: Model error"));
}

#[tokio::test]
async fn aider_exit_zero_without_a_model_reply_fails() {
    let fx = Fixture::new();
    fx.agent(
        AgentKind::Aider,
        "echo 'litellm.AuthenticationError: AnthropicException - invalid x-api-key'\necho 'Retrying in 0.5 seconds...'",
    );
    let result = fx.go(&fx.run(AgentKind::Aider)).await;
    assert!(!result.ok);
    assert_eq!(
        result.failure.as_deref(),
        Some("aider got no reply from its model: litellm.AuthenticationError: AnthropicException - invalid x-api-key")
    );
}

/// The rule: on timeout nothing the agent started survives, even what ignores SIGTERM.
#[tokio::test]
async fn hanging_agent_times_out_and_its_whole_group_dies() {
    let fx = Fixture::new();
    fx.agent(
        AgentKind::ClaudeCode,
        r#"trap '' TERM
sh -c 'while :; do sleep 1; done' &
echo $! > "$STANDIN_DIR/grandchild.pid"
echo $$ > "$STANDIN_DIR/agent.pid"
while :; do sleep 1; done"#,
    );
    let mut run = fx.run(AgentKind::ClaudeCode);
    run.timeout = Duration::from_secs(2);
    let result = fx.go(&run).await;
    assert!(!result.ok);
    assert_eq!(result.failure.as_deref(), Some("timed out after 2s"));
    assert_eq!(result.exit_code, None);
    // Both ignore SIGTERM, so only the SIGKILL after the grace period ended them.
    assert!(result.duration >= run.timeout + GRACE, "{:?}", result.duration);

    let agent = read_pid(&fx.record.join("agent.pid")).await;
    let grandchild = read_pid(&fx.record.join("grandchild.pid")).await;
    // `run` only returns once the group is gone; no polling needed.
    assert!(!group_alive(agent), "the agent's process group survived");
    assert!(process_gone(agent));
    assert!(process_gone(grandchild));
}

#[tokio::test]
async fn background_jobs_do_not_outlive_a_finished_agent() {
    let fx = Fixture::new();
    // The background sleep holds stdout open too: `run` must not wait for it.
    fx.agent(
        AgentKind::ClaudeCode,
        r#"sleep 300 &
echo $! > "$STANDIN_DIR/background.pid"
echo '{"type":"result","subtype":"success","result":"done"}'"#,
    );
    let started = tokio::time::Instant::now();
    let result = fx.go(&fx.run(AgentKind::ClaudeCode)).await;
    assert!(result.ok, "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(30));
    let background = read_pid(&fx.record.join("background.pid")).await;
    assert!(process_gone(background));
}

#[tokio::test]
async fn abandoning_a_run_kills_its_group() {
    let fx = Fixture::new();
    fx.agent(AgentKind::ClaudeCode, "echo $$ > \"$STANDIN_DIR/agent.pid\"\nwhile :; do sleep 1; done");
    let run = fx.run(AgentKind::ClaudeCode);
    let pid_file = fx.record.join("agent.pid");
    {
        let handoff = fx.go(&run);
        tokio::pin!(handoff);
        tokio::select! {
            result = &mut handoff => panic!("the agent should still be running: {result:?}"),
            _ = read_pid(&pid_file) => {}
        }
    }
    let agent = read_pid(&pid_file).await;
    eventually("abandoned agent killed", || !group_alive(agent)).await;
}

#[tokio::test]
async fn missing_agent_is_a_failure_not_a_panic() {
    let fx = Fixture::new();
    let mut run = fx.run(AgentKind::Codex);
    run.path_var = Some(path_of(&[&fx.bin]));
    let result = fx.go(&run).await;
    assert!(!result.ok);
    assert_eq!(result.failure.as_deref(), Some("codex not found on PATH"));
    assert_eq!(result.exit_code, None);
}

#[tokio::test]
async fn unusable_log_path_stops_before_the_agent_runs() {
    let fx = Fixture::new();
    fx.agent(AgentKind::ClaudeCode, "touch \"$STANDIN_DIR/ran\"");
    let mut run = fx.run(AgentKind::ClaudeCode);
    run.log_path = fx.worktree.clone();
    let result = fx.go(&run).await;
    assert!(!result.ok);
    assert!(result.failure.unwrap_or_default().starts_with("cannot open the agent log"));
    assert!(!fx.record.join("ran").exists());
}
