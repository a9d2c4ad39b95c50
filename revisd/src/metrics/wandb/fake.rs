//! A loopback HTTP/1.1 server that answers GraphQL the way W&B does, for tests: one request per
//! connection (`Connection: close`), answers from a test-supplied function, every request kept.
//!
//! Must not: outlive its test (the accept loop is aborted on drop).

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Clone)]
pub struct Request {
    pub authorization: Option<String>,
    pub body: Value,
}

impl Request {
    /// Which of the queries in `api.rs` this is.
    pub fn kind(&self) -> &'static str {
        let query = self.body["query"].as_str().unwrap_or_default();
        if query.contains("history(samples") {
            "history"
        } else if query.contains("summaryMetrics historyLineCount") {
            "run"
        } else if query.contains("viewer") {
            "viewer"
        } else if query.contains("models(") {
            "projects"
        } else if query.contains("runs(first") {
            "runs"
        } else {
            "unknown"
        }
    }

    pub fn var(&self, name: &str) -> &Value {
        &self.body["variables"][name]
    }
}

type Handler = Arc<dyn Fn(&Request) -> (u16, String) + Send + Sync>;

pub struct FakeWandb {
    pub url: String,
    requests: Arc<Mutex<Vec<Request>>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeWandb {
    pub async fn start(handler: impl Fn(&Request) -> (u16, String) + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let url = format!("http://{}", listener.local_addr().expect("local addr"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let handler: Handler = Arc::new(handler);
        let kept = Arc::clone(&requests);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let handler = Arc::clone(&handler);
                let kept = Arc::clone(&kept);
                tokio::spawn(async move {
                    let _ = serve(stream, handler, kept).await;
                });
            }
        });
        Self { url, requests, task }
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().expect("requests lock").clone()
    }

    pub fn count(&self, kind: &str) -> usize {
        self.requests().iter().filter(|r| r.kind() == kind).count()
    }
}

impl Drop for FakeWandb {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(mut stream: TcpStream, handler: Handler, kept: Arc<Mutex<Vec<Request>>>) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let header = |name: &str| {
        head.lines().find_map(|line| {
            let (k, v) = line.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    };
    let length: usize = header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = serde_json::from_slice(&buf[head_end..]).unwrap_or(Value::Null);
    let request = Request { authorization: header("authorization"), body };
    kept.lock().expect("requests lock").push(request.clone());
    let (status, body) = handler(&request);
    let response = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

/// `run(name)` as W&B answers it: `config` and `summaryMetrics` are JSON strings.
pub fn run_reply(name: &str, state: &str, summary: &Value, history_lines: i64) -> (u16, String) {
    let run = json!({
        "id": "UnVuOnYxOnh5eg==",
        "name": name,
        "displayName": "bright-sun-7",
        "state": state,
        "config": json!({"lr": {"value": 0.001, "desc": null}}).to_string(),
        "summaryMetrics": summary.to_string(),
        "historyLineCount": history_lines,
    });
    (200, json!({"data": {"project": {"run": run}}}).to_string())
}

/// `history(samples)`: one JSON string per row.
pub fn history_reply(rows: &[Value]) -> (u16, String) {
    let rows: Vec<String> = rows.iter().map(Value::to_string).collect();
    (200, json!({"data": {"project": {"run": {"history": rows}}}}).to_string())
}

pub fn null_run() -> (u16, String) {
    (200, json!({"data": {"project": {"run": null}}}).to_string())
}
