//! The session actor: the one task that advances a session. Each step reads the latest
//! iteration's phase from the store, does the phase's work, and records the transition (with
//! its event) in one transaction, so a daemon killed at any point resumes at the phase it was
//! in: a run still alive in tmux is waited for again, a finished one is collected, an advice or
//! apply step is redone, and a commit is looked up by its trailer before it is made.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::advisor::search::{Proposal, SearchAdvisor};
use crate::advisor::{Action, Decision, Observation};
use crate::config::Config;
use crate::exec::{RunOutcome, RunSpec, RunStatus};
use crate::metrics::{self, Assessment, MetricsSource, RunContext};
use crate::store::{self, EventRow, IterationRow, NewEvent, NewIteration, SessionRow, Tx};
use crate::{changes, workspace};

use super::lifecycle::{blocking, short};
use super::{Engine, EngineError, Result, faults, handoff, llm_advice, rules};

enum Flow {
    Continue,
    Exit,
}

/// What `apply` produced, kept on the iteration so `commit` can be redone after a crash.
#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    command: String,
    parent: u32,
    summaries: Vec<String>,
    changes: Vec<crate::advisor::Change>,
    params: IndexMap<String, serde_json::Value>,
    /// A code change the session waits for a human to make in the worktree.
    #[serde(default)]
    code_request: Option<String>,
    /// The worktree as Revis left it before pausing for that change (see `lifecycle::fingerprint`).
    #[serde(default)]
    fingerprint: Option<String>,
    /// What a coding agent did, when one made the code change.
    #[serde(default)]
    agent: Option<handoff::AgentRecord>,
    #[serde(default)]
    agent_cost: f64,
}

pub(super) async fn run(engine: Engine, id: i64, wake: Arc<Notify>) {
    let mut actor = match Actor::load(engine.clone(), id, wake).await {
        Ok(actor) => actor,
        Err(e) => {
            tracing::error!(session_id = id, error = %e, "cannot start the session's actor");
            fail_session(&engine, id, &e.to_string()).await;
            return;
        }
    };
    if let Err(e) = actor.drive().await {
        tracing::error!(session = %actor.name, error = %e, "session failed with an internal error");
        fail_session(&engine, id, &e.to_string()).await;
    }
}

/// Last resort: records an internal error as the session's end so it never hangs as "running".
async fn fail_session(engine: &Engine, id: i64, reason: &str) {
    let result: Result<()> = async {
        let mut tx = engine.store().begin().await?;
        store::sessions::set_state(&mut tx, id, "failed", Some("error"), Some(reason)).await?;
        let event = store::events::append(
            &mut tx,
            id,
            NewEvent::new("session_ended", None, format!("session failed: {reason}"))
                .with_data(serde_json::json!({"final_state": "failed", "stop_reason": "error", "detail": reason})),
        )
        .await?;
        tx.commit().await.map_err(|e| EngineError::Internal(e.to_string()))?;
        engine.bus().publish(event);
        Ok(())
    }
    .await;
    if let Err(e) = result {
        tracing::error!(session_id = id, error = %e, "could not record the session's failure");
    }
}

struct Actor {
    engine: Engine,
    id: i64,
    name: String,
    config: Config,
    max_run: Duration,
    worktree: PathBuf,
    project: PathBuf,
    branch: String,
    wake: Arc<Notify>,
    metrics: Box<dyn MetricsSource>,
    kill_grace: Duration,
    /// Where this session's runs happen (local tmux, or a remote over SSH).
    exec: Arc<dyn crate::exec::Executor>,
}

impl Actor {
    async fn load(engine: Engine, id: i64, wake: Arc<Notify>) -> Result<Self> {
        let session = engine.reload(id).await?;
        let config: Config = serde_json::from_str(&session.config_json).map_err(|e| {
            EngineError::Internal(format!("stored config of session '{}' is unreadable: {e}", session.name))
        })?;
        let max_run = crate::config::duration::parse_duration(&config.guardrails.max_run_duration)
            .map_err(|e| EngineError::Internal(format!("guardrails.max_run_duration: {e}")))?;
        let kill_grace = crate::config::duration::parse_duration(&config.guardrails.kill_grace)
            .map_err(|e| EngineError::Internal(format!("guardrails.kill_grace: {e}")))?;
        let exec = engine.executor_for(&config).await?;
        let metrics: Box<dyn MetricsSource> = match config.metrics.source {
            crate::config::MetricsSourceType::EvalJson => Box::new(metrics::EvalJson),
            crate::config::MetricsSourceType::Wandb => Box::new(metrics::wandb::Wandb::new()),
            crate::config::MetricsSourceType::Mlflow => Box::new(metrics::mlflow::Mlflow::new()),
        };
        Ok(Self {
            name: session.name.clone(),
            worktree: PathBuf::from(&session.worktree),
            project: PathBuf::from(&session.project),
            branch: session.branch.clone(),
            engine,
            id,
            config,
            max_run,
            wake,
            metrics,
            kill_grace,
            exec,
        })
    }

    async fn drive(&mut self) -> Result<()> {
        loop {
            let session = self.engine.reload(self.id).await?;
            if session.state != "running" {
                return Ok(());
            }
            let it = store::iterations::latest(self.engine.store().pool(), self.id)
                .await?
                .ok_or_else(|| EngineError::Internal("the session has no iteration".into()))?;
            let flow = match it.phase.as_str() {
                "prepare" => self.prepare(&session, it).await?,
                "train" => self.train(&session, it).await?,
                "collect" => self.collect(&session, it).await?,
                "advise" => self.advise(&session, it).await?,
                "apply" => self.apply(it).await?,
                "commit" => self.commit(it).await?,
                other => {
                    return Err(EngineError::Internal(format!(
                        "iteration {} is in unknown phase '{other}'",
                        it.number
                    )));
                }
            };
            if let Flow::Exit = flow {
                return Ok(());
            }
        }
    }

    // ---- transactions -------------------------------------------------------------------

    /// Begins a transition (one transaction with its events).
    async fn begin(&mut self) -> Result<Tx> {
        Ok(self.engine.store().begin().await?)
    }

    async fn event(&self, tx: &mut Tx, event: NewEvent) -> Result<EventRow> {
        Ok(store::events::append(tx, self.id, event).await?)
    }

    async fn finish(&self, tx: Tx, events: Vec<EventRow>) -> Result<()> {
        tx.commit().await.map_err(|e| EngineError::Internal(format!("committing a transition: {e}")))?;
        for event in events {
            self.engine.bus().publish(event);
        }
        Ok(())
    }

    /// The common transition: the iteration as it now stands and one event, committed together.
    async fn record(&mut self, it: &IterationRow, event: NewEvent) -> Result<()> {
        let mut tx = self.begin().await?;
        store::iterations::save(&mut tx, it).await?;
        let event = self.event(&mut tx, event).await?;
        self.finish(tx, vec![event]).await
    }

    /// Ends the session. Completed and failed sessions leave the branch head at the best state.
    async fn end(&mut self, state: &str, reason: &str, detail: String) -> Result<Flow> {
        let mut restore_note = None;
        if state != "stopped" && self.worktree.join(".git").exists() {
            // The end is recorded even when the restore cannot be made (a broken worktree).
            restore_note = match self.restore_best().await {
                Ok(note) => note,
                Err(e) => Some(format!("the best state could not be restored on the branch: {e}")),
            };
        }
        faults::point("end", None);
        // Whatever the branch holds now (a restore commit included) is where Revis left it.
        let head = {
            let (project, branch) = (self.project.clone(), self.branch.clone());
            blocking(move || workspace::branch_head(&project, &branch)).await?.ok().flatten()
        };
        let mut tx = self.begin().await?;
        if let Some(head) = &head {
            store::sessions::set_head_commit(&mut tx, self.id, head).await?;
        }
        store::sessions::set_stop_requested(&mut tx, self.id, None).await?;
        store::sessions::set_state(&mut tx, self.id, state, Some(reason), Some(&detail)).await?;
        let mut message = format!("session {state}: {detail}");
        if let Some(note) = restore_note {
            message.push_str(&format!("; {note}"));
        }
        let event = self
            .event(
                &mut tx,
                NewEvent::new("session_ended", None, message)
                    .with_data(serde_json::json!({"final_state": state, "stop_reason": reason, "detail": detail})),
            )
            .await?;
        self.finish(tx, vec![event]).await?;
        Ok(Flow::Exit)
    }

    /// Makes the branch head hold the best state found (one extra commit) when the last
    /// iteration was not the best. Idempotent: nothing happens when the head already matches.
    async fn restore_best(&mut self) -> Result<Option<String>> {
        let session = self.engine.reload(self.id).await?;
        let iterations = store::iterations::list(self.engine.store().pool(), self.id).await?;
        let Some(best) = session.best_iteration.and_then(|b| iterations.iter().find(|i| i.number == b)) else {
            return Ok(None);
        };
        let Some(best_commit) = best.commit_sha.clone() else { return Ok(None) };
        let last_command = iterations.iter().rev().find(|i| i.commit_sha.is_some()).map(|i| i.command.clone());
        let worktree = self.worktree.clone();
        let head = {
            let worktree = worktree.clone();
            blocking(move || workspace::head_commit(&worktree)).await??
        };
        if head == best_commit {
            return Ok(None);
        }
        // Restored already (the daemon died before recording the end): never twice.
        let restored = {
            let (project, branch, best_number) = (self.project.clone(), self.branch.clone(), best.number.to_string());
            blocking(move || workspace::find_commit_with_trailer(&project, &branch, "Revis-Restore", &best_number))
                .await??
        };
        if restored.as_deref() == Some(head.as_str()) {
            return Ok(None);
        }
        let changed = {
            let (worktree, best_commit) = (worktree.clone(), best_commit.clone());
            blocking(move || -> std::result::Result<Vec<String>, workspace::WorkspaceError> {
                workspace::restore_tree(&worktree, &best_commit)?;
                workspace::diff_stat(&worktree)
            })
            .await??
        };
        if changed.is_empty() && last_command.as_deref() == Some(best.command.as_str()) {
            return Ok(None);
        }
        let message = workspace::commit_message(
            &format!("Restore the best configuration (iteration {})", best.number),
            &format!(
                "The session ended; iteration {} was the best ({}={}).\n\nTraining command: {}",
                best.number,
                session.primary_metric,
                best.primary_value.map(|v| v.to_string()).unwrap_or_default(),
                best.command
            ),
            &[("Revis-Session", self.name.clone()), ("Revis-Restore", best.number.to_string())],
        );
        let sha = blocking(move || workspace::commit_all(&worktree, &message)).await??;
        Ok(Some(format!("branch head restored to iteration {} ({})", best.number, short(&sha))))
    }

    fn stop_requested(session: &SessionRow) -> Option<&str> {
        session.stop_requested.as_deref()
    }

    // ---- prepare ------------------------------------------------------------------------

    async fn prepare(&mut self, session: &SessionRow, mut it: IterationRow) -> Result<Flow> {
        if Self::stop_requested(session).is_some() {
            return self.end("stopped", "user", "stopped by the user".into()).await;
        }
        if let Some(problem) = self.workspace_problem(session, None).await? {
            return self.end("failed", "error", problem).await;
        }
        self.report_config_edits(session).await?;
        if let Some(budget) = session.budget_seconds
            && session.active_seconds_now() >= budget
        {
            return self.end("completed", "budget", "the time budget is used up".into()).await;
        }
        let number = it.number();
        let replicate = if it.replicate > 1 { format!("-r{}", it.replicate) } else { String::new() };
        let run_id = format!("{}-i{number}{replicate}-a{}", super::run_key(self.id, &self.name), it.attempt);
        it.frozen_hash = {
            let (worktree, frozen) = (self.worktree.clone(), self.config.context.frozen.clone());
            blocking(move || handoff::frozen_hash(&worktree, &frozen)).await??
        };
        it.phase = "train".into();
        it.state = "running".into();
        it.run_id = Some(run_id);
        it.started_at = Some(store::now());
        it.ended_at = None;
        it.exit_code = None;
        it.failure_reason = None;
        let mut tx = self.begin().await?;
        store::iterations::save(&mut tx, &it).await?;
        let replicates = self.config.guardrails.replicates;
        let label = match number {
            0 if replicates > 1 => format!("baseline (run {} of {replicates})", it.replicate),
            0 => "baseline".to_string(),
            n => format!("iteration {n}"),
        };
        let attempt = if it.attempt > 1 { format!(" (attempt {})", it.attempt) } else { String::new() };
        let event = self
            .event(
                &mut tx,
                NewEvent::new("run_started", Some(number), format!("{label}{attempt}: training: {}", it.command))
                    .with_data(serde_json::json!({"command": it.command, "attempt": it.attempt})),
            )
            .await?;
        self.finish(tx, vec![event]).await?;
        faults::point("prepare", Some(number));
        Ok(Flow::Continue)
    }

    /// Why the session cannot go on in its workspace, if it cannot: the worktree is gone, or
    /// the branch points somewhere Revis did not put it. `also_ok` is a head that is fine too
    /// (a commit made just before a crash).
    async fn workspace_problem(&self, session: &SessionRow, also_ok: Option<&str>) -> Result<Option<String>> {
        if !self.worktree.join(".git").exists() {
            return Ok(Some(format!(
                "the session's worktree {} was deleted; `revis delete {}` cleans up",
                self.worktree.display(),
                self.name
            )));
        }
        let Some(expected) = session.head_commit.clone() else { return Ok(None) };
        let (project, branch) = (self.project.clone(), self.branch.clone());
        let actual = blocking(move || workspace::branch_head(&project, &branch)).await??;
        Ok(match actual {
            None => Some(format!("the branch {} was deleted outside Revis", self.branch)),
            Some(head) if head == expected || Some(head.as_str()) == also_ok => None,
            Some(head) => Some(format!(
                "the branch {} was moved outside Revis (expected {}, found {}); the session cannot go on safely",
                self.branch,
                short(&expected),
                short(&head)
            )),
        })
    }

    /// revis.yaml edits made while the session runs are not applied to it (it keeps the
    /// configuration it started with); each distinct edit is reported once.
    async fn report_config_edits(&mut self, session: &SessionRow) -> Result<()> {
        let path = self.project.join(crate::config::FILE_NAME);
        let now = tokio::fs::read_to_string(&path).await.ok();
        if now == session.config_text {
            return Ok(());
        }
        let message = match &now {
            Some(_) => format!(
                "{} changed; this session keeps the configuration it started with (start a new session to use the new one)",
                path.display()
            ),
            None => format!("{} was removed; this session keeps the configuration it started with", path.display()),
        };
        let mut tx = self.begin().await?;
        store::sessions::set_config_text(&mut tx, self.id, now.as_deref()).await?;
        let event = self.event(&mut tx, NewEvent::new("config_changed", None, message)).await?;
        self.finish(tx, vec![event]).await
    }

    /// What the metrics source needs to find this iteration's run.
    fn run_context(&self, it: &IterationRow) -> RunContext {
        let spec = self.spec(it);
        let m = &self.config.metrics;
        RunContext {
            output_dir: spec.output_dir,
            session: self.name.clone(),
            iteration: it.number(),
            run_id: spec.run_id,
            worktree: self.worktree.clone(),
            env: spec.env,
            project: m.project.clone(),
            entity: m.entity.clone(),
            tracking_uri: m.tracking_uri.clone(),
            primary: m.primary.clone(),
        }
    }

    fn spec(&self, it: &IterationRow) -> RunSpec {
        let number = it.number();
        let run_dir = self.engine.iteration_run_dir(self.id, &self.name, it);
        let output_dir = run_dir.join("output");
        let run_id = it.run_id.clone().unwrap_or_default();
        let mut env: Vec<(String, String)> = vec![
            ("REVIS_OUTPUT_DIR".into(), output_dir.display().to_string()),
            ("REVIS_SESSION".into(), self.name.clone()),
            ("REVIS_ITERATION".into(), number.to_string()),
            ("REVIS_RUN_ID".into(), run_id.clone()),
        ];
        for name in &self.config.entry.env_passthrough {
            if let Ok(value) = std::env::var(name) {
                env.push((name.clone(), value));
            }
        }
        // W&B finds its run by the id Revis sets (not by scraping logs); unique per attempt.
        if self.config.metrics.source == crate::config::MetricsSourceType::Wandb {
            env.push(("WANDB_RUN_ID".into(), run_id.clone()));
            env.push(("WANDB_RUN_GROUP".into(), format!("revis-{}", self.name)));
            env.push(("WANDB_TAGS".into(), format!("revis,{},iteration-{number}", self.name)));
            if let Some(project) = &self.config.metrics.project {
                env.push(("WANDB_PROJECT".into(), project.clone()));
            }
            if let Some(entity) = &self.config.metrics.entity {
                env.push(("WANDB_ENTITY".into(), entity.clone()));
            }
        }
        env.extend(self.config.entry.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        RunSpec {
            run_id,
            run_dir,
            workdir: self.worktree.clone(),
            command: it.command.clone(),
            env,
            output_dir,
            session: super::run_key(self.id, &self.name),
        }
    }

    // ---- train --------------------------------------------------------------------------

    async fn train(&mut self, session: &SessionRow, mut it: IterationRow) -> Result<Flow> {
        let number = it.number();
        let mut spec = self.spec(&it);
        let exec = self.exec.clone();
        let started = exec.was_started(&spec.run_dir);
        if !started {
            // A remote executor ships the worktree first (only what changed since last time).
            let state_dir = self.engine.home().runs().join(super::run_key(self.id, &self.name));
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
                    return self.record_run_end(it, None, Some(format!("could not sync the worktree: {e}"))).await;
                }
            }
            // A source may need to set the run up first (MLflow: a run created for it).
            match self.metrics.prepare(&self.run_context(&it)).await {
                Ok(extra) => spec.env.extend(extra),
                Err(e) => return self.record_run_end(it, None, Some(e.to_string())).await,
            }
            if let Err(e) = exec.start(&spec).await {
                return self.record_run_end(it, None, Some(format!("could not start training: {e}"))).await;
            }
            faults::point("train_started", Some(number));
        } else if exec.status(&spec.run_id, &spec.run_dir).await? == RunStatus::Running {
            tracing::info!(session = %self.name, iteration = number, "re-attached to a running training run");
        }

        // Deadlines count from when the run started, so a restarted daemon keeps them.
        let ran_for =
            it.started_at.as_deref().map(|s| store::seconds_between(s, &store::now()).max(0.0)).unwrap_or(0.0);
        let run_left = self.max_run.as_secs_f64() - ran_for;
        let budget_left = session.budget_seconds.map(|b| b - session.active_seconds_now());
        let budget_bounds = budget_left.is_some_and(|b| b < run_left);
        let left = budget_left.map_or(run_left, |b| b.min(run_left)).max(0.0);
        let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(left);

        loop {
            tokio::select! {
                outcome = exec.wait(&spec.run_id, &spec.run_dir, None) => {
                    faults::point("train_ended", Some(number));
                    return match outcome? {
                        RunOutcome::Exited { code } => {
                            let reason = (code != 0).then(|| exit_reason(code));
                            self.record_run_end(it, Some(code), reason).await
                        }
                        RunOutcome::TimedOut | RunOutcome::Vanished => {
                            let why = "the run disappeared without recording an exit code (its tmux session ended)";
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
                        return self.end("completed", "budget", "the time budget is used up".into()).await;
                    }
                    let limit = crate::config::duration::format_duration(self.max_run);
                    let why = format!("timed out after {limit} (guardrails.max_run_duration); the run was killed");
                    return self.record_run_end(it, None, Some(why)).await;
                }
                _ = self.wake.notified() => {
                    let session = self.engine.reload(self.id).await?;
                    if Self::stop_requested(&session) == Some("now") {
                        exec.kill(&spec.run_id, &spec.run_dir, self.kill_grace).await?;
                        self.interrupt(&mut it, "stopped by the user").await?;
                        return self.end("stopped", "user", "stopped by the user".into()).await;
                    }
                }
            }
        }
    }

    async fn interrupt(&mut self, it: &mut IterationRow, why: &str) -> Result<()> {
        it.state = "interrupted".into();
        it.outcome = Some("interrupted".into());
        it.failure_reason = Some(why.to_string());
        self.stamp_end(it);
        self.record(
            it,
            NewEvent::new(
                "iteration_interrupted",
                Some(it.number()),
                format!("iteration {} interrupted: {why}", it.number),
            ),
        )
        .await
    }

    fn stamp_end(&self, it: &mut IterationRow) {
        let now = store::now();
        it.duration_seconds = it.started_at.as_deref().map(|s| store::seconds_between(s, &now));
        it.ended_at = Some(now);
    }

    async fn record_run_end(
        &mut self,
        mut it: IterationRow,
        code: Option<i32>,
        failure: Option<String>,
    ) -> Result<Flow> {
        it.exit_code = code.map(i64::from);
        it.failure_reason = failure;
        it.phase = "collect".into();
        self.stamp_end(&mut it);
        let mut tx = self.begin().await?;
        store::iterations::save(&mut tx, &it).await?;
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

    // ---- collect ------------------------------------------------------------------------

    async fn collect(&mut self, session: &SessionRow, mut it: IterationRow) -> Result<Flow> {
        let number = it.number();
        let iterations = store::iterations::list(self.engine.store().pool(), self.id).await?;
        let baseline = iterations.iter().find(|i| i.number == 0).and_then(|i| i.primary_value);
        let mut warnings: Vec<String> = Vec::new();
        let verdict = match it.failure_reason.clone() {
            Some(reason) => Err(reason),
            None => {
                let ctx = self.run_context(&it);
                match self.metrics.collect(&ctx).await {
                    Err(e) => Err(e.to_string()),
                    Ok(collected) => {
                        warnings.extend(collected.warnings.iter().cloned());
                        let finite: serde_json::Map<String, serde_json::Value> = collected
                            .metrics
                            .iter()
                            .filter(|(_, v)| v.is_finite())
                            .map(|(k, v)| (k.clone(), serde_json::json!(v)))
                            .collect();
                        it.metrics_json = serde_json::Value::Object(finite).to_string();
                        it.history_json = collected.history.as_ref().and_then(|h| serde_json::to_string(h).ok());
                        let baseline = if number == 0 { None } else { baseline };
                        match metrics::assess(
                            &collected,
                            &session.primary_metric,
                            session.minimize,
                            &self.config.guardrails,
                            baseline,
                        ) {
                            Assessment::Ok { primary } => Ok(primary),
                            Assessment::Failed { reason } => Err(reason),
                        }
                    }
                }
            }
        };

        // The baseline runs `replicates` times; its value is their mean and their spread is
        // the noise floor below which a difference is not counted as progress.
        let wanted = i64::from(self.config.guardrails.replicates.max(1));
        let mut noise_floor = session.noise_floor;
        let verdict = match verdict {
            Ok(value) if number == 0 && wanted > 1 => {
                let mut values: Vec<f64> = serde_json::from_str(&it.replicates_json).unwrap_or_default();
                values.push(value);
                if (values.len() as i64) < wanted {
                    return self.next_replicate(session, it, values, wanted).await;
                }
                it.replicates_json = serde_json::json!(values).to_string();
                noise_floor = rules::noise_floor(&values);
                let mean = rules::mean(&values);
                if let Ok(mut metrics) =
                    serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&it.metrics_json)
                {
                    metrics.insert(session.primary_metric.clone(), serde_json::json!(mean));
                    it.metrics_json = serde_json::Value::Object(metrics).to_string();
                }
                Ok(mean)
            }
            Err(reason) if number == 0 && wanted > 1 => {
                Err(format!("baseline run {} of {wanted} failed: {reason}", it.replicate))
            }
            other => other,
        };

        let best_before = session
            .best_iteration
            .and_then(|b| iterations.iter().find(|i| i.number == b))
            .and_then(|i| i.primary_value);
        let threshold = self.config.guardrails.plateau_threshold;
        let mut best_iteration = session.best_iteration.and_then(|b| u32::try_from(b).ok());
        let mut failures = u32::try_from(session.consecutive_failures).unwrap_or(0);
        let message;
        let kind;
        match verdict {
            Ok(value) => {
                it.state = "succeeded".into();
                it.primary_value = Some(value);
                failures = 0;
                // Progress is a gain larger than both the threshold and the measured noise.
                let improved = best_before
                    .is_none_or(|b| rules::gain(value, b, session.minimize) > rules::margin(b, threshold, noise_floor));
                it.outcome = Some(
                    if number == 0 {
                        "baseline"
                    } else if improved {
                        "improved"
                    } else {
                        "no_improvement"
                    }
                    .into(),
                );
                if improved {
                    best_iteration = Some(number);
                }
                kind = "metrics";
                let note = match (number, improved, best_before) {
                    (0, _, _) => "baseline".to_string(),
                    (_, true, Some(b)) => format!("improved on the best ({b})"),
                    (_, true, None) => "first successful result".to_string(),
                    (_, false, Some(b)) if rules::is_better(value, b, session.minimize) => {
                        format!("better than {b}, but within the noise/threshold margin")
                    }
                    (_, false, Some(b)) => format!("no improvement (best {b})"),
                    (_, false, None) => "no improvement".to_string(),
                };
                message = format!("iteration {number}: {}={value} ({note})", session.primary_metric);
            }
            Err(reason) => {
                it.state = "failed".into();
                it.outcome = Some("failed".into());
                it.failure_reason = Some(reason.clone());
                failures += 1;
                kind = "iteration_failed";
                message = format!("iteration {number} failed: {reason}");
            }
        }
        it.warnings_json = serde_json::json!(warnings).to_string();
        it.phase = "advise".into();
        faults::point("collect", Some(number));
        let mut tx = self.begin().await?;
        store::iterations::save(&mut tx, &it).await?;
        store::sessions::set_progress(&mut tx, self.id, best_iteration, failures).await?;
        if noise_floor != session.noise_floor {
            store::sessions::set_noise_floor(&mut tx, self.id, noise_floor).await?;
        }
        let event = self
            .event(
                &mut tx,
                NewEvent::new(kind, Some(number), message).with_data(serde_json::json!({
                    "primary": it.primary_value,
                    "outcome": it.outcome,
                    "failure_reason": it.failure_reason,
                    "warnings": warnings,
                })),
            )
            .await?;
        self.finish(tx, vec![event]).await?;
        Ok(Flow::Continue)
    }

    /// Records one finished baseline replicate and sets iteration 0 up for the next one.
    async fn next_replicate(
        &mut self,
        session: &SessionRow,
        mut it: IterationRow,
        values: Vec<f64>,
        wanted: i64,
    ) -> Result<Flow> {
        let done = it.replicate;
        let value = values.last().copied().unwrap_or(f64::NAN);
        it.replicates_json = serde_json::json!(values).to_string();
        it.replicate += 1;
        it.attempt = 1;
        it.phase = "prepare".into();
        it.state = "pending".into();
        it.run_id = None;
        it.started_at = None;
        it.ended_at = None;
        it.exit_code = None;
        it.failure_reason = None;
        faults::point("collect", Some(0));
        self.record(
            &it,
            NewEvent::new(
                "replicate",
                Some(0),
                format!("baseline run {done} of {wanted}: {}={value}", session.primary_metric),
            )
            .with_data(serde_json::json!({"replicate": done, "primary": value})),
        )
        .await?;
        Ok(Flow::Continue)
    }

    // ---- advise -------------------------------------------------------------------------

    async fn advise(&mut self, session: &SessionRow, mut it: IterationRow) -> Result<Flow> {
        let number = it.number();
        let iterations = store::iterations::list(self.engine.store().pool(), self.id).await?;
        let best = session.best_iteration.and_then(|b| iterations.iter().find(|i| i.number == b));
        let best_value = best.and_then(|b| b.primary_value);
        let g = &self.config.guardrails;

        // Stop rules, in the documented order.
        if Self::stop_requested(session).is_some() {
            return self.end("stopped", "user", "stopped by the user after the run".into()).await;
        }
        if let (Some(target), Some(value)) = (session.target, best_value)
            && rules::target_reached(value, target, session.minimize)
        {
            return self
                .end(
                    "completed",
                    "target",
                    format!("target reached: {}={value} (target {target})", session.primary_metric),
                )
                .await;
        }
        if let Some(budget) = session.budget_seconds
            && session.active_seconds_now() >= budget
        {
            return self.end("completed", "budget", "the time budget is used up".into()).await;
        }
        if let Some(max) = session.max_iterations
            && i64::from(number) + 1 >= max
        {
            return self.end("completed", "max_iterations", format!("ran the maximum of {max} iterations")).await;
        }
        if let Some(max_cost) = session.max_cost
            && session.llm_usd >= max_cost
        {
            return self.end("completed", "max_cost", format!("spent ${:.2} of ${max_cost:.2}", session.llm_usd)).await;
        }
        if session.consecutive_failures >= i64::from(g.retry_budget) {
            return self
                .end(
                    "failed",
                    "retry_budget",
                    format!("{} consecutive failed iterations (guardrails.retry_budget)", session.consecutive_failures),
                )
                .await;
        }
        let results: Vec<Option<f64>> =
            iterations.iter().filter(|i| i.state != "interrupted").map(|i| i.primary_value).collect();
        if g.plateau_detection_enabled
            && rules::plateaued(
                &results,
                session.minimize,
                g.plateau_threshold,
                g.plateau_runs as usize,
                session.noise_floor,
            )
        {
            return self
                .end(
                    "completed",
                    "plateau",
                    format!(
                        "no improvement larger than {}% over the last {} iterations",
                        g.plateau_threshold * 100.0,
                        g.plateau_runs
                    ),
                )
                .await;
        }

        let base = best.unwrap_or(&iterations[0]);
        let decision = match it.decision_json.as_deref().map(serde_json::from_str::<Decision>) {
            // A decision made before a restart is kept, never re-drawn.
            Some(Ok(decision)) => decision,
            _ if session.advisor == "llm" => {
                let request = llm_advice::Request {
                    session,
                    config: &self.config,
                    worktree: &self.worktree,
                    iterations: &iterations,
                    current: &it,
                    base,
                };
                let advice = llm_advice::decide(&self.engine, request).await?;
                match self.record_llm_try(session, &mut it, advice).await? {
                    Some(decision) => decision,
                    None => return Ok(Flow::Continue),
                }
            }
            _ => match self.decide(session, &iterations, base).await? {
                Ok(decision) => decision,
                // The search advisor has nothing left to propose: said by its proposal's kind,
                // never read from words in a rationale.
                Err(exhausted) => {
                    return self
                        .end("completed", "space_exhausted", format!("search space exhausted: {exhausted}"))
                        .await;
                }
            },
        };
        if decision.action == Action::Stop {
            return self.end("completed", "advisor", decision.rationale.clone()).await;
        }
        if decision.action == Action::Escalate {
            return self
                .pause(&mut it, "escalated", format!("the advisor asks for a human: {}", decision.rationale))
                .await;
        }
        it.decision_json = Some(
            serde_json::to_string(&decision)
                .map_err(|e| EngineError::Internal(format!("serializing a decision: {e}")))?,
        );
        it.phase = "apply".into();
        faults::point("advise", Some(number));
        self.record(
            &it,
            NewEvent::new("decision", Some(number), format!("decision: {}", decision.rationale))
                .with_data(serde_json::json!({"hypothesis": decision.hypothesis, "changes": decision.changes})),
        )
        .await?;
        Ok(Flow::Continue)
    }

    /// Books one LLM try (its cost, transcript count and usage) and says what follows: the
    /// decision, or `None` when the try failed (recorded; the stop rules run again, so the retry
    /// budget bounds the tries) or the session now waits for credentials.
    async fn record_llm_try(
        &mut self,
        session: &SessionRow,
        it: &mut IterationRow,
        advice: llm_advice::LlmAdvice,
    ) -> Result<Option<Decision>> {
        let number = it.number();
        let mut spend: llm_advice::LlmSpend =
            it.decision_llm_json.as_deref().and_then(|j| serde_json::from_str(j).ok()).unwrap_or_default();
        spend.add(&advice.spend);
        it.decision_llm_json = Some(serde_json::to_string(&spend).map_err(|e| EngineError::Internal(e.to_string()))?);
        it.decision_tries += 1;
        match advice.decision {
            Ok(decision) => {
                let mut tx = self.begin().await?;
                store::iterations::save(&mut tx, it).await?;
                store::sessions::add_llm_usd(&mut tx, self.id, advice.spend.usd).await?;
                self.finish(tx, vec![]).await?;
                Ok(Some(decision))
            }
            Err(reason) if advice.missing_credentials => {
                let detail = format!(
                    "{reason}; {}. Set the key in your shell and run `revis resume {}`",
                    advice.notes.join("; "),
                    self.name
                );
                self.pause(it, "needs_credentials", detail).await?;
                Ok(None)
            }
            Err(reason) => {
                let event =
                    NewEvent::new("decision_failed", Some(number), format!("the advisor did not decide: {reason}"))
                        .with_data(serde_json::json!({"reason": reason, "try": it.decision_tries}));
                self.record_failed_try(session, it, advice.spend.usd, event).await?;
                Ok(None)
            }
        }
    }

    /// Pauses the session for a human; `revis resume` (or `approve`) continues it.
    async fn pause(&mut self, it: &mut IterationRow, reason: &str, detail: String) -> Result<Flow> {
        let mut tx = self.begin().await?;
        store::iterations::save(&mut tx, it).await?;
        store::sessions::set_state(&mut tx, self.id, "paused", Some(reason), Some(&detail)).await?;
        let event = self
            .event(
                &mut tx,
                NewEvent::new("session_paused", Some(it.number()), format!("session paused: {detail}"))
                    .with_data(serde_json::json!({"reason": reason, "detail": detail})),
            )
            .await?;
        self.finish(tx, vec![event]).await?;
        Ok(Flow::Exit)
    }

    /// The search advisor's next decision, or why its space is exhausted.
    async fn decide(
        &self,
        session: &SessionRow,
        iterations: &[IterationRow],
        base: &IterationRow,
    ) -> Result<std::result::Result<Decision, String>> {
        let advisor = SearchAdvisor::new(&self.config.search)
            .map_err(|e| EngineError::Internal(format!("search advisor: {e}")))?;
        let history: Vec<Observation> = iterations
            .iter()
            .filter(|i| matches!(i.state.as_str(), "succeeded" | "failed"))
            .map(|i| Observation {
                iteration: i.number(),
                params: serde_json::from_str(&i.params_json).unwrap_or_default(),
                primary: i.primary_value,
            })
            .collect();
        let current: IndexMap<String, serde_json::Value> = serde_json::from_str(&base.params_json).unwrap_or_default();
        Ok(match advisor.propose(&history, &current, session.minimize) {
            Proposal::Params { params, rationale, hypothesis } => Ok(Decision {
                action: Action::Change,
                changes: changes::changes_for(&self.config.search.space, &current, &params),
                rationale,
                hypothesis: Some(hypothesis),
                params,
            }),
            Proposal::Exhausted { reason } => Err(reason),
        })
    }

    // ---- apply --------------------------------------------------------------------------

    async fn apply(&mut self, mut it: IterationRow) -> Result<Flow> {
        let number = it.number();
        let decision: Decision = serde_json::from_str(it.decision_json.as_deref().unwrap_or(""))
            .map_err(|e| EngineError::Internal(format!("stored decision of iteration {number} is unreadable: {e}")))?;
        let session = self.engine.reload(self.id).await?;
        if let Some(problem) = self.workspace_problem(&session, None).await? {
            return self.end("failed", "error", problem).await;
        }
        let iterations = store::iterations::list(self.engine.store().pool(), self.id).await?;
        // Ratchet: start from the best state (the baseline while nothing succeeded).
        let base = session
            .best_iteration
            .and_then(|b| iterations.iter().find(|i| i.number == b))
            .unwrap_or(&iterations[0])
            .clone();
        let base_commit = base
            .commit_sha
            .clone()
            .ok_or_else(|| EngineError::Internal(format!("iteration {} has no commit", base.number)))?;
        let worktree = self.worktree.clone();
        let (command, changes, restore_to) = (base.command.clone(), decision.changes.clone(), base_commit.clone());
        // Restoring first makes this step idempotent: a redo after a crash starts clean.
        let applied = blocking(move || -> std::result::Result<changes::Applied, String> {
            workspace::restore_tree(&worktree, &restore_to).map_err(|e| e.to_string())?;
            changes::apply(&worktree, &command, &changes).map_err(|e| e.to_string())
        })
        .await?;
        let applied = match applied {
            Ok(applied) => applied,
            Err(reason) => {
                return self
                    .end(
                        "failed",
                        "error",
                        format!("the decision after iteration {number} could not be applied: {reason}"),
                    )
                    .await;
            }
        };
        let mut params =
            serde_json::from_str::<IndexMap<String, serde_json::Value>>(&base.params_json).unwrap_or_default();
        params.extend(decision.params.clone());
        let code_requests: Vec<String> = decision
            .changes
            .iter()
            .filter_map(|c| match c {
                crate::advisor::Change::Code { request, .. } => Some(request.clone()),
                _ => None,
            })
            .collect();
        let mut pending = Pending {
            command: applied.command.clone(),
            parent: base.number(),
            summaries: applied.applied.iter().map(|a| a.summary.clone()).collect(),
            changes: applied.applied.iter().map(|a| a.change.clone()).collect(),
            params,
            code_request: None,
            fingerprint: None,
            agent: None,
            agent_cost: 0.0,
        };
        if !code_requests.is_empty() {
            let request = code_requests.join("\n");
            let code_changes: Vec<crate::advisor::Change> =
                decision.changes.iter().filter(|c| matches!(c, crate::advisor::Change::Code { .. })).cloned().collect();
            let files: Vec<String> = code_changes
                .iter()
                .flat_map(|c| match c {
                    crate::advisor::Change::Code { files, .. } => files.clone(),
                    _ => Vec::new(),
                })
                .collect();
            let path_var = std::env::var_os("PATH");
            let agent = crate::coding::resolve(self.config.coding_agent.kind, path_var.as_deref());
            let state = handoff::HandoffState::of(&it);
            match agent {
                Ok(Some(kind)) if !self.config.coding_agent.auto_handoff && !state.approved => {
                    let detail = format!(
                        "the advisor wants {kind} to make a code change: {request}\nApprove with `revis approve {name}`, \
                         or drop it with `revis resume {name} --skip`",
                        name = self.name
                    );
                    return self.pause(&mut it, "awaiting_approval", detail).await;
                }
                Ok(Some(kind)) => {
                    let outcome = handoff::run(handoff::Handoff {
                        engine: &self.engine,
                        session: &session,
                        config: &self.config,
                        worktree: &self.worktree,
                        kind,
                        current: &it,
                        iterations: &iterations,
                        request: request.clone(),
                        files,
                        hypothesis: decision.hypothesis.clone(),
                        command: pending.command.clone(),
                    })
                    .await?;
                    match outcome.result {
                        Ok(record) => {
                            pending.summaries.push(format!("code change by {kind}: {}", first_line(&request)));
                            pending.changes.extend(code_changes);
                            pending.code_request = Some(request);
                            pending.agent = Some(record);
                            pending.agent_cost = outcome.cost_usd;
                        }
                        Err(reason) => {
                            return self.handoff_failed(&session, it, &base_commit, reason, outcome.cost_usd).await;
                        }
                    }
                }
                manual => {
                    // No agent (coding_agent.type: none, or none installed): a human makes it.
                    let why = match manual {
                        Err(e) => format!(" ({e})"),
                        _ => String::new(),
                    };
                    let worktree = self.worktree.clone();
                    pending.fingerprint = Some(blocking(move || super::lifecycle::fingerprint(&worktree)).await??);
                    pending.summaries.push(format!("code change: {}", first_line(&request)));
                    pending.changes.extend(code_changes);
                    pending.code_request = Some(request.clone());
                    it.pending_json = Some(
                        serde_json::to_string(&pending)
                            .map_err(|e| EngineError::Internal(format!("serializing changes: {e}")))?,
                    );
                    it.phase = "commit".into();
                    let detail = format!(
                        "waiting for a code change in {}{why}: {request}\nMake it there, then run `revis resume {}` \
                         (or `revis resume {} --skip` to drop it)",
                        self.worktree.display(),
                        self.name,
                        self.name
                    );
                    return self.pause(&mut it, "awaiting_change", detail).await;
                }
            }
        }
        it.pending_json = Some(
            serde_json::to_string(&pending).map_err(|e| EngineError::Internal(format!("serializing changes: {e}")))?,
        );
        it.phase = "commit".into();
        faults::point("apply", Some(number));
        let mut tx = self.begin().await?;
        store::iterations::save(&mut tx, &it).await?;
        // A coding agent's dollars count toward --max-cost like the advisor's.
        if pending.agent_cost > 0.0 {
            store::sessions::add_llm_usd(&mut tx, self.id, pending.agent_cost).await?;
        }
        let from = if base.number == it.number {
            String::new()
        } else {
            format!(" (from iteration {}, the best so far)", base.number)
        };
        let event = self
            .event(
                &mut tx,
                NewEvent::new(
                    "change_applied",
                    Some(number),
                    format!("applied{from}: {}", pending.summaries.join(", ")),
                )
                .with_data(serde_json::json!({"changes": pending.summaries, "parent": base.number})),
            )
            .await?;
        self.finish(tx, vec![event]).await?;
        Ok(Flow::Continue)
    }

    /// A failed handoff: the worktree goes back to the best state, the reason is recorded and
    /// given to the advisor, and it counts against the retry budget.
    async fn handoff_failed(
        &mut self,
        session: &SessionRow,
        mut it: IterationRow,
        base_commit: &str,
        reason: String,
        cost_usd: f64,
    ) -> Result<Flow> {
        let number = it.number();
        let (worktree, base) = (self.worktree.clone(), base_commit.to_string());
        blocking(move || workspace::restore_tree(&worktree, &base)).await??;
        let mut state = handoff::HandoffState::of(&it);
        state.failures += 1;
        state.approved = false;
        state.last_failure = Some(reason.clone());
        it.handoff_json = state.to_json();
        it.decision_json = None;
        it.phase = "advise".into();
        let event =
            NewEvent::new("handoff_failed", Some(number), format!("code change failed and was reverted: {reason}"))
                .with_data(serde_json::json!({"reason": reason, "cost_usd": cost_usd}));
        self.record_failed_try(session, &it, cost_usd, event).await?;
        Ok(Flow::Continue)
    }

    /// A decision or handoff that did not work out: its cost is booked, it counts as a
    /// consecutive failure (the retry budget bounds the tries), and the event says why.
    async fn record_failed_try(
        &mut self,
        session: &SessionRow,
        it: &IterationRow,
        usd: f64,
        event: NewEvent,
    ) -> Result<()> {
        let failures = session.consecutive_failures + 1;
        let mut tx = self.begin().await?;
        store::iterations::save(&mut tx, it).await?;
        store::sessions::add_llm_usd(&mut tx, self.id, usd).await?;
        store::sessions::set_progress(
            &mut tx,
            self.id,
            session.best_iteration.and_then(|b| u32::try_from(b).ok()),
            u32::try_from(failures).unwrap_or(u32::MAX),
        )
        .await?;
        let event = self.event(&mut tx, event).await?;
        self.finish(tx, vec![event]).await
    }

    // ---- commit -------------------------------------------------------------------------

    async fn commit(&mut self, mut it: IterationRow) -> Result<Flow> {
        let number = it.number();
        let next = number + 1;
        let pending: Pending = serde_json::from_str(it.pending_json.as_deref().unwrap_or(""))
            .map_err(|e| EngineError::Internal(format!("stored changes of iteration {number} are unreadable: {e}")))?;
        let decision: Option<Decision> = it.decision_json.as_deref().and_then(|d| serde_json::from_str(d).ok());
        let session = self.engine.reload(self.id).await?;
        let summary = if pending.summaries.is_empty() { "no change".to_string() } else { pending.summaries.join(", ") };
        let metric = match it.primary_value {
            Some(v) => format!("{}={v}", session.primary_metric),
            None => format!("{}=failed", session.primary_metric),
        };

        let (project, branch) = (self.project.clone(), self.branch.clone());
        let existing = blocking(move || {
            workspace::find_commit_with_trailer(&project, &branch, "Revis-Iteration", &next.to_string())
        })
        .await??;
        let sha = match existing {
            // Committed before a crash: never commit twice.
            Some(sha) => sha,
            None => {
                if let Some(problem) = self.workspace_problem(&session, None).await? {
                    return self.end("failed", "error", problem).await;
                }
                let iterations = store::iterations::list(self.engine.store().pool(), self.id).await?;
                let parent = iterations.iter().find(|i| i.number() == pending.parent);
                let message = commit_text(&CommitText {
                    next,
                    number,
                    metric: &metric,
                    primary_metric: &session.primary_metric,
                    pending: &pending,
                    parent,
                    decision: decision.as_ref(),
                    previous_command: &it.command,
                    session: &self.name,
                });
                let worktree = self.worktree.clone();
                let sha = blocking(move || workspace::commit_all(&worktree, &message)).await??;
                faults::point("commit", Some(number));
                sha
            }
        };

        it.phase = "done".into();
        let mut tx = self.begin().await?;
        store::iterations::save(&mut tx, &it).await?;
        store::sessions::set_head_commit(&mut tx, self.id, &sha).await?;
        store::iterations::insert(
            &mut tx,
            self.id,
            &NewIteration {
                number: next,
                command: pending.command.clone(),
                commit_sha: Some(sha.clone()),
                parent: Some(pending.parent),
                change_summary: Some(summary.clone()),
                rationale: decision.as_ref().map(|d| d.rationale.clone()),
                hypothesis: decision.as_ref().and_then(|d| d.hypothesis.clone()),
                changes_json: serde_json::to_string(&pending.changes).unwrap_or_else(|_| "[]".into()),
                params_json: serde_json::Value::Object(pending.params.clone().into_iter().collect()).to_string(),
                llm_json: it.decision_llm_json.clone(),
                agent_json: pending.agent.as_ref().and_then(|a| serde_json::to_string(a).ok()),
            },
        )
        .await?;
        let event = self
            .event(
                &mut tx,
                NewEvent::new(
                    "committed",
                    Some(next),
                    format!("iteration {next}: committed {} ({summary})", short(&sha)),
                )
                .with_data(serde_json::json!({"commit": sha})),
            )
            .await?;
        self.finish(tx, vec![event]).await?;
        Ok(Flow::Continue)
    }
}

struct CommitText<'a> {
    next: u32,
    number: u32,
    metric: &'a str,
    primary_metric: &'a str,
    pending: &'a Pending,
    parent: Option<&'a IterationRow>,
    decision: Option<&'a Decision>,
    previous_command: &'a str,
    session: &'a str,
}

/// The commit message of an iteration: a short subject naming the knobs that moved, then the
/// rationale, the hypothesis, where it starts from, every change in full, and the trailers.
fn commit_text(c: &CommitText<'_>) -> String {
    let parent_params: IndexMap<String, serde_json::Value> =
        c.parent.and_then(|p| serde_json::from_str(&p.params_json).ok()).unwrap_or_default();
    let moved: Vec<String> = c
        .pending
        .params
        .iter()
        .filter(|(k, v)| parent_params.get(*k) != Some(*v))
        .map(|(k, v)| format!("{k}={}", v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())))
        .collect();
    let what = if !moved.is_empty() {
        moved.join(", ")
    } else if !c.pending.summaries.is_empty() {
        c.pending.summaries.join(", ")
    } else {
        "no change".to_string()
    };
    let mut body = String::new();
    if let Some(d) = c.decision {
        body.push_str(&d.rationale);
        if let Some(h) = &d.hypothesis {
            body.push_str(&format!("\n\nHypothesis: {h}"));
        }
    }
    let parent_value = c.parent.and_then(|p| p.primary_value);
    body.push_str(&format!("\n\nStarts from iteration {}", c.pending.parent));
    if let Some(v) = parent_value {
        body.push_str(&format!(" ({}={v}, the best so far)", c.primary_metric));
    }
    if c.pending.parent != c.number {
        body.push_str(&format!("; iteration {} gave {}", c.number, c.metric));
    }
    body.push('.');
    if !c.pending.summaries.is_empty() {
        body.push_str("\n\nChanges:");
        for s in &c.pending.summaries {
            body.push_str(&format!("\n- {s}"));
        }
    }
    if let Some(agent) = &c.pending.agent {
        let cost = agent.cost_usd.map(|usd| format!(", ${usd:.4}")).unwrap_or_default();
        body.push_str(&format!("\n\nCode change by {} ({:.0}s{cost}):", agent.agent, agent.duration_seconds));
        let summary = agent.summary.trim();
        let summary = if summary.is_empty() { "(no summary)" } else { summary };
        body.push_str(&format!("\n{}", truncate(summary, 2000)));
    }
    let parent_command = c.parent.map_or(c.previous_command, |p| p.command.as_str());
    if c.pending.command != parent_command {
        body.push_str(&format!("\n\nTraining command: {}", c.pending.command));
    }
    workspace::commit_message(
        &truncate(&format!("Iteration {}: {what}", c.next), 72),
        body.trim(),
        &[
            ("Revis-Session", c.session.to_string()),
            ("Revis-Iteration", c.next.to_string()),
            ("Revis-Metric", c.metric.to_string()),
        ],
    )
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("").trim()
}

fn exit_reason(code: i32) -> String {
    match code {
        c if c > 128 && c < 160 => format!("training exited with code {c} (killed by signal {})", c - 128),
        c => format!("training exited with code {c}"),
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}
