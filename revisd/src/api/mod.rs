//! The tonic service: translate requests, call the engine, map errors. Nothing else lives here.

mod convert;
mod status;

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use revis_proto::v1 as pb;
use revis_proto::v1::revis_server::Revis;
use tokio::sync::Notify;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::engine::records::SessionRow;
use crate::engine::{Engine, LogSource, LogsResume, StartOptions};

pub struct RevisService {
    engine: Engine,
    shutdown: Arc<Notify>,
    /// The dashboard `OpenUi` serves; none in the dashboard's own copy of the service.
    ui: Option<Arc<dyn Dashboard>>,
}

/// The dashboard as the API sees it (the seam between `api` and `ui`, which calls the API).
#[tonic::async_trait]
pub trait Dashboard: Send + Sync {
    /// Serves it (on `port`, else where it is served or was last served, else a free port)
    /// and returns its address with the token, and the port.
    async fn open(&self, port: Option<u16>) -> Result<(String, u16), String>;
}

impl RevisService {
    pub fn new(engine: Engine, shutdown: Arc<Notify>) -> Self {
        Self { engine, shutdown, ui: None }
    }

    pub fn with_ui(mut self, ui: Arc<dyn Dashboard>) -> Self {
        self.ui = Some(ui);
        self
    }

    async fn session(&self, name: &str, project_dir: &str) -> Result<SessionRow, Status> {
        if name.is_empty() {
            return Err(Status::invalid_argument("a session name is required"));
        }
        Ok(self.engine.find_session(name, project_dir).await?)
    }

    async fn summary(&self, session: &SessionRow) -> Result<pb::SessionSummary, Status> {
        let facts = self.engine.facts(session).await?;
        let mut summary = convert::summary(&crate::engine::records::SessionHead::from(session), &facts);
        if session.is_live() {
            let trials = self.engine.slot_trials(Some(session.id)).await?;
            summary.trials = trials.iter().map(convert::slot_trial).collect();
        }
        Ok(summary)
    }
}

fn dir(text: &str) -> Result<PathBuf, Status> {
    if text.is_empty() {
        return Err(Status::invalid_argument("project_dir is required"));
    }
    Ok(PathBuf::from(text))
}

/// The metadata key that names the InitProjectRequest field a refused answer came from (see
/// revis.proto), so the CLI can name its flag.
const FIELD_METADATA: &str = "revis-field";

fn refused_answer(refused: crate::config::template::RefusedAnswer) -> Status {
    let mut status = Status::invalid_argument(refused.message);
    if let Some(field) = refused.field {
        status.metadata_mut().insert(FIELD_METADATA, tonic::metadata::MetadataValue::from_static(field));
    }
    status
}

type Streamed<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

#[tonic::async_trait]
impl Revis for RevisService {
    #[tracing::instrument(skip_all)]
    async fn hello(&self, request: Request<pb::HelloRequest>) -> Result<Response<pb::HelloReply>, Status> {
        let req = request.into_inner();
        tracing::debug!(client = %req.client_version, protocol = req.protocol, "hello");
        let (active, paused) = self.engine.session_counts().await?;
        Ok(Response::new(pb::HelloReply {
            version: revis_proto::build_info::VERSION.to_string(),
            commit: revis_proto::build_info::COMMIT.to_string(),
            commit_date: revis_proto::build_info::COMMIT_DATE.to_string(),
            executable: std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default(),
            protocol: revis_proto::PROTOCOL_VERSION,
            pid: std::process::id(),
            home: self.engine.home().root().display().to_string(),
            active_sessions: u32::try_from(active).unwrap_or(u32::MAX),
            paused_sessions: u32::try_from(paused).unwrap_or(u32::MAX),
            uptime_seconds: self.engine.uptime().as_secs(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn open_ui(&self, request: Request<pb::OpenUiRequest>) -> Result<Response<pb::OpenUiReply>, Status> {
        let ui = self.ui.as_ref().ok_or_else(|| Status::unavailable("this daemon serves no dashboard"))?;
        let port = u16::try_from(request.into_inner().port)
            .map_err(|_| Status::invalid_argument("the port must be below 65536"))?;
        let (url, port) =
            ui.open((port != 0).then_some(port)).await.map_err(|e| Status::failed_precondition(e.to_string()))?;
        Ok(Response::new(pb::OpenUiReply { url, port: u32::from(port) }))
    }

    #[tracing::instrument(skip_all)]
    async fn shutdown(&self, _: Request<pb::ShutdownRequest>) -> Result<Response<pb::ShutdownReply>, Status> {
        tracing::info!("shutdown requested by a client");
        self.shutdown.notify_one();
        Ok(Response::new(pb::ShutdownReply {}))
    }

    #[tracing::instrument(skip_all)]
    async fn init_project(
        &self,
        request: Request<pb::InitProjectRequest>,
    ) -> Result<Response<pb::InitProjectReply>, Status> {
        let req = request.into_inner();
        let opts = crate::config::template::InitOptions {
            train: req.train,
            primary: req.primary,
            maximize: req.maximize,
            target: req.target,
            ssh_host: req.ssh_host.filter(|h| !h.is_empty()),
            work_dir: req.work_dir.filter(|w| !w.is_empty()),
            metrics_source: Some(req.metrics_source).filter(|s| !s.is_empty()),
            metrics_project: req.metrics_project.filter(|p| !p.is_empty()),
            metrics_entity: req.metrics_entity.filter(|e| !e.is_empty()),
            tracking_uri: req.tracking_uri.filter(|u| !u.is_empty()),
            coding_agent: Some(req.coding_agent).filter(|c| !c.is_empty()),
            deny: req.deny,
            slurm: req.slurm,
            partition: req.partition.filter(|p| !p.is_empty()),
        };
        if let Err(refused) = crate::config::template::check_answers(&opts) {
            return Err(refused_answer(refused));
        }
        let (path, gitignore_updated, warnings) =
            self.engine.init_project(&dir(&req.project_dir)?, opts, req.force).await?;
        let path_var = std::env::var_os("PATH");
        let coding_agent = crate::coding::detect(path_var.as_deref()).map(|k| k.to_string()).unwrap_or_default();
        Ok(Response::new(pb::InitProjectReply {
            config_path: path.display().to_string(),
            gitignore_updated,
            warnings,
            coding_agent,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn validate_config(
        &self,
        request: Request<pb::ValidateConfigRequest>,
    ) -> Result<Response<pb::ValidateConfigReply>, Status> {
        let loaded = self.engine.check_config(&dir(&request.into_inner().project_dir)?).await?;
        Ok(Response::new(pb::ValidateConfigReply {
            config_path: loaded.path.display().to_string(),
            warnings: loaded.warnings,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn session_variables(
        &self,
        request: Request<pb::SessionVariablesRequest>,
    ) -> Result<Response<pb::SessionVariablesReply>, Status> {
        let req = request.into_inner();
        let project = if req.session.is_empty() {
            crate::engine::project_of(&dir(&req.project_dir)?)?
        } else {
            std::path::PathBuf::from(self.session(&req.session, &req.project_dir).await?.project)
        };
        Ok(Response::new(pb::SessionVariablesReply { names: self.engine.variable_names(project).await? }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_hosts(&self, _: Request<pb::ListHostsRequest>) -> Result<Response<pb::ListHostsReply>, Status> {
        Ok(Response::new(pb::ListHostsReply { hosts: crate::engine::hosts::list()? }))
    }

    #[tracing::instrument(skip_all)]
    async fn probe_host(&self, request: Request<pb::ProbeHostRequest>) -> Result<Response<pb::ProbeHostReply>, Status> {
        let req = request.into_inner();
        let probe = crate::engine::hosts::probe(&req.host, req.trust).await?;
        Ok(Response::new(pb::ProbeHostReply {
            ok: probe.ok,
            target: probe.target,
            message: probe.message,
            unknown_fingerprint: probe.unknown_fingerprint,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn probe_slurm(
        &self,
        request: Request<pb::ProbeSlurmRequest>,
    ) -> Result<Response<pb::ProbeSlurmReply>, Status> {
        let req = request.into_inner();
        let probe = crate::engine::hosts::probe_slurm(req.login.filter(|l| !l.is_empty()).as_deref()).await?;
        Ok(Response::new(pb::ProbeSlurmReply {
            available: probe.is_ok(),
            message: probe.as_ref().err().cloned().unwrap_or_default(),
            partitions: probe
                .unwrap_or_default()
                .into_iter()
                .map(|p| pb::SlurmPartition {
                    max_time: p.max_time.map_or_else(|| "unlimited".into(), crate::config::duration::format_duration),
                    name: p.name,
                    default: p.default,
                    up: p.up,
                    gres: p.gres,
                })
                .collect(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn discover(&self, request: Request<pb::DiscoverRequest>) -> Result<Response<pb::DiscoverReply>, Status> {
        let req = request.into_inner();
        let found = crate::engine::discovery::discover(&req).await;
        let path_var = std::env::var_os("PATH");
        let coding_agent = crate::coding::detect(path_var.as_deref()).map(|k| k.to_string()).unwrap_or_default();
        Ok(Response::new(pb::DiscoverReply {
            projects: found.projects,
            metrics: found.metrics,
            error: found.error.unwrap_or_default(),
            coding_agent,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn set_pull_request(
        &self,
        request: Request<pb::SetPullRequestRequest>,
    ) -> Result<Response<pb::SessionSummary>, Status> {
        let req = request.into_inner();
        let session = self.session(&req.name, &req.project_dir).await?;
        let session = self.engine.set_pull_request(&session, req.url).await?;
        Ok(Response::new(self.summary(&session).await?))
    }

    #[tracing::instrument(skip_all)]
    async fn start_loop(&self, request: Request<pb::StartLoopRequest>) -> Result<Response<pb::SessionSummary>, Status> {
        let req = request.into_inner();
        let started = self
            .engine
            .start_loop(StartOptions {
                project_dir: dir(&req.project_dir)?,
                name: Some(req.name).filter(|n| !n.is_empty()),
                budget: Some(req.budget).filter(|b| !b.is_empty()),
                max_iterations: req.max_iterations,
                max_cost: req.max_cost,
                advisor: Some(req.advisor).filter(|a| !a.is_empty()),
                env: req.env.into_iter().collect(),
                parallel: req.parallel,
            })
            .await?;
        for warning in &started.warnings {
            tracing::warn!(session = %started.session.name, "{warning}");
        }
        let mut summary = self.summary(&started.session).await?;
        summary.warnings = started.warnings;
        Ok(Response::new(summary))
    }

    #[tracing::instrument(skip_all)]
    async fn list_sessions(
        &self,
        request: Request<pb::ListSessionsRequest>,
    ) -> Result<Response<pb::ListSessionsReply>, Status> {
        let req = request.into_inner();
        let rows = self.engine.list_summaries(&req.project_dir, req.live_only).await?;
        let trials = match rows.iter().any(|row| row.session.is_live()) {
            true => self.engine.slot_trials(None).await?,
            false => Vec::new(),
        };
        let sessions = rows
            .iter()
            .map(|row| {
                let mut summary = convert::summary(&row.session, &row.facts);
                summary.trials = trials.iter().filter(|t| t.session_id == row.id).map(convert::slot_trial).collect();
                summary
            })
            .collect();
        Ok(Response::new(pb::ListSessionsReply { sessions }))
    }

    #[tracing::instrument(skip_all)]
    async fn get_session(
        &self,
        request: Request<pb::GetSessionRequest>,
    ) -> Result<Response<pb::SessionDetail>, Status> {
        let req = request.into_inner();
        let session = self.session(&req.name, &req.project_dir).await?;
        let iterations = self.engine.iterations(&session).await?;
        let facts = self.engine.facts(&session).await?;
        let mut detail = convert::detail(&session, &facts, &iterations)?;
        if session.is_live()
            && let Some(summary) = detail.summary.as_mut()
        {
            // Trials and confirmation runs in their slots, as `status` shows them.
            let mut trials: Vec<pb::SlotTrial> =
                self.engine.slot_trials(Some(session.id)).await?.iter().map(convert::slot_trial).collect();
            trials.sort_by_key(|t| t.slot);
            summary.trials = trials;
        }
        if req.trace {
            let mut traces = self.engine.traces(&session, &iterations).await;
            for it in detail.iterations.iter_mut() {
                it.trace = traces.remove(&it.number);
            }
        }
        Ok(Response::new(detail))
    }

    #[tracing::instrument(skip_all)]
    async fn stop_session(
        &self,
        request: Request<pb::StopSessionRequest>,
    ) -> Result<Response<pb::SessionSummary>, Status> {
        let req = request.into_inner();
        let session = if req.name.is_empty() {
            self.engine.only_live_session(&dir(&req.project_dir)?).await?
        } else {
            self.session(&req.name, &req.project_dir).await?
        };
        let session = self.engine.stop(&session, req.after_run).await?;
        Ok(Response::new(self.summary(&session).await?))
    }

    #[tracing::instrument(skip_all)]
    async fn resume_session(
        &self,
        request: Request<pb::ResumeSessionRequest>,
    ) -> Result<Response<pb::SessionSummary>, Status> {
        let req = request.into_inner();
        let session = self.session(&req.name, &req.project_dir).await?;
        let session =
            self.engine.resume(&session, Some(req.budget.as_str()), req.env.into_iter().collect(), req.skip).await?;
        Ok(Response::new(self.summary(&session).await?))
    }

    #[tracing::instrument(skip_all)]
    async fn approve_session(
        &self,
        request: Request<pb::ApproveSessionRequest>,
    ) -> Result<Response<pb::SessionSummary>, Status> {
        let req = request.into_inner();
        let session = self.session(&req.name, &req.project_dir).await?;
        let session = self.engine.approve(&session, req.env.into_iter().collect()).await?;
        Ok(Response::new(self.summary(&session).await?))
    }

    #[tracing::instrument(skip_all)]
    async fn delete_sessions(
        &self,
        request: Request<pb::DeleteSessionsRequest>,
    ) -> Result<Response<pb::DeleteSessionsReply>, Status> {
        let req = request.into_inner();
        // Resolve every name first so a typo deletes nothing.
        let mut sessions = Vec::with_capacity(req.names.len());
        for name in &req.names {
            sessions.push(self.session(name, &req.project_dir).await?);
        }
        let mut deleted = Vec::new();
        for session in &sessions {
            self.engine.delete(session, req.keep_branch).await?;
            deleted.push(session.name.clone());
        }
        Ok(Response::new(pb::DeleteSessionsReply { deleted }))
    }

    type WatchStream = Streamed<pb::Event>;

    #[tracing::instrument(skip_all)]
    async fn watch(&self, request: Request<pb::WatchRequest>) -> Result<Response<Self::WatchStream>, Status> {
        let req = request.into_inner();
        let session = self.session(&req.name, &req.project_dir).await?;
        let name = session.name.clone();
        let rx = self.engine.watch(&session, req.after_seq);
        let stream = ReceiverStream::new(rx).map(move |item| match item {
            Ok(event) => Ok(convert::event(&name, &event)),
            Err(e) => Err(Status::from(e)),
        });
        Ok(Response::new(Box::pin(stream)))
    }

    type LogsStream = Streamed<pb::LogChunk>;

    #[tracing::instrument(skip_all)]
    async fn logs(&self, request: Request<pb::LogsRequest>) -> Result<Response<Self::LogsStream>, Status> {
        let req = request.into_inner();
        let session = self.session(&req.name, &req.project_dir).await?;
        if req.script {
            let text = self.engine.run_script(&session, req.iteration).await.map_err(Status::from)?;
            let chunk = pb::LogChunk { source: "script".into(), iteration: req.iteration, text, ..Default::default() };
            return Ok(Response::new(Box::pin(tokio_stream::iter([Ok(chunk)]))));
        }
        let resume = LogsResume {
            after_seq: i64::try_from(req.after_seq).unwrap_or(i64::MAX),
            train: req.resume_iteration.map(|n| (n, i64::from(req.resume_attempt.max(1)), req.resume_offset)),
        };
        let rx = self.engine.logs(&session, req.iteration, req.follow, resume);
        let stream = ReceiverStream::new(rx).map(|item| match item {
            Ok(chunk) => Ok(pb::LogChunk {
                source: match chunk.source {
                    LogSource::Event => "event".into(),
                    LogSource::Train => "train".into(),
                },
                iteration: chunk.iteration,
                text: chunk.text,
                seq: u64::try_from(chunk.seq).unwrap_or(0),
                attempt: u32::try_from(chunk.attempt).unwrap_or(0),
                end_offset: chunk.end_offset,
            }),
            Err(e) => Err(Status::from(e)),
        });
        Ok(Response::new(Box::pin(stream)))
    }
}
