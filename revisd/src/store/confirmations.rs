//! Confirmation runs of a trial (`guardrails.confirm` with parallel trials): each run of the
//! trial after its first is a row of its own, in a slot of its own. The engine works on a run as
//! on an [`IterationRow`]: [`ConfirmationRow::as_iteration`] lays the run over its trial's row,
//! and saving that row ([`super::iterations::save`]) writes the run's columns back here.

use sqlx::{FromRow, SqlitePool};

use super::{Doing, IterationRow, Result, Tx};
use crate::states::{IterationState, Phase};

#[derive(Debug, Clone, FromRow, PartialEq)]
pub struct ConfirmationRow {
    pub session_id: i64,
    pub number: i64,
    pub replicate: i64,
    pub phase: Phase,
    pub state: IterationState,
    pub attempt: i64,
    pub slot: Option<i64>,
    pub run_id: Option<String>,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    pub duration_seconds: Option<f64>,
    pub exit_code: Option<i64>,
    pub failure_reason: Option<String>,
    pub primary_value: Option<f64>,
    pub holdout_value: Option<f64>,
    pub history_json: Option<String>,
    pub warnings_json: String,
    pub gpus: Option<String>,
    pub host: Option<String>,
    pub job_id: Option<String>,
    pub queued_seconds: Option<f64>,
    pub queue_reason: Option<String>,
    pub frozen_hash: Option<String>,
}

impl ConfirmationRow {
    /// The run as the steps see a trial's run: its trial's row (command, commit, parameters)
    /// with this run's own columns. Metrics and outcome start empty: they are this run's.
    pub fn as_iteration(&self, trial: &IterationRow) -> IterationRow {
        let mut it = trial.clone();
        it.confirmation = true;
        it.phase = self.phase;
        it.state = self.state;
        it.outcome = None;
        it.attempt = self.attempt;
        it.replicate = self.replicate;
        it.slot = self.slot.unwrap_or(trial.slot);
        it.target_slot = None;
        it.run_id = self.run_id.clone();
        it.started_at = self.started_at.clone();
        it.ended_at = self.ended_at.clone();
        it.duration_seconds = self.duration_seconds;
        it.exit_code = self.exit_code;
        it.failure_reason = self.failure_reason.clone();
        it.primary_value = self.primary_value;
        it.metrics_json = "{}".into();
        it.history_json = self.history_json.clone();
        it.warnings_json = self.warnings_json.clone();
        it.holdout_json = self.holdout_value.map(|v| serde_json::json!([v]).to_string());
        it.gpus = self.gpus.clone();
        it.host = self.host.clone();
        it.job_id = self.job_id.clone();
        it.queued_seconds = self.queued_seconds;
        it.queue_reason = self.queue_reason.clone();
        it.frozen_hash = self.frozen_hash.clone();
        it.stopped_at_step = None;
        it
    }

    pub fn number(&self) -> u32 {
        u32::try_from(self.number).unwrap_or(0)
    }

    pub fn replicate(&self) -> u32 {
        u32::try_from(self.replicate).unwrap_or(0)
    }
}

/// Runs `replicates` of trial `number`, each about to start in its slot (`None`: waiting for one).
pub async fn insert(tx: &mut Tx, session_id: i64, number: u32, runs: &[(u32, Option<u32>)]) -> Result<()> {
    for (replicate, slot) in runs {
        sqlx::query(
            "INSERT OR IGNORE INTO confirmation_runs (session_id, number, replicate, phase, state, slot) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(session_id)
        .bind(i64::from(number))
        .bind(i64::from(*replicate))
        .bind(Phase::Prepare)
        .bind(IterationState::Pending)
        .bind(slot.map(i64::from))
        .execute(&mut **tx)
        .await
        .doing("creating a confirmation run")?;
    }
    Ok(())
}

/// Writes back what a step did to a run laid over its trial ([`ConfirmationRow::as_iteration`]).
pub async fn save(tx: &mut Tx, it: &IterationRow) -> Result<()> {
    let holdout = it
        .holdout_json
        .as_deref()
        .and_then(|j| serde_json::from_str::<Vec<f64>>(j).ok())
        .and_then(|v| v.last().copied());
    sqlx::query(
        "UPDATE confirmation_runs SET phase = ?, state = ?, attempt = ?, slot = ?, run_id = ?, started_at = ?, \
         ended_at = ?, duration_seconds = ?, exit_code = ?, failure_reason = ?, primary_value = ?, holdout_value = ?, \
         history_json = ?, warnings_json = ?, gpus = ?, host = ?, job_id = ?, queued_seconds = ?, queue_reason = ?, \
         frozen_hash = ? WHERE session_id = ? AND number = ? AND replicate = ?",
    )
    .bind(it.phase)
    .bind(it.state)
    .bind(it.attempt)
    .bind(it.slot)
    .bind(&it.run_id)
    .bind(&it.started_at)
    .bind(&it.ended_at)
    .bind(it.duration_seconds)
    .bind(it.exit_code)
    .bind(&it.failure_reason)
    .bind(it.primary_value)
    .bind(holdout)
    .bind(&it.history_json)
    .bind(&it.warnings_json)
    .bind(&it.gpus)
    .bind(&it.host)
    .bind(&it.job_id)
    .bind(it.queued_seconds)
    .bind(&it.queue_reason)
    .bind(&it.frozen_hash)
    .bind(it.session_id)
    .bind(it.number)
    .bind(it.replicate)
    .execute(&mut **tx)
    .await
    .doing("saving a confirmation run")?;
    Ok(())
}

/// The runs of trial `number`, by replicate.
pub async fn of(pool: &SqlitePool, session_id: i64, number: u32) -> Result<Vec<ConfirmationRow>> {
    sqlx::query_as("SELECT * FROM confirmation_runs WHERE session_id = ? AND number = ? ORDER BY replicate")
        .bind(session_id)
        .bind(i64::from(number))
        .fetch_all(pool)
        .await
        .doing("reading confirmation runs")
}

pub async fn get(pool: &SqlitePool, session_id: i64, number: u32, replicate: u32) -> Result<Option<ConfirmationRow>> {
    sqlx::query_as("SELECT * FROM confirmation_runs WHERE session_id = ? AND number = ? AND replicate = ?")
        .bind(session_id)
        .bind(i64::from(number))
        .bind(i64::from(replicate))
        .fetch_optional(pool)
        .await
        .doing("reading a confirmation run")
}

/// The runs not done yet, trial by trial.
pub async fn in_progress(pool: &SqlitePool, session_id: i64) -> Result<Vec<ConfirmationRow>> {
    sqlx::query_as("SELECT * FROM confirmation_runs WHERE session_id = ? AND phase != ? ORDER BY number, replicate")
        .bind(session_id)
        .bind(Phase::Done)
        .fetch_all(pool)
        .await
        .doing("reading the confirmation runs in progress")
}

/// The slots confirmation runs hold (about to run, running, being collected).
pub async fn slots_taken(pool: &SqlitePool, session_id: i64) -> Result<Vec<u32>> {
    let slots: Vec<i64> = sqlx::query_scalar(
        "SELECT slot FROM confirmation_runs WHERE session_id = ? AND phase != ? AND state != ? AND slot IS NOT NULL",
    )
    .bind(session_id)
    .bind(Phase::Done)
    .bind(IterationState::Interrupted)
    .fetch_all(pool)
    .await
    .doing("reading the slots of confirmation runs")?;
    Ok(slots.into_iter().filter_map(|s| u32::try_from(s).ok()).collect())
}

/// A waiting run takes a free slot.
pub async fn set_slot(tx: &mut Tx, session_id: i64, number: u32, replicate: u32, slot: u32) -> Result<()> {
    sqlx::query("UPDATE confirmation_runs SET slot = ? WHERE session_id = ? AND number = ? AND replicate = ?")
        .bind(i64::from(slot))
        .bind(session_id)
        .bind(i64::from(number))
        .bind(i64::from(replicate))
        .execute(&mut **tx)
        .await
        .doing("giving a confirmation run its slot")?;
    Ok(())
}

/// Runs a stop (or a crash of the session) cut short start again as new attempts, in whichever
/// slot is free when the session resumes.
pub async fn rerun_interrupted(tx: &mut Tx, session_id: i64) -> Result<()> {
    sqlx::query(
        "UPDATE confirmation_runs SET phase = ?, state = ?, attempt = attempt + 1, slot = NULL, run_id = NULL, \
         started_at = NULL, ended_at = NULL, duration_seconds = NULL, exit_code = NULL, failure_reason = NULL, \
         job_id = NULL, queued_seconds = NULL, queue_reason = NULL, history_json = NULL \
         WHERE session_id = ? AND (state = ? OR (phase = ? AND state = ?))",
    )
    .bind(Phase::Prepare)
    .bind(IterationState::Pending)
    .bind(session_id)
    .bind(IterationState::Interrupted)
    .bind(Phase::Train)
    .bind(IterationState::Running)
    .execute(&mut **tx)
    .await
    .doing("setting interrupted confirmation runs to run again")?;
    Ok(())
}
