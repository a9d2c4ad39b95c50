//! Asking the LLM advisor for a decision: builds its view of the session (prompt, tools over
//! the worktree, training logs, history), runs the agent, and keeps the transcript of every try
//! beside the iteration's runs (`decision-<try>.json`). Nothing here writes to the worktree.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::advisor::Decision;
use crate::advisor::llm::context::{self, HistoryEntry, Situation};
use crate::advisor::llm::{self, Agent, tools};
use crate::config::Config;
use crate::path_policy::Deny;
use crate::states::IterationState;
use crate::store::{IterationRow, SessionRow};

use super::{Engine, EngineError, Result};

/// Tokens and dollars of one decision (all its tries), stored on the iteration it produced.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LlmSpend {
    pub model: String,
    pub calls: u32,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    pub usd: f64,
    /// Calls at prices Revis does not know (their cost is not in `usd`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unpriced_calls: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl LlmSpend {
    pub fn add(&mut self, other: &LlmSpend) {
        if !other.model.is_empty() {
            self.model = other.model.clone();
        }
        self.calls += other.calls;
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cache_read_tokens += other.cache_read_tokens;
        self.cache_write_tokens += other.cache_write_tokens;
        self.usd += other.usd;
        self.unpriced_calls += other.unpriced_calls;
    }
}

pub struct LlmAdvice {
    pub decision: std::result::Result<Decision, String>,
    pub spend: LlmSpend,
    /// No model could be called for lack of an API key: the session waits for one.
    pub missing_credentials: bool,
    pub notes: Vec<String>,
}

pub struct Request<'a> {
    pub session: &'a SessionRow,
    pub config: &'a Config,
    pub worktree: &'a Path,
    pub iterations: &'a [IterationRow],
    /// The iteration the decision follows.
    pub current: &'a IterationRow,
    /// The state the change will apply to (the best so far).
    pub base: &'a IterationRow,
    /// Trials in flight in other slots.
    pub(crate) running: &'a [super::advice::RunningTrial],
    /// Slots free for new trials now, this one included.
    pub free_slots: usize,
}

pub async fn decide(engine: &Engine, req: Request<'_>) -> Result<LlmAdvice> {
    let credentials = engine.credentials(req.session.id);
    let (endpoints, notes) = llm::endpoints(req.config, &credentials);
    let deny = Deny::new(&req.config.context.deny).map_err(|e| EngineError::Internal(format!("context.deny: {e}")))?;

    let history: Vec<HistoryEntry> =
        req.iterations.iter().filter(|i| i.state != IterationState::Pending).map(entry).collect::<Result<_>>()?;
    let best = req
        .session
        .best_iteration
        .and_then(|b| req.iterations.iter().find(|i| i.number == b))
        .and_then(|i| i.primary_value.map(|v| (i.number(), v)));
    let run_dirs: Vec<(u32, PathBuf)> = req
        .iterations
        .iter()
        .filter(|i| i.run_id.is_some())
        .map(|i| (i.number(), engine.iteration_run_dir(req.session.id, &req.session.name, i)))
        .collect();
    let logs = RunLogs {
        run_dirs: run_dirs.clone(),
        log_path: |dir: &Path| engine.exec().log_path(dir),
        hidden: req.config.metrics.holdout.clone(),
    };
    let failed_log_tail = (req.current.state == IterationState::Failed)
        .then(|| logs.tail_of(req.current.number(), req.config.context.log_tail_lines as usize))
        .flatten();
    // The last try's failure, or a failed code change, is told to the model.
    let previous_failure =
        previous_failure(&decision_dir(engine, req.session, req.current), req.current.decision_tries)
            .or(super::handoff::HandoffState::of(req.current)?.last_failure);
    let situation = Situation {
        history: &history,
        best,
        noise_floor: req.session.noise_floor,
        command: &req.base.command,
        failed_log_tail,
        iterations_left: req.session.max_iterations.and_then(|m| u32::try_from(m - req.session.last_number - 1).ok()),
        seconds_left: req.session.budget_seconds.map(|b| (b - req.session.active_seconds_now()).max(0.0)),
        usd_left: req.session.max_cost.map(|m| (m - req.session.spent_usd()).max(0.0)),
        previous_failure,
        free_slots: req.free_slots,
        running: req
            .running
            .iter()
            .map(|r| match r.number {
                Some(n) => format!("iteration {n} (slot {}): {}", r.slot, r.summary),
                None => format!("decided for slot {}: {}", r.slot, r.summary),
            })
            .collect(),
    };
    let history_source = History { entries: &history };
    let search = SearchPoint {
        config: req.config,
        observations: req
            .iterations
            .iter()
            .filter(|i| i.state.is_judged())
            .map(|i| {
                Ok(crate::advisor::Observation {
                    iteration: i.number(),
                    params: super::stored::parse(&i.params_json, "params_json", i)?,
                    primary: i.primary_value,
                })
            })
            .collect::<Result<_>>()?,
        running: req.running.iter().map(|r| r.params.clone()).collect(),
        current: super::stored::parse(&req.base.params_json, "params_json", req.base)?,
        minimize: req.session.minimize,
    };
    let workspace =
        tools::Workspace { root: req.worktree, deny: &deny, logs: &logs, history: &history_source, search: &search };
    let (worktree, command) = (req.worktree.to_path_buf(), req.base.command.clone());
    let frozen =
        Deny::new(&req.config.context.frozen).map_err(|e| EngineError::Internal(format!("context.frozen: {e}")))?;
    let space = &req.config.search.space;
    let validate = |d: &Decision| {
        let mut problems = check_decision(&worktree, &command, &deny, &frozen, d).err().unwrap_or_default();
        if !d.search_space.is_empty() {
            match space.is_empty() {
                true => problems.push("search_space: this session has no search.space to edit".to_string()),
                false => problems
                    .extend(crate::advisor::search::apply_edits(space, &d.search_space).err().unwrap_or_default()),
            }
        }
        if problems.is_empty() { Ok(()) } else { Err(problems) }
    };
    let agent = Agent {
        endpoints: &endpoints,
        system_stable: context::stable_prompt(req.config),
        system_dynamic: context::dynamic_prompt(req.config, &situation, &req.session.primary_metric),
        workspace: &workspace,
        validate: &validate,
        max_rounds: req.config.context.max_agent_iterations,
        max_tokens: 4096,
    };
    let outcome = agent.run().await;

    let spend = LlmSpend {
        model: outcome.model.clone(),
        calls: outcome.calls,
        input_tokens: outcome.usage.input_tokens,
        output_tokens: outcome.usage.output_tokens,
        cache_read_tokens: outcome.usage.cache_read_tokens,
        cache_write_tokens: outcome.usage.cache_write_tokens,
        usd: outcome.usd,
        unpriced_calls: outcome.unpriced_calls,
    };
    let dir = decision_dir(engine, req.session, req.current);
    let path = dir.join(format!("decision-{}.json", req.current.decision_tries + 1));
    let mut transcript = outcome.transcript;
    if let Some(map) = transcript.as_object_mut() {
        map.insert("notes".into(), serde_json::json!(notes));
    }
    if let Err(e) = write_transcript(&path, &transcript).await {
        tracing::warn!(path = %path.display(), error = %e, "could not keep the decision transcript");
    }
    Ok(LlmAdvice { decision: outcome.decision, spend, missing_credentials: outcome.missing_credentials, notes })
}

/// Where the transcripts of the decisions made after an iteration live.
pub fn decision_dir(engine: &Engine, session: &SessionRow, after: &IterationRow) -> PathBuf {
    engine.run_dir(session.id, &session.name, after.number(), 1)
}

/// Every try's transcript of the decisions made after iteration `after`, oldest first.
pub fn transcripts(dir: &Path) -> Vec<serde_json::Value> {
    let mut tries: Vec<(u32, serde_json::Value)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let n: u32 = name.strip_prefix("decision-")?.strip_suffix(".json")?.parse().ok()?;
            let text = std::fs::read_to_string(entry.path()).ok()?;
            Some((n, serde_json::from_str(&text).ok()?))
        })
        .collect();
    tries.sort_by_key(|(n, _)| *n);
    tries.into_iter().map(|(_, v)| v).collect()
}

fn previous_failure(dir: &Path, tries: i64) -> Option<String> {
    if tries <= 0 {
        return None;
    }
    let text = std::fs::read_to_string(dir.join(format!("decision-{tries}.json"))).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    value.pointer("/outcome/failed").and_then(|v| v.as_str()).map(str::to_string)
}

async fn write_transcript(path: &Path, transcript: &serde_json::Value) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir).await?;
    }
    let text = serde_json::to_string_pretty(transcript).map_err(std::io::Error::other)?;
    tokio::fs::write(path, text).await
}

fn entry(i: &IterationRow) -> Result<HistoryEntry> {
    Ok(HistoryEntry {
        number: i.number(),
        state: i.state,
        outcome: i.outcome,
        primary: i.primary_value,
        metrics: super::stored::parse(&i.metrics_json, "metrics_json", i)?,
        change: i.change_summary.clone(),
        hypothesis: i.hypothesis.clone(),
        failure_reason: i.failure_reason.clone(),
        command: i.command.clone(),
    })
}

/// Training logs of the session's runs, for `get_training_logs`.
struct RunLogs<F: Fn(&Path) -> PathBuf> {
    run_dirs: Vec<(u32, PathBuf)>,
    log_path: F,
    /// `metrics.holdout`: every line naming it is left out of what the model reads.
    hidden: Option<String>,
}

impl<F: Fn(&Path) -> PathBuf> RunLogs<F> {
    fn path_of(&self, iteration: Option<u32>) -> Option<(u32, PathBuf)> {
        let found = match iteration {
            Some(n) => self.run_dirs.iter().rev().find(|(i, _)| *i == n),
            None => self.run_dirs.last(),
        };
        found.map(|(n, dir)| (*n, (self.log_path)(dir)))
    }

    fn tail_of(&self, iteration: u32, lines: usize) -> Option<Vec<String>> {
        let (_, path) = self.path_of(Some(iteration))?;
        crate::exec::tail_lines(&path, lines).ok().map(|l| self.visible(l))
    }

    fn visible(&self, lines: Vec<String>) -> Vec<String> {
        match &self.hidden {
            Some(name) => lines.into_iter().filter(|l| !l.contains(name.as_str())).collect(),
            None => lines,
        }
    }
}

impl<F: Fn(&Path) -> PathBuf> tools::LogSource for RunLogs<F> {
    fn log_text(&self, iteration: Option<u32>) -> std::result::Result<(u32, String), String> {
        let Some((n, path)) = self.path_of(iteration) else {
            return Err(match iteration {
                Some(n) => format!("iteration {n} has no training log"),
                None => "no training run has started yet".to_string(),
            });
        };
        // The log may be huge: the tools only ever look at its end.
        let lines =
            crate::exec::tail_lines(&path, 5000).map_err(|e| format!("cannot read the log of iteration {n}: {e}"))?;
        Ok((n, self.visible(lines).join("\n")))
    }
}

/// `suggest_search_point`: the offline advisor's next point, as the search advisor itself would
/// propose it beside the trials in flight.
struct SearchPoint<'a> {
    config: &'a Config,
    observations: Vec<crate::advisor::Observation>,
    running: Vec<indexmap::IndexMap<String, serde_json::Value>>,
    current: indexmap::IndexMap<String, serde_json::Value>,
    minimize: bool,
}

impl tools::SearchSource for SearchPoint<'_> {
    fn suggestion(&self) -> std::result::Result<serde_json::Value, String> {
        use crate::advisor::search::{Proposal, SearchAdvisor};
        if self.config.search.space.is_empty() {
            return Err("this session has no search.space: there is nothing for the search advisor to suggest".into());
        }
        let advisor = SearchAdvisor::new(&self.config.search).map_err(|e| format!("search advisor: {e}"))?;
        match advisor.propose_beside(&self.observations, &self.running, &self.current, self.minimize) {
            Proposal::Params { params, rationale, expected_improvement, .. } => Ok(serde_json::json!({
                "params": params,
                "changes": crate::changes::changes_for(&self.config.search.space, &self.current, &params),
                "expected_improvement": expected_improvement,
                "rationale": rationale,
            })),
            Proposal::Exhausted { reason } => Err(format!("the search advisor has nothing left to suggest: {reason}")),
        }
    }
}

struct History<'a> {
    entries: &'a [HistoryEntry],
}

impl tools::HistorySource for History<'_> {
    fn history(&self, last: Option<usize>) -> serde_json::Value {
        let skip = last.map_or(0, |n| self.entries.len().saturating_sub(n));
        serde_json::json!(self.entries[skip..])
    }
}

/// The engine's check of a model's decision before it is accepted: every change must be
/// applicable in `worktree` (paths confined, files and keys present, nothing hidden) and no
/// config edit may touch a frozen file. Public for the `llm_decision` fuzz target.
pub fn check_decision(
    worktree: &Path,
    command: &str,
    deny: &Deny,
    frozen: &Deny,
    d: &Decision,
) -> std::result::Result<(), Vec<String>> {
    let mut problems = crate::changes::validate(worktree, command, &d.changes, deny).err().unwrap_or_default();
    for (i, change) in d.changes.iter().enumerate() {
        if let crate::advisor::Change::ConfigEdit { file, .. } = change
            && is_frozen(worktree, frozen, file)
        {
            problems.push(format!(
                "changes[{i}] (config_edit): {file} is frozen (context.frozen): it defines the evaluation"
            ));
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(problems) }
}

/// Whether an edit of `file` would change a frozen file: as named, or where a symlink leads
/// (`split.yaml -> eval.yaml` must not open a way around `context.frozen: [eval.yaml]`).
fn is_frozen(worktree: &Path, frozen: &Deny, file: &str) -> bool {
    if frozen.is_denied(Path::new(file)) {
        return true;
    }
    let (Ok(real), Ok(root)) = (crate::path_policy::confine(worktree, file), worktree.canonicalize()) else {
        // Unresolvable paths are refused by `changes::validate` with their own reason.
        return false;
    };
    real.strip_prefix(&root).is_ok_and(|inside| frozen.is_denied(inside))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frozen_file_cannot_be_edited_through_a_symlink() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let root = dir.path();
        std::fs::write(root.join("eval.yaml"), "split: test\n").unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(root.join("train.yaml"), "lr: 1\n").unwrap_or_else(|e| panic!("{e}"));
        std::os::unix::fs::symlink("eval.yaml", root.join("split.yaml")).unwrap_or_else(|e| panic!("{e}"));
        std::fs::create_dir(root.join("conf")).unwrap_or_else(|e| panic!("{e}"));
        std::os::unix::fs::symlink("../eval.yaml", root.join("conf/eval.yaml")).unwrap_or_else(|e| panic!("{e}"));
        let frozen = Deny::new(&["/eval.yaml".to_string()]).unwrap_or_else(|e| panic!("{e}"));
        assert!(is_frozen(root, &frozen, "eval.yaml"));
        assert!(is_frozen(root, &frozen, "split.yaml"), "a link to a frozen file is frozen");
        assert!(is_frozen(root, &frozen, "conf/eval.yaml"));
        assert!(!is_frozen(root, &frozen, "train.yaml"));
        assert!(!is_frozen(root, &frozen, "missing.yaml"));
    }
}
