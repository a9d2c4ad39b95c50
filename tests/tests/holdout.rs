//! `metrics.holdout`: a second metric the advisor never sees. The LLM advisor (a loopback fake
//! of Anthropic's API) asks for the training log and the history; neither, nor any prompt,
//! carries the holdout's name or values. Promoted trials keep it and show it beside the
//! primary; a gain on the primary bought with a worse holdout is reported as overfitting.

use revis_tests::fakes::{FakeLlm, Reply, change, config_edit, submit, tool_call};
use revis_tests::llm::{assert_no_violations, env_of, fake_key};
use revis_tests::session::{iteration, pretty, state};
use revis_tests::{Project, TestEnv};
use serde_json::json;

/// val_loss falls with lr towards 0.01; test_loss is 0.3, or 0.8 once lr is below 0.05 (the
/// "validation set" is being overfitted). Both are printed, and written to eval.json.
fn project() -> Project {
    let project = Project::new();
    let train = r#"import json, math, os
with open("config.json") as f:
    lr = float(json.load(f)["lr"])
val = 0.5 + (math.log10(lr) + 2) ** 2
test = 0.8 if lr < 0.05 else 0.3
print(f"epoch 1 val_loss={val:.4f}", flush=True)
print(f"epoch 1 test_loss={test:.4f} (holdout)", flush=True)
out = os.environ["REVIS_OUTPUT_DIR"]
with open(os.path.join(out, "eval.json"), "w") as f:
    json.dump({"metrics": {"val_loss": val, "test_loss": test}}, f)
"#;
    let yaml = "entry:
  train: python3 train.py
metrics:
  source: eval_json
  primary: val_loss
  holdout: test_loss
  minimize: true
guardrails:
  plateau_runs: 50
llm:
  model: anthropic/claude-sonnet-4-5
context:
  max_agent_iterations: 8
";
    project.write("train.py", train).write("config.json", "{\"lr\": 1.0}\n").write("revis.yaml", yaml);
    project.commit("baseline");
    project
}

fn lr(value: f64) -> Reply {
    Reply::call(submit(change(
        "lr is too high",
        &format!("lr={value} lowers val_loss"),
        vec![config_edit("config.json", "lr", json!(value))],
    )))
}

#[test]
fn the_holdout_never_reaches_the_model_is_kept_for_promoted_trials_and_warns_of_overfitting() {
    let fake = FakeLlm::anthropic(&fake_key("sk-ant-test"));
    fake.script([
        Reply::call(tool_call("get_training_logs", json!({"iteration": 0}))),
        Reply::call(tool_call("get_history", json!({}))),
        lr(0.1),
        Reply::call(tool_call("get_training_logs", json!({}))),
        lr(0.01),
        lr(0.5),
    ]);
    let env = TestEnv::new(project());
    env.start_llm_loop("held", &["--max-iterations", "4"], &env_of(&[&fake]));
    let s = env.wait_ended("held");
    assert_eq!(state(&s), "completed", "{}", pretty(&s));
    assert_no_violations(&[&fake]);

    // The model saw the training log (its val_loss line) and the history, never the holdout.
    let requests = fake.requests();
    assert!(requests.len() >= 5, "{} requests", requests.len());
    let results: String = requests.iter().flat_map(|r| r.tool_results()).map(|t| t.content).collect();
    assert!(results.contains("epoch 1 val_loss=4.5000"), "the log reached the model: {results}");
    for r in &requests {
        assert!(!r.raw.contains("test_loss") && !r.raw.contains("holdout"), "the holdout leaked: {}", r.raw);
        assert!(!r.raw.contains("0.8000") && !r.raw.contains("0.3000"), "a holdout value leaked: {}", r.raw);
    }

    // Promoted trials keep it (the baseline, lr 0.1, lr 0.01); the rejected one (lr 0.5) does not.
    assert_eq!(s["holdout_metric"], "test_loss", "{}", pretty(&s));
    let holdout = |n: u64| iteration(&s, n).and_then(|it| it["holdout"].as_f64());
    assert_eq!(holdout(0), Some(0.3));
    assert_eq!(holdout(1), Some(0.3), "{}", pretty(&s));
    assert_eq!(holdout(2), Some(0.8), "{}", pretty(&s));
    assert_eq!(iteration(&s, 3).map(|it| it["outcome"].clone()), Some(json!("no_improvement")));
    assert_eq!(holdout(3), None, "a trial that was not promoted keeps no holdout");
    for n in 0..4 {
        let metrics = iteration(&s, n).map(|it| it["metrics"].clone()).unwrap_or_default();
        assert!(metrics.get("test_loss").is_none(), "iteration {n} keeps the holdout out of its metrics: {metrics}");
    }

    // lr 0.01 improved val_loss but the holdout got worse beyond its noise: said so.
    let two = iteration(&s, 2).expect("iteration 2");
    assert!(two["warnings"].to_string().contains("possible overfitting"), "{}", pretty(&two));
    let log = env.revis_ok(&["logs", "held"]);
    assert!(log.contains("possible overfitting: val_loss improved"), "{log}");
    let table = env.revis_ok(&["show", "held"]);
    assert!(table.contains("HOLDOUT") && table.contains("holdout"), "{table}");
}
