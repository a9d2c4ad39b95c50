//! Session lifecycle commands from the API: start, stop, resume, delete, and init of a
//! project's revis.yaml. Each records its effect in the store (with an event) and then wakes,
//! starts or ends the session's actor.

use std::path::{Path, PathBuf};

use crate::advisor::llm::{self, Credentials};
use crate::config::{self, Loaded};
use crate::store::{self, NewEvent, NewIteration, NewSession, SessionRow};
use crate::{changes, workspace};

use super::{Engine, EngineError, Result, names};

#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    pub project_dir: PathBuf,
    pub name: Option<String>,
    pub budget: Option<String>,
    pub max_iterations: Option<u32>,
    pub max_cost: Option<f64>,
    pub advisor: Option<String>,
    /// Provider variables from the CLI's environment (kept in memory only).
    pub env: Vec<(String, String)>,
}

pub struct Started {
    pub session: SessionRow,
    pub warnings: Vec<String>,
}

/// Loads the project's revis.yaml, with a pointer to `revis init` when there is none.
pub fn load_project_config(project: &Path) -> Result<Loaded> {
    let path = project.join(config::FILE_NAME);
    if !path.exists() {
        return Err(EngineError::InvalidArgument(format!(
            "no {} in {}; create one with `revis init`",
            config::FILE_NAME,
            project.display()
        )));
    }
    Ok(config::load(&path)?)
}

/// The names of the variables a session wants from the user's shell: the provider settings,
/// then the `coding_agent.env` names without a value. A config that does not load yet asks for
/// the provider settings alone (starting the session will report the config error).
pub fn session_variable_names(project: &Path) -> Vec<String> {
    let mut names: Vec<String> = crate::secrets::PROVIDER_VARIABLES.iter().map(|n| n.to_string()).collect();
    if let Ok(loaded) = load_project_config(project) {
        for name in loaded.config.coding_agent.passed_variables() {
            if !names.iter().any(|n| n == name) {
                names.push(name.to_string());
            }
        }
    }
    names
}

/// What a resuming or approving shell passed, kept to the names the session's config wants.
fn session_credentials(session: &SessionRow, env: Vec<(String, String)>) -> Credentials {
    let names = session_variable_names(Path::new(&session.project));
    Credentials::new(env, names.iter().map(String::as_str))
}

fn parse_budget(text: &str) -> Result<f64> {
    config::duration::parse_duration(text)
        .map(|d| d.as_secs_f64())
        .map_err(|e| EngineError::InvalidArgument(format!("--budget {text}: {e}")))
}

/// `--advisor`, or the default: the LLM when it has a key (or an api_base), else the search
/// when a space is declared, else an error that says how to set up either.
fn choose_advisor(requested: Option<&str>, loaded: &Loaded, credentials: &Credentials) -> Result<String> {
    let has_space = !loaded.config.search.space.is_empty();
    let llm_ok = llm::is_available(&loaded.config, credentials);
    let space_hint = format!(
        "add a `search.space` to {} (the knobs it may change), e.g.\n  search:\n    space:\n      \
         lr: {{file: configs/base.yaml, key: optimizer.lr, low: 1.0e-5, high: 1.0e-1, log: true}}",
        loaded.path.display()
    );
    match requested.unwrap_or("") {
        "llm" if llm_ok => Ok("llm".into()),
        "llm" => Err(EngineError::InvalidArgument(format!(
            "the llm advisor cannot run: {}",
            llm::unavailable_reason(&loaded.config, credentials)
        ))),
        "search" if has_space => Ok("search".into()),
        "search" => Err(EngineError::InvalidArgument(format!("the search advisor needs a search space: {space_hint}"))),
        "" if llm_ok => Ok("llm".into()),
        "" if has_space => Ok("search".into()),
        "" => Err(EngineError::InvalidArgument(format!(
            "no advisor can run: the llm advisor needs an API key ({}), and the offline search advisor needs a \
             search space: {space_hint}",
            llm::unavailable_reason(&loaded.config, credentials)
        ))),
        other => Err(EngineError::InvalidArgument(format!("unknown advisor '{other}' (expected search or llm)"))),
    }
}

impl Engine {
    pub async fn start_loop(&self, opts: StartOptions) -> Result<Started> {
        let project = super::project_of(&opts.project_dir)?;
        let loaded = load_project_config(&project)?;
        let credentials = Credentials::new(opts.env.clone(), loaded.config.coding_agent.passed_variables());
        let advisor = choose_advisor(opts.advisor.as_deref(), &loaded, &credentials)?;
        let budget_seconds = opts.budget.as_deref().filter(|b| !b.is_empty()).map(parse_budget).transpose()?;
        if opts.max_iterations == Some(0) {
            return Err(EngineError::InvalidArgument("--max-iterations must be at least 1".into()));
        }
        if let Some(cost) = opts.max_cost
            && !(cost.is_finite() && cost >= 0.0)
        {
            return Err(EngineError::InvalidArgument(format!("--max-cost {cost} must be a non-negative number")));
        }
        // Held until the session row exists: the name check, the worktree and the row are one
        // step for concurrent `revis loop`s.
        let workspaces = self.lock_workspaces().await;
        let name = match opts.name.filter(|n| !n.is_empty()) {
            Some(name) => {
                names::validate(&name).map_err(EngineError::InvalidArgument)?;
                let project_text = project.display().to_string();
                if store::sessions::by_project_name(self.store().pool(), &project_text, &name).await?.is_some() {
                    return Err(EngineError::AlreadyExists(format!(
                        "this project already has a session named '{name}'; pick another name or `revis delete {name}`"
                    )));
                }
                name
            }
            None => self.free_name(&project).await?,
        };

        let cfg = loaded.config.clone();
        let mut warnings = loaded.warnings.clone();
        let dirty = {
            let project = project.clone();
            blocking(move || workspace::uncommitted_changes(&project)).await??
        };
        if !dirty.is_empty() {
            let shown: Vec<&str> = dirty.iter().take(5).map(String::as_str).collect();
            let more = if dirty.len() > 5 { format!(" and {} more", dirty.len() - 5) } else { String::new() };
            warnings.push(format!(
                "uncommitted changes are not part of the session, which starts from your last commit: {}{more}",
                shown.join(", ")
            ));
        }
        let ws = {
            let (project, name, link) = (project.clone(), name.clone(), cfg.workspace.link.clone());
            blocking(move || workspace::create(&project, &name, &link)).await??
        };
        // The space must be readable in the session's own copy before anything is recorded.
        let params = match changes::current_params(&cfg.search.space, &ws.worktree, &cfg.entry.train) {
            Ok(params) => params,
            Err(e) => {
                let (project, name) = (project.clone(), name.clone());
                let _ = blocking(move || workspace::remove(&project, &name, false)).await;
                return Err(EngineError::InvalidArgument(format!(
                    "search.space in {} does not match the project: {e}",
                    loaded.path.display()
                )));
            }
        };
        let config_json =
            serde_json::to_string(&cfg).map_err(|e| EngineError::Internal(format!("serializing the config: {e}")))?;
        let new = NewSession {
            name: name.clone(),
            project: project.display().to_string(),
            branch: ws.branch.clone(),
            worktree: ws.worktree.display().to_string(),
            base_branch: ws.base_branch.clone(),
            base_commit: ws.base_commit.clone(),
            advisor,
            config_json,
            primary_metric: cfg.metrics.primary.clone(),
            minimize: cfg.metrics.minimize,
            target: cfg.metrics.target,
            budget_seconds,
            max_iterations: opts.max_iterations,
            max_cost: opts.max_cost,
            config_text: std::fs::read_to_string(&loaded.path).ok(),
        };
        let mut tx = self.store().begin().await?;
        let id = store::sessions::insert(&mut tx, &new).await?;
        store::iterations::insert(
            &mut tx,
            id,
            &NewIteration {
                number: 0,
                command: cfg.entry.train.clone(),
                commit_sha: Some(ws.base_commit.clone()),
                change_summary: Some("baseline".into()),
                params_json: serde_json::Value::Object(params.into_iter().collect()).to_string(),
                ..NewIteration::default()
            },
        )
        .await?;
        let event = store::events::append(
            &mut tx,
            id,
            NewEvent::new(
                "session_started",
                None,
                format!(
                    "session {name} started on {} from {} ({}), optimizing {} ({})",
                    ws.branch,
                    ws.base_branch,
                    short(&ws.base_commit),
                    cfg.metrics.primary,
                    if cfg.metrics.minimize { "minimize" } else { "maximize" }
                ),
            )
            .with_data(serde_json::json!({"worktree": ws.worktree, "branch": ws.branch})),
        )
        .await?;
        tx.commit().await.map_err(|e| EngineError::Internal(format!("recording the session: {e}")))?;
        drop(workspaces);
        self.bus().publish(event);
        self.set_credentials(id, credentials);
        self.spawn_actor(id).await;
        let session = store::sessions::get(self.store().pool(), id)
            .await?
            .ok_or_else(|| EngineError::Internal("session vanished after creation".into()))?;
        Ok(Started { session, warnings })
    }

    async fn free_name(&self, project: &Path) -> Result<String> {
        for _ in 0..50 {
            let name = names::generate();
            let taken = store::sessions::by_project_name(self.store().pool(), &project.display().to_string(), &name)
                .await?
                .is_some()
                || project.join(".revis/worktrees").join(&name).exists();
            if !taken {
                return Ok(name);
            }
        }
        Err(EngineError::Internal("could not find a free session name; pass --name".into()))
    }

    /// Records a stop request; the actor acts on it (now: kill the run; after_run: at the end of
    /// the current run). A session without an actor (paused, queued) stops at once.
    pub async fn stop(&self, session: &SessionRow, after_run: bool) -> Result<SessionRow> {
        if !session.is_live() {
            return Err(EngineError::FailedPrecondition(format!(
                "session '{}' is not running (it is {})",
                session.name, session.state
            )));
        }
        let request = if after_run { "after_run" } else { "now" };
        let mut tx = self.store().begin().await?;
        store::sessions::set_stop_requested(&mut tx, session.id, Some(request)).await?;
        let message = if after_run {
            "stop requested: the session stops after the current run"
        } else {
            "stop requested: stopping now"
        };
        let event = store::events::append(&mut tx, session.id, NewEvent::new("stop_requested", None, message)).await?;
        tx.commit().await.map_err(|e| EngineError::Internal(format!("recording a stop request: {e}")))?;
        self.bus().publish(event);
        if !self.wake_actor(session.id) {
            if session.state == "running" {
                // Running in the store but no actor (it crashed): let a fresh actor handle it.
                self.spawn_actor(session.id).await;
            } else {
                let mut tx = self.store().begin().await?;
                store::sessions::set_stop_requested(&mut tx, session.id, None).await?;
                store::sessions::set_state(&mut tx, session.id, "stopped", Some("user"), None).await?;
                let event = store::events::append(
                    &mut tx,
                    session.id,
                    NewEvent::new("session_ended", None, "session stopped by the user")
                        .with_data(serde_json::json!({"final_state": "stopped", "stop_reason": "user"})),
                )
                .await?;
                tx.commit().await.map_err(|e| EngineError::Internal(format!("stopping a session: {e}")))?;
                self.bus().publish(event);
            }
        }
        if !after_run {
            return self.wait_until_ended(session.id, std::time::Duration::from_secs(15)).await;
        }
        self.reload(session.id).await
    }

    /// Waits (bounded) for the actor to act on a stop, so `revis stop` returns once the run is
    /// killed and the session recorded as stopped.
    async fn wait_until_ended(&self, id: i64, limit: std::time::Duration) -> Result<SessionRow> {
        let deadline = tokio::time::Instant::now() + limit;
        let mut events = self.bus().subscribe();
        loop {
            let session = self.reload(id).await?;
            if !session.is_live() || tokio::time::Instant::now() >= deadline {
                return Ok(session);
            }
            // Wake on any event (the session's end is one) or re-check every 200 ms.
            let _ = tokio::time::timeout(std::time::Duration::from_millis(200), events.recv()).await;
        }
    }

    /// Continues a session that ended or was stopped: same branch, counters and spend. An
    /// interrupted iteration runs again (as a new attempt of the same number).
    pub async fn resume(
        &self,
        session: &SessionRow,
        budget: Option<&str>,
        env: Vec<(String, String)>,
        skip: bool,
    ) -> Result<SessionRow> {
        if matches!(session.state.as_str(), "running" | "queued") {
            return Err(EngineError::FailedPrecondition(format!(
                "session '{}' is already {}",
                session.name, session.state
            )));
        }
        let budget_seconds = budget.filter(|b| !b.is_empty()).map(parse_budget).transpose()?;
        let latest = store::iterations::latest(self.store().pool(), session.id)
            .await?
            .ok_or_else(|| EngineError::Internal(format!("session '{}' has no iterations", session.name)))?;
        let waits_for_code = session.state == "paused"
            && matches!(session.stop_reason.as_deref(), Some("awaiting_change" | "awaiting_approval"));
        if skip && !waits_for_code {
            return Err(EngineError::FailedPrecondition(format!(
                "session '{}' is not waiting for a code change; --skip applies only then",
                session.name
            )));
        }
        if !skip && session.state == "paused" && session.stop_reason.as_deref() == Some("awaiting_change") {
            self.check_manual_change(session, &latest).await?;
        }
        let mut tx = self.store().begin().await?;
        let mut skipped = None;
        if skip {
            let mut it = latest.clone();
            skipped = Some(drop_code_change(&mut it)?);
            store::iterations::save(&mut tx, &it).await?;
        }
        if latest.state == "interrupted" || (latest.phase == "train" && latest.state == "running") {
            let mut rerun = latest.clone();
            rerun.phase = "prepare".into();
            rerun.state = "pending".into();
            rerun.outcome = None;
            rerun.attempt += 1;
            rerun.run_id = None;
            rerun.started_at = None;
            rerun.ended_at = None;
            rerun.duration_seconds = None;
            rerun.exit_code = None;
            rerun.failure_reason = None;
            store::iterations::save(&mut tx, &rerun).await?;
        }
        if let Some(extra) = budget_seconds {
            store::sessions::set_budget(&mut tx, session.id, Some(session.active_seconds_now() + extra)).await?;
        }
        if session.stop_reason.as_deref() == Some("retry_budget") {
            store::sessions::set_progress(
                &mut tx,
                session.id,
                session.best_iteration.and_then(|b| u32::try_from(b).ok()),
                0,
            )
            .await?;
        }
        store::sessions::set_stop_requested(&mut tx, session.id, None).await?;
        store::sessions::set_state(&mut tx, session.id, "running", None, None).await?;
        let budget_note = match budget_seconds {
            Some(s) => format!(
                " with a new budget of {}",
                config::duration::format_duration(std::time::Duration::from_secs_f64(s))
            ),
            None => String::new(),
        };
        let skip_note = skipped.map(|r| format!("; the code change was dropped: {r}")).unwrap_or_default();
        let event = store::events::append(
            &mut tx,
            session.id,
            NewEvent::new("session_resumed", None, format!("session resumed{budget_note}{skip_note}")),
        )
        .await?;
        tx.commit().await.map_err(|e| EngineError::Internal(format!("resuming a session: {e}")))?;
        self.bus().publish(event);
        self.set_credentials(session.id, session_credentials(session, env));
        self.spawn_actor(session.id).await;
        self.reload(session.id).await
    }

    /// Lets a paused handoff go ahead: the coding agent runs when the session continues.
    pub async fn approve(&self, session: &SessionRow, env: Vec<(String, String)>) -> Result<SessionRow> {
        if !(session.state == "paused" && session.stop_reason.as_deref() == Some("awaiting_approval")) {
            return Err(EngineError::FailedPrecondition(format!(
                "session '{}' is not waiting for an approval (it is {}{})",
                session.name,
                session.state,
                session.stop_reason.as_deref().map(|r| format!(", {r}")).unwrap_or_default()
            )));
        }
        let mut it = store::iterations::latest(self.store().pool(), session.id)
            .await?
            .ok_or_else(|| EngineError::Internal(format!("session '{}' has no iterations", session.name)))?;
        let mut state = super::handoff::HandoffState::of(&it);
        state.approved = true;
        it.handoff_json = state.to_json();
        let mut tx = self.store().begin().await?;
        store::iterations::save(&mut tx, &it).await?;
        store::sessions::set_state(&mut tx, session.id, "running", None, None).await?;
        let event = store::events::append(
            &mut tx,
            session.id,
            NewEvent::new(
                "handoff_approved",
                Some(it.number()),
                "code change approved: handing it to the coding agent",
            ),
        )
        .await?;
        tx.commit().await.map_err(|e| EngineError::Internal(format!("approving: {e}")))?;
        self.bus().publish(event);
        self.set_credentials(session.id, session_credentials(session, env));
        self.spawn_actor(session.id).await;
        self.reload(session.id).await
    }

    /// A session waiting for a hand-made code change resumes only once the worktree differs
    /// from what Revis left there.
    async fn check_manual_change(&self, session: &SessionRow, latest: &store::IterationRow) -> Result<()> {
        let left: Option<String> = latest
            .pending_json
            .as_deref()
            .and_then(|p| serde_json::from_str::<serde_json::Value>(p).ok())
            .and_then(|p| p.get("fingerprint").and_then(|f| f.as_str()).map(str::to_string));
        let worktree = PathBuf::from(&session.worktree);
        let now = blocking(move || fingerprint(&worktree)).await??;
        if left.as_deref() == Some(now.as_str()) {
            return Err(EngineError::FailedPrecondition(format!(
                "nothing changed in {}: make the requested code change there, then run `revis resume {}` again",
                session.worktree, session.name
            )));
        }
        Ok(())
    }

    /// Removes sessions: their actor and run, worktree, branch (unless kept), rows and run files.
    pub async fn delete(&self, session: &SessionRow, keep_branch: bool) -> Result<()> {
        self.abort_actor(session.id);
        if session.is_live()
            && let Some(it) = store::iterations::latest(self.store().pool(), session.id).await?
            && let Some(run_id) = &it.run_id
        {
            let run_dir = self.iteration_run_dir(session.id, &session.name, &it);
            let exec = match serde_json::from_str::<config::Config>(&session.config_json) {
                Ok(config) => self.executor_for(&config).await.unwrap_or_else(|_| self.exec().clone()),
                Err(_) => self.exec().clone(),
            };
            if let Err(e) = exec.kill(run_id, &run_dir, kill_grace(session)).await {
                tracing::warn!(session = %session.name, error = %e, "could not kill the run of a deleted session");
            }
        }
        let (project, name) = (PathBuf::from(&session.project), session.name.clone());
        if project.exists() {
            let _workspaces = self.lock_workspaces().await;
            blocking(move || workspace::remove(&project, &name, keep_branch)).await??;
        }
        let mut tx = self.store().begin().await?;
        store::sessions::delete(&mut tx, session.id).await?;
        tx.commit().await.map_err(|e| EngineError::Internal(format!("deleting a session: {e}")))?;
        let runs = self.home().runs().join(super::run_key(session.id, &session.name));
        if let Err(e) = tokio::fs::remove_dir_all(&runs).await
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %runs.display(), error = %e, "could not remove run files");
        }
        Ok(())
    }

    /// Writes revis.yaml for a project (non-interactive init) and ignores `.revis/` in git.
    pub async fn init_project(
        &self,
        dir: &Path,
        opts: config::template::InitOptions,
        force: bool,
    ) -> Result<(PathBuf, bool, Vec<String>)> {
        let project = super::project_of(dir)?;
        let path = project.join(config::FILE_NAME);
        if path.exists() && !force {
            return Err(EngineError::AlreadyExists(format!(
                "{} already exists; pass --force to replace it",
                path.display()
            )));
        }
        let text = config::template::render_init(&opts);
        // What init writes must load: check before touching the file.
        let loaded = config::load_str(&text, &path)?;
        let tmp = path.with_extension("yaml.tmp");
        std::fs::write(&tmp, &text).map_err(|e| EngineError::Internal(format!("writing {}: {e}", tmp.display())))?;
        std::fs::rename(&tmp, &path).map_err(|e| EngineError::Internal(format!("writing {}: {e}", path.display())))?;
        let updated =
            ensure_gitignored(&project).map_err(|e| EngineError::Internal(format!("updating .gitignore: {e}")))?;
        Ok((path, updated, loaded.warnings))
    }

    pub async fn reload(&self, id: i64) -> Result<SessionRow> {
        store::sessions::get(self.store().pool(), id)
            .await?
            .ok_or_else(|| EngineError::NotFound("the session was deleted".into()))
    }
}

/// The session's `guardrails.kill_grace` (10 s when unreadable).
fn kill_grace(session: &SessionRow) -> std::time::Duration {
    serde_json::from_str::<config::Config>(&session.config_json)
        .ok()
        .and_then(|c| config::duration::parse_duration(&c.guardrails.kill_grace).ok())
        .unwrap_or(std::time::Duration::from_secs(10))
}

/// Adds `.revis/` to the project's .gitignore unless it is already ignored there.
fn ensure_gitignored(project: &Path) -> std::io::Result<bool> {
    let path = project.join(".gitignore");
    let existing = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    if existing.lines().any(|l| matches!(l.trim(), ".revis" | ".revis/" | "/.revis" | "/.revis/")) {
        return Ok(false);
    }
    let mut text = existing;
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(".revis/\n");
    std::fs::write(&path, text)?;
    Ok(true)
}

/// Takes the code change out of the iteration's decision: the rest of it is applied again, or
/// (nothing left) the advisor decides anew. Returns the dropped request.
fn drop_code_change(it: &mut store::IterationRow) -> Result<String> {
    let mut decision: crate::advisor::Decision = it
        .decision_json
        .as_deref()
        .and_then(|d| serde_json::from_str(d).ok())
        .ok_or_else(|| EngineError::Internal("the paused iteration has no decision".into()))?;
    let request = decision
        .changes
        .iter()
        .filter_map(|c| match c {
            crate::advisor::Change::Code { request, .. } => Some(request.clone()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("; ");
    decision.changes.retain(|c| !matches!(c, crate::advisor::Change::Code { .. }));
    it.pending_json = None;
    it.handoff_json = None;
    if decision.changes.is_empty() {
        it.decision_json = None;
        it.phase = "advise".into();
    } else {
        it.decision_json = serde_json::to_string(&decision).ok();
        it.phase = "apply".into();
    }
    Ok(request)
}

/// What the worktree holds beyond its last commit: changed paths and a hash of their content.
/// Equal fingerprints mean nobody edited anything in between.
pub(super) fn fingerprint(worktree: &Path) -> std::result::Result<String, workspace::WorkspaceError> {
    let mut text = String::new();
    for path in workspace::diff_stat(worktree)? {
        let content = std::fs::read(worktree.join(&path)).unwrap_or_default();
        let hash =
            content.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
        text.push_str(&format!("{path}:{hash:016x}\n"));
    }
    Ok(text)
}

pub(super) fn short(sha: &str) -> &str {
    sha.get(..8).unwrap_or(sha)
}

/// Runs blocking work (git, file edits) off the async workers.
pub(super) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| EngineError::Internal(format!("a background task failed: {e}")))
}
