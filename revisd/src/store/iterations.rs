//! Iteration rows. Only a session's actor writes its iterations, so the engine edits an
//! [`IterationRow`] and saves it whole inside the transition's transaction.

use sqlx::{FromRow, SqlitePool};

use super::{Doing, Result, Tx};
use crate::states::{IterationState, Outcome, Phase};

#[derive(Debug, Clone, FromRow, PartialEq)]
pub struct IterationRow {
    pub session_id: i64,
    pub number: i64,
    pub phase: Phase,
    pub state: IterationState,
    pub outcome: Option<Outcome>,
    pub attempt: i64,
    pub replicate: i64,
    pub replicates_json: String,
    pub parent: Option<i64>,
    pub command: String,
    pub commit_sha: Option<String>,
    pub change_summary: Option<String>,
    pub rationale: Option<String>,
    pub hypothesis: Option<String>,
    pub changes_json: String,
    pub params_json: String,
    pub primary_value: Option<f64>,
    pub metrics_json: String,
    pub history_json: Option<String>,
    pub warnings_json: String,
    pub failure_reason: Option<String>,
    pub exit_code: Option<i64>,
    pub run_id: Option<String>,
    pub decision_json: Option<String>,
    pub pending_json: Option<String>,
    pub decision_tries: i64,
    pub decision_llm_json: Option<String>,
    pub handoff_json: Option<String>,
    pub agent_json: Option<String>,
    pub frozen_hash: Option<String>,
    pub llm_json: Option<String>,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    pub duration_seconds: Option<f64>,
    pub slot: i64,
    pub gpus: Option<String>,
    pub host: Option<String>,
    pub target_slot: Option<i64>,
    pub decided_by: Option<i64>,
    /// The batch scheduler's id of the trial's job (Slurm), once submitted.
    pub job_id: Option<String>,
    /// How long the trial's job waited in the scheduler's queue before it ran.
    pub queued_seconds: Option<f64>,
    /// While the job waits in the queue: the scheduler's reason.
    pub queue_reason: Option<String>,
    /// `metrics.holdout` of each run, kept for promoted trials only.
    pub holdout_json: Option<String>,
    /// The step at which `guardrails.early_stop` stopped the run.
    pub stopped_at_step: Option<f64>,
    /// The search-space edits of the decision that made this trial (JSON list of `SpaceEdit`).
    pub space_json: Option<String>,
    /// This is one of the trial's confirmation runs laid over the trial's row (see
    /// `confirmations`): saving it writes the run, never the trial.
    #[sqlx(skip)]
    pub confirmation: bool,
}

impl IterationRow {
    pub fn number(&self) -> u32 {
        u32::try_from(self.number).unwrap_or(0)
    }
}

#[derive(Debug, Clone, Default)]
pub struct NewIteration {
    pub number: u32,
    pub command: String,
    pub commit_sha: Option<String>,
    pub parent: Option<u32>,
    pub change_summary: Option<String>,
    pub rationale: Option<String>,
    pub hypothesis: Option<String>,
    pub changes_json: String,
    pub params_json: String,
    pub llm_json: Option<String>,
    pub agent_json: Option<String>,
    pub slot: u32,
    /// The judged trial whose decision this is (absent for the baseline).
    pub decided_by: Option<u32>,
    /// The search-space edits its decision made, as JSON.
    pub space_json: Option<String>,
}

pub async fn insert(tx: &mut Tx, session_id: i64, it: &NewIteration) -> Result<()> {
    sqlx::query(
        "INSERT INTO iterations (session_id, number, phase, state, command, commit_sha, parent, change_summary, \
                           rationale, hypothesis, changes_json, params_json, llm_json, agent_json, slot, decided_by, space_json) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(session_id)
    .bind(i64::from(it.number))
    .bind(Phase::Prepare)
    .bind(IterationState::Pending)
    .bind(&it.command)
    .bind(&it.commit_sha)
    .bind(it.parent.map(i64::from))
    .bind(&it.change_summary)
    .bind(&it.rationale)
    .bind(&it.hypothesis)
    .bind(if it.changes_json.is_empty() { "[]" } else { &it.changes_json })
    .bind(if it.params_json.is_empty() { "{}" } else { &it.params_json })
    .bind(&it.llm_json)
    .bind(&it.agent_json)
    .bind(i64::from(it.slot))
    .bind(it.decided_by.map(i64::from))
    .bind(&it.space_json)
    .execute(&mut **tx)
    .await
    .doing("creating an iteration")?;
    Ok(())
}

pub async fn save(tx: &mut Tx, it: &IterationRow) -> Result<()> {
    if it.confirmation {
        return super::confirmations::save(tx, it).await;
    }
    sqlx::query(
                "UPDATE iterations SET phase = ?, state = ?, outcome = ?, attempt = ?, replicate = ?, replicates_json = ?, parent = ?, command = ?, commit_sha = ?, \
         change_summary = ?, rationale = ?, hypothesis = ?, changes_json = ?, params_json = ?, primary_value = ?, \
         metrics_json = ?, history_json = ?, warnings_json = ?, failure_reason = ?, exit_code = ?, run_id = ?, decision_json = ?, \
                  pending_json = ?, decision_tries = ?, decision_llm_json = ?, llm_json = ?, handoff_json = ?, agent_json = ?, frozen_hash = ?, started_at = ?, ended_at = ?, duration_seconds = ?, \
         slot = ?, gpus = ?, host = ?, target_slot = ?, job_id = ?, queued_seconds = ?, queue_reason = ?, holdout_json = ?, stopped_at_step = ? WHERE session_id = ? AND number = ?",
    )
    .bind(it.phase)
    .bind(it.state)
    .bind(it.outcome)
        .bind(it.attempt)
    .bind(it.replicate)
    .bind(&it.replicates_json)
    .bind(it.parent)
    .bind(&it.command)
    .bind(&it.commit_sha)
    .bind(&it.change_summary)
    .bind(&it.rationale)
    .bind(&it.hypothesis)
    .bind(&it.changes_json)
    .bind(&it.params_json)
    .bind(it.primary_value)
    .bind(&it.metrics_json)
    .bind(&it.history_json)
    .bind(&it.warnings_json)
    .bind(&it.failure_reason)
    .bind(it.exit_code)
    .bind(&it.run_id)
    .bind(&it.decision_json)
        .bind(&it.pending_json)
        .bind(it.decision_tries)
        .bind(&it.decision_llm_json)
    .bind(&it.llm_json)
    .bind(&it.handoff_json)
    .bind(&it.agent_json)
    .bind(&it.frozen_hash)
    .bind(&it.started_at)
    .bind(&it.ended_at)
    .bind(it.duration_seconds)
    .bind(it.slot)
    .bind(&it.gpus)
    .bind(&it.host)
    .bind(it.target_slot)
    .bind(&it.job_id)
    .bind(it.queued_seconds)
    .bind(&it.queue_reason)
    .bind(&it.holdout_json)
    .bind(it.stopped_at_step)
    .bind(it.session_id)
    .bind(it.number)
    .execute(&mut **tx)
    .await
    .doing("saving an iteration")?;
    Ok(())
}

pub async fn list(pool: &SqlitePool, session_id: i64) -> Result<Vec<IterationRow>> {
    sqlx::query_as("SELECT * FROM iterations WHERE session_id = ? ORDER BY number")
        .bind(session_id)
        .fetch_all(pool)
        .await
        .doing("listing iterations")
}

/// The session and its iterations as of one moment (one read transaction), for decisions that
/// count what other steps reserve concurrently.
pub async fn snapshot(pool: &SqlitePool, session_id: i64) -> Result<Option<(super::SessionRow, Vec<IterationRow>)>> {
    let mut tx = pool.begin().await.doing("starting a read")?;
    let Some(session) = super::sessions::get_tx(&mut tx, session_id).await? else { return Ok(None) };
    let iterations = sqlx::query_as("SELECT * FROM iterations WHERE session_id = ? ORDER BY number")
        .bind(session_id)
        .fetch_all(&mut *tx)
        .await
        .doing("listing iterations")?;
    tx.commit().await.doing("ending a read")?;
    Ok(Some((session, iterations)))
}

pub async fn latest(pool: &SqlitePool, session_id: i64) -> Result<Option<IterationRow>> {
    sqlx::query_as("SELECT * FROM iterations WHERE session_id = ? ORDER BY number DESC LIMIT 1")
        .bind(session_id)
        .fetch_optional(pool)
        .await
        .doing("reading the latest iteration")
}

pub async fn get(pool: &SqlitePool, session_id: i64, number: u32) -> Result<Option<IterationRow>> {
    sqlx::query_as("SELECT * FROM iterations WHERE session_id = ? AND number = ?")
        .bind(session_id)
        .bind(i64::from(number))
        .fetch_optional(pool)
        .await
        .doing("reading an iteration")
}

/// The iterations not yet done: trials in their slots (prepare, train, collect) and judged
/// trials whose decision is being made or applied (advise, apply, commit), by number.
pub async fn active(pool: &SqlitePool, session_id: i64) -> Result<Vec<IterationRow>> {
    sqlx::query_as("SELECT * FROM iterations WHERE session_id = ? AND phase != ? ORDER BY number")
        .bind(session_id)
        .bind(Phase::Done)
        .fetch_all(pool)
        .await
        .doing("reading the iterations in progress")
}

/// What the scheduler needs of an iteration in progress (a few columns: it reads them after
/// every step, and the rows' JSON columns are most of their bytes).
#[derive(Debug, Clone, FromRow)]
pub struct Progress {
    pub number: i64,
    pub phase: Phase,
    pub state: IterationState,
    pub slot: i64,
    pub target_slot: Option<i64>,
}

impl Progress {
    pub fn number(&self) -> u32 {
        u32::try_from(self.number).unwrap_or(0)
    }
}

/// [`active`], the scheduler's columns only.
pub async fn progress(pool: &SqlitePool, session_id: i64) -> Result<Vec<Progress>> {
    sqlx::query_as(
        "SELECT number, phase, state, slot, target_slot FROM iterations WHERE session_id = ? AND phase != ? ORDER BY number",
    )
    .bind(session_id)
    .bind(Phase::Done)
    .fetch_all(pool)
    .await
    .doing("reading the iterations in progress")
}

/// A judged trial claims the free slot its decision's trial will take (or, with none free, is
/// done deciding).
pub async fn claim_slot(tx: &mut Tx, session_id: i64, number: u32, slot: Option<u32>) -> Result<()> {
    let sql = match slot {
        Some(_) => "UPDATE iterations SET target_slot = ? WHERE session_id = ? AND number = ?",
        None => "UPDATE iterations SET phase = ? WHERE session_id = ? AND number = ?",
    };
    let query = sqlx::query(sql);
    let query = match slot {
        Some(slot) => query.bind(i64::from(slot)),
        None => query.bind(Phase::Done),
    };
    query.bind(session_id).bind(i64::from(number)).execute(&mut **tx).await.doing("claiming a slot")?;
    Ok(())
}

/// The curves (history_json) of a session's runs other than `except`, for early stopping.
pub async fn curves(pool: &SqlitePool, session_id: i64, except: i64) -> Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT history_json FROM iterations WHERE session_id = ? AND number != ? AND history_json IS NOT NULL",
    )
    .bind(session_id)
    .bind(except)
    .fetch_all(pool)
    .await
    .doing("reading the runs' curves")
}

/// A trial holding its slot, as `status` and `watch` show it.
#[derive(Debug, Clone, FromRow)]
pub struct SlotTrial {
    pub session_id: i64,
    pub number: i64,
    pub slot: i64,
    pub gpus: Option<String>,
    pub host: Option<String>,
    pub phase: Phase,
    pub started_at: Option<String>,
    pub queue_reason: Option<String>,
}

/// The trials holding a slot in the live sessions (`session`: in that one only), by slot.
pub async fn slot_trials(pool: &SqlitePool, session: Option<i64>) -> Result<Vec<SlotTrial>> {
    use crate::states::SessionState;
    sqlx::query_as(
        "SELECT i.session_id, i.number, i.slot, i.gpus, i.host, i.phase, i.started_at, i.queue_reason FROM iterations i \
         JOIN sessions s ON s.id = i.session_id \
         WHERE s.state IN (?2, ?3, ?4) AND i.phase IN (?5, ?6, ?7) AND i.state != ?8 \
         AND (?1 IS NULL OR s.id = ?1) \
         UNION ALL SELECT c.session_id, c.number, c.slot, c.gpus, c.host, c.phase, c.started_at, c.queue_reason \
         FROM confirmation_runs c JOIN sessions s ON s.id = c.session_id \
         WHERE s.state IN (?2, ?3, ?4) AND c.phase IN (?5, ?6, ?7) AND c.state != ?8 AND c.slot IS NOT NULL \
         AND (?1 IS NULL OR s.id = ?1) ORDER BY 1, 3",
    )
    .bind(session)
    .bind(SessionState::Queued)
    .bind(SessionState::Running)
    .bind(SessionState::Paused)
    .bind(Phase::Prepare)
    .bind(Phase::Train)
    .bind(Phase::Collect)
    .bind(IterationState::Interrupted)
    .fetch_all(pool)
    .await
    .doing("reading the trials in slots")
}

/// The latest iteration that started a training run.
pub async fn latest_started(pool: &SqlitePool, session_id: i64) -> Result<Option<IterationRow>> {
    sqlx::query_as("SELECT * FROM iterations WHERE session_id = ? AND run_id IS NOT NULL ORDER BY number DESC LIMIT 1")
        .bind(session_id)
        .fetch_optional(pool)
        .await
        .doing("reading the latest started iteration")
}

/// Number of iterations that have started (for summaries).
pub async fn count(pool: &SqlitePool, session_id: i64) -> Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM iterations WHERE session_id = ?")
        .bind(session_id)
        .fetch_one(pool)
        .await
        .doing("counting iterations")
}

/// An iteration row for tests.
#[cfg(test)]
pub(crate) fn sample(session_id: i64, number: i64) -> IterationRow {
    IterationRow {
        session_id,
        number,
        phase: Phase::Prepare,
        state: IterationState::Pending,
        outcome: None,
        attempt: 1,
        replicate: 1,
        replicates_json: "[]".into(),
        parent: None,
        command: "python train.py".into(),
        commit_sha: None,
        change_summary: None,
        rationale: None,
        hypothesis: None,
        changes_json: "[]".into(),
        params_json: "{}".into(),
        primary_value: None,
        metrics_json: "{}".into(),
        history_json: None,
        warnings_json: "[]".into(),
        failure_reason: None,
        exit_code: None,
        run_id: None,
        decision_json: None,
        pending_json: None,
        decision_tries: 0,
        decision_llm_json: None,
        handoff_json: None,
        agent_json: None,
        frozen_hash: None,
        llm_json: None,
        started_at: None,
        ended_at: None,
        duration_seconds: None,
        slot: 0,
        gpus: None,
        host: None,
        target_slot: None,
        decided_by: None,
        job_id: None,
        queued_seconds: None,
        queue_reason: None,
        holdout_json: None,
        stopped_at_step: None,
        space_json: None,
        confirmation: false,
    }
}
