//! Code changes by a coding agent: build the handoff prompt, run the agent in the worktree,
//! judge what it did (an error, no change, a frozen or hidden file touched), verify that the
//! training still runs, and keep the record (agent, summary, cost, diff). On any failure the
//! caller reverts the worktree; this module never commits.

use crate::store::sessions::LlmCost;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::advisor::llm::chat::Usage;
use crate::advisor::llm::{self, pricing};
use crate::coding::{self, AgentKind};
use crate::config::{Config, duration::parse_duration};
use crate::exec::{RunOutcome, RunSpec};
use crate::path_policy::Deny;
use crate::store::{IterationRow, SessionRow};
use crate::workspace::{self, view, view::AgentView, view::ViewChange};

use super::worktree::blocking;
use super::{Engine, EngineError, Result};

/// What a successful handoff did, stored on the iteration it produced.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentRecord {
    pub agent: String,
    pub request: String,
    pub summary: String,
    pub cost_usd: Option<f64>,
    pub files: Vec<String>,
    pub diff: String,
    pub duration_seconds: f64,
    pub verified: Option<String>,
}

/// The handoff's progress on the iteration the decision follows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HandoffState {
    #[serde(default)]
    pub approved: bool,
    #[serde(default)]
    pub failures: u32,
    #[serde(default)]
    pub last_failure: Option<String>,
}

impl HandoffState {
    /// The iteration's handoff state (the default when it has none yet).
    pub fn of(it: &IterationRow) -> Result<Self> {
        Ok(super::stored::parse_opt(it.handoff_json.as_deref(), "handoff_json", it)?.unwrap_or_default())
    }
}

pub struct Handoff<'a> {
    pub engine: &'a Engine,
    pub session: &'a SessionRow,
    pub config: &'a Config,
    pub worktree: &'a Path,
    pub kind: AgentKind,
    /// The iteration the decision follows, and every iteration so far.
    pub current: &'a IterationRow,
    pub iterations: &'a [IterationRow],
    pub request: String,
    pub files: Vec<String>,
    pub hypothesis: Option<String>,
    /// The training command the change will run with.
    pub command: String,
    /// Where the verify run goes: the slot's executor settings and its remote directory key.
    pub executor: crate::config::Executor,
    pub remote_key: String,
}

pub struct Outcome {
    pub result: std::result::Result<AgentRecord, String>,
    pub cost: LlmCost,
}

/// The agent's own files: its chat history and tag cache (`.aider*`). Never part of a change.
fn is_bookkeeping(path: &str) -> bool {
    path.split('/').next().is_some_and(|first| first.starts_with(".aider"))
}

/// A `.gitignore` change that only adds the agent's own patterns (aider adds `.aider*`) is
/// bookkeeping, not the change the advisor asked for.
fn gitignore_only_bookkeeping(view: &Path, worktree: &Path) -> bool {
    let (Ok(after), before) =
        (std::fs::read_to_string(view.join(".gitignore")), std::fs::read_to_string(worktree.join(".gitignore")))
    else {
        return false;
    };
    let before = before.unwrap_or_default();
    let old: std::collections::HashSet<&str> = before.lines().map(str::trim).collect();
    let added: Vec<&str> = after.lines().map(str::trim).filter(|l| !l.is_empty() && !old.contains(l)).collect();
    let removed = before.lines().map(str::trim).any(|l| !l.is_empty() && !after.lines().any(|a| a.trim() == l));
    !removed && added.iter().all(|l| l.starts_with('#') || l.trim_start_matches('/').starts_with(".aider"))
}

/// What the agent's tokens cost when it reports tokens but no dollars (codex): the model's
/// price from `llm.pricing` or the built-in table; `None` when the model or its price is unknown.
fn priced(result: &coding::AgentResult, model: Option<&str>, config: &Config) -> Option<f64> {
    if let Some(usd) = result.cost_usd {
        return Some(usd);
    }
    let (input, output) = result.tokens?;
    let price = pricing::model_price(model?, &llm::price_overrides(config))?;
    let cached = result.cached_input_tokens.unwrap_or(0).min(input);
    let usage =
        Usage { input_tokens: input - cached, output_tokens: output, cache_read_tokens: cached, cache_write_tokens: 0 };
    Some(pricing::cost(&price, &usage))
}

pub async fn run(h: Handoff<'_>) -> Result<Outcome> {
    let deny = Deny::new(&h.config.context.deny).map_err(|e| EngineError::Internal(format!("context.deny: {e}")))?;
    let frozen =
        Deny::new(&h.config.context.frozen).map_err(|e| EngineError::Internal(format!("context.frozen: {e}")))?;
    let run_dir = h.engine.run_dir(h.session.id, &h.session.name, h.current.number(), 1);
    if let Err(e) = tokio::fs::create_dir_all(&run_dir).await {
        return Ok(Outcome {
            result: Err(format!("cannot create {}: {e}", run_dir.display())),
            cost: LlmCost::default(),
        });
    }

    // Hidden means absent: the agent works in a copy without the denied files (see
    // workspace::view) and without revis.yaml (whose context.deny names them), in a private
    // temporary directory whose path says nothing of the project or of Revis's state. Its edits
    // are brought back after the checks.
    let scratch = match tempfile::Builder::new().prefix("revis-agent-").tempdir() {
        Ok(dir) => dir,
        Err(e) => {
            return Ok(Outcome {
                result: Err(format!("cannot make the agent's directory: {e}")),
                cost: LlmCost::default(),
            });
        }
    };
    let view_dir = scratch.path().join(&h.session.name);
    let built = {
        let (worktree, dir, deny) = (h.worktree.to_path_buf(), view_dir.clone(), deny.clone());
        blocking(move || view::build(&worktree, &dir, &|rel: &Path| hidden_from_agent(&deny, rel))).await?
    };
    let outcome = match built {
        Ok(view) => run_in_view(&h, &deny, &frozen, &view, &run_dir).await,
        Err(e) => Ok(Outcome {
            result: Err(format!("cannot prepare the agent's view of the worktree: {e}")),
            cost: LlmCost::default(),
        }),
    };
    // The view holds only what the agent could see; removing it is tidiness.
    if let Err(e) = blocking(move || scratch.close()).await? {
        tracing::warn!("could not remove the agent's view: {e}");
    }
    outcome
}

/// What the agent may not see: `context.deny` (with `.env`, `.git`, `.revis`) and revis.yaml,
/// whose `context.deny` names the hidden files.
fn hidden_from_agent(deny: &Deny, rel: &Path) -> bool {
    deny.is_denied(rel) || rel == Path::new(crate::config::FILE_NAME)
}

async fn run_in_view(h: &Handoff<'_>, deny: &Deny, frozen: &Deny, view: &AgentView, run_dir: &Path) -> Result<Outcome> {
    // The agent sees only files it may see: denied ones are never named to it, nor files its
    // view left out. A file that exists nowhere yet is one the advisor wants created.
    let files: Vec<String> = h
        .files
        .iter()
        .filter(|f| {
            let rel = Path::new(f.as_str());
            !hidden_from_agent(deny, rel) && !view.left_out.iter().any(|out| rel.starts_with(out))
        })
        .cloned()
        .collect();
    let history: Vec<String> = h
        .iterations
        .iter()
        .rev()
        .take(h.config.context.history.max(1) as usize)
        .rev()
        .map(|i| {
            let value = i.primary_value.map_or_else(
                || format!("failed: {}", i.failure_reason.as_deref().unwrap_or("-")),
                |v| format!("{}={v}", h.session.primary_metric),
            );
            let line = format!("#{} {value}; change: {}", i.number, i.change_summary.as_deref().unwrap_or("-"));
            // A failure reason or a summary may quote a path.
            redact(&line, deny)
        })
        .collect();
    // Nor are they named in the request's words.
    let request = redact(&h.request, deny);
    let hypothesis = h.hypothesis.as_deref().map(|t| redact(t, deny));
    let prompt = coding::prompt(&coding::Handoff {
        request: &request,
        hypothesis: hypothesis.as_deref(),
        files: &files,
        constraints: &h.config.context.constraints,
        history: &history,
        frozen: &h.config.context.frozen,
        primary: &h.session.primary_metric,
        minimize: h.session.minimize,
    });
    let try_number = HandoffState::of(h.current)?.failures + 1;
    let credentials = h.engine.credentials(h.session.id);
    let agent = &h.config.coding_agent;
    let options = coding::AgentOptions {
        model: agent.model.as_deref(),
        llm_model: &h.config.llm.model,
        api_base: agent.api_base.as_deref(),
        env: &agent.env,
        codex_logged_in: {
            // coding_agent.env may move the agent's home (a value, or a name from the session).
            let configured = agent.env.get("CODEX_HOME").map(|v| v.clone().or_else(|| credentials.get("CODEX_HOME")));
            coding::agent(h.kind).has_own_login(configured.flatten())
        },
    };
    let settings = coding::settings(h.kind, &options, &|name| credentials.get(name));
    let extra_args = coding::agent(h.kind).configured_args(&agent.args).to_vec();
    let agent_run = coding::AgentRun {
        kind: h.kind,
        worktree: view.dir.clone(),
        prompt,
        timeout: parse_duration(&agent.timeout).unwrap_or(Duration::from_secs(1800)),
        max_turns: agent.max_turns,
        files,
        log_path: run_dir.join(format!("agent-{try_number}.log")),
        env: settings.env.clone(),
        path_var: None,
        model: settings.model.clone(),
        api_base: settings.api_base.clone(),
        extra_args,
    };
    let result = coding::run(&agent_run).await;
    let cost = priced(&result, settings.model.as_deref(), h.config);
    let booked = LlmCost::of(cost);
    let fail = |reason: String| Ok(Outcome { result: Err(reason), cost: booked });
    if !result.ok {
        let failure = result.failure.unwrap_or_else(|| "no reason given".into());
        let named = failure.starts_with(&h.kind.to_string());
        return fail(if named { failure } else { format!("{}: {failure}", h.kind) });
    }

    let found = {
        let view = view.clone();
        match blocking(move || view::changes(&view)).await? {
            Ok(found) => found,
            // The agent can damage its own repository (`rm -rf .git`): its handoff failed.
            Err(e) => return fail(format!("{}'s changes could not be read from its view: {e}", h.kind)),
        }
    };
    let worktree = h.worktree.to_path_buf();
    let changes: Vec<ViewChange> = found
        .into_iter()
        .filter(|c| !is_bookkeeping(c.path()))
        .filter(|c| !(c.path() == ".gitignore" && gitignore_only_bookkeeping(&view.dir, &worktree)))
        .collect();
    let changed: Vec<String> = changes.iter().map(|c| c.path().to_string()).collect();
    if changed.is_empty() {
        let said = result.summary.lines().map(str::trim).find(|l| !l.is_empty());
        let said = said.map(|l| format!(" (it said: {})", coding::clip(l, 300))).unwrap_or_default();
        return fail(format!("{} finished but changed nothing{said}", h.kind));
    }
    let frozen_touched: Vec<&String> = changed.iter().filter(|p| frozen.is_denied(Path::new(p.as_str()))).collect();
    if !frozen_touched.is_empty() {
        return fail(format!(
            "{} changed frozen files (context.frozen), which define the evaluation: {}; the change was reverted",
            h.kind,
            frozen_touched.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
        ));
    }
    if changed.iter().any(|p| hidden_from_agent(deny, Path::new(p.as_str()))) {
        return fail(format!("{} changed files it may not touch (context.deny); the change was reverted", h.kind));
    }
    {
        let (view, worktree) = (view.clone(), worktree.clone());
        if let Err(e) = blocking(move || view::bring_back(&view, &worktree, &changes)).await? {
            return fail(format!("{}'s change could not be applied: {e}", h.kind));
        }
    }

    let verified = if h.config.coding_agent.verify {
        match verify(h, try_number).await? {
            Ok(note) => Some(note),
            Err(reason) => return fail(reason),
        }
    } else {
        None
    };
    let diff = blocking(move || workspace::diff_patch(&worktree, 256 * 1024)).await??;
    Ok(Outcome {
        result: Ok(AgentRecord {
            agent: h.kind.to_string(),
            request: h.request.clone(),
            summary: result.summary,
            cost_usd: cost,
            files: changed,
            diff,
            duration_seconds: result.duration.as_secs_f64(),
            verified,
        }),
        cost: booked,
    })
}

/// Replaces every path-like word of `text` that names a denied file (or lies under a denied
/// directory) by "[hidden]", so a request cannot carry a hidden file's name to the agent.
fn redact(text: &str, deny: &Deny) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        let trimmed = word.trim_end_matches(['.', ',', ':', ';']);
        let tail = &word[trimmed.len()..];
        let looks_like_path = trimmed.contains('/') || trimmed.contains('.');
        if looks_like_path && !trimmed.is_empty() && deny.is_denied(Path::new(trimmed.trim_start_matches("./"))) {
            out.push_str("[hidden]");
            out.push_str(tail);
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_alphanumeric() || matches!(c, '.' | '/' | '_' | '-' | '*') {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// Runs `entry.smoke` (or the training command for `coding_agent.verify_timeout`, where still
/// running at the end counts as a pass) in the worktree through the executor.
async fn verify(h: &Handoff<'_>, try_number: u32) -> Result<std::result::Result<String, String>> {
    let limit = parse_duration(&h.config.coding_agent.verify_timeout).unwrap_or(Duration::from_secs(600));
    let (command, smoke) = match &h.config.entry.smoke {
        Some(smoke) => (smoke.clone(), true),
        None => (h.command.clone(), false),
    };
    let base = h.engine.run_dir(h.session.id, &h.session.name, h.current.number(), 1);
    let run_dir = base.join(format!("verify-{try_number}"));
    let run_id = format!("{}-i{}-v{try_number}", super::run_key(h.session.id, &h.session.name), h.current.number());
    let output_dir = run_dir.join("output");
    let mut env = vec![
        ("REVIS_OUTPUT_DIR".to_string(), output_dir.display().to_string()),
        ("REVIS_SESSION".to_string(), h.session.name.clone()),
        ("REVIS_ITERATION".to_string(), h.current.number().to_string()),
        ("REVIS_RUN_ID".to_string(), run_id.clone()),
        ("REVIS_VERIFY".to_string(), "1".to_string()),
    ];
    env.extend(h.config.entry.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    let session = h.remote_key.clone();
    let spec = RunSpec { run_id, run_dir, workdir: h.worktree.to_path_buf(), command, env, output_dir, session };
    let max_run = parse_duration(&h.config.guardrails.max_run_duration).unwrap_or(limit);
    let exec = h.engine.executor_for(&h.executor, max_run).await?;
    let state_dir = h.engine.home().runs().join(&h.remote_key);
    if let Err(e) = exec.prepare_workdir(h.worktree, &spec.session, &h.config.workspace.link, &state_dir).await {
        return Ok(Err(format!("verify could not sync the worktree: {e}")));
    }
    if let Err(e) = exec.start(&spec).await {
        return Ok(Err(format!("verify could not start: {e}")));
    }
    let grace = parse_duration(&h.config.guardrails.kill_grace).unwrap_or(Duration::from_secs(10));
    let outcome = tokio::select! {
        outcome = exec.wait(&spec.run_id, &spec.run_dir, None) => outcome?,
        _ = tokio::time::sleep(limit) => {
            exec.kill(&spec.run_id, &spec.run_dir, grace).await?;
            RunOutcome::TimedOut
        }
    };
    // What the verify run printed goes back to the model: lines naming the holdout stay out.
    let hidden = h.config.metrics.holdout.as_deref();
    let tail = || {
        crate::exec::tail_lines(&exec.log_path(&spec.run_dir), 30)
            .map(|l| l.into_iter().filter(|l| hidden.is_none_or(|h| !l.contains(h))).collect::<Vec<_>>().join("\n"))
            .unwrap_or_default()
    };
    let what = if smoke { "the smoke run (entry.smoke)" } else { "a short training run" };
    Ok(match outcome {
        RunOutcome::Exited { code: 0 } => Ok(format!("{what} passed")),
        RunOutcome::TimedOut if !smoke => Ok(format!("{what} was still going after {}s", limit.as_secs())),
        RunOutcome::TimedOut => Err(format!("verify failed: {what} did not finish within {}s", limit.as_secs())),
        RunOutcome::Exited { code } => Err(format!("verify failed: {what} exited with code {code}:\n{}", tail())),
        RunOutcome::Vanished => Err(format!("verify failed: {what} disappeared:\n{}", tail())),
        RunOutcome::Ended { reason } => Err(format!("verify failed: {what} did not finish: {reason}:\n{}", tail())),
    })
}

/// One hash over the content of every file matched by `context.frozen` (None when nothing is
/// frozen), recorded per iteration so a change to the evaluation shows. A pattern that does
/// not compile is an error: skipping it would silently stop watching the evaluation.
pub fn frozen_hash(worktree: &Path, patterns: &[String]) -> Result<Option<String>> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let frozen = Deny::new(patterns).map_err(|e| EngineError::Internal(format!("context.frozen: {e}")))?;
    let mut files = Vec::new();
    let mut stack = vec![worktree.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else { continue };
            let Ok(rel) = path.strip_prefix(worktree) else { continue };
            if kind.is_symlink() || rel.starts_with(".git") || rel.starts_with(".revis") {
                continue;
            }
            if kind.is_dir() {
                stack.push(path);
            } else if frozen.is_denied(rel) && !matches!(rel.file_name().and_then(|n| n.to_str()), Some(".env")) {
                files.push(rel.to_path_buf());
            }
        }
    }
    files.sort();
    let mut hash = 0xcbf2_9ce4_8422_2325_u64;
    for rel in &files {
        for b in rel.to_string_lossy().bytes().chain(std::fs::read(worktree.join(rel)).unwrap_or_default()) {
            hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    Ok(Some(format!("{hash:016x} ({} files)", files.len())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_file_names_are_redacted_from_requests() {
        let deny = Deny::new(&["private/**".to_string(), "secrets.txt".to_string()]).unwrap();
        assert_eq!(
            redact("Calibrate against private/holdout_labels.csv, not secrets.txt. Edit train.py.", &deny),
            "Calibrate against [hidden], not [hidden]. Edit train.py."
        );
        assert_eq!(redact("use .env values", &deny), "use [hidden] values");
    }

    /// Fix 5: an invalid `context.frozen` pattern fails the check instead of turning it off.
    #[test]
    fn an_invalid_frozen_pattern_is_an_error_that_names_it() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.path().join("eval.py"), "print(1)\n").unwrap_or_else(|e| panic!("{e}"));
        let err =
            frozen_hash(dir.path(), &["eval.py".to_string(), "eval[.py".to_string()]).err().map(|e| e.to_string());
        let err = err.unwrap_or_else(|| panic!("an invalid pattern was skipped"));
        assert!(err.starts_with("context.frozen: invalid pattern `eval[.py`: "), "{err}");
        assert!(err.contains("unclosed character class"), "{err}");
        let hash = frozen_hash(dir.path(), &["eval.py".to_string()]).unwrap_or_else(|e| panic!("{e}"));
        assert!(hash.is_some_and(|h| h.ends_with("(1 files)")));
        assert_eq!(frozen_hash(dir.path(), &[]).unwrap_or_else(|e| panic!("{e}")), None);
    }
}
