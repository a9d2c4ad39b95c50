//! Projects with a hand-written training script (shell or Python) and the checks the robustness
//! tests share: which runs the script executed, which commits a session made, killing a daemon.
//! Must not: sleep for fixed amounts of time or signal a process that does not serve the test's home.

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;
use std::path::Path;

use crate::git::commits;
use crate::home::TestHome;
use crate::process::{pid_alive, read_pid};
use crate::project::Project;
use crate::session::TestEnv;
use crate::wait::wait_until;

/// revis.yaml for a training command `train` that takes `--x N`: the search only moves `--x`
/// (twenty values, so a short session never exhausts the space). Guardrail overrides come first,
/// then the defaults of [`crate::fixtures::standard_yaml`] (plateau effectively off).
pub fn script_yaml(train: &str, guardrails: &[(&str, &str)]) -> String {
    let mut lines: Vec<(String, String)> = guardrails.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    for (key, value) in [("plateau_runs", "50"), ("max_run_duration", "2m"), ("retry_budget", "3")] {
        if !lines.iter().any(|(k, _)| k == key) {
            lines.push((key.to_string(), value.to_string()));
        }
    }
    let guardrails: String = lines.iter().map(|(k, v)| format!("  {k}: {v}\n")).collect();
    let values: Vec<String> = (1..=20).map(|v| v.to_string()).collect();
    format!(
        "entry:
  train: {train} --x 1
metrics:
  source: eval_json
  primary: val_loss
  minimize: true
guardrails:
{guardrails}search:
  strategy: random
  seed: 11
  space:
    x: {{arg: --x, values: [{values}]}}
",
        values = values.join(", ")
    )
}

/// A committed project whose training command is `<interpreter> <file> --x 1`. `script` gets the
/// control directory (the script runs in the session's worktree, so it cannot find it relative
/// to itself) and returns the script's text.
pub fn script_project(
    interpreter: &str,
    file: &str,
    script: impl FnOnce(&Path) -> String,
    guardrails: &[(&str, &str)],
) -> Project {
    let project = Project::new();
    let text = script(project.ctl());
    project.write(file, &text).write("revis.yaml", &script_yaml(&format!("{interpreter} {file}"), guardrails));
    project.commit("baseline");
    project
}

/// The iteration numbers a training script appended (first word of each line) to the control
/// file `file`, in the order the runs happened.
pub fn runs_log(project: &Project, file: &str) -> Vec<u64> {
    std::fs::read_to_string(project.ctl_file(file))
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.split_whitespace().next().and_then(|n| n.parse().ok()))
        .collect()
}

/// The `Revis-Iteration` trailers of the commits on `branch` after `base`, sorted.
pub fn iteration_commits(project_dir: &Path, base: &str, branch: &str) -> Vec<u64> {
    let mut numbers: Vec<u64> = commits(project_dir, &format!("{base}..{branch}"))
        .iter()
        .filter_map(|c| c.trailer("Revis-Iteration").and_then(|n| n.parse().ok()))
        .collect();
    numbers.sort_unstable();
    numbers
}

/// SIGKILLs the daemon serving `home` (from its pid file) and waits until it is gone; returns its
/// pid. Panics when no daemon runs or it survives the deadline.
pub fn kill_daemon(home: &TestHome) -> i32 {
    let pid = home.daemon_pid().unwrap_or_else(|| panic!("no daemon running for {}", home.path().display()));
    kill(Pid::from_raw(pid), Signal::SIGKILL).unwrap_or_else(|e| panic!("cannot SIGKILL revisd {pid}: {e}"));
    assert!(wait_until(crate::SESSION_DEADLINE, || !pid_alive(pid)), "revisd {pid} survived SIGKILL");
    pid
}

/// Waits until the control file `file` holds a pid (written by a training script) and returns it.
pub fn wait_pid_file(project: &Project, file: &str) -> i32 {
    let path = project.ctl_file(file);
    let mut pid = None;
    assert!(
        wait_until(crate::SESSION_DEADLINE, || {
            pid = read_pid(&path);
            pid.is_some()
        }),
        "timed out waiting for a pid in {}",
        path.display()
    );
    pid.unwrap_or_default()
}

/// Parses the JSON lines `revis watch --json` printed.
pub fn event_lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("bad event line {line:?}: {e}")))
        .collect()
}

/// An event's sequence number (prost's serde may render a u64 as a string).
pub fn event_seq(event: &Value) -> Option<u64> {
    event["seq"].as_u64().or_else(|| event["seq"].as_str().and_then(|s| s.parse().ok()))
}

/// Iteration 1 prints `tick N` every 20 ms (and records N in the control file `ticks`) until the
/// control file `gate` exists, then `last tick N`.
pub fn ticker_py(ctl: &Path) -> String {
    format!(
        r#"import json, os, time

CTL = {ctl:?}
it = os.environ["REVIS_ITERATION"]
with open(os.path.join(CTL, "runs.log"), "a") as f:
    f.write(f"{{it}} {{os.getpid()}}\n")
if it == "1":
    n = 0
    while True:
        n += 1
        print(f"tick {{n}}", flush=True)
        tmp = os.path.join(CTL, "ticks.tmp")
        with open(tmp, "w") as f:
            f.write(str(n))
        os.replace(tmp, os.path.join(CTL, "ticks"))
        if os.path.exists(os.path.join(CTL, "gate")):
            break
        time.sleep(0.02)
    print(f"last tick {{n}}", flush=True)
out = os.environ["REVIS_OUTPUT_DIR"]
os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "eval.json"), "w") as f:
    json.dump({{"metrics": {{"val_loss": 1.0 / (1 + int(it))}}}}, f)
"#
    )
}

/// The last tick [`ticker_py`] recorded (0 before the first).
pub fn ticks(project: &Project) -> u64 {
    std::fs::read_to_string(project.ctl_file("ticks")).ok().and_then(|t| t.trim().parse().ok()).unwrap_or(0)
}

/// Waits until [`ticker_py`] has printed at least `at_least` ticks; `while_what` names the
/// moment in the failure message.
pub fn wait_ticks(env: &TestEnv, at_least: u64, while_what: &str) {
    assert!(
        wait_until(crate::SESSION_DEADLINE, || ticks(&env.project) >= at_least),
        "the training stopped printing {while_what} (tick {} < {at_least})\ndaemon log:\n{}",
        ticks(&env.project),
        env.home.daemon_log()
    );
}

/// The fault points `revisd --fault-points` lists (the daemon the tests run is built with them).
pub fn fault_points() -> Vec<String> {
    let out = std::process::Command::new(crate::revisd_bin())
        .arg("--fault-points")
        .output()
        .unwrap_or_else(|e| panic!("cannot run revisd --fault-points: {e}"));
    assert!(out.status.success(), "revisd --fault-points failed (built without fault-injection?): {out:?}");
    let points: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    assert!(!points.is_empty(), "revisd --fault-points printed no points");
    points
}
