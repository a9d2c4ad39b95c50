//! Early stopping from the histories W&B and MLflow keep: with `metrics.source: mlflow` or
//! `wandb`, the run's curve is read from the source while the training runs (no progress file),
//! and `guardrails.early_stop: median` stops a losing run from it. The curves are known:
//! val_loss = 0.1 + (x - 7)² / 100 + 1 / step, so x = 20 loses from its first step.
//!
//! MLflow: a real tracking server and the real `mlflow` client. W&B: the loopback GraphQL API
//! (W&B's cloud cannot be reached from here), answering the run and its sampled history from
//! what the training has logged so far.

use std::path::{Path, PathBuf};
use std::time::Duration;

use revis_fixtures::mlflow::MlflowServer;
use revis_fixtures::wandb::{FakeWandb, history_reply, null_run, run_reply};
use revis_tests::session::{ENDED_STATES, iteration, iterations, pretty, state};
use revis_tests::{Project, TestEnv};
use serde_json::{Value, json};

const STEPS: u32 = 8;
/// Each MLflow run imports `mlflow` (seconds) and logs a step a second.
const LOOP_DEADLINE: Duration = Duration::from_secs(300);
const GUARDRAILS: &str = "  plateau_runs: 50
  max_run_duration: 2m
  early_stop: median
  min_steps: 2
  min_runs: 3
";

fn finished(project: &Project) -> Vec<u64> {
    std::fs::read_to_string(project.ctl_file("finished.log"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// The grid x = 7, 6, 8, 20 after the baseline (x = 1): the last run loses at every step and
/// is stopped from the source's curve after `min_steps`, before its end.
fn check_the_loser_was_stopped(project: &Project, s: &Value) {
    assert_eq!(state(s), "completed", "{}", pretty(s));
    for it in iterations(s) {
        let n = it["number"].as_u64().unwrap_or_default();
        let points = it["history"].as_array().map(Vec::len).unwrap_or_default();
        assert!(points >= 2, "iteration {n} kept the source's curve: {}", pretty(&it));
    }
    let losing = iteration(s, 4).unwrap_or_else(|| panic!("no iteration 4: {}", pretty(s)));
    assert_eq!(losing["outcome"], "stopped_early", "{}", pretty(&losing));
    let step = losing["stopped_at_step"].as_f64().unwrap_or_default();
    assert!((2.0..f64::from(STEPS)).contains(&step), "stopped at step {step}: {}", pretty(&losing));
    assert!(!finished(project).contains(&4), "the stopped run never finished: {:?}", finished(project));
    for n in [1, 2, 3] {
        assert_ne!(iteration(s, n).unwrap_or_default()["outcome"], "stopped_early", "{}", pretty(s));
    }
    assert_eq!(s["best"]["iteration"], 1, "{}", pretty(s));
}

fn yaml(metrics: &str, train: &str) -> String {
    format!(
        "entry:
  train: {train} --x 1
metrics:
{metrics}  primary: val_loss
  minimize: true
guardrails:
{GUARDRAILS}search:
  strategy: grid
  space:
    x: {{arg: --x, values: [7, 6, 8, 20]}}
"
    )
}

#[test]
fn mlflow_histories_stop_a_losing_run_while_it_trains() {
    let server = MlflowServer::start();
    let project = Project::new();
    let ctl = project.ctl().display().to_string();
    let train = format!(
        r#"import os, sys, time
import mlflow

args = sys.argv[1:]
x = float(args[args.index("--x") + 1])
with mlflow.start_run():
    for step in range(1, {STEPS} + 1):
        mlflow.log_metric("val_loss", 0.1 + (x - 7) ** 2 / 100 + 1 / step, step=step)
        time.sleep(1.0)
with open(os.path.join({ctl:?}, "finished.log"), "a") as f:
    f.write(os.environ["REVIS_ITERATION"] + "\n")
"#
    );
    let metrics = format!("  source: mlflow\n  project: early\n  tracking_uri: {}\n", server.uri());
    let yaml = yaml(&metrics, "python3 train.py")
        .replace("entry:\n", "entry:\n  env:\n    MLFLOW_DISABLE_TELEMETRY: 'true'\n");
    project.write("train.py", &train).write("revis.yaml", &yaml);
    project.commit("a training that logs its curve to MLflow");
    let env = TestEnv::new(project);
    env.start_loop("mlf", &["--max-iterations", "5"]);
    let s = env.wait_show("mlf", LOOP_DEADLINE, "the session to end", |s| ENDED_STATES.contains(&state(s)));
    check_the_loser_was_stopped(&env.project, &s);
}

/// What the fake W&B API answers: each run's rows as the training logged them, `running` until
/// the training marks it finished.
fn wandb_answer(ctl: &Path, request: &revis_fixtures::wandb::Request) -> (u16, String) {
    let name = request.var("name").as_str().unwrap_or_default().to_string();
    let rows_file: PathBuf = ctl.join(format!("wb-{name}.jsonl"));
    let rows: Vec<Value> = std::fs::read_to_string(&rows_file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    match request.kind() {
        "run" if rows.is_empty() => null_run(),
        "run" => {
            let done = ctl.join(format!("wb-{name}.done")).exists();
            let last = rows.last().cloned().unwrap_or(Value::Null);
            let summary = json!({"val_loss": last["val_loss"], "_step": last["_step"]});
            run_reply(&name, if done { "finished" } else { "running" }, &summary, rows.len() as i64)
        }
        "history" => history_reply(&rows),
        other => (400, json!({"errors": [{"message": format!("unexpected query {other}")}]}).to_string()),
    }
}

#[test]
fn wandb_histories_stop_a_losing_run_while_it_trains() {
    let project = Project::new();
    let ctl = project.ctl().to_path_buf();
    let server = {
        let ctl = ctl.clone();
        FakeWandb::start(move |request| wandb_answer(&ctl, request))
    };
    // The training as W&B sees it: a row per step (what the client uploads as it goes), and
    // the run finished when it ends.
    let train = format!(
        r#"x=$2
ctl={ctl}
s=1
while [ $s -le {STEPS} ]; do
  awk -v x="$x" -v s="$s" 'BEGIN {{ printf "{{\"_step\": %d, \"val_loss\": %.4f}}\n", s, 0.1 + (x - 7) * (x - 7) / 100 + 1 / s }}' >> "$ctl/wb-$WANDB_RUN_ID.jsonl"
  sleep 0.8
  s=$((s + 1))
done
touch "$ctl/wb-$WANDB_RUN_ID.done"
echo "$REVIS_ITERATION" >> "$ctl/finished.log"
"#,
        ctl = ctl.display()
    );
    project
        .write("train.sh", &train)
        .write("revis.yaml", &yaml("  source: wandb\n  project: p\n  entity: lab\n", "sh train.sh"));
    project.commit("a training that logs its curve to W&B");
    let env = TestEnv::new(project);
    let key = format!("wandb-test-key-{}", std::process::id());
    let vars = [("WANDB_API_KEY".to_string(), key.clone()), ("WANDB_BASE_URL".to_string(), server.url.clone())];
    env.revis_env_ok(&["loop", "--name", "wb", "--max-iterations", "5"], &vars);
    let s = env.wait_show("wb", LOOP_DEADLINE, "the session to end", |s| ENDED_STATES.contains(&state(s)));
    check_the_loser_was_stopped(&env.project, &s);
    // The curve came from the API while the run went on, with the session's key.
    let requests = server.requests();
    assert!(requests.iter().filter(|r| r.kind() == "history").count() >= 5, "{} requests", requests.len());
    assert!(requests.iter().all(|r| r.authorization.as_deref().is_some_and(|a| a.starts_with("Basic "))));
}
