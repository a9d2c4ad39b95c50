//! Secrets stay secret over whole LLM sessions: a canary planted in denied files never reaches the
//! model however it asks, and the API keys handed to `revis loop` appear in no file under
//! REVIS_HOME (database and its WAL, daemon log, run directories), in no process's command line,
//! and not in the training environment.

use revis_tests::TestEnv;
use revis_tests::fakes::{FakeLlm, Reply, change, config_edit, submit, tool_call};
use revis_tests::fixtures::standard_yaml;
use revis_tests::llm::{Checks, env_of, fake_key, llm_project};
use revis_tests::scan::{command_lines_containing, files_containing};
use revis_tests::session::{pretty, state, stop_reason};
use serde_json::json;

/// The calls a curious model makes to find the canary, one decision's worth.
fn prying_turns(decision: usize) -> Vec<Reply> {
    let reads = [
        ".env",
        ".env.production",
        "secrets/token.txt",
        "secrets/nested/deep.txt",
        "secrets/./token.txt",
        "secrets//token.txt",
        "notes/../secrets/token.txt",
        "./.env",
    ];
    let mut first: Vec<_> = reads.iter().map(|p| tool_call("read_file", json!({"path": p}))).collect();
    first.push(tool_call("list_directory", json!({"path": "secrets"})));
    first.push(tool_call("list_directory", json!({"path": "secrets/nested"})));
    first.push(tool_call("search_code", json!({"pattern": "CANARY"})));
    first.push(tool_call("search_code", json!({"pattern": "CANARY", "path": "secrets"})));
    first.push(tool_call("search_code", json!({"pattern": "API_TOKEN|CANARY", "path": "."})));
    let second = vec![
        tool_call("get_training_logs", json!({"mode": "tail"})),
        tool_call("get_history", json!({})),
        tool_call("list_directory", json!({"path": "."})),
    ];
    let lr = [0.1, 0.01, 0.001][decision % 3];
    let mut turns = vec![Reply::calls(first), Reply::calls(second)];
    if decision == 0 {
        // Editing a denied file is refused without echoing its content.
        turns.push(Reply::call(submit(change("peek", "h", vec![config_edit("secrets/token.txt", "x", json!(1))]))));
    }
    turns.push(Reply::call(submit(change("tune lr", "h", vec![config_edit("config.json", "lr", json!(lr))]))));
    turns
}

#[test]
fn a_canary_in_denied_files_never_reaches_the_model_over_a_whole_session() {
    let canary = format!("CANARY-{}", fake_key("c"));
    let yaml = "llm:\n  model: anthropic/claude-sonnet-4-5\ncontext:\n  deny: [\"secrets/**\"]\n";
    let project = llm_project(
        &[],
        yaml,
        &[
            (".env", &format!("API_TOKEN={canary}-dotenv\n")),
            (".env.production", &format!("API_TOKEN={canary}-prod\n")),
            ("secrets/token.txt", &format!("{canary}-token\n")),
            ("secrets/nested/deep.txt", &format!("{canary}-deep\n")),
            ("notes/readme.md", "the secrets are elsewhere\n"),
        ],
    );
    let fake = FakeLlm::anthropic(&fake_key("sk-ant-test"));
    fake.script((0..3).flat_map(prying_turns));
    let env = TestEnv::new(project);
    env.start_llm_loop("canary", &["--max-iterations", "4"], &env_of(&[&fake]));
    let s = env.wait_ended("canary");

    let mut c = Checks::new();
    let bodies = fake.bodies();
    let leaks: Vec<usize> =
        bodies.iter().enumerate().filter(|(_, b)| b.contains(&canary)).map(|(i, _)| i + 1).collect();
    c.check(leaks.is_empty(), || format!("the canary reached the model in requests {leaks:?}"));
    c.check(fake.violations().is_empty(), || format!("malformed requests: {:#?}", fake.violations()));
    c.check(fake.request_count() == 10 && fake.remaining() == 0, || {
        format!("3 decisions of 3 turns plus one corrected submit: 10 requests, got {}", fake.request_count())
    });
    c.check(state(&s) == "completed" && stop_reason(&s) == "max_iterations", || format!("session: {}", pretty(&s)));
    let denied_edit = fake.requests().get(3).map(|r| r.tool_results()).unwrap_or_default();
    c.check(denied_edit.first().is_some_and(|r| r.is_error == Some(true)), || {
        format!("a decision editing a denied file must be refused: {denied_edit:?}")
    });
    let mut scanned = Vec::new();
    let stored = files_containing(env.home.path(), canary.as_bytes(), &mut scanned);
    c.check(stored.is_empty(), || format!("the canary was stored under REVIS_HOME: {stored:?}"));
    let trace = String::from_utf8_lossy(&env.revis(&["show", "canary", "--trace"]).stdout).into_owned();
    c.check(!trace.contains(&canary), || "show --trace prints the canary".into());
    c.finish(|| format!("daemon log:\n{}", env.home.daemon_log()));
}

#[test]
fn api_keys_appear_in_no_file_command_line_or_training_environment() {
    let anthropic = FakeLlm::anthropic(&fake_key("sk-ant-api03-LEAKCHECK"));
    let openai = FakeLlm::openai(&fake_key("sk-proj-LEAKCHECK"));
    let keys: Vec<String> = [&anthropic, &openai].iter().filter_map(|f| f.key().map(str::to_string)).collect();
    anthropic.script([
        Reply::call(tool_call("read_file", json!({"path": "config.json"}))),
        Reply::call(submit(change("a", "h", vec![config_edit("config.json", "lr", json!(0.01))]))),
        Reply::call(submit(change("b", "h", vec![config_edit("config.json", "lr", json!(0.02))]))),
    ]);

    let project = revis_tests::Project::new();
    let dump = format!(
        "import json, os\nit = os.environ.get('REVIS_ITERATION', 'unknown')\n\
         with open(os.path.join({:?}, f'env-all-{{it}}.json'), 'w') as f:\n    json.dump(dict(os.environ), f)\n",
        project.ctl()
    );
    let yaml = standard_yaml(&[])
        .replace("train: python3 train.py --x 1", "train: python3 envdump.py && python3 train.py --x 1")
        + "llm:\n  model: anthropic/claude-sonnet-4-5\n  fallback: [openai/gpt-4.1]\n";
    project
        .write("train.py", &revis_tests::fixtures::train_py(project.ctl()))
        .write("envdump.py", &dump)
        .write("config.json", revis_tests::fixtures::CONFIG_JSON)
        .write("revis.yaml", &yaml);
    project.commit("baseline");
    project.touch_ctl("block-1");
    let env = TestEnv::new(project);

    // The first command starts the daemon, as a user with keys in their shell would; debug
    // logging must not print them either.
    let mut vars = env_of(&[&anthropic, &openai]);
    vars.push(("REVIS_LOG".into(), "debug".into()));
    env.start_llm_loop("keys", &["--max-iterations", "3"], &vars);
    env.wait_ctl("started-1");

    let mut c = Checks::new();
    for key in &keys {
        let procs = command_lines_containing(key.as_bytes());
        c.check(procs.is_empty(), || format!("a command line holds an API key: {procs:?}"));
    }
    // Not a contract point (the daemon may hold keys from its own environment), only a note:
    // the tmux server's environment, which panes would inherit without the daemon's scrubbing.
    let socket = env.home.tmux_socket();
    for (pid, _) in command_lines_containing(socket.as_os_str().as_encoded_bytes()) {
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        if keys.iter().any(|k| environ.windows(k.len()).any(|w| w == k.as_bytes())) {
            eprintln!("note: the tmux server (pid {pid}) holds an API key in its environment");
        }
    }
    env.project.touch_ctl("gate-1");
    let s = env.wait_ended("keys");
    c.check(state(&s) == "completed" && stop_reason(&s) == "max_iterations", || format!("session: {}", pretty(&s)));
    c.check(anthropic.violations().is_empty(), || format!("malformed requests: {:#?}", anthropic.violations()));
    c.check(
        anthropic.requests().first().and_then(|r| r.header("x-api-key").map(str::to_string)) == Some(keys[0].clone()),
        || "the key must reach the provider (sanity)".into(),
    );

    for it in 0..3 {
        let path = env.project.ctl_file(&format!("env-all-{it}.json"));
        let dumped = std::fs::read_to_string(&path).unwrap_or_default();
        c.check(!dumped.is_empty(), || format!("the training did not dump its environment to {}", path.display()));
        for key in &keys {
            c.check(!dumped.contains(key.as_str()), || {
                format!("iteration {it}'s training environment holds an API key")
            });
        }
        for var in ["ANTHROPIC_API_KEY", "OPENAI_API_KEY"] {
            c.check(!dumped.contains(&format!("\"{var}\"")), || {
                format!("iteration {it}'s training environment has {var}")
            });
        }
    }

    // Files, while the daemon still runs (the WAL is there), then after it stopped.
    for when in ["running", "stopped"] {
        let mut scanned = Vec::new();
        for key in &keys {
            for root in [env.home.path(), env.project.path()] {
                let hits = files_containing(root, key.as_bytes(), &mut scanned);
                c.check(hits.is_empty(), || format!("an API key is stored in {hits:?} (daemon {when})"));
            }
        }
        let names: Vec<String> =
            scanned.iter().filter_map(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned()).collect();
        c.check(names.iter().any(|n| n == "revisd.log") && names.iter().any(|n| n.contains(".db")), || {
            format!("the scan must cover the daemon log and the database: {names:?}")
        });
        if when == "running" {
            env.revis_ok(&["daemon", "stop"]);
        }
    }
    c.finish(|| format!("daemon log:\n{}", env.home.daemon_log()));
}
