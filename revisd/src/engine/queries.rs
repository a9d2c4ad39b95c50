//! Reads for the API: sessions, their summaries and iterations, the LLM transcripts behind a
//! decision. Reads go straight to the store (no actor is involved), so `revis status` never
//! waits for a session that is busy.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::states::SessionState;
use crate::store::sessions::{IterationFacts, SummaryRow};
use crate::store::{self, IterationRow, SessionRow};

use super::{Engine, EngineError, Result, llm_advice};

/// The transcripts of the decision that produced each iteration (JSON text: a list of tries).
pub type Trace = HashMap<u32, String>;

impl Engine {
    pub async fn reload(&self, id: i64) -> Result<SessionRow> {
        store::sessions::get(self.store().pool(), id)
            .await?
            .ok_or_else(|| EngineError::NotFound("the session was deleted".into()))
    }

    /// Sessions an actor drives now (running or queued), and paused ones.
    pub async fn session_counts(&self) -> Result<(i64, i64)> {
        let pool = self.store().pool();
        let running = store::sessions::count_by_state(pool, SessionState::Running).await?;
        let queued = store::sessions::count_by_state(pool, SessionState::Queued).await?;
        let paused = store::sessions::count_by_state(pool, SessionState::Paused).await?;
        Ok((running + queued, paused))
    }

    /// What a session's one-line summary needs from its iterations.
    pub async fn facts(&self, session: &SessionRow) -> Result<IterationFacts> {
        Ok(store::sessions::facts(self.store().pool(), session.id).await?)
    }

    /// Every session's summary, newest first: of one project (the one containing
    /// `project_dir`) or of all, and only the live ones if asked. One query for the whole
    /// listing, so a store of thousands of sessions answers in milliseconds.
    pub async fn list_summaries(&self, project_dir: &str, live_only: bool) -> Result<Vec<SummaryRow>> {
        let project = if project_dir.is_empty() {
            None
        } else {
            Some(super::project_of(&PathBuf::from(project_dir))?.display().to_string())
        };
        Ok(store::sessions::list_summaries(self.store().pool(), project.as_deref(), live_only).await?)
    }

    /// The trials holding a slot in the live sessions (or in `session` only).
    pub async fn slot_trials(&self, session: Option<i64>) -> Result<Vec<store::iterations::SlotTrial>> {
        Ok(store::iterations::slot_trials(self.store().pool(), session).await?)
    }

    pub async fn iterations(&self, session: &SessionRow) -> Result<Vec<IterationRow>> {
        Ok(store::iterations::list(self.store().pool(), session.id).await?)
    }

    /// The LLM transcripts of the decisions behind `iterations`: each was produced by the
    /// decision of the judged trial it names (`decided_by`; iteration n - 1 for sessions from
    /// before parallel trials). Files are read off the async workers.
    pub async fn traces(&self, session: &SessionRow, iterations: &[IterationRow]) -> Trace {
        let dirs: Vec<(u32, PathBuf)> = iterations
            .iter()
            .filter(|it| it.number > 0)
            .filter_map(|it| {
                let by = it.decided_by.unwrap_or(it.number - 1);
                let after = iterations.iter().find(|row| row.number == by)?;
                Some((it.number(), llm_advice::decision_dir(self, session, after)))
            })
            .collect();
        tokio::task::spawn_blocking(move || {
            dirs.into_iter()
                .filter_map(|(number, dir)| {
                    let tries = llm_advice::transcripts(&dir);
                    (!tries.is_empty()).then(|| (number, serde_json::json!({ "tries": tries }).to_string()))
                })
                .collect()
        })
        .await
        .unwrap_or_default()
    }

    /// `revis stop` without a name: the project's one live session.
    pub async fn only_live_session(&self, project_dir: &Path) -> Result<SessionRow> {
        let project = super::project_of(project_dir)?.display().to_string();
        let live = store::sessions::list(self.store().pool(), Some(&project), true).await?;
        match live.as_slice() {
            [one] => Ok(one.clone()),
            [] => Err(EngineError::FailedPrecondition(format!("no running session in {project}"))),
            many => Err(EngineError::FailedPrecondition(format!(
                "several sessions are running in {project}: {}; name one",
                many.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ")
            ))),
        }
    }
}
