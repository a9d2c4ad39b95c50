//! One handoff from start to verdict: find the agent, build its command line and environment,
//! run it, and turn exit status plus output into an `AgentResult`.

use std::ffi::OsString;
use std::time::Duration;

use super::process::{self, Exit, Finished, Invocation};
use super::{AgentResult, AgentRun, Report, detect};
use crate::config::duration::format_duration;
use crate::secrets::PROVIDER_VARIABLES;

/// Between SIGTERM and SIGKILL when an agent times out.
const KILL_GRACE: Duration = Duration::from_secs(5);

/// Runs the agent on the worktree and reports how it went. Never panics and never returns
/// early with the agent still running: every failure, including a missing executable, is an
/// `AgentResult` with `ok: false`.
pub async fn run(run: &AgentRun) -> AgentResult {
    run_with(run, std::env::vars_os().collect(), KILL_GRACE).await
}

/// `base_env` stands for the daemon's environment so tests can prove what is stripped from it.
pub(super) async fn run_with(run: &AgentRun, base_env: Vec<(OsString, OsString)>, grace: Duration) -> AgentResult {
    let (kind, agent) = (run.kind, run.kind.agent());
    let Some(program) = detect::find_program(agent.program(), run.path_var.as_deref()) else {
        return not_started(format!("{} not found on PATH", agent.program()));
    };
    let header = format!("{kind} started in {} (timeout {})", run.worktree.display(), format_duration(run.timeout));
    let invocation = Invocation {
        program,
        args: agent.args(run),
        cwd: &run.worktree,
        env: child_env(base_env, run),
        timeout: run.timeout,
        grace,
        log_path: &run.log_path,
        header,
        give_up: agent.give_up_watch(),
    };
    let finished = match process::run(invocation).await {
        Ok(finished) => finished,
        Err(error) => return not_started(error.to_string()),
    };
    let result = judge(run, &finished);
    let verdict = result.failure.as_deref().unwrap_or("succeeded");
    process::log_note(&run.log_path, &format!("{kind} ended after {}: {verdict}", format_duration(result.duration)))
        .await;
    result
}

/// What an agent keeps of the daemon's environment: where it runs and as whom, locale,
/// certificates and proxies. Nothing else: the daemon inherited the environment of whichever
/// shell first started it, and keys in it (a provider's, a cloud's, a token for the agent's own
/// login) must not reach a session's agent. A user passes more through `coding_agent.env`.
fn kept_from_daemon(name: &str) -> bool {
    const NAMES: &[&str] = &[
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "SHELL",
        "LANG",
        "LANGUAGE",
        "TERM",
        "TMPDIR",
        "TZ",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "NODE_EXTRA_CA_CERTS",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "NO_PROXY",
    ];
    let upper = name.to_ascii_uppercase();
    NAMES.contains(&upper.as_str()) || name.starts_with("LC_") || name.starts_with("XDG_")
}

/// The daemon's environment kept to `kept_from_daemon`, then whatever the caller decided this
/// agent may have, and PATH replaced when the run names one.
pub(super) fn child_env(base: Vec<(OsString, OsString)>, run: &AgentRun) -> Vec<(OsString, OsString)> {
    let replaced = |name: &OsString| {
        PROVIDER_VARIABLES.iter().any(|v| name == v)
            || (run.path_var.is_some() && name == "PATH")
            || run.env.iter().any(|(k, _)| name == k.as_str())
    };
    let kept = |name: &OsString| name.to_str().is_some_and(kept_from_daemon) && !replaced(name);
    let mut env: Vec<(OsString, OsString)> = base.into_iter().filter(|(name, _)| kept(name)).collect();
    if let Some(path) = &run.path_var {
        env.push(("PATH".into(), path.clone()));
    }
    env.extend(run.env.iter().map(|(k, v)| (k.into(), v.into())));
    env
}

fn judge(run: &AgentRun, finished: &Finished) -> AgentResult {
    let kind = run.kind;
    let report = kind.agent().read(&finished.stdout, finished.stdout_truncated);
    let failure = match &finished.exit {
        Exit::GaveUp(reason) => Some(format!("{kind} {reason}")),
        Exit::TimedOut => Some(format!(
            "timed out after {}{}",
            format_duration(run.timeout),
            last_error(&report, finished).map(|e| format!("; its last error: {e}")).unwrap_or_default()
        )),
        Exit::Signal(signal) => Some(format!("{kind} was killed by {}", signal_name(*signal))),
        Exit::Unknown => Some(format!("{kind} ended, but its exit status could not be read")),
        Exit::Code(0) => report.error.as_ref().map(|error| format!("{kind} {error}")),
        Exit::Code(code) => Some(format!("{kind} exited with code {code}{}", exit_detail(&report, finished))),
    };
    AgentResult {
        ok: failure.is_none(),
        failure,
        summary: report.summary,
        cost_usd: report.cost_usd,
        tokens: report.tokens,
        cached_input_tokens: report.cached_input_tokens,
        exit_code: match finished.exit {
            Exit::Code(code) => Some(code),
            _ => None,
        },
        duration: finished.duration,
    }
}

/// Why a non-zero exit happened: the agent's own error if its output made sense, else the last
/// thing it said on stderr.
fn exit_detail(report: &Report, finished: &Finished) -> String {
    let stderr_line = finished.stderr_tail.lines().rev().map(str::trim).find(|line| !line.is_empty());
    let detail = match (&report.error, report.parsed, stderr_line) {
        (Some(error), true, _) => Some(error.clone()),
        (_, _, Some(line)) => Some(clip(line, 600)),
        (error, _, None) => error.clone(),
    };
    detail.map(|d| format!(": {d}")).unwrap_or_default()
}

/// What the agent last complained about: its own report, else its last words on stderr.
fn last_error(report: &Report, finished: &Finished) -> Option<String> {
    report.last_error.clone().or_else(|| {
        finished.stderr_tail.lines().rev().map(str::trim).find(|line| !line.is_empty()).map(|line| clip(line, 600))
    })
}

fn signal_name(signal: i32) -> String {
    nix::sys::signal::Signal::try_from(signal).map_or_else(|_| format!("signal {signal}"), |s| s.as_str().to_string())
}

fn not_started(failure: String) -> AgentResult {
    AgentResult {
        ok: false,
        failure: Some(failure),
        summary: String::new(),
        cost_usd: None,
        tokens: None,
        cached_input_tokens: None,
        exit_code: None,
        duration: Duration::ZERO,
    }
}

/// At most `max` characters, marked when cut, so one runaway message cannot flood an event.
pub(crate) fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coding::AgentKind;
    use std::path::PathBuf;

    fn sample_run(env: Vec<(String, String)>, path_var: Option<OsString>) -> AgentRun {
        AgentRun {
            kind: AgentKind::ClaudeCode,
            worktree: PathBuf::from("/w"),
            prompt: "p".into(),
            timeout: Duration::from_secs(1),
            max_turns: 3,
            files: vec![],
            log_path: PathBuf::from("/l"),
            env,
            path_var,
            model: None,
            api_base: None,
            extra_args: vec![],
        }
    }

    #[test]
    fn only_the_basics_of_the_daemons_environment_reach_the_agent() {
        let base: Vec<(OsString, OsString)> = [
            ("HOME", "/home/u"),
            ("PATH", "/usr/bin"),
            ("ANTHROPIC_API_KEY", "daemon-key"),
            ("OPENAI_API_KEY", "daemon-openai"),
            ("LITELLM_PROXY_API_KEY", "proxy"),
            ("ANTHROPIC_AUTH_TOKEN", "daemon-token"),
            ("CLAUDE_CODE_OAUTH_TOKEN", "daemon-oauth"),
            ("GEMINI_API_KEY", "daemon-gemini"),
            ("AWS_SECRET_ACCESS_KEY", "daemon-aws"),
            ("LC_ALL", "C.UTF-8"),
            ("https_proxy", "http://proxy:3128"),
        ]
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
        let run = sample_run(vec![("ANTHROPIC_API_KEY".into(), "agent-key".into())], Some("/stand-ins".into()));
        let env = child_env(base, &run);
        let get = |name: &str| -> Vec<&OsString> { env.iter().filter(|(k, _)| k == name).map(|(_, v)| v).collect() };
        assert_eq!(get("ANTHROPIC_API_KEY"), vec!["agent-key"]);
        assert_eq!(get("PATH"), vec!["/stand-ins"]);
        assert_eq!(get("HOME"), vec!["/home/u"]);
        assert!(get("OPENAI_API_KEY").is_empty());
        assert!(get("LITELLM_PROXY_API_KEY").is_empty());
        // Whatever else the daemon's environment holds stays out: only where and as whom the
        // agent runs, locale, certificates and proxies are kept.
        for name in ["ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN", "GEMINI_API_KEY", "AWS_SECRET_ACCESS_KEY"] {
            assert!(get(name).is_empty(), "{name} reached the agent");
        }
        assert_eq!(get("LC_ALL"), vec!["C.UTF-8"]);
        assert_eq!(get("https_proxy"), vec!["http://proxy:3128"]);
    }

    #[test]
    fn debug_never_prints_env_values() {
        let run = sample_run(vec![("ANTHROPIC_API_KEY".into(), "sk-secret".into())], None);
        let text = format!("{run:?}");
        assert!(text.contains("ANTHROPIC_API_KEY"));
        assert!(!text.contains("sk-secret"));
    }

    #[test]
    fn clip_marks_the_cut() {
        assert_eq!(clip("héllo", 2), "hé…");
        assert_eq!(clip("hi", 2), "hi");
    }
}
