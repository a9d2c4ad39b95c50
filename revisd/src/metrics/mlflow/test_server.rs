//! A real MLflow tracking server for the unit tests: `python3 -m mlflow server` on a free
//! loopback port with a SQLite store in a temp dir, in its own process group so the uvicorn
//! workers die with it on drop. A missing `mlflow` package fails the test with the fix.

use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// Startup runs the database migrations; on a busy 2-core machine that takes tens of seconds.
const START_DEADLINE: Duration = Duration::from_secs(180);

pub struct MlflowServer {
    dir: tempfile::TempDir,
    child: Child,
    pub uri: String,
}

impl MlflowServer {
    pub async fn start() -> Self {
        let probe = Command::new("python3").args(["-c", "import mlflow"]).output();
        assert!(
            probe.as_ref().is_ok_and(|o| o.status.success()),
            "the MLflow tests need the `mlflow` Python package for python3: run `python3 -m pip install mlflow` \
             ({probe:?})"
        );
        let dir = tempfile::Builder::new().prefix("rvs-mlflow-").tempdir().expect("temp dir");
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
            .process_group(0)
            .spawn()
            .expect("spawn mlflow server");
        let mut server = Self { dir, child, uri: format!("http://127.0.0.1:{port}") };
        server.wait_ready().await;
        server
    }

    async fn wait_ready(&mut self) {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            let health = client.get(format!("{}/health", self.uri)).timeout(Duration::from_secs(2)).send().await;
            if health.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            let exited = self.child.try_wait().ok().flatten();
            if exited.is_some() || Instant::now() >= deadline {
                let log = std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
                let tail: String =
                    log.lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
                panic!("mlflow server did not become ready (exit: {exited:?}); log tail:\n{tail}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for MlflowServer {
    fn drop(&mut self) {
        let Ok(pid) = i32::try_from(self.child.id()) else { return };
        let group = Pid::from_raw(pid);
        let _ = killpg(group, Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.child.try_wait().ok().flatten().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // Workers that ignored SIGTERM, or a leader that exited before them.
        let _ = killpg(group, Signal::SIGKILL);
        let _ = self.child.wait();
    }
}
