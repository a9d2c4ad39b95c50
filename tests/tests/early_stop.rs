//! Progress and early stopping: the training appends `{"step": s, "metrics": {...}}` lines to
//! `$REVIS_OUTPUT_DIR/progress.jsonl`; the curve is kept per trial (and drawn by `show` and the
//! report), and `guardrails.early_stop` stops a losing run: the median stopping rule, or ASHA at
//! the rungs given. The curves are known: val_loss = 0.1 + (x - 7)² / 100 + 1 / step.

use revis_tests::session::{iteration, iterations, pretty, state};
use revis_tests::{Project, SESSION_DEADLINE, TestEnv};

const STEPS: u32 = 6;

fn project(guardrails: &str, values: &str) -> Project {
    let project = Project::new();
    let ctl = project.ctl().display().to_string();
    let train = format!(
        r#"x=$2
n=$REVIS_ITERATION
s=1
while [ $s -le {STEPS} ]; do
  awk -v x="$x" -v s="$s" 'BEGIN {{ printf "{{\"step\": %d, \"metrics\": {{\"val_loss\": %.4f}}}}\n", s, 0.1 + (x - 7) * (x - 7) / 100 + 1 / s }}' >> "$REVIS_OUTPUT_DIR/progress.jsonl"
  sleep 0.4
  s=$((s + 1))
done
awk -v x="$x" 'BEGIN {{ printf "{{\"metrics\": {{\"val_loss\": %.4f}}}}\n", 0.1 + (x - 7) * (x - 7) / 100 + 1 / {STEPS} }}' > "$REVIS_OUTPUT_DIR/eval.json"
echo "$n" >> {ctl}/finished.log
"#
    );
    let yaml = format!(
        "entry:
  train: sh train.sh --x 1
metrics:
  source: eval_json
  primary: val_loss
  minimize: true
guardrails:
  plateau_runs: 50
{guardrails}search:
  strategy: grid
  space:
    x: {{arg: --x, values: [{values}]}}
"
    );
    project.write("train.sh", &train).write("revis.yaml", &yaml);
    project.commit("a training that reports progress");
    project
}

fn finished(env: &TestEnv) -> Vec<u64> {
    std::fs::read_to_string(env.project.ctl_file("finished.log"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

fn run(guardrails: &str, values: &str, iterations_wanted: &str) -> (TestEnv, serde_json::Value) {
    let env = TestEnv::new(project(guardrails, values));
    env.start_loop("curves", &["--max-iterations", iterations_wanted]);
    let s = env.wait_show("curves", SESSION_DEADLINE * 2, "the session to end", |s| {
        ["completed", "stopped", "failed"].contains(&state(s))
    });
    assert_eq!(state(&s), "completed", "{}", pretty(&s));
    (env, s)
}

#[test]
fn the_median_rule_stops_a_losing_run_whose_partial_value_is_never_the_best() {
    let (env, s) = run("  early_stop: median\n  min_steps: 2\n  min_runs: 3\n", "7, 6, 8, 20", "5");
    // Every run's curve was kept, step by step.
    for it in iterations(&s) {
        let n = it["number"].as_u64().unwrap_or_default();
        let steps = it["history"].as_array().map(Vec::len).unwrap_or_default();
        assert!(steps >= 2, "iteration {n} kept its curve: {}", pretty(&it));
    }
    // x = 8 is as good as the median of the earlier runs and ran to its end; x = 20 is far worse
    // and was stopped once it had passed min_steps, before its end.
    assert_eq!(iteration(&s, 3).expect("x = 8")["outcome"], "no_improvement", "{}", pretty(&s));
    let losing = iteration(&s, 4).expect("x = 20");
    assert_eq!(losing["outcome"], "stopped_early", "{}", pretty(&losing));
    let step = losing["stopped_at_step"].as_f64().unwrap_or_default();
    assert!((2.0..f64::from(STEPS)).contains(&step), "stopped at step {step}");
    assert!(losing["primary"].as_f64().is_some_and(|v| v > 1.5), "its partial value informs: {}", pretty(&losing));
    assert!(!finished(&env).contains(&4), "the stopped run never finished: {:?}", finished(&env));
    assert_eq!(s["best"]["iteration"], 1, "{}", pretty(&s));

    let log = env.revis_ok(&["logs", "curves"]);
    assert!(log.contains("iteration 4 stopped early at step"), "{log}");
    let table = env.revis_ok(&["show", "curves"]);
    assert!(table.contains("CURVE") && table.contains("stopped_early @"), "{table}");
    let report = env.project.path().join("report.html");
    env.revis_ok(&["report", "curves", "-o", &report.display().to_string()]);
    let html = std::fs::read_to_string(&report).unwrap_or_default();
    assert!(html.contains("<svg class=\"curve\"") && html.contains("stopped early at step"), "the report draws curves");
}

#[test]
fn asha_keeps_the_best_runs_at_each_rung() {
    let (env, s) = run("  early_stop: asha\n  rungs: [2, 4]\n  reduction_factor: 2\n  min_runs: 2\n", "6, 20, 7", "4");
    // x = 6 runs while too few runs have reached the rungs to judge it; at rung 2, x = 20 is in
    // the worse half of the runs that reached it; x = 7 is the best at both rungs.
    let losing = iteration(&s, 2).expect("x = 20");
    assert_eq!(losing["outcome"], "stopped_early", "{}", pretty(&s));
    assert!(!finished(&env).contains(&2));
    for n in [1, 3] {
        assert_ne!(iteration(&s, n).expect("kept")["outcome"], "stopped_early", "{}", pretty(&s));
        assert!(finished(&env).contains(&n), "iteration {n} ran to its end");
    }
}
