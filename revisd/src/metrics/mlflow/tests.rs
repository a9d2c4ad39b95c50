//! The MLflow source against a real tracking server (one server for the whole scenario: it
//! takes many seconds to start) and against addresses where no server is.

use std::time::Duration;

use revis_fixtures::mlflow::MlflowServer;
use serde_json::{Value, json};

use super::*;

const EXPERIMENT: &str = "revis-unit";

fn ctx(uri: &str, run_id: &str, iteration: u32) -> RunContext {
    RunContext {
        session: "unit".into(),
        iteration,
        run_id: run_id.into(),
        project: Some(EXPERIMENT.into()),
        tracking_uri: Some(uri.into()),
        primary: "val_loss".into(),
        ..RunContext::default()
    }
}

fn env_value(env: &[(String, String)], key: &str) -> String {
    env.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()).unwrap_or_else(|| panic!("{key} missing in {env:?}"))
}

fn get_run(server: &MlflowServer, run_id: &str) -> Value {
    server.get(&format!("runs/get?run_id={run_id}"))
}

fn log_losses(server: &MlflowServer, run_id: &str, extra: &[(&str, Value)]) {
    let mut metrics: Vec<Value> = [0.9, 0.7, 0.4, 0.3]
        .iter()
        .enumerate()
        .map(|(step, v)| json!({"key": "val_loss", "value": v, "timestamp": 1000 + step, "step": step}))
        .collect();
    metrics.extend(extra.iter().map(|(k, v)| json!({"key": k, "value": v, "timestamp": 2000, "step": 0})));
    server.post("runs/log-batch", &json!({"run_id": run_id, "metrics": metrics}));
}

fn set_status(server: &MlflowServer, run_id: &str, status: &str) {
    server.post("runs/update", &json!({"run_id": run_id, "status": status, "end_time": 3000}));
}

fn tag(run: &Value, key: &str) -> Option<String> {
    run.pointer("/run/data/tags")?
        .as_array()?
        .iter()
        .find(|t| t["key"] == key)
        .and_then(|t| t["value"].as_str())
        .map(str::to_string)
}

#[tokio::test]
async fn against_a_real_tracking_server() {
    let server = MlflowServer::start();
    let uri = server.uri();
    let source = Mlflow::new().with_wait(Duration::from_secs(20));

    // prepare: the experiment is created and a tagged RUNNING run is handed to the training.
    let first = ctx(&uri, "unit-i1-a1", 1);
    let env = source.prepare(&first).await.expect("prepare");
    assert_eq!(env_value(&env, "MLFLOW_TRACKING_URI"), uri);
    assert_eq!(env_value(&env, "MLFLOW_EXPERIMENT_NAME"), EXPERIMENT);
    let run_id = env_value(&env, "MLFLOW_RUN_ID");
    let run = get_run(&server, &run_id);
    assert_eq!(run.pointer("/run/info/status").and_then(Value::as_str), Some("RUNNING"), "{run}");
    assert_eq!(
        run.pointer("/run/info/experiment_id").and_then(Value::as_str),
        Some(env_value(&env, "MLFLOW_EXPERIMENT_ID").as_str())
    );
    assert_eq!(tag(&run, TAG_SESSION).as_deref(), Some("unit"));
    assert_eq!(tag(&run, TAG_ITERATION).as_deref(), Some("1"));
    assert_eq!(tag(&run, TAG_RUN_ID).as_deref(), Some("unit-i1-a1"));

    // Rule: preparing the same Revis run again (a daemon restart) reuses its MLflow run.
    let restarted = Mlflow::new().with_wait(Duration::from_secs(20));
    let again = restarted.prepare(&first).await.expect("prepare again");
    assert_eq!(env_value(&again, "MLFLOW_RUN_ID"), run_id);

    // collect waits while the run is RUNNING, then reads latest values and the curve. The
    // restarted source finds the run by its tag alone.
    log_losses(&server, &run_id, &[("grad_norm", json!("NaN")), ("epoch", json!(3)), ("lr", json!(0.01))]);
    let finisher = {
        let uri = uri.clone();
        let run_id = run_id.clone();
        tokio::spawn(async move {
            let body = json!({"run_id": run_id, "status": "FINISHED", "end_time": 3000});
            reqwest::Client::new().post(format!("{uri}/api/2.0/mlflow/runs/update")).json(&body).send().await
        })
    };
    let collected = restarted.collect(&first).await.expect("collect");
    assert!(finisher.await.expect("finisher").is_ok_and(|r| r.status().is_success()));
    assert_eq!(collected.metrics["val_loss"], 0.3);
    assert!(collected.metrics["grad_norm"].is_nan(), "NaN is kept for the verdict: {collected:?}");
    assert_eq!(collected.history, Some(vec![(0.0, 0.9), (1.0, 0.7), (2.0, 0.4), (3.0, 0.3)]));
    assert!(collected.warnings.is_empty(), "{:?}", collected.warnings);

    // The real client resumes the prepared run through MLFLOW_RUN_ID and ends it itself.
    let second = ctx(&uri, "unit-i2-a1", 2);
    let env = source.prepare(&second).await.expect("prepare 2");
    let script = "import mlflow\nwith mlflow.start_run():\n    for s in range(5):\n        mlflow.log_metric('val_loss', 1.0 / (s + 1), step=s)\n";
    let output = std::process::Command::new("python3")
        .args(["-c", script])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("python3");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let collected = source.collect(&second).await.expect("collect 2");
    assert_eq!(collected.metrics["val_loss"], 0.2);
    assert_eq!(collected.history.as_ref().map(Vec::len), Some(5));

    // Rule: a run the training marked FAILED or KILLED is a failed iteration.
    let failed = ctx(&uri, "unit-i3-a1", 3);
    let env = source.prepare(&failed).await.expect("prepare 3");
    set_status(&server, &env_value(&env, "MLFLOW_RUN_ID"), "FAILED");
    let error = source.collect(&failed).await.expect_err("failed run").to_string();
    assert!(error.starts_with("mlflow: ") && error.contains("ended FAILED"), "{error}");

    // Rule: a run left RUNNING after the training ended counts with its latest metrics (and a
    // warning), and Revis closes it; without metrics it is an error and the run is KILLED.
    let quick = Mlflow::new().with_wait(Duration::from_millis(500));
    let dangling = ctx(&uri, "unit-i4-a1", 4);
    let env = quick.prepare(&dangling).await.expect("prepare 4");
    let dangling_run = env_value(&env, "MLFLOW_RUN_ID");
    log_losses(&server, &dangling_run, &[]);
    let collected = quick.collect(&dangling).await.expect("dangling with metrics");
    assert_eq!(collected.metrics["val_loss"], 0.3);
    assert!(collected.warnings.iter().any(|w| w.contains("still RUNNING")), "{:?}", collected.warnings);
    let run = get_run(&server, &dangling_run);
    assert_eq!(run.pointer("/run/info/status").and_then(Value::as_str), Some("FINISHED"));

    let empty = ctx(&uri, "unit-i5-a1", 5);
    let env = quick.prepare(&empty).await.expect("prepare 5");
    let error = quick.collect(&empty).await.expect_err("no metrics").to_string();
    assert!(error.contains("still RUNNING with no metrics"), "{error}");
    let run = get_run(&server, &env_value(&env, "MLFLOW_RUN_ID"));
    assert_eq!(run.pointer("/run/info/status").and_then(Value::as_str), Some("KILLED"));

    // A run Revis never prepared is an error naming the tag it looked for.
    let error = Mlflow::new().collect(&ctx(&uri, "never-prepared", 6)).await.expect_err("unknown").to_string();
    assert!(error.contains("revis.run_id=never-prepared"), "{error}");

    // Discovery for init: real experiment names and objective-like metric keys only.
    let names = experiments(&uri).await.expect("experiments");
    assert!(names.iter().any(|n| n == EXPERIMENT), "{names:?}");
    let keys = metric_keys(&uri, EXPERIMENT).await.expect("metric keys");
    assert_eq!(keys, vec!["grad_norm".to_string(), "val_loss".to_string()]);
    let error = metric_keys(&uri, "no-such-experiment").await.expect_err("unknown experiment").to_string();
    assert!(error.contains("no-such-experiment"), "{error}");
}

#[tokio::test]
async fn missing_unsupported_and_unreachable_servers_are_clear_errors() {
    let source = Mlflow::new();
    let mut local = ctx("file:///tmp/mlruns", "r", 1);
    let error = source.prepare(&local).await.expect_err("file store").to_string();
    assert!(error.contains("not an http(s) tracking server"), "{error}");

    if std::env::var_os("MLFLOW_TRACKING_URI").is_none() {
        local.tracking_uri = None;
        let error = source.prepare(&local).await.expect_err("no uri").to_string();
        assert!(error.contains("metrics.tracking_uri"), "{error}");
    }

    let port = revis_fixtures::wait::closed_port();
    let gone = ctx(&format!("http://user:secret@127.0.0.1:{port}"), "r", 1);
    let error = source.prepare(&gone).await.expect_err("nothing listens").to_string();
    assert!(error.contains("unreachable"), "{error}");
    assert!(!error.contains("secret"), "credentials leaked into: {error}");
}
