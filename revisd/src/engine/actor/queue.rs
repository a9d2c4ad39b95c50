//! Runs that are batch jobs: the job id recorded once submitted, and the wait in the
//! scheduler's queue before the run starts. That wait is its own figure (`queued_seconds`),
//! not run time: the run's clock (`started_at`, its deadline, its duration) starts when the job
//! does. A stop while the job waits cancels it; so does the time budget running out.

use std::sync::Arc;

use crate::exec::{Executor, RunSpec, RunStatus};
use crate::states::{SessionState, StopReason};
use crate::store::{self, IterationRow, NewEvent, SessionRow};

use super::super::Result;
use super::{Actor, Flow};

impl Actor {
    /// After a submission: the job id, with an event, in one transaction.
    pub(super) async fn record_job(
        &mut self,
        exec: &Arc<dyn Executor>,
        spec: &RunSpec,
        it: &mut IterationRow,
    ) -> Result<()> {
        let Some(job) = exec.job_id(&spec.run_dir) else {
            return Ok(());
        };
        it.job_id = Some(job.clone());
        let message = format!("iteration {}: submitted as Slurm job {job}", it.number);
        self.save_with_event(it, "job_submitted", message, serde_json::json!({"job_id": job})).await
    }

    /// Saves the iteration with one event, in one transaction.
    async fn save_with_event(
        &mut self,
        it: &IterationRow,
        kind: &'static str,
        message: String,
        data: serde_json::Value,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        store::iterations::save(&mut tx, it).await?;
        let event = self.event(&mut tx, NewEvent::new(kind, Some(it.number()), message).with_data(data)).await?;
        self.finish(tx, vec![event]).await
    }

    /// Waits while the job is queued. `Ok(None)`: it runs (or already ended) and its clock
    /// starts now; `Ok(Some(flow))`: the session ended or the trial was interrupted meanwhile.
    pub(super) async fn wait_in_queue(
        &mut self,
        exec: &Arc<dyn Executor>,
        spec: &RunSpec,
        session: &SessionRow,
        it: &mut IterationRow,
    ) -> Result<Option<Flow>> {
        let Some(poll) = exec.queue_poll() else {
            return Ok(None);
        };
        let mut halt = self.halt.subscribe();
        let queued_since = store::now();
        let mut said: Option<String> = None;
        loop {
            let reason = match exec.status(&spec.run_id, &spec.run_dir).await {
                Ok(RunStatus::Queued { reason }) => reason,
                Ok(_) => break,
                // The run's own wait reports (and retries) an unreachable cluster.
                Err(e) if e.is_unreachable() => break,
                Err(e) => return Err(e.into()),
            };
            if said.as_deref() != Some(reason.as_str()) {
                let job = it.job_id.clone().unwrap_or_default();
                it.queue_reason = Some(reason.clone());
                let message = format!("iteration {}: Slurm job {job} waits in the queue ({reason})", it.number);
                let data = serde_json::json!({"job_id": job, "reason": reason});
                self.save_with_event(it, "job_queued", message, data).await?;
                said = Some(reason);
            }
            let budget_left = session.budget_seconds.map(|b| b - session.active_seconds_now());
            if budget_left.is_some_and(|b| b <= 0.0) {
                exec.kill(&spec.run_id, &spec.run_dir, self.kill_grace).await?;
                self.interrupt(it, "the time budget ran out while the job was queued").await?;
                return self
                    .end(SessionState::Completed, StopReason::Budget, "the time budget is used up".into())
                    .await
                    .map(Some);
            }
            let nap = budget_left.map_or(poll, |b| poll.min(std::time::Duration::from_secs_f64(b.max(0.1))));
            tokio::select! {
                _ = tokio::time::sleep(nap) => {}
                why = super::train::wait_for_halt(&mut halt) => {
                    exec.kill(&spec.run_id, &spec.run_dir, self.kill_grace).await?;
                    self.interrupt(it, &why).await?;
                    return Ok(Some(Flow::Continue));
                }
            }
        }
        if said.is_none() {
            return Ok(None);
        }
        // The run's clock starts now; the wait, counted from the run's start (the submission,
        // or before a daemon restart), is booked as queue time.
        let now = store::now();
        let waited = store::seconds_between(it.started_at.as_deref().unwrap_or(&queued_since), &now).max(0.0);
        it.queued_seconds = Some(it.queued_seconds.unwrap_or(0.0) + waited);
        it.started_at = Some(now);
        it.queue_reason = None;
        let job = it.job_id.clone().unwrap_or_default();
        let message = format!("iteration {}: Slurm job {job} started after {waited:.0}s in the queue", it.number);
        let data = serde_json::json!({"job_id": job, "queued_seconds": waited});
        self.save_with_event(it, "job_started", message, data).await?;
        Ok(None)
    }
}
