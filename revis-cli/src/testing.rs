//! Test-only stand-in for revisd: a real tonic server on a Unix socket in a temp home that
//! answers Hello with a chosen reply, replays canned events on Watch (optionally breaking the
//! first stream), serves canned log chunks on Logs (honouring the resume fields, optionally
//! breaking streams), and honours Shutdown by stopping and removing its socket.

use std::pin::Pin;
use std::sync::{Arc, Mutex};

use revis_proto::v1::revis_server::{Revis, RevisServer};
use revis_proto::v1::*;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use crate::home::Home;

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

/// The Hello of a daemon of this very build (same protocol, version and commit), idle.
pub fn this_build() -> HelloReply {
    HelloReply {
        version: revis_proto::build_info::VERSION.into(),
        commit: revis_proto::build_info::COMMIT.into(),
        protocol: revis_proto::PROTOCOL_VERSION,
        ..Default::default()
    }
}

#[derive(Default)]
pub struct Script {
    pub hello: HelloReply,
    pub events: Vec<Event>,
    /// The first Watch stream fails (as a dying daemon's would) after this many events.
    pub break_first_watch_after: Option<usize>,
    /// Replay from the start on every Watch, as a careless daemon might.
    pub ignore_after_seq: bool,
}

/// What Logs serves; set with `FakeDaemon::serve_logs`.
#[derive(Default)]
pub struct LogsScript {
    /// Everything a stream from the start would carry, in order.
    pub chunks: Vec<LogChunk>,
    /// The n-th Logs stream fails (as a dying daemon's would) after `break_after[n]` chunks;
    /// later streams run to the end.
    pub break_after: Vec<usize>,
    /// Every Logs stream fails at once: a daemon that never properly comes back.
    pub always_break: bool,
    /// Replay from the start on every call, as a careless daemon might.
    pub ignore_resume: bool,
}

#[derive(Default)]
struct Shared {
    script: Mutex<Script>,
    logs: Mutex<LogsScript>,
    /// `after_seq` of every Watch call, in order.
    watch_calls: Mutex<Vec<u64>>,
    logs_calls: Mutex<Vec<LogsRequest>>,
    shutdown: Mutex<Option<oneshot::Sender<()>>>,
}

pub struct FakeDaemon {
    pub home: Home,
    pub dir: tempfile::TempDir,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl FakeDaemon {
    pub async fn start(script: Script) -> Result<Self, Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let home = Home::at(dir.path());
        let listener = tokio::net::UnixListener::bind(home.socket())?;
        let incoming = tokio_stream::wrappers::UnixListenerStream::new(listener);
        let (tx, rx) = oneshot::channel::<()>();
        let shared =
            Arc::new(Shared { script: Mutex::new(script), shutdown: Mutex::new(Some(tx)), ..Default::default() });
        let service = RevisServer::new(Service(shared.clone()));
        let socket = home.socket();
        let task = tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(incoming, async {
                    let _ = rx.await;
                })
                .await;
            let _ = std::fs::remove_file(socket);
        });
        Ok(Self { home, dir, shared, task })
    }

    pub fn watch_calls(&self) -> Vec<u64> {
        self.shared.watch_calls.lock().map(|c| c.clone()).unwrap_or_default()
    }

    pub fn serve_logs(&self, script: LogsScript) {
        if let Ok(mut logs) = self.shared.logs.lock() {
            *logs = script;
        }
    }

    /// Every Logs request received, in order.
    pub fn logs_calls(&self) -> Vec<LogsRequest> {
        self.shared.logs_calls.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

impl Drop for FakeDaemon {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn event(seq: u64, kind: &str, final_state: Option<SessionState>) -> Event {
    Event {
        session: "s".into(),
        seq,
        at: "2024-05-01T10:00:00Z".into(),
        kind: kind.into(),
        iteration: None,
        message: format!("event {seq}"),
        data: "{}".into(),
        final_state: final_state.map(|state| state as i32),
    }
}

struct Service(Arc<Shared>);

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

fn unimplemented<T>() -> Result<Response<T>, Status> {
    Err(Status::unimplemented("not in the fake daemon"))
}

fn poisoned() -> Status {
    Status::internal("fake daemon state poisoned")
}

#[tonic::async_trait]
impl Revis for Service {
    async fn hello(&self, _: Request<HelloRequest>) -> Result<Response<HelloReply>, Status> {
        let script = self.0.script.lock().map_err(|_| poisoned())?;
        Ok(Response::new(script.hello.clone()))
    }
    async fn shutdown(&self, _: Request<ShutdownRequest>) -> Result<Response<ShutdownReply>, Status> {
        if let Some(tx) = self.0.shutdown.lock().map_err(|_| poisoned())?.take() {
            let _ = tx.send(());
        }
        Ok(Response::new(ShutdownReply {}))
    }
    async fn open_ui(&self, _: Request<OpenUiRequest>) -> Result<Response<OpenUiReply>, Status> {
        unimplemented()
    }
    async fn init_project(&self, _: Request<InitProjectRequest>) -> Result<Response<InitProjectReply>, Status> {
        unimplemented()
    }
    async fn validate_config(
        &self,
        _: Request<ValidateConfigRequest>,
    ) -> Result<Response<ValidateConfigReply>, Status> {
        unimplemented()
    }
    async fn session_variables(
        &self,
        _: Request<revis_proto::v1::SessionVariablesRequest>,
    ) -> Result<Response<revis_proto::v1::SessionVariablesReply>, Status> {
        unimplemented()
    }
    async fn start_loop(&self, _: Request<StartLoopRequest>) -> Result<Response<SessionSummary>, Status> {
        unimplemented()
    }
    async fn list_sessions(&self, _: Request<ListSessionsRequest>) -> Result<Response<ListSessionsReply>, Status> {
        unimplemented()
    }
    async fn get_session(&self, _: Request<GetSessionRequest>) -> Result<Response<SessionDetail>, Status> {
        unimplemented()
    }
    async fn stop_session(&self, _: Request<StopSessionRequest>) -> Result<Response<SessionSummary>, Status> {
        unimplemented()
    }
    async fn resume_session(&self, _: Request<ResumeSessionRequest>) -> Result<Response<SessionSummary>, Status> {
        unimplemented()
    }
    async fn approve_session(&self, _: Request<ApproveSessionRequest>) -> Result<Response<SessionSummary>, Status> {
        unimplemented()
    }
    async fn list_hosts(&self, _: Request<ListHostsRequest>) -> Result<Response<ListHostsReply>, Status> {
        unimplemented()
    }
    async fn probe_host(&self, _: Request<ProbeHostRequest>) -> Result<Response<ProbeHostReply>, Status> {
        unimplemented()
    }
    async fn probe_slurm(
        &self,
        _: Request<revis_proto::v1::ProbeSlurmRequest>,
    ) -> Result<Response<revis_proto::v1::ProbeSlurmReply>, Status> {
        unimplemented()
    }
    async fn discover(&self, _: Request<DiscoverRequest>) -> Result<Response<DiscoverReply>, Status> {
        unimplemented()
    }
    async fn set_pull_request(&self, _: Request<SetPullRequestRequest>) -> Result<Response<SessionSummary>, Status> {
        unimplemented()
    }
    async fn delete_sessions(
        &self,
        _: Request<DeleteSessionsRequest>,
    ) -> Result<Response<DeleteSessionsReply>, Status> {
        unimplemented()
    }

    type WatchStream = BoxStream<Event>;
    async fn watch(&self, request: Request<WatchRequest>) -> Result<Response<Self::WatchStream>, Status> {
        let after = request.into_inner().after_seq;
        self.0.watch_calls.lock().map_err(|_| poisoned())?.push(after);
        let mut script = self.0.script.lock().map_err(|_| poisoned())?;
        let from = if script.ignore_after_seq { 0 } else { after };
        let mut items: Vec<Result<Event, Status>> =
            script.events.iter().filter(|e| e.seq > from).cloned().map(Ok).collect();
        if let Some(n) = script.break_first_watch_after.take() {
            items.truncate(n);
            items.push(Err(Status::unavailable("connection lost")));
        }
        Ok(Response::new(Box::pin(tokio_stream::iter(items))))
    }

    type LogsStream = BoxStream<LogChunk>;
    async fn logs(&self, request: Request<LogsRequest>) -> Result<Response<Self::LogsStream>, Status> {
        let req = request.into_inner();
        self.0.logs_calls.lock().map_err(|_| poisoned())?.push(req.clone());
        let mut script = self.0.logs.lock().map_err(|_| poisoned())?;
        let mut items: Vec<Result<LogChunk, Status>> =
            script.chunks.iter().filter(|c| script.ignore_resume || !already_sent(c, &req)).cloned().map(Ok).collect();
        let cut = if script.always_break {
            Some(0)
        } else if script.break_after.is_empty() {
            None
        } else {
            Some(script.break_after.remove(0))
        };
        if let Some(n) = cut {
            items.truncate(n);
            items.push(Err(Status::unavailable("connection lost")));
        }
        Ok(Response::new(Box::pin(tokio_stream::iter(items))))
    }
}

/// What revisd skips for a resuming client: events up to `after_seq`, and the training log
/// (header included) of iterations up to the one being resumed, up to its offset.
fn already_sent(chunk: &LogChunk, req: &LogsRequest) -> bool {
    let resumed = req.resume_iteration.unwrap_or(0);
    match (chunk.source.as_str(), chunk.iteration) {
        ("event", _) if chunk.seq > 0 => chunk.seq <= req.after_seq,
        ("event", Some(n)) => n <= resumed,
        ("train", Some(n)) if n < resumed => true,
        ("train", Some(n)) if n == resumed && chunk.attempt == req.resume_attempt => {
            chunk.end_offset <= req.resume_offset
        }
        _ => false,
    }
}
