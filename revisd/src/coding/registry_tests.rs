//! The registry lists every agent once, and each agent's `CodingAgent` methods do what the
//! per-kind `match` arms in `agent` and `setup` did before the trait existed (the expected values
//! below were produced by that code).

use std::ffi::OsString;
use std::time::Duration;

use indexmap::IndexMap;

use super::{AgentKind, AgentOptions, AgentRun, agent, agents, settings};
use crate::config::schema::{AgentArgs, CodingAgentType};

/// Every `AgentKind`. The `match` makes a new variant fail to compile here until it is listed,
/// and the test below then fails until it is registered.
fn every_kind() -> [AgentKind; 3] {
    let all = [AgentKind::ClaudeCode, AgentKind::Codex, AgentKind::Aider];
    for kind in all {
        match kind {
            AgentKind::ClaudeCode | AgentKind::Codex | AgentKind::Aider => {}
        }
    }
    all
}

fn sample_run(kind: AgentKind) -> AgentRun {
    AgentRun {
        kind,
        worktree: "/w".into(),
        prompt: "do \"it\"".into(),
        timeout: Duration::from_secs(60),
        max_turns: 9,
        files: vec!["a.py".into(), "-b.py".into()],
        log_path: "/logs/agent.log".into(),
        env: vec![],
        path_var: None,
        model: Some("m".into()),
        api_base: Some("http://b".into()),
        extra_args: vec!["--x".into(), "y".into()],
    }
}

fn strings(args: Vec<OsString>) -> Vec<String> {
    args.into_iter().map(|a| a.to_string_lossy().into_owned()).collect()
}

#[test]
fn the_registry_lists_every_agent_once_in_detection_order() {
    let listed: Vec<AgentKind> = agents().iter().map(|a| a.kind()).collect();
    assert_eq!(listed, every_kind(), "auto-detection tries claude, then codex, then aider");
    for kind in every_kind() {
        assert_eq!(agent(kind).kind(), kind);
        assert_eq!(kind.to_string().parse::<AgentKind>(), Ok(kind));
    }
    let names: Vec<(&str, &str)> = agents().iter().map(|a| (a.name(), a.program())).collect();
    assert_eq!(names, [("claude-code", "claude"), ("codex", "codex"), ("aider", "aider")]);
    let types: Vec<CodingAgentType> = agents().iter().map(|a| a.config_type()).collect();
    assert_eq!(types, [CodingAgentType::ClaudeCode, CodingAgentType::Codex, CodingAgentType::Aider]);
    assert_eq!(
        "claude".parse::<AgentKind>(),
        Err("unknown coding agent \"claude\" (expected claude-code, codex or aider)".to_string())
    );
}

#[test]
fn each_agent_builds_the_command_line_it_always_did() {
    let claude = ["-p", "do \"it\"", "--output-format", "json", "--max-turns", "9", "--permission-mode", "acceptEdits"]
        .into_iter()
        .chain(["--model", "m", "--x", "y"]);
    assert_eq!(
        strings(agent(AgentKind::ClaudeCode).args(&sample_run(AgentKind::ClaudeCode))),
        claude.collect::<Vec<_>>()
    );

    let codex = ["exec", "do \"it\"", "--json", "--sandbox", "workspace-write", "--skip-git-repo-check", "-m", "m"]
        .into_iter()
        .chain(["-c", "model_provider=\"revis\"", "-c", "model_providers.revis.name=\"Revis\""])
        .chain(["-c", "model_providers.revis.base_url=\"http://b\""])
        .chain(["-c", "model_providers.revis.env_key=\"CODEX_API_KEY\""])
        .chain(["-c", "model_providers.revis.wire_api=\"responses\"", "--x", "y"]);
    assert_eq!(strings(agent(AgentKind::Codex).args(&sample_run(AgentKind::Codex))), codex.collect::<Vec<_>>());

    // aider keeps its chat histories next to the run's log, and takes the files as arguments.
    let aider = ["--message", "do \"it\"", "--yes-always", "--no-auto-commits", "--no-stream", "--no-gitignore"]
        .into_iter()
        .chain(["--no-check-update", "--no-show-release-notes", "--no-analytics", "--no-restore-chat-history"])
        .chain(["--chat-history-file", "/logs/aider.chat.history.md"])
        .chain(["--input-history-file", "/logs/aider.input.history"])
        .chain(["--model", "m", "--x", "y", "a.py", "./-b.py"]);
    assert_eq!(strings(agent(AgentKind::Aider).args(&sample_run(AgentKind::Aider))), aider.collect::<Vec<_>>());
}

#[test]
fn only_codex_watches_for_giving_up() {
    let watching: Vec<(&str, bool)> = agents().iter().map(|a| (a.name(), a.give_up_watch().is_some())).collect();
    assert_eq!(watching, [("claude-code", false), ("codex", true), ("aider", false)]);
}

#[test]
fn each_agent_reads_its_own_format() {
    let claude = agent(AgentKind::ClaudeCode)
        .read(r#"{"type":"result","subtype":"success","result":"done","total_cost_usd":0.5}"#, false);
    assert_eq!((claude.error, claude.summary.as_str(), claude.cost_usd), (None, "done", Some(0.5)));

    // codex is told when the start of stdout was dropped: the cut first line is skipped.
    let events = "{\"type\":\"item.completed\",\"item\":{\"type\":\"agent_message\",\"text\":\"cut\"}}\n\
                  {\"type\":\"turn.completed\",\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}\n";
    let codex = agent(AgentKind::Codex).read(events, false);
    assert_eq!((codex.error, codex.summary.as_str(), codex.tokens), (None, "cut", Some((3, 1))));
    assert_eq!(agent(AgentKind::Codex).read(events, true).summary, "");

    let aider = agent(AgentKind::Aider).read("Applied edit\nTokens: 2k sent, 30 received.\n", false);
    assert_eq!((aider.error, aider.tokens), (None, Some((2000, 30))));
    // Each reader rejects the others' output.
    assert!(!agent(AgentKind::ClaudeCode).read(events, false).parsed);
    assert!(!agent(AgentKind::Codex).read("Tokens: 1 sent, 1 received.\n", false).parsed);
}

#[test]
fn each_agent_takes_its_own_configured_args() {
    let args = AgentArgs { claude_code: vec!["c".into()], codex: vec!["x".into()], aider: vec!["a".into()] };
    let picked: Vec<&[String]> = agents().iter().map(|a| a.configured_args(&args)).collect();
    assert_eq!(picked, [&["c".to_string()][..], &["x".to_string()], &["a".to_string()]]);
}

#[test]
fn each_agent_gets_the_settings_it_always_did() {
    let env = IndexMap::new();
    let opts = AgentOptions {
        model: None,
        llm_model: "anthropic/claude-sonnet-4-5",
        api_base: None,
        env: &env,
        codex_logged_in: false,
    };
    let vars = [
        ("ANTHROPIC_API_KEY", "k"),
        ("OPENAI_API_KEY", " o "),
        ("ANTHROPIC_BASE_URL", "http://a"),
        ("OPENAI_BASE_URL", "http://o"),
    ];
    let session = |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string());
    let pairs = |env: &[(String, String)]| env.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>();

    let s = settings(AgentKind::ClaudeCode, &opts, &session);
    assert_eq!((s.model.as_deref(), s.api_base.as_deref()), (Some("claude-sonnet-4-5"), None));
    assert_eq!(
        pairs(&s.env),
        [
            "ANTHROPIC_API_KEY=k",
            "ANTHROPIC_BASE_URL=http://a",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1",
            "DISABLE_AUTOUPDATER=1"
        ]
    );

    let s = settings(AgentKind::Codex, &opts, &session);
    assert_eq!((s.model.as_deref(), s.api_base.as_deref()), (None, Some("http://o")));
    assert_eq!(pairs(&s.env), ["CODEX_API_KEY=o"]);

    let s = settings(AgentKind::Aider, &opts, &session);
    assert_eq!((s.model.as_deref(), s.api_base.as_deref()), (Some("anthropic/claude-sonnet-4-5"), None));
    assert_eq!(
        pairs(&s.env),
        [
            "ANTHROPIC_API_KEY=k",
            "OPENAI_API_KEY=o",
            "ANTHROPIC_API_BASE=http://a",
            "ANTHROPIC_BASE_URL=http://a",
            "OPENAI_API_BASE=http://o",
            "LITELLM_LOCAL_MODEL_COST_MAP=True"
        ]
    );
}
