//! The engine's seam to advisors. Given the history (and the trials still running), an
//! [`Advisor`] proposes up to N decisions; what it costs comes back with them. `advisor_for` is
//! the one place that knows the kinds: a new advisor is its own module plus one line there.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;

use indexmap::IndexMap;

use crate::advisor::search::{Proposal as SearchProposal, SearchAdvisor};
use crate::advisor::{Action, Decision, Observation};
use crate::changes;
use crate::config::Config;
use crate::states::AdvisorKind;
use crate::store::{IterationRow, SessionRow};

use super::llm_advice::{self, LlmSpend};
use super::{Engine, EngineError, Result, stored};

pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Everything an advisor may look at.
pub(crate) struct AdviceRequest<'a> {
    pub engine: &'a Engine,
    pub session: &'a SessionRow,
    pub config: &'a Config,
    pub worktree: &'a Path,
    /// Every iteration so far.
    pub iterations: &'a [IterationRow],
    /// Trials started and not yet judged, and decisions not yet trials: a proposal should not
    /// repeat what they try.
    pub running: &'a [RunningTrial],
    /// The iteration the decision follows.
    pub current: &'a IterationRow,
    /// The state the changes apply to (the best so far).
    pub base: &'a IterationRow,
    /// Slots free for new trials now, this one included: an advisor may propose that many.
    pub free_slots: usize,
}

/// A trial in flight beside the one being decided.
#[derive(Debug, Clone)]
pub(crate) struct RunningTrial {
    /// `None` for a decision whose trial has no number yet.
    pub number: Option<u32>,
    pub slot: u32,
    /// Every searched parameter's value in that trial.
    pub params: IndexMap<String, serde_json::Value>,
    /// Its change (or the decision's rationale), for a model to read.
    pub summary: String,
}

/// What an advisor said.
pub(crate) enum Proposal {
    /// One to N decisions (a stop or an escalation is a decision with that action).
    Decisions(Vec<Decision>),
    /// The search space has nothing left to try.
    Exhausted(String),
    /// The advisor did not decide (an error, an answer that could not be used): a failed try.
    Failed(String),
    /// No model could be called for lack of a key: the session waits for one (the detail says
    /// what is missing).
    NeedsCredentials(String),
}

pub(crate) struct Advice {
    pub proposal: Proposal,
    /// A model was asked: the try is numbered (its transcript is `decision-<try>.json`) and its
    /// tokens and dollars are kept on the iteration. The offline advisor asks none.
    pub asked_model: bool,
    pub spend: LlmSpend,
}

pub(crate) trait Advisor: Send + Sync {
    /// Up to `n` decisions for the next trials.
    fn propose<'a>(&'a self, request: &'a AdviceRequest<'a>, n: usize) -> BoxFuture<'a, Result<Advice>>;
}

/// The configuration advisors work with: revis.yaml's, with the search space as the model's
/// decisions edited it (`search_space`), in trial order.
pub(crate) fn searched_config(config: &Config, iterations: &[IterationRow]) -> Config {
    let mut config = config.clone();
    for it in iterations {
        let Some(json) = it.space_json.as_deref() else { continue };
        let edits: Vec<crate::advisor::SpaceEdit> = match serde_json::from_str(json) {
            Ok(edits) => edits,
            Err(e) => {
                tracing::warn!(iteration = it.number, error = %e, "unreadable search-space edits are ignored");
                continue;
            }
        };
        // Each edit was checked against the space of its time before it was accepted.
        match crate::advisor::search::apply_edits(&config.search.space, &edits) {
            Ok(space) => config.search.space = space,
            Err(problems) => {
                tracing::warn!(iteration = it.number, problems = ?problems, "search-space edits no longer apply");
            }
        }
    }
    config
}

/// The advisor of a session.
pub(crate) fn advisor_for(kind: AdvisorKind) -> Box<dyn Advisor> {
    match kind {
        AdvisorKind::Search => Box::new(Search),
        AdvisorKind::Llm => Box::new(Llm),
        AdvisorKind::Hybrid => Box::new(Hybrid),
    }
}

/// TPE over the space, the LLM every `llm.consult_every` trials and when progress stalls (no
/// improvement in half of `guardrails.plateau_runs`, at least 3): the model then proposes what
/// a search cannot (a structural or code change, a new range for a knob), seeing the same
/// history, and may ask TPE's own next point with `suggest_search_point`.
struct Hybrid;

impl Hybrid {
    /// Whether the LLM decides now: trials since its last decision (the baseline counts as
    /// one), and trials since the last improvement.
    fn llm_turn(req: &AdviceRequest<'_>) -> bool {
        let judged: Vec<&IterationRow> = req.iterations.iter().filter(|i| i.number > 0).collect();
        let since_llm = judged.iter().rev().take_while(|i| i.llm_json.is_none()).count();
        let since_gain = judged
            .iter()
            .rev()
            .take_while(|i| i.outcome != Some(crate::states::Outcome::Improved))
            .filter(|i| i.state.is_judged())
            .count();
        let every = req.config.llm.consult_every.max(1) as usize;
        let stall = (req.config.guardrails.plateau_runs as usize / 2).max(3);
        since_llm + 1 >= every || (since_gain >= stall && since_llm + 1 >= stall)
    }
}

impl Advisor for Hybrid {
    fn propose<'a>(&'a self, req: &'a AdviceRequest<'a>, n: usize) -> BoxFuture<'a, Result<Advice>> {
        Box::pin(
            async move { if Self::llm_turn(req) { Llm.propose(req, n).await } else { Search.propose(req, n).await } },
        )
    }
}

/// The offline search advisor (TPE, random or grid over `search.space`).
struct Search;

impl Advisor for Search {
    fn propose<'a>(&'a self, req: &'a AdviceRequest<'a>, n: usize) -> BoxFuture<'a, Result<Advice>> {
        Box::pin(async move {
            let advisor = SearchAdvisor::new(&req.config.search)
                .map_err(|e| EngineError::Internal(format!("search advisor: {e}")))?;
            let mut history = Vec::new();
            for i in req.iterations.iter().filter(|i| i.state.is_judged()) {
                history.push(Observation {
                    iteration: i.number(),
                    params: stored::parse(&i.params_json, "params_json", i)?,
                    primary: i.primary_value,
                });
            }
            let running: Vec<IndexMap<String, serde_json::Value>> =
                req.running.iter().map(|r| r.params.clone()).collect();
            let current: IndexMap<String, serde_json::Value> =
                stored::parse(&req.base.params_json, "params_json", req.base)?;
            // One proposal per free slot, each beside the ones before it and the points still
            // running (the "liars" of `SearchAdvisor::propose_beside`), so a batch spreads out.
            let mut decisions = Vec::new();
            let mut exhausted = None;
            for proposal in advisor.propose_batch(&history, &running, &current, req.session.minimize, n) {
                match proposal {
                    SearchProposal::Params { params, rationale, hypothesis, .. } => decisions.push(Decision {
                        action: Action::Change,
                        changes: changes::changes_for(&req.config.search.space, &current, &params),
                        rationale,
                        hypothesis: Some(hypothesis),
                        params,
                        more: Vec::new(),
                        search_space: Vec::new(),
                    }),
                    SearchProposal::Exhausted { reason } => exhausted = Some(reason),
                }
            }
            let proposal = match exhausted {
                Some(reason) if decisions.is_empty() => Proposal::Exhausted(reason),
                _ => Proposal::Decisions(decisions),
            };
            Ok(Advice { proposal, asked_model: false, spend: LlmSpend::default() })
        })
    }
}

/// The LLM agent: tools over the worktree, the training logs and the history.
struct Llm;

impl Advisor for Llm {
    fn propose<'a>(&'a self, req: &'a AdviceRequest<'a>, n: usize) -> BoxFuture<'a, Result<Advice>> {
        Box::pin(async move {
            let request = llm_advice::Request {
                session: req.session,
                config: req.config,
                worktree: req.worktree,
                iterations: req.iterations,
                current: req.current,
                base: req.base,
                running: req.running,
                free_slots: req.free_slots,
            };
            let advice = llm_advice::decide(req.engine, request).await?;
            let proposal = match advice.decision {
                // The changes the model proposed for other free slots are decisions of their own.
                Ok(mut decision) => {
                    let more = std::mem::take(&mut decision.more);
                    Proposal::Decisions(std::iter::once(decision).chain(more).take(n.max(1)).collect())
                }
                Err(reason) if advice.missing_credentials => {
                    Proposal::NeedsCredentials(format!("{reason}; {}", advice.notes.join("; ")))
                }
                Err(reason) => Proposal::Failed(reason),
            };
            Ok(Advice { proposal, asked_model: true, spend: advice.spend })
        })
    }
}
