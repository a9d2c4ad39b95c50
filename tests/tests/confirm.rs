//! Confirmed wins (`guardrails.confirm`): a trial whose first run would be the new best runs
//! again with other seeds, and is promoted only when the mean of its runs beats the best's runs
//! under Welch's t-test. The training's noise is known: its value is a function of `--x` and of
//! the seed (`entry.seed_arg: --seed`, also `REVIS_SEED`), with one lucky seed for x = 13.
//! With parallel trials the confirmation runs take free slots at once, survive a daemon
//! SIGKILL, and a stop and resume.

use revis_tests::session::{iteration, pretty, state};
use revis_tests::{Project, SESSION_DEADLINE, TestEnv};

/// val_loss = 0.1 + (x - 7)² / 100 + seed / 100, and 0.5 lower for x = 13 on seed 1 only.
fn project() -> Project {
    let project = Project::new();
    let ctl = project.ctl().display().to_string();
    let train = format!(
        r#"x=$2
seed=$4
echo "$REVIS_ITERATION $REVIS_SEED $seed $x" >> {ctl}/runs.log
awk -v x="$x" -v s="$seed" 'BEGIN {{ v = 0.1 + (x - 7) * (x - 7) / 100 + s / 100; if (x == 13 && s == 1) v -= 0.5; printf "{{\"metrics\": {{\"val_loss\": %.4f}}}}\n", v }}' > "$REVIS_OUTPUT_DIR/eval.json"
"#
    );
    let yaml = "entry:
  train: sh train.sh --x 1
  seed_arg: --seed
metrics:
  source: eval_json
  primary: val_loss
  minimize: true
guardrails:
  replicates: 3
  confirm: 2
  alpha: 0.05
  plateau_runs: 50
search:
  strategy: grid
  space:
    x: {arg: --x, values: [13, 7, 8]}
";
    project.write("train.sh", &train).write("revis.yaml", yaml);
    project.commit("noisy training");
    project
}

fn runs(project: &Project) -> Vec<(u64, u64, u64, u64)> {
    std::fs::read_to_string(project.ctl_file("runs.log"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let w: Vec<u64> = l.split_whitespace().filter_map(|x| x.parse().ok()).collect();
            (w.len() == 4).then(|| (w[0], w[1], w[2], w[3]))
        })
        .collect()
}

#[test]
fn a_lucky_run_is_not_confirmed_and_a_real_gain_is() {
    let env = TestEnv::new(project());
    env.start_loop("sure", &["--max-iterations", "4"]);
    let s = env.wait_show("sure", SESSION_DEADLINE * 2, "the session to end", |s| {
        ["completed", "stopped", "failed"].contains(&state(s))
    });
    assert_eq!(state(&s), "completed", "{}", pretty(&s));

    // The baseline ran three times, seeds 1..3; x = 13 and x = 7 beat the best on their first
    // run and ran twice more; x = 8 did not, and ran once. Seeds reach the training both ways.
    let ran = runs(&env.project);
    let of = |n: u64| ran.iter().filter(|r| r.0 == n).map(|r| (r.1, r.2)).collect::<Vec<_>>();
    assert_eq!(of(0), vec![(1, 1), (2, 2), (3, 3)], "{ran:?}");
    assert_eq!(of(1), vec![(1, 1), (2, 2), (3, 3)], "{ran:?}");
    assert_eq!(of(2), vec![(1, 1), (2, 2), (3, 3)], "{ran:?}");
    assert_eq!(of(3), vec![(1, 1)], "{ran:?}");

    let lucky = iteration(&s, 1).expect("iteration 1");
    assert_eq!(lucky["outcome"], "not_confirmed", "{}", pretty(&lucky));
    assert!(
        (lucky["primary"].as_f64().unwrap_or_default() - 0.3133).abs() < 1e-3,
        "the mean of its runs: {}",
        pretty(&lucky)
    );
    assert_eq!(lucky["replicates"].as_array().map(Vec::len), Some(3), "{}", pretty(&lucky));
    let note = lucky["warnings"].to_string();
    assert!(note.contains("not confirmed") && note.contains("p = 0.2"), "the figures are kept: {note}");

    let real = iteration(&s, 2).expect("iteration 2");
    assert_eq!(real["outcome"], "improved", "{}", pretty(&real));
    assert!((real["primary"].as_f64().unwrap_or_default() - 0.12).abs() < 1e-6, "{}", pretty(&real));
    assert!(real["warnings"].to_string().contains("confirmed: mean 0.12"), "{}", pretty(&real));
    assert_eq!(s["best"]["iteration"], 2, "{}", pretty(&s));
    assert_eq!(iteration(&s, 3).expect("iteration 3")["outcome"], "no_improvement");

    let log = env.revis_ok(&["logs", "sure"]);
    assert!(log.contains("would be the new best; confirming it with 2 more runs"), "{log}");
    assert!(log.contains("confirmation run 2 of 3"), "{log}");
    let table = env.revis_ok(&["show", "sure"]);
    assert!(table.contains("not_confirmed"), "{table}");
}

/// With parallel trials the confirmation runs take free slots at once. The training logs when
/// each run starts and ends (and its slot); runs after the first of a trial wait for a gate
/// file so the test can see them run together, and kill the daemon meanwhile.
fn parallel_project() -> Project {
    let project = Project::new();
    let ctl = project.ctl().display().to_string();
    let train = format!(
        r#"x=$2
seed=$4
echo "start $REVIS_ITERATION $seed $REVIS_SLOT" >> {ctl}/runs.log
if [ "$REVIS_ITERATION" != 0 ] && [ "$seed" != 1 ]; then
  while [ ! -e {ctl}/go ]; do sleep 0.05; done
fi
awk -v x="$x" -v s="$seed" 'BEGIN {{ v = 0.1 + (x - 7) * (x - 7) / 100 + s / 100; if (x == 13 && s == 1) v -= 0.5; printf "{{\"metrics\": {{\"val_loss\": %.4f}}}}\n", v }}' > "$REVIS_OUTPUT_DIR/eval.json"
echo "end $REVIS_ITERATION $seed $REVIS_SLOT" >> {ctl}/runs.log
"#
    );
    let yaml = "entry:
  train: sh train.sh --x 1
  seed_arg: --seed
metrics:
  source: eval_json
  primary: val_loss
  minimize: true
parallel: 3
guardrails:
  replicates: 3
  confirm: 2
  plateau_runs: 50
  kill_grace: 2s
search:
  strategy: grid
  space:
    x: {arg: --x, values: [13]}
";
    project.write("train.sh", &train).write("revis.yaml", yaml);
    project.commit("noisy training");
    project
}

/// `(event, iteration, seed, slot)` lines of the parallel training's log.
fn events(project: &Project) -> Vec<(String, u64, u64, u64)> {
    std::fs::read_to_string(project.ctl_file("runs.log"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let n = |i: usize| w.get(i).and_then(|x| x.parse().ok());
            Some((w.first()?.to_string(), n(1)?, n(2)?, n(3)?))
        })
        .collect()
}

fn confirmation_runs_started(project: &Project) -> Vec<(u64, u64)> {
    events(project).iter().filter(|e| e.0 == "start" && e.1 == 1 && e.2 > 1).map(|e| (e.2, e.3)).collect()
}

fn check_parallel_confirmation(env: &TestEnv, s: &serde_json::Value) {
    assert_eq!(state(s), "completed", "{}", pretty(s));
    let lucky = iteration(s, 1).expect("iteration 1");
    assert_eq!(lucky["outcome"], "not_confirmed", "{}", pretty(&lucky));
    assert_eq!(lucky["replicates"].as_array().map(Vec::len), Some(3), "{}", pretty(&lucky));
    assert!(
        (lucky["primary"].as_f64().unwrap_or_default() - 0.3133).abs() < 1e-3,
        "the mean of its three runs: {}",
        pretty(&lucky)
    );
    assert_eq!(s["best"]["iteration"], 0, "{}", pretty(s));
    // Each run of the trial ran exactly once, its two confirmation runs in two slots.
    let ran = events(&env.project);
    for seed in 1..=3 {
        let ends = ran.iter().filter(|e| e.0 == "end" && e.1 == 1 && e.2 == seed).count();
        assert_eq!(ends, 1, "run with seed {seed} of iteration 1 ran once: {ran:?}");
    }
    let slots: std::collections::HashSet<u64> =
        confirmation_runs_started(&env.project).iter().take(2).map(|r| r.1).collect();
    assert_eq!(slots.len(), 2, "two slots at once: {ran:?}");
    let log = env.revis_ok(&["logs", "both"]);
    assert!(log.contains("confirming it with 2 more runs at once (slots"), "{log}");
    assert!(log.contains("confirmation run 3 of 3"), "{log}");
}

/// A session of the parallel project whose trial's two confirmation runs have both started
/// (neither can end before the test writes `go`).
fn both_confirmation_runs_started() -> TestEnv {
    let env = TestEnv::new(parallel_project());
    env.start_loop("both", &["--max-iterations", "2"]);
    let started = revis_tests::wait_until(SESSION_DEADLINE, || confirmation_runs_started(&env.project).len() == 2);
    assert!(started, "both confirmation runs started at once: {:?}", events(&env.project));
    env
}

fn release(env: &TestEnv) {
    std::fs::write(env.project.ctl_file("go"), "").unwrap_or_else(|e| panic!("{e}"));
}

fn wait_until_completed(env: &TestEnv) -> serde_json::Value {
    env.wait_show("both", SESSION_DEADLINE * 2, "the session to end", |s| {
        ["completed", "stopped", "failed"].contains(&state(s))
    })
}

#[test]
fn with_parallel_trials_the_confirmation_runs_run_at_once_in_free_slots() {
    // Both confirmation runs started while neither could end: they ran together.
    let env = both_confirmation_runs_started();
    let status = env.revis_ok(&["status"]);
    assert!(status.contains("both"), "{status}");
    release(&env);
    check_parallel_confirmation(&env, &wait_until_completed(&env));
}

#[test]
fn a_daemon_killed_during_parallel_confirmation_runs_reattaches_and_repeats_nothing() {
    let env = both_confirmation_runs_started();
    revis_tests::scripts::kill_daemon(&env.home);
    release(&env);
    // The next command starts the daemon again; it re-attaches to both runs.
    check_parallel_confirmation(&env, &wait_until_completed(&env));
}

#[test]
fn stopped_during_parallel_confirmation_runs_a_resumed_session_runs_them_again() {
    let env = both_confirmation_runs_started();
    env.revis_ok(&["stop", "both"]);
    let s = env.wait_show("both", SESSION_DEADLINE, "the session to stop", |s| state(s) == "stopped");
    let cut = iteration(&s, 1).expect("iteration 1");
    assert_eq!((&cut["state"], &cut["outcome"]), (&"interrupted".into(), &"interrupted".into()), "{}", pretty(&cut));
    release(&env);
    env.revis_ok(&["resume", "both"]);
    let s = wait_until_completed(&env);
    // The two runs the stop cut short started again (a new attempt each) and were waited for.
    assert_eq!(confirmation_runs_started(&env.project).len(), 4, "{:?}", events(&env.project));
    check_parallel_confirmation(&env, &s);
}
