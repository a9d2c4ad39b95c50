//! Metrics from Weights & Biases, end to end: a training script logs through the real `wandb`
//! Python package in offline mode (no account, no network), finding its run through the
//! variables Revis sets; Revis reads each run's local files. The loop reaches max-iterations with
//! metrics for every iteration.
//!
//! Needs `pip install wandb` for the `python3` on PATH (`.ci/run` installs it); without it the
//! test fails and says so.

use std::path::Path;
use std::process::Command;

use revis_tests::session::{iterations, numbers, pretty, state, stop_reason};
use revis_tests::{Project, TestEnv};
use serde_json::Value;

/// Final val_loss of a run with `--x X`; the script logs a decreasing curve ending there.
fn expected_loss(x: f64) -> f64 {
    0.5 + 0.1 * (x - 3.0) * (x - 3.0)
}

fn train_py(ctl: &Path) -> String {
    format!(
        r#"import json, os, sys
import wandb

CTL = {ctl:?}
args = sys.argv[1:]
x = float(args[args.index("--x") + 1]) if "--x" in args else 0.0
final = 0.5 + 0.1 * (x - 3) ** 2
run = wandb.init()
for step in range(4):
    wandb.log({{"val_loss": final + (3 - step) * 0.25, "lr": 0.01, "epoch": step}})
wandb.finish()
seen = {{k: os.environ.get(k) for k in ["WANDB_RUN_ID", "WANDB_RUN_GROUP", "WANDB_TAGS", "WANDB_PROJECT", "WANDB_MODE"]}}
seen["x"] = x
seen["run_dir"] = run.dir
with open(os.path.join(CTL, "seen-" + os.environ["REVIS_ITERATION"] + ".json"), "w") as f:
    json.dump(seen, f)
"#
    )
}

fn revis_yaml(scratch: &Path) -> String {
    // The client's caches and settings stay in the test's scratch space, not the user's home.
    let dir = |name: &str| scratch.join(name).display().to_string();
    format!(
        "entry:
  train: python3 train.py --x 1
  env:
    WANDB_MODE: offline
    WANDB_SILENT: 'true'
    WANDB_CONSOLE: 'off'
    WANDB_CACHE_DIR: {cache}
    WANDB_CONFIG_DIR: {config}
    WANDB_DATA_DIR: {data}
metrics:
  source: wandb
  project: p
  primary: val_loss
  minimize: true
guardrails:
  plateau_runs: 50
  max_run_duration: 2m
  retry_budget: 3
search:
  strategy: random
  seed: 11
  space:
    x: {{arg: --x, values: [1, 2, 3, 4, 5, 6]}}
",
        cache = dir("wandb-cache"),
        config = dir("wandb-config"),
        data = dir("wandb-data"),
    )
}

fn require_wandb() {
    let out = Command::new("python3")
        .args(["-c", "import wandb; print(wandb.__version__)"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 to check for the wandb package: {e}"));
    assert!(
        out.status.success(),
        "the `wandb` Python package is not importable by python3 (install it with `python3 -m pip install wandb`; \
         .ci/run does): {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

#[test]
fn offline_wandb_runs_give_every_iteration_its_metrics() {
    require_wandb();
    let project = Project::new();
    // As W&B users have it: run directories are not part of the code.
    project
        .write(".gitignore", ".revis/\n__pycache__/\nwandb/\n")
        .write("train.py", &train_py(project.ctl()))
        .write("revis.yaml", &revis_yaml(project.scratch()));
    project.commit("baseline");
    let env = TestEnv::new(project);

    env.start_loop("wb", &["--max-iterations", "4"]);
    let s = env.wait_ended("wb");

    assert_eq!(state(&s), "completed", "{}\ndaemon log:\n{}", pretty(&s), env.home.daemon_log());
    assert_eq!(stop_reason(&s), "max_iterations", "{}", pretty(&s));
    assert_eq!(numbers(&s), vec![0, 1, 2, 3], "{}", pretty(&s));

    let mut run_ids = Vec::new();
    for it in iterations(&s) {
        let n = it["number"].as_u64().expect("iteration number");
        assert_eq!(it["state"], "succeeded", "{}", pretty(&it));
        let seen_path = env.project.ctl_file(&format!("seen-{n}.json"));
        let seen: Value = serde_json::from_str(
            &std::fs::read_to_string(&seen_path).unwrap_or_else(|e| panic!("{}: {e}", seen_path.display())),
        )
        .expect("seen json");

        // The run was found by the id Revis set, and it reads what that run logged last.
        let x = seen["x"].as_f64().expect("x");
        let val_loss = it["metrics"]["val_loss"].as_f64().unwrap_or_else(|| panic!("no val_loss: {}", pretty(&it)));
        assert!(
            (val_loss - expected_loss(x)).abs() < 1e-9,
            "iteration {n}: val_loss {val_loss}, x {x}: {}",
            pretty(&it)
        );
        assert_eq!(it["primary"].as_f64(), Some(val_loss), "{}", pretty(&it));
        assert_eq!(it["metrics"]["lr"].as_f64(), Some(0.01), "{}", pretty(&it));
        assert!(it["metrics"].get("_step").is_none(), "W&B bookkeeping keys are not metrics: {}", pretty(&it));
        // The curve comes from the offline run's log (offline runs write no wandb-summary.json).
        let history: Vec<(f64, f64)> = it["history"]
            .as_array()
            .map(|points| {
                points.iter().filter_map(|p| Some((p["step"].as_f64().unwrap_or(0.0), p["value"].as_f64()?))).collect()
            })
            .unwrap_or_default();
        let steps: Vec<f64> = history.iter().map(|p| p.0).collect();
        assert_eq!(steps, vec![0.0, 1.0, 2.0, 3.0], "iteration {n}: primary-metric history: {}", pretty(&it));
        assert!((history[0].1 - (val_loss + 0.75)).abs() < 1e-9 && history[3].1 == val_loss, "{}", pretty(&it));

        let run_id = seen["WANDB_RUN_ID"].as_str().expect("WANDB_RUN_ID set by Revis").to_string();
        assert_eq!(seen["WANDB_RUN_GROUP"], "revis-wb", "{seen}");
        let tags = seen["WANDB_TAGS"].as_str().unwrap_or_default();
        assert!(tags.contains("revis") && tags.contains("wb") && tags.contains(&format!("iteration-{n}")), "{seen}");
        assert_eq!(seen["WANDB_PROJECT"], "p", "{seen}");
        let run_dir = seen["run_dir"].as_str().unwrap_or_default();
        assert!(run_dir.contains("offline-run-") && run_dir.contains(&run_id), "{seen}");
        run_ids.push(run_id);
    }
    let mut unique = run_ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), run_ids.len(), "WANDB_RUN_ID must be unique per run: {run_ids:?}");
}
