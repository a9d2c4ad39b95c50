//! Stand-in coding agents for handoff tests: `claude`, `codex` and `aider` executables (one
//! Python script each) placed in a temp bin dir that the test puts first on PATH for the command
//! that starts the daemon. Each parses its command line like the real CLI (unknown options and
//! missing values are errors with the CLI's exit code), records what it received (argv, cwd,
//! prompt, files, pid and process group, stdin, which provider variables it saw) as one JSON line
//! in the control dir, edits or creates files as the test's script says, then answers in the
//! real CLI's output format: a success, an error the way that CLI reports it, or a hang.
//!
//! Must not: depend on the rest of the harness (it is also included by `#[path]` from test
//! files), reach the network, or leave a process behind: `Outcome::Hang` is for the daemon to
//! kill, and whatever it left is killed when the `StandIns` is dropped.
//!
//! The script is a list of steps: the n-th invocation (counting every agent) plays step n, and
//! the last step repeats once the list is used up.

use serde_json::{Value, json};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Which stand-in to install.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agent {
    Claude,
    Codex,
    Aider,
}

impl Agent {
    pub fn program(self) -> &'static str {
        match self {
            Agent::Claude => "claude",
            Agent::Codex => "codex",
            Agent::Aider => "aider",
        }
    }
}

/// What a stand-in does to the working tree before it answers.
#[derive(Debug, Clone)]
pub enum Edit {
    /// Creates or replaces a file (parent directories created).
    Write {
        path: String,
        text: String,
    },
    /// Appends to a file (created when missing).
    Append {
        path: String,
        text: String,
    },
    Delete {
        path: String,
    },
}

impl Edit {
    pub fn write(path: &str, text: &str) -> Self {
        Edit::Write { path: path.into(), text: text.into() }
    }

    pub fn append(path: &str, text: &str) -> Self {
        Edit::Append { path: path.into(), text: text.into() }
    }

    pub fn delete(path: &str) -> Self {
        Edit::Delete { path: path.into() }
    }

    fn to_json(&self) -> Value {
        match self {
            Edit::Write { path, text } => json!({"op": "write", "path": path, "text": text}),
            Edit::Append { path, text } => json!({"op": "append", "path": path, "text": text}),
            Edit::Delete { path } => json!({"op": "delete", "path": path}),
        }
    }
}

/// How a stand-in answers, in its own CLI's format.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// claude: `subtype: success`; codex: `turn.completed`; aider: exit 0.
    Success,
    /// claude only: `subtype: success, is_error: true` with this `result`, exit 0.
    IsError(String),
    /// claude only: `subtype: error_max_turns` (no `result`, `is_error: false` as some versions
    /// print it), exit 0: only the subtype says it failed.
    MaxTurns,
    /// Prints this message on stderr and exits with the code (stdout empty).
    Exit(i32, String),
    /// codex only: `turn.failed` with this message, exit 0.
    TurnFailed(String),
    /// Prints text that is not the CLI's format, exit 0.
    Garbage,
    /// Starts a child that ignores SIGTERM, writes both pids to `hang-pids` in the control dir,
    /// then sleeps forever.
    Hang,
}

/// One invocation's behaviour.
#[derive(Debug, Clone)]
pub struct Step {
    pub outcome: Outcome,
    pub edits: Vec<Edit>,
    /// claude `result`, codex's last agent message, aider's last line.
    pub summary: String,
    /// claude `total_cost_usd`.
    pub cost_usd: f64,
}

impl Step {
    pub fn new(outcome: Outcome) -> Self {
        Self { outcome, edits: Vec::new(), summary: "Done.".into(), cost_usd: 0.0125 }
    }

    pub fn success() -> Self {
        Self::new(Outcome::Success)
    }

    pub fn edit(mut self, edit: Edit) -> Self {
        self.edits.push(edit);
        self
    }

    pub fn summary(mut self, text: &str) -> Self {
        self.summary = text.into();
        self
    }

    pub fn cost(mut self, usd: f64) -> Self {
        self.cost_usd = usd;
        self
    }

    fn to_json(&self) -> Value {
        let (outcome, message, code) = match &self.outcome {
            Outcome::Success => ("success", String::new(), 0),
            Outcome::IsError(m) => ("is_error", m.clone(), 0),
            Outcome::MaxTurns => ("max_turns", String::new(), 0),
            Outcome::Exit(code, m) => ("exit", m.clone(), *code),
            Outcome::TurnFailed(m) => ("turn_failed", m.clone(), 0),
            Outcome::Garbage => ("garbage", String::new(), 0),
            Outcome::Hang => ("hang", String::new(), 0),
        };
        json!({
            "outcome": outcome,
            "message": message,
            "exit_code": code,
            "summary": self.summary,
            "cost_usd": self.cost_usd,
            "edits": self.edits.iter().map(Edit::to_json).collect::<Vec<_>>(),
        })
    }
}

/// One recorded invocation.
#[derive(Debug, Clone)]
pub struct Call {
    pub agent: String,
    /// Everything after the program name.
    pub argv: Vec<String>,
    pub cwd: String,
    /// The prompt as the CLI would take it (claude/codex positional, aider `--message`).
    pub prompt: String,
    /// aider's positional files.
    pub files: Vec<String>,
    /// Problems the real CLI would reject (it exited with an error).
    pub violations: Vec<String>,
    pub pid: i64,
    pub pgid: i64,
    /// Where fd 0 pointed (`/dev/null` expected).
    pub stdin: String,
    /// Names of the provider variables present (ANTHROPIC_*, OPENAI_*, GEMINI_*, ...).
    pub provider_vars: Vec<String>,
    /// The whole record, for messages.
    pub raw: Value,
}

/// Installed stand-ins and their control files.
pub struct StandIns {
    bin: PathBuf,
    ctl: PathBuf,
}

impl StandIns {
    /// Writes the stand-ins for `agents` to `scratch/bin` (created); they record into and read
    /// their script from `ctl`. Until [`StandIns::script`] is called every invocation succeeds
    /// without editing anything.
    pub fn install(scratch: &Path, ctl: &Path, agents: &[Agent]) -> Self {
        let bin = scratch.join("bin");
        std::fs::create_dir_all(&bin).unwrap_or_else(|e| panic!("cannot create {}: {e}", bin.display()));
        for agent in agents {
            let path = bin.join(agent.program());
            let text = STAND_IN
                .replace("@AGENT@", agent.program())
                .replace("@CTL@", &ctl.display().to_string().replace('\\', "\\\\").replace('"', "\\\""));
            std::fs::write(&path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                .unwrap_or_else(|e| panic!("cannot chmod {}: {e}", path.display()));
        }
        Self { bin, ctl: ctl.to_path_buf() }
    }

    pub fn bin(&self) -> &Path {
        &self.bin
    }

    /// `("PATH", "<bin>:<the test's PATH>")`, for the command that starts the daemon.
    pub fn path_env(&self) -> (String, String) {
        let rest = std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into());
        ("PATH".into(), format!("{}:{rest}", self.bin.display()))
    }

    /// Sets the steps the next invocations play (see the module comment).
    pub fn script(&self, steps: &[Step]) {
        let value = Value::Array(steps.iter().map(Step::to_json).collect());
        let path = self.ctl.join("agent-behaviour.json");
        let tmp = self.ctl.join("agent-behaviour.json.tmp");
        std::fs::write(&tmp, value.to_string()).unwrap_or_else(|e| panic!("cannot write {}: {e}", tmp.display()));
        std::fs::rename(&tmp, &path).unwrap_or_else(|e| panic!("cannot rename to {}: {e}", path.display()));
    }

    /// Every invocation so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        let text = std::fs::read_to_string(self.ctl.join("agent-calls.jsonl")).unwrap_or_default();
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .filter_map(|l| serde_json::from_str(l).ok())
            .map(call_of)
            .collect()
    }

    /// (stand-in pid, TERM-ignoring child pid) written by [`Outcome::Hang`].
    pub fn hang_pids(&self) -> Option<(i32, i32)> {
        let text = std::fs::read_to_string(self.ctl.join("hang-pids")).ok()?;
        let mut it = text.split_whitespace().filter_map(|w| w.parse().ok());
        Some((it.next()?, it.next()?))
    }
}

/// A hanging stand-in the daemon failed to kill must not outlive the test: its pids (from
/// `hang-pids`) are SIGKILLed, after checking they still run the stand-in's commands.
impl Drop for StandIns {
    fn drop(&mut self) {
        let Some((agent, child)) = self.hang_pids() else { return };
        for pid in [agent, child] {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let text = String::from_utf8_lossy(&cmdline);
            if text.contains(&self.bin.display().to_string()) || text.contains("trap '' TERM") {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            }
        }
    }
}

fn call_of(raw: Value) -> Call {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array().into_iter().flatten().filter_map(|s| s.as_str().map(str::to_string)).collect()
    };
    let text = |key: &str| raw[key].as_str().unwrap_or_default().to_string();
    Call {
        agent: text("agent"),
        argv: strings(&raw["argv"]),
        cwd: text("cwd"),
        prompt: text("prompt"),
        files: strings(&raw["files"]),
        violations: strings(&raw["violations"]),
        pid: raw["pid"].as_i64().unwrap_or(0),
        pgid: raw["pgid"].as_i64().unwrap_or(0),
        stdin: text("stdin"),
        provider_vars: strings(&raw["provider_vars"]),
        raw,
    }
}

/// The stand-in. `@AGENT@` and `@CTL@` are replaced at install time.
const STAND_IN: &str = r#"#!/usr/bin/env python3
import json, os, signal, subprocess, sys, time, uuid

AGENT = "@AGENT@"
CTL = "@CTL@"
CALLS = os.path.join(CTL, "agent-calls.jsonl")
SCRIPT = os.path.join(CTL, "agent-behaviour.json")
PROVIDER_PREFIXES = ("ANTHROPIC_", "OPENAI_", "CODEX_", "GEMINI_", "GOOGLE_API", "AZURE_OPENAI", "MISTRAL_", "GROQ_", "DEEPSEEK_", "OPENROUTER_", "WANDB_API_KEY", "GITHUB_TOKEN", "GH_TOKEN")


def parse(args, flags, valued, short_valued=()):
    """Options like the real CLI: flags, options taking a value (`--x v` or `--x=v`), positionals."""
    opts, seen, pos, bad = {}, set(), [], []
    i = 0
    while i < len(args):
        a = args[i]
        name, eq, val = a.partition("=") if a.startswith("--") else (a, "", "")
        if a in flags:
            seen.add(a)
        elif name in valued or name in short_valued:
            if eq:
                opts[name] = val
            elif i + 1 < len(args):
                opts[name] = args[i + 1]
                i += 1
            else:
                bad.append(f"option {name} needs a value")
        elif a.startswith("-") and a != "-":
            bad.append(f"unknown option {a}")
        else:
            pos.append(a)
        i += 1
    return opts, seen, pos, bad


def parse_claude(args):
    flags = {"-p", "--print", "--verbose", "--dangerously-skip-permissions", "-c", "--continue", "--debug"}
    valued = {"--output-format", "--max-turns", "--permission-mode", "--allowedTools", "--allowed-tools",
              "--disallowedTools", "--disallowed-tools", "--append-system-prompt", "--system-prompt", "--model",
              "--fallback-model", "--max-budget-usd", "--input-format", "--add-dir", "--mcp-config", "--settings",
              "--session-id", "--resume"}
    opts, seen, pos, bad = parse(args, flags, valued)
    if not ({"-p", "--print"} & seen):
        bad.append("not in print mode (-p): the interactive UI would start")
    fmt = opts.get("--output-format", "text")
    if fmt not in ("text", "json", "stream-json"):
        bad.append(f"invalid --output-format {fmt}")
    if "--max-turns" in opts:
        try:
            if int(opts["--max-turns"]) < 1:
                bad.append("--max-turns must be positive")
        except ValueError:
            bad.append(f"invalid --max-turns {opts['--max-turns']}")
    mode = opts.get("--permission-mode")
    if mode is not None and mode not in ("acceptEdits", "bypassPermissions", "default", "plan"):
        bad.append(f"invalid --permission-mode {mode}")
    if len(pos) != 1:
        bad.append(f"expected one prompt argument, got {len(pos)}")
    return opts, seen, pos, bad


def parse_codex(args):
    bad = []
    if not args or args[0] not in ("exec", "e"):
        return {}, set(), [], ["expected the exec subcommand"]
    flags = {"--json", "--skip-git-repo-check", "--full-auto", "--oss", "--dangerously-bypass-approvals-and-sandbox"}
    valued = {"--sandbox", "--model", "--cd", "--color", "--config", "--output-last-message", "--profile", "--image"}
    short = {"-s", "-m", "-C", "-c", "-o", "-p", "-i"}
    opts, seen, pos, bad = parse(args[1:], flags, valued, short)
    sandbox = opts.get("--sandbox", opts.get("-s"))
    if sandbox is not None and sandbox not in ("read-only", "workspace-write", "danger-full-access"):
        bad.append(f"invalid --sandbox {sandbox}")
    if len(pos) != 1:
        bad.append(f"expected one prompt argument, got {len(pos)}")
    elif "--skip-git-repo-check" not in seen:
        inside = subprocess.run(["git", "rev-parse", "--is-inside-work-tree"], capture_output=True, text=True)
        if inside.stdout.strip() != "true":
            bad.append("Not inside a trusted directory and --skip-git-repo-check was not specified.")
    return opts, seen, pos, bad


def parse_aider(args):
    flags = {"--yes-always", "--yes", "--no-auto-commits", "--auto-commits", "--no-stream", "--stream", "--no-git",
             "--no-pretty", "--no-check-update", "--no-analytics", "--no-show-model-warnings", "--no-gitignore",
             "--dirty-commits", "--no-dirty-commits", "--no-show-release-notes", "--analytics-disable", "--no-analytics",
             "--no-restore-chat-history"}
    valued = {"--message", "--msg", "--message-file", "--model", "--edit-format", "--read", "--file",
              "--chat-history-file", "--input-history-file", "--openai-api-base"}
    opts, seen, pos, bad = parse(args, flags, valued, {"-m", "-f"})
    if not any(k in opts for k in ("--message", "--msg", "-m", "--message-file", "-f")):
        bad.append("no --message: aider would start an interactive chat")
    return opts, seen, pos, bad


def stdin_target():
    try:
        return os.readlink("/proc/self/fd/0")
    except OSError as e:
        return f"closed ({e.strerror})"


def record(entry):
    with open(CALLS, "a") as f:
        f.write(json.dumps(entry) + "\n")


def previous_calls():
    try:
        with open(CALLS) as f:
            return sum(1 for line in f if line.strip())
    except FileNotFoundError:
        return 0


def step_for(n):
    try:
        with open(SCRIPT) as f:
            steps = json.load(f)
    except FileNotFoundError:
        steps = []
    if not steps:
        return {"outcome": "success", "edits": [], "summary": "Nothing to do.", "cost_usd": 0.0, "message": "", "exit_code": 0}
    return steps[min(n, len(steps) - 1)]


def apply(edits):
    for e in edits:
        path = e["path"]
        if e["op"] == "delete":
            if os.path.exists(path):
                os.remove(path)
            continue
        parent = os.path.dirname(path)
        if parent:
            os.makedirs(parent, exist_ok=True)
        with open(path, "w" if e["op"] == "write" else "a") as f:
            f.write(e["text"])


def hang():
    child = subprocess.Popen(["sh", "-c", "trap '' TERM; while :; do sleep 0.2; done"])
    tmp = os.path.join(CTL, "hang-pids.tmp")
    with open(tmp, "w") as f:
        f.write(f"{os.getpid()} {child.pid}\n")
    os.replace(tmp, os.path.join(CTL, "hang-pids"))
    while True:
        time.sleep(0.2)


def main():
    args = sys.argv[1:]
    parser = {"claude": parse_claude, "codex": parse_codex, "aider": parse_aider}[AGENT]
    opts, seen, pos, bad = parser(args)
    if AGENT == "aider":
        prompt = opts.get("--message", opts.get("--msg", opts.get("-m", "")))
        files = pos
    else:
        prompt = pos[0] if pos else ""
        files = []
    n = previous_calls()
    record({
        "agent": AGENT, "argv": args, "cwd": os.getcwd(), "prompt": prompt, "files": files,
        "violations": bad, "pid": os.getpid(), "pgid": os.getpgid(0), "stdin": stdin_target(),
        "provider_vars": sorted(k for k in os.environ if k.startswith(PROVIDER_PREFIXES)),
    })
    if bad:
        sys.stderr.write("error: " + "; ".join(bad) + "\n")
        sys.exit(2 if AGENT == "aider" else 1)

    step = step_for(n)
    apply(step.get("edits", []))
    outcome, summary, cost = step["outcome"], step.get("summary", ""), step.get("cost_usd", 0.0)
    message, code = step.get("message", ""), step.get("exit_code", 0)
    if outcome == "hang":
        hang()
    if outcome == "exit":
        sys.stderr.write(message + "\n")
        sys.exit(code)
    if outcome == "garbage":
        print("Welcome! Something went sideways and this is not JSON.")
        sys.exit(0)

    if AGENT == "claude":
        usage = {"input_tokens": 1200, "cache_creation_input_tokens": 300, "cache_read_input_tokens": 4000,
                 "output_tokens": 450, "server_tool_use": {"web_search_requests": 0}, "service_tier": "standard"}
        result = {"type": "result", "subtype": "success", "is_error": False, "duration_ms": 2345,
                  "duration_api_ms": 2100, "num_turns": 4, "result": summary, "session_id": str(uuid.uuid4()),
                  "total_cost_usd": cost, "usage": usage, "permission_denials": [], "uuid": str(uuid.uuid4())}
        if outcome == "is_error":
            result["is_error"] = True
            result["result"] = message
        elif outcome == "max_turns":
            result["subtype"] = "error_max_turns"
            result["num_turns"] = int(opts.get("--max-turns", "10")) + 1
            del result["result"]
        if opts.get("--output-format") == "json":
            print(json.dumps(result))
        else:
            print(result.get("result", ""))
        sys.exit(0)

    if AGENT == "codex":
        if "--json" not in seen:
            print("[2025-01-01T00:00:00] OpenAI Codex v0.46.0\n" + summary)
            sys.exit(0)
        thread = str(uuid.uuid4())
        events = [{"type": "thread.started", "thread_id": thread}, {"type": "turn.started"},
                  {"type": "item.completed", "item": {"id": "item_0", "type": "reasoning", "text": "**Looking at the files**"}}]
        if outcome == "turn_failed":
            events += [{"type": "error", "message": message},
                       {"type": "turn.failed", "error": {"message": message}}]
        else:
            changes = [{"path": os.path.abspath(e["path"]), "kind": "add" if e["op"] == "write" else "update"}
                       for e in step.get("edits", [])]
            if changes:
                events.append({"type": "item.completed", "item": {"id": "item_1", "type": "file_change",
                                                                 "changes": changes, "status": "completed"}})
            events += [{"type": "item.completed", "item": {"id": "item_2", "type": "agent_message", "text": summary}},
                       {"type": "turn.completed", "usage": {"input_tokens": 5321, "cached_input_tokens": 4096,
                                                            "output_tokens": 777}}]
        for e in events:
            print(json.dumps(e), flush=True)
        sys.exit(0)

    # aider
    print("Aider v0.86.1\nMain model: anthropic/claude-sonnet-4-5 with diff edit format\nGit repo: .git")
    # aider prints a tokens line (with the cost when it knows the price) for each model reply.
    print(f"Tokens: 2.3k sent, 450 received. Cost: ${cost:.4f} message, ${cost:.4f} session.")
    for e in step.get("edits", []):
        print(f"Applied edit to {e['path']}")
    print(summary)
    sys.exit(0)


main()
"#;
