//! Code changes handed to a coding agent, end to end: the scripted model asks for a code change,
//! the daemon runs the stand-in agent found first on its PATH (Claude Code, Codex, aider), then
//! verifies, commits and records it (agent, summary, cost, diff). Also what the agent is told:
//! the request and the relevant files, never a denied file's name or content.

#[allow(dead_code)]
#[path = "../src/agents.rs"]
mod agents;
#[path = "../src/handoff_support.rs"]
mod support;

use agents::{Agent, Edit, Step};
use revis_tests::fakes::{Reply, change, config_edit, submit};
use revis_tests::llm::Checks;
use revis_tests::session::{iteration, pretty, state, stop_reason};
use serde_json::{Value, json};
use support::{Spec, World, code_decision, code_decision_with, mentions};

const REQUEST: &str = "Add a cosine learning-rate schedule in a new module and use it from the training script";
const SUMMARY: &str = "Added schedule_cosine.py with a cosine schedule and wired it into train.py.";
/// Appended to train.py by the agent: proves the iteration trained with the agent's code.
const TRAIN_EDIT: &str =
    "\n# cosine schedule (added by the agent)\nopen(ctl(\"agent-code-ran\"), \"a\").write(it + \"\\n\")\n";
const NEW_MODULE: &str =
    "import math\n\n\ndef cosine(step, total):\n    return 0.5 * (1 + math.cos(math.pi * step / total))\n";

fn agent_step() -> Step {
    Step::success()
        .edit(Edit::append("train.py", TRAIN_EDIT))
        .edit(Edit::write("schedule_cosine.py", NEW_MODULE))
        .summary(SUMMARY)
        .cost(0.0375)
}

/// Iteration 1 succeeded with the agent's change: the record on the iteration, its commit, the
/// training it ran. Returns the iteration.
fn check_committed(c: &mut Checks, w: &World, name: &str, s: &Value, agent_name: &str) -> Value {
    c.check(state(s) == "completed" && stop_reason(s) == "max_iterations", || {
        format!("the session must complete its 2 iterations: {} / {}", state(s), stop_reason(s))
    });
    let it1 = iteration(s, 1).unwrap_or(Value::Null);
    c.check(it1["state"] == "succeeded", || format!("iteration 1 must have run: {}", pretty(&it1)));
    let agent = &it1["agent"];
    c.check(agent["agent"] == agent_name, || format!("iteration 1 agent.agent must be {agent_name}: {agent}"));
    let files: Vec<&str> = agent["files"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    c.check(files.contains(&"train.py") && files.contains(&"schedule_cosine.py"), || {
        format!("agent.files must list the edited and the new file: {files:?}")
    });
    let diff = agent["diff"].as_str().unwrap_or_default();
    c.check(diff.contains("schedule_cosine.py") && diff.contains("def cosine(step, total)"), || {
        format!("agent.diff must contain the new file: {diff}")
    });
    c.check(diff.contains("train.py") && diff.contains("+# cosine schedule (added by the agent)"), || {
        format!("agent.diff must contain the edit of train.py: {diff}")
    });
    c.check(agent["request"].as_str().is_some_and(|r| r.contains("cosine learning-rate schedule")), || {
        format!("agent.request must keep the request: {agent}")
    });
    match w.committed(s, 1, "schedule_cosine.py") {
        Some(text) => c.check(text == NEW_MODULE, || format!("schedule_cosine.py committed as {text:?}")),
        None => c.check(false, || "iteration 1's commit has no schedule_cosine.py".into()),
    }
    let sha = it1["commit"].as_str().unwrap_or_default();
    let on_branch = revis_tests::git::git_output(
        w.env.project.path(),
        &["merge-base", "--is-ancestor", sha, &format!("refs/heads/revis/{name}")],
    );
    c.check(!sha.is_empty() && on_branch.status.success(), || {
        format!("iteration 1's commit {sha:?} must be on revis/{name}")
    });
    let train = w.committed(s, 1, "train.py").unwrap_or_default();
    c.check(train.ends_with(TRAIN_EDIT), || "iteration 1's commit must hold the agent's edit of train.py".into());
    let ran = std::fs::read_to_string(w.env.project.ctl_file("agent-code-ran")).unwrap_or_default();
    c.check(ran.lines().any(|l| l.trim() == "1"), || {
        format!("iteration 1 must train with the agent's code (agent-code-ran: {ran:?})")
    });
    c.check(w.env.project.read("train.py") == w.baseline_files[0].1, || "the user's checkout changed".into());
    it1
}

/// argv, cwd, stdin and environment of the one agent call.
/// `own_keys`: the provider keys this agent may receive for its own model calls.
fn check_call(c: &mut Checks, w: &World, s: &Value, program: &str, own_keys: &[&str]) -> Option<agents::Call> {
    let calls = w.agents.calls();
    c.check(calls.len() == 1, || format!("the agent must run exactly once, ran {} times", calls.len()));
    let call = calls.into_iter().next()?;
    c.check(call.agent == program, || format!("{program} must be the agent that ran, not {}", call.agent));
    c.check(call.violations.is_empty(), || {
        format!("the real {program} would reject its command line: {:?}", call.violations)
    });
    // Hidden means absent: the agent works in a view of the worktree in a private temporary
    // directory, never in the project or next to Revis's state (whose files name hidden ones).
    let worktree = w.worktree(s);
    let cwd = std::path::Path::new(&call.cwd);
    let in_temp = cwd
        .parent()
        .and_then(|p| p.file_name())
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("revis-agent-"));
    c.check(
        in_temp && !cwd.starts_with(w.env.project.path()) && !cwd.starts_with(w.env.home.path()) && cwd != worktree,
        || format!("the agent must run in its private view, ran in {}", call.cwd),
    );
    c.check(!cwd.exists(), || format!("the agent's view {} was left behind", call.cwd));
    c.check(call.stdin == "/dev/null", || format!("the agent's stdin must be /dev/null, was {}", call.stdin));
    c.check(call.pgid == call.pid, || format!("the agent must lead its own process group: {}", call.raw));
    c.check(!call.provider_vars.iter().any(|v| !own_keys.contains(&v.as_str()) && v.ends_with("_API_KEY")), || {
        format!("the agent received another provider's key: {:?}", call.provider_vars)
    });
    c.check(call.prompt.contains(REQUEST), || format!("the prompt must carry the request:\n{}", call.prompt));
    c.check(call.prompt.contains("cosine learning-rate schedule lowers val_loss"), || {
        format!("the prompt must carry the hypothesis:\n{}", call.prompt)
    });
    c.check(call.prompt.contains("train.py"), || format!("the prompt must name the relevant file:\n{}", call.prompt));
    c.check(call.prompt.contains("val_loss") && call.prompt.contains("4.9"), || {
        format!("the prompt must carry the recent history with its metrics (baseline val_loss 4.9):\n{}", call.prompt)
    });
    Some(call)
}

fn check_no_handoff_failure(c: &mut Checks, events: &[Value]) {
    let failed: Vec<&Value> = events.iter().filter(|e| e["kind"] == "handoff_failed").collect();
    c.check(failed.is_empty(), || format!("unexpected handoff_failed: {failed:?}"));
}

#[test]
fn claude_code_makes_the_change_which_is_verified_committed_and_recorded() {
    let w = World::new(
        Spec::new(&[Agent::Claude, Agent::Codex, Agent::Aider])
            .coding_agent("max_turns: 7")
            .context("constraints: [\"keep the batch size at 32\"]"),
    );
    w.agents.script(&[agent_step()]);
    w.fake.push(code_decision(REQUEST, &["train.py"]));
    w.start("claude", 2);
    let s = w.settle("claude");

    let mut c = Checks::new();
    let it1 = check_committed(&mut c, &w, "claude", &s, "claude-code");
    let agent = &it1["agent"];
    c.check(agent["summary"] == SUMMARY, || format!("agent.summary must be the result text: {agent}"));
    c.check(agent["cost_usd"].as_f64() == Some(0.0375), || format!("agent.cost_usd must be 0.0375: {agent}"));
    c.check(agent["verified"].as_str().is_some_and(|v| !v.is_empty()), || {
        format!("verify is on by default: agent.verified must say how: {agent}")
    });
    let spent = s["spend"]["llm_usd"].as_f64().unwrap_or(0.0);
    let advisor = it1["llm"]["usd"].as_f64().unwrap_or(0.0);
    c.check(spent + 1e-9 >= advisor + 0.0375, || {
        format!("the agent's cost must count toward the session's spend: {spent} < {advisor} + 0.0375")
    });
    if let Some(call) = check_call(&mut c, &w, &s, "claude", &["ANTHROPIC_API_KEY"]) {
        let argv = &call.argv;
        let after = |flag: &str| argv.iter().position(|a| a == flag).and_then(|i| argv.get(i + 1)).cloned();
        c.check(argv.iter().any(|a| a == "-p" || a == "--print"), || format!("claude needs -p: {argv:?}"));
        c.check(after("--output-format").as_deref() == Some("json"), || format!("--output-format json: {argv:?}"));
        c.check(after("--max-turns").as_deref() == Some("7"), || {
            format!("--max-turns must be coding_agent.max_turns: {argv:?}")
        });
        c.check(after("--permission-mode").as_deref() == Some("acceptEdits"), || {
            format!("--permission-mode acceptEdits: {argv:?}")
        });
        c.check(call.prompt.contains("keep the batch size at 32"), || {
            format!("the prompt must carry the user's constraints:\n{}", call.prompt)
        });
    }
    let events = w.events("claude", &s);
    check_no_handoff_failure(&mut c, &events);

    let trace = w.env.revis(&["show", "claude", "--trace"]);
    let text = String::from_utf8_lossy(&trace.stdout);
    c.check(trace.status.success() && text.contains(SUMMARY), || {
        format!("show --trace must show the agent's summary:\n{text}")
    });
    c.check(text.contains("schedule_cosine.py"), || format!("show --trace must show the diff:\n{text}"));
    c.finish(|| w.context("claude"));
}

#[test]
fn codex_is_driven_with_exec_json_and_its_jsonl_is_read() {
    let w = World::new(Spec::new(&[Agent::Codex]).coding_agent("type: codex"));
    w.agents.script(&[agent_step()]);
    w.fake.push(code_decision(REQUEST, &["train.py"]));
    w.start("codex", 2);
    let s = w.settle("codex");

    let mut c = Checks::new();
    let it1 = check_committed(&mut c, &w, "codex", &s, "codex");
    c.check(it1["agent"]["summary"] == SUMMARY, || {
        format!("agent.summary must be codex's last agent message: {}", it1["agent"])
    });
    if let Some(call) = check_call(&mut c, &w, &s, "codex", &["CODEX_API_KEY"]) {
        let argv = &call.argv;
        c.check(argv.first().map(String::as_str) == Some("exec"), || format!("codex exec …: {argv:?}"));
        c.check(argv.iter().any(|a| a == "--json"), || format!("codex needs --json: {argv:?}"));
        let sandbox = argv.iter().position(|a| a == "--sandbox" || a == "-s").and_then(|i| argv.get(i + 1));
        c.check(sandbox.map(String::as_str) == Some("workspace-write"), || {
            format!("codex needs --sandbox workspace-write: {argv:?}")
        });
    }
    check_no_handoff_failure(&mut c, &w.events("codex", &s));
    c.finish(|| w.context("codex"));
}

#[test]
fn aider_gets_the_message_and_the_files_on_its_command_line() {
    let w = World::new(Spec::new(&[Agent::Aider]).coding_agent("type: aider"));
    w.agents.script(&[agent_step()]);
    w.fake.push(code_decision(REQUEST, &["train.py", "config.json"]));
    w.start("aider", 2);
    let s = w.settle("aider");

    let mut c = Checks::new();
    let it1 = check_committed(&mut c, &w, "aider", &s, "aider");
    c.check(it1["agent"]["summary"].as_str().is_some_and(|t| t.contains(SUMMARY)), || {
        format!("agent.summary must hold aider's last lines: {}", it1["agent"])
    });
    if let Some(call) = check_call(&mut c, &w, &s, "aider", &["ANTHROPIC_API_KEY", "OPENAI_API_KEY"]) {
        let argv = &call.argv;
        for flag in ["--yes-always", "--no-auto-commits", "--no-stream"] {
            c.check(argv.iter().any(|a| a == flag), || format!("aider needs {flag}: {argv:?}"));
        }
        c.check(call.files == ["train.py", "config.json"], || {
            format!("aider must get the relevant files as arguments: {:?}", call.files)
        });
    }
    check_no_handoff_failure(&mut c, &w.events("aider", &s));
    c.finish(|| w.context("aider"));
}

#[test]
fn auto_picks_the_first_agent_on_path_in_the_order_claude_codex_aider() {
    let w = World::new(Spec::new(&[Agent::Codex, Agent::Aider]));
    w.agents.script(&[agent_step()]);
    w.fake.push(code_decision(REQUEST, &["train.py"]));
    w.start("auto", 2);
    let s = w.settle("auto");

    let mut c = Checks::new();
    check_committed(&mut c, &w, "auto", &s, "codex");
    let calls = w.agents.calls();
    c.check(calls.len() == 1 && calls[0].agent == "codex", || {
        format!(
            "with codex and aider on PATH, auto must run codex: {:?}",
            calls.iter().map(|x| &x.agent).collect::<Vec<_>>()
        )
    });
    c.finish(|| w.context("auto"));
}

/// The denied file is named by the model among the relevant files; the agent must see neither
/// its name nor its content, while the other files are named.
fn check_prompt_hides_denied(agent: Agent, type_line: &str) {
    const CANARY: &str = "CANARY-holdout-5d1e9b";
    let w = World::new(
        Spec::new(&[agent])
            .coding_agent(type_line)
            .context("deny: [\"private/**\"]")
            .file("private/holdout_labels.csv", &format!("id,label\n1,{CANARY}\n")),
    );
    w.agents.script(&[agent_step()]);
    // The advisor may refuse the denied file as a tool error (the model cannot see it); then
    // the model resubmits without it. Either way the agent must not learn of it.
    w.fake.push(code_decision_with(
        REQUEST,
        &["train.py", "private/holdout_labels.csv", "config.json"],
        vec![config_edit("config.json", "lr", json!(0.01))],
    ));
    w.fake.push(code_decision_with(
        REQUEST,
        &["train.py", "config.json"],
        vec![config_edit("config.json", "lr", json!(0.01))],
    ));
    let name = agent.program();
    w.start(name, 2);
    let s = w.settle(name);

    let mut c = Checks::new();
    let calls = w.agents.calls();
    c.check(calls.len() == 1, || format!("the agent must run once, ran {} times", calls.len()));
    for call in &calls {
        let everything = format!("{}\n{}", call.argv.join("\n"), call.prompt);
        for secret in ["holdout_labels", "private/", CANARY] {
            c.check(!everything.contains(secret), || {
                format!("the agent's input contains the denied {secret:?}:\n{everything}")
            });
        }
        c.check(mentions(&everything, &["train.py"]) && mentions(&everything, &["config.json"]), || {
            format!("the agent must be told the non-denied relevant files:\n{everything}")
        });
        if agent == Agent::Aider {
            c.check(call.files == ["train.py", "config.json"], || {
                format!("aider's file arguments must be the non-denied files: {:?}", call.files)
            });
        }
    }
    c.check(state(&s) == "completed", || format!("the handoff must still succeed: {}", state(&s)));
    c.finish(|| w.context(name));
}

#[test]
fn the_claude_prompt_never_names_or_shows_a_denied_file() {
    check_prompt_hides_denied(Agent::Claude, "type: claude-code");
}

#[test]
fn aider_never_gets_a_denied_file_in_its_arguments_or_message() {
    check_prompt_hides_denied(Agent::Aider, "type: aider");
}

#[test]
fn a_request_that_names_a_denied_file_never_reaches_the_agent_with_that_name() {
    let w = World::new(
        Spec::new(&[Agent::Claude])
            .context("deny: [\"private/**\"]")
            .file("private/holdout_labels.csv", "id,label\n1,CANARY-holdout-77aa01\n"),
    );
    w.agents.script(&[agent_step()]);
    w.fake.push(code_decision("Calibrate the loss against private/holdout_labels.csv", &["train.py"]));
    w.fake.push(code_decision(REQUEST, &["train.py"]));
    w.start("named", 2);
    let s = w.settle("named");

    let mut c = Checks::new();
    let calls = w.agents.calls();
    c.check(!calls.is_empty(), || format!("the agent never ran: {} / {}", state(&s), stop_reason(&s)));
    for call in &calls {
        c.check(!call.prompt.contains("holdout_labels") && !call.argv.join(" ").contains("holdout_labels"), || {
            format!("a denied file's name reached the agent through the request:\n{}", call.prompt)
        });
    }
    c.finish(|| w.context("named"));
}

#[test]
fn the_agents_cost_counts_toward_max_cost() {
    let w = World::new(Spec::new(&[Agent::Claude]));
    w.agents.script(&[agent_step().cost(0.05)]);
    w.fake.push(code_decision(REQUEST, &["train.py"]));
    w.fake.push(Reply::call(submit(change(
        "lower lr",
        "lr=0.01 helps",
        vec![config_edit("config.json", "lr", json!(0.01))],
    ))));
    let vars = w.vars();
    w.env.start_llm_loop("cost", &["--max-iterations", "5", "--max-cost", "0.03"], &vars);
    let s = w.settle("cost");

    let mut c = Checks::new();
    c.check(state(&s) == "completed" && stop_reason(&s) == "max_cost", || {
        format!(
            "one advisor call (< $0.01) plus the agent's $0.05 must use up --max-cost 0.03: {} / {}",
            state(&s),
            stop_reason(&s)
        )
    });
    c.check(w.fake.request_count() == 1, || {
        format!("after the agent's cost the advisor must not be asked again: {} requests", w.fake.request_count())
    });
    let spent = s["spend"]["llm_usd"].as_f64().unwrap_or(0.0);
    c.check(spent >= 0.05, || format!("spend.llm_usd must include the agent's $0.05: {spent}"));
    c.finish(|| w.context("cost"));
}

/// `coding_agent.env`: a name without a value comes from the shell that ran `revis loop` (the
/// CLI asks the daemon which names the session wants), a value is set as given, and
/// `coding_agent.model` and `coding_agent.args` reach the command line.
#[test]
fn coding_agent_env_model_and_args_reach_the_agent() {
    let w = World::new(
        Spec::new(&[Agent::Claude])
            .coding_agent("type: claude-code")
            .coding_agent("model: anthropic/claude-opus-4-1")
            .coding_agent("env:")
            .coding_agent("  GEMINI_API_KEY:")
            .coding_agent("  GEMINI_FIXED: \"set in revis.yaml\"")
            .coding_agent("args:")
            .coding_agent("  claude-code: [--verbose]")
            .coding_agent("  aider: [--not-for-claude]"),
    );
    w.agents.script(&[agent_step()]);
    w.fake.push(code_decision(REQUEST, &["train.py"]));
    let mut vars = w.vars();
    vars.push(("GEMINI_API_KEY".into(), "from-the-shell".into()));
    // Not named by the session: stays in the shell.
    vars.push(("GEMINI_OTHER_KEY".into(), "not-asked-for".into()));
    w.env.start_llm_loop("agent-env", &["--max-iterations", "2"], &vars);
    let s = w.settle("agent-env");

    let mut c = Checks::new();
    check_committed(&mut c, &w, "agent-env", &s, "claude-code");
    if let Some(call) = w.agents.calls().into_iter().next() {
        let vars = &call.provider_vars;
        c.check(vars.iter().any(|v| v == "GEMINI_API_KEY"), || {
            format!("the passed name must reach the agent: {vars:?}")
        });
        c.check(vars.iter().any(|v| v == "GEMINI_FIXED"), || format!("the fixed value must reach the agent: {vars:?}"));
        c.check(!vars.iter().any(|v| v == "GEMINI_OTHER_KEY"), || format!("an unasked variable reached it: {vars:?}"));
        let argv = &call.argv;
        let model = argv.iter().position(|a| a == "--model").and_then(|i| argv.get(i + 1));
        c.check(model.map(String::as_str) == Some("claude-opus-4-1"), || {
            format!("--model from coding_agent.model: {argv:?}")
        });
        c.check(argv.iter().any(|a| a == "--verbose") && !argv.iter().any(|a| a == "--not-for-claude"), || {
            format!("claude-code's own extra arguments, and only those: {argv:?}")
        });
        c.check(call.violations.is_empty(), || format!("the real claude would refuse: {:?}", call.violations));
    } else {
        c.check(false, || "the agent never ran".into());
    }
    c.finish(|| w.context("agent-env"));
}
