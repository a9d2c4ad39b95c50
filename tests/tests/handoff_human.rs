//! A human in the loop of a code change: `coding_agent.auto_handoff: false` pauses for approval
//! (`revis approve` runs the agent, `revis resume --skip` drops the change), and
//! `coding_agent.type: none` pauses for a manual edit that `revis resume` commits (refusing an
//! empty one). Stand-in agents are on the daemon's PATH throughout, so any call is visible.

#[allow(dead_code)]
#[path = "../src/agents.rs"]
mod agents;
#[path = "../src/handoff_support.rs"]
mod support;

use agents::{Agent, Edit, Step};
use revis_tests::cli::describe;
use revis_tests::fakes::{Reply, action, config_edit, submit};
use revis_tests::llm::Checks;
use revis_tests::session::{iteration, pretty, state, stop_reason};
use serde_json::{Value, json};
use support::{Spec, World, code_decision, code_decision_with, mentions, stop_decision};

const REQUEST: &str = "Add label smoothing to the loss";
const NEW_FILE: &str = "smoothing.py";

fn agent_step() -> Step {
    Step::success()
        .edit(Edit::write(NEW_FILE, "def smooth(y, eps=0.1):\n    return y * (1 - eps) + eps / 2\n"))
        .summary("Added label smoothing.")
}

fn paused_on(c: &mut Checks, s: &Value, reason: &str) -> bool {
    let ok = state(s) == "paused" && stop_reason(s) == reason;
    c.check(ok, || format!("the session must pause with {reason}: {} / {}", state(s), stop_reason(s)));
    ok
}

#[test]
fn without_auto_handoff_the_change_waits_for_approve_then_the_agent_makes_it() {
    let w = World::new(Spec::new(&[Agent::Claude]).coding_agent("auto_handoff: false"));
    w.agents.script(&[agent_step()]);
    w.fake.push(code_decision(REQUEST, &["train.py"]));
    w.start("approve", 2);
    let s = w.settle("approve");

    let mut c = Checks::new();
    if paused_on(&mut c, &s, "awaiting_approval") {
        let detail = s["stop_detail"].as_str().unwrap_or_default();
        c.check(detail.contains(REQUEST), || format!("the pause must show the request: {detail:?}"));
        c.check(w.agents.calls().is_empty(), || "no agent may run before the approval".into());
        let status = w.env.revis(&["status"]);
        let text = String::from_utf8_lossy(&status.stdout);
        c.check(mentions(&text, &["approv"]), || format!("status must say the session waits for approval:\n{text}"));

        let out = w.env.revis_env(&["approve", "approve"], &w.vars());
        c.check(out.status.success(), || format!("revis approve failed: {}", describe(&out)));
        let s = w.settle("approve");
        c.check(state(&s) == "completed" && stop_reason(&s) == "max_iterations", || {
            format!("after approval the session must complete: {} / {}", state(&s), stop_reason(&s))
        });
        c.check(w.agents.calls().len() == 1, || {
            format!("the agent must run once after approval: {}", w.agents.calls().len())
        });
        let it1 = iteration(&s, 1).unwrap_or(Value::Null);
        c.check(it1["state"] == "succeeded" && it1["agent"]["agent"] == "claude-code", || {
            format!("iteration 1 must be the agent's change: {}", pretty(&it1))
        });
        c.check(w.committed(&s, 1, NEW_FILE).is_some(), || format!("{NEW_FILE} must be committed by iteration 1"));
    }
    c.finish(|| w.context("approve"));
}

#[test]
fn approve_is_refused_for_a_session_that_does_not_wait_for_approval() {
    let w = World::new(Spec::new(&[Agent::Claude]).coding_agent("type: none"));
    w.fake.push(code_decision(REQUEST, &["train.py"]));
    w.start("noapprove", 2);
    let s = w.settle("noapprove");
    let mut c = Checks::new();
    if paused_on(&mut c, &s, "awaiting_change") {
        let out = w.env.revis_env(&["approve", "noapprove"], &w.vars());
        let stderr = String::from_utf8_lossy(&out.stderr);
        c.check(!out.status.success() && !stderr.trim().is_empty(), || {
            format!("approve of a session awaiting a manual change must be refused: {}", describe(&out))
        });
        c.check(w.agents.calls().is_empty(), || "type none: no agent may run".into());
    }
    c.finish(|| w.context("noapprove"));
}

#[test]
fn resume_skip_drops_the_code_change_and_commits_the_rest_of_the_decision() {
    let w = World::new(Spec::new(&[Agent::Claude]).coding_agent("auto_handoff: false"));
    w.fake.push(code_decision_with(REQUEST, &["train.py"], vec![config_edit("config.json", "lr", json!(0.01))]));
    w.start("skip", 2);
    let s = w.settle("skip");

    let mut c = Checks::new();
    if paused_on(&mut c, &s, "awaiting_approval") {
        let out = w.env.revis_env(&["resume", "skip", "--skip"], &w.vars());
        c.check(out.status.success(), || format!("revis resume --skip failed: {}", describe(&out)));
        let s = w.settle("skip");
        c.check(state(&s) == "completed" && stop_reason(&s) == "max_iterations", || {
            format!("after --skip the session must go on and complete: {} / {}", state(&s), stop_reason(&s))
        });
        c.check(w.agents.calls().is_empty(), || "a skipped change must never reach the agent".into());
        let it1 = iteration(&s, 1).unwrap_or(Value::Null);
        c.check(it1["state"] == "succeeded", || {
            format!("iteration 1 must run the rest of the decision: {}", pretty(&it1))
        });
        c.check(it1["agent"].is_null(), || format!("iteration 1 has no agent change: {}", it1["agent"]));
        let config = w.committed(&s, 1, "config.json").unwrap_or_default();
        c.check(config.contains("0.01"), || format!("the config edit must be committed: {config}"));
        c.check(w.committed(&s, 1, NEW_FILE).is_none(), || "nothing of the code change may be committed".into());
    }
    c.finish(|| w.context("skip"));
}

#[test]
fn resume_skip_of_a_code_only_decision_asks_the_advisor_again() {
    let w = World::new(Spec::new(&[Agent::Claude]).coding_agent("auto_handoff: false"));
    w.fake.push(code_decision(REQUEST, &["train.py"]));
    w.fake.push(stop_decision());
    w.start("skiponly", 3);
    let s = w.settle("skiponly");

    let mut c = Checks::new();
    if paused_on(&mut c, &s, "awaiting_approval") {
        let out = w.env.revis_env(&["resume", "skiponly", "--skip"], &w.vars());
        c.check(out.status.success(), || format!("revis resume --skip failed: {}", describe(&out)));
        let s = w.settle("skiponly");
        c.check(state(&s) == "completed" && stop_reason(&s) == "advisor", || {
            format!("the advisor's next decision (stop) must end the session: {} / {}", state(&s), stop_reason(&s))
        });
        c.check(w.fake.request_count() == 2, || {
            format!("the advisor must be asked again: {} requests", w.fake.request_count())
        });
        c.check(w.agents.calls().is_empty(), || "a skipped change must never reach the agent".into());
        c.check(iteration(&s, 1).is_none_or(|it| it["state"] != "succeeded"), || {
            "no iteration from a dropped change".into()
        });
    }
    c.finish(|| w.context("skiponly"));
}

#[test]
fn resume_skip_is_refused_when_no_code_change_waits() {
    let w = World::new(Spec::new(&[Agent::Claude]));
    w.fake.push(Reply::call(submit(action("escalate", "the data looks corrupted"))));
    w.start("noskip", 2);
    let s = w.settle("noskip");
    let mut c = Checks::new();
    if paused_on(&mut c, &s, "escalated") {
        let out = w.env.revis_env(&["resume", "noskip", "--skip"], &w.vars());
        let stderr = String::from_utf8_lossy(&out.stderr);
        c.check(!out.status.success() && mentions(&stderr, &["code change", "--skip"]), || {
            format!("--skip on a session not waiting for a code change must be refused, saying why: {}", describe(&out))
        });
        let again = w.env.show("noskip");
        c.check(state(&again) == "paused", || format!("a refused --skip leaves the session paused: {}", state(&again)));
    }
    c.finish(|| w.context("noskip"));
}

#[test]
fn type_none_waits_for_a_manual_edit_refuses_an_empty_one_and_commits_it() {
    let w = World::new(Spec::new(&[Agent::Claude, Agent::Codex, Agent::Aider]).coding_agent("type: none"));
    w.fake.push(code_decision(REQUEST, &["train.py"]));
    w.start("manual", 2);
    let s = w.settle("manual");

    let mut c = Checks::new();
    if paused_on(&mut c, &s, "awaiting_change") {
        let worktree = w.worktree(&s);
        let detail = s["stop_detail"].as_str().unwrap_or_default();
        c.check(detail.contains(&worktree.display().to_string()), || {
            format!("the pause must print the worktree's path {}: {detail:?}", worktree.display())
        });
        c.check(detail.contains(REQUEST), || format!("the pause must show the request: {detail:?}"));
        let status = w.env.revis(&["status"]);
        let text = String::from_utf8_lossy(&status.stdout);
        c.check(
            mentions(&text, &["awaiting_change", "awaiting change", "waiting for a code change", "code change"]),
            || format!("status must say the session waits for a code change:\n{text}"),
        );

        let out = w.env.revis_env(&["resume", "manual"], &w.vars());
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        c.check(!out.status.success(), || format!("resume with no edit must be refused: {}", describe(&out)));
        c.check(mentions(&stderr, &["no change", "nothing", "not changed", "unchanged", "no edit", "empty"]), || {
            format!("the refusal must say that nothing was edited: {stderr:?}")
        });
        let again = w.env.show("manual");
        c.check(state(&again) == "paused" && stop_reason(&again) == "awaiting_change", || {
            format!("a refused resume leaves the session waiting: {} / {}", state(&again), stop_reason(&again))
        });

        let train = std::fs::read_to_string(worktree.join("train.py")).unwrap_or_default();
        let edited = format!("{train}# label smoothing, by hand\n");
        let written = std::fs::write(worktree.join("train.py"), &edited)
            .and_then(|()| std::fs::write(worktree.join(NEW_FILE), "EPS = 0.1\n"));
        c.check(written.is_ok(), || format!("cannot edit the worktree: {written:?}"));
        let out = w.env.revis_env(&["resume", "manual"], &w.vars());
        c.check(out.status.success(), || format!("resume after an edit failed: {}", describe(&out)));
        let s = w.settle("manual");
        c.check(state(&s) == "completed" && stop_reason(&s) == "max_iterations", || {
            format!("after the edit the session must complete: {} / {}", state(&s), stop_reason(&s))
        });
        let it1 = iteration(&s, 1).unwrap_or(Value::Null);
        c.check(it1["state"] == "succeeded", || format!("iteration 1 must run the edit: {}", pretty(&it1)));
        c.check(w.committed(&s, 1, "train.py").as_deref() == Some(edited.as_str()), || {
            "the manual edit of train.py must be committed as iteration 1".into()
        });
        c.check(w.committed(&s, 1, NEW_FILE).as_deref() == Some("EPS = 0.1\n"), || {
            format!("the new file {NEW_FILE} must be committed as iteration 1")
        });
    }
    c.check(w.agents.calls().is_empty(), || {
        format!("type none: no agent may run even when one is on PATH ({} calls)", w.agents.calls().len())
    });
    c.finish(|| w.context("manual"));
}
