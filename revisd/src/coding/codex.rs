//! Codex: `codex exec <prompt> --json`, a stream of JSONL events on stdout. The run's outcome
//! is its turn: `turn.completed` succeeded, `turn.failed` failed. `error` events on the way are
//! not fatal by themselves (codex reports each "Reconnecting... 2/5" try as one, then often
//! completes the turn); the last of them is what a failure or a timeout quotes.
//!
//! codex takes its endpoint from its configuration only (`OPENAI_BASE_URL` is ignored), so a
//! base URL becomes `-c` overrides naming a provider entry of Revis's own. They apply to this
//! run only and leave the user's `config.toml` (profiles, MCP servers, login) as it is.

use std::ffi::OsString;

use serde_json::Value;

use super::agent::clip;
use super::agent_trait::{CodingAgent, Report};
use super::process::LineWatch;
use super::setup::{AgentOptions, AgentSettings, Family, SessionVars, bare, family, set_var};
use super::{AgentKind, AgentRun};
use crate::config::schema::{AgentArgs, CodingAgentType};

/// OpenAI's Codex CLI, `codex` on PATH.
pub(super) struct Codex;

impl CodingAgent for Codex {
    /// `auth.json` in the CODEX_HOME the agent will have (`coding_agent.env`, else the
    /// daemon's), else in `~/.codex`.
    fn has_own_login(&self, home: Option<String>) -> bool {
        let home = home
            .map(std::path::PathBuf::from)
            .or_else(|| std::env::var_os("CODEX_HOME").map(std::path::PathBuf::from))
            .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".codex")));
        home.is_some_and(|dir| dir.join("auth.json").is_file())
    }

    fn kind(&self) -> AgentKind {
        AgentKind::Codex
    }

    fn config_type(&self) -> CodingAgentType {
        CodingAgentType::Codex
    }

    fn name(&self) -> &'static str {
        "codex"
    }

    fn program(&self) -> &'static str {
        "codex"
    }

    fn configured_args<'a>(&self, args: &'a AgentArgs) -> &'a [String] {
        &args.codex
    }

    /// `-m` takes OpenAI's bare id; the advisor's model serves only when it is OpenAI's. The
    /// endpoint goes on the command line (`args`), not into the environment.
    fn settings(&self, opts: &AgentOptions<'_>, session: &SessionVars<'_>) -> AgentSettings {
        let model = match opts.configured_model() {
            Some(model) => Some(bare(model)),
            None => (family(opts.llm_model) == Family::OpenAi).then(|| bare(opts.llm_model)),
        };
        let api_base = opts
            .configured_api_base()
            .or_else(|| session.get("OPENAI_BASE_URL"))
            .or_else(|| session.get("OPENAI_API_BASE"));
        // Revis's provider entry reads CODEX_API_KEY; codex's own provider uses its login
        // when it has one, and CODEX_API_KEY otherwise.
        let openai_key = (api_base.is_some() || !opts.codex_logged_in).then(|| session.get("OPENAI_API_KEY")).flatten();
        let mut env = Vec::new();
        set_var(&mut env, "CODEX_API_KEY", session.get("CODEX_API_KEY").or(openai_key));
        AgentSettings { model, api_base, env }
    }

    fn args(&self, run: &AgentRun) -> Vec<OsString> {
        args(&run.prompt, run.model.as_deref(), run.api_base.as_deref(), &run.extra_args)
    }

    fn give_up_watch(&self) -> Option<LineWatch> {
        Some(Box::new(network_watch()))
    }

    fn read(&self, stdout: &str, truncated: bool) -> Report {
        read(stdout, truncated)
    }
}

/// The provider entry the `-c` overrides define.
const PROVIDER: &str = "revis";

pub(super) fn args(prompt: &str, model: Option<&str>, api_base: Option<&str>, extra: &[String]) -> Vec<OsString> {
    // The view the agent works in is a repository of its own, but say so in case a user's
    // extra arguments move it.
    let mut args: Vec<OsString> = ["exec", prompt, "--json", "--sandbox", "workspace-write", "--skip-git-repo-check"]
        .into_iter()
        .map(OsString::from)
        .collect();
    if let Some(model) = model {
        args.extend(["-m".into(), model.into()]);
    }
    if let Some(base) = api_base {
        for setting in [
            format!("model_provider={}", toml_string(PROVIDER)),
            format!("model_providers.{PROVIDER}.name={}", toml_string("Revis")),
            format!("model_providers.{PROVIDER}.base_url={}", toml_string(base)),
            format!("model_providers.{PROVIDER}.env_key={}", toml_string("CODEX_API_KEY")),
            format!("model_providers.{PROVIDER}.wire_api={}", toml_string("responses")),
        ] {
            args.extend(["-c".into(), setting.into()]);
        }
    }
    args.extend(extra.iter().map(OsString::from));
    args
}

/// A TOML basic string: codex parses each `-c` value as TOML. YAML's double-quoted scalars
/// use the same escapes (`\"`, `\\`, `\n`, `\uXXXX`), so the config writer's quoting serves.
fn toml_string(text: &str) -> String {
    crate::config::template::quote(text)
}

/// How many "waiting for network" notices in a row mean the model cannot be reached. codex
/// never gives up by itself: it backs off (about 3, 11 and 25 s for the first three) forever.
const NETWORK_NOTICES: usize = 3;

/// Watches codex's events while it runs and gives up once it has waited for the network
/// `NETWORK_NOTICES` times in a row with nothing else happening.
pub(super) fn network_watch() -> impl FnMut(&str) -> Option<String> + Send {
    let mut waiting = 0;
    move |line: &str| {
        let event: Value = serde_json::from_str(line.trim()).ok()?;
        let text = event.get("message").and_then(Value::as_str).unwrap_or_default();
        if event["type"] == "error" && text.contains("waiting for network") {
            waiting += 1;
            return (waiting >= NETWORK_NOTICES)
                .then(|| format!("cannot reach its model ({waiting} tries): {}", clip(text, 600)));
        }
        waiting = 0;
        None
    }
}

/// `truncated`: the start of stdout was dropped, so its first line may be half an event.
pub(super) fn read(stdout: &str, truncated: bool) -> Report {
    let events: Vec<Value> = stdout
        .lines()
        .skip(usize::from(truncated))
        .filter_map(|line| serde_json::from_str::<Value>(line.trim()).ok())
        .filter(|event| event.get("type").is_some_and(Value::is_string))
        .collect();
    if events.is_empty() {
        return Report::unparsed(format!("output has no Codex JSON events: {}", clip(stdout.trim(), 200)));
    }
    let mut report = Report { parsed: true, ..Report::default() };
    let mut tokens: Option<(u64, u64, u64)> = None;
    let mut completed = false;
    let mut failed: Option<String> = None;
    for event in &events {
        match event["type"].as_str().unwrap_or_default() {
            "turn.completed" => {
                completed = true;
                let usage = &event["usage"];
                let (input, cached, output) = tokens.unwrap_or((0, 0, 0));
                tokens = Some((
                    input + usage["input_tokens"].as_u64().unwrap_or(0),
                    cached + usage["cached_input_tokens"].as_u64().unwrap_or(0),
                    output + usage["output_tokens"].as_u64().unwrap_or(0),
                ));
            }
            "turn.failed" => {
                let text = message(&event["error"]);
                failed.get_or_insert_with(|| text.clone());
                report.last_error = Some(text);
            }
            "error" => report.last_error = Some(message(event)),
            "item.completed" => {
                if let Some(text) = agent_message(&event["item"]) {
                    report.summary = text.to_string();
                }
            }
            _ => {}
        }
    }
    report.tokens = tokens.map(|(input, _, output)| (input, output));
    report.cached_input_tokens = tokens.map(|(_, cached, _)| cached);
    report.error = match (failed, completed) {
        (Some(text), _) => Some(format!("turn failed: {text}")),
        (None, true) => None,
        (None, false) => Some(match &report.last_error {
            Some(text) => format!("ended without completing its turn: {text}"),
            None => format!(
                "ended without completing its turn (last event: {})",
                events.last().and_then(|e| e["type"].as_str()).unwrap_or("none")
            ),
        }),
    };
    report
}

fn message(value: &Value) -> String {
    match value.get("message").and_then(Value::as_str) {
        Some(text) => clip(text, 600),
        None => "no message".to_string(),
    }
}

/// Older releases said `item_type: assistant_message` for what is now `type: agent_message`.
fn agent_message(item: &Value) -> Option<&str> {
    let kind = item.get("type").or_else(|| item.get("item_type")).and_then(Value::as_str)?;
    matches!(kind, "agent_message" | "assistant_message").then(|| item.get("text").and_then(Value::as_str)).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = r#"{"type":"thread.started","thread_id":"t"}
{"type":"turn.started"}
{"type":"item.completed","item":{"id":"i0","type":"reasoning","text":"thinking"}}
{"type":"item.completed","item":{"id":"i1","type":"agent_message","text":"first"}}
{"type":"item.completed","item":{"id":"i2","type":"agent_message","text":"Switched to AdamW."}}
{"type":"turn.completed","usage":{"input_tokens":1200,"cached_input_tokens":100,"output_tokens":300}}
"#;

    #[test]
    fn completed_turn_is_success_with_last_agent_message() {
        let report = read(OK, false);
        assert_eq!(report.error, None);
        assert_eq!(report.summary, "Switched to AdamW.");
        assert_eq!(report.tokens, Some((1200, 300)));
        assert_eq!(report.cached_input_tokens, Some(100));
        assert_eq!(report.cost_usd, None);
    }

    #[test]
    fn reconnect_notices_before_a_completed_turn_are_not_failures() {
        let out = "{\"type\":\"thread.started\",\"thread_id\":\"t\"}\n\
            {\"type\":\"turn.started\"}\n\
            {\"type\":\"error\",\"message\":\"Reconnecting... 1/5 (stream disconnected before completion)\"}\n\
            {\"type\":\"error\",\"message\":\"Reconnecting... 2/5 (stream disconnected before completion)\"}\n\
            {\"type\":\"item.completed\",\"item\":{\"id\":\"i\",\"type\":\"agent_message\",\"text\":\"done\"}}\n\
            {\"type\":\"turn.completed\",\"usage\":{\"input_tokens\":10,\"output_tokens\":2}}\n";
        let report = read(out, false);
        assert_eq!(report.error, None);
        assert_eq!(report.summary, "done");
    }

    #[test]
    fn a_turn_that_never_completes_quotes_the_last_error() {
        let out = "{\"type\":\"turn.started\"}\n\
            {\"type\":\"error\",\"message\":\"Reconnecting... 5/5 (error sending request)\"}\n";
        let report = read(out, false);
        assert_eq!(
            report.error.as_deref(),
            Some("ended without completing its turn: Reconnecting... 5/5 (error sending request)")
        );
    }

    #[test]
    fn waiting_for_the_network_three_times_in_a_row_gives_up() {
        let notice = r#"{"type":"error","message":"Reconnecting... waiting for network (Connection failed: error sending request)"}"#;
        let mut watch = network_watch();
        assert_eq!(watch(notice), None);
        assert_eq!(watch(r#"{"type":"item.completed","item":{"type":"reasoning","text":"x"}}"#), None);
        assert_eq!(watch(notice), None);
        assert_eq!(watch(notice), None);
        let reason = watch(notice).unwrap_or_default();
        assert!(
            reason.starts_with("cannot reach its model (3 tries): Reconnecting... waiting for network"),
            "{reason}"
        );
        assert_eq!(network_watch()("not json"), None);
    }

    #[test]
    fn a_base_url_becomes_provider_overrides() {
        let args = args("p", Some("gpt-5-codex"), Some("http://127.0.0.1:9/v1"), &["--oss".to_string()]);
        let text: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
        let at = |flag: &str| text.iter().position(|a| a == flag);
        assert_eq!(at("-m").map(|i| text[i + 1].as_str()), Some("gpt-5-codex"));
        assert!(text.contains(&"model_provider=\"revis\"".to_string()), "{text:?}");
        assert!(text.contains(&"model_providers.revis.base_url=\"http://127.0.0.1:9/v1\"".to_string()));
        assert!(text.contains(&"model_providers.revis.env_key=\"CODEX_API_KEY\"".to_string()));
        assert_eq!(text.last().map(String::as_str), Some("--oss"));
        assert_eq!(toml_string("a\"b\\c"), "\"a\\\"b\\\\c\"");
    }

    #[test]
    fn a_failed_turn_fails() {
        let failed =
            "{\"type\":\"turn.started\"}\n{\"type\":\"turn.failed\",\"error\":{\"message\":\"rate limited\"}}\n";
        assert_eq!(read(failed, false).error.as_deref(), Some("turn failed: rate limited"));
    }

    #[test]
    fn missing_turn_completed_fails() {
        let report = read("{\"type\":\"turn.started\"}\n", false);
        assert_eq!(report.error.as_deref(), Some("ended without completing its turn (last event: turn.started)"));
    }

    #[test]
    fn noise_and_a_cut_first_line_are_skipped() {
        let cut = format!("ge\",\"type\":\"agent_message\"}}}}\nnot json\n{OK}");
        let report = read(&cut, true);
        assert_eq!(report.error, None);
        assert!(!read("plain text\n", false).parsed);
    }
}
