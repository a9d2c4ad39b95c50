//! The real coding-agent CLIs (Claude Code, codex, aider) as tests/tools/install-agents.sh
//! installs them: where they are (`$REVIS_AGENT_TOOLS`, default `~/.cache/revis/agent-tools`),
//! the command lines Revis runs them with, pointed at a loopback model
//! ([`crate::fakes::agent_model::AgentModel`]), and a runner that bounds a run and kills the
//! CLI's whole process group when the deadline passes or the test unwinds.
//!
//! Must not: let a CLI see the user's home, keys or config (each run gets an empty environment
//! plus PATH and a temp HOME), reach the network, or leave a process behind.

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::cli::Running;

/// The pinned CLIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentCli {
    Claude,
    Codex,
    Aider,
}

impl AgentCli {
    pub fn name(self) -> &'static str {
        match self {
            AgentCli::Claude => "claude",
            AgentCli::Codex => "codex",
            AgentCli::Aider => "aider",
        }
    }

    /// The executable under the tools prefix.
    fn relative_path(self) -> &'static str {
        match self {
            AgentCli::Claude => "npm/node_modules/.bin/claude",
            AgentCli::Codex => "npm/node_modules/.bin/codex",
            AgentCli::Aider => "aider/bin/aider",
        }
    }
}

/// The codex setting that keeps it from syncing plugins over the network at start.
pub const CODEX_NO_PLUGINS: &str = "features.plugins=false";

/// `$REVIS_AGENT_TOOLS`, else `~/.cache/revis/agent-tools`.
pub fn tools_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("REVIS_AGENT_TOOLS").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/root"));
    home.join(".cache/revis/agent-tools")
}

/// The CLI's executable; panics naming the installer when it is missing (a test that needs a
/// real agent must fail, not pass silently, on a machine without one).
pub fn cli_path(cli: AgentCli) -> PathBuf {
    let path = tools_dir().join(cli.relative_path());
    assert!(
        path.exists(),
        "the real `{}` CLI is not installed at {} — run tests/tools/install-agents.sh \
         (it installs the pinned Claude Code, codex and aider under $REVIS_AGENT_TOOLS, \
         default ~/.cache/revis/agent-tools)",
        cli.name(),
        path.display()
    );
    path
}

/// A command with an empty environment except PATH, a UTF-8 locale, `HOME` = `home` and the
/// given variables, run in `dir` with stdin closed (codex otherwise waits to read a prompt
/// from it).
pub fn hermetic_command(program: &Path, dir: &Path, home: &Path, env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(dir).env_clear().stdin(Stdio::null()).env("HOME", home).env("LANG", "C.UTF-8");
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Claude Code headless, as Revis runs it; `base_url` is `ANTHROPIC_BASE_URL`
/// (`http://127.0.0.1:P`). `CLAUDE_CODE_MAX_RETRIES` bounds its retries (default 10 with
/// backoff up to ~32 s: minutes on a 401 or a dead endpoint).
pub fn claude_command(dir: &Path, home: &Path, base_url: &str, key: &str, prompt: &str, max_retries: u32) -> Command {
    let retries = max_retries.to_string();
    let env = [
        ("ANTHROPIC_API_KEY", key),
        ("ANTHROPIC_BASE_URL", base_url),
        ("DISABLE_TELEMETRY", "1"),
        ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1"),
        ("DISABLE_AUTOUPDATER", "1"),
        ("DISABLE_ERROR_REPORTING", "1"),
        ("CLAUDE_CODE_MAX_RETRIES", retries.as_str()),
    ];
    let mut cmd = hermetic_command(&cli_path(AgentCli::Claude), dir, home, &env);
    cmd.args(["-p", prompt, "--output-format", "json", "--max-turns", "10", "--permission-mode", "acceptEdits"])
        .args(["--model", "claude-sonnet-4-5"]);
    cmd
}

/// `codex exec` as Revis runs it (model `gpt-5-codex`), with a `revis` provider at `base_url`
/// (`http://127.0.0.1:P/v1`) whose key is read from `CODEX_API_KEY`; `CODEX_HOME` is
/// `home/.codex`. More `-c` overrides can follow (e.g. `model_providers.revis.stream_max_retries=0`).
pub fn codex_command(dir: &Path, home: &Path, base_url: &str, key: &str, prompt: &str) -> Command {
    codex_command_for_model(dir, home, base_url, key, prompt, "gpt-5-codex")
}

/// [`codex_command`] with another `-m` model: the tools codex offers depend on it (a model in
/// its catalogue, e.g. `gpt-5.5`, gets a freeform `apply_patch` tool; an unknown one only
/// `exec_command`).
pub fn codex_command_for_model(
    dir: &Path,
    home: &Path,
    base_url: &str,
    key: &str,
    prompt: &str,
    model: &str,
) -> Command {
    let codex_home = home.join(".codex");
    let _ = std::fs::create_dir_all(&codex_home);
    let codex_home = codex_home.to_string_lossy().into_owned();
    let env = [("CODEX_API_KEY", key), ("CODEX_HOME", codex_home.as_str())];
    let mut cmd = hermetic_command(&cli_path(AgentCli::Codex), dir, home, &env);
    let provider = format!(
        "model_providers.revis={{name=\"revis\",base_url=\"{base_url}\",env_key=\"CODEX_API_KEY\",wire_api=\"responses\"}}"
    );
    cmd.args(["exec", prompt, "--json", "--sandbox", "workspace-write", "--skip-git-repo-check", "-m", model]).args([
        "-c",
        "model_provider=\"revis\"",
        "-c",
        &provider,
        // Otherwise codex syncs plugins from github.com and chatgpt.com at start: tests reach
        // nothing but loopback.
        "-c",
        CODEX_NO_PLUGINS,
    ]);
    cmd
}

/// aider in one-shot mode on `files`, with litellm's model name `model` (`openai/gpt-4.1`,
/// `anthropic/claude-sonnet-4-5`) pointed at `base_url`: `--openai-api-base` for OpenAI
/// (`http://127.0.0.1:P/v1`), the `ANTHROPIC_API_BASE` variable for Anthropic
/// (`http://127.0.0.1:P`; aider has no flag for it, litellm appends `/v1/messages`).
/// aider's model-info cache in `home` is seeded from litellm's bundled price list so it does
/// not try to download it (see [`seed_aider_model_info`]).
pub fn aider_command(
    dir: &Path,
    home: &Path,
    model: &str,
    base_url: &str,
    key: &str,
    prompt: &str,
    files: &[&str],
) -> Command {
    seed_aider_model_info(home);
    let anthropic = model.starts_with("anthropic/");
    let mut env = vec![("LITELLM_LOCAL_MODEL_COST_MAP", "True")];
    if anthropic {
        env.extend([("ANTHROPIC_API_KEY", key), ("ANTHROPIC_API_BASE", base_url)]);
    } else {
        env.push(("OPENAI_API_KEY", key));
    }
    let mut cmd = hermetic_command(&cli_path(AgentCli::Aider), dir, home, &env);
    cmd.args(["--message", prompt, "--yes-always", "--no-auto-commits", "--no-stream", "--no-gitignore"]).args([
        "--no-check-update",
        "--no-show-release-notes",
        "--analytics-disable",
        "--model",
        model,
    ]);
    if !anthropic {
        cmd.args(["--openai-api-base", base_url]);
    }
    cmd.args(files);
    cmd
}

/// aider downloads litellm's model price list from raw.githubusercontent.com into
/// `~/.aider/caches/` at start when that cache is missing, empty or older than a day (and
/// prints the error when it cannot); an empty `{}` it writes on failure is retried on every
/// run. A fresh copy of the list litellm bundles stops that.
pub fn seed_aider_model_info(home: &Path) {
    let caches = home.join(".aider/caches");
    let target = caches.join("model_prices_and_context_window.json");
    if target.exists() {
        return;
    }
    let lib = tools_dir().join("aider/lib");
    let bundled = std::fs::read_dir(&lib)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("site-packages/litellm/model_prices_and_context_window_backup.json"))
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!(
                "litellm's bundled price list is missing under {}: reinstall with tests/tools/install-agents.sh",
                lib.display()
            )
        });
    std::fs::create_dir_all(&caches).unwrap_or_else(|e| panic!("cannot create {}: {e}", caches.display()));
    std::fs::copy(&bundled, &target).unwrap_or_else(|e| panic!("cannot copy {}: {e}", bundled.display()));
}

/// A finished (or stopped) CLI run.
#[derive(Debug)]
pub struct AgentRun {
    pub output: Output,
    pub elapsed: Duration,
    /// True when the deadline passed and the run was killed.
    pub timed_out: bool,
}

impl AgentRun {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    pub fn code(&self) -> Option<i32> {
        self.output.status.code()
    }

    /// Exit code, duration, stdout and stderr, for assertion messages.
    pub fn describe(&self) -> String {
        let how = if self.timed_out { "killed at the deadline" } else { "exited" };
        format!(
            "{how}: exit {:?} after {:?}\nstdout:\n{}\nstderr:\n{}",
            self.code(),
            self.elapsed,
            self.stdout(),
            self.stderr()
        )
    }
}

/// Kills a process group when dropped: whatever the CLI started (shells, sandboxes, language
/// servers) goes with it.
struct GroupGuard(i32);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        let _ = killpg(Pid::from_raw(self.0), Signal::SIGKILL);
    }
}

/// Runs `cmd` in its own process group for at most `timeout`; at the deadline the group is
/// killed and the run returned with `timed_out`. The group is killed once the CLI exits too,
/// so nothing it started outlives the run.
pub fn run_agent_for(mut cmd: Command, what: &str, timeout: Duration) -> AgentRun {
    cmd.process_group(0);
    let started = Instant::now();
    let mut running = Running::spawn(cmd, what);
    let pgid = running.pid().and_then(|p| i32::try_from(p).ok()).unwrap_or_else(|| panic!("{what}: no pid"));
    let guard = GroupGuard(pgid);
    let timed_out = running.try_wait_for(timeout).is_none();
    let elapsed = started.elapsed();
    drop(guard);
    let output = running.wait(Duration::from_secs(10));
    AgentRun { output, elapsed, timed_out }
}

/// Like [`run_agent_for`], but a run still going at the deadline is a failure.
pub fn run_agent(cmd: Command, what: &str, timeout: Duration) -> AgentRun {
    let run = run_agent_for(cmd, what, timeout);
    assert!(
        !run.timed_out,
        "{what} did not finish within {timeout:?}; its process group was killed\n{}",
        run.describe()
    );
    run
}

pub use crate::wait::closed_port;
