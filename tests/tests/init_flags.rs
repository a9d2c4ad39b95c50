//! `revis init --yes` takes every choice of the interactive wizard as a flag: metrics source with
//! its project, entity or tracking URI, objective and target, coding agent, hidden files, and
//! executor with host and work dir. The file it writes loads and carries each value; a bad value
//! or a flag of another source is a usage error (exit 2) that names the flag and writes nothing.
//! The connection test and host-key trust of `--ssh` against a real sshd are in ssh.rs.

use std::path::PathBuf;
use std::process::Output;

use revis_tests::cli::describe;
use revis_tests::{Project, TestEnv};
use revisd::config::schema::{CodingAgentType, ExecutorType, MetricsSourceType};

const REQUIRED: [&str; 6] = ["init", "--yes", "--train", "python3 train.py --epochs 2", "--primary", "eval/accuracy"];

/// A committed project with a training script, and a `$HOME` whose ~/.ssh/config has `gpu-box`
/// on a port nothing listens on (the connection test fails fast and init goes on with a warning).
fn setup() -> (TestEnv, PathBuf) {
    let project = Project::new();
    project.write("train.py", "print('hi')\n");
    project.commit("a training script");
    let env = TestEnv::new(project);
    let home = env.home.scratch().join("user");
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("cannot find a free port: {e}"));
    let ssh = home.join(".ssh");
    std::fs::create_dir_all(&ssh).unwrap_or_else(|e| panic!("cannot create {}: {e}", ssh.display()));
    let config = format!("Host gpu-box\n  HostName 127.0.0.1\n  Port {closed}\n  User nobody\n");
    std::fs::write(ssh.join("config"), config).unwrap_or_else(|e| panic!("cannot write the ssh config: {e}"));
    (env, home)
}

fn init(env: &TestEnv, home: &PathBuf, extra: &[&str]) -> Output {
    let args: Vec<&str> = REQUIRED.iter().chain(extra).copied().collect();
    let vars = [("HOME".to_string(), home.display().to_string())];
    env.revis_env(&args, &vars)
}

fn load(env: &TestEnv) -> revisd::config::Config {
    let path = env.project.path().join("revis.yaml");
    match revisd::config::load(&path) {
        Ok(loaded) => loaded.config,
        Err(e) => panic!("the revis.yaml init wrote does not load: {e}\n{}", env.project.read("revis.yaml")),
    }
}

#[test]
fn every_wizard_choice_can_be_given_as_a_flag() {
    let (env, home) = setup();
    let out = init(
        &env,
        &home,
        &[
            "--maximize",
            "--target",
            "0.95",
            "--source",
            "wandb",
            "--project",
            "vision",
            "--entity",
            "my-team",
            "--agent",
            "codex",
            "--hide",
            ".env, data/**",
            "--hide",
            "secrets/{a,b}.json",
            "--ssh",
            "gpu-box",
            "--work-dir",
            "/scratch/revis",
        ],
    );
    assert!(out.status.success(), "{}\ndaemon log:\n{}", describe(&out), env.home.daemon_log());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("warning: SSH to gpu-box"), "the failed connection test is reported: {stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Coding agent: codex"), "{stdout}");

    let config = load(&env);
    assert_eq!(config.entry.train, "python3 train.py --epochs 2");
    assert_eq!(config.metrics.primary, "eval/accuracy");
    assert!(!config.metrics.minimize);
    assert_eq!(config.metrics.target, Some(0.95));
    assert_eq!(config.metrics.source, MetricsSourceType::Wandb);
    assert_eq!(config.metrics.project.as_deref(), Some("vision"));
    assert_eq!(config.metrics.entity.as_deref(), Some("my-team"));
    assert_eq!(config.metrics.tracking_uri, None);
    assert_eq!(config.coding_agent.kind, CodingAgentType::Codex);
    assert_eq!(config.context.deny, [".env", "data/**", "secrets/{a,b}.json"]);
    assert_eq!(config.executor.kind, ExecutorType::Ssh);
    assert_eq!(config.executor.host.as_deref(), Some("gpu-box"));
    assert_eq!(config.executor.work_dir.as_deref(), Some("/scratch/revis"));

    // MLflow with its tracking server, no agent, local: replaced with --force.
    let out = init(
        &env,
        &home,
        &[
            "--force",
            "--source",
            "mlflow",
            "--project",
            "exp-1",
            "--tracking-uri",
            "http://127.0.0.1:5000",
            "--agent",
            "none",
        ],
    );
    assert!(out.status.success(), "{}\ndaemon log:\n{}", describe(&out), env.home.daemon_log());
    let config = load(&env);
    assert_eq!(config.metrics.source, MetricsSourceType::Mlflow);
    assert_eq!(config.metrics.project.as_deref(), Some("exp-1"));
    assert_eq!(config.metrics.tracking_uri.as_deref(), Some("http://127.0.0.1:5000"));
    assert_eq!(config.metrics.entity, None);
    assert!(config.metrics.minimize);
    assert_eq!(config.coding_agent.kind, CodingAgentType::None);
    assert!(config.context.deny.is_empty(), "{:?}", config.context.deny);
    assert_eq!(config.executor.kind, ExecutorType::Local);

    // The remaining source and agent spellings.
    let out = init(&env, &home, &["--force", "--source", "eval_json", "--agent", "claude-code"]);
    assert!(out.status.success(), "{}", describe(&out));
    let config = load(&env);
    assert_eq!(
        (config.metrics.source, config.coding_agent.kind),
        (MetricsSourceType::EvalJson, CodingAgentType::ClaudeCode)
    );
    let out = init(&env, &home, &["--force", "--agent", "aider"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(load(&env).coding_agent.kind, CodingAgentType::Aider);
}

#[test]
fn bad_flags_are_usage_errors_that_name_the_flag_and_write_nothing() {
    let (env, home) = setup();
    let gitignore = env.project.read(".gitignore");
    let cases: &[(&[&str], &str)] = &[
        (&["--source", "tensorboard"], "--source"),
        (&["--agent", "cursor"], "--agent"),
        (&["--entity", "my-team"], "--entity"),
        (&["--source", "mlflow", "--entity", "my-team"], "--entity"),
        (&["--source", "wandb", "--tracking-uri", "http://127.0.0.1:5000"], "--tracking-uri"),
        (&["--source", "mlflow", "--tracking-uri", "localhost:5000"], "--tracking-uri"),
        (&["--project", "vision"], "--project"),
        (&["--hide", ".env,,data/**"], "--hide"),
        (&["--hide", "!train.py"], "--hide"),
        (&["--target", "inf"], "--target"),
        (&["--work-dir", "/scratch"], "--ssh"),
        // Compiled by the daemon exactly as a session compiles context.deny.
        (&["--hide", "data/[", "--hide", ".env"], "--hide"),
        (&["--hide", "data/[z-a].csv"], "--hide"),
    ];
    for (extra, flag) in cases {
        let out = init(&env, &home, extra);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {}", describe(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(flag), "{extra:?}: the error must name {flag}: {stderr}");
        assert!(!env.project.path().join("revis.yaml").exists(), "{extra:?} wrote revis.yaml");
    }
    assert_eq!(env.project.read(".gitignore"), gitignore, ".gitignore untouched");
    // The daemon's reason is kept: which pattern, and why it does not compile.
    let out = init(&env, &home, &["--hide", "data/["]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("'data/['") && !stderr.contains("revis.yaml:"), "{stderr}");
}
