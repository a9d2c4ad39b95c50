//! Training that goes wrong: a non-zero exit (retry budget), a run past max_run_duration (its
//! whole process group killed), bad or missing eval.json, a missing or NaN primary metric.
//! Each failure is recorded on the iteration with its reason, never counted as an improvement.

use revis_tests::cli::describe;
use revis_tests::process::{pid_alive, read_pid};
use revis_tests::session::{iteration, iterations, pretty, state, stop_reason};
use revis_tests::{Project, SESSION_DEADLINE, TestEnv, wait_until};

/// A project whose training command is `sh train.sh --x 1` (the x knob keeps the search
/// advisor proposing after a failure).
fn shell_project(script: &str, guardrails: &str) -> Project {
    let project = Project::new();
    write_shell_project(&project, script, guardrails);
    project
}

fn write_shell_project(project: &Project, script: &str, guardrails: &str) {
    project.write("train.sh", script).write(
        "revis.yaml",
        &format!(
            "entry:
  train: sh train.sh --x 1
metrics:
  source: eval_json
  primary: val_loss
  minimize: true
guardrails:
{guardrails}search:
  space:
    x: {{arg: --x, values: [1, 2, 3, 4, 5, 6, 7, 8]}}
"
        ),
    );
    project.commit("baseline");
}

/// Runs a one-failure session (retry_budget 1) and returns the failed baseline iteration.
fn single_failure(script: &str) -> (TestEnv, serde_json::Value) {
    let env = TestEnv::new(shell_project(script, "  retry_budget: 1\n  max_run_duration: 1m\n"));
    env.start_loop("broken", &["--max-iterations", "5"]);
    let s = env.wait_ended("broken");
    assert_eq!(state(&s), "failed", "{}", pretty(&s));
    assert_eq!(stop_reason(&s), "retry_budget", "{}", pretty(&s));
    assert_eq!(iterations(&s).len(), 1, "{}", pretty(&s));
    let it0 = iteration(&s, 0).expect("iteration 0");
    assert_eq!(it0["state"], "failed", "{}", pretty(&s));
    assert_eq!(it0["outcome"], "failed", "{}", pretty(&s));
    assert!(s["best"].is_null(), "a failed run is never the best: {}", pretty(&s));
    (env, it0)
}

fn reason(it: &serde_json::Value) -> String {
    it["failure_reason"].as_str().unwrap_or_default().to_string()
}

#[test]
fn failing_command_records_exit_code_and_exhausts_the_retry_budget() {
    let env = TestEnv::new(shell_project(
        "echo 'loading data'\necho 'boom: out of memory' >&2\nexit 3\n",
        "  retry_budget: 2\n",
    ));
    env.start_loop("crashy", &["--max-iterations", "10"]);
    let s = env.wait_ended("crashy");

    assert_eq!(state(&s), "failed", "{}", pretty(&s));
    assert_eq!(stop_reason(&s), "retry_budget", "{}", pretty(&s));
    let its = iterations(&s);
    assert_eq!(its.len(), 2, "two consecutive failures exhaust retry_budget 2: {}", pretty(&s));
    for it in &its {
        assert_eq!(it["state"], "failed", "{}", pretty(it));
        assert_eq!(it["exit_code"], 3, "{}", pretty(it));
        assert!(reason(it).contains("exited with code 3"), "{}", pretty(it));
    }

    // The training log keeps stdout and stderr.
    let logs = env.revis_ok(&["logs", "crashy", "--iteration", "0"]);
    assert!(logs.contains("loading data") && logs.contains("boom: out of memory"), "{logs}");

    // watch replays and exits 1 for a failed session.
    let watch = env.revis(&["watch", "crashy"]);
    assert_eq!(watch.status.code(), Some(1), "{}", describe(&watch));
}

#[test]
fn a_run_past_max_run_duration_is_killed_with_its_process_group() {
    let project = Project::new();
    let main_pid = project.ctl_file("main.pid");
    let child_pid = project.ctl_file("child.pid");
    let script =
        format!("echo $$ > '{}'\nsleep 300 &\necho $! > '{}'\nwait\n", main_pid.display(), child_pid.display());
    write_shell_project(&project, &script, "  retry_budget: 1\n  max_run_duration: 1s\n");
    let env = TestEnv::new(project);

    env.start_loop("slow", &["--max-iterations", "3"]);
    let s = env.wait_ended("slow");
    assert_eq!(state(&s), "failed", "{}", pretty(&s));
    assert_eq!(stop_reason(&s), "retry_budget", "{}", pretty(&s));
    let it0 = iteration(&s, 0).expect("iteration 0");
    assert_eq!(it0["state"], "failed", "{}", pretty(&s));
    assert!(reason(&it0).contains("timed out"), "{}", pretty(&it0));

    let pids: Vec<i32> = [&main_pid, &child_pid]
        .iter()
        .map(|path| read_pid(path).unwrap_or_else(|| panic!("{} not written", path.display())))
        .collect();
    assert!(
        wait_until(SESSION_DEADLINE, || pids.iter().all(|pid| !pid_alive(*pid))),
        "processes of the timed-out run still alive: {pids:?}"
    );
}

#[test]
fn bad_eval_json_fails_the_iteration() {
    let (_env, it) = single_failure("printf '{not json' > \"$REVIS_OUTPUT_DIR/eval.json\"\n");
    assert!(reason(&it).contains("not valid JSON"), "{}", pretty(&it));
}

#[test]
fn missing_eval_json_fails_the_iteration() {
    let (_env, it) = single_failure("echo 'forgot to write metrics'\n");
    assert!(reason(&it).contains("eval.json not found"), "{}", pretty(&it));
}

#[test]
fn missing_primary_metric_fails_the_iteration() {
    let (_env, it) = single_failure("printf '{\"metrics\": {\"accuracy\": 0.5}}' > \"$REVIS_OUTPUT_DIR/eval.json\"\n");
    assert!(reason(&it).contains("missing"), "{}", pretty(&it));
    assert!(reason(&it).contains("val_loss"), "{}", pretty(&it));
}

#[test]
fn nan_metric_fails_the_iteration() {
    // Python's json.dump writes NaN for a float nan, which is not strict JSON.
    let (_env, it) = single_failure(
        "python3 -c 'import json, os; json.dump({\"metrics\": {\"val_loss\": float(\"nan\")}}, \
         open(os.path.join(os.environ[\"REVIS_OUTPUT_DIR\"], \"eval.json\"), \"w\"))'\n",
    );
    assert!(reason(&it).contains("NaN"), "{}", pretty(&it));
}
