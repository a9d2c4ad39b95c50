//! The session engine's rules that a crash, a stop or an advisor can put to the test:
//! - a stop recorded before a daemon restart (during the kill grace) kills the run on restart;
//! - a stopped session leaves the best measured state at its branch head, and `resume` re-runs
//!   the interrupted iteration with its own state;
//! - a decision that changes nothing is refused before a run is spent, and the advisor is told;
//! - an actor that panics fails its session with the reason and an event.

use revis_tests::cli::{Running, revis_command};
use revis_tests::fakes::{FakeLlm, Reply, change, config_edit, submit};
use revis_tests::llm::{env_of, fake_key, llm_project, of_kind};
use revis_tests::process::{pid_alive, read_pid};
use revis_tests::scripts::{kill_daemon, runs_log, script_project, wait_pid_file};
use revis_tests::session::{iteration, pretty, state, stop_reason};
use revis_tests::{COMMAND_DEADLINE, SESSION_DEADLINE, TestEnv, standard_project, wait_until};
use serde_json::json;

/// Ignores SIGTERM (and the SIGHUP of its tmux pane closing), so a stop has to wait out the kill
/// grace before its SIGKILL.
fn stubborn_sh(ctl: &std::path::Path) -> String {
    format!("trap '' TERM HUP\necho $$ > {ctl}/pid-$REVIS_ITERATION\nexec sleep 100000\n", ctl = ctl.display())
}

#[test]
fn a_stop_recorded_before_a_daemon_restart_kills_the_run_instead_of_waiting_for_it() {
    // A grace long enough to kill the daemon inside it, short enough for the test.
    let project = script_project("sh", "train.sh", stubborn_sh, &[("kill_grace", "6s")]);
    let env = TestEnv::new(project);
    env.start_loop("stubborn", &[]);
    let train_pid = wait_pid_file(&env.project, "pid-0");

    // `revis stop` waits for the end; the daemon dies while the run's grace runs. The waiting
    // client goes first, so nothing but the recorded request can stop the session afterwards.
    let stop = Running::spawn(revis_command(&env.home, env.project.path(), &["stop", "stubborn"]), "revis stop");
    env.wait_show("stubborn", SESSION_DEADLINE, "the stop to be recorded", |s| s["stop_requested"] == true);
    drop(stop);
    kill_daemon(&env.home);
    assert!(pid_alive(train_pid), "the training must outlive the daemon (it runs in tmux)");

    // The next command starts a new daemon; its actor must act on the recorded stop.
    let s = env.wait_show("stubborn", SESSION_DEADLINE, "the session to stop", |s| state(s) == "stopped");
    assert_eq!(stop_reason(&s), "user", "{}", pretty(&s));
    assert_eq!(iteration(&s, 0).map(|it| it["state"].clone()), Some(json!("interrupted")), "{}", pretty(&s));
    assert!(
        wait_until(SESSION_DEADLINE, || !pid_alive(train_pid)),
        "the run (pid {train_pid}) was waited for instead of killed"
    );
}

/// `git rev-parse REV^{tree}` in `dir`.
fn tree(dir: &std::path::Path, rev: &str) -> String {
    revis_tests::git::git(dir, &["rev-parse", &format!("{rev}^{{tree}}")]).trim().to_string()
}

#[test]
fn a_stopped_session_keeps_its_best_state_on_the_branch_and_resumes_where_it_was() {
    let project = standard_project(&[]);
    project.touch_ctl("block-2");
    let env = TestEnv::new(project);
    env.start_loop("halt", &["--max-iterations", "4"]);
    env.wait_ctl("started-2");
    env.revis_ok(&["stop", "halt"]);
    let s = env.wait_show("halt", SESSION_DEADLINE, "stopped", |s| state(s) == "stopped");
    let dir = env.project.path();

    let best = s["best"]["iteration"].as_u64().unwrap_or(0);
    let best_commit =
        iteration(&s, best).and_then(|it| it["commit"].as_str().map(str::to_string)).expect("best commit");
    let stopped_commit = iteration(&s, 2).and_then(|it| it["commit"].as_str().map(str::to_string)).expect("commit 2");
    // Iteration 2 changes config.json (the seeded search moves lr), so its state differs from
    // the best one: the check below cannot hold by accident.
    assert_ne!(tree(dir, &stopped_commit), tree(dir, &best_commit), "{}", pretty(&s));
    assert_eq!(
        tree(dir, "revis/halt"),
        tree(dir, &best_commit),
        "the branch head must hold the best measured state (iteration {best}), not the unmeasured iteration 2; {}",
        pretty(&s)
    );

    // Resume: iteration 2 runs again with its own state (checked out again), then the session goes on.
    env.project.touch_ctl("gate-2");
    env.revis_ok(&["resume", "halt"]);
    let s = env.wait_ended("halt");
    assert_eq!((state(&s), stop_reason(&s)), ("completed", "max_iterations"), "{}", pretty(&s));
    assert_eq!(runs_log(&env.project, "runs.log"), vec![0, 1, 2, 2, 3], "runs by REVIS_ITERATION");
    let rerun = revis_tests::git::commits(dir, &format!("{best_commit}..revis/halt"))
        .into_iter()
        .find(|c| c.trailer("Revis-Rerun") == Some("2"))
        .expect("a commit that checks iteration 2 out again");
    assert_eq!(tree(dir, &rerun.sha), tree(dir, &stopped_commit), "the re-run must use iteration 2's own state");
    assert_eq!(iteration(&s, 2).map(|it| it["state"].clone()), Some(json!("succeeded")), "{}", pretty(&s));
}

#[test]
fn a_decision_that_changes_nothing_is_refused_before_a_run_and_the_advisor_is_told_why() {
    let fake = FakeLlm::anthropic(&fake_key("sk-ant-noop"));
    let set_lr = |lr: f64| {
        Reply::call(submit(change(
            "try this learning rate",
            "the learning rate decides the loss",
            vec![config_edit("config.json", "lr", json!(lr))],
        )))
    };
    // config.json starts at lr 1.0: the first decision sets what is already there.
    fake.script([set_lr(1.0), set_lr(0.01)]);
    let env = TestEnv::new(llm_project(&[], "llm:\n  model: anthropic/claude-sonnet-4-5\n", &[]));
    env.start_llm_loop("same", &["--max-iterations", "2"], &env_of(&[&fake]));
    let s = env.wait_ended("same");

    assert_eq!((state(&s), stop_reason(&s)), ("completed", "max_iterations"), "{}", pretty(&s));
    assert_eq!(runs_log(&env.project, "runs.log"), vec![0, 1], "the refused decision must not be run");
    let events = env.events("same");
    let refused = of_kind(&events, "decision_refused");
    assert_eq!(refused.len(), 1, "{events:#?}");
    let message = refused[0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("changes nothing") && message.contains("lr"), "{message}");
    let requests = fake.requests();
    assert_eq!(requests.len(), 2, "one refused decision, one accepted");
    assert!(
        requests[1].raw.contains("changes nothing"),
        "the second request must tell the model why its decision was refused:\n{}",
        requests[1].raw
    );
    let it1 = iteration(&s, 1).expect("iteration 1");
    assert_eq!(it1["state"], "succeeded", "{}", pretty(&s));
}

#[test]
fn an_actor_that_panics_fails_its_session_with_the_reason_and_an_event() {
    let env = TestEnv::new(standard_project(&[]));
    // `revis loop` starts a daemon whose actor panics when it advises after iteration 1.
    let args = ["loop", "--name", "brittle", "--advisor", "search", "--max-iterations", "5"];
    let mut cmd = revis_command(&env.home, env.project.path(), &args);
    cmd.env("REVIS_FAULT", "panic:advise:1");
    let out = Running::spawn(cmd, "REVIS_FAULT=panic:advise:1 revis loop").wait(COMMAND_DEADLINE);
    assert!(out.status.success(), "{}", revis_tests::cli::describe(&out));
    let daemon = read_pid(&env.home.pid_file()).expect("the daemon's pid");

    let s = env.wait_ended("brittle");
    assert_eq!((state(&s), stop_reason(&s)), ("failed", "error"), "{}", pretty(&s));
    let detail = s["stop_detail"].as_str().unwrap_or_default();
    assert!(detail.contains("panicked") && detail.contains("fault injection at advise"), "{detail}");
    let events = env.events("brittle");
    let ended = of_kind(&events, "session_ended");
    assert!(ended.len() == 1 && ended[0]["message"].as_str().is_some_and(|m| m.contains("panicked")), "{events:#?}");
    // The daemon lives on: the panic took down one actor, not the process.
    assert!(pid_alive(daemon), "revisd died with the actor");
    assert_eq!(read_pid(&env.home.pid_file()), Some(daemon), "the same daemon must still serve");
    env.revis_ok(&["status"]);
}
