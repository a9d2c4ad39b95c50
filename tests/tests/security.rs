//! The security suite: what keeps one user's Revis away from other users, and the user's
//! secrets away from places they would outlive the session or reach the model.
//!
//! - Another uid is refused: by the 0700 home first, by the daemon's peer check when the
//!   permissions were loosened by mistake (needs root to switch uid; CI runs as root).
//! - The home, socket, database files, log and pid file are private even under `umask 000`.
//! - After a full session (LLM advisor, a coding-agent handoff, config changes) no token is in
//!   any file under REVIS_HOME, any process's command line (sampled all along), the tmux panes'
//!   command lines, the model's requests, or (for the keys `revis loop` forwards) the daemon's,
//!   the tmux server's and the training's environments.
//! - Symlinks committed in the project that lead out of the worktree (or into a hidden file)
//!   are never followed by the LLM tools or the config editor.

#[allow(dead_code)]
#[path = "../src/agents.rs"]
mod agents;
#[path = "../src/handoff_support.rs"]
mod support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use agents::{Agent, Edit, Step};
use revis_tests::cli::{Running, describe, scrub_env};
use revis_tests::fakes::{FakeLlm, Reply, change, config_edit, submit, tool_call};
use revis_tests::fixtures::{CONFIG_JSON, standard_project, standard_yaml, train_py};
use revis_tests::llm::{Checks, env_of, fake_key};
use revis_tests::process::pid_alive;
use revis_tests::scan::{
    CommandLineSampler, command_line, command_lines_containing, environ_contains, files_containing, pids,
    tmux_pane_commands,
};
use revis_tests::session::{iteration, pretty, state, stop_reason};
use revis_tests::{Project, TestEnv, TestHome};
use serde_json::{Value, json};
use support::{Spec, World, code_decision};

/// The uid and gid of `nobody` on Debian and Ubuntu: a user that owns nothing of the test's.
const NOBODY: u32 = 65534;

fn mode(path: &Path) -> Option<u32> {
    std::fs::symlink_metadata(path).ok().map(|m| m.permissions().mode() & 0o7777)
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("cannot chmod {:o} {}: {e}", mode, path.display()));
}

fn symlink(target: &Path, link: &Path) {
    std::os::unix::fs::symlink(target, link)
        .unwrap_or_else(|e| panic!("cannot link {} -> {}: {e}", link.display(), target.display()));
}

/// Every path under `root` (recursively, links not followed), sorted, for before/after checks.
fn tree(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(path.clone());
            }
            out.push(path);
        }
    }
    out.sort();
    out
}

// ---------------------------------------------------------------------------------------------
// Another uid
// ---------------------------------------------------------------------------------------------

/// What running as `nobody` needs: the CLI (and the revisd it could try to start) copied where
/// nobody can execute them (target/ may not be traversable), and a HOME and TMPDIR of its own.
struct Nobody {
    dir: tempfile::TempDir,
}

impl Nobody {
    /// None (after saying why) when the test cannot switch uid: not root, or no setpriv.
    fn new() -> Option<Self> {
        if !nix::unistd::Uid::effective().is_root() {
            eprintln!("skipping: switching to uid {NOBODY} needs root (CI runs this suite as root)");
            return None;
        }
        let probe = Command::new("setpriv").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status();
        assert!(
            probe.is_ok_and(|s| s.success()),
            "setpriv (util-linux) is needed to run the CLI as another uid: apt-get install util-linux"
        );
        let dir = tempfile::Builder::new()
            .prefix("rvs-nobody-")
            .tempdir_in("/tmp")
            .unwrap_or_else(|e| panic!("cannot create a temp dir: {e}"));
        chmod(dir.path(), 0o755);
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap_or_else(|e| panic!("cannot create {}: {e}", bin.display()));
        chmod(&bin, 0o755);
        for (from, name) in [(revis_tests::revis_bin(), "revis"), (revis_tests::revisd_bin(), "revisd")] {
            let to = bin.join(name);
            std::fs::copy(&from, &to).unwrap_or_else(|e| panic!("cannot copy {}: {e}", from.display()));
            chmod(&to, 0o755);
        }
        let home = dir.path().join("home");
        std::fs::create_dir(&home).unwrap_or_else(|e| panic!("cannot create {}: {e}", home.display()));
        std::os::unix::fs::chown(&home, Some(NOBODY), Some(NOBODY))
            .unwrap_or_else(|e| panic!("cannot give {} to nobody: {e}", home.display()));
        Some(Self { dir })
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// `revis args...` as uid/gid 65534 with no supplementary groups, aimed at `revis_home`, with
    /// an environment of its own (nothing of the test's).
    fn revis(&self, revis_home: &Path, args: &[&str]) -> Output {
        let mut cmd = Command::new("setpriv");
        cmd.arg(format!("--reuid={NOBODY}"))
            .arg(format!("--regid={NOBODY}"))
            .arg("--clear-groups")
            .arg("--")
            .arg(self.dir.path().join("bin/revis"))
            .args(args)
            .current_dir(self.home())
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", self.home())
            .env("TMPDIR", self.home())
            .env("REVIS_HOME", revis_home)
            .env("REVIS_TMUX_SOCKET", revis_home.join("tmux.sock"))
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        Running::spawn(cmd, &format!("revis {} (as nobody)", args.join(" "))).wait(revis_tests::COMMAND_DEADLINE)
    }

    /// Live processes running as nobody from the copied binaries: a daemon it started.
    fn daemons(&self) -> Vec<(i32, String)> {
        let bin = self.dir.path().join("bin");
        pids()
            .into_iter()
            .filter(|pid| std::fs::metadata(format!("/proc/{pid}")).is_ok_and(|m| m.uid() == NOBODY))
            .map(|pid| (pid, command_line(pid)))
            .filter(|(_, cmd)| cmd.contains(&bin.display().to_string()) || cmd.contains("revisd"))
            .collect()
    }
}

/// A daemon (started as the test's user) serving a home that holds one finished session.
fn served_home(session: &str) -> TestEnv {
    let env = TestEnv::new(standard_project(&[]));
    env.start_loop(session, &["--max-iterations", "1"]);
    env.wait_ended(session);
    // Only the home itself may stand between another user and the socket: its parent (the
    // test's temp dir, 0700 by default) is opened up.
    chmod(env.home.scratch(), 0o755);
    env
}

/// With the default permissions another user cannot even reach the socket (the home is 0700):
/// every command fails with a message naming the socket, and none starts a daemon of its own or
/// leaves a file in the home.
#[test]
fn another_uid_cannot_reach_the_socket_of_a_private_home() {
    let Some(nobody) = Nobody::new() else { return };
    let env = served_home("private-session");
    let daemon = env.home.daemon_pid();
    let before = tree(env.home.path());
    let mut c = Checks::new();
    c.check(mode(env.home.path()) == Some(0o700), || format!("home mode {:?}", mode(env.home.path())));

    for args in [&["list", "--all", "--json"][..], &["daemon", "start"], &["status"], &["show", "private-session"]] {
        let out = nobody.revis(env.home.path(), args);
        let stderr = String::from_utf8_lossy(&out.stderr).to_lowercase();
        let stdout = String::from_utf8_lossy(&out.stdout);
        c.check(!out.status.success(), || format!("revis {args:?} as nobody must fail: {}", describe(&out)));
        c.check(stderr.contains("revisd.sock") && stderr.contains("permission denied"), || {
            format!("revis {args:?} as nobody must say the socket is not reachable: {}", describe(&out))
        });
        c.check(!stdout.contains("private-session"), || {
            format!("revis {args:?} as nobody revealed the session: {}", describe(&out))
        });
    }
    c.check(nobody.daemons().is_empty(), || format!("nobody started a daemon: {:?}", nobody.daemons()));
    c.check(env.home.daemon_pid() == daemon && daemon.is_some_and(pid_alive), || {
        format!("the daemon must keep running: {daemon:?} -> {:?}", env.home.daemon_pid())
    });
    let after = tree(env.home.path());
    let new: Vec<&PathBuf> = after.iter().filter(|p| !before.contains(p)).collect();
    c.check(new.is_empty(), || format!("files appeared in the home: {new:?}"));
    c.finish(|| format!("daemon log:\n{}", env.home.daemon_log()));
}

/// When the home and the socket were opened up by mistake (0755 and 0666), the daemon itself
/// refuses every request from another uid (the peer check on SO_PEERCRED): nothing is listed
/// or shown, the daemon cannot be stopped, and no second daemon starts.
#[test]
fn another_uid_is_refused_by_the_daemon_when_the_permissions_are_loosened() {
    let Some(nobody) = Nobody::new() else { return };
    let env = served_home("loose-session");
    let daemon = env.home.daemon_pid();
    chmod(env.home.path(), 0o755);
    chmod(&env.home.socket(), 0o666);
    let mut c = Checks::new();

    let commands: [&[&str]; 4] =
        [&["list", "--all", "--json"], &["show", "loose-session", "--json"], &["status"], &["daemon", "stop"]];
    for args in commands {
        let out = nobody.revis(env.home.path(), args);
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        c.check(!out.status.success(), || format!("revis {args:?} as nobody must fail: {}", describe(&out)));
        c.check(text.contains("revisd serves only uid") && text.contains(&format!("uid {NOBODY}")), || {
            format!("revis {args:?} as nobody must carry the daemon's refusal: {}", describe(&out))
        });
        c.check(!String::from_utf8_lossy(&out.stdout).contains("loose-session"), || {
            format!("revis {args:?} as nobody revealed the session: {}", describe(&out))
        });
    }
    c.check(env.home.daemon_pid() == daemon && daemon.is_some_and(pid_alive), || {
        format!("nobody must not be able to stop the daemon: {daemon:?} -> {:?}", env.home.daemon_pid())
    });
    c.check(nobody.daemons().is_empty(), || format!("nobody started a daemon: {:?}", nobody.daemons()));
    let log = env.home.daemon_log();
    c.check(log.contains("refused a connection from another user"), || "the refusal must be logged".into());
    // The owner is still served.
    let listed = env.revis_ok(&["list", "--json"]);
    c.check(listed.contains("loose-session"), || format!("the owner must still be served: {listed}"));
    c.finish(|| format!("daemon log:\n{log}"));
}

// ---------------------------------------------------------------------------------------------
// Permissions
// ---------------------------------------------------------------------------------------------

/// The umask in /proc/PID/status (`Umask:\t0000`).
fn umask_of(pid: i32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("Umask:"))?;
    u32::from_str_radix(line.trim_start_matches("Umask:").trim(), 8).ok()
}

/// A daemon started with `umask 000` (the CLI started from a shell that set it) still keeps its
/// home 0700 and its socket, database (and WAL, shared memory), log and pid file 0600: nothing
/// in them is readable by another user even through a loosened home.
#[test]
fn the_home_and_its_state_files_are_private_even_under_umask_000() {
    let env = TestEnv::new(standard_project(&[]));
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "umask 000; exec \"$0\" \"$@\""]).arg(revis_tests::revis_bin()).args(["daemon", "start"]);
    cmd.current_dir(env.project.path());
    scrub_env(&mut cmd, &env.home);
    let out = Running::spawn(cmd, "umask 000; revis daemon start").wait(revis_tests::COMMAND_DEADLINE);
    assert!(out.status.success(), "revis daemon start failed: {}", describe(&out));
    let daemon = env.home.daemon_pid().unwrap_or_else(|| panic!("no daemon pid\n{}", env.home.daemon_log()));
    // revisd sets its own umask to 077 first thing; training gets the caller's back.
    assert_eq!(umask_of(daemon), Some(0o077), "the daemon must make everything it creates private");

    // A session writes the database (and its WAL), the log and run directories.
    env.start_loop("perms", &["--max-iterations", "2"]);
    let s = env.wait_ended("perms");
    let mut c = Checks::new();
    c.check(state(&s) == "completed", || format!("session: {}", pretty(&s)));
    let home = env.home.path();
    let expected: [(&str, u32); 8] = [
        ("", 0o700),
        ("revisd.sock", 0o600),
        ("revis.db", 0o600),
        ("revis.db-wal", 0o600),
        ("revis.db-shm", 0o600),
        ("revisd.log", 0o600),
        ("revisd.pid", 0o600),
        ("runs", 0o700),
    ];
    for (name, want) in expected {
        let path = if name.is_empty() { home.to_path_buf() } else { home.join(name) };
        let got = mode(&path);
        c.check(got.map(|m| m & 0o777) == Some(want), || {
            format!("{} must be {want:o}, is {}", path.display(), got.map_or("missing".into(), |m| format!("{m:o}")))
        });
    }
    // Everything revisd creates is private. What the training writes into its output
    // directory follows the user's umask (000 here), by design: those are the user's files.
    let open: Vec<String> = tree(home)
        .into_iter()
        .filter(|p| !p.components().any(|c| c.as_os_str() == "output"))
        .filter_map(|p| mode(&p).filter(|m| m & 0o077 != 0).map(|m| format!("{:o} {}", m, p.display())))
        .collect();
    c.check(open.is_empty(), || format!("group/other may access, inside the home:\n{}", open.join("\n")));
    let eval = home.join("runs");
    let training_files: Vec<u32> =
        tree(&eval).iter().filter(|p| p.ends_with("eval.json")).filter_map(|p| mode(p)).collect();
    c.check(training_files.iter().any(|m| m & 0o777 == 0o666), || {
        let modes: Vec<String> = training_files.iter().map(|m| format!("{m:o}")).collect();
        format!("the training's eval.json must follow the caller's umask 000: {modes:?}")
    });
    c.finish(|| format!("daemon log:\n{}", env.home.daemon_log()));
}

// ---------------------------------------------------------------------------------------------
// No secret anywhere after a full session
// ---------------------------------------------------------------------------------------------

const AGENT_EDIT: &str = "\n# warmup schedule (added by the agent)\n";

/// A whole session that touches every part that could leak a token: the LLM advisor with
/// tool calls, a code change handed to a coding agent (Claude Code stand-in) with its verify
/// run, config edits, three training runs in tmux, debug logging. The daemon was started from a
/// shell holding W&B, GitHub and MLflow tokens (it reads those from its own environment); the
/// LLM keys reach it only through `revis loop`. Afterwards no token is in a file under
/// REVIS_HOME or the project, in any command line seen while it ran, in the tmux panes' command
/// lines, in the model's requests or in what `show`/`watch` print; and the forwarded LLM keys
/// are not in the daemon's, the tmux server's or the training's environment.
#[test]
fn no_token_is_left_in_files_command_lines_tmux_or_environments_after_a_full_session() {
    let w = World::new(Spec::new(&[Agent::Claude]).coding_agent("type: claude-code"));
    w.agents.script(&[Step::success().edit(Edit::append("train.py", AGENT_EDIT)).summary("Added a warmup.")]);
    w.fake.script([
        Reply::call(tool_call("read_file", json!({"path": "config.json"}))),
        code_decision("Add a warmup schedule to the training script", &["train.py"]),
        Reply::call(submit(change("lower lr", "h", vec![config_edit("config.json", "lr", json!(0.01))]))),
    ]);
    let anthropic_key = w.fake.key().map(str::to_string).unwrap_or_else(|| panic!("the fake has a key"));
    // (variable, canary): forwarded by `revis loop`, then the daemon's own.
    let forwarded = [("ANTHROPIC_API_KEY", anthropic_key), ("OPENAI_API_KEY", w.openai_key.clone())];
    let own: Vec<(&str, String)> = ["WANDB_API_KEY", "GH_TOKEN", "GITHUB_TOKEN", "MLFLOW_TRACKING_TOKEN"]
        .into_iter()
        .map(|var| (var, fake_key(&format!("CANARY-{var}"))))
        .collect();
    let all: Vec<(&str, String)> = forwarded.iter().cloned().chain(own.iter().cloned()).collect();

    let mut daemon_env: Vec<(String, String)> = own.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    daemon_env.push(w.agents.path_env());
    daemon_env.push(("REVIS_LOG".into(), "debug".into()));
    daemon_env.push(("NO_PROXY".into(), "127.0.0.1,localhost".into()));
    daemon_env.push(("no_proxy".into(), "127.0.0.1,localhost".into()));
    w.env.revis_env_ok(&["daemon", "start"], &daemon_env);
    let daemon = w.env.home.daemon_pid().unwrap_or_else(|| panic!("no daemon pid"));

    let sampler = CommandLineSampler::start(all.iter().map(|(_, v)| v.clone()).collect(), Duration::from_millis(20));
    w.env.project.touch_ctl("block-1");
    w.env.start_llm_loop("tokens", &["--max-iterations", "3"], &w.vars());
    w.env.wait_ctl("started-1");

    // Iteration 1 (the agent's code) is training in tmux: look at everything it runs with.
    let mut c = Checks::new();
    let socket = w.env.home.tmux_socket();
    let panes = tmux_pane_commands(&socket);
    c.check(!panes.trim().is_empty(), || "tmux list-panes shows no pane while the training runs".into());
    let training: Option<i32> =
        std::fs::read_to_string(w.env.project.ctl_file("pid-1")).ok().and_then(|t| t.trim().parse().ok());
    c.check(training.is_some(), || "the training did not write its pid".into());
    let tmux_servers: Vec<i32> = command_lines_containing(socket.as_os_str().as_encoded_bytes())
        .into_iter()
        .filter_map(|(pid, cmd)| cmd.starts_with("tmux").then(|| pid.parse().ok()).flatten())
        .collect();
    c.check(!tmux_servers.is_empty(), || "no tmux server found for the test's socket".into());
    for (var, value) in &all {
        c.check(!panes.contains(value.as_str()), || format!("a tmux pane's command holds {var}:\n{panes}"));
    }
    for (var, value) in &forwarded {
        let key = value.as_bytes();
        c.check(!environ_contains(daemon, key), || format!("the daemon's environment holds {var}"));
        for pid in &tmux_servers {
            c.check(!environ_contains(*pid, key), || format!("the tmux server's environment holds {var}"));
        }
        if let Some(pid) = training {
            c.check(!environ_contains(pid, key), || format!("the training's environment holds {var}"));
        }
    }
    // Sanity: the daemon holds its own tokens (so their absence elsewhere means something).
    for (var, value) in &own {
        c.check(environ_contains(daemon, value.as_bytes()), || format!("the daemon was started without {var}"));
    }
    w.env.project.touch_ctl("gate-1");
    let s = w.env.wait_ended("tokens");
    let sampled = sampler.finish();

    c.check(state(&s) == "completed" && stop_reason(&s) == "max_iterations", || format!("session: {}", pretty(&s)));
    let it1 = iteration(&s, 1).unwrap_or(Value::Null);
    c.check(it1["agent"]["agent"] == "claude-code", || {
        format!("iteration 1 must come from the agent: {}", pretty(&it1))
    });
    c.check(w.agents.calls().len() == 1, || format!("the agent must run once: {} calls", w.agents.calls().len()));
    c.check(w.fake.violations().is_empty(), || format!("malformed requests: {:#?}", w.fake.violations()));
    c.check(
        w.fake.requests().first().and_then(|r| r.header("x-api-key").map(str::to_string)).as_ref()
            == Some(&forwarded[0].1),
        || "the forwarded key must reach the provider (sanity)".into(),
    );
    c.check(sampled.passes >= 10 && sampled.distinct > 10, || {
        format!("the command-line sampler barely ran: {} passes, {} command lines", sampled.passes, sampled.distinct)
    });
    for (index, pid, cmd) in &sampled.hits {
        c.check(false, || format!("process {pid} had {} on its command line: {cmd}", all[*index].0));
    }
    // The key goes to the provider in a header; no token is in any request's body.
    let bodies = w.fake.bodies();
    for (var, value) in &all {
        let leaks: Vec<usize> = (0..bodies.len()).filter(|i| bodies[*i].contains(value.as_str())).collect();
        c.check(leaks.is_empty(), || format!("{var} reached the model in requests {leaks:?}"));
    }
    let mut printed = String::new();
    for args in [&["show", "tokens", "--json"][..], &["show", "tokens", "--trace"], &["watch", "tokens", "--json"]] {
        printed.push_str(&String::from_utf8_lossy(&w.env.revis(args).stdout));
    }
    for (var, value) in &all {
        c.check(!printed.contains(value.as_str()), || format!("show/watch print {var}"));
    }
    let worktree = w.worktree(&s);
    for when in ["running", "stopped"] {
        let mut scanned = Vec::new();
        for (var, value) in &all {
            for root in [w.env.home.path(), w.env.project.path(), worktree.as_path()] {
                let hits = files_containing(root, value.as_bytes(), &mut scanned);
                c.check(hits.is_empty(), || format!("{var} is stored in {hits:?} (daemon {when})"));
            }
        }
        let names: Vec<String> =
            scanned.iter().filter_map(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned()).collect();
        c.check(
            ["revisd.log", "revis.db"].iter().all(|f| names.iter().any(|n| n == f))
                && (when == "stopped" || names.iter().any(|n| n == "revis.db-wal")),
            || format!("the scan must cover the log, the database and its WAL: {names:?}"),
        );
        if when == "running" {
            w.env.revis_ok(&["daemon", "stop"]);
        }
    }
    c.finish(|| w.context("tokens"));
}

// ---------------------------------------------------------------------------------------------
// Symlinks out of the worktree
// ---------------------------------------------------------------------------------------------

/// The files outside the worktree that a project's committed links lead to (see
/// [`Linked::project`]).
struct Linked {
    canary: String,
    outside: PathBuf,
}

const OUTSIDE_YAML: &str = "lr: 0.5\n";

impl Linked {
    /// A project whose commit holds links out of the repository and into a hidden file:
    /// `leak.txt` → a file outside holding the canary, `outdir` → a directory outside (canary
    /// file, config file, nested config), `conf_link.json` → a config file outside, and
    /// `notes/link` → `../.env`. The outside files live beside the repository, removed with it.
    fn project(revis_yaml: &str) -> (Self, Project) {
        let canary = format!("CANARY-{}", fake_key("link"));
        let project = Project::new();
        let outside = project.scratch().join("outside");
        std::fs::create_dir_all(outside.join("sub")).unwrap_or_else(|e| panic!("cannot create outside dir: {e}"));
        let outside_files = [
            ("secret.txt", format!("{canary}-secret\n")),
            ("conf.json", Self::outside_json(&canary)),
            ("sub/c.yaml", OUTSIDE_YAML.to_string()),
        ];
        for (name, text) in &outside_files {
            std::fs::write(outside.join(name), text).unwrap_or_else(|e| panic!("cannot write {name}: {e}"));
        }
        project
            .write("train.py", &train_py(project.ctl()))
            .write("config.json", CONFIG_JSON)
            .write("revis.yaml", revis_yaml)
            .write(".env", &format!("API_TOKEN={canary}-dotenv\n"))
            .write("notes/readme.md", "nothing to see\n");
        let repo = project.path();
        symlink(&outside.join("secret.txt"), &repo.join("leak.txt"));
        symlink(&outside, &repo.join("outdir"));
        symlink(&outside.join("conf.json"), &repo.join("conf_link.json"));
        symlink(Path::new("../.env"), &repo.join("notes/link"));
        project.commit("baseline with links");
        (Self { canary, outside }, project)
    }

    fn outside_json(canary: &str) -> String {
        format!("{{\n  \"lr\": 0.5,\n  \"token\": \"{canary}-json\"\n}}\n")
    }

    /// Panics unless every file outside is byte for byte as written.
    fn check_outside_unchanged(&self, c: &mut Checks) {
        let expected = [
            ("secret.txt", format!("{}-secret\n", self.canary)),
            ("conf.json", Self::outside_json(&self.canary)),
            ("sub/c.yaml", OUTSIDE_YAML.to_string()),
        ];
        for (name, text) in expected {
            let now = std::fs::read(self.outside.join(name)).unwrap_or_default();
            c.check(now == text.as_bytes(), || format!("{name} outside the worktree changed: {now:?}"));
        }
        let names: Vec<PathBuf> = tree(&self.outside);
        c.check(names.len() == 4, || format!("files appeared outside the worktree: {names:?}"));
    }
}

/// Through every LLM tool, links out of the worktree and into `.env` read as missing or
/// refused paths: nothing of the outside files or `.env` reaches the model, listings leave the
/// links out, searches do not descend into them. Config edits through such links are refused
/// (the model is told why) and nothing outside the worktree changes.
#[test]
fn the_llm_tools_and_edits_never_follow_a_symlink_out_of_the_worktree() {
    let yaml = format!("{}llm:\n  model: anthropic/claude-sonnet-4-5\n", standard_yaml(&[]));
    let (linked, project) = Linked::project(&yaml);
    let fake = FakeLlm::anthropic(&fake_key("sk-ant-links"));
    let reads =
        ["leak.txt", "outdir/secret.txt", "notes/link", "conf_link.json", "outdir/conf.json", "outdir/sub/c.yaml"];
    let mut calls: Vec<_> = reads.iter().map(|p| tool_call("read_file", json!({"path": p}))).collect();
    for dir in ["outdir", "outdir/sub", "notes", "."] {
        calls.push(tool_call("list_directory", json!({"path": dir})));
    }
    for path in [".", "outdir", "notes", "leak.txt", "notes/link"] {
        calls.push(tool_call("search_code", json!({"pattern": "CANARY|API_TOKEN|lr", "path": path})));
    }
    calls.push(tool_call("get_training_logs", json!({"mode": "tail"})));
    let calls_len = calls.len();
    fake.script([
        Reply::calls(calls),
        Reply::call(submit(change("peek", "h", vec![config_edit("conf_link.json", "lr", json!(0.1))]))),
        Reply::call(submit(change("peek", "h", vec![config_edit("outdir/conf.json", "lr", json!(0.1))]))),
        Reply::call(submit(change("peek", "h", vec![config_edit("outdir/sub/c.yaml", "lr", json!(0.1))]))),
        Reply::call(submit(change("tune lr", "h", vec![config_edit("config.json", "lr", json!(0.01))]))),
    ]);
    let env = TestEnv::new(project);
    env.start_llm_loop("links", &["--max-iterations", "2"], &env_of(&[&fake]));
    let s = env.wait_ended("links");

    let mut c = Checks::new();
    let canary = linked.canary.as_str();
    c.check(state(&s) == "completed" && stop_reason(&s) == "max_iterations", || format!("session: {}", pretty(&s)));
    c.check(fake.request_count() == 5 && fake.remaining() == 0, || {
        format!("one turn of tool calls, three refused decisions, one accepted: {} requests", fake.request_count())
    });
    c.check(fake.violations().is_empty(), || format!("malformed requests: {:#?}", fake.violations()));
    let bodies = fake.bodies();
    let leaks: Vec<usize> = (0..bodies.len()).filter(|i| bodies[*i].contains(canary)).collect();
    c.check(leaks.is_empty(), || format!("the canary reached the model in requests {leaks:?}"));
    let requests = fake.requests();
    let results = requests.get(1).map(|r| r.tool_results()).unwrap_or_default();
    c.check(results.len() == calls_len, || format!("{calls_len} tool results expected: {results:#?}"));
    for (i, r) in results.iter().enumerate() {
        let text = r.content.to_lowercase();
        let refused = text.contains("no such file") || text.contains("not allowed");
        match i {
            // Every read through a link fails like a missing or refused path.
            0..6 => c.check(r.is_error == Some(true) && refused, || format!("read_file {}: {r:?}", reads[i])),
            // Listing the outside directory (and below) is refused; `notes` and `.` list no link.
            6 | 7 => c.check(r.is_error == Some(true) && refused, || format!("list_directory outside: {r:?}")),
            8 => c.check(r.content.contains("readme.md") && !r.content.contains("link"), || {
                format!("list_directory notes must leave the link out: {r:?}")
            }),
            9 => c.check(
                r.content.contains("config.json")
                    && ["leak.txt", "outdir", "conf_link.json", ".env"].iter().all(|n| !r.content.contains(n)),
                || format!("list_directory . must leave the links out: {r:?}"),
            ),
            // The whole-tree and `notes` searches find only files inside; the rest are refused.
            10 | 12 => c.check(
                r.is_error != Some(true)
                    && !r.content.contains("outdir")
                    && !r.content.contains("leak.txt")
                    && !r.content.contains("conf_link")
                    && !r.content.contains("notes/link"),
                || format!("search_code must not descend into links: {r:?}"),
            ),
            11 | 13 | 14 => {
                c.check(r.is_error == Some(true) && refused, || format!("search_code through a link: {r:?}"))
            }
            _ => {}
        }
    }
    for (n, file) in [(2, "conf_link.json"), (3, "outdir/conf.json"), (4, "outdir/sub/c.yaml")] {
        let refused = requests.get(n).map(|r| r.tool_results()).unwrap_or_default();
        c.check(refused.first().is_some_and(|r| r.is_error == Some(true) && r.content.contains("not allowed")), || {
            format!("a config_edit of {file} must be refused with a reason: {refused:?}")
        });
    }
    let it1 = iteration(&s, 1).unwrap_or(Value::Null);
    c.check(it1["state"] == "succeeded", || format!("the valid decision must run: {}", pretty(&it1)));
    linked.check_outside_unchanged(&mut c);
    let mut scanned = Vec::new();
    let stored = files_containing(env.home.path(), canary.as_bytes(), &mut scanned);
    c.check(stored.is_empty(), || format!("the canary was stored under REVIS_HOME: {stored:?}"));
    c.finish(|| format!("daemon log:\n{}", env.home.daemon_log()));
}

/// A search space whose config file is a link out of the worktree, or a file inside a linked
/// directory, is refused when the loop starts, with the reason on stderr; no session is
/// recorded and the file outside is untouched.
#[test]
fn a_search_space_in_a_file_reached_through_a_symlink_is_refused() {
    let (linked, project) = Linked::project(&standard_yaml(&[]));
    // Declared after the project: the daemon stops before the repository is removed.
    let home = TestHome::new();
    let mut c = Checks::new();
    for (file, key) in [("conf_link.json", "lr"), ("outdir/conf.json", "lr"), ("outdir/sub/c.yaml", "lr")] {
        let yaml = standard_yaml(&[]).replace("file: config.json, key: lr", &format!("file: {file}, key: {key}"));
        assert!(yaml.contains(file), "standard_yaml changed its search space:\n{yaml}");
        project.write("revis.yaml", &yaml);
        project.commit(&format!("space in {file}"));
        let out = revis_tests::revis(&home, project.path(), &["loop", "--advisor", "search"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        c.check(!out.status.success(), || format!("a space in {file} must be refused: {}", describe(&out)));
        c.check(stderr.contains(file) && stderr.contains("not allowed") && stderr.contains("symlink"), || {
            format!("the refusal must name {file} and the symlink: {}", describe(&out))
        });
        c.check(!stderr.contains(&linked.canary), || format!("the refusal shows the outside file: {stderr}"));
    }
    let listed = revis_tests::revis(&home, project.path(), &["list", "--json"]);
    let sessions: Value = serde_json::from_slice(&listed.stdout).unwrap_or(Value::Null);
    c.check(sessions.as_array().is_some_and(Vec::is_empty), || format!("no session may be recorded: {sessions}"));
    linked.check_outside_unchanged(&mut c);
    c.finish(|| format!("daemon log:\n{}", home.daemon_log()));
}
