//! `revis init --yes` takes every choice of the interactive wizard as a flag: metrics source with
//! its project, entity or tracking URI, objective and target, coding agent, hidden files, and
//! executor with host and work dir. The file it writes loads and carries each value; a bad value
//! or a flag of another source is a usage error (exit 2) that names the flag and writes nothing.
//! `--ssh` goes to the real sshd of ssh.rs (which covers the host-key trust of init).

#[path = "../src/sshd.rs"]
mod sshd;

use std::process::Output;

use revis_tests::cli::describe;
use revis_tests::{Project, TestEnv};
use revisd::config::schema::{CodingAgentType, ExecutorType, MetricsSourceType};
use sshd::{ALIAS, SshServer};

const REQUIRED: [&str; 6] = ["init", "--yes", "--train", "python3 train.py --epochs 2", "--primary", "eval/accuracy"];

/// A committed project with a training script.
fn env() -> TestEnv {
    let project = Project::new();
    project.write("train.py", "print('hi')\n");
    project.commit("a training script");
    TestEnv::new(project)
}

fn with_required<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    REQUIRED.iter().chain(extra).copied().collect()
}

fn init(env: &TestEnv, extra: &[&str]) -> Output {
    env.revis_env(&with_required(extra), &[])
}

#[test]
fn every_wizard_choice_can_be_given_as_a_flag() {
    let env = env();
    let server = SshServer::start();
    let work_dir = server.work_dir().display().to_string();
    let out = server.revis(
        &env,
        &with_required(&[
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
            ALIAS,
            "--work-dir",
            &work_dir,
        ]),
    );
    assert!(out.status.success(), "{}\ndaemon log:\n{}", describe(&out), env.home.daemon_log());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("tar and tmux found"), "the connection was tested: {stdout}");
    assert!(stdout.contains("Coding agent: codex"), "{stdout}");

    let config = env.written_config();
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
    assert_eq!(config.executor.host.as_deref(), Some(ALIAS));
    assert_eq!(config.executor.work_dir.as_deref(), Some(work_dir.as_str()));

    // MLflow with its tracking server, no agent, local: replaced with --force.
    let out = init(
        &env,
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
    let config = env.written_config();
    assert_eq!(config.metrics.source, MetricsSourceType::Mlflow);
    assert_eq!(config.metrics.project.as_deref(), Some("exp-1"));
    assert_eq!(config.metrics.tracking_uri.as_deref(), Some("http://127.0.0.1:5000"));
    assert_eq!(config.metrics.entity, None);
    assert!(config.metrics.minimize);
    assert_eq!(config.coding_agent.kind, CodingAgentType::None);
    assert!(config.context.deny.is_empty(), "{:?}", config.context.deny);
    assert_eq!(config.executor.kind, ExecutorType::Local);

    // The remaining source and agent spellings.
    let out = init(&env, &["--force", "--source", "eval_json", "--agent", "claude-code"]);
    assert!(out.status.success(), "{}", describe(&out));
    let config = env.written_config();
    assert_eq!(
        (config.metrics.source, config.coding_agent.kind),
        (MetricsSourceType::EvalJson, CodingAgentType::ClaudeCode)
    );
    let out = init(&env, &["--force", "--agent", "aider"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(env.written_config().coding_agent.kind, CodingAgentType::Aider);
}

#[test]
fn bad_flags_are_usage_errors_that_name_the_flag_and_write_nothing() {
    let env = env();
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
        let out = init(&env, extra);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {}", describe(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(flag), "{extra:?}: the error must name {flag}: {stderr}");
        assert!(!env.project.path().join("revis.yaml").exists(), "{extra:?} wrote revis.yaml");
    }
    assert_eq!(env.project.read(".gitignore"), gitignore, ".gitignore untouched");
    // The daemon's reason is kept: which pattern, and why it does not compile.
    let out = init(&env, &["--hide", "data/["]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("'data/['") && !stderr.contains("revis.yaml:"), "{stderr}");
}
