//! Event latency, seen by real CLI clients: from a line the training appends to its log to that
//! line printed by `revis logs -f`, and from a phase change recorded by the daemon to the event
//! printed by `revis watch --json`. Both ends read the same clock (one machine).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail};
use revis_tests::cli::revis_command;
use revis_tests::{Project, TestEnv};
use serde_json::Value;

use crate::report::{Figure, Report, Target, median_p95};
use crate::world::{self, quick_project};

const LOG_LINES: usize = 100;
const WATCH_ITERATIONS: u32 = 30;
const TARGET_MS: f64 = 100.0;
const DEADLINE: Duration = Duration::from_secs(120);

pub fn run() -> anyhow::Result<Report> {
    let (log_lat, log_detail) = log_latency()?;
    let (watch_lat, kinds) = watch_latency()?;
    let mut report = Report::new("Event latency (real `revis logs -f` and `revis watch --json` clients)");
    let (p50, p95) = median_p95(&log_lat);
    report.note(format!("{} log lines, one every 50 ms ({log_detail})", log_lat.len()));
    report.figure(Figure::new("log line → `logs -f` client: p50", p50, "ms"));
    report.figure(Figure::new("log line → `logs -f` client: p95", p95, "ms").target(Target::AtMost(TARGET_MS)));
    let (p50, p95) = median_p95(&watch_lat);
    report.note(format!("{} live events over {WATCH_ITERATIONS} iterations ({kinds})", watch_lat.len()));
    report.figure(Figure::new("phase change → `watch` client: p50", p50, "ms"));
    report.figure(Figure::new("phase change → `watch` client: p95", p95, "ms").target(Target::AtMost(TARGET_MS)));
    Ok(report)
}

/// A client process whose stdout lines arrive, time-stamped, on a channel; killed on drop.
struct Client {
    child: Child,
    lines: mpsc::Receiver<(SystemTime, String)>,
}

impl Client {
    fn spawn(mut cmd: Command) -> anyhow::Result<Self> {
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().context("starting a revis client")?;
        let stdout = child.stdout.take().context("client without stdout")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send((SystemTime::now(), line)).is_err() {
                    break;
                }
            }
        });
        Ok(Self { child, lines })
    }

    fn next(&self, deadline: Instant) -> Option<(SystemTime, String)> {
        self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())).ok()
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A training that waits for the go file, then prints `tick <unix nanos>` every 50 ms.
fn ticker(go: &std::path::Path) -> String {
    format!(
        r#"import json, os, sys, time
go = {go:?}
deadline = time.time() + 120
while not os.path.exists(go) and time.time() < deadline:
    time.sleep(0.01)
for i in range({LOG_LINES}):
    print(f"tick {{time.time_ns()}}", flush=True)
    time.sleep(0.05)
os.makedirs(os.environ["REVIS_OUTPUT_DIR"], exist_ok=True)
with open(os.path.join(os.environ["REVIS_OUTPUT_DIR"], "eval.json"), "w") as f:
    json.dump({{"metrics": {{"val_loss": 1.0}}}}, f)
"#,
        go = go.display().to_string()
    )
}

fn log_latency() -> anyhow::Result<(Vec<f64>, String)> {
    let project = Project::new();
    let go = project.ctl_file("go");
    project.write("ticker.py", &ticker(&go)).write("revis.yaml", &world::yaml("python3 ticker.py"));
    project.commit("baseline");
    let env = TestEnv::new(project);
    env.start_loop("ticks", &["--max-iterations", "1"]);
    let client = Client::spawn(revis_command(&env.home, env.project.path(), &["logs", "ticks", "-f"]))?;
    let deadline = Instant::now() + DEADLINE;
    // The client is connected once it printed something (the replayed events).
    if client.next(deadline).is_none() {
        bail!("`revis logs -f` printed nothing");
    }
    std::fs::write(&go, "").context("writing the go file")?;
    let mut latencies = Vec::new();
    while latencies.len() < LOG_LINES {
        let Some((arrived, line)) = client.next(deadline) else {
            bail!("only {} of {LOG_LINES} log lines reached `revis logs -f`", latencies.len());
        };
        let Some(stamp) = line.split_whitespace().skip_while(|w| *w != "tick").nth(1) else { continue };
        let Ok(nanos) = stamp.parse::<u64>() else { continue };
        let written = SystemTime::UNIX_EPOCH + Duration::from_nanos(nanos);
        latencies.push(arrived.duration_since(written).unwrap_or_default().as_secs_f64() * 1000.0);
    }
    drop(client);
    env.wait_ended("ticks");
    Ok((latencies, "the training flushes each line to its log".into()))
}

fn watch_latency() -> anyhow::Result<(Vec<f64>, String)> {
    let env = TestEnv::new(quick_project());
    env.revis_ok(&["status"]);
    env.start_loop("phases", &["--max-iterations", &WATCH_ITERATIONS.to_string()]);
    let connected = SystemTime::now();
    let client = Client::spawn(revis_command(&env.home, env.project.path(), &["watch", "phases", "--json"]))?;
    let deadline = Instant::now() + DEADLINE;
    let mut latencies = Vec::new();
    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    while let Some((arrived, line)) = client.next(deadline) {
        let Ok(event) = serde_json::from_str::<Value>(&line) else { continue };
        let at = event["at"].as_str().context("an event without `at`")?;
        let recorded = world::instant_of(at)?;
        // Events replayed from before the client connected measure the replay, not latency.
        if recorded > connected + Duration::from_millis(200) {
            latencies.push(arrived.duration_since(recorded).unwrap_or_default().as_secs_f64() * 1000.0);
            *kinds.entry(event["kind"].as_str().unwrap_or("?").to_string()).or_default() += 1;
        }
        if event["kind"] == "session_ended" {
            break;
        }
    }
    if latencies.is_empty() {
        bail!("`revis watch --json` printed no live event");
    }
    let kinds: Vec<String> = kinds.iter().map(|(k, n)| format!("{k} {n}")).collect();
    Ok((latencies, kinds.join(", ")))
}
