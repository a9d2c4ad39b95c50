//! The LLM advisor end to end against loopback fakes of Anthropic and OpenAI: multi-turn tool
//! conversations whose decisions are applied and committed, tool errors the model corrects
//! (invalid JSON arguments, a missing key), refused paths (denied files, `..`, absolute paths,
//! symlink escapes), retries and fallback, a model that never submits, stop/escalate, spend and
//! `--max-cost`, the stored trace, and how the advisor is chosen.

use revis_tests::fakes::{FakeLlm, Recorded, Reply, action, change, config_edit, raw_tool_call, submit, tool_call};
use revis_tests::git::commits;
use revis_tests::llm::{Checks, assert_no_violations, brief, env_of, fake_key, llm_project, of_kind};
use revis_tests::scripts::kill_daemon;
use revis_tests::session::{iteration, numbers, pretty, state, stop_reason};
use revis_tests::{Project, TestEnv};
use serde_json::{Value, json};
use std::time::Duration;

const ANTHROPIC: &str = "llm:\n  model: anthropic/claude-sonnet-4-5\ncontext:\n  max_agent_iterations: 8\n";
const OPENAI: &str = "llm:\n  model: openai/gpt-4.1\ncontext:\n  max_agent_iterations: 8\n";

fn lr_change(lr: f64) -> Reply {
    Reply::call(submit(change(
        "lr is at the worst end of its range",
        &format!("lr={lr} lowers val_loss"),
        vec![config_edit("config.json", "lr", json!(lr))],
    )))
}

/// config.json as committed at the tip of `revis/<name>`.
fn committed_config(project: &Project, name: &str) -> Value {
    let text = project.git(&["show", &format!("revis/{name}:config.json")]);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("config.json on revis/{name} is not JSON ({e}): {text}"))
}

/// Iteration 1 exists, succeeded and has a commit on the branch carrying its trailer; the
/// branch's config has `lr` and kept the other key.
fn check_lr_committed(c: &mut Checks, env: &TestEnv, s: &Value, name: &str, lr: f64) {
    let it1 = iteration(s, 1).unwrap_or(Value::Null);
    c.check(it1["state"] == "succeeded", || format!("iteration 1 must have run: {}", pretty(&it1)));
    let commit = it1["commit"].as_str().unwrap_or_default().to_string();
    c.check(!commit.is_empty(), || format!("iteration 1 has no commit: {}", pretty(&it1)));
    let base = s["base_commit"].as_str().unwrap_or_default();
    if !base.is_empty() && env.project.has_branch(&format!("revis/{name}")) {
        let log = commits(env.project.path(), &format!("{base}..revis/{name}"));
        c.check(log.iter().any(|x| x.trailer("Revis-Iteration") == Some("1")), || {
            format!("no commit with Revis-Iteration: 1 on revis/{name}: {log:#?}")
        });
        let config = committed_config(&env.project, name);
        c.check(config["lr"].as_f64() == Some(lr), || {
            format!("config.json on revis/{name} should have lr {lr}: {config}")
        });
        c.check(config["note"] == "kept as is", || format!("the edit must keep the other keys: {config}"));
    } else {
        c.check(false, || format!("branch revis/{name} or base_commit missing: {}", pretty(s)));
    }
}

fn context(env: &TestEnv, fakes: &[&FakeLlm]) -> String {
    let mut out = String::new();
    for f in fakes {
        for r in f.requests() {
            out.push_str(&format!(
                "--- {:?} request #{} -> {}\n{}\n",
                f.dialect(),
                r.index,
                r.status,
                clip(&r.raw, 3000)
            ));
        }
    }
    format!("{out}\ndaemon log:\n{}", env.home.daemon_log())
}

fn clip(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

fn no_violations(c: &mut Checks, fakes: &[&FakeLlm]) {
    let all: Vec<String> = fakes.iter().flat_map(|f| f.violations()).collect();
    c.check(all.is_empty(), || format!("requests the real API would refuse:\n{}", all.join("\n")));
}

#[test]
fn a_multi_turn_tool_conversation_edits_the_config_and_commits_it() {
    let fake = FakeLlm::anthropic(&fake_key("sk-ant-test"));
    fake.script([
        Reply::call(tool_call("list_directory", json!({"path": "."}))).with_text("Let me look at the project."),
        Reply::call(tool_call("read_file", json!({"path": "config.json"}))),
        lr_change(0.01),
    ]);
    let env = TestEnv::new(llm_project(&[], ANTHROPIC, &[]));
    let config_before = env.project.read("config.json");
    env.start_llm_loop("talk", &["--max-iterations", "2"], &env_of(&[&fake]));
    let s = env.wait_ended("talk");

    let mut c = Checks::new();
    c.check(state(&s) == "completed" && stop_reason(&s) == "max_iterations", || format!("session: {}", pretty(&s)));
    no_violations(&mut c, &[&fake]);
    let reqs = fake.requests();
    c.check(reqs.len() == 3, || format!("expected 3 requests (list, read, submit), got {}", reqs.len()));
    check_lr_committed(&mut c, &env, &s, "talk", 0.01);
    c.check(env.project.read("config.json") == config_before, || "the user's config.json changed".into());
    let it1 = iteration(&s, 1).unwrap_or(Value::Null);
    c.check(it1["rationale"] == "lr is at the worst end of its range", || format!("rationale: {}", pretty(&it1)));
    c.check(it1["hypothesis"] == "lr=0.01 lowers val_loss", || format!("hypothesis: {}", pretty(&it1)));

    if let Some(first) = reqs.first() {
        check_first_request(&mut c, first);
    }
    if let Some(second) = reqs.get(1) {
        let results = second.tool_results();
        let listing = results.first().map(|r| r.content.clone()).unwrap_or_default();
        c.check(results.len() == 1 && results[0].name.as_deref() == Some("list_directory"), || {
            format!("request 2 must answer the list_directory call: {results:?}")
        });
        c.check(results.first().is_some_and(|r| r.is_error == Some(false)), || {
            format!("list_directory failed: {results:?}")
        });
        c.check(listing.contains("config.json") && listing.contains("train.py"), || {
            format!("the listing must show config.json and train.py: {listing}")
        });
    }
    if let Some(third) = reqs.get(2) {
        let results = third.tool_results();
        let content = results.first().map(|r| r.content.clone()).unwrap_or_default();
        c.check(content.contains("\"lr\": 1.0") && content.contains("kept as is"), || {
            format!("read_file config.json must return its text: {results:?}")
        });
    }

    // Spend: built-in price of claude-sonnet-4-5, usage exactly as the fake billed it.
    let llm = &it1["llm"];
    let billed: u64 = reqs.iter().map(Recorded::prompt_tokens).sum();
    c.check(llm["model"].as_str().is_some_and(|m| m.contains("claude-sonnet-4-5")), || {
        format!("iteration 1 llm.model: {llm}")
    });
    c.check(llm["calls"].as_u64() == Some(3), || format!("iteration 1 llm.calls must be 3: {llm}"));
    c.check(llm["input_tokens"].as_u64() == Some(billed), || {
        format!("llm.input_tokens must be {billed} (the fake's usage): {llm}")
    });
    c.check(llm["output_tokens"].as_u64() == Some(3 * 24), || format!("llm.output_tokens must be 72: {llm}"));
    c.check(llm["usd"].as_f64().is_some_and(|u| u > 0.0), || format!("llm.usd must be > 0 for a priced model: {llm}"));
    let spent = s["spend"]["llm_usd"].as_f64().unwrap_or(0.0);
    c.check(spent > 0.0, || format!("spend.llm_usd must be > 0: {}", s["spend"]));
    c.check(llm["usd"].as_f64().is_some_and(|u| (u - spent).abs() < 1e-9), || {
        format!("session spend {spent} != iteration usd {llm}")
    });

    // The trace of the decision.
    let trace = env.revis(&["show", "talk", "--trace"]);
    let text = String::from_utf8_lossy(&trace.stdout).into_owned();
    c.check(trace.status.success(), || format!("show --trace failed: {}", String::from_utf8_lossy(&trace.stderr)));
    for needle in
        ["list_directory", "read_file", "submit_decision", "config.json", "lr is at the worst end of its range"]
    {
        c.check(text.contains(needle), || format!("show --trace must print {needle:?}:\n{text}"));
    }
    let traced = env.revis(&["show", "talk", "--json", "--trace"]);
    let traced: Value = serde_json::from_slice(&traced.stdout).unwrap_or(Value::Null);
    let t1 = iteration(&traced, 1).map(|it| it["trace"].clone()).unwrap_or(Value::Null);
    c.check(t1.as_str().is_some_and(|t| t.contains("read_file") && serde_json::from_str::<Value>(t).is_ok()), || {
        format!("show --json --trace: iteration 1 must carry its trace as JSON text, got {t1}")
    });
    c.finish(|| context(&env, &[&fake]));
}

/// The first request's shape beyond what the API demands: the contract's cache breakpoints and
/// the six tools.
fn check_first_request(c: &mut Checks, first: &Recorded) {
    let system = &first.body["system"];
    c.check(system[0]["cache_control"] == json!({"type": "ephemeral"}), || {
        format!("the stable system block must carry cache_control ephemeral: {system}")
    });
    let tools = first.body["tools"].as_array().cloned().unwrap_or_default();
    c.check(tools.last().is_some_and(|t| t["cache_control"] == json!({"type": "ephemeral"})), || {
        "the last tool definition must carry cache_control ephemeral".into()
    });
    let names = first.tool_names();
    for tool in ["read_file", "list_directory", "search_code", "get_training_logs", "get_history", "submit_decision"] {
        c.check(names.iter().any(|n| n == tool), || format!("tool {tool} missing from {names:?}"));
    }
    let prompt = format!("{}\n{}", first.system_text(), first.body["messages"]);
    for needle in ["val_loss", "python3 train.py", "config.json"] {
        c.check(prompt.contains(needle), || format!("the prompt must mention {needle:?}"));
    }
    c.check(first.body["model"] == "claude-sonnet-4-5", || {
        format!("model id without the prefix: {}", first.body["model"])
    });
}

#[test]
fn invalid_json_arguments_from_openai_are_a_tool_error_the_model_corrects() {
    let fake = FakeLlm::openai(&fake_key("sk-proj-test"));
    fake.script([
        Reply::call(raw_tool_call("submit_decision", "{\"action\": \"change\", \"rationale\": ")),
        lr_change(0.1),
    ]);
    let env = TestEnv::new(llm_project(&[], OPENAI, &[]));
    env.start_llm_loop("badjson", &["--max-iterations", "2"], &env_of(&[&fake]));
    let s = env.wait_ended("badjson");

    let mut c = Checks::new();
    no_violations(&mut c, &[&fake]);
    let reqs = fake.requests();
    c.check(reqs.len() == 2, || format!("expected 2 requests, got {}", reqs.len()));
    if let (Some(first), Some(second)) = (reqs.first(), reqs.get(1)) {
        let id = first.issued.first().map(|i| i.id.clone()).unwrap_or_default();
        let results = second.tool_results();
        c.check(results.len() == 1 && results[0].call_id == id, || {
            format!("request 2 must answer call {id}: {results:?}")
        });
        let text = results.first().map(|r| r.content.to_lowercase()).unwrap_or_default();
        c.check(text.contains("json"), || format!("the tool error must say the arguments are not valid JSON: {text}"));
        c.check(first.path == "/v1/chat/completions", || format!("path {}", first.path));
        c.check(first.body["model"] == "gpt-4.1", || format!("model {}", first.body["model"]));
        c.check(first.body["messages"][0]["role"] == "system", || "the system prompt comes first".into());
    }
    c.check(state(&s) == "completed" && stop_reason(&s) == "max_iterations", || format!("session: {}", pretty(&s)));
    check_lr_committed(&mut c, &env, &s, "badjson", 0.1);
    c.finish(|| context(&env, &[&fake]));
}

#[test]
fn denied_files_and_escaping_paths_are_refused_and_never_read() {
    let tag = fake_key("x");
    let dotenv = format!("CANARY-DOTENV-{tag}");
    let secret = format!("CANARY-SECRET-{tag}");
    let outside = format!("CANARY-OUTSIDE-{tag}");
    let yaml = format!("{ANTHROPIC}  deny: [\"secrets/**\"]\n");
    let project = llm_project(
        &[],
        &yaml,
        &[
            (".env", &format!("API_TOKEN={dotenv}\n")),
            ("secrets/token.txt", &format!("{secret}\n")),
            ("notes.md", "nothing secret here\n"),
        ],
    );
    let outside_file = project.scratch().join("outside.txt");
    std::fs::write(&outside_file, format!("{outside}\n")).expect("write outside.txt");
    std::os::unix::fs::symlink(&outside_file, project.path().join("escape.txt")).expect("symlink");
    project.commit("a symlink out of the repository");
    let outside_abs = outside_file.to_string_lossy().into_owned();

    let fake = FakeLlm::anthropic(&fake_key("sk-ant-test"));
    let reads = [
        ".env",
        "secrets/token.txt",
        "../../../../outside.txt",
        outside_abs.as_str(),
        "escape.txt",
        "secrets/../secrets/token.txt",
        "../../../config.json",
    ];
    let mut calls: Vec<_> = reads.iter().map(|p| tool_call("read_file", json!({"path": p}))).collect();
    calls.push(tool_call("list_directory", json!({"path": "."})));
    calls.push(tool_call("list_directory", json!({"path": "secrets"})));
    calls.push(tool_call("search_code", json!({"pattern": "CANARY"})));
    fake.script([Reply::calls(calls), Reply::call(submit(action("stop", "nothing worth changing")))]);
    let env = TestEnv::new(project);
    env.start_llm_loop("denied", &["--max-iterations", "3"], &env_of(&[&fake]));
    let s = env.wait_ended("denied");

    let mut c = Checks::new();
    no_violations(&mut c, &[&fake]);
    for body in fake.bodies() {
        for canary in [&dotenv, &secret, &outside] {
            c.check(!body.contains(canary.as_str()), || format!("{canary} reached the model"));
        }
    }
    let reqs = fake.requests();
    c.check(reqs.len() == 2, || format!("expected 2 requests, got {}", reqs.len()));
    if let (Some(first), Some(second)) = (reqs.first(), reqs.get(1)) {
        let results = second.tool_results();
        c.check(results.len() == reads.len() + 3, || format!("every call needs an answer: {results:?}"));
        // Answers matched to calls by id: the order of tool results is free.
        let answer = |k: usize| {
            let id = first.issued.get(k).map(|i| i.id.clone()).unwrap_or_default();
            results.iter().find(|r| r.call_id == id).cloned()
        };
        for (k, path) in reads.iter().enumerate() {
            let result = answer(k);
            c.check(result.as_ref().is_some_and(|r| r.is_error == Some(true)), || {
                format!("read_file {path} must be refused as a tool error: {result:?}")
            });
        }
        if let Some(listing) = answer(reads.len()) {
            let l = &listing.content;
            c.check(listing.is_error == Some(false) && l.contains("notes.md") && l.contains("config.json"), || {
                format!("list_directory . must list the visible files: {listing:?}")
            });
            c.check(!l.contains(".env") && !l.contains("secrets"), || format!("denied entries must be invisible: {l}"));
        }
        if let Some(listing) = answer(reads.len() + 1) {
            c.check(!listing.content.contains("token.txt"), || format!("list_directory secrets: {listing:?}"));
        }
    }
    c.check(state(&s) == "completed" && stop_reason(&s) == "advisor", || {
        format!("action stop must complete the session (advisor): {}", pretty(&s))
    });
    c.check(numbers(&s) == vec![0], || format!("no iteration after a stop: {:?}", numbers(&s)));
    c.finish(|| context(&env, &[&fake]));
}

#[test]
fn a_decision_on_a_missing_key_is_rejected_with_every_problem_and_corrected() {
    let fake = FakeLlm::anthropic(&fake_key("sk-ant-test"));
    fake.script([
        Reply::call(submit(change(
            "try a new key",
            "h",
            vec![
                config_edit("config.json", "learning_rate", json!(0.01)),
                config_edit("missing.yaml", "a.b", json!(1)),
            ],
        ))),
        lr_change(0.01),
    ]);
    let env = TestEnv::new(llm_project(&[], ANTHROPIC, &[]));
    env.start_llm_loop("fixkey", &["--max-iterations", "2"], &env_of(&[&fake]));
    let s = env.wait_ended("fixkey");

    let mut c = Checks::new();
    no_violations(&mut c, &[&fake]);
    let reqs = fake.requests();
    c.check(reqs.len() == 2, || format!("expected 2 requests, got {}", reqs.len()));
    if let Some(second) = reqs.get(1) {
        let results = second.tool_results();
        let r = results.first();
        c.check(r.is_some_and(|r| r.is_error == Some(true) && r.name.as_deref() == Some("submit_decision")), || {
            format!("the invalid decision must be answered with a tool error: {results:?}")
        });
        let text = r.map(|r| r.content.clone()).unwrap_or_default();
        c.check(text.contains("learning_rate") && text.contains("missing.yaml"), || {
            format!("the error must list every problem (learning_rate, missing.yaml): {text}")
        });
    }
    c.check(state(&s) == "completed", || format!("session: {}", pretty(&s)));
    check_lr_committed(&mut c, &env, &s, "fixkey", 0.01);
    if env.project.has_branch("revis/fixkey") {
        let config = committed_config(&env.project, "fixkey");
        c.check(config.get("learning_rate").is_none(), || format!("the rejected edit was applied: {config}"));
    }
    c.finish(|| context(&env, &[&fake]));
}

#[test]
fn rate_limits_overload_and_server_errors_are_retried_then_succeed() {
    let fake = FakeLlm::anthropic(&fake_key("sk-ant-test"));
    fake.script([
        Reply::error(429, "Number of request tokens has exceeded your rate limit").header("retry-after", "1"),
        Reply::error(529, "Overloaded"),
        Reply::error(500, "Internal server error"),
        lr_change(0.01),
    ]);
    let yaml = "llm:\n  model: anthropic/claude-sonnet-4-5\n  max_retries: 3\n";
    let env = TestEnv::new(llm_project(&[], yaml, &[]));
    env.start_llm_loop("retry", &["--max-iterations", "2"], &env_of(&[&fake]));
    let s = env.wait_ended("retry");

    let mut c = Checks::new();
    no_violations(&mut c, &[&fake]);
    let reqs = fake.requests();
    c.check(reqs.len() == 4, || format!("429, 529, 500 then success: expected 4 requests, got {}", reqs.len()));
    if reqs.len() >= 2 {
        let gap = reqs[1].at.duration_since(reqs[0].at);
        c.check(gap >= Duration::from_millis(950), || {
            format!("retry-after: 1 must be honoured; the retry came after {gap:?}")
        });
        c.check(reqs.iter().all(|r| r.raw == reqs[0].raw), || "a retry must resend the same request".into());
    }
    c.check(state(&s) == "completed" && stop_reason(&s) == "max_iterations", || format!("session: {}", pretty(&s)));
    check_lr_committed(&mut c, &env, &s, "retry", 0.01);
    let events = env.events("retry");
    c.check(of_kind(&events, "decision_failed").is_empty(), || format!("no decision failed:\n{}", brief(&events)));
    c.finish(|| context(&env, &[&fake]));
}

/// One error that must not be retried; with no fallback and a retry budget of 1 the decision
/// fails and so does the session.
fn not_retried(name: &str, error: Reply, must_mention: &str) {
    let fake = FakeLlm::anthropic(&fake_key("sk-ant-test"));
    fake.push(error);
    let env = TestEnv::new(llm_project(&[("retry_budget", "1")], ANTHROPIC, &[]));
    env.start_llm_loop(name, &["--max-iterations", "3"], &env_of(&[&fake]));
    let s = env.wait_ended(name);

    let mut c = Checks::new();
    c.check(fake.request_count() == 1, || format!("exactly one request (no retry), got {}", fake.request_count()));
    c.check(state(&s) == "failed" && stop_reason(&s) == "retry_budget", || format!("session: {}", pretty(&s)));
    let events = env.events(name);
    let failed = of_kind(&events, "decision_failed");
    c.check(!failed.is_empty(), || format!("a decision_failed event is expected:\n{}", brief(&events)));
    c.check(failed.iter().any(|e| e.to_string().contains(must_mention)), || {
        format!("decision_failed must carry the provider's error ({must_mention}):\n{}", brief(&events))
    });
    c.finish(|| context(&env, &[&fake]));
}

#[test]
fn a_400_with_x_should_retry_false_is_not_retried() {
    not_retried(
        "norepeat",
        Reply::error(400, "messages: prompt is too long").header("x-should-retry", "false"),
        "prompt is too long",
    );
}

#[test]
fn x_should_retry_false_wins_over_a_retryable_status() {
    not_retried("noretry503", Reply::error(503, "service unavailable").header("x-should-retry", "false"), "503");
}

#[test]
fn a_spend_limit_429_is_not_retried() {
    let body = json!({"type": "error", "error": {"type": "rate_limit_error", "message": "spend limit reached",
        "details": {"error_code": "enforced_spend_limit_reached"}}, "request_id": "req_spend"});
    not_retried("spent", Reply::error(429, "").header("retry-after", "1").body(body), "spend limit reached");
}

const WITH_FALLBACK: &str =
    "llm:\n  model: anthropic/claude-sonnet-4-5\n  fallback: [openai/gpt-4.1]\n  max_retries: 1\n";

fn falls_back(name: &str, anthropic_error: Reply, anthropic_requests: usize) {
    let anthropic = FakeLlm::anthropic(&fake_key("sk-ant-test"));
    anthropic.otherwise(move |_, _| anthropic_error.clone());
    let openai = FakeLlm::openai(&fake_key("sk-proj-test"));
    openai.push(lr_change(0.01));
    let env = TestEnv::new(llm_project(&[], WITH_FALLBACK, &[]));
    env.start_llm_loop(name, &["--max-iterations", "2"], &env_of(&[&anthropic, &openai]));
    let s = env.wait_ended(name);

    let mut c = Checks::new();
    no_violations(&mut c, &[&anthropic, &openai]);
    c.check(anthropic.request_count() == anthropic_requests, || {
        format!("anthropic should get {anthropic_requests} request(s), got {}", anthropic.request_count())
    });
    c.check(openai.request_count() == 1, || {
        format!("the fallback should get 1 request, got {}", openai.request_count())
    });
    c.check(state(&s) == "completed" && stop_reason(&s) == "max_iterations", || format!("session: {}", pretty(&s)));
    check_lr_committed(&mut c, &env, &s, name, 0.01);
    let llm = iteration(&s, 1).map(|it| it["llm"].clone()).unwrap_or(Value::Null);
    c.check(llm["model"].as_str().is_some_and(|m| m.contains("gpt-4.1")), || {
        format!("the decision came from gpt-4.1: {llm}")
    });
    c.finish(|| context(&env, &[&anthropic, &openai]));
}

#[test]
fn a_bad_key_falls_back_to_the_next_model() {
    falls_back("fallback401", Reply::error(401, "invalid x-api-key"), 1);
}

#[test]
fn a_provider_that_keeps_failing_falls_back_after_its_retries() {
    falls_back("fallback500", Reply::error(500, "Internal server error").header("retry-after-ms", "20"), 2);
}

#[test]
fn a_model_that_never_submits_fails_its_decisions_until_the_retry_budget_ends_the_session() {
    let fake = FakeLlm::anthropic(&fake_key("sk-ant-test"));
    fake.otherwise(|_, _| Reply::call(tool_call("list_directory", json!({"path": "."}))));
    let yaml = "llm:\n  model: anthropic/claude-sonnet-4-5\ncontext:\n  max_agent_iterations: 3\n";
    let env = TestEnv::new(llm_project(&[("retry_budget", "2")], yaml, &[]));
    env.start_llm_loop("chatty", &["--max-iterations", "5"], &env_of(&[&fake]));
    let s = env.wait_ended("chatty");

    let mut c = Checks::new();
    no_violations(&mut c, &[&fake]);
    c.check(state(&s) == "failed" && stop_reason(&s) == "retry_budget", || format!("session: {}", pretty(&s)));
    let events = env.events("chatty");
    let failed = of_kind(&events, "decision_failed");
    c.check(failed.len() == 2, || format!("two failed decisions (retry_budget 2):\n{}", brief(&events)));
    for e in &failed {
        c.check(e.to_string().contains("no decision after 3 round trips"), || {
            format!("decision_failed must give the reason: {e}")
        });
    }
    let n = fake.request_count();
    c.check(n <= 3 * failed.len().max(1) && n >= failed.len(), || {
        format!("{n} requests for {} decisions capped at 3 round trips", failed.len())
    });
    c.finish(|| context(&env, &[&fake]));
}

#[test]
fn escalate_pauses_the_session_for_a_human() {
    let fake = FakeLlm::anthropic(&fake_key("sk-ant-test"));
    fake.push(Reply::call(submit(action("escalate", "the loss curve looks like a data bug"))));
    let env = TestEnv::new(llm_project(&[], ANTHROPIC, &[]));
    env.start_llm_loop("escalated", &["--max-iterations", "3"], &env_of(&[&fake]));
    let s = env.wait_show("escalated", revis_tests::SESSION_DEADLINE, "the session to pause or end", |s| {
        ["paused", "stopped", "completed", "failed"].contains(&state(s))
    });
    assert_no_violations(&[&fake]);
    assert_eq!((state(&s), stop_reason(&s)), ("paused", "escalated"), "{}", pretty(&s));
    assert_eq!(fake.request_count(), 1);
}

#[test]
fn max_cost_ends_the_session_with_spend_priced_from_revis_yaml() {
    let fake = FakeLlm::openai(&fake_key("sk-proj-test"));
    fake.push(lr_change(0.01));
    fake.otherwise(|i, _| lr_change(0.001 * i as f64));
    // One dollar per input token: the first decision alone exceeds --max-cost 1.
    let yaml = "llm:\n  model: openai/gpt-4.1\n  pricing:\n    openai/gpt-4.1: {input: 1000000, output: 0}\n";
    let env = TestEnv::new(llm_project(&[], yaml, &[]));
    env.start_llm_loop("costly", &["--max-iterations", "5", "--max-cost", "1"], &env_of(&[&fake]));
    let s = env.wait_ended("costly");

    let mut c = Checks::new();
    no_violations(&mut c, &[&fake]);
    c.check(stop_reason(&s) == "max_cost", || format!("--max-cost must end the session: {}", pretty(&s)));
    c.check(state(&s) == "completed", || format!("a budget stop completes the session: {}", pretty(&s)));
    c.check(fake.request_count() == 1, || {
        format!("no decision after the budget is spent: {} requests", fake.request_count())
    });
    let tokens = fake.requests().first().map(Recorded::prompt_tokens).unwrap_or(0) as f64;
    let spent = s["spend"]["llm_usd"].as_f64().unwrap_or(0.0);
    c.check((spent - tokens).abs() <= 1e-6 * tokens.max(1.0), || {
        format!("spend.llm_usd {spent} must be {tokens} (1 USD per input token)")
    });
    let llm = iteration(&s, 1).map(|it| it["llm"].clone()).unwrap_or(Value::Null);
    c.check(llm["input_tokens"].as_f64() == Some(tokens) && llm["calls"] == 1, || format!("iteration 1 llm: {llm}"));
    c.finish(|| context(&env, &[&fake]));
}

#[test]
fn an_openai_compatible_server_through_api_base_is_the_default_advisor() {
    let fake = FakeLlm::openai_compatible();
    fake.push(lr_change(0.01));
    let yaml = format!("llm:\n  model: openai/qwen2.5-coder\n  api_base: {}\n", fake.base_url());
    let env = TestEnv::new(llm_project(&[], &yaml, &[]));
    // No --advisor: api_base makes llm the default. Any key: the server ignores it.
    let mut vars = env_of(&[]);
    vars.push(("OPENAI_API_KEY".into(), "sk-local".into()));
    let out = env.revis_env_ok(&["loop", "--name", "local", "--max-iterations", "2"], &vars);
    assert_eq!(out.lines().next().map(str::trim), Some("local"), "{out}");
    let s = env.wait_ended("local");

    let mut c = Checks::new();
    no_violations(&mut c, &[&fake]);
    c.check(s["advisor"] == "llm", || format!("the default advisor with api_base set is llm: {}", s["advisor"]));
    c.check(fake.request_count() == 1, || format!("expected 1 request, got {}", fake.request_count()));
    if let Some(r) = fake.requests().first() {
        c.check(r.model() == "qwen2.5-coder", || format!("model sent: {}", r.model()));
    }
    check_lr_committed(&mut c, &env, &s, "local", 0.01);
    c.finish(|| context(&env, &[&fake]));
}

#[test]
fn the_advisor_defaults_to_llm_with_a_key_and_to_search_without() {
    let fake = FakeLlm::anthropic(&fake_key("sk-ant-test"));
    let env = TestEnv::new(llm_project(&[], ANTHROPIC, &[]));
    // Started without keys: a daemon autostarted by a keyed `loop` would hold the key in its own
    // environment, which also counts as configured.
    env.revis_ok(&["daemon", "start"]);

    // With a key: llm (the baseline alone asks nothing).
    let out = env.revis_env_ok(&["loop", "--name", "keyed", "--max-iterations", "1"], &env_of(&[&fake]));
    assert_eq!(out.lines().next().map(str::trim), Some("keyed"), "{out}");
    let s = env.wait_ended("keyed");
    assert_eq!(s["advisor"], "llm", "{}", pretty(&s));

    // Without a key but with search.space: search.
    let out = env.revis_env_ok(&["loop", "--name", "keyless", "--max-iterations", "1"], &env_of(&[]));
    assert_eq!(out.lines().next().map(str::trim), Some("keyless"), "{out}");
    let s = env.wait_ended("keyless");
    assert_eq!(s["advisor"], "search", "{}", pretty(&s));

    // --advisor llm without a key: a usage error naming the variable.
    let out = env.revis_env(&["loop", "--name", "nokey", "--advisor", "llm", "--max-iterations", "2"], &env_of(&[]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(stderr.contains("ANTHROPIC_API_KEY"), "the error must name ANTHROPIC_API_KEY: {stderr}");
    assert_eq!(fake.request_count(), 0);
}

#[test]
fn keys_do_not_survive_a_daemon_restart_and_resume_brings_them_back() {
    let fake = FakeLlm::anthropic(&fake_key("sk-ant-test"));
    fake.script([lr_change(0.01), lr_change(0.001)]);
    let project = llm_project(&[], ANTHROPIC, &[]);
    project.touch_ctl("block-1");
    let env = TestEnv::new(project);
    // A daemon without keys of its own: the session's keys come from `loop` alone.
    env.revis_ok(&["daemon", "start"]);
    let vars = env_of(&[&fake]);
    env.start_llm_loop("rekey", &["--max-iterations", "3"], &vars);
    env.wait_ctl("started-1");
    kill_daemon(&env.home);
    env.revis_ok(&["daemon", "start"]);
    env.project.touch_ctl("gate-1");

    let s = env.wait_show("rekey", revis_tests::SESSION_DEADLINE, "the session to stop for lack of a key", |s| {
        ["paused", "stopped", "completed", "failed"].contains(&state(s))
    });
    let mut c = Checks::new();
    c.check(state(&s) == "paused", || format!("without its key the session must pause: {}", pretty(&s)));
    let detail = s["stop_detail"].as_str().unwrap_or_default();
    c.check(detail.contains("ANTHROPIC_API_KEY"), || format!("the pause must name the variable: {detail:?}"));
    c.check(fake.request_count() == 1, || format!("no request without a key: {} requests", fake.request_count()));
    if state(&s) == "paused" {
        env.revis_env_ok(&["resume", "rekey"], &vars);
        let s = env.wait_ended("rekey");
        c.check(state(&s) == "completed" && stop_reason(&s) == "max_iterations", || {
            format!("after resume: {}", pretty(&s))
        });
        c.check(fake.request_count() == 2, || {
            format!("resume must bring the key back: {} requests", fake.request_count())
        });
    }
    no_violations(&mut c, &[&fake]);
    c.finish(|| context(&env, &[&fake]));
}

#[test]
fn a_code_request_pauses_until_the_user_edits_and_resumes() {
    let fake = FakeLlm::anthropic(&fake_key("sk-ant-test"));
    let code = json!({"action": "change", "rationale": "needs dropout", "hypothesis": "less overfitting",
        "changes": [{"kind": "code", "request": "add dropout to the model", "files": ["train.py"]}]});
    fake.push(Reply::call(submit(code)));
    let env = TestEnv::new(llm_project(&[], ANTHROPIC, &[]));
    env.start_llm_loop("handoff", &["--max-iterations", "2"], &env_of(&[&fake]));
    let s = env.wait_show("handoff", revis_tests::SESSION_DEADLINE, "the session to pause", |s| {
        ["paused", "stopped", "completed", "failed"].contains(&state(s))
    });
    assert_eq!((state(&s), stop_reason(&s)), ("paused", "awaiting_change"), "{}", pretty(&s));

    // Nothing edited yet: refused with a message.
    let out = env.revis(&["resume", "handoff"]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success() && !stderr.trim().is_empty(), "resume without edits must be refused: {stderr}");

    let worktree = std::path::PathBuf::from(s["worktree"].as_str().expect("worktree"));
    let train = std::fs::read_to_string(worktree.join("train.py")).expect("train.py in the worktree");
    std::fs::write(worktree.join("train.py"), format!("{train}# dropout added by hand\n")).expect("edit train.py");
    env.revis_ok(&["resume", "handoff"]);
    let s = env.wait_ended("handoff");
    assert_eq!((state(&s), stop_reason(&s)), ("completed", "max_iterations"), "{}", pretty(&s));
    let it1 = iteration(&s, 1).expect("iteration 1");
    assert_eq!(it1["state"], "succeeded", "{}", pretty(&it1));
    // The iteration's own commit: the branch tip may restore the better baseline.
    let commit = it1["commit"].as_str().expect("iteration 1 commit");
    let committed = env.project.git(&["show", &format!("{commit}:train.py")]);
    assert!(committed.contains("# dropout added by hand"), "the user's edit must be committed as iteration 1");
    assert_no_violations(&[&fake]);
}

#[test]
fn yaml_toml_and_argument_changes_apply_together_and_keep_comments() {
    let fake = FakeLlm::anthropic(&fake_key("sk-ant-test"));
    fake.push(Reply::call(submit(change(
        "several knobs",
        "h",
        vec![
            config_edit("configs/model.yaml", "optimizer.lr", json!(0.05)),
            config_edit("configs/extra.toml", "train.epochs", json!(5)),
            config_edit("config.json", "lr", json!(0.01)),
            json!({"kind": "arg", "name": "--x", "value": 3}),
        ],
    ))));
    let files = [
        (
            "configs/model.yaml",
            "# model settings\noptimizer:\n  lr: 0.1  # learning rate\n  momentum: 0.9\nlayers: 4\n",
        ),
        ("configs/extra.toml", "# training extras\n[train]\nepochs = 3  # keep small\nname = \"base\"\n"),
    ];
    let env = TestEnv::new(llm_project(&[], ANTHROPIC, &files));
    env.start_llm_loop("knobs", &["--max-iterations", "2"], &env_of(&[&fake]));
    let s = env.wait_ended("knobs");

    let mut c = Checks::new();
    no_violations(&mut c, &[&fake]);
    check_lr_committed(&mut c, &env, &s, "knobs", 0.01);
    let it1 = iteration(&s, 1).unwrap_or(Value::Null);
    c.check(it1["command"].as_str().is_some_and(|cmd| cmd.contains("--x 3") && !cmd.contains("--x 1")), || {
        format!("the arg change must replace --x: {}", it1["command"])
    });
    if env.project.has_branch("revis/knobs") {
        let yaml = env.project.git(&["show", "revis/knobs:configs/model.yaml"]);
        for needle in ["# model settings", "lr: 0.05", "# learning rate", "momentum: 0.9", "layers: 4"] {
            c.check(yaml.contains(needle), || format!("model.yaml must contain {needle:?}:\n{yaml}"));
        }
        c.check(yaml.find("optimizer").unwrap_or(usize::MAX) < yaml.find("layers").unwrap_or(0), || {
            format!("model.yaml must keep its key order:\n{yaml}")
        });
        let toml = env.project.git(&["show", "revis/knobs:configs/extra.toml"]);
        for needle in ["# training extras", "epochs = 5", "# keep small", "name = \"base\""] {
            c.check(toml.contains(needle), || format!("extra.toml must contain {needle:?}:\n{toml}"));
        }
    }
    c.finish(|| context(&env, &[&fake]));
}

/// The stop reason comes from the decision's kind: a model that stops with a rationale saying
/// "exhausted" is an advisor stop, not the search space's (only the search advisor's own
/// proposal says that).
#[test]
fn an_advisor_stop_is_never_read_as_an_exhausted_space_from_its_words() {
    let fake = FakeLlm::anthropic(&fake_key("sk-ant-test"));
    fake.script([Reply::call(submit(action("stop", "my ideas are exhausted; the search space is exhausted too")))]);
    let env = TestEnv::new(llm_project(&[], "", &[]));
    env.start_llm_loop("words", &["--max-iterations", "3"], &env_of(&[&fake]));
    let s = env.wait_ended("words");
    assert_eq!((state(&s), stop_reason(&s)), ("completed", "advisor"), "{}", pretty(&s));
}

/// `suggest_search_point`: the model asks the offline advisor for its next point over the
/// session's search space and gets the values, the changes that set them and TPE's expected
/// improvement (null while TPE is still drawing its warm-up design).
#[test]
fn the_model_can_ask_the_search_advisor_for_its_next_point() {
    let fake = FakeLlm::anthropic(&fake_key("sk-ant-test"));
    fake.script([Reply::call(tool_call("suggest_search_point", json!({}))), lr_change(0.01)]);
    let env = TestEnv::new(llm_project(&[], ANTHROPIC, &[]));
    env.start_llm_loop("suggest", &["--max-iterations", "2"], &env_of(&[&fake]));
    let s = env.wait_ended("suggest");
    assert_eq!(state(&s), "completed", "{}", pretty(&s));
    assert_no_violations(&[&fake]);
    let requests = fake.requests();
    let results = requests.get(1).map(|r| r.tool_results()).unwrap_or_default();
    let answer: Value = results
        .first()
        .and_then(|r| serde_json::from_str(&r.content).ok())
        .unwrap_or_else(|| panic!("no suggestion came back: {results:?}"));
    let lr = answer["params"]["lr"].as_f64().unwrap_or_default();
    assert!((1.0e-4..=1.0).contains(&lr), "a point of the space: {answer}");
    assert!(answer["changes"].as_array().is_some_and(|c| !c.is_empty()), "{answer}");
    assert!(answer.get("expected_improvement").is_some(), "{answer}");
    assert!(answer["rationale"].as_str().is_some_and(|r| r.contains("TPE")), "{answer}");
}

/// `--advisor hybrid`: TPE decides most trials over the space; every `llm.consult_every`-th the
/// LLM decides, seeing the same history.
#[test]
fn the_hybrid_advisor_consults_the_llm_every_k_trials_and_tpe_otherwise() {
    let fake = FakeLlm::anthropic(&fake_key("sk-ant-test"));
    fake.script([lr_change(0.01)]);
    let yaml = "llm:\n  model: anthropic/claude-sonnet-4-5\n  consult_every: 3\n";
    let env = TestEnv::new(llm_project(&[], yaml, &[]));
    let out =
        env.revis_env_ok(&["loop", "--name", "mix", "--advisor", "hybrid", "--max-iterations", "5"], &env_of(&[&fake]));
    assert!(out.starts_with("mix"), "{out}");
    let s = env.wait_ended("mix");
    assert_eq!(state(&s), "completed", "{}", pretty(&s));
    assert_eq!(s["advisor"], "hybrid", "{}", pretty(&s));
    assert_no_violations(&[&fake]);
    assert_eq!(fake.requests().len(), 1, "the model was asked once");
    for n in [1, 2, 4] {
        let it = iteration(&s, n).unwrap_or(Value::Null);
        assert!(it["rationale"].as_str().is_some_and(|r| r.contains("TPE")), "iteration {n} by TPE: {}", pretty(&it));
        assert!(it["llm"].is_null(), "{}", pretty(&it));
    }
    let three = iteration(&s, 3).unwrap_or(Value::Null);
    assert_eq!(three["rationale"], "lr is at the worst end of its range", "{}", pretty(&three));
    // The model saw the history TPE made.
    let first = &fake.requests()[0];
    assert!(first.raw.contains("TPE"), "the shared history reached the model");
}

/// In a hybrid session the model may widen or narrow the search space with its decision: an
/// edit naming no searched parameter goes back to it as a problem; an accepted one is an event,
/// and TPE samples the new range from the next trial on. The trial the model made is learned
/// from with the values it set (read back from the worktree).
#[test]
fn the_model_can_narrow_the_search_space_and_tpe_then_samples_the_new_range() {
    let fake = FakeLlm::anthropic(&fake_key("sk-ant-test"));
    let narrowed = |param: &str| {
        let mut decision = change(
            "the good runs all sit between 1e-3 and 1e-2",
            "lr=0.005 is near the best region",
            vec![config_edit("config.json", "lr", json!(0.005))],
        );
        decision["search_space"] = json!([{"param": param, "low": 1.0e-3, "high": 1.0e-2}]);
        Reply::call(submit(decision))
    };
    fake.script([narrowed("momentum"), narrowed("lr")]);
    let yaml = "llm:\n  model: anthropic/claude-sonnet-4-5\n  consult_every: 3\n";
    let env = TestEnv::new(llm_project(&[], yaml, &[]));
    env.revis_env_ok(&["loop", "--name", "narrow", "--advisor", "hybrid", "--max-iterations", "6"], &env_of(&[&fake]));
    let s = env.wait_ended("narrow");
    assert_eq!(state(&s), "completed", "{}", pretty(&s));
    assert_no_violations(&[&fake]);

    let requests = fake.requests();
    let refused = requests.get(1).map(|r| r.tool_results()).unwrap_or_default();
    assert!(
        refused.iter().any(|r| r.content.contains("`momentum` is not a searched parameter (they are: lr, x)")),
        "the bad edit went back to the model: {refused:?}"
    );
    let events = env.events("narrow");
    let edit = events
        .iter()
        .find(|e| e["kind"] == "search_space")
        .unwrap_or_else(|| panic!("no search_space event: {events:#?}"));
    assert_eq!(edit["iteration"], 3, "{edit}");
    assert!(edit["message"].as_str().is_some_and(|m| m.contains("lr: 0.0001..1 (log) → 0.001..0.01 (log)")), "{edit}");

    let lr_at = |n: u64| -> f64 {
        let it = iteration(&s, n).unwrap_or(Value::Null);
        let commit = it["commit"].as_str().unwrap_or_else(|| panic!("iteration {n} has no commit: {}", pretty(&it)));
        let text = env.project.git(&["show", &format!("{commit}:config.json")]);
        let config: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        config["lr"].as_f64().unwrap_or_else(|| panic!("no lr in {text}"))
    };
    assert_eq!(lr_at(3), 0.005);
    for n in [4, 5] {
        let it = iteration(&s, n).unwrap_or(Value::Null);
        assert!(it["rationale"].as_str().is_some_and(|r| r.contains("TPE")), "iteration {n} by TPE: {}", pretty(&it));
        let lr = lr_at(n);
        assert!((1.0e-3..=1.0e-2).contains(&lr), "iteration {n} sampled lr={lr} outside the narrowed range");
    }
}
