//! Session rows.

use serde::Deserialize;
use sqlx::{FromRow, SqlitePool};

use super::{Doing, Result, Tx};
use crate::states::{AdvisorKind, SessionState, StopReason, StopRequest};

#[derive(Debug, Clone, FromRow)]
pub struct SessionRow {
    pub id: i64,
    pub name: String,
    pub project: String,
    pub branch: String,
    pub worktree: String,
    pub base_branch: String,
    pub base_commit: String,
    pub state: SessionState,
    pub stop_reason: Option<StopReason>,
    pub stop_detail: Option<String>,
    pub advisor: AdvisorKind,
    pub config_json: String,
    pub primary_metric: String,
    pub minimize: bool,
    pub target: Option<f64>,
    pub budget_seconds: Option<f64>,
    pub max_iterations: Option<i64>,
    pub max_cost: Option<f64>,
    pub active_seconds: f64,
    pub active_since: Option<String>,
    pub llm_usd: f64,
    /// LLM calls and agent runs at prices Revis does not know: not in `llm_usd`.
    pub llm_unpriced_calls: i64,
    pub stop_requested: Option<StopRequest>,
    pub consecutive_failures: i64,
    pub best_iteration: Option<i64>,
    pub noise_floor: f64,
    pub head_commit: Option<String>,
    pub config_text: Option<String>,
    pub pr_url: Option<String>,
    pub created_at: String,
    pub ended_at: Option<String>,
    pub last_number: i64,
    pub gpu_seconds: f64,
    pub compute_usd: f64,
    pub slots: i64,
    pub decision_queue: String,
}

impl SessionRow {
    /// Everything the session spent, in dollars: LLM and coding agents, and GPU time.
    pub fn spent_usd(&self) -> f64 {
        self.llm_usd + self.compute_usd
    }

    /// Active time so far: banked seconds plus the current running stretch.
    pub fn active_seconds_now(&self) -> f64 {
        active_seconds_now(self.active_seconds, self.active_since.as_deref())
    }
    /// Queued, running or paused: the daemon still owes this session work.
    pub fn is_live(&self) -> bool {
        self.state.is_live()
    }
}

fn active_seconds_now(banked: f64, since: Option<&str>) -> f64 {
    let running = since.map(|since| super::seconds_between(since, &super::now()).max(0.0));
    banked + running.unwrap_or(0.0)
}

/// The columns a one-line summary shows. A listing reads only these: the stored
/// configuration (`config_json`, `config_text`) is most of a session row's bytes.
#[derive(Debug, Clone, Deserialize)]
pub struct SessionHead {
    pub name: String,
    pub project: String,
    pub branch: String,
    pub worktree: String,
    pub state: SessionState,
    pub stop_reason: Option<StopReason>,
    pub stop_detail: Option<String>,
    pub advisor: AdvisorKind,
    pub primary_metric: String,
    pub minimize: bool,
    pub budget_seconds: Option<f64>,
    pub max_iterations: Option<i64>,
    pub max_cost: Option<f64>,
    pub active_seconds: f64,
    pub active_since: Option<String>,
    pub llm_usd: f64,
    pub llm_unpriced_calls: i64,
    pub stop_requested: Option<StopRequest>,
    pub best_iteration: Option<i64>,
    pub created_at: String,
    pub ended_at: Option<String>,
    pub slots: i64,
    pub gpu_seconds: f64,
    pub compute_usd: f64,
}

/// [`SessionHead`]'s columns, and whether each is REAL (see [`json_value`]).
const HEAD_COLUMNS: &[(&str, Kind)] = &[
    ("name", Kind::Other),
    ("project", Kind::Other),
    ("branch", Kind::Other),
    ("worktree", Kind::Other),
    ("state", Kind::Other),
    ("stop_reason", Kind::Other),
    ("stop_detail", Kind::Other),
    ("advisor", Kind::Other),
    ("primary_metric", Kind::Other),
    ("minimize", Kind::Bool),
    ("budget_seconds", Kind::Real),
    ("max_iterations", Kind::Other),
    ("max_cost", Kind::Real),
    ("active_seconds", Kind::Real),
    ("active_since", Kind::Other),
    ("llm_usd", Kind::Real),
    ("llm_unpriced_calls", Kind::Other),
    ("stop_requested", Kind::Other),
    ("best_iteration", Kind::Other),
    ("created_at", Kind::Other),
    ("ended_at", Kind::Other),
    ("slots", Kind::Other),
    ("gpu_seconds", Kind::Real),
    ("compute_usd", Kind::Real),
];

#[derive(Clone, Copy)]
enum Kind {
    Real,
    Bool,
    Other,
}

/// `expr` as a JSON value. SQLite's JSON functions print REALs with 15 significant digits,
/// which would not read back as the stored f64; 17 do. Non-finite values become null (the
/// engine never stores them, and JSON cannot hold them). Booleans are stored as 0/1.
fn json_value(expr: &str, kind: Kind) -> String {
    match kind {
        Kind::Real => format!("iif(abs({expr}) <= 1.7976931348623157e308, json(printf('%!.17g', {expr})), NULL)"),
        Kind::Bool => format!("json(iif({expr}, 'true', 'false'))"),
        Kind::Other => expr.to_string(),
    }
}

impl SessionHead {
    pub fn active_seconds_now(&self) -> f64 {
        active_seconds_now(self.active_seconds, self.active_since.as_deref())
    }
    pub fn is_live(&self) -> bool {
        self.state.is_live()
    }
}

impl From<&SessionRow> for SessionHead {
    fn from(s: &SessionRow) -> Self {
        Self {
            name: s.name.clone(),
            project: s.project.clone(),
            branch: s.branch.clone(),
            worktree: s.worktree.clone(),
            state: s.state,
            stop_reason: s.stop_reason,
            stop_detail: s.stop_detail.clone(),
            advisor: s.advisor,
            primary_metric: s.primary_metric.clone(),
            minimize: s.minimize,
            budget_seconds: s.budget_seconds,
            max_iterations: s.max_iterations,
            max_cost: s.max_cost,
            active_seconds: s.active_seconds,
            active_since: s.active_since.clone(),
            llm_usd: s.llm_usd,
            llm_unpriced_calls: s.llm_unpriced_calls,
            stop_requested: s.stop_requested,
            best_iteration: s.best_iteration,
            created_at: s.created_at.clone(),
            ended_at: s.ended_at.clone(),
            slots: s.slots,
            gpu_seconds: s.gpu_seconds,
            compute_usd: s.compute_usd,
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewSession {
    pub name: String,
    pub project: String,
    pub branch: String,
    pub worktree: String,
    pub base_branch: String,
    pub base_commit: String,
    pub advisor: AdvisorKind,
    pub config_json: String,
    pub primary_metric: String,
    pub minimize: bool,
    pub target: Option<f64>,
    pub budget_seconds: Option<f64>,
    pub max_iterations: Option<u32>,
    pub max_cost: Option<f64>,
    pub config_text: Option<String>,
    pub slots: u32,
}

pub async fn insert(tx: &mut Tx, s: &NewSession) -> Result<i64> {
    let id = sqlx::query(
        "INSERT INTO sessions (name, project, branch, worktree, base_branch, base_commit, state, advisor, \
                  config_json, primary_metric, minimize, target, budget_seconds, max_iterations, max_cost, created_at, \
                  head_commit, config_text, active_since, slots) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&s.name)
    .bind(&s.project)
    .bind(&s.branch)
    .bind(&s.worktree)
    .bind(&s.base_branch)
    .bind(&s.base_commit)
    .bind(SessionState::Running)
    .bind(s.advisor)
    .bind(&s.config_json)
    .bind(&s.primary_metric)
    .bind(s.minimize)
    .bind(s.target)
    .bind(s.budget_seconds)
    .bind(s.max_iterations.map(i64::from))
    .bind(s.max_cost)
    .bind(super::now())
        .bind(&s.base_commit)
    .bind(&s.config_text)
    .bind(super::now())
    .bind(i64::from(s.slots.max(1)))
    .execute(&mut **tx)
    .await
    .doing("creating a session")?
    .last_insert_rowid();
    Ok(id)
}

pub async fn get(pool: &SqlitePool, id: i64) -> Result<Option<SessionRow>> {
    sqlx::query_as("SELECT * FROM sessions WHERE id = ?").bind(id).fetch_optional(pool).await.doing("reading a session")
}

pub async fn get_tx(tx: &mut Tx, id: i64) -> Result<Option<SessionRow>> {
    sqlx::query_as("SELECT * FROM sessions WHERE id = ?")
        .bind(id)
        .fetch_optional(&mut **tx)
        .await
        .doing("reading a session")
}

/// Every session with this name, across projects, oldest first.
pub async fn by_name(pool: &SqlitePool, name: &str) -> Result<Vec<SessionRow>> {
    sqlx::query_as("SELECT * FROM sessions WHERE name = ? ORDER BY id")
        .bind(name)
        .fetch_all(pool)
        .await
        .doing("finding a session by name")
}

pub async fn by_project_name(pool: &SqlitePool, project: &str, name: &str) -> Result<Option<SessionRow>> {
    sqlx::query_as("SELECT * FROM sessions WHERE project = ? AND name = ?")
        .bind(project)
        .bind(name)
        .fetch_optional(pool)
        .await
        .doing("finding a session by name")
}

/// What a session's one-line summary needs from its iterations, computed by the database so a
/// listing of many sessions never loads their iterations.
#[derive(Debug, Clone, Default, PartialEq, FromRow, Deserialize)]
pub struct IterationFacts {
    /// Primary value of the baseline (iteration 0).
    pub baseline_value: Option<f64>,
    /// Primary value of the session's best iteration.
    pub best_value: Option<f64>,
    /// Iterations that started a training run.
    pub runs: i64,
    /// The latest iteration's number and phase.
    pub current_number: Option<i64>,
    pub current_phase: Option<crate::states::Phase>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SummaryRow {
    #[serde(rename = "head")]
    pub session: SessionHead,
    pub facts: IterationFacts,
    pub id: i64,
}

/// [`IterationFacts`] as kept on the session row by the triggers of migration
/// `20261126010000_session_summary_columns` (its view `session_summary_facts` defines them).
const FACTS: &[(&str, &str, Kind)] = &[
    ("baseline_value", "s.summary_baseline", Kind::Real),
    ("best_value", "s.summary_best", Kind::Real),
    ("runs", "s.summary_runs", Kind::Other),
    ("current_number", "s.summary_current", Kind::Other),
    ("current_phase", "s.summary_phase", Kind::Other),
];

/// [`list`] with each session's [`IterationFacts`], in one query that returns one JSON text.
/// Returning a row per session costs far more: sqlx copies every value of every row across
/// threads, which dominated the time of listing a thousand sessions. The facts are columns of
/// the session row, so no iteration is read.
pub async fn list_summaries(pool: &SqlitePool, project: Option<&str>, live_only: bool) -> Result<Vec<SummaryRow>> {
    let head: Vec<String> = HEAD_COLUMNS
        .iter()
        .map(|(name, kind)| format!("'{name}', {}", json_value(&format!("s.{name}"), *kind)))
        .collect();
    let facts: Vec<String> =
        FACTS.iter().map(|(name, expr, kind)| format!("'{name}', {}", json_value(expr, *kind))).collect();
    let sql = format!(
        "SELECT json_group_array(json_object('id', s.id, 'head', json_object({}), 'facts', json_object({}))) \
         FROM sessions s WHERE (?1 IS NULL OR s.project = ?1) AND (?2 = 0 OR s.state IN {})",
        head.join(", "),
        facts.join(", "),
        words(SessionState::LIVE),
    );
    let text: String = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(project)
        .bind(live_only)
        .fetch_one(pool)
        .await
        .doing("listing session summaries")?;
    let mut rows: Vec<SummaryRow> = serde_json::from_str(&text)
        .map_err(|e| super::StoreError::Corrupt { field: "session listing", detail: e.to_string() })?;
    // Newest first; json_group_array does not promise an order.
    rows.sort_by_key(|row| std::cmp::Reverse(row.id));
    Ok(rows)
}

/// One session's [`IterationFacts`].
pub async fn facts(pool: &SqlitePool, id: i64) -> Result<IterationFacts> {
    let columns: Vec<String> = FACTS.iter().map(|(name, expr, _)| format!("{expr} AS {name}")).collect();
    let sql = format!("SELECT {} FROM sessions s WHERE s.id = ?", columns.join(", "));
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(pool)
        .await
        .doing("summarising a session")
        .map(Option::unwrap_or_default)
}

/// Sessions, newest first; `project` restricts to one project, `live_only` to queued/running/paused.
pub async fn list(pool: &SqlitePool, project: Option<&str>, live_only: bool) -> Result<Vec<SessionRow>> {
    let sql = format!(
        "SELECT * FROM sessions WHERE (?1 IS NULL OR project = ?1) AND (?2 = 0 OR state IN {}) ORDER BY id DESC",
        words(SessionState::LIVE)
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(project)
        .bind(live_only)
        .fetch_all(pool)
        .await
        .doing("listing sessions")
}

/// Sessions the supervisor must drive after a start: those that were running or queued.
pub async fn resumable(pool: &SqlitePool) -> Result<Vec<SessionRow>> {
    let sql = format!(
        "SELECT * FROM sessions WHERE state IN {} ORDER BY id",
        words(&[SessionState::Queued, SessionState::Running])
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(pool).await.doing("listing sessions to resume")
}

/// `('a', 'b')`: an SQL list of states' stored words. The words are the daemon's own constants,
/// so writing them into the statement is safe.
fn words(states: &[SessionState]) -> String {
    let quoted: Vec<String> = states.iter().map(|s| format!("'{}'", s.as_str())).collect();
    format!("({})", quoted.join(", "))
}

pub async fn count_by_state(pool: &SqlitePool, state: SessionState) -> Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM sessions WHERE state = ?")
        .bind(state)
        .fetch_one(pool)
        .await
        .doing("counting sessions")
}

/// Changes the state. Leaving `running` banks the running stretch into `active_seconds`;
/// entering it starts a new stretch, so paused and stopped time never counts.
pub async fn set_state(
    tx: &mut Tx,
    id: i64,
    state: SessionState,
    stop_reason: Option<StopReason>,
    stop_detail: Option<&str>,
) -> Result<()> {
    let now = super::now();
    let (mut active, mut since) = get_tx(tx, id).await?.map(|c| (c.active_seconds, c.active_since)).unwrap_or_default();
    if state == SessionState::Running {
        since = since.or_else(|| Some(now.clone()));
    } else if let Some(start) = since.take() {
        active += super::seconds_between(&start, &now).max(0.0);
    }
    let terminal = state.is_terminal();
    sqlx::query(
        "UPDATE sessions SET state = ?, stop_reason = ?, stop_detail = ?, active_seconds = ?, active_since = ?, \
         ended_at = CASE WHEN ? THEN ? ELSE NULL END WHERE id = ?",
    )
    .bind(state)
    .bind(stop_reason)
    .bind(stop_detail)
    .bind(active)
    .bind(since)
    .bind(terminal)
    .bind(&now)
    .bind(id)
    .execute(&mut **tx)
    .await
    .doing("changing a session's state")?;
    Ok(())
}

pub async fn set_stop_requested(tx: &mut Tx, id: i64, request: Option<StopRequest>) -> Result<()> {
    sqlx::query("UPDATE sessions SET stop_requested = ? WHERE id = ?")
        .bind(request)
        .bind(id)
        .execute(&mut **tx)
        .await
        .doing("recording a stop request")?;
    Ok(())
}

/// Records a stop request on a session that is running, and says whether it did (a session
/// that already ended or paused is left as it is).
pub async fn request_stop_if_running(tx: &mut Tx, id: i64, request: StopRequest) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE sessions SET stop_requested = ?1 WHERE id = ?2 AND state = ?3 \
         AND (stop_requested IS NULL OR (stop_requested != ?1 AND ?1 = ?4))",
    )
    .bind(request)
    .bind(id)
    .bind(SessionState::Running)
    .bind(StopRequest::Now)
    .execute(&mut **tx)
    .await
    .doing("recording a stop request")?;
    Ok(done.rows_affected() > 0)
}

pub async fn set_budget(tx: &mut Tx, id: i64, budget_seconds: Option<f64>) -> Result<()> {
    sqlx::query("UPDATE sessions SET budget_seconds = ? WHERE id = ?")
        .bind(budget_seconds)
        .bind(id)
        .execute(&mut **tx)
        .await
        .doing("setting a budget")?;
    Ok(())
}

pub async fn set_progress(tx: &mut Tx, id: i64, best_iteration: Option<u32>, consecutive_failures: u32) -> Result<()> {
    sqlx::query("UPDATE sessions SET best_iteration = ?, consecutive_failures = ? WHERE id = ?")
        .bind(best_iteration.map(i64::from))
        .bind(i64::from(consecutive_failures))
        .bind(id)
        .execute(&mut **tx)
        .await
        .doing("recording progress")?;
    Ok(())
}

pub async fn delete(tx: &mut Tx, id: i64) -> Result<()> {
    sqlx::query("DELETE FROM sessions WHERE id = ?").bind(id).execute(&mut **tx).await.doing("deleting a session")?;
    Ok(())
}

pub async fn set_noise_floor(tx: &mut Tx, id: i64, noise_floor: f64) -> Result<()> {
    sqlx::query("UPDATE sessions SET noise_floor = ? WHERE id = ?")
        .bind(noise_floor)
        .bind(id)
        .execute(&mut **tx)
        .await
        .doing("recording the noise floor")?;
    Ok(())
}

pub async fn set_head_commit(tx: &mut Tx, id: i64, head: &str) -> Result<()> {
    sqlx::query("UPDATE sessions SET head_commit = ? WHERE id = ?")
        .bind(head)
        .bind(id)
        .execute(&mut **tx)
        .await
        .doing("recording the branch head")?;
    Ok(())
}

pub async fn set_config_text(tx: &mut Tx, id: i64, text: Option<&str>) -> Result<()> {
    sqlx::query("UPDATE sessions SET config_text = ? WHERE id = ?")
        .bind(text)
        .bind(id)
        .execute(&mut **tx)
        .await
        .doing("recording revis.yaml as seen")?;
    Ok(())
}

/// What LLM calls or an agent run cost: dollars at known prices, and the calls whose price
/// Revis does not know (shown as unknown, never as $0).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LlmCost {
    pub usd: f64,
    pub unpriced: i64,
}

impl LlmCost {
    /// `Some(usd)` for a known price, `None` for one call at an unknown price.
    pub fn of(usd: Option<f64>) -> Self {
        match usd {
            Some(usd) => Self { usd, unpriced: 0 },
            None => Self { usd: 0.0, unpriced: 1 },
        }
    }

    pub fn is_zero(&self) -> bool {
        self.usd == 0.0 && self.unpriced == 0
    }
}

/// Books LLM and agent spend.
pub async fn add_llm_usd(tx: &mut Tx, id: i64, cost: LlmCost) -> Result<()> {
    let LlmCost { usd, unpriced } = cost;
    sqlx::query("UPDATE sessions SET llm_usd = llm_usd + ?, llm_unpriced_calls = llm_unpriced_calls + ? WHERE id = ?")
        .bind(usd)
        .bind(unpriced)
        .bind(id)
        .execute(&mut **tx)
        .await
        .doing("recording LLM spend")?;
    Ok(())
}

/// Gives out the next iteration number (see `last_number`).
pub async fn reserve_number(tx: &mut Tx, id: i64) -> Result<u32> {
    let number: i64 =
        sqlx::query_scalar("UPDATE sessions SET last_number = last_number + 1 WHERE id = ? RETURNING last_number")
            .bind(id)
            .fetch_one(&mut **tx)
            .await
            .doing("reserving an iteration number")?;
    Ok(u32::try_from(number).unwrap_or(u32::MAX))
}

/// The decisions waiting for free slots (JSON list).
pub async fn set_decision_queue(tx: &mut Tx, id: i64, queue: &str) -> Result<()> {
    sqlx::query("UPDATE sessions SET decision_queue = ? WHERE id = ?")
        .bind(queue)
        .bind(id)
        .execute(&mut **tx)
        .await
        .doing("recording the decision queue")?;
    Ok(())
}

/// Books a finished run's GPU time and its price.
pub async fn add_compute(tx: &mut Tx, id: i64, gpu_seconds: f64, usd: f64) -> Result<()> {
    sqlx::query("UPDATE sessions SET gpu_seconds = gpu_seconds + ?, compute_usd = compute_usd + ? WHERE id = ?")
        .bind(gpu_seconds)
        .bind(usd)
        .bind(id)
        .execute(&mut **tx)
        .await
        .doing("recording GPU time")?;
    Ok(())
}

/// A session row for tests.
#[cfg(test)]
pub(crate) fn sample(name: &str, project: &str) -> NewSession {
    NewSession {
        name: name.into(),
        project: project.into(),
        branch: format!("revis/{name}"),
        worktree: format!("{project}/.revis/worktrees/{name}"),
        base_branch: "main".into(),
        base_commit: "abc".into(),
        advisor: AdvisorKind::Search,
        config_json: "{}".into(),
        primary_metric: "loss".into(),
        minimize: true,
        target: None,
        budget_seconds: Some(60.0),
        max_iterations: Some(3),
        max_cost: None,
        config_text: None,
        slots: 1,
    }
}

pub async fn set_pr_url(tx: &mut Tx, id: i64, url: &str) -> Result<()> {
    sqlx::query("UPDATE sessions SET pr_url = ? WHERE id = ?")
        .bind(url)
        .bind(id)
        .execute(&mut **tx)
        .await
        .doing("recording the pull request")?;
    Ok(())
}
