//! Honest stopping: replicated baselines measure the noise floor, so a metric that is pure noise
//! stops by plateau while a real trend under the same noise keeps going; NaN, Inf and divergence
//! are recorded as failures; the retry budget counts consecutive failures only.

use revis_tests::scripts::{runs_log, script_project};
use revis_tests::session::{iteration, iterations, pretty, state, stop_reason};
use revis_tests::{Project, TestEnv};
use serde_json::Value;
use std::path::Path;

/// A metric `1 - trend × iteration + noise`, the noise uniform in ±0.05 and seeded by the
/// iteration and the how-many-th run of that iteration this is (a counter in the control dir),
/// so replicates differ from each other but every session sees the same values.
/// Appends `iteration replicate value` to `runs.log`.
fn noisy_py(trend: f64) -> impl FnOnce(&Path) -> String {
    move |ctl| {
        format!(
            r#"import json, os, random

CTL = {ctl:?}
it = int(os.environ["REVIS_ITERATION"])
counter = os.path.join(CTL, f"count-{{it}}")
k = int(open(counter).read()) + 1 if os.path.exists(counter) else 1
with open(counter, "w") as f:
    f.write(str(k))
value = 1.0 - {trend} * it + random.Random(f"b/{{it}}/{{k}}").uniform(-0.05, 0.05)
with open(os.path.join(CTL, "runs.log"), "a") as f:
    f.write(f"{{it}} {{k}} {{value!r}}\n")
out = os.environ["REVIS_OUTPUT_DIR"]
os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "eval.json"), "w") as f:
    json.dump({{"metrics": {{"val_loss": value}}}}, f)
"#
        )
    }
}

fn noisy_project(trend: f64) -> Project {
    script_project(
        "python3",
        "train.py",
        noisy_py(trend),
        &[("replicates", "3"), ("plateau_runs", "3"), ("plateau_threshold", "0.001")],
    )
}

/// The values the script reported for iteration 0, in run order.
fn baseline_values(project: &Project) -> Vec<f64> {
    std::fs::read_to_string(project.ctl_file("runs.log"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            (words.next() == Some("0")).then(|| words.nth(1).and_then(|v| v.parse().ok())).flatten()
        })
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(1.0)
}

#[test]
fn pure_noise_stops_by_plateau_with_a_measured_noise_floor() {
    let env = TestEnv::new(noisy_project(0.0));
    env.start_loop("flat", &["--max-iterations", "12"]);
    let s = env.wait_ended("flat");
    assert_eq!(state(&s), "completed", "{}", pretty(&s));
    assert_eq!(stop_reason(&s), "plateau", "noise alone must end in a plateau: {}", pretty(&s));

    let reported = baseline_values(&env.project);
    assert_eq!(reported.len(), 3, "the baseline runs three times: {:?}", runs_log(&env.project, "runs.log"));
    let it0 = iteration(&s, 0).expect("iteration 0");
    let replicates: Vec<f64> =
        it0["replicates"].as_array().map(|a| a.iter().filter_map(Value::as_f64).collect()).unwrap_or_default();
    assert_eq!(replicates.len(), 3, "iteration 0 must list its 3 replicate values: {}", pretty(&it0));
    for (got, want) in replicates.iter().zip(&reported) {
        assert!(close(*got, *want), "replicates {replicates:?} differ from what the runs reported {reported:?}");
    }
    let mean = reported.iter().sum::<f64>() / 3.0;
    let primary = it0["primary"].as_f64().unwrap_or(f64::NAN);
    assert!(close(primary, mean), "iteration 0's primary {primary} must be the mean {mean} of {reported:?}");
    let sd = (reported.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 2.0).sqrt();
    let floor = s["noise_floor"].as_f64().unwrap_or(0.0);
    assert!(floor > 0.0, "the session must report a noise_floor > 0: {}", pretty(&s));
    assert!(close(floor, 2.0 * sd), "noise_floor {floor} must be 2 x the sample std dev {sd} of {reported:?}");
    assert!(iterations(&s).len() < 12, "the plateau must end the session before max-iterations: {}", pretty(&s));
}

#[test]
fn a_real_trend_under_the_same_noise_is_not_a_plateau() {
    let env = TestEnv::new(noisy_project(0.3));
    env.start_loop("sloped", &["--max-iterations", "6"]);
    let s = env.wait_ended("sloped");
    assert_eq!(state(&s), "completed", "{}", pretty(&s));
    assert_eq!(stop_reason(&s), "max_iterations", "a real trend must not stop by plateau: {}", pretty(&s));
    for it in iterations(&s).iter().filter(|it| it["number"].as_u64().is_some_and(|n| n > 0)) {
        assert_eq!(it["outcome"], "improved", "each step of the trend beats the noise floor: {}", pretty(it));
    }
}

/// A script whose per-iteration result is taken from `results` (indexed by iteration):
/// a Python expression for the metric, or `fail` to exit 1.
fn scripted(results: &'static [&'static str], guardrails: &[(&str, &str)]) -> Project {
    let table: Vec<String> = results.iter().map(|r| format!("{r:?}")).collect();
    script_project(
        "python3",
        "train.py",
        move |_ctl| {
            format!(
                r#"import json, os, sys

results = [{table}]
it = int(os.environ["REVIS_ITERATION"])
result = results[it] if it < len(results) else "0.5"
print(f"iteration {{it}}: {{result}}", flush=True)
if result == "fail":
    sys.exit(1)
out = os.environ["REVIS_OUTPUT_DIR"]
os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "eval.json"), "w") as f:
    json.dump({{"metrics": {{"val_loss": eval(result)}}}}, f)
"#,
                table = table.join(", ")
            )
        },
        guardrails,
    )
}

fn failure(s: &Value, number: u64) -> String {
    let it = iteration(s, number).unwrap_or_else(|| panic!("no iteration {number}: {}", pretty(s)));
    assert_eq!(it["state"], "failed", "iteration {number} must fail: {}", pretty(&it));
    assert_eq!(it["outcome"], "failed", "iteration {number}: {}", pretty(&it));
    assert!(it["primary"].is_null(), "a failed iteration has no primary: {}", pretty(&it));
    it["failure_reason"].as_str().unwrap_or_default().to_string()
}

#[test]
fn nan_inf_and_divergence_are_recorded_as_failures() {
    let env = TestEnv::new(scripted(
        &["1.0", "float('nan')", "float('inf')", "10.0", "0.9"],
        &[("divergence_multiplier", "2"), ("retry_budget", "4")],
    ));
    env.start_loop("wild", &["--max-iterations", "5"]);
    let s = env.wait_ended("wild");
    assert_eq!(state(&s), "completed", "{}", pretty(&s));
    assert_eq!(stop_reason(&s), "max_iterations", "{}", pretty(&s));

    let nan = failure(&s, 1);
    assert!(nan.contains("NaN"), "iteration 1 (NaN): {nan}");
    let inf = failure(&s, 2);
    assert!(inf.to_lowercase().contains("inf"), "iteration 2 (Inf): {inf}");
    let diverged = failure(&s, 3);
    assert!(diverged.contains("diverg"), "iteration 3 (10x the baseline): {diverged}");
    assert_eq!(iteration(&s, 4).map(|it| it["state"].clone()), Some("succeeded".into()), "{}", pretty(&s));
    assert_eq!(s["best"]["iteration"], 4, "failures never become the best: {}", pretty(&s));
}

#[test]
fn the_retry_budget_refills_after_a_success() {
    // Three failures in all, never three in a row.
    let env = TestEnv::new(scripted(&["1.0", "fail", "0.9", "fail", "fail", "0.8"], &[("retry_budget", "3")]));
    env.start_loop("bumpy", &["--max-iterations", "6"]);
    let s = env.wait_ended("bumpy");
    assert_ne!(stop_reason(&s), "retry_budget", "non-consecutive failures must not exhaust the budget: {}", pretty(&s));
    assert_eq!(state(&s), "completed", "{}", pretty(&s));
    assert_eq!(stop_reason(&s), "max_iterations", "{}", pretty(&s));
    for n in [1, 3, 4] {
        failure(&s, n);
    }
    assert_eq!(iterations(&s).len(), 6, "{}", pretty(&s));
}
