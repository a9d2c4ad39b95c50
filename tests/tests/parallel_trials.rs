//! Several trials at once, with real tmux, git and processes (no GPU needed: the slots'
//! devices are only names handed to the training as `CUDA_VISIBLE_DEVICES`):
//! - two slots on `gpus: [0, 1]`: two trials overlap, each sees its own device and its own
//!   worktree, and every trial is one commit on the branch;
//! - `revis stop` with three trials running ends all three process trees;
//! - a daemon SIGKILLed while three trials run (plainly, and at every fault point) re-attaches
//!   to all of them: none re-run, none lost, one commit per trial.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use revis_tests::cli::{Running, describe, revis_command};
use revis_tests::process::{pid_alive, read_pid};
use revis_tests::project::Project;
use revis_tests::scripts::{fault_points, iteration_commits, kill_daemon, runs_log, script_yaml};
use revis_tests::session::{ENDED_STATES, iteration, numbers, pretty, state, stop_reason};
use revis_tests::{COMMAND_DEADLINE, SESSION_DEADLINE, TestEnv, wait_until};

/// A training that logs `<iteration> <slot> <devices> <cwd>` to runs.log when it starts and
/// `<iteration> <start ns> <end ns>` to times.log when it ends. Every trial but the baseline
/// marks `started-<n>` and waits (bounded) until `barrier` trials have started, so trials that
/// can run at once do, and records how many it saw in `saw-<n>`. With `hold`, a trial then
/// waits for the control file `go` (the test decides when runs end), holding a child `sleep`
/// whose pid goes to `child-<n>`.
fn training(ctl: &Path, barrier: usize, hold: bool) -> String {
    let ctl = ctl.display();
    let hold = if hold {
        format!(
            "  sleep 100000 &\n  echo $! > {ctl}/child-$n\n  echo $$ > {ctl}/pid-$n\n  \
             while [ ! -e {ctl}/go ]; do sleep 0.05; done\n  kill $! 2>/dev/null\n"
        )
    } else {
        String::new()
    };
    format!(
        r#"n=$REVIS_ITERATION
x=$2
start=$(date +%s%N)
echo "$n $REVIS_SLOT ${{CUDA_VISIBLE_DEVICES:-none}} $(pwd -P)" >> {ctl}/runs.log
if [ "$n" != 0 ]; then
  touch {ctl}/started-$n
  i=0
  while [ "$(ls {ctl} | grep -c '^started-')" -lt {barrier} ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done
  ls {ctl} | grep -c '^started-' > {ctl}/saw-$n
{hold}fi
awk -v x="$x" 'BEGIN {{ d = x - 7; if (d < 0) d = -d; printf "{{\"metrics\": {{\"val_loss\": %.4f}}}}\n", 0.1 + d / 10 }}' > "$REVIS_OUTPUT_DIR/eval.json"
echo "$n $start $(date +%s%N)" >> {ctl}/times.log
"#
    )
}

/// A committed project training with [`training`] under `executor`/`parallel` settings.
fn parallel_project(barrier: usize, hold: bool, settings: &str, guardrails: &[(&str, &str)]) -> Project {
    let project = Project::new();
    let text = training(project.ctl(), barrier, hold);
    let yaml = format!("{}{settings}", script_yaml("sh train.sh", guardrails));
    project.write("train.sh", &text).write("revis.yaml", &yaml);
    project.commit("baseline");
    project
}

/// runs.log as (iteration, slot, devices, cwd) per run.
fn runs(project: &Project) -> Vec<(u64, u64, String, String)> {
    std::fs::read_to_string(project.ctl_file("runs.log"))
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let n = words.next()?.parse().ok()?;
            let slot = words.next()?.parse().ok()?;
            Some((n, slot, words.next()?.to_string(), words.next()?.to_string()))
        })
        .collect()
}

/// times.log as iteration → (start, end) in nanoseconds.
fn times(project: &Project) -> HashMap<u64, (u128, u128)> {
    std::fs::read_to_string(project.ctl_file("times.log"))
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let w: Vec<&str> = line.split_whitespace().collect();
            Some((w.first()?.parse().ok()?, (w.get(1)?.parse().ok()?, w.get(2)?.parse().ok()?)))
        })
        .collect()
}

fn tree(dir: &Path, rev: &str) -> String {
    revis_tests::git::git(dir, &["rev-parse", &format!("{rev}^{{tree}}")]).trim().to_string()
}

#[test]
fn two_slots_on_two_gpus_run_trials_at_once_each_on_its_own_device_and_worktree() {
    let project = parallel_project(2, false, "executor:\n  gpus: [0, 1]\n", &[]);
    let env = TestEnv::new(project);
    let base = env.project.head();
    env.start_loop("pair", &["--max-iterations", "6"]);
    let s = env.wait_ended("pair");
    assert_eq!((state(&s), stop_reason(&s)), ("completed", "max_iterations"), "{}", pretty(&s));
    assert_eq!(numbers(&s), vec![0, 1, 2, 3, 4, 5], "{}", pretty(&s));

    let runs = runs(&env.project);
    let trials: Vec<_> = runs.iter().filter(|r| r.0 != 0).collect();
    assert_eq!(trials.len(), 5, "each trial runs once: {runs:?}");
    for (n, slot, devices, cwd) in &trials {
        // Slot k owns device k (one GPU per trial) and a worktree of its own.
        assert_eq!(devices, &slot.to_string(), "trial {n} in slot {slot} saw CUDA_VISIBLE_DEVICES={devices}");
        assert!(cwd.ends_with(&format!(".revis/worktrees/pair.slot{slot}")), "trial {n} ran in {cwd}");
    }
    assert_eq!(
        trials.iter().map(|r| r.1).collect::<std::collections::BTreeSet<_>>().len(),
        2,
        "both slots were used: {runs:?}"
    );

    // The first two trials were proposed together (one per free slot) and ran at once.
    for n in [1, 2] {
        let saw: usize = std::fs::read_to_string(env.project.ctl_file(&format!("saw-{n}")))
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0);
        assert!(saw >= 2, "trial {n} never saw another trial running beside it");
    }
    let times = times(&env.project);
    let (a, b) = (times[&1], times[&2]);
    assert!(a.0 < b.1 && b.0 < a.1, "trials 1 and 2 must overlap in time: {a:?} {b:?}");
    // Two trials in one slot never overlap.
    for (i, x) in trials.iter().enumerate() {
        for y in &trials[i + 1..] {
            if x.1 == y.1 {
                let (p, q) = (times[&x.0], times[&y.0]);
                assert!(p.1 <= q.0 || q.1 <= p.0, "trials {} and {} shared slot {}: {p:?} {q:?}", x.0, y.0, x.1);
            }
        }
    }

    // Each trial is one commit on the branch; the head holds the best measured state.
    let dir = env.project.path();
    assert_eq!(iteration_commits(dir, &base, "revis/pair"), vec![1, 2, 3, 4, 5]);
    let best = s["best"]["iteration"].as_u64().unwrap_or(0);
    let best_commit = iteration(&s, best).and_then(|it| it["commit"].as_str().map(str::to_string)).expect("best");
    assert_eq!(tree(dir, "revis/pair"), tree(dir, &best_commit), "{}", pretty(&s));
    for it in revis_tests::session::iterations(&s) {
        assert_eq!(it["state"], "succeeded", "{}", pretty(&it));
    }
    // The session's own worktree holds the branch head (the best state) once it ended.
    let status = revis_tests::git::git(&dir.join(".revis/worktrees/pair"), &["status", "--porcelain"]);
    assert!(status.trim().is_empty(), "the session's worktree must match its branch: {status}");

    // The slots' worktrees go with the session.
    env.revis_ok(&["delete", "pair"]);
    let worktrees = dir.join(".revis/worktrees");
    let left: Vec<String> = std::fs::read_dir(&worktrees)
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "delete must remove the slot worktrees too: {left:?}");
}

#[test]
fn stop_with_three_trials_running_ends_all_three_process_trees() {
    let project = parallel_project(3, true, "executor:\n  slots: 3\n", &[("kill_grace", "5s")]);
    let env = TestEnv::new(project);
    env.start_loop("trio", &["--max-iterations", "8"]);
    // Each file is written by its own `echo`: wait until every one holds its pid (a file can
    // exist, empty, for a moment before its echo writes).
    let files: Vec<std::path::PathBuf> =
        (1..=3).flat_map(|n| ["pid", "child"].map(|kind| env.project.ctl_file(&format!("{kind}-{n}")))).collect();
    assert!(
        wait_until(SESSION_DEADLINE, || files.iter().all(|f| read_pid(f).is_some())),
        "three trials with a child each: {files:?}"
    );
    let pids: Vec<i32> = files.iter().map(|f| read_pid(f).unwrap_or_default()).collect();
    assert!(pids.iter().all(|p| *p > 0 && pid_alive(*p)), "three trials with a child each: {pids:?}");

    env.revis_ok(&["stop", "trio"]);
    let s = env.wait_ended("trio");
    assert_eq!((state(&s), stop_reason(&s)), ("stopped", "user"), "{}", pretty(&s));
    assert!(
        wait_until(SESSION_DEADLINE, || pids.iter().all(|p| !pid_alive(*p))),
        "every process of the three trials must be gone: {:?}",
        pids.iter().filter(|p| pid_alive(**p)).collect::<Vec<_>>()
    );
    for n in 1..=3 {
        let it = iteration(&s, n).unwrap_or_default();
        assert_eq!(it["state"], "interrupted", "trial {n}: {}", pretty(&s));
    }
    // The three trials start in whichever order their slots get to them.
    let mut ran = runs_log(&env.project, "runs.log");
    ran.sort_unstable();
    assert_eq!(ran, vec![0, 1, 2, 3], "nothing started after the stop");
}

/// Runs a three-slot session (baseline and five trials), crashing the daemon at `fault` (or
/// SIGKILLing it while the first three trials run when `fault` is `None`), and checks it ends
/// as a session that never crashed: every trial judged once, each run once, one commit each.
fn crash_while_three_run(fault: Option<&str>) {
    let what = fault.unwrap_or("SIGKILL while three trials run");
    let project = parallel_project(3, fault.is_none(), "parallel: 3\n", &[]);
    let env = TestEnv::new(project);
    let base = env.project.head();
    let args = ["loop", "--name", "crash", "--advisor", "search", "--max-iterations", "6"];
    let mut cmd = revis_command(&env.home, env.project.path(), &args);
    if let Some(spec) = fault {
        cmd.env("REVIS_FAULT", spec);
    }
    let out = Running::spawn(cmd, &format!("[{what}] revis loop")).wait(COMMAND_DEADLINE);
    assert!(out.status.success(), "[{what}] revis loop failed: {}", describe(&out));
    match fault {
        None => {
            for n in 1..=3 {
                env.wait_ctl(&format!("pid-{n}"));
            }
            kill_daemon(&env.home);
            env.project.touch_ctl("go");
        }
        Some(spec) => {
            let pid = read_pid(&env.home.pid_file()).unwrap_or_else(|| panic!("[{spec}] no daemon pid file"));
            let died = wait_until(SESSION_DEADLINE, || {
                !pid_alive(pid)
                    || ENDED_STATES.contains(&state(
                        &serde_json::from_slice(&env.revis(&["show", "crash", "--json"]).stdout).unwrap_or_default(),
                    ))
            });
            assert!(died, "[{spec}] the armed daemon neither died nor ended the session");
            // Trial 2 always runs; whether its own decision comes before a stop rule depends on
            // which trial ends first, so only the points of its run must have fired.
            let must_fire = ["prepare", "train_started", "train_ended", "collect"].iter().any(|p| spec.starts_with(p));
            assert!(!must_fire || !pid_alive(pid), "[{spec}] the fault point never fired");
        }
    }
    let s = env.wait_ended("crash");
    assert_eq!((state(&s), stop_reason(&s)), ("completed", "max_iterations"), "[{what}] {}", pretty(&s));
    assert_eq!(numbers(&s), vec![0, 1, 2, 3, 4, 5], "[{what}] {}", pretty(&s));
    for it in revis_tests::session::iterations(&s) {
        assert_eq!(it["state"], "succeeded", "[{what}] {}", pretty(&s));
        assert!(it["primary"].is_f64(), "[{what}] iteration {} has no metric: {}", it["number"], pretty(&it));
    }
    let mut ran = runs_log(&env.project, "runs.log");
    ran.sort_unstable();
    assert_eq!(ran, vec![0, 1, 2, 3, 4, 5], "[{what}] each trial runs exactly once");
    assert_eq!(
        iteration_commits(env.project.path(), &base, "revis/crash"),
        vec![1, 2, 3, 4, 5],
        "[{what}] one commit per trial"
    );
}

#[test]
fn a_daemon_killed_while_three_trials_run_reattaches_to_all_of_them() {
    crash_while_three_run(None);
}

#[test]
fn a_crash_at_any_fault_point_with_three_trials_running_loses_and_repeats_nothing() {
    let points = fault_points();
    // Armed for trial 2: trials 1 and 3 run beside it whenever it gets there. REVIS_TEST_FAULT
    // narrows the run to one point when a failure is being looked into.
    let only = std::env::var("REVIS_TEST_FAULT").ok();
    let queue = Mutex::new(
        points
            .iter()
            .filter(|p| *p != "end" && only.as_ref().is_none_or(|o| o == *p))
            .map(|p| format!("{p}:2"))
            .collect::<Vec<_>>(),
    );
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                while let Some(spec) = queue.lock().ok().and_then(|mut q| q.pop()) {
                    if let Err(panic) = std::panic::catch_unwind(|| crash_while_three_run(Some(&spec))) {
                        let message = panic
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                            .unwrap_or_else(|| format!("[{spec}] panicked"));
                        if let Ok(mut f) = failures.lock() {
                            f.push(message);
                        }
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap_or_default();
    assert!(failures.is_empty(), "{} fault points failed:\n{}", failures.len(), failures.join("\n\n"));
}

#[path = "../src/sshd.rs"]
mod sshd;

/// A training for two SSH boxes: the first trial on slot 1 (the second box) marks
/// `slot1-started` and waits for a gate that never comes, so the test can take its box away
/// mid-run; every other trial takes a moment and writes its metric.
fn two_box_training(ctl: &Path) -> String {
    let ctl = ctl.display();
    format!(
        r#"n=$REVIS_ITERATION
x=$2
echo "$n $REVIS_SLOT ${{CUDA_VISIBLE_DEVICES:-none}}" >> {ctl}/runs.log
if [ "$REVIS_SLOT" = 1 ] && [ ! -e {ctl}/slot1-started ]; then
  touch {ctl}/slot1-started
  while [ ! -e {ctl}/never ]; do sleep 0.1; done
fi
sleep 0.3
awk -v x="$x" 'BEGIN {{ printf "{{\"metrics\": {{\"val_loss\": %.4f}}}}\n", 0.1 + (x - 7) * (x - 7) / 100 }}' > "$REVIS_OUTPUT_DIR/eval.json"
"#
    )
}

#[test]
fn a_box_that_goes_away_retires_its_slots_and_the_session_finishes_on_the_other() {
    let a = sshd::SshServer::start();
    let mut b = sshd::SshServer::start();
    b.serve_also(&a, "gpu-b");
    a.serve_also(&a, "gpu-a");
    let project = Project::new();
    let text = two_box_training(project.ctl());
    let yaml = format!(
        // gpu-a's device list is checked over SSH at `revis loop` (no nvidia-smi there: taken as
        // written, and handed to its trials).
        "{}executor:\n  type: ssh\n  host_timeout: 3s\n  hosts:\n    - {{host: gpu-a, gpus: [0], work_dir: {}}}\n    - {{host: gpu-b, work_dir: {}}}\n",
        script_yaml("sh train.sh", &[("retry_budget", "10")]),
        a.work_dir().display(),
        b.work_dir().display()
    );
    project.write("train.sh", &text).write("revis.yaml", &yaml);
    project.commit("two boxes");
    let env = TestEnv::new(project);
    a.revis_ok(&env, &["loop", "--name", "boxes", "--advisor", "search", "--max-iterations", "7"]);
    env.wait_ctl("slot1-started");
    b.stop();

    let s = a.wait_show(&env, "boxes", SESSION_DEADLINE * 2, |s| ENDED_STATES.contains(&state(s)));
    assert_eq!((state(&s), stop_reason(&s)), ("completed", "max_iterations"), "{}", pretty(&s));
    let its = revis_tests::session::iterations(&s);
    let lost: Vec<&serde_json::Value> = its.iter().filter(|it| it["host"] == "gpu-b").collect();
    assert!(!lost.is_empty(), "a trial ran on gpu-b: {}", pretty(&s));
    for it in &lost {
        assert_eq!(it["state"], "failed", "{}", pretty(it));
        let reason = it["failure_reason"].as_str().unwrap_or_default();
        assert!(reason.contains("gpu-b cannot be reached"), "{reason}");
    }
    let on_a = its.iter().filter(|it| it["host"] == "gpu-a" && it["state"] == "succeeded").count();
    let ran = std::fs::read_to_string(env.project.ctl_file("runs.log")).unwrap_or_default();
    assert!(ran.lines().all(|l| l.ends_with(" 0 0") || l.ends_with(" 1 none")), "slot 0 (gpu-a) sees GPU 0: {ran}");
    assert!(on_a >= 4, "the session went on on gpu-a: {}", pretty(&s));
    let events = a.revis_ok(&env, &["logs", "boxes"]);
    assert!(events.contains("host gpu-b cannot be reached") && events.contains("retired"), "{events}");
}

/// `revis loop` in `env`'s project with `bin` first on PATH (where a stand-in `nvidia-smi`
/// lists the machine's GPUs).
fn loop_with_path(env: &TestEnv, bin: &Path, args: &[&str]) -> std::process::Output {
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let mut cmd = revis_command(&env.home, env.project.path(), args);
    cmd.env("PATH", path);
    Running::spawn(cmd, "revis loop").wait(COMMAND_DEADLINE)
}

#[test]
fn slot_settings_that_cannot_work_are_refused_with_file_line_and_key_before_anything_runs() {
    let project = parallel_project(1, false, "executor:\n  gpus: [0, 3]\n", &[]);
    // No NVIDIA driver here: a stand-in prints what `nvidia-smi -L` prints on a two-GPU box.
    let bin = project.scratch().join("bin");
    std::fs::create_dir_all(&bin).expect("bin dir");
    let smi = bin.join("nvidia-smi");
    std::fs::write(
        &smi,
        "#!/bin/sh\nprintf 'GPU 0: NVIDIA A100 (UUID: GPU-aaaa)\\nGPU 1: NVIDIA A100 (UUID: GPU-bbbb)\\n'\n",
    )
    .expect("stand-in");
    std::fs::set_permissions(&smi, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    let env = TestEnv::new(project);
    let yaml_line = |key: &str| {
        env.project.read("revis.yaml").lines().position(|l| l.trim_start().starts_with(key)).map_or(0, |i| i + 1)
    };

    let out = loop_with_path(&env, &bin, &["loop", "--name", "nogpu", "--advisor", "search"]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "a GPU the machine lacks must be refused: {}", describe(&out));
    assert!(err.contains(&format!("revis.yaml:{}", yaml_line("gpus:"))), "file and line: {err}");
    assert!(err.contains("executor.gpus") && err.contains("GPU 3") && err.contains("0, 1"), "{err}");

    // Each refusal names its key and line; none leaves a session or a worktree behind.
    for (settings, key, needle) in [
        ("executor:\n  gpus: [0, 1]\n  gpus_per_trial: 3\n", "gpus_per_trial:", "gpus_per_trial is 3"),
        ("executor:\n  gpus: [0, 0]\n", "gpus:", "GPU 0 twice"),
        ("parallel: 0\n", "parallel:", "parallel must be at least 1"),
        ("executor:\n  type: ssh\n  hosts:\n    - {host: a}\n    - {host: a}\n", "- {host: a}", "lists a twice"),
    ] {
        let yaml = format!("{}{settings}", script_yaml("sh train.sh", &[]));
        env.project.write("revis.yaml", &yaml);
        env.project.commit("settings");
        let out = loop_with_path(&env, &bin, &["loop", "--name", "bad", "--advisor", "search"]);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "{settings}: must be refused");
        assert!(err.contains(needle), "{settings}: {err}");
        let lines: Vec<String> = env.project.read("revis.yaml").lines().map(str::to_string).collect();
        let line = lines.iter().rposition(|l| l.trim_start().starts_with(key)).map_or(0, |i| i + 1);
        assert!(err.contains(&format!("revis.yaml:{line}:")), "{settings}: the line of {key} ({line}): {err}");
    }
    let out = loop_with_path(&env, &bin, &["loop", "--name", "zero", "--parallel", "0"]);
    assert!(!out.status.success(), "--parallel 0 is refused");
    let listed = env.revis_ok(&["list", "--all"]);
    assert!(!listed.contains("nogpu") && !listed.contains("bad"), "no session was created: {listed}");
    assert!(!env.project.path().join(".revis/worktrees/nogpu").exists(), "no worktree was made");
}

#[test]
fn the_llm_advisor_proposes_for_every_free_slot_in_one_decision() {
    use revis_tests::fakes::{FakeLlm, Reply, change, config_edit, submit};
    use revis_tests::llm::{env_of, fake_key, llm_project};
    let fake = FakeLlm::anthropic(&fake_key("sk-ant-batch"));
    let mut decision = change(
        "lower lr",
        "a smaller step settles lower",
        vec![config_edit("config.json", "lr", serde_json::json!(0.5))],
    );
    decision["more"] = serde_json::json!([
        {"rationale": "much lower lr", "hypothesis": "the smallest step is best",
         "changes": [config_edit("config.json", "lr", serde_json::json!(0.05))]},
        {"rationale": "a middle lr", "hypothesis": "between the two",
         "changes": [config_edit("config.json", "lr", serde_json::json!(0.2))]},
    ]);
    fake.script([Reply::call(submit(decision))]);
    let project = llm_project(&[], "llm:\n  model: anthropic/claude-sonnet-4-5\nexecutor:\n  slots: 3\n", &[]);
    let env = TestEnv::new(project);
    env.start_llm_loop("batch", &["--max-iterations", "4"], &env_of(&[&fake]));
    let s = env.wait_ended("batch");
    assert_eq!((state(&s), stop_reason(&s)), ("completed", "max_iterations"), "{}", pretty(&s));

    let calls = fake.requests();
    assert_eq!(calls.len(), 1, "one decision filled the three free slots");
    assert!(calls[0].raw.contains("3 slots are free"), "the model is told how many it may propose");
    let its = revis_tests::session::iterations(&s);
    let trials: Vec<&serde_json::Value> = its.iter().filter(|it| it["number"] != 0).collect();
    assert_eq!(trials.len(), 3, "{}", pretty(&s));
    let hypotheses: std::collections::BTreeSet<&str> =
        trials.iter().filter_map(|it| it["hypothesis"].as_str()).collect();
    assert_eq!(hypotheses.len(), 3, "each trial keeps its own hypothesis: {hypotheses:?}");
    let slots: std::collections::BTreeSet<u64> = trials.iter().filter_map(|it| it["slot"].as_u64()).collect();
    assert_eq!(slots.len(), 3, "one trial per slot: {}", pretty(&s));
    for it in &trials {
        assert_eq!(it["state"], "succeeded", "{}", pretty(it));
    }
}
