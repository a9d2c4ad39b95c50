//! train: start the run (or re-attach to it after a restart) and wait for it, its deadline
//! (`guardrails.max_run_duration`, or the budget when that comes first) and commands. A stop
//! kills the run's process group; a stop recorded before a restart is honoured on attach.

use std::time::Duration;

use crate::engine::progress::{self, Curve, ProgressFile};
use crate::exec::{RunOutcome, RunStatus};
use crate::states::{IterationState, Outcome, Phase, SessionState, StopReason, StopRequest};
use crate::store::{self, IterationRow, NewEvent, SessionRow};

use super::super::{Result, faults};
use super::{Actor, Flow};

/// How often the progress file is looked at during a run.
const PROGRESS_POLL: Duration = Duration::from_secs(1);
/// How often a metrics source that keeps histories (W&B, MLflow) is asked for the curve.
const SOURCE_POLL: Duration = Duration::from_secs(3);

impl Actor {
    pub(super) async fn train(&mut self, session: &SessionRow, mut it: IterationRow) -> Result<Flow> {
        let number = it.number();
        let mut spec = self.spec(&it);
        let exec = match self.exec().await {
            Ok(exec) => exec,
            Err(e) => match self.on_box() {
                Some(host) => return self.host_down(it, host, e.to_string()).await,
                None => return Err(e),
            },
        };
        let attached = match exec.attach(&spec.run_id, &spec.run_dir).await {
            Ok(attached) => attached,
            Err(e) => match self.on_box().filter(|_| e.is_unreachable()) {
                Some(host) => return self.host_down(it, host, e.to_string()).await,
                None => return Err(e.into()),
            },
        };
        // A stop recorded before a restart (the daemon died during the kill grace, say) is
        // acted on now: the run is killed, never waited for.
        if session.stop_requested == Some(StopRequest::Now) {
            if attached.is_some() {
                exec.kill(&spec.run_id, &spec.run_dir, self.kill_grace).await?;
            }
            self.interrupt(&mut it, "stopped by the user").await?;
            return self.end(SessionState::Stopped, StopReason::User, "stopped by the user".into()).await;
        }
        match attached {
            None => {
                // A remote executor ships the worktree first (only what changed since last time).
                let state_dir = self.engine.home().runs().join(&spec.session);
                let links = self.config.workspace.link.clone();
                match exec.prepare_workdir(&self.worktree, &spec.session, &links, &state_dir).await {
                    Ok(Some(report)) => tracing::info!(
                        session = %self.name,
                        bytes = report.bytes_sent,
                        files = report.files_sent,
                        deleted = report.files_deleted,
                        "synced the worktree"
                    ),
                    Ok(None) => {}
                    Err(e) => {
                        if let Some(host) = self.on_box().filter(|_| e.is_unreachable()) {
                            return self.host_down(it, host, e.to_string()).await;
                        }
                        return self.record_run_end(it, None, Some(format!("could not sync the worktree: {e}"))).await;
                    }
                }
                // A source may need to set the run up first (MLflow: a run created for it).
                match self.metrics.prepare(&self.run_context(&it)).await {
                    Ok(extra) => spec.env.extend(extra),
                    Err(e) => return self.record_run_end(it, None, Some(e.to_string())).await,
                }
                if let Err(e) = exec.start(&spec).await {
                    if let Some(host) = self.on_box().filter(|_| e.is_unreachable()) {
                        return self.host_down(it, host, e.to_string()).await;
                    }
                    return self.record_run_end(it, None, Some(format!("could not start training: {e}"))).await;
                }
                faults::point("train_started", Some(number));
                self.record_job(&exec, &spec, &mut it).await?;
            }
            Some(RunStatus::Running) => {
                tracing::info!(session = %self.name, iteration = number, "re-attached to a running training run");
            }
            Some(_) => {}
        }

        if let Some(flow) = self.wait_in_queue(&exec, &spec, session, &mut it).await? {
            return Ok(flow);
        }

        // Deadlines count from when the run started, so a restarted daemon keeps them. A
        // batch job's time limit is its scheduler's to enforce (`executor.time`, by default
        // this same limit), so only the budget bounds it here.
        let ran_for =
            it.started_at.as_deref().map(|s| store::seconds_between(s, &store::now()).max(0.0)).unwrap_or(0.0);
        let run_left = match exec.queue_poll() {
            Some(_) => f64::from(u32::MAX),
            None => self.max_run.as_secs_f64() - ran_for,
        };
        let budget_left = session.budget_seconds.map(|b| b - session.active_seconds_now());
        let budget_bounds = budget_left.is_some_and(|b| b < run_left);
        let left = budget_left.map_or(run_left, |b| b.min(run_left)).max(0.0);
        let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(left);

        let mut halt = self.halt.subscribe();
        let wait = exec.wait(&spec.run_id, &spec.run_dir, None);
        tokio::pin!(wait);
        // The progress the training reports is read as it comes: the curve is kept (watch shows
        // its last value) and, with guardrails.early_stop, judged against earlier runs'.
        let mut progress = ProgressFile::new(&spec.output_dir);
        let mut ticks = tokio::time::interval(PROGRESS_POLL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // W&B and MLflow keep the curve themselves: once the source has one, it is the curve
        // (the progress file is then ignored, so the two never interleave).
        let live_source = !matches!(self.config.metrics.source, crate::config::MetricsSourceType::EvalJson);
        let mut source_ticks = tokio::time::interval(SOURCE_POLL);
        source_ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut from_source = false;
        loop {
            tokio::select! {
                    outcome = &mut wait => {
                        faults::point("train_ended", Some(number));
                        let outcome = match outcome {
                            Ok(outcome) => outcome,
                            Err(e) => match self.on_box().filter(|_| e.is_unreachable()) {
                                Some(host) => return self.host_down(it, host, e.to_string()).await,
                                None => return Err(e.into()),
                            },
                        };
                        // What the run reported last, before its end.
                        self.read_progress(&mut progress, &mut it).await?;
                        return match outcome {
                            RunOutcome::Exited { code } => {
                                let mut reason = (code != 0).then(|| exit_reason(code));
                                if let Err(e) = exec.collect(&spec.run_id, &spec.run_dir).await {
                                    let collected = format!("its output could not be collected: {e}");
                                    reason = Some(reason.map_or(collected.clone(), |r| format!("{r}; {collected}")));
                                }
                                // A remote run's progress file arrives with its output.
                                self.read_progress(&mut progress, &mut it).await?;
                                self.record_run_end(it, Some(code), reason).await
                            }
                            RunOutcome::Ended { reason } => self.record_run_end(it, None, Some(reason)).await,
                            RunOutcome::TimedOut | RunOutcome::Vanished => {
                                let why = match exec.queue_poll() {
                                    Some(_) => "the job left the queue without a recorded state or exit code",
                                    None => "the run disappeared without recording an exit code (its tmux session ended)",
                                };
                                self.record_run_end(it, None, Some(why.into())).await
                            }
                        };
                    }
                    _ = tokio::time::sleep_until(deadline) => {
                        // The whole process group: SIGTERM, then SIGKILL after kill_grace.
                        exec.kill(&spec.run_id, &spec.run_dir, self.kill_grace).await?;
                        faults::point("train_ended", Some(number));
                        if budget_bounds {
                            self.interrupt(&mut it, "the time budget ran out during the run").await?;
                            return self
                                .end(SessionState::Completed, StopReason::Budget, "the time budget is used up".into())
                                .await;
                        }
                        let limit = crate::config::duration::format_duration(self.max_run);
                        let why = format!("timed out after {limit} (guardrails.max_run_duration); the run was killed");
                        return self.record_run_end(it, None, Some(why)).await;
                    }
                    why = wait_for_halt(&mut halt) => {
                        // The session ends at once (a stop, the budget, an error elsewhere): the run's
                        // whole process group goes, and the trial is recorded as interrupted.
                        exec.kill(&spec.run_id, &spec.run_dir, self.kill_grace).await?;
                        faults::point("train_ended", Some(number));
                        self.interrupt(&mut it, &why).await?;
                        return Ok(Flow::Continue);
                    }
                    _ = source_ticks.tick(), if live_source => {
                        let Some(curve) = self.metrics.live_curve(&self.run_context(&it)).await else { continue };
                        from_source = true;
                        if let Some(step) = self.new_curve(&mut it, curve).await? {
                            exec.kill(&spec.run_id, &spec.run_dir, self.kill_grace).await?;
                            faults::point("train_ended", Some(number));
                            it.stopped_at_step = Some(step);
                            return self.record_run_end(it, None, None).await;
                        }
                    }
                    _ = ticks.tick(), if !from_source => {
                        if let Some(step) = self.read_progress(&mut progress, &mut it).await? {
                            exec.kill(&spec.run_id, &spec.run_dir, self.kill_grace).await?;
                            faults::point("train_ended", Some(number));
                            it.stopped_at_step = Some(step);
                            return self.record_run_end(it, None, None).await;
                        }
                    }
            }
        }
    }

    /// New progress of the run: its curve grows and is saved; returns the step to stop at when
    /// `guardrails.early_stop` says the run is losing.
    async fn read_progress(&mut self, progress: &mut ProgressFile, it: &mut IterationRow) -> Result<Option<f64>> {
        let primary = self.config.metrics.primary.clone();
        let points = progress.read_new(&primary);
        if points.is_empty() {
            return Ok(None);
        }
        let mut curve: Curve = match it.history_json.as_deref() {
            Some(json) => super::super::stored::parse(json, "history_json", it)?,
            None => Vec::new(),
        };
        curve.extend(points);
        self.new_curve(it, curve).await
    }

    /// The run's curve as it stands now: saved (when it changed) and, with
    /// `guardrails.early_stop`, judged; returns the step to stop at.
    async fn new_curve(&mut self, it: &mut IterationRow, curve: Curve) -> Result<Option<f64>> {
        let json = super::super::stored::to_json(&curve, "a progress curve")?;
        if it.history_json.as_deref() == Some(json.as_str()) {
            return Ok(None);
        }
        it.history_json = Some(json);
        let mut tx = self.begin().await?;
        store::iterations::save(&mut tx, it).await?;
        self.finish(tx, vec![]).await?;
        let g = &self.config.guardrails;
        // The baseline and a trial's repeated runs (replicates, confirmations) always finish:
        // their values are measured, not ranked.
        if g.early_stop == crate::config::EarlyStop::None || it.number == 0 || it.replicate > 1 {
            return Ok(None);
        }
        let pool = self.engine.store().pool();
        let earlier: Vec<Curve> = store::iterations::curves(pool, self.id, it.number)
            .await?
            .iter()
            .filter_map(|json| serde_json::from_str(json).ok())
            .collect();
        Ok(progress::should_stop(g, &curve, &earlier, self.config.metrics.minimize))
    }

    pub(super) async fn interrupt(&mut self, it: &mut IterationRow, why: &str) -> Result<()> {
        it.state = IterationState::Interrupted;
        it.outcome = Some(Outcome::Interrupted);
        it.failure_reason = Some(why.to_string());
        stamp_end(it);
        let mut tx = self.begin().await?;
        store::iterations::save(&mut tx, it).await?;
        self.book_compute(&mut tx, it).await?;
        let event = self
            .event(
                &mut tx,
                NewEvent::new(
                    "iteration_interrupted",
                    Some(it.number()),
                    format!("iteration {} interrupted: {why}", it.number),
                ),
            )
            .await?;
        self.finish(tx, vec![event]).await
    }

    /// The box of `executor.hosts` this slot is on: its failures retire that box's slots
    /// instead of failing the session. `None` on this machine or the one `executor.host`.
    pub(super) fn on_box(&self) -> Option<usize> {
        self.slot.host.filter(|_| !self.config.executor.hosts.is_empty())
    }

    /// The trial's host cannot be reached: the trial fails with the reason and the scheduler
    /// retires the host's slots.
    async fn host_down(&mut self, it: IterationRow, host: usize, what: String) -> Result<Flow> {
        let name = self.config.executor.hosts.get(host).map(|h| h.host.clone()).unwrap_or_default();
        let reason = format!("host {name} cannot be reached: {what}");
        self.record_run_end(it, None, Some(reason.clone())).await?;
        Ok(Flow::HostDown { host, reason })
    }

    /// Books a run's GPU time (its duration × its slot's GPUs) and, at
    /// `executor.cost_per_gpu_hour`, its dollars, in the transaction that records its end.
    async fn book_compute(&self, tx: &mut store::Tx, it: &IterationRow) -> Result<()> {
        let gpus = match self.config.executor.kind {
            // Slurm allocates each job's GPUs: as many as the job asks for.
            crate::config::ExecutorType::Slurm => self.config.executor.job_gpus() as usize,
            _ => it.gpus.as_deref().map_or(0, |g| g.split(',').filter(|d| !d.is_empty()).count()),
        };
        let seconds = it.duration_seconds.unwrap_or(0.0).max(0.0) * gpus as f64;
        if seconds <= 0.0 {
            return Ok(());
        }
        let usd = self.executor_settings().cost_per_gpu_hour.unwrap_or(0.0) * seconds / 3600.0;
        Ok(store::sessions::add_compute(tx, self.id, seconds, usd).await?)
    }

    pub(super) async fn record_run_end(
        &mut self,
        mut it: IterationRow,
        code: Option<i32>,
        failure: Option<String>,
    ) -> Result<Flow> {
        it.exit_code = code.map(i64::from);
        it.failure_reason = failure;
        it.phase = Phase::Collect;
        stamp_end(&mut it);
        let mut tx = self.begin().await?;
        store::iterations::save(&mut tx, &it).await?;
        self.book_compute(&mut tx, &it).await?;
        let message = match (&it.failure_reason, it.duration_seconds) {
            (Some(reason), _) => format!("iteration {}: run failed: {reason}", it.number),
            (None, Some(d)) => format!("iteration {}: run finished in {d:.1}s", it.number),
            (None, None) => format!("iteration {}: run finished", it.number),
        };
        let event = self
            .event(
                &mut tx,
                NewEvent::new("run_finished", Some(it.number()), message)
                    .with_data(serde_json::json!({"exit_code": code})),
            )
            .await?;
        self.finish(tx, vec![event]).await?;
        Ok(Flow::Continue)
    }
}

/// Waits until the session is told to end at once, and says why.
pub(super) async fn wait_for_halt(halt: &mut tokio::sync::watch::Receiver<Option<String>>) -> String {
    loop {
        if let Some(why) = halt.borrow_and_update().clone() {
            return why;
        }
        if halt.changed().await.is_err() {
            // The sender lives as long as the session's actor; without it nothing halts.
            std::future::pending::<()>().await;
        }
    }
}

fn stamp_end(it: &mut IterationRow) {
    let now = store::now();
    it.duration_seconds = it.started_at.as_deref().map(|s| store::seconds_between(s, &now));
    it.ended_at = Some(now);
}

fn exit_reason(code: i32) -> String {
    match code {
        c if c > 128 && c < 160 => format!("training exited with code {c} (killed by signal {})", c - 128),
        c => format!("training exited with code {c}"),
    }
}
