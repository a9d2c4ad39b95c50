//! The W&B source against a loopback fake of the GraphQL API and fabricated local run dirs.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use revis_fixtures::wandb::{FakeWandb, history_reply, null_run, run_reply};
use serde_json::json;

use super::*;
use crate::metrics::{MetricsError, MetricsSource, RunContext};

const RUN_ID: &str = "k7-i1-a1";
/// base64("api:KEY123")
const BASIC_KEY123: &str = "Basic YXBpOktFWTEyMw==";

fn fast() -> Timing {
    Timing {
        appear: Duration::from_millis(300),
        finish: Duration::from_secs(5),
        poll: Duration::from_millis(10),
        poll_max: Duration::from_millis(40),
        request: Duration::from_secs(5),
        attempts: 3,
        backoff: Duration::from_millis(10),
    }
}

/// A context whose W&B variables are all set here (empty masks the test process's own), with
/// HOME in `dir` so no real ~/.netrc is read.
fn ctx(dir: &Path, vars: &[(&str, &str)]) -> RunContext {
    let mut env: Vec<(String, String)> =
        ["WANDB_API_KEY", "WANDB_BASE_URL", "WANDB_MODE", "WANDB_DIR", "WANDB_ENTITY", "WANDB_PROJECT", "NETRC"]
            .iter()
            .map(|k| (k.to_string(), String::new()))
            .collect();
    env.push(("HOME".into(), dir.display().to_string()));
    env.extend(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    RunContext {
        worktree: dir.join("wt"),
        run_id: RUN_ID.into(),
        session: "s".into(),
        iteration: 1,
        primary: "val_loss".into(),
        project: Some("p".into()),
        entity: Some("team".into()),
        env,
        ..RunContext::default()
    }
}

async fn collect(ctx: &RunContext) -> Result<Collected, MetricsError> {
    Wandb::with_timing(fast()).collect(ctx).await
}

fn summary() -> serde_json::Value {
    json!({"val_loss": 0.25, "acc": 0.9, "_step": 2, "_runtime": 3.5, "_timestamp": 1.7e9, "_wandb": {"runtime": 3}})
}

fn history_rows() -> Vec<serde_json::Value> {
    vec![
        json!({"_step": 0, "val_loss": 1.0}),
        json!({"_step": 1, "val_loss": 0.5}),
        json!({"_step": 2, "val_loss": 0.25}),
    ]
}

fn message(result: Result<Collected, MetricsError>) -> String {
    match result {
        Ok(c) => panic!("expected an error, got {c:?}"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn finished_run_gives_summary_metrics_and_the_primary_curve() {
    let server = FakeWandb::start(|r| match r.kind() {
        "run" => run_reply(RUN_ID, "finished", &summary(), 3),
        "history" => history_reply(&history_rows()),
        _ => (400, "{}".into()),
    });
    let dir = tempfile::tempdir().unwrap();
    let c = collect(&ctx(dir.path(), &[("WANDB_API_KEY", "KEY123"), ("WANDB_BASE_URL", &server.url)])).await.unwrap();
    assert_eq!(c.metrics.len(), 2, "{:?}", c.metrics);
    assert_eq!(c.metrics["val_loss"], 0.25);
    assert_eq!(c.metrics["acc"], 0.9);
    assert_eq!(c.history, Some(vec![(0.0, 1.0), (1.0, 0.5), (2.0, 0.25)]));
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    let requests = server.requests();
    assert!(requests.iter().all(|r| r.authorization.as_deref() == Some(BASIC_KEY123)), "{requests:?}");
    let run = requests.iter().find(|r| r.kind() == "run").unwrap();
    assert_eq!(run.var("entity"), "team");
    assert_eq!(run.var("project"), "p");
    assert_eq!(run.var("name"), RUN_ID);
}

#[tokio::test]
async fn a_running_run_is_polled_until_it_finishes() {
    let polls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&polls);
    let server = FakeWandb::start(move |r| match r.kind() {
        "run" => {
            let state = if seen.fetch_add(1, Ordering::SeqCst) < 2 { "running" } else { "finished" };
            let value = if state == "running" { 0.5 } else { 0.25 };
            run_reply(RUN_ID, state, &json!({"val_loss": value}), 0)
        }
        _ => (400, "{}".into()),
    });
    let dir = tempfile::tempdir().unwrap();
    let c = collect(&ctx(dir.path(), &[("WANDB_API_KEY", "KEY123"), ("WANDB_BASE_URL", &server.url)])).await.unwrap();
    assert_eq!(c.metrics["val_loss"], 0.25, "the final summary, not one read while running");
    assert_eq!(server.count("run"), 3);
    assert_eq!(server.count("history"), 0, "historyLineCount 0 needs no history query");
    assert_eq!(c.history, None);
}

#[tokio::test]
async fn a_run_stuck_in_running_is_used_with_a_warning_after_the_deadline() {
    let server = FakeWandb::start(|r| match r.kind() {
        "run" => run_reply(RUN_ID, "running", &json!({"val_loss": 0.5}), 0),
        _ => (400, "{}".into()),
    });
    let dir = tempfile::tempdir().unwrap();
    let source = Wandb::with_timing(Timing { finish: Duration::from_millis(100), ..fast() });
    let c = source
        .collect(&ctx(dir.path(), &[("WANDB_API_KEY", "KEY123"), ("WANDB_BASE_URL", &server.url)]))
        .await
        .unwrap();
    assert_eq!(c.metrics["val_loss"], 0.5);
    assert!(c.warnings.iter().any(|w| w.contains("still showed 'running'")), "{:?}", c.warnings);
}

#[tokio::test]
async fn unauthorized_is_a_clear_error_without_retries() {
    let server = FakeWandb::start(|_| (401, r#"{"errors":[{"message":"user is not logged in"}]}"#.into()));
    let dir = tempfile::tempdir().unwrap();
    let err = message(
        collect(&ctx(dir.path(), &[("WANDB_API_KEY", "sekrit-key-xyz"), ("WANDB_BASE_URL", &server.url)])).await,
    );
    assert!(err.contains("W&B rejected the API key (WANDB_API_KEY / ~/.netrc"), "{err}");
    assert!(err.contains("no local run directory"), "{err}");
    assert!(!err.contains("sekrit-key-xyz"), "the key must not appear in messages: {err}");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn server_errors_are_retried() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let server = FakeWandb::start(move |r| {
        if seen.fetch_add(1, Ordering::SeqCst) == 0 {
            return (500, "internal error".into());
        }
        match r.kind() {
            "run" => run_reply(RUN_ID, "finished", &summary(), 3),
            "history" => history_reply(&history_rows()),
            _ => (400, "{}".into()),
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let c = collect(&ctx(dir.path(), &[("WANDB_API_KEY", "KEY123"), ("WANDB_BASE_URL", &server.url)])).await.unwrap();
    assert_eq!(c.metrics["val_loss"], 0.25);
    assert_eq!(server.count("run"), 2);

    let failing = FakeWandb::start(|_| (503, "maintenance".into()));
    let err =
        message(collect(&ctx(dir.path(), &[("WANDB_API_KEY", "KEY123"), ("WANDB_BASE_URL", &failing.url)])).await);
    assert!(err.contains("HTTP 503 after 3 attempts: maintenance"), "{err}");
    assert_eq!(failing.requests().len(), 3);
}

#[tokio::test]
async fn a_run_that_never_appears_fails_after_the_deadline() {
    let server = FakeWandb::start(|r| match r.kind() {
        "run" => null_run(),
        _ => (400, "{}".into()),
    });
    let dir = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let err = message(collect(&ctx(dir.path(), &[("WANDB_API_KEY", "KEY123"), ("WANDB_BASE_URL", &server.url)])).await);
    assert!(started.elapsed() >= Duration::from_millis(300), "gave up before the deadline");
    assert!(err.contains(&format!("W&B run team/p/{RUN_ID} never appeared")), "{err}");
    assert!(server.count("run") >= 2, "polled more than once");
}

#[tokio::test]
async fn netrc_entry_for_the_host_is_used_and_the_entity_defaults_to_the_viewer() {
    let server = FakeWandb::start(|r| match r.kind() {
        "viewer" => (200, json!({"data": {"viewer": {"id": "1", "entity": "me", "username": "me"}}}).to_string()),
        "run" if r.var("entity") == "me" && r.var("project") == "proj2" => run_reply(RUN_ID, "finished", &summary(), 0),
        "run" => null_run(),
        _ => (400, "{}".into()),
    });
    let dir = tempfile::tempdir().unwrap();
    let port = server.url.rsplit(':').next().unwrap().to_string();
    std::fs::write(
        dir.path().join(".netrc"),
        format!("machine api.wandb.ai\n  login user\n  password OTHER\nmachine 127.0.0.1:{port}\n  login user\n  password KEY123\n"),
    )
    .unwrap();
    let mut context = ctx(dir.path(), &[("WANDB_BASE_URL", &format!("{}/", server.url)), ("WANDB_PROJECT", "proj2")]);
    context.entity = None;
    context.project = None;
    let c = collect(&context).await.unwrap();
    assert_eq!(c.metrics["val_loss"], 0.25);
    assert!(server.requests().iter().all(|r| r.authorization.as_deref() == Some(BASIC_KEY123)));
}

fn write_offline_run(worktree: &Path, prefix: &str) -> std::path::PathBuf {
    let run = worktree.join(format!("wandb/{prefix}-20260101_000000-{RUN_ID}"));
    std::fs::create_dir_all(run.join("files")).unwrap();
    // Another run's directory whose id merely ends like ours.
    std::fs::create_dir_all(worktree.join(format!("wandb/{prefix}-20260101_000000-x{RUN_ID}/files"))).unwrap();
    run
}

#[tokio::test]
async fn offline_run_files_are_read_without_the_api() {
    let server = FakeWandb::start(|_| (500, "must not be called".into()));
    let dir = tempfile::tempdir().unwrap();
    let context = ctx(dir.path(), &[("WANDB_API_KEY", "KEY123"), ("WANDB_BASE_URL", &server.url)]);
    let run = write_offline_run(&context.worktree, "offline-run");
    std::fs::write(
        run.join("files/wandb-summary.json"),
        r#"{"val_loss": 0.125, "_step": 4, "_wandb": {"runtime": 1}}"#,
    )
    .unwrap();
    std::fs::write(
        run.join("files/wandb-history.jsonl"),
        "{\"_step\":0,\"val_loss\":0.5}\n{\"_step\":4,\"val_loss\":0.125}\n",
    )
    .unwrap();
    let c = collect(&context).await.unwrap();
    assert_eq!(c.metrics.len(), 1, "{:?}", c.metrics);
    assert_eq!(c.metrics["val_loss"], 0.125);
    assert_eq!(c.history, Some(vec![(0.0, 0.5), (4.0, 0.125)]));
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn offline_run_log_gives_summary_and_history() {
    let dir = tempfile::tempdir().unwrap();
    let context = ctx(dir.path(), &[("WANDB_MODE", "offline"), ("WANDB_DIR", "out")]);
    let wandb_dir = context.worktree.join("out");
    let run = write_offline_run(&wandb_dir, "offline-run");
    let mut records = Vec::new();
    for (step, loss) in [(0, "1.0"), (1, "0.5"), (2, "0.25")] {
        records.extend(datastore::tests::step_records(step, &[("val_loss", loss), ("lr", "0.1")]));
    }
    std::fs::write(run.join(format!("run-{RUN_ID}.wandb")), datastore::tests::encode(&records)).unwrap();
    let c = collect(&context).await.unwrap();
    assert_eq!(c.metrics["val_loss"], 0.25);
    assert_eq!(c.metrics["lr"], 0.1);
    assert!(!c.metrics.contains_key("_step"));
    assert_eq!(c.history, Some(vec![(0.0, 1.0), (1.0, 0.5), (2.0, 0.25)]));
}

#[tokio::test]
async fn unreachable_api_falls_back_to_the_online_run_dir() {
    // A port that was just free: connection refused.
    let port = revis_fixtures::wait::closed_port();
    let dir = tempfile::tempdir().unwrap();
    let context =
        ctx(dir.path(), &[("WANDB_API_KEY", "KEY123"), ("WANDB_BASE_URL", &format!("http://127.0.0.1:{port}"))]);
    let run = write_offline_run(&context.worktree, "run");
    std::fs::write(run.join("files/wandb-summary.json"), r#"{"val_loss": NaN, "acc": 1}"#).unwrap();
    let c = collect(&context).await.unwrap();
    assert!(c.metrics["val_loss"].is_nan());
    assert!(c.warnings.iter().any(|w| w.contains("unreachable") && w.contains("local run files")), "{:?}", c.warnings);
}

#[tokio::test]
async fn missing_key_and_missing_files_name_both() {
    let dir = tempfile::tempdir().unwrap();
    let err = message(collect(&ctx(dir.path(), &[])).await);
    assert!(err.contains("no W&B API key") && err.contains("api.wandb.ai") && err.contains(RUN_ID), "{err}");
    let err = message(collect(&ctx(dir.path(), &[("WANDB_MODE", "offline")])).await);
    assert!(err.contains("offline (WANDB_MODE=offline)"), "{err}");
    // A run directory without summary or log (the client died before finishing).
    let context = ctx(dir.path(), &[("WANDB_MODE", "offline")]);
    write_offline_run(&context.worktree, "offline-run");
    let err = message(collect(&context).await);
    assert!(err.contains("neither files/wandb-summary.json nor"), "{err}");
}

#[tokio::test]
async fn discovery_lists_projects_across_pages_and_objective_like_keys() {
    let server = FakeWandb::start(|r| match r.kind() {
        "projects" => {
            let page = if r.var("cursor").is_null() {
                json!({"edges": [{"node": {"name": "b", "entityName": "team"}}], "pageInfo": {"endCursor": "c1", "hasNextPage": true}})
            } else {
                json!({"edges": [{"node": {"name": "a", "entityName": "team"}}], "pageInfo": {"endCursor": null, "hasNextPage": false}})
            };
            (200, json!({"data": {"models": page}}).to_string())
        }
        "runs" => {
            let node = |s: serde_json::Value| json!({"node": {"name": "r", "state": "finished", "summaryMetrics": s.to_string()}});
            let edges = vec![
                node(json!({"val_loss": 1, "train/lr": 0.1, "epoch": 3, "_step": 9, "eval": {"acc": 0.5}})),
                node(json!({"throughput": 100, "samples_per_sec": 5, "f1": 0.3, "note": "x"})),
            ];
            (200, json!({"data": {"project": {"runs": {"edges": edges}}}}).to_string())
        }
        _ => (400, "{}".into()),
    });
    let connection = Connection { base_url: server.url.clone(), api_key: Some("KEY123".into()) };
    assert_eq!(projects(&connection, Some("team")).await.unwrap(), vec!["a", "b"]);
    assert_eq!(metric_keys(&connection, Some("team"), "p").await.unwrap(), vec!["eval.acc", "f1", "val_loss"]);
    let no_key = Connection { base_url: server.url.clone(), api_key: None };
    assert!(matches!(projects(&no_key, Some("team")).await, Err(DiscoveryError::NoKey(_))));
}

#[test]
fn netrc_default_entry_and_key_masking() {
    assert_eq!(
        auth::netrc_password("machine a login x password p1\ndefault login y password p2", "a"),
        Some("p1".into())
    );
    assert_eq!(
        auth::netrc_password("machine a login x password p1\ndefault login y password p2", "b"),
        Some("p2".into())
    );
    assert_eq!(auth::netrc_password("machine a login x password p1", "b"), None);
    let c = Connection { base_url: "https://x".into(), api_key: Some("SECRET".into()) };
    assert!(!format!("{c:?}").contains("SECRET"));
}
