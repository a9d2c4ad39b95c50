//! aider: `aider --message <prompt> --yes-always --no-auto-commits --no-stream <files…>`. It
//! reports nothing structured and exits 0 even when every model call failed (it retries for
//! about a minute, prints the errors, and gives up). So a run counts only if the model
//! answered: aider prints a `Tokens: …` line for every reply, with `Cost: $… message, $…
//! session.` when it knows the price. Without one, the last error it printed is the reason.
//!
//! Its bookkeeping stays out of the change: `--no-gitignore` keeps it from adding `.aider*` to
//! `.gitignore`, the chat and input histories go to the run directory, and its tag cache stays
//! in the agent's view, which is thrown away.

use std::ffi::OsString;
use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;

use super::agent::clip;
use super::agent_trait::{CodingAgent, Report};
use super::setup::{AgentOptions, AgentSettings, Family, SessionVars, family, is_none, set_var};
use super::{AgentKind, AgentRun};
use crate::config::schema::{AgentArgs, CodingAgentType};

/// aider, `aider` on PATH.
pub(super) struct Aider;

impl CodingAgent for Aider {
    fn kind(&self) -> AgentKind {
        AgentKind::Aider
    }

    fn config_type(&self) -> CodingAgentType {
        CodingAgentType::Aider
    }

    fn name(&self) -> &'static str {
        "aider"
    }

    fn program(&self) -> &'static str {
        "aider"
    }

    fn configured_args<'a>(&self, args: &'a AgentArgs) -> &'a [String] {
        &args.aider
    }

    /// aider calls any provider through litellm, so the advisor's model always serves, named as
    /// given, and the endpoint goes into whichever variable litellm reads for that provider.
    fn settings(&self, opts: &AgentOptions<'_>, session: &SessionVars<'_>) -> AgentSettings {
        let model = opts.configured_model().map(str::to_string).or_else(|| {
            let llm = opts.llm_model.trim();
            (!is_none(llm)).then(|| llm.to_string())
        });
        let mut env = Vec::new();
        for name in [
            "ANTHROPIC_API_KEY",
            "OPENAI_API_KEY",
            "OLLAMA_API_BASE",
            "HOSTED_VLLM_API_BASE",
            "HOSTED_VLLM_API_KEY",
            "LITELLM_PROXY_API_BASE",
            "LITELLM_PROXY_API_KEY",
        ] {
            set_var(&mut env, name, session.get(name));
        }
        let anthropic_base = session.get("ANTHROPIC_BASE_URL").or_else(|| session.get("ANTHROPIC_API_BASE"));
        let openai_base = session.get("OPENAI_API_BASE").or_else(|| session.get("OPENAI_BASE_URL"));
        // litellm reads the base of a proxy or local server from its own variable.
        let prefix_base = match model.as_deref().and_then(|m| m.split_once('/')).map(|(p, _)| p) {
            Some("ollama" | "ollama_chat") => Some("OLLAMA_API_BASE"),
            Some("hosted_vllm") => Some("HOSTED_VLLM_API_BASE"),
            Some("litellm_proxy") => Some("LITELLM_PROXY_API_BASE"),
            _ => None,
        };
        let (anthropic_base, openai_base) =
            match (opts.configured_api_base(), model.as_deref().map(family), prefix_base) {
                (Some(base), _, Some(name)) => {
                    set_var(&mut env, name, Some(base));
                    (anthropic_base, openai_base)
                }
                (Some(base), Some(Family::Anthropic), None) => (Some(base), openai_base),
                (Some(base), _, None) => (anthropic_base, Some(base)),
                (None, _, _) => (anthropic_base, openai_base),
            };
        set_var(&mut env, "ANTHROPIC_API_BASE", anthropic_base.clone());
        set_var(&mut env, "ANTHROPIC_BASE_URL", anthropic_base);
        set_var(&mut env, "OPENAI_API_BASE", openai_base);
        // litellm fetches its model price map from the network at import unless told not to.
        set_var(&mut env, "LITELLM_LOCAL_MODEL_COST_MAP", Some("True".into()));
        AgentSettings { model, api_base: None, env }
    }

    /// The chat histories go next to the run's log, out of the worktree.
    fn args(&self, run: &AgentRun) -> Vec<OsString> {
        let history_dir = run.log_path.parent().unwrap_or(&run.worktree);
        args(&run.prompt, &run.files, run.model.as_deref(), history_dir, &run.extra_args)
    }

    /// Each line is read on its own, so a cut first line needs no special care.
    fn read(&self, stdout: &str, _truncated: bool) -> Report {
        read(stdout)
    }
}

const SUMMARY_LINES: usize = 20;

pub(super) fn args(
    prompt: &str,
    files: &[String],
    model: Option<&str>,
    history_dir: &Path,
    extra: &[String],
) -> Vec<OsString> {
    let mut args: Vec<OsString> = [
        "--message",
        prompt,
        "--yes-always",
        "--no-auto-commits",
        "--no-stream",
        "--no-gitignore",
        // A daemon-run agent has no one to show release notes to, and must not reach the
        // network for anything but its model. (`--no-analytics` for this run only:
        // `--analytics-disable` would change the user's own aider settings for good.)
        "--no-check-update",
        "--no-show-release-notes",
        "--no-analytics",
        "--no-restore-chat-history",
    ]
    .into_iter()
    .map(OsString::from)
    .collect();
    args.push("--chat-history-file".into());
    args.push(history_dir.join("aider.chat.history.md").into());
    args.push("--input-history-file".into());
    args.push(history_dir.join("aider.input.history").into());
    if let Some(model) = model {
        args.extend(["--model".into(), model.into()]);
    }
    args.extend(extra.iter().map(OsString::from));
    // A file named like a flag would be read as one; "./" keeps it a path.
    args.extend(files.iter().map(|file| if file.starts_with('-') { format!("./{file}") } else { file.clone() }.into()));
    args
}

static ANSI: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"\x1b\[[0-9;?]*[ -/]*[@-~]").ok());
/// `Tokens: 2.3k sent, 1.1k cache write, 4k cache hit, 150 received.`
static TOKENS: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"([0-9][0-9.,]*[kKmM]?) (sent|cache write|cache hit|received)").ok());
/// `Cost: $0.0090 message, $0.0123 session.`
static SESSION_COST: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"\$([0-9][0-9.,]*) session").ok());

pub(super) fn read(stdout: &str) -> Report {
    let plain = match ANSI.as_ref() {
        Some(ansi) => ansi.replace_all(stdout, ""),
        None => stdout.into(),
    };
    let lines: Vec<&str> = plain.trim_end().lines().collect();
    let summary = lines[lines.len().saturating_sub(SUMMARY_LINES)..].join("\n");
    let last_error = lines
        .iter()
        .rev()
        .map(|line| line.trim())
        .find(|line| {
            let lower = line.to_ascii_lowercase();
            (lower.contains("error") || lower.contains("exception")) && !lower.starts_with("retrying")
        })
        .map(|line| clip(line, 600));
    let mut tokens: Option<(u64, u64)> = None;
    let mut cost_usd = None;
    for line in lines.iter().map(|l| l.trim()).filter(|l| l.starts_with("Tokens:")) {
        let (mut input, mut output) = tokens.unwrap_or((0, 0));
        for cap in TOKENS.iter().flat_map(|re| re.captures_iter(line)) {
            let n = count(&cap[1]);
            if &cap[2] == "received" { output += n } else { input += n }
        }
        tokens = Some((input, output));
        if let Some(cost) = SESSION_COST.as_ref().and_then(|re| re.captures(line)) {
            cost_usd = cost[1].replace(',', "").parse::<f64>().ok();
        }
    }
    let error = match (&tokens, &last_error) {
        (Some(_), _) => None,
        (None, Some(error)) => Some(format!("got no reply from its model: {error}")),
        (None, None) => Some("got no reply from its model".to_string()),
    };
    // Output with neither a reply nor an error in it says nothing: a non-zero exit is then
    // better explained by stderr.
    let parsed = tokens.is_some() || last_error.is_some();
    Report { summary, cost_usd, tokens, error, last_error, parsed, ..Report::default() }
}

/// `2.3k` → 2300, `1.2M` → 1200000, `150` → 150.
fn count(text: &str) -> u64 {
    let text = text.replace(',', "");
    let (number, scale) = match text.chars().last() {
        Some('k' | 'K') => (&text[..text.len() - 1], 1_000.0),
        Some('m' | 'M') => (&text[..text.len() - 1], 1_000_000.0),
        _ => (text.as_str(), 1.0),
    };
    number.parse::<f64>().map_or(0, |n| (n * scale).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_is_the_last_twenty_lines_without_colour() {
        let mut out: String = (1..=29).map(|i| format!("\x1b[32mline {i}\x1b[0m\n")).collect();
        out.push_str("Tokens: 2.3k sent, 150 received. Cost: $0.0090 message, $0.0123 session.\n");
        let report = read(&out);
        assert_eq!(report.summary.lines().count(), 20);
        assert!(report.summary.starts_with("line 11\n"));
        assert_eq!(report.error, None);
    }

    #[test]
    fn tokens_and_the_session_cost_are_read() {
        let out = "Tokens: 2.3k sent, 1.1k cache write, 4k cache hit, 150 received. Cost: $0.0090 message, $0.0090 session.\n\
                   Applied edit to train.py\n\
                   Tokens: 1,200 sent, 1.5k received. Cost: $0.01 message, $0.0190 session.\n";
        let report = read(out);
        assert_eq!(report.tokens, Some((2300 + 1100 + 4000 + 1200, 150 + 1500)));
        assert_eq!(report.cost_usd, Some(0.019));
        assert_eq!(report.error, None);
        // Models without a price get a tokens line alone.
        assert_eq!(read("Tokens: 10 sent, 2 received.\n").tokens, Some((10, 2)));
    }

    #[test]
    fn no_reply_from_the_model_fails_with_its_last_error() {
        let out = "Aider v0.86.2\nModel: openai/gpt-4.1 with diff edit format\n\
                   litellm.APIConnectionError: APIConnectionError: OpenAIException - Connection error.\n\
                   Retrying in 0.2 seconds...\n\
                   litellm.APIConnectionError: APIConnectionError: OpenAIException - Connection error.\n\
                   Retrying in 32.0 seconds...\n";
        let report = read(out);
        assert_eq!(
            report.error.as_deref(),
            Some(
                "got no reply from its model: litellm.APIConnectionError: APIConnectionError: OpenAIException - Connection error."
            )
        );
        assert_eq!(read("").error.as_deref(), Some("got no reply from its model"));
    }

    #[test]
    fn files_follow_the_flags() {
        let args =
            args("do it", &["a.py".to_string(), "-odd.py".to_string()], Some("openai/gpt-4.1"), Path::new("/r"), &[]);
        let text: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
        assert_eq!(&text[..2], ["--message", "do it"]);
        assert!(text.contains(&"--no-gitignore".to_string()));
        assert!(text.contains(&"/r/aider.chat.history.md".to_string()));
        let model = text.iter().position(|a| a == "--model").map(|i| text[i + 1].as_str());
        assert_eq!(model, Some("openai/gpt-4.1"));
        assert_eq!(&text[text.len() - 2..], ["a.py", "./-odd.py"]);
    }
}
