//! Crash at every fault point: a daemon armed with `REVIS_FAULT=<point>:1` SIGKILLs itself there,
//! plain commands start a clean daemon, and the session must end exactly as a session that never
//! crashed: contiguous iterations, one commit each, metrics for each, no run executed twice.

use revis_tests::cli::{Running, describe, revis_command};
use revis_tests::git::{commits, git};
use revis_tests::process::{pid_alive, read_pid};
use revis_tests::scripts::{fault_points, iteration_commits, runs_log};
use revis_tests::session::{ENDED_STATES, iterations, numbers, pretty, state, stop_reason};
use revis_tests::{COMMAND_DEADLINE, SESSION_DEADLINE, TestEnv, standard_project, wait_until};
use serde_json::{Value, json};
use std::sync::Mutex;

const NAME: &str = "faulty";
/// Three runs: the baseline, an improvement, then a worse run, so the session ends with a
/// restore commit and the `end` point has work to redo.
const LOOP_ARGS: &[&str] = &["loop", "--name", NAME, "--advisor", "search", "--max-iterations", "3"];
/// Sessions run at once: enough to keep the file under a minute on two cores.
const WORKERS: usize = 3;

/// What a finished session must look like whether or not its daemon crashed.
#[derive(Debug, PartialEq)]
struct Outcome {
    state: String,
    stop_reason: String,
    best: Value,
    /// Per iteration: number, state, outcome, primary, change, command, changes.
    iterations: Vec<Value>,
    runs: Vec<u64>,
    iteration_commits: Vec<u64>,
    restore_commits: usize,
    /// `git diff base..revis/NAME`: blob ids are content hashes, so equal results give equal text.
    diff: String,
}

impl Outcome {
    /// Names of the fields that differ, for a one-line summary above the full dump.
    fn differences(&self, other: &Outcome) -> Vec<&'static str> {
        let mut fields = Vec::new();
        let mut check = |name, same: bool| {
            if !same {
                fields.push(name);
            }
        };
        check("state", self.state == other.state);
        check("stop_reason", self.stop_reason == other.stop_reason);
        check("best", self.best == other.best);
        check("iterations", self.iterations == other.iterations);
        check("runs", self.runs == other.runs);
        check("iteration_commits", self.iteration_commits == other.iteration_commits);
        check("restore_commits", self.restore_commits == other.restore_commits);
        check("diff", self.diff == other.diff);
        fields
    }
}

/// Runs the session, crashing the daemon at `fault` when given, and returns how it ended.
fn run(fault: Option<&str>) -> Outcome {
    let what = fault.unwrap_or("no fault");
    let env = TestEnv::new(standard_project(&[]));
    let base = env.project.head();

    let mut cmd = revis_command(&env.home, env.project.path(), LOOP_ARGS);
    if let Some(spec) = fault {
        cmd.env("REVIS_FAULT", spec);
    }
    let out = Running::spawn(cmd, &format!("REVIS_FAULT={what} revis loop")).wait(COMMAND_DEADLINE);
    assert!(out.status.success(), "[{what}] revis loop failed: {}", describe(&out));

    if let Some(spec) = fault {
        let pid = read_pid(&env.home.pid_file()).unwrap_or_else(|| panic!("[{spec}] no daemon pid file"));
        // Either the armed daemon kills itself, or (a point this session never reaches) the
        // session ends under it. Only `show` talks to it here, which never reaches a point.
        let mut ended_alive = false;
        let done = wait_until(SESSION_DEADLINE, || {
            if !pid_alive(pid) {
                return true;
            }
            let out = env.revis(&["show", NAME, "--json"]);
            ended_alive = out.status.success()
                && serde_json::from_slice::<Value>(&out.stdout).is_ok_and(|s| ENDED_STATES.contains(&state(&s)))
                && pid_alive(pid);
            ended_alive
        });
        assert!(done, "[{spec}] the armed daemon {pid} neither died nor ended the session\n{}", env.home.daemon_log());
        assert!(
            !ended_alive,
            "[{spec}] fault point never fired: the session ended with the armed daemon alive\n{}",
            env.home.daemon_log()
        );
    }

    let s = env.wait_ended(NAME);
    let its = iterations(&s);
    let nums = numbers(&s);
    let expected: Vec<u64> = (0..nums.len() as u64).collect();
    assert_eq!(nums, expected, "[{what}] iteration numbers must be contiguous from 0, each once: {}", pretty(&s));
    for it in &its {
        if it["state"] == "succeeded" {
            let metrics = it["metrics"].as_object().map(|m| m.len()).unwrap_or(0);
            assert!(
                metrics > 0 && it["primary"].is_f64() && it["metrics"]["val_loss"] == it["primary"],
                "[{what}] iteration {} finished without its metrics: {}",
                it["number"],
                pretty(it)
            );
        }
    }
    let runs = runs_log(&env.project, "runs.log");
    assert!(
        runs.windows(2).all(|w| w[0] < w[1]),
        "[{what}] a run was executed twice or out of order (runs.log): {runs:?}"
    );

    let branch = format!("revis/{NAME}");
    let numbered = iteration_commits(env.project.path(), &base, &branch);
    let mut once = numbered.clone();
    once.dedup();
    assert_eq!(numbered, once, "[{what}] an iteration was committed twice on {branch}: {numbered:?}");
    let with_commit: Vec<u64> = nums.iter().copied().filter(|n| *n >= 1).collect();
    assert_eq!(numbered, with_commit, "[{what}] one commit per iteration >= 1 on {branch}");
    let restore_commits = commits(env.project.path(), &format!("{base}..{branch}"))
        .iter()
        .filter(|c| c.trailer("Revis-Restore").is_some())
        .count();

    Outcome {
        state: state(&s).to_string(),
        stop_reason: stop_reason(&s).to_string(),
        best: s["best"].clone(),
        iterations: its
            .iter()
            .map(|it| {
                json!({
                    "number": it["number"], "state": it["state"], "outcome": it["outcome"],
                    "primary": it["primary"], "change": it["change"], "command": it["command"],
                    "changes": it["changes"],
                })
            })
            .collect(),
        runs,
        iteration_commits: numbered,
        restore_commits,
        diff: git(env.project.path(), &["diff", &format!("{base}..{branch}")]),
    }
}

#[test]
fn a_crash_at_any_fault_point_loses_nothing_and_repeats_nothing() {
    let points = fault_points();
    let reference = run(None);
    assert_eq!(reference.state, "completed", "reference session: {reference:#?}");
    assert_eq!(reference.iterations.len(), 3, "reference session: {reference:#?}");
    assert_eq!(reference.restore_commits, 1, "the reference must end with a restore commit: {reference:#?}");

    // Every point armed for iteration 1, except `end`: the session's end belongs to no
    // iteration, so it is armed without one.
    let specs: Vec<String> = points.iter().map(|p| if p == "end" { p.clone() } else { format!("{p}:1") }).collect();
    let queue = Mutex::new(specs.clone());
    let failures = Mutex::new(Vec::new());

    std::thread::scope(|scope| {
        for _ in 0..WORKERS {
            scope.spawn(|| {
                // The guard moves into the closure, so the queue is unlocked while a session runs.
                while let Some(spec) = queue.lock().ok().and_then(|mut q| q.pop()) {
                    let result = std::panic::catch_unwind(|| run(Some(&spec)));
                    let failure = match result {
                        Ok(outcome) if outcome == reference => None,
                        Ok(outcome) => Some(format!(
                            "[{spec}] the session differs from the run without faults in: {}\n\
                             expected {reference:#?}\ngot {outcome:#?}",
                            reference.differences(&outcome).join(", ")
                        )),
                        Err(panic) => Some(
                            panic
                                .downcast_ref::<String>()
                                .cloned()
                                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                                .unwrap_or_else(|| format!("[{spec}] panicked")),
                        ),
                    };
                    if let Some(failure) = failure
                        && let Ok(mut failures) = failures.lock()
                    {
                        failures.push((spec, failure));
                    }
                }
            });
        }
    });

    let failures = failures.into_inner().unwrap_or_default();
    let names: Vec<&str> = failures.iter().map(|(spec, _)| spec.as_str()).collect();
    assert!(
        failures.is_empty(),
        "{} of {} fault points failed: {names:?}\n\n{}",
        failures.len(),
        specs.len(),
        failures.iter().map(|(_, f)| f.as_str()).collect::<Vec<_>>().join("\n\n")
    );
}
