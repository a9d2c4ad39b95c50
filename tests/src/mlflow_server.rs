//! A real MLflow tracking server on 127.0.0.1 for the MLflow tests: `python3 -m mlflow server`
//! on a free port, SQLite store and artifacts in a temp dir, and a tiny HTTP/1.0 client for
//! assertions against its REST API.
//!
//! Owns: the server process group (uvicorn workers included) and its temp dir; both are gone
//! after drop. Must not: reach any other server, or skip silently when the `mlflow` package is
//! missing (the test fails and says how to install it).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde_json::Value;

use crate::wait::wait_until;

/// Startup runs the store's migrations: tens of seconds on a busy 2-core machine.
const START_DEADLINE: Duration = Duration::from_secs(180);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
const STOP_GRACE: Duration = Duration::from_secs(10);

pub struct MlflowServer {
    dir: tempfile::TempDir,
    child: Child,
    port: u16,
}

/// Panics with the fix when python3 cannot import `mlflow` (the tests' python must be the one
/// pip installed into).
pub fn require_mlflow() {
    let probe = Command::new("python3").args(["-c", "import mlflow"]).stdin(Stdio::null()).output();
    match probe {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "the MLflow tests need the `mlflow` Python package for `python3`: run `python3 -m pip install mlflow`\n{}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => panic!("the MLflow tests need `python3` with the `mlflow` package: {e}"),
    }
}

impl MlflowServer {
    /// Starts the server and waits until `/health` answers.
    pub fn start() -> Self {
        require_mlflow();
        let dir = tempfile::Builder::new().prefix("rvs-mlflow-").tempdir_in("/tmp").expect("temp dir");
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).and_then(|l| l.local_addr()).expect("free port").port();
        let log = std::fs::File::create(dir.path().join("server.log")).expect("server log");
        let child = Command::new("python3")
            .args(["-m", "mlflow", "server", "--host", "127.0.0.1", "--workers", "1", "--port", &port.to_string()])
            .arg("--backend-store-uri")
            .arg(format!("sqlite:///{}", dir.path().join("mlflow.db").display()))
            .arg("--default-artifact-root")
            .arg(dir.path().join("artifacts"))
            .env("MLFLOW_DISABLE_TELEMETRY", "true")
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            // Its own group, so drop reaches the uvicorn workers too.
            .process_group(0)
            .spawn()
            .expect("spawn `python3 -m mlflow server`");
        let mut server = Self { dir, child, port };
        let mut exited = None;
        let ready = wait_until(START_DEADLINE, || {
            exited = server.child.try_wait().ok().flatten();
            exited.is_some() || server.request("GET", "/health", None).is_some_and(|(status, _)| status == 200)
        });
        assert!(
            ready && exited.is_none(),
            "mlflow server did not become ready within {START_DEADLINE:?} (exit: {exited:?}); log:\n{}",
            server.log_tail()
        );
        server
    }

    /// `http://127.0.0.1:<port>`: what revis.yaml's `metrics.tracking_uri` names.
    pub fn uri(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The last lines of the server's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// `GET /api/2.0/mlflow/<endpoint_and_query>`; panics unless it answers 200 with JSON.
    pub fn get(&self, endpoint_and_query: &str) -> Value {
        self.api("GET", endpoint_and_query, None)
    }

    /// `POST /api/2.0/mlflow/<endpoint>` with a JSON body; panics unless it answers 200.
    pub fn post(&self, endpoint: &str, body: &Value) -> Value {
        self.api("POST", endpoint, Some(body))
    }

    /// Runs of `experiment` whose tag `key` equals `value`.
    pub fn runs_tagged(&self, experiment: &str, key: &str, value: &str) -> Vec<Value> {
        let found = self.get(&format!("experiments/get-by-name?experiment_name={experiment}"));
        let id = found["experiment"]["experiment_id"].as_str().unwrap_or_default().to_string();
        let body = serde_json::json!({
            "experiment_ids": [id],
            "filter": format!("tags.`{key}` = '{value}'"),
            "max_results": 1000,
        });
        self.post("runs/search", &body)["runs"].as_array().cloned().unwrap_or_default()
    }

    fn api(&self, method: &str, endpoint: &str, body: Option<&Value>) -> Value {
        let path = format!("/api/2.0/mlflow/{endpoint}");
        let (status, text) = self
            .request(method, &path, body)
            .unwrap_or_else(|| panic!("{method} {path}: no answer from the mlflow server; log:\n{}", self.log_tail()));
        assert_eq!(status, 200, "{method} {path} answered {status}: {text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {path}: invalid JSON ({e}): {text}"))
    }

    /// One HTTP/1.0 exchange (so the answer is never chunked): (status, body), or None when the
    /// server cannot be reached or answers garbage.
    fn request(&self, method: &str, path: &str, body: Option<&Value>) -> Option<(u16, String)> {
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).ok()?;
        stream.set_read_timeout(Some(REQUEST_TIMEOUT)).ok()?;
        stream.set_write_timeout(Some(REQUEST_TIMEOUT)).ok()?;
        let payload = body.map(Value::to_string).unwrap_or_default();
        let mut request = format!("{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{}\r\n", self.port);
        if body.is_some() {
            request.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", payload.len()));
        }
        request.push_str("\r\n");
        request.push_str(&payload);
        stream.write_all(request.as_bytes()).ok()?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).ok()?;
        let answer = String::from_utf8_lossy(&answer);
        let (head, body) = answer.split_once("\r\n\r\n")?;
        let status = head.split_whitespace().nth(1)?.parse().ok()?;
        Some((status, body.to_string()))
    }
}

impl Drop for MlflowServer {
    fn drop(&mut self) {
        let Ok(pid) = i32::try_from(self.child.id()) else { return };
        let group = Pid::from_raw(pid);
        let _ = killpg(group, Signal::SIGTERM);
        wait_until(STOP_GRACE, || self.child.try_wait().ok().flatten().is_some());
        // Workers that outlived their parent, or ignored SIGTERM.
        let _ = killpg(group, Signal::SIGKILL);
        let _ = self.child.wait();
    }
}
