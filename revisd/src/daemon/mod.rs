//! The daemon process: state directory, single-instance lock, socket, peer checks, signals,
//! and the order of start-up and shutdown. Everything else is delegated to `engine` and `api`.

mod home;
mod pidfile;
mod socket;

use std::sync::Arc;

use nix::unistd::Uid;
use revis_proto::v1::revis_server::RevisServer;
use tokio::sync::Notify;
use tokio_stream::wrappers::UnixListenerStream;
use tonic::transport::server::UdsConnectInfo;
use tonic::{Request, Status};

use crate::api::RevisService;
use crate::engine::Engine;
use crate::exec::{Executor, LocalExecutor, TmuxServer};
use crate::paths::Home;
use crate::store::Store;

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("revisd is already running{}", .pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    AlreadyRunning { pid: Option<u32> },
    #[error("{what} ({path}): {source}")]
    Io { what: &'static str, path: std::path::PathBuf, source: std::io::Error },
    #[error("{0}")]
    Insecure(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Engine(#[from] crate::engine::EngineError),
    #[error("serving gRPC: {0}")]
    Serve(#[from] tonic::transport::Error),
    #[error("setting up server reflection: {0}")]
    Reflection(String),
}

/// Refuses requests from any peer whose uid differs from the daemon's. The socket's 0600 mode
/// already keeps others out; this also covers root-owned peers and misconfigured permissions.
#[allow(clippy::result_large_err)]
fn check_peer(request: Request<()>) -> Result<Request<()>, Status> {
    let ours = Uid::current().as_raw();
    let peer = request.extensions().get::<UdsConnectInfo>().and_then(|info| info.peer_cred).map(|cred| cred.uid());
    match peer {
        Some(uid) if uid == ours => Ok(request),
        Some(uid) => {
            tracing::warn!(peer_uid = uid, "refused a connection from another user");
            Err(Status::permission_denied(format!(
                "revisd serves only uid {ours}; this connection comes from uid {uid}"
            )))
        }
        None => Err(Status::permission_denied("revisd could not identify the connecting process")),
    }
}

/// Runs the daemon until SIGTERM, SIGINT or a Shutdown request.
pub async fn run(home: Home) -> Result<(), DaemonError> {
    let tmux = TmuxServer::for_home(home.root(), home.is_explicit());
    run_with(home, Arc::new(LocalExecutor::new(tmux))).await
}

/// [`run`] with `local` running the trials of `type: local` sessions: the seam the scale
/// benchmark uses to stand a simulated executor where tmux would be.
pub async fn run_with(home: Home, local: Arc<dyn Executor>) -> Result<(), DaemonError> {
    home::prepare(home.root())?;
    let lock = pidfile::PidLock::acquire(&home.pid_file())?;
    let listener = socket::bind(&home.socket())?;
    tracing::info!(home = %home.root().display(), pid = std::process::id(), "revisd starting");

    let store = Store::open(&home.db()).await?;
    let engine = Engine::new(store, home.clone(), local);
    let resumed = engine.resume_all().await?;
    if resumed > 0 {
        tracing::info!(sessions = resumed, "resumed sessions");
    }

    let shutdown = Arc::new(Notify::new());
    // A dashboard a previous daemon served is served again, so pages left open reconnect.
    let ui = Arc::new(crate::ui::Ui::new(home.clone(), engine.clone(), shutdown.clone()));
    ui.restore().await;
    let service = RevisService::new(engine.clone(), shutdown.clone()).with_ui(ui);
    let service = RevisServer::with_interceptor(service, check_peer);
    // Both reflection versions: grpcurl and grpc-go ask v1, while Python's grpcio-reflection
    // (and other older clients) only know v1alpha.
    let reflection_v1 = reflection().build_v1().map_err(|e| DaemonError::Reflection(e.to_string()))?;
    let reflection_v1 = tonic::service::interceptor::InterceptedService::new(reflection_v1, check_peer);
    let reflection_v1alpha = reflection().build_v1alpha().map_err(|e| DaemonError::Reflection(e.to_string()))?;
    let reflection_v1alpha = tonic::service::interceptor::InterceptedService::new(reflection_v1alpha, check_peer);

    // Set once the shutdown signal arrived: bounds how long open connections may delay exit.
    let stopping = Arc::new(Notify::new());
    let stop = {
        let shutdown = shutdown.clone();
        let (engine, stopping) = (engine.clone(), stopping.clone());
        async move {
            wait_for_stop(&shutdown).await;
            // Streams end with "unavailable" so followers reconnect to the next daemon instead
            // of holding this one open.
            engine.close_streams();
            stopping.notify_one();
        }
    };
    // h2 resets (PROTOCOL_ERROR) any stream whose :authority does not parse as a host, before
    // tonic or this code sees it, and no h2/hyper/tonic option relaxes that. Clients that send
    // the socket path (grpcio, grpc-java) must set the authority to `localhost`: docs/api.md.
    let serve = tonic::transport::Server::builder()
        .add_service(service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .serve_with_incoming_shutdown(UnixListenerStream::new(listener), stop);
    let served = tokio::select! {
        served = serve => served,
        _ = async { stopping.notified().await; tokio::time::sleep(SHUTDOWN_GRACE).await } => {
            tracing::warn!("connections still open after the shutdown grace; exiting anyway");
            Ok(())
        }
    };

    // Sessions stay as recorded; training keeps running in tmux for the next daemon.
    engine.shutdown();
    if let Err(e) = std::fs::remove_file(home.socket()) {
        tracing::warn!(error = %e, "could not remove the socket");
    }
    tracing::info!(pid_file = %lock.path().display(), "revisd stopped");
    drop(lock);
    served?;
    Ok(())
}

/// Server reflection over the one descriptor set of the API.
fn reflection() -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(revis_proto::v1::FILE_DESCRIPTOR_SET)
}

/// How long open connections may hold up a shutdown.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// SIGTERM, SIGINT or a Shutdown request.
async fn wait_for_stop(shutdown: &Notify) {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM");
            shutdown.notified().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
        _ = shutdown.notified() => tracing::info!("shutting down on request"),
    }
}
