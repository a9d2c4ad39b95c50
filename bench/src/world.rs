//! The worlds the benchmarks measure: a project whose training does nearly nothing (so what is
//! timed is Revis), timing of whole CLI processes, and reading timestamps from `show --json`.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail};
use revis_tests::cli::revis_command;
use revis_tests::{Project, TestEnv, TestHome};
use serde_json::Value;

/// A training command that only writes its metric, `100 + x mod 97` for `--x N`: bounded, so no
/// proposal trips the divergence guardrail, and rugged, so the search never settles.
pub const TRAIN_SH: &str = r#"#!/bin/sh
x=$2
mkdir -p "$REVIS_OUTPUT_DIR"
echo "{\"metrics\": {\"val_loss\": $(( 100 + x % 97 ))}}" > "$REVIS_OUTPUT_DIR/eval.json"
"#;

/// revis.yaml around `train` (a command taking `--x N`), TPE over one integer knob with a
/// space far larger than any benchmark's session, and no plateau stop.
pub fn yaml(train: &str) -> String {
    format!(
        "entry:
  train: {train} --x 1
metrics:
  source: eval_json
  primary: val_loss
  minimize: true
guardrails:
  plateau_runs: 100000
  max_run_duration: 2m
  retry_budget: 3
search:
  strategy: tpe
  seed: 1
  space:
    x: {{arg: --x, low: 1, high: 100000, type: int}}
"
    )
}

/// A committed project running [`TRAIN_SH`].
pub fn quick_project() -> Project {
    let project = Project::new();
    project.write("train.sh", TRAIN_SH).write("revis.yaml", &yaml("sh train.sh"));
    project.commit("baseline");
    project
}

/// Wall time of one whole `revis args...` process, failing when it does.
pub fn time_cli(home: &TestHome, dir: &Path, args: &[&str]) -> anyhow::Result<Duration> {
    let mut cmd: Command = revis_command(home, dir, args);
    let start = Instant::now();
    let out: Output = cmd.output().with_context(|| format!("running revis {}", args.join(" ")))?;
    let took = start.elapsed();
    if !out.status.success() {
        bail!("revis {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    }
    Ok(took)
}

/// Starts `revis loop --name NAME extra...` and waits for the session to end.
pub fn run_session(env: &TestEnv, name: &str, extra: &[&str]) -> anyhow::Result<Value> {
    env.start_loop(name, extra);
    let session = env.wait_show(name, Duration::from_secs(300), "the session to end", |s| {
        revis_tests::session::ENDED_STATES.contains(&revis_tests::session::state(s))
    });
    let ran = session["iterations"].as_array().map_or(0, Vec::len);
    let failures: Vec<String> = session["iterations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|it| it["failure_reason"].as_str().map(|r| format!("iteration {}: {r}", it["number"])))
        .collect();
    if session["state"] == "failed" || !failures.is_empty() {
        bail!(
            "session {name} ended {} after {ran} iterations ({}); failures: {}",
            session["state"],
            session["stop_detail"].as_str().unwrap_or_default(),
            failures.join("; ")
        );
    }
    Ok(session)
}

/// A stored timestamp (RFC 3339) as a point in time.
pub fn instant_of(text: &str) -> anyhow::Result<SystemTime> {
    let at = chrono::DateTime::parse_from_rfc3339(text).with_context(|| format!("bad timestamp {text:?}"))?;
    let nanos = at.timestamp_nanos_opt().context("timestamp out of range")?;
    let nanos = u64::try_from(nanos).context("timestamp before 1970")?;
    Ok(SystemTime::UNIX_EPOCH + Duration::from_nanos(nanos))
}

/// Seconds between two stored timestamps of a JSON object.
pub fn span(value: &Value, from: &str, to: &str) -> anyhow::Result<f64> {
    let a = value[from].as_str().with_context(|| format!("no {from} in {value}"))?;
    let b = value[to].as_str().with_context(|| format!("no {to} in {value}"))?;
    Ok(instant_of(b)?.duration_since(instant_of(a)?).unwrap_or_default().as_secs_f64())
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
