//! `metrics.source: mlflow` end to end: a real MLflow tracking server, a training script that
//! logs through the real `mlflow` client (resuming the run Revis created via `MLFLOW_RUN_ID`),
//! and a whole loop to max-iterations with every iteration's metrics and primary-metric curve
//! stored, and every MLflow run tagged with the session and iteration.

use std::time::Duration;

use revis_fixtures::mlflow::MlflowServer;
use revis_tests::TestEnv;
use revis_tests::project::Project;
use revis_tests::session::{ENDED_STATES, iterations, numbers, pretty, state, stop_reason};

const EXPERIMENT: &str = "revis-e2e";
/// Each run imports `mlflow` (seconds of start-up) and talks to the server.
const LOOP_DEADLINE: Duration = Duration::from_secs(300);
const STEPS: u32 = 5;

/// The standard loss of the test projects, logged as a curve that ends on it; no eval.json.
fn train_py() -> String {
    format!(
        r#"import json, math, os, sys

import mlflow

args = sys.argv[1:]
x = float(args[args.index("--x") + 1]) if "--x" in args else 0.0
with open("config.json") as f:
    lr = float(json.load(f)["lr"])
loss = 0.5 + (math.log10(lr) + 2) ** 2 + 0.1 * (x - 3) ** 2

# No run_id: the client resumes the run Revis created and named in MLFLOW_RUN_ID.
with mlflow.start_run() as run:
    print(f"mlflow run {{run.info.run_id}}: lr={{lr}} x={{x}}", flush=True)
    mlflow.log_param("lr", lr)
    for step in range({STEPS}):
        mlflow.log_metric("val_loss", loss + ({STEPS} - 1 - step) * 0.5, step=step)
    mlflow.log_metric("accuracy", 1 / (1 + loss))
    mlflow.log_metric("epoch", {STEPS})
print(f"val_loss={{loss}}", flush=True)
"#
    )
}

fn revis_yaml(tracking_uri: &str) -> String {
    format!(
        "entry:
  train: python3 train.py --x 1
  env:
    MLFLOW_DISABLE_TELEMETRY: 'true'
metrics:
  source: mlflow
  project: {EXPERIMENT}
  tracking_uri: {tracking_uri}
  primary: val_loss
  minimize: true
guardrails:
  plateau_runs: 50
  max_run_duration: 3m
  retry_budget: 3
search:
  strategy: tpe
  seed: 7
  space:
    lr: {{file: config.json, key: lr, low: 1.0e-4, high: 1.0, log: true}}
    x: {{arg: --x, values: [1, 2, 3, 4, 5]}}
"
    )
}

#[test]
fn mlflow_loop_stores_metrics_and_curves_for_every_iteration() {
    let server = MlflowServer::start();
    let project = Project::new();
    project
        .write("train.py", &train_py())
        .write("config.json", "{\n  \"lr\": 1.0\n}\n")
        .write("revis.yaml", &revis_yaml(&server.uri()));
    project.commit("baseline");
    let env = TestEnv::new(project);

    env.start_loop("mlf", &["--max-iterations", "4"]);
    let s = env.wait_show("mlf", LOOP_DEADLINE, "the mlflow session to end", |s| ENDED_STATES.contains(&state(s)));

    let context = || format!("{}\nmlflow server log:\n{}", pretty(&s), server.log_tail());
    assert_eq!(state(&s), "completed", "{}", context());
    assert_eq!(stop_reason(&s), "max_iterations", "{}", context());
    assert_eq!(numbers(&s), vec![0, 1, 2, 3], "{}", context());
    for it in iterations(&s) {
        assert_eq!(it["state"], "succeeded", "{}", context());
        let primary = it["primary"].as_f64().unwrap_or_else(|| panic!("no primary metric: {}", pretty(&it)));
        assert_eq!(it["metrics"]["val_loss"].as_f64(), Some(primary), "{}", pretty(&it));
        assert!(it["metrics"]["accuracy"].is_f64(), "{}", pretty(&it));
        // The curve: one point per logged step, ending on the value the run ended with.
        let history = it["history"].as_array().cloned().unwrap_or_default();
        assert_eq!(history.len(), STEPS as usize, "history of val_loss: {}", pretty(&it));
        let steps: Vec<f64> = history.iter().filter_map(|p| p["step"].as_f64()).collect();
        assert_eq!(steps, (0..STEPS).map(f64::from).collect::<Vec<_>>(), "{}", pretty(&it));
        let last = history.last().and_then(|p| p["value"].as_f64());
        assert_eq!(last, Some(primary), "{}", pretty(&it));
        let first = history.first().and_then(|p| p["value"].as_f64()).unwrap_or_default();
        assert!(first > primary, "the logged curve descends to the final value: {}", pretty(&it));
    }
    let baseline = s["iterations"][0]["primary"].as_f64().unwrap_or_default();
    let best = s["best"]["value"].as_f64().unwrap_or_else(|| panic!("no best value: {}", context()));
    assert!(best < baseline, "best {best} is not better than the baseline {baseline}");

    // One finished MLflow run per iteration, found by the tags Revis set, in the experiment
    // named by metrics.project.
    let runs = server.runs_tagged(EXPERIMENT, "revis.session", "mlf");
    let mut tagged: Vec<u64> = runs
        .iter()
        .filter_map(|run| {
            let tags = run["data"]["tags"].as_array()?;
            let tag = |key: &str| tags.iter().find(|t| t["key"] == key).and_then(|t| t["value"].as_str());
            assert_eq!(run["info"]["status"], "FINISHED", "{}", pretty(run));
            assert!(tag("revis.run_id").is_some_and(|id| !id.is_empty()), "{}", pretty(run));
            tag("revis.iteration")?.parse().ok()
        })
        .collect();
    tagged.sort_unstable();
    assert_eq!(tagged, vec![0, 1, 2, 3], "MLflow runs of session mlf: {runs:#?}");
}
