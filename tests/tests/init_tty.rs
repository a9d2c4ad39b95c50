//! Interactive `revis init` through a real pseudo-terminal: arrow keys, Enter and Ctrl-C as a
//! user types them. Covers a full eval.json run (and keeping an existing revis.yaml), W&B
//! discovery against a loopback fake GraphQL server with credentials that only the CLI has, the
//! host list of a test `~/.ssh/config` (wildcards left out), the hidden-files picker, flags as
//! the answers the menus start on, and Ctrl-C midway leaving nothing written.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use revis_fixtures::wandb::FakeWandb;
use revis_tests::cli::{Running, describe, revis_command, scrub_env};
use revis_tests::{Project, TestEnv, revis_bin};
use rexpect::process::WaitStatus;
use rexpect::session::{Options, PtySession, spawn_with_options};
use serde_json::{Value, json};

const DOWN: &str = "\x1b[B";
const UP: &str = "\x1b[A";
const ENTER: &str = "\r";
const CTRL_C: &str = "\x03";
/// Per expectation: a step may start the daemon or wait for discovery.
const STEP_TIMEOUT_MS: u64 = 30_000;

/// `revis init` on a pseudo-terminal of 120x40, with everything it printed kept for messages.
struct Tty {
    session: PtySession,
    transcript: String,
}

impl Tty {
    /// Runs `revis init` in the project with `HOME` (the daemon's ~/.ssh/config) and `env`.
    fn spawn(env: &TestEnv, home: &Path, vars: &[(&str, &str)]) -> Self {
        Self::spawn_with_flags(env, home, vars, &[])
    }

    /// `revis init flags...`, as [`Tty::spawn`].
    fn spawn_with_flags(env: &TestEnv, home: &Path, vars: &[(&str, &str)], flags: &[&str]) -> Self {
        let mut cmd = Command::new("sh");
        // A fresh pty has no size; menus need one.
        let bin = revis_bin().display().to_string();
        cmd.args(["-c", "stty cols 120 rows 40 && exec \"$0\" init \"$@\"", &bin]).args(flags);
        scrub_env(&mut cmd, &env.home);
        cmd.current_dir(env.project.path())
            .stdin(Stdio::inherit())
            .env("HOME", home)
            .env("TERM", "xterm")
            .env_remove("MLFLOW_TRACKING_URI")
            .env_remove("WANDB_BASE_URL");
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let options = Options::new().timeout_ms(Some(STEP_TIMEOUT_MS)).strip_ansi_escape_codes(true);
        let session =
            spawn_with_options(cmd, options).unwrap_or_else(|e| panic!("cannot start revis init on a pty: {e}"));
        Self { session, transcript: String::new() }
    }

    /// Waits until `text` was printed.
    fn expect(&mut self, text: &str) {
        match self.session.exp_string(text) {
            Ok(before) => {
                self.transcript.push_str(&before);
                self.transcript.push_str(text);
            }
            Err(e) => panic!("revis init never printed {text:?}: {e}\nso far:\n{}", self.transcript),
        }
    }

    fn keys(&mut self, keys: &str) {
        self.session
            .send(keys)
            .and_then(|_| self.session.flush())
            .unwrap_or_else(|e| panic!("cannot type {keys:?}: {e}"));
    }

    /// Waits for the question, then types the answer.
    fn answer(&mut self, question: &str, keys: &str) {
        self.expect(question);
        self.keys(keys);
    }

    /// Waits for the end of output and the exit code.
    fn finish(mut self) -> (i32, String) {
        match self.session.exp_eof() {
            Ok(rest) => self.transcript.push_str(&rest),
            Err(e) => panic!("revis init did not end: {e}\nso far:\n{}", self.transcript),
        }
        match self.session.process().wait() {
            Ok(WaitStatus::Exited(_, code)) => (code, self.transcript),
            other => panic!("revis init ended oddly: {other:?}\n{}", self.transcript),
        }
    }
}

/// A project with a training script, a config and a data directory, committed.
fn project() -> Project {
    let project = Project::new();
    project.write("train.py", "print('hi')\n").write("configs/base.yaml", "lr: 0.1\n").write("data/train.csv", "x,y\n");
    project.commit("a project");
    project
}

/// An empty `$HOME` for the daemon beside the test home (no ~/.ssh/config unless written).
fn home_dir(env: &TestEnv) -> PathBuf {
    let home = env.home.scratch().join("user");
    std::fs::create_dir_all(&home).unwrap_or_else(|e| panic!("cannot create {}: {e}", home.display()));
    home
}

#[test]
fn a_full_eval_json_run_writes_a_config_that_loads_and_an_existing_one_is_kept() {
    let env = TestEnv::new(project());
    let home = home_dir(&env);
    let mut tty = Tty::spawn(&env, &home, &[]);
    tty.answer("Training command", "python3 train.py --epochs 2\r");
    // No credentials anywhere: the menu starts on eval.json.
    tty.answer("eval.json (manual)", ENTER);
    tty.answer("Primary metric to optimize", "loss\r");
    // Down and back up: arrows move, Enter takes minimize.
    tty.answer("maximize", &format!("{DOWN}{UP}{ENTER}"));
    tty.expect("Local (tmux) (no hosts in ~/.ssh/config)");
    tty.answer("none (pause for manual changes)", &format!("{DOWN}{DOWN}{DOWN}{DOWN}{ENTER}"));
    tty.answer("Yes, select files to hide", ENTER);
    tty.expect("Revis initialized!");
    tty.expect("You can edit revis.yaml to adjust settings at any time.");
    let (code, transcript) = tty.finish();
    assert_eq!(code, 0, "{transcript}\ndaemon log:\n{}", env.home.daemon_log());

    let config = env.written_config();
    assert_eq!(config.entry.train, "python3 train.py --epochs 2");
    assert_eq!(config.metrics.source, revisd::config::schema::MetricsSourceType::EvalJson);
    assert_eq!(config.metrics.primary, "loss");
    assert!(config.metrics.minimize);
    assert_eq!(config.executor.kind, revisd::config::schema::ExecutorType::Local);
    assert_eq!(config.coding_agent.kind, revisd::config::schema::CodingAgentType::None);
    assert!(config.context.deny.is_empty(), "{:?}", config.context.deny);

    // A second init asks before replacing; "no" keeps the file byte for byte.
    let before = env.project.read("revis.yaml");
    let mut tty = Tty::spawn(&env, &home, &[]);
    tty.answer("revis.yaml already exists. Replace it?", "n\r");
    tty.expect("Kept the existing revis.yaml");
    let (code, transcript) = tty.finish();
    assert_eq!(code, 0, "{transcript}");
    assert_eq!(env.project.read("revis.yaml"), before);
}

/// Where `sinfo` answers, init offers Slurm and lists the partitions; the file it writes runs
/// each trial as a job in the chosen one.
#[test]
fn where_slurm_answers_init_offers_it_and_lists_the_partitions() {
    if !nix::unistd::getuid().is_root() {
        eprintln!("skipped: a real Slurm needs root here");
        return;
    }
    let cluster = revis_fixtures::slurm::SlurmCluster::start().unwrap_or_else(|e| panic!("cannot start Slurm: {e}"));
    let env = TestEnv::new(project());
    let home = home_dir(&env);
    let conf = cluster.conf().display().to_string();
    let mut tty = Tty::spawn(&env, &home, &[("SLURM_CONF", &conf)]);
    tty.answer("Training command", "python3 train.py\r");
    tty.answer("eval.json (manual)", ENTER);
    tty.answer("Primary metric to optimize", "loss\r");
    tty.answer("maximize", ENTER);
    tty.expect("Slurm answers on this machine. Run trials as Slurm jobs?");
    tty.answer("No, run trials directly on this machine", ENTER);
    tty.expect("Partition:");
    tty.answer("debug (gpu; time limit unlimited, default)", ENTER);
    tty.answer("none (pause for manual changes)", &format!("{DOWN}{DOWN}{DOWN}{DOWN}{ENTER}"));
    tty.answer("Yes, select files to hide", ENTER);
    tty.expect("Revis initialized!");
    let (code, transcript) = tty.finish();
    assert_eq!(code, 0, "{transcript}\ndaemon log:\n{}", env.home.daemon_log());
    let config = env.written_config();
    assert_eq!(config.executor.kind, revisd::config::schema::ExecutorType::Slurm, "{transcript}");
    assert_eq!(config.executor.partition.as_deref(), Some("debug"));
    assert_eq!(config.executor.login, None);
    drop(env);
    drop(cluster);
}

/// A W&B GraphQL server: entity `team` has projects alpha and beta-proj; runs report accuracy
/// and val_loss (plus bookkeeping keys discovery leaves out). Requests are kept.
fn fake_wandb() -> FakeWandb {
    FakeWandb::start(|request| {
        let data = match request.kind() {
            "projects" => {
                let edges: Vec<Value> =
                    ["beta-proj", "alpha"].iter().map(|n| json!({"node": {"name": n, "entityName": "team"}})).collect();
                json!({"models": {"edges": edges, "pageInfo": {"endCursor": null, "hasNextPage": false}}})
            }
            "runs" => {
                let summary = json!({"accuracy": 0.8, "val_loss": 0.4, "_step": 9, "lr": 0.1}).to_string();
                let edges = vec![json!({"node": {"name": "r1", "state": "finished", "summaryMetrics": summary}})];
                json!({"project": {"runs": {"edges": edges, "pageInfo": {"endCursor": null, "hasNextPage": false}}}})
            }
            "viewer" => json!({"viewer": {"entity": "team"}}),
            _ => return (400, json!({"errors": [{"message": "unexpected query"}]}).to_string()),
        };
        (200, json!({"data": data}).to_string())
    })
}

#[test]
fn wandb_projects_and_metrics_are_discovered_with_the_clis_credentials() {
    let env = TestEnv::new(project());
    let home = home_dir(&env);
    let server = fake_wandb();
    // The daemon runs without W&B credentials: only the CLI has them, and sends them along.
    let mut start = revis_command(&env.home, env.project.path(), &["daemon", "start"]);
    start.env("HOME", &home);
    let out = Running::spawn(start, "revis daemon start").wait(revis_tests::COMMAND_DEADLINE);
    assert!(out.status.success(), "{}", describe(&out));

    let mut tty = Tty::spawn(&env, &home, &[("WANDB_BASE_URL", &server.url), ("WANDB_API_KEY", "cli-only-key")]);
    tty.answer("Training command", ENTER);
    // Credentials in the environment: the menu starts on W&B.
    tty.answer("eval.json (manual)", ENTER);
    tty.answer("W&B entity (optional)", "team\r");
    // Projects come sorted; the second is beta-proj.
    tty.expect("alpha");
    tty.answer("Other (type a name)", &format!("{DOWN}{ENTER}"));
    // Keys sorted (accuracy, val_loss), the menu on val_loss: up picks accuracy.
    tty.expect("val_loss");
    tty.answer("Other (type a name)", &format!("{UP}{ENTER}"));
    // accuracy reads as higher-is-better: the objective menu starts on maximize.
    tty.answer("maximize", ENTER);
    tty.answer("none (pause for manual changes)", ENTER);
    // Hide data/ (the entries: .gitignore, configs/**, configs/base.yaml, data/**, ...).
    tty.answer("Yes, select files to hide", &format!("{DOWN}{ENTER}"));
    tty.answer("data/train.csv", &format!("{DOWN}{DOWN}{DOWN} {ENTER}"));
    tty.expect("Revis initialized!");
    let (code, transcript) = tty.finish();
    assert_eq!(code, 0, "{transcript}\ndaemon log:\n{}", env.home.daemon_log());
    assert!(!transcript.contains("_step"), "bookkeeping keys are not offered:\n{transcript}");

    let config = env.written_config();
    assert_eq!(config.entry.train, "python train.py", "Enter takes the guessed command");
    assert_eq!(config.metrics.source, revisd::config::schema::MetricsSourceType::Wandb);
    assert_eq!(config.metrics.entity.as_deref(), Some("team"));
    assert_eq!(config.metrics.project.as_deref(), Some("beta-proj"));
    assert_eq!(config.metrics.primary, "accuracy");
    assert!(!config.metrics.minimize);
    assert_eq!(config.coding_agent.kind, revisd::config::schema::CodingAgentType::Auto);
    assert_eq!(config.context.deny, ["data/**"]);

    let requests = server.requests();
    assert!(!requests.is_empty(), "discovery never reached the fake W&B server");
    // HTTP Basic `api:cli-only-key`.
    let expected = "Basic YXBpOmNsaS1vbmx5LWtleQ==";
    for request in &requests {
        assert_eq!(request.authorization.as_deref(), Some(expected), "{}", request.body);
    }
    let bodies: Vec<&Value> = requests.iter().map(|r| &r.body).filter(|b| !b.is_null()).collect();
    assert!(
        bodies.iter().any(|b| b["variables"].to_string().contains("beta-proj")),
        "the metric keys were asked of the chosen project: {bodies:?}"
    );
}

#[test]
fn ssh_hosts_come_from_the_users_ssh_config_without_wildcards() {
    let env = TestEnv::new(project());
    let home = home_dir(&env);
    // A port nothing listens on: the connection test fails fast.
    let closed = revis_tests::closed_port();
    let ssh = home.join(".ssh");
    std::fs::create_dir_all(&ssh).unwrap_or_else(|e| panic!("cannot create {}: {e}", ssh.display()));
    let config = format!(
        "Host gpu-box\n  HostName 127.0.0.1\n  Port {closed}\n  User nobody\n\nHost *.corp lab-?\n  User x\n\nHost *\n  ServerAliveInterval 30\n"
    );
    std::fs::write(ssh.join("config"), config).unwrap_or_else(|e| panic!("cannot write ssh config: {e}"));

    let mut tty = Tty::spawn(&env, &home, &[]);
    tty.answer("Training command", ENTER);
    tty.answer("eval.json (manual)", ENTER);
    tty.answer("Primary metric to optimize", ENTER);
    tty.answer("maximize", ENTER);
    tty.expect("Execution environment");
    tty.answer("gpu-box (from ~/.ssh/config)", &format!("{DOWN}{ENTER}"));
    tty.expect("Testing the connection to gpu-box");
    tty.answer("Use gpu-box anyway?", "y\r");
    tty.answer("none (pause for manual changes)", ENTER);
    tty.answer("Yes, select files to hide", ENTER);
    tty.expect("Revis initialized!");
    let (code, transcript) = tty.finish();
    assert_eq!(code, 0, "{transcript}\ndaemon log:\n{}", env.home.daemon_log());
    for pattern in ["*.corp", "lab-?", "* (from"] {
        assert!(!transcript.contains(pattern), "wildcard entry {pattern:?} was offered:\n{transcript}");
    }

    let config = env.written_config();
    assert_eq!(config.executor.kind, revisd::config::schema::ExecutorType::Ssh);
    assert_eq!(config.executor.host.as_deref(), Some("gpu-box"));
    assert_eq!(config.metrics.primary, "val_loss", "Enter takes the default metric");
}

#[test]
fn ctrl_c_midway_leaves_nothing_written() {
    let env = TestEnv::new(project());
    let home = home_dir(&env);
    let gitignore = env.project.read(".gitignore");
    let mut tty = Tty::spawn(&env, &home, &[]);
    tty.answer("Training command", "python train.py\r");
    tty.answer("eval.json (manual)", ENTER);
    tty.answer("Primary metric to optimize", "val_loss\r");
    tty.answer("maximize", CTRL_C);
    tty.expect("Cancelled: nothing was written.");
    let (code, transcript) = tty.finish();
    assert_eq!(code, 130, "{transcript}");
    assert!(!env.project.path().join("revis.yaml").exists(), "{transcript}");
    assert_eq!(env.project.read(".gitignore"), gitignore);
}

#[test]
fn flags_are_the_answers_the_menus_start_on() {
    let env = TestEnv::new(project());
    let home = home_dir(&env);
    // Nothing listens there: discovery says so and offers the flags' values as text defaults.
    let closed = revis_tests::closed_port();
    let uri = format!("http://127.0.0.1:{closed}");
    let flags =
        ["--tracking-uri", &uri, "--project", "exp-1", "--agent", "aider", "--hide", "data/**,secrets/", "--maximize"];
    let mut tty = Tty::spawn_with_flags(&env, &home, &[], &flags);
    tty.answer("Training command", ENTER);
    // --tracking-uri makes MLflow the first choice; every answer below is Enter.
    tty.answer("Metrics source", ENTER);
    tty.answer("MLflow tracking URI", ENTER);
    tty.answer("MLflow experiment", ENTER);
    tty.answer("Primary metric to optimize", "val_loss\r");
    tty.answer("Objective", ENTER);
    tty.answer("none (pause for manual changes)", ENTER);
    tty.answer("Yes, select files to hide", ENTER);
    tty.answer("secrets/", ENTER);
    tty.expect("Revis initialized!");
    let (code, transcript) = tty.finish();
    assert_eq!(code, 0, "{transcript}\ndaemon log:\n{}", env.home.daemon_log());

    let config = env.written_config();
    assert_eq!(config.metrics.source, revisd::config::schema::MetricsSourceType::Mlflow);
    assert_eq!(config.metrics.tracking_uri.as_deref(), Some(uri.as_str()));
    assert_eq!(config.metrics.project.as_deref(), Some("exp-1"));
    assert!(!config.metrics.minimize, "--maximize starts the objective menu on maximize");
    assert_eq!(config.coding_agent.kind, revisd::config::schema::CodingAgentType::Aider);
    assert_eq!(config.context.deny, ["data/**", "secrets/"]);
}
