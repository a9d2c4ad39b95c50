//! The dashboard (`revis ui`): a page served by the daemon on 127.0.0.1 that shows every
//! session live. It is one more client of the API: its JSON is the API's messages, its actions
//! are the API's calls (so they follow the CLI's rules), its live updates are the event bus
//! that `revis watch` follows, sent as server-sent events.
//!
//! Access: loopback only, a random token (in the URL `revis ui` prints, as Jupyter does) on
//! every request, `Host` and `Origin` checked (`access`). The token and the port outlive the
//! daemon (`ui-token`, `ui.json` in the home), so a page left open reconnects to the next one.

mod access;
mod assets;
mod diff;
mod live;
pub mod params;
mod routes;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::{Mutex, Notify};
use tokio::task::JoinHandle;

use crate::engine::Engine;
use crate::paths::Home;

#[derive(Debug, thiserror::Error)]
pub enum UiError {
    #[error("cannot serve the dashboard on 127.0.0.1:{port}: {source}")]
    Bind { port: u16, source: std::io::Error },
    #[error("cannot keep the dashboard's {what} in {path}: {source}")]
    State { what: &'static str, path: PathBuf, source: std::io::Error },
}

/// The dashboard server of one daemon: not serving until `open` (or `restore`).
pub struct Ui {
    home: Home,
    engine: Engine,
    shutdown: Arc<Notify>,
    serving: Mutex<Option<Serving>>,
}

struct Serving {
    port: u16,
    token: String,
    stop: Arc<Notify>,
    task: JoinHandle<()>,
}

impl Ui {
    pub fn new(home: Home, engine: Engine, shutdown: Arc<Notify>) -> Self {
        Self { home, engine, shutdown, serving: Mutex::new(None) }
    }

    /// Serves the dashboard (on `port`, or where it is served, or where the last daemon served
    /// it, or on a free port) and returns its URL with the token.
    pub async fn open(&self, port: Option<u16>) -> Result<(String, u16), UiError> {
        let mut serving = self.serving.lock().await;
        if let Some(current) = serving.as_ref()
            && port.is_none_or(|p| p == current.port)
            && !current.task.is_finished()
        {
            return Ok((url(current.port, &current.token), current.port));
        }
        if let Some(old) = serving.take() {
            old.stop.notify_one();
        }
        let wanted = port.or_else(|| self.saved_port()).unwrap_or(0);
        let listener = match bind(wanted).await {
            Ok(listener) => listener,
            // The last daemon's port is taken now: any free one (an explicit port is an error).
            Err(_) if port.is_none() && wanted != 0 => bind(0).await?,
            Err(e) => return Err(e),
        };
        let started = self.start(listener)?;
        let answer = (url(started.port, &started.token), started.port);
        *serving = Some(started);
        Ok(answer)
    }

    /// At start-up: serves again on the port a previous daemon served from, so pages left open
    /// reconnect. Nothing when the dashboard was never opened; a taken port is logged.
    pub async fn restore(&self) {
        let Some(port) = self.saved_port() else { return };
        let mut serving = self.serving.lock().await;
        match bind(port).await {
            Ok(listener) => match self.start(listener) {
                Ok(started) => *serving = Some(started),
                Err(e) => tracing::warn!(error = %e, "cannot serve the dashboard again"),
            },
            Err(e) => tracing::warn!(error = %e, "the dashboard's port is taken; `revis ui` serves it elsewhere"),
        }
    }

    fn start(&self, listener: TcpListener) -> Result<Serving, UiError> {
        let port = listener.local_addr().map(|a| a.port()).map_err(|source| UiError::Bind { port: 0, source })?;
        let token = self.token()?;
        self.save_port(port)?;
        let stop = Arc::new(Notify::new());
        let state = routes::shared(self.engine.clone(), self.shutdown.clone(), token.clone(), port);
        let app = routes::router(state);
        let (engine, stopping) = (self.engine.clone(), stop.clone());
        let task = tokio::spawn(async move {
            let mut closing = engine.closing();
            let until = async move {
                tokio::select! {
                    _ = stopping.notified() => {}
                    _ = closing.wait_for(|c| *c) => {}
                }
            };
            if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(until).await {
                tracing::warn!(error = %e, "the dashboard stopped serving");
            }
        });
        tracing::info!(port, "serving the dashboard on 127.0.0.1");
        Ok(Serving { port, token, stop, task })
    }

    /// The token in `ui-token` (0600), made once: the URL a user keeps stays valid.
    fn token(&self) -> Result<String, UiError> {
        let path = self.home.root().join("ui-token");
        let state = |source| UiError::State { what: "token", path: path.clone(), source };
        match std::fs::read_to_string(&path) {
            Ok(text) if access::is_token(text.trim()) => return Ok(text.trim().to_string()),
            Ok(_) | Err(_) => {}
        }
        let token = access::new_token();
        write_private(&path, &token).map_err(state)?;
        Ok(token)
    }

    fn saved_port(&self) -> Option<u16> {
        let text = std::fs::read_to_string(self.home.root().join("ui.json")).ok()?;
        let value: serde_json::Value = serde_json::from_str(&text).ok()?;
        value.get("port")?.as_u64().and_then(|p| u16::try_from(p).ok()).filter(|p| *p != 0)
    }

    fn save_port(&self, port: u16) -> Result<(), UiError> {
        let path = self.home.root().join("ui.json");
        let text = serde_json::json!({ "port": port }).to_string();
        write_private(&path, &text).map_err(|source| UiError::State { what: "port", path, source })
    }
}

#[tonic::async_trait]
impl crate::api::Dashboard for Ui {
    async fn open(&self, port: Option<u16>) -> Result<(String, u16), String> {
        Ui::open(self, port).await.map_err(|e| e.to_string())
    }
}

async fn bind(port: u16) -> Result<TcpListener, UiError> {
    // Loopback only: the dashboard is for the user at this machine (or an SSH tunnel to it).
    TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
        .await
        .map_err(|source| UiError::Bind { port, source })
}

fn url(port: u16, token: &str) -> String {
    format!("http://127.0.0.1:{port}/?token={token}")
}

/// Replaces `path` with `text`, readable by the user only.
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let partial = path.with_extension("partial");
    let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&partial)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&partial, path)
}
