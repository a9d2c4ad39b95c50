//! Claude Code headless: `claude -p <prompt> --output-format json`, one result object on stdout.
//! Its exit code is unreliable (errors come back with exit 0), so the object decides as much as
//! the exit code does.

use std::ffi::OsString;

use serde::Deserialize;

use super::agent::clip;
use super::agent_trait::{CodingAgent, Report};
use super::setup::{AgentOptions, AgentSettings, Family, SessionVars, bare, family, set_var};
use super::{AgentKind, AgentRun};
use crate::config::schema::{AgentArgs, CodingAgentType};

/// Claude Code, `claude` on PATH.
pub(super) struct ClaudeCode;

impl CodingAgent for ClaudeCode {
    fn kind(&self) -> AgentKind {
        AgentKind::ClaudeCode
    }

    fn config_type(&self) -> CodingAgentType {
        CodingAgentType::ClaudeCode
    }

    fn name(&self) -> &'static str {
        "claude-code"
    }

    fn program(&self) -> &'static str {
        "claude"
    }

    fn configured_args<'a>(&self, args: &'a AgentArgs) -> &'a [String] {
        &args.claude_code
    }

    /// `--model` takes Anthropic's bare id; the advisor's model serves only when it is Anthropic's.
    fn settings(&self, opts: &AgentOptions<'_>, session: &SessionVars<'_>) -> AgentSettings {
        let model = match opts.configured_model() {
            Some(model) => Some(bare(model)),
            None => (family(opts.llm_model) == Family::Anthropic).then(|| bare(opts.llm_model)),
        };
        let mut env = Vec::new();
        set_var(&mut env, "ANTHROPIC_API_KEY", session.get("ANTHROPIC_API_KEY"));
        let base = opts
            .configured_api_base()
            .or_else(|| session.get("ANTHROPIC_BASE_URL"))
            .or_else(|| session.get("ANTHROPIC_API_BASE"));
        set_var(&mut env, "ANTHROPIC_BASE_URL", base);
        // A daemon-run agent updating itself mid-session, or reporting errors that may
        // quote the project's files, is not what the user asked for.
        set_var(&mut env, "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", Some("1".into()));
        set_var(&mut env, "DISABLE_AUTOUPDATER", Some("1".into()));
        AgentSettings { model, api_base: None, env }
    }

    fn args(&self, run: &AgentRun) -> Vec<OsString> {
        args(&run.prompt, run.max_turns, run.model.as_deref(), &run.extra_args)
    }

    /// The result object is the last thing printed, so a dropped start loses nothing it needs.
    fn read(&self, stdout: &str, _truncated: bool) -> Report {
        read(stdout)
    }
}

pub(super) fn args(prompt: &str, max_turns: u32, model: Option<&str>, extra: &[String]) -> Vec<OsString> {
    let mut args: Vec<OsString> = [
        "-p",
        prompt,
        "--output-format",
        "json",
        "--max-turns",
        &max_turns.to_string(),
        "--permission-mode",
        "acceptEdits",
    ]
    .into_iter()
    .map(OsString::from)
    .collect();
    if let Some(model) = model {
        args.extend(["--model".into(), model.into()]);
    }
    args.extend(extra.iter().map(OsString::from));
    args
}

#[derive(Debug, Deserialize)]
struct ResultMessage {
    #[serde(rename = "type")]
    kind: Option<String>,
    subtype: Option<String>,
    #[serde(default)]
    is_error: bool,
    result: Option<String>,
    total_cost_usd: Option<f64>,
    usage: Option<Usage>,
}

#[derive(Debug, Deserialize)]
struct Usage {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_creation_input_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
}

pub(super) fn read(stdout: &str) -> Report {
    let Some(message) = find_result(stdout) else {
        return Report::unparsed(format!("output is not a Claude Code JSON result: {}", clip(stdout.trim(), 200)));
    };
    let summary = message.result.clone().unwrap_or_default();
    let failed = message.is_error || message.subtype.as_deref() != Some("success");
    let last_error = failed.then(|| clip(summary.trim(), 600)).filter(|e| !e.is_empty());
    let error = match message.subtype.as_deref() {
        Some("success") if message.is_error => Some(format!("reported an error: {}", clip(&summary, 600))),
        Some("success") => None,
        Some(subtype) => Some(with_detail(stopped_because(subtype), &summary)),
        None => Some(with_detail("returned a result without a subtype".to_string(), &summary)),
    };
    Report {
        summary,
        cost_usd: message.total_cost_usd,
        // Cached prompt tokens are still input the model read; counting them keeps the total honest.
        tokens: message.usage.map(|u| {
            let input = [u.input_tokens, u.cache_creation_input_tokens, u.cache_read_input_tokens];
            (input.into_iter().flatten().sum(), u.output_tokens.unwrap_or(0))
        }),
        error,
        last_error,
        parsed: true,
        ..Report::default()
    }
}

fn stopped_because(subtype: &str) -> String {
    match subtype {
        "error_max_turns" => "stopped at its turn limit (error_max_turns)".to_string(),
        "error_max_budget_usd" => "stopped at its budget limit (error_max_budget_usd)".to_string(),
        "error_during_execution" => "failed during execution (error_during_execution)".to_string(),
        other => format!("stopped with {other}"),
    }
}

fn with_detail(message: String, detail: &str) -> String {
    if detail.trim().is_empty() { message } else { format!("{message}: {}", clip(detail.trim(), 600)) }
}

/// The whole of stdout should be the object; a stray line before it, or the `--verbose` array
/// form, is tolerated rather than failing an otherwise good run.
fn find_result(stdout: &str) -> Option<ResultMessage> {
    let is_result = |m: &ResultMessage| m.kind.as_deref() == Some("result");
    let text = stdout.trim();
    if let Ok(message) = serde_json::from_str::<ResultMessage>(text) {
        return Some(message).filter(is_result);
    }
    if let Ok(messages) = serde_json::from_str::<Vec<serde_json::Value>>(text) {
        return messages
            .into_iter()
            .rev()
            .filter_map(|value| serde_json::from_value::<ResultMessage>(value).ok())
            .find(is_result);
    }
    text.lines()
        .rev()
        .filter(|line| line.trim_start().starts_with('{'))
        .filter_map(|line| serde_json::from_str::<ResultMessage>(line).ok())
        .find(is_result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_with_cost_and_usage() {
        let out = r#"{"type":"result","subtype":"success","is_error":false,"result":"Added a cosine schedule.",
            "session_id":"s","num_turns":4,"total_cost_usd":0.0123,
            "usage":{"input_tokens":100,"cache_read_input_tokens":50,"output_tokens":20}}"#;
        let report = read(out);
        assert_eq!(report.error, None);
        assert_eq!(report.summary, "Added a cosine schedule.");
        assert_eq!(report.cost_usd, Some(0.0123));
        assert_eq!(report.tokens, Some((150, 20)));
    }

    #[test]
    fn model_and_extra_arguments_follow_the_flags() {
        let args = args("p", 5, Some("claude-opus-4-1"), &["--verbose".to_string()]);
        let tail: Vec<&OsString> = args.iter().skip(8).collect();
        assert_eq!(tail, ["--model", "claude-opus-4-1", "--verbose"].map(OsString::from).iter().collect::<Vec<_>>());
    }

    #[test]
    fn is_error_fails_even_on_success_subtype() {
        let report = read(r#"{"type":"result","subtype":"success","is_error":true,"result":"API Error: 529"}"#);
        assert_eq!(report.error.as_deref(), Some("reported an error: API Error: 529"));
    }

    #[test]
    fn non_success_subtypes_fail() {
        let report = read(r#"{"type":"result","subtype":"error_max_turns","is_error":false,"total_cost_usd":0.5}"#);
        assert_eq!(report.error.as_deref(), Some("stopped at its turn limit (error_max_turns)"));
        assert_eq!(report.cost_usd, Some(0.5));
        let report = read(r#"{"type":"result","subtype":"error_during_execution","is_error":true}"#);
        assert!(report.error.is_some_and(|e| e.contains("error_during_execution")));
    }

    #[test]
    fn garbage_and_non_result_objects_are_unparsed() {
        for out in ["", "Segmentation fault", r#"{"type":"assistant"}"#, "[1,2]"] {
            let report = read(out);
            assert!(!report.parsed, "{out}");
            assert!(report.error.is_some_and(|e| e.starts_with("output is not a Claude Code JSON result")));
        }
    }

    #[test]
    fn tolerates_a_leading_line_and_the_array_form() {
        let report = read("warning: something\n{\"type\":\"result\",\"subtype\":\"success\",\"result\":\"ok\"}\n");
        assert_eq!((report.error, report.summary.as_str()), (None, "ok"));
        let report = read(r#"[{"type":"system"},{"type":"result","subtype":"success","result":"fine"}]"#);
        assert_eq!((report.error, report.summary.as_str()), (None, "fine"));
    }
}
