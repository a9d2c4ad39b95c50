//! The dashboard's routes: the page and its assets, JSON reads, the actions, and the event
//! streams (`live`). Reads and actions call the API's own handlers, so the page sees what
//! `revis show --json` sees and an action follows the rules the CLI's does.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Query, State as Extract};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use revis_proto::v1 as pb;
use revis_proto::v1::revis_server::Revis;
use serde::Deserialize;
use tokio::sync::Notify;
use tonic::Request;

use super::{access, assets, diff, live, params};
use crate::api::RevisService;
use crate::engine::Engine;

/// What every handler shares.
pub type Shared = Arc<Inner>;

pub struct Inner {
    pub engine: Engine,
    pub service: RevisService,
    pub token: String,
    pub port: u16,
}

/// The handlers' state: the dashboard's own copy of the API service, the token and the port.
pub fn shared(engine: Engine, shutdown: Arc<Notify>, token: String, port: u16) -> Shared {
    Arc::new(Inner { service: RevisService::new(engine.clone(), shutdown), engine, token, port })
}

pub fn router(shared: Shared) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/app.js", get(|| async { asset("text/javascript; charset=utf-8", assets::APP_JS) }))
        .route("/app.css", get(|| async { asset("text/css; charset=utf-8", assets::APP_CSS) }))
        .route("/api/sessions", get(sessions))
        .route("/api/session", get(session))
        .route("/api/params", get(parameters))
        .route("/api/diff", get(iteration_diff))
        .route("/api/action", post(action))
        .route("/api/events", get(live::all_sessions))
        .route("/api/session/events", get(live::one_session))
        .route("/api/log", get(live::training_log))
        .layer(axum::middleware::from_fn_with_state(shared.clone(), access::guard))
        .with_state(shared)
}

/// The page, with the token its assets are fetched with (hex: nothing to escape).
async fn page(Extract(shared): Extract<Shared>) -> Response {
    let html = assets::INDEX_HTML.replace("{{TOKEN}}", &shared.token);
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
}

fn asset(kind: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, kind)], body).into_response()
}

/// Which session: its name and, where names repeat across projects, its project.
#[derive(Debug, Deserialize)]
pub struct Which {
    pub name: String,
    #[serde(default)]
    pub project: String,
    pub iteration: Option<u32>,
}

/// An API refusal as HTTP, with the API's words.
pub struct Failure(tonic::Status);

impl From<tonic::Status> for Failure {
    fn from(status: tonic::Status) -> Self {
        Self(status)
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        use tonic::Code;
        let code = match self.0.code() {
            Code::NotFound => StatusCode::NOT_FOUND,
            Code::InvalidArgument => StatusCode::BAD_REQUEST,
            Code::FailedPrecondition | Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
            Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (code, Json(serde_json::json!({ "error": self.0.message() }))).into_response()
    }
}

async fn sessions(Extract(shared): Extract<Shared>) -> Result<Response, Failure> {
    let reply = shared.service.list_sessions(Request::new(pb::ListSessionsRequest::default())).await?;
    Ok(Json(reply.into_inner()).into_response())
}

async fn detail(shared: &Shared, which: &Which) -> Result<pb::SessionDetail, Failure> {
    let request = pb::GetSessionRequest { name: which.name.clone(), project_dir: which.project.clone(), trace: false };
    Ok(shared.service.get_session(Request::new(request)).await?.into_inner())
}

async fn session(Extract(shared): Extract<Shared>, Query(which): Query<Which>) -> Result<Response, Failure> {
    Ok(Json(detail(&shared, &which).await?).into_response())
}

/// Each trial's values of the parameters that changed, and their importance.
async fn parameters(Extract(shared): Extract<Shared>, Query(which): Query<Which>) -> Result<Response, Failure> {
    let session = shared.engine.find_session(&which.name, &which.project).await.map_err(tonic::Status::from)?;
    let detail = detail(&shared, &which).await?;
    // Values are read from git: off the runtime.
    let table = tokio::task::spawn_blocking(move || match params::Repo::open(std::path::Path::new(&session.project)) {
        Some(repo) => params::table(&detail.iterations, &repo),
        None => params::table(&detail.iterations, &params::NoRepo),
    })
    .await
    .map_err(|e| tonic::Status::internal(e.to_string()))?;
    Ok(Json(table).into_response())
}

/// An iteration's change as a diff, without the files `context.deny` hides.
async fn iteration_diff(Extract(shared): Extract<Shared>, Query(which): Query<Which>) -> Result<Response, Failure> {
    let Some(number) = which.iteration else {
        return Err(tonic::Status::invalid_argument("iteration is required").into());
    };
    let session = shared.engine.find_session(&which.name, &which.project).await.map_err(tonic::Status::from)?;
    let detail = detail(&shared, &which).await?;
    let Some(it) = detail.iterations.iter().find(|it| it.number == number) else {
        return Err(tonic::Status::not_found(format!("{} has no iteration {number}", which.name)).into());
    };
    let text = diff::of_iteration(&session, it).await.map_err(|e| tonic::Status::internal(e.to_string()))?;
    Ok(Json(serde_json::json!({ "iteration": number, "diff": text })).into_response())
}

#[derive(Debug, Deserialize)]
struct ActionRequest {
    name: String,
    #[serde(default)]
    project: String,
    action: Action,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Action {
    Stop,
    StopAfterRun,
    Resume,
    Approve,
}

/// Stop, stop after the run, resume, approve: the API's calls, as `revis stop [--after-run]`,
/// `revis resume` and `revis approve` make them. No provider keys travel from a page: a
/// session that needs them says so, as it does to a CLI without them.
async fn action(Extract(shared): Extract<Shared>, Json(request): Json<ActionRequest>) -> Result<Response, Failure> {
    let (name, project_dir) = (request.name, request.project);
    let service = &shared.service;
    let summary = match request.action {
        Action::Stop | Action::StopAfterRun => {
            let after_run = matches!(request.action, Action::StopAfterRun);
            service.stop_session(Request::new(pb::StopSessionRequest { name, project_dir, after_run })).await?
        }
        Action::Resume => {
            let request = pb::ResumeSessionRequest { name, project_dir, ..Default::default() };
            service.resume_session(Request::new(request)).await?
        }
        Action::Approve => {
            let request = pb::ApproveSessionRequest { name, project_dir, ..Default::default() };
            service.approve_session(Request::new(request)).await?
        }
    };
    Ok(Json(summary.into_inner()).into_response())
}
