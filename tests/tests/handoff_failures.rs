//! Handoffs that must fail: each way a coding agent reports failure (Claude Code's `is_error`
//! with exit 0 and `error_max_turns`, a non-zero exit, output that is not the CLI's format,
//! Codex's `turn.failed`), a run that changed nothing, an agent that hangs (timeout, its whole
//! process group killed), a change that breaks `entry.smoke`, and one that touches a frozen file.
//! Every failure reverts the worktree, is reported as `handoff_failed`, counts against the retry
//! budget and goes back to the advisor with the reason. Also a smoke run that passes.

#[allow(dead_code)]
#[path = "../src/agents.rs"]
mod agents;
#[path = "../src/handoff_support.rs"]
mod support;

use agents::{Agent, Edit, Outcome, Step};
use revis_tests::llm::Checks;
use revis_tests::process::pid_alive;
use revis_tests::session::{iteration, pretty, state, stop_reason};
use revis_tests::wait::wait_until;
use serde_json::Value;
use std::time::{Duration, Instant};
use support::{Spec, World, code_decision, mentions};

const REQUEST: &str = "Add a cosine learning-rate schedule in schedule_cosine.py";
const CREATED: &str = "schedule_cosine.py";

/// The agent edits train.py and creates a module, then answers with `outcome`.
fn editing(outcome: Outcome) -> Step {
    Step::new(outcome)
        .edit(Edit::append("train.py", "\n# half-done schedule\n"))
        .edit(Edit::write(CREATED, "def cosine(step, total):\n    return 1.0\n"))
}

/// One handoff whose agent fails as `step` says, with retry_budget 1: the session ends failed
/// on the retry budget, nothing is committed, the worktree is back to the baseline and the event
/// gives a reason mentioning one of `expect`.
fn check_single_failure(name: &str, spec: Spec, step: Step, expect: &[&str]) -> (World, Value, Vec<String>) {
    let w = World::new(spec);
    w.agents.script(&[step]);
    w.fake.push(code_decision(REQUEST, &["train.py"]));
    w.start(name, 3);
    let s = w.settle(name);

    let mut c = Checks::new();
    c.check(state(&s) == "failed" && stop_reason(&s) == "retry_budget", || {
        format!(
            "one failed handoff with retry_budget 1 must end the session on it: {} / {}",
            state(&s),
            stop_reason(&s)
        )
    });
    let events = w.events(name, &s);
    let reasons = w.failure_reasons(&mut c, &events);
    c.check(reasons.iter().any(|r| mentions(r, expect)), || {
        format!("the handoff_failed reason must mention one of {expect:?}: {reasons:?}")
    });
    c.check(w.agents.calls().len() == 1, || format!("the agent must run once, ran {} times", w.agents.calls().len()));
    w.check_reverted(&mut c, &s, &[CREATED]);
    w.check_nothing_committed(&mut c, name, &s);
    c.check(w.fake.request_count() == 1, || {
        format!("the budget is used up: the advisor must not be asked again ({} requests)", w.fake.request_count())
    });
    c.finish(|| w.context(name));
    (w, s, reasons)
}

#[test]
fn claude_is_error_with_exit_0_fails_reverts_and_goes_back_to_the_advisor_with_the_reason() {
    // retry_budget 2: the first failure goes back to the advisor, the second uses up the budget.
    let w = World::new(Spec::new(&[Agent::Claude]).guardrail("retry_budget", "2"));
    w.agents.script(&[
        editing(Outcome::IsError("API Error: 529 overloaded_error (Overloaded)".into())).cost(0.02),
        editing(Outcome::Exit(3, "Error: connection reset by peer".into())),
    ]);
    w.fake.push(code_decision(REQUEST, &["train.py"]));
    w.fake.push(code_decision(REQUEST, &["train.py"]));
    w.start("iserr", 3);
    let s = w.settle("iserr");

    let mut c = Checks::new();
    c.check(state(&s) == "failed" && stop_reason(&s) == "retry_budget", || {
        format!("two failed handoffs with retry_budget 2 must end the session: {} / {}", state(&s), stop_reason(&s))
    });
    let events = w.events("iserr", &s);
    let reasons = w.failure_reasons(&mut c, &events);
    c.check(reasons.len() == 2, || format!("two handoff_failed events expected: {reasons:?}"));
    c.check(reasons.first().is_some_and(|r| mentions(r, &["overloaded"])), || {
        format!("is_error: the reason must carry Claude's error text: {reasons:?}")
    });
    c.check(
        reasons.get(1).is_some_and(|r| mentions(r, &["code 3", "exit code 3", "exited with 3", "status 3"])),
        || format!("non-zero exit: the reason must give the exit code 3: {reasons:?}"),
    );
    let requests = w.fake.requests();
    c.check(requests.len() == 2, || {
        format!("the advisor must be asked again after the first failure: {} requests", requests.len())
    });
    if let Some(second) = requests.get(1) {
        c.check(second.raw.contains("overloaded"), || {
            "the advisor's next request must carry the failure reason (\"overloaded\")".into()
        });
    }
    c.check(w.agents.calls().len() == 2, || format!("the agent must run twice, ran {}", w.agents.calls().len()));
    w.check_reverted(&mut c, &s, &[CREATED]);
    w.check_nothing_committed(&mut c, "iserr", &s);
    let spent = s["spend"]["llm_usd"].as_f64().unwrap_or(0.0);
    c.check(spent >= 0.02, || format!("a failed handoff's cost still counts: spend {spent} < 0.02"));
    c.finish(|| w.context("iserr"));
}

#[test]
fn claude_error_max_turns_fails_even_with_exit_0_and_is_error_false() {
    check_single_failure(
        "maxturns",
        Spec::new(&[Agent::Claude]).coding_agent("max_turns: 3"),
        editing(Outcome::MaxTurns),
        &["max_turns", "turn limit", "max turns"],
    );
}

#[test]
fn claude_non_zero_exit_fails() {
    check_single_failure(
        "exit",
        Spec::new(&[Agent::Claude]),
        editing(Outcome::Exit(7, "Error: Invalid API key · Please run /login".into())),
        &["code 7", "exit code 7", "status 7"],
    );
}

#[test]
fn claude_output_that_is_not_json_fails() {
    check_single_failure(
        "garbage",
        Spec::new(&[Agent::Claude]),
        editing(Outcome::Garbage),
        &["json", "parse", "not a", "unreadable", "output"],
    );
}

#[test]
fn codex_turn_failed_fails_even_with_exit_0() {
    check_single_failure(
        "codexfail",
        Spec::new(&[Agent::Codex]).coding_agent("type: codex"),
        editing(Outcome::TurnFailed("stream disconnected before completion: rate limit reached".into())),
        &["rate limit reached"],
    );
}

#[test]
fn an_agent_that_changes_nothing_fails() {
    check_single_failure(
        "empty",
        Spec::new(&[Agent::Claude]),
        Step::success().summary("I looked around and decided not to change anything."),
        &["nothing", "no change", "empty", "unchanged"],
    );
}

#[test]
fn an_agent_that_hangs_is_timed_out_and_its_process_group_killed() {
    let start = Instant::now();
    let (w, _s, _) = check_single_failure(
        "hang",
        Spec::new(&[Agent::Claude]).coding_agent("timeout: 2s"),
        editing(Outcome::Hang),
        &["timed out", "timeout"],
    );
    let mut c = Checks::new();
    match w.agents.hang_pids() {
        Some((agent, child)) => {
            // The handoff waits for its group to be gone; allow a moment for reaping only.
            let gone = wait_until(Duration::from_secs(3), || !pid_alive(agent) && !pid_alive(child));
            c.check(gone, || {
                format!(
                    "after the timeout the agent ({agent}, alive: {}) and its TERM-ignoring child ({child}, alive: {}) must be gone",
                    pid_alive(agent),
                    pid_alive(child)
                )
            });
        }
        None => c.check(false, || "the hanging stand-in never wrote its pids".into()),
    }
    c.check(start.elapsed() < Duration::from_secs(45), || {
        format!("a 2s timeout took {:?} to end the session", start.elapsed())
    });
    c.finish(|| w.context("hang"));
}

/// smoke.py imports the module the agent creates, after noting where it ran.
fn smoke_py(ctl: &std::path::Path) -> String {
    format!(
        "import os\nwith open(os.path.join({ctl:?}, \"smoke-runs\"), \"a\") as f:\n    f.write(os.getcwd() + \"\\n\")\n\
         print(\"smoke: importing the schedule\", flush=True)\nimport schedule_cosine\nprint(\"smoke ok\")\n",
        ctl = ctl.display().to_string()
    )
}

/// A project with `entry.smoke: python3 smoke.py`. smoke.py needs the control dir, known only
/// once the project exists: it is committed over a placeholder before the session starts.
fn smoke_world(step: Step) -> World {
    let mut w = World::new(Spec::new(&[Agent::Claude]).smoke("python3 smoke.py").file("smoke.py", "PLACEHOLDER\n"));
    let smoke = smoke_py(w.env.project.ctl());
    w.env.project.write("smoke.py", &smoke);
    w.env.project.commit("smoke test");
    if let Some(entry) = w.baseline_files.iter_mut().find(|(p, _)| p == "smoke.py") {
        entry.1 = smoke;
    }
    w.agents.script(&[step]);
    w
}

#[test]
fn a_change_that_breaks_the_smoke_run_is_reverted_and_reported() {
    let w = smoke_world(
        Step::success()
            .edit(Edit::append("train.py", "\nimport schedule_cosine\n"))
            .edit(Edit::write(CREATED, "raise RuntimeError('broken schedule: step out of range')\n")),
    );
    w.fake.push(code_decision(REQUEST, &["train.py"]));
    w.start("smokefail", 3);
    let s = w.settle("smokefail");

    let mut c = Checks::new();
    c.check(state(&s) == "failed" && stop_reason(&s) == "retry_budget", || {
        format!("a failed verify counts against retry_budget 1: {} / {}", state(&s), stop_reason(&s))
    });
    let events = w.events("smokefail", &s);
    let reasons = w.failure_reasons(&mut c, &events);
    c.check(reasons.iter().any(|r| mentions(r, &["smoke", "verify"])), || {
        format!("the reason must say verification failed: {reasons:?}")
    });
    c.check(reasons.iter().any(|r| r.contains("broken schedule")), || {
        format!("the reason must carry the smoke run's error output: {reasons:?}")
    });
    let worktree = w.worktree(&s);
    let runs = std::fs::read_to_string(w.env.project.ctl_file("smoke-runs")).unwrap_or_default();
    c.check(runs.lines().any(|l| std::path::Path::new(l) == worktree), || {
        format!("the smoke run must run in the worktree {}: {runs:?}", worktree.display())
    });
    w.check_reverted(&mut c, &s, &[CREATED]);
    w.check_nothing_committed(&mut c, "smokefail", &s);
    c.finish(|| w.context("smokefail"));
}

#[test]
fn a_change_that_passes_the_smoke_run_is_committed() {
    let w = smoke_world(
        Step::success()
            .edit(Edit::write(CREATED, "def cosine(step, total):\n    return 1.0\n"))
            .summary("Added the schedule."),
    );
    w.fake.push(code_decision(REQUEST, &["train.py"]));
    w.start("smokeok", 2);
    let s = w.settle("smokeok");

    let mut c = Checks::new();
    c.check(state(&s) == "completed" && stop_reason(&s) == "max_iterations", || {
        format!("session: {} / {}", state(&s), stop_reason(&s))
    });
    let it1 = iteration(&s, 1).unwrap_or(Value::Null);
    c.check(it1["state"] == "succeeded", || format!("iteration 1: {}", pretty(&it1)));
    let verified = it1["agent"]["verified"].as_str().unwrap_or_default();
    c.check(mentions(verified, &["smoke"]), || format!("agent.verified must name the smoke run: {}", it1["agent"]));
    c.check(w.committed(&s, 1, CREATED).is_some(), || format!("{CREATED} must be committed by iteration 1"));
    let runs = std::fs::read_to_string(w.env.project.ctl_file("smoke-runs")).unwrap_or_default();
    c.check(runs.lines().count() == 1, || format!("the smoke run must run once: {runs:?}"));
    c.finish(|| w.context("smokeok"));
}

#[test]
fn a_change_to_a_frozen_file_is_reverted_and_reported() {
    const METRIC: &str = "def score(pred, target):\n    return abs(pred - target)\n";
    let w = World::new(Spec::new(&[Agent::Claude]).context("frozen: [\"eval/**\"]").file("eval/metric.py", METRIC));
    w.agents.script(&[Step::success()
        .edit(Edit::append("train.py", "\n# tuned\n"))
        .edit(Edit::write("eval/metric.py", "def score(pred, target):\n    return 0.0\n"))]);
    w.fake.push(code_decision(REQUEST, &["train.py"]));
    w.start("frozen", 3);
    let s = w.settle("frozen");

    let mut c = Checks::new();
    let events = w.events("frozen", &s);
    let reasons = w.failure_reasons(&mut c, &events);
    c.check(reasons.iter().any(|r| r.contains("eval/metric.py") && mentions(r, &["frozen"])), || {
        format!("the reason must name the frozen file: {reasons:?}")
    });
    w.check_reverted(&mut c, &s, &[]);
    w.check_nothing_committed(&mut c, "frozen", &s);
    let out = revis_tests::git::git_output(w.env.project.path(), &["show", "revis/frozen:eval/metric.py"]);
    let branch_metric = String::from_utf8_lossy(&out.stdout);
    c.check(!out.status.success() || branch_metric == METRIC, || {
        format!("eval/metric.py on the branch: {branch_metric}")
    });
    if let Some(call) = w.agents.calls().first() {
        c.check(call.prompt.contains("eval/**"), || {
            format!("the prompt must say the frozen files may not be touched:\n{}", call.prompt)
        });
    }
    let it0 = iteration(&s, 0).unwrap_or(Value::Null);
    c.check(it0["frozen_hash"].as_str().is_some_and(|h| !h.is_empty()), || {
        format!("each iteration records a hash of the frozen files: {}", pretty(&it0))
    });
    c.finish(|| w.context("frozen"));
}

#[test]
fn after_a_failed_handoff_the_next_one_starts_clean_and_only_its_change_is_committed() {
    let w = World::new(Spec::new(&[Agent::Claude]).guardrail("retry_budget", "2"));
    w.agents.script(&[
        Step::new(Outcome::Exit(1, "Error: tool use failed".into()))
            .edit(Edit::write("junk_attempt.py", "broken = True\n"))
            .edit(Edit::append("config.json", "not json any more")),
        Step::success().edit(Edit::write(CREATED, "def cosine(step, total):\n    return 1.0\n")),
    ]);
    w.fake.push(code_decision(REQUEST, &["train.py"]));
    w.fake.push(code_decision(REQUEST, &["train.py"]));
    w.start("retry", 2);
    let s = w.settle("retry");

    let mut c = Checks::new();
    c.check(state(&s) == "completed" && stop_reason(&s) == "max_iterations", || {
        format!("the second handoff must succeed and the session complete: {} / {}", state(&s), stop_reason(&s))
    });
    let it1 = iteration(&s, 1).unwrap_or(Value::Null);
    c.check(it1["state"] == "succeeded", || format!("iteration 1: {}", pretty(&it1)));
    c.check(w.committed(&s, 1, CREATED).is_some(), || format!("{CREATED} must be committed"));
    c.check(w.committed(&s, 1, "junk_attempt.py").is_none(), || "the failed attempt's file was committed".into());
    let config = w.committed(&s, 1, "config.json").unwrap_or_default();
    c.check(!config.contains("not json any more"), || format!("the failed attempt's edit was committed: {config}"));
    let files: Vec<&str> = it1["agent"]["files"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    c.check(files == [CREATED], || format!("agent.files must list only the second attempt's change: {files:?}"));
    c.check(s["consecutive_failures"].as_u64() == Some(0), || {
        format!("a success resets the failure count: {}", s["consecutive_failures"])
    });
    c.finish(|| w.context("retry"));
}
