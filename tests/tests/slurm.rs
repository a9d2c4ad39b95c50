//! The Slurm executor against a real single-node Slurm (munged, slurmctld and slurmd from
//! Debian's packages, started per test by `revis_fixtures::slurm`): submit, run and collect;
//! two jobs at once and a third waiting in the queue; a failing job; a job cancelled outside
//! Revis; a TIMEOUT; `revis stop` cancelling the job; a daemon SIGKILLed with a job running
//! (re-attached, not resubmitted); a requeued job; a cluster refusing what the config asks
//! for; and a submission through a login host over SSH.
//!
//! The tests take turns (`CLUSTER`): one cluster at a time owns the node's name. They need root
//! (slurmd runs jobs as their submitter) and skip, saying so, without it.

#[path = "../src/sshd.rs"]
mod sshd;

use std::process::Output;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use revis_fixtures::slurm::SlurmCluster;
use revis_tests::cli::{Running, describe, revis_command};
use revis_tests::project::Project;
use revis_tests::scripts::{kill_daemon, runs_log, script_yaml};
use revis_tests::session::{ENDED_STATES, iteration, iterations, numbers, pretty, state, stop_reason};
use revis_tests::{COMMAND_DEADLINE, SESSION_DEADLINE, TestEnv, wait_until};
use serde_json::Value;

static CLUSTER: Mutex<()> = Mutex::new(());

/// A test's cluster, project and home; the session's jobs go to `work` (the "shared
/// filesystem"). Dropped in order: the daemon stops before the cluster.
struct SlurmEnv {
    env: TestEnv,
    work: tempfile::TempDir,
    cluster: SlurmCluster,
    _turn: MutexGuard<'static, ()>,
}

/// `None` (with a note) where this process cannot run Slurm.
fn cluster() -> Option<(SlurmCluster, MutexGuard<'static, ()>)> {
    start_cluster(SlurmCluster::start)
}

fn start_cluster(start: fn() -> Result<SlurmCluster, String>) -> Option<(SlurmCluster, MutexGuard<'static, ()>)> {
    if !nix::unistd::getuid().is_root() {
        eprintln!("skipped: a real Slurm needs root here (slurmd starts jobs as their submitter)");
        return None;
    }
    let turn = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    let cluster = start().unwrap_or_else(|e| panic!("cannot start Slurm: {e}"));
    Some((cluster, turn))
}

/// Training: logs `<iteration> <job id> <restart count> <start ns>` to runs.log, then, per
/// control files: `fail-N` exits 3; `hold-N` writes `pid-N` and waits for `go-N`; `barrier`
/// waits (bounded) until that many trials have started. Writes eval.json and `ended-N`.
fn training(ctl: &std::path::Path) -> String {
    let ctl = ctl.display();
    format!(
        r#"n=$REVIS_ITERATION
x=$2
echo "$n ${{SLURM_JOB_ID:-none}} ${{SLURM_RESTART_COUNT:-0}} $(date +%s%N)" >> {ctl}/runs.log
echo "training iteration $n in job ${{SLURM_JOB_ID:-none}}"
if [ -e {ctl}/fail-$n ]; then echo "failing on purpose"; exit 3; fi
if [ -e {ctl}/hold-$n ] && [ ! -e {ctl}/go-$n ]; then
  sleep 100000 &
  echo $! > {ctl}/child-$n
  echo $$ > {ctl}/pid-$n
  while [ ! -e {ctl}/go-$n ]; do sleep 0.1; done
  kill $! 2>/dev/null
fi
if [ "$n" != 0 ] && [ -e {ctl}/barrier ]; then
  touch {ctl}/started-$n
  i=0
  while [ "$(ls {ctl} | grep -c '^started-')" -lt "$(cat {ctl}/barrier)" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
  ls {ctl} | grep -c '^started-' > {ctl}/saw-$n
fi
printf '{{"step": 1, "metrics": {{"val_loss": 2.0}}}}\n{{"step": 2, "metrics": {{"val_loss": 1.5}}}}\n' >> "$REVIS_OUTPUT_DIR/progress.jsonl"
awk -v x="$x" 'BEGIN {{ d = x - 7; if (d < 0) d = -d; printf "{{\"metrics\": {{\"val_loss\": %.4f}}}}\n", 0.1 + d / 10 }}' > "$REVIS_OUTPUT_DIR/eval.json"
echo "$n $(date +%s%N)" >> {ctl}/ended.log
"#
    )
}

impl SlurmEnv {
    /// A project whose revis.yaml runs [`training`] as Slurm jobs with `executor` lines added.
    fn new(executor: &str, top: &str, guardrails: &[(&str, &str)]) -> Option<Self> {
        let (cluster, turn) = cluster()?;
        Some(Self::on(cluster, turn, executor, top, guardrails))
    }

    fn on(
        cluster: SlurmCluster,
        turn: MutexGuard<'static, ()>,
        executor: &str,
        top: &str,
        guardrails: &[(&str, &str)],
    ) -> Self {
        let work = tempfile::Builder::new().prefix("revis-slurm-work-").tempdir().expect("work dir");
        let project = Project::new();
        let yaml = format!(
            "{}executor:\n  type: slurm\n  work_dir: {}\n  poll_interval: 1s\n{executor}{top}",
            script_yaml("sh train.sh", guardrails),
            work.path().display()
        );
        project.write("train.sh", &training(project.ctl())).write("revis.yaml", &yaml);
        project.commit("slurm executor");
        Self { env: TestEnv::new(project), work, cluster, _turn: turn }
    }

    /// `revis args...` with the cluster's `SLURM_CONF`, which a daemon it starts inherits.
    fn revis(&self, args: &[&str]) -> Output {
        let mut cmd = revis_command(&self.env.home, self.env.project.path(), args);
        cmd.env("SLURM_CONF", self.cluster.conf());
        Running::spawn(cmd, &format!("revis {}", args.join(" "))).wait(COMMAND_DEADLINE)
    }

    fn revis_ok(&self, args: &[&str]) -> String {
        let out = self.revis(args);
        assert!(
            out.status.success(),
            "revis {} failed: {}\ndaemon log:\n{}\nslurmctld:\n{}",
            args.join(" "),
            describe(&out),
            self.env.home.daemon_log(),
            self.cluster.log("slurmctld.log")
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn start_loop(&self, name: &str, iterations: &str) {
        self.revis_ok(&["loop", "--name", name, "--advisor", "search", "--max-iterations", iterations]);
    }

    fn wait_show(&self, name: &str, timeout: Duration, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let mut last = Value::Null;
        let ok = wait_until(timeout, || {
            last = self.env.show(name);
            pred(&last)
        });
        assert!(
            ok,
            "timed out waiting for {what}\nlast show --json: {}\ndaemon log:\n{}\nsqueue:\n{}",
            pretty(&last),
            self.env.home.daemon_log(),
            self.squeue()
        );
        last
    }

    fn wait_ended(&self, name: &str, timeout: Duration) -> Value {
        self.wait_show(name, timeout, "the session to end", |s| ENDED_STATES.contains(&state(s)))
    }

    /// Every job the cluster still knows, one per line: `id|name|state`.
    fn squeue(&self) -> String {
        let out = self.cluster.run("squeue", &["-h", "-o", "%i|%j|%T"]).expect("squeue");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn ctl(&self, file: &str) -> std::path::PathBuf {
        self.env.project.ctl_file(file)
    }

    fn touch(&self, file: &str) {
        std::fs::write(self.ctl(file), "").expect("control file");
    }

    fn wait_ctl(&self, file: &str) {
        let path = self.ctl(file);
        assert!(
            wait_until(SESSION_DEADLINE, || path.exists()),
            "the job never wrote {}\ndaemon log:\n{}\nsqueue:\n{}",
            path.display(),
            self.env.home.daemon_log(),
            self.squeue()
        );
    }

    /// The job id an iteration's training saw, from runs.log.
    fn job_of(&self, n: u64) -> String {
        std::fs::read_to_string(self.ctl("runs.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                (w.first()?.parse::<u64>().ok()? == n).then(|| w.get(1).map(|s| s.to_string()))?
            })
            .next_back()
            .unwrap_or_else(|| panic!("iteration {n} never ran"))
    }
}

fn job_state(env: &SlurmEnv, job: &str) -> String {
    let out = env.cluster.run("scontrol", &["show", "job", "-o", job]).expect("scontrol");
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace().find_map(|kv| kv.strip_prefix("JobState=")).unwrap_or("unknown").to_string()
}

fn failure(it: &Value) -> String {
    it["failure_reason"].as_str().unwrap_or_default().to_string()
}

#[test]
fn jobs_are_submitted_run_at_once_queued_and_collected() {
    let Some(env) = SlurmEnv::new("  gpus_per_trial: 2\n  cpus_per_task: 1\n  mem: 100M\n", "parallel: 3\n", &[])
    else {
        return;
    };
    std::fs::write(env.ctl("barrier"), "2").expect("barrier");
    env.start_loop("hpc", "4");
    let s = env.wait_ended("hpc", SESSION_DEADLINE * 2);
    assert_eq!((state(&s), stop_reason(&s)), ("completed", "max_iterations"), "{}", pretty(&s));
    assert_eq!(numbers(&s), vec![0, 1, 2, 3]);
    let mut jobs = std::collections::BTreeSet::new();
    for it in iterations(&s) {
        assert_eq!(it["state"], "succeeded", "{}", pretty(&it));
        assert!(it["metrics"]["val_loss"].is_f64(), "eval.json came back from the shared filesystem: {}", pretty(&it));
        assert_eq!(
            it["history"].as_array().map(Vec::len),
            Some(2),
            "the progress the job reported came back with its output: {}",
            pretty(&it)
        );
        let job = it["job_id"].as_str().unwrap_or_else(|| panic!("no job id recorded: {}", pretty(&it))).to_string();
        let n = it["number"].as_u64().unwrap_or_default();
        assert_eq!(job, env.job_of(n), "the recorded job is the one that ran iteration {n}");
        jobs.insert(job);
    }
    assert_eq!(jobs.len(), 4, "one job per trial");
    let mut ran = runs_log(&env.env.project, "runs.log");
    ran.sort();
    assert_eq!(ran, vec![0, 1, 2, 3], "each trial ran once");

    // Two jobs held 2 GPUs each at once (the node has 4); the third waited in the queue, its
    // wait recorded apart from its run time.
    for n in [1, 2] {
        let saw: usize =
            std::fs::read_to_string(env.ctl(&format!("saw-{n}"))).ok().and_then(|t| t.trim().parse().ok()).unwrap_or(0);
        assert!(saw >= 2, "trial {n} ran alone (saw {saw} started)");
    }
    let queued: Vec<Value> =
        iterations(&s).into_iter().filter(|it| it["queued_seconds"].as_f64().unwrap_or(0.0) > 0.0).collect();
    assert!(!queued.is_empty(), "the third job waited for GPUs: {}", pretty(&s));
    let events = env.revis_ok(&["logs", "hpc"]);
    assert!(events.contains("waits in the queue (Resources)"), "the queue wait and its reason are reported: {events}");
    assert!(events.contains("submitted as Slurm job"), "{events}");

    // The job script as submitted, and the job's output streamed to the local log.
    let script = env.revis_ok(&["logs", "hpc", "--iteration", "1", "--script"]);
    for line in [
        "#SBATCH --gres=gpu:2",
        "#SBATCH --cpus-per-task=1",
        "#SBATCH --mem=100M",
        "#SBATCH --time=0-00:02:00",
        "#SBATCH --job-name=revis-",
    ] {
        assert!(script.contains(line), "{line} missing from the job script:\n{script}");
    }
    let log = env.revis_ok(&["logs", "hpc", "--iteration", "2"]);
    assert!(log.contains("training iteration 2 in job"), "{log}");
    let table = env.revis_ok(&["show", "hpc"]);
    assert!(table.contains("QUEUED") && table.contains("JOB"), "{table}");
    // The code ran from the synced copy on the shared filesystem.
    let synced =
        std::fs::read_dir(env.work.path()).expect("work dir").flatten().any(|e| e.path().join("train.sh").exists());
    assert!(synced, "nothing synced under {}", env.work.path().display());
}

#[test]
fn a_failing_job_and_one_cancelled_outside_revis_are_reported_and_the_session_goes_on() {
    let Some(env) = SlurmEnv::new("", "", &[]) else { return };
    env.touch("fail-1");
    env.touch("hold-2");
    env.start_loop("fails", "4");
    env.wait_ctl("pid-2");
    let job = env.job_of(2);
    let out = env.cluster.run("scancel", &[&job]).expect("scancel");
    assert!(out.status.success(), "scancel: {}", describe(&out));
    let s = env.wait_ended("fails", SESSION_DEADLINE * 2);
    assert_eq!(state(&s), "completed", "{}", pretty(&s));
    let one = iteration(&s, 1).expect("iteration 1");
    assert_eq!(one["exit_code"], 3, "{}", pretty(&one));
    assert!(failure(&one).contains("exited with code 3"), "{}", pretty(&one));
    let two = iteration(&s, 2).expect("iteration 2");
    assert!(failure(&two).contains("cancelled outside Revis"), "{}", pretty(&two));
    assert_eq!(iteration(&s, 3).expect("iteration 3")["state"], "succeeded", "the session went on: {}", pretty(&s));
}

#[test]
fn a_job_past_its_time_limit_is_a_timeout() {
    // Slurm's limits are whole minutes, and it looks at them every 30 s or so.
    let Some(env) = SlurmEnv::new("  time: \"1\"\n", "", &[]) else { return };
    env.touch("hold-1");
    env.start_loop("slow", "2");
    let s = env.wait_ended("slow", Duration::from_secs(240));
    let one = iteration(&s, 1).expect("iteration 1");
    assert!(failure(&one).contains("time limit (TIMEOUT"), "{}", pretty(&one));
    let script = env.revis_ok(&["logs", "slow", "--iteration", "1", "--script"]);
    assert!(script.contains("#SBATCH --time=0-00:01:00"), "{script}");
}

#[test]
fn stop_cancels_the_running_job_and_its_processes() {
    let Some(env) = SlurmEnv::new("", "", &[("kill_grace", "2s")]) else { return };
    env.touch("hold-1");
    env.start_loop("halt", "3");
    env.wait_ctl("pid-1");
    let job = env.job_of(1);
    let pid = revis_tests::process::read_pid(&env.ctl("pid-1")).expect("pid");
    let child = revis_tests::process::read_pid(&env.ctl("child-1")).expect("child pid");
    env.revis_ok(&["stop", "halt"]);
    let s = env.wait_ended("halt", SESSION_DEADLINE);
    assert_eq!(state(&s), "stopped", "{}", pretty(&s));
    assert_eq!(iteration(&s, 1).expect("iteration 1")["state"], "interrupted", "{}", pretty(&s));
    assert!(
        wait_until(SESSION_DEADLINE, || !revis_tests::process::pid_alive(pid)
            && !revis_tests::process::pid_alive(child)),
        "the job's processes outlived the stop"
    );
    assert!(
        wait_until(SESSION_DEADLINE, || !env.squeue().contains(&format!("{job}|"))),
        "job {job} is still queued or running:\n{}",
        env.squeue()
    );
    let ended = std::fs::read_to_string(env.ctl("ended.log")).unwrap_or_default();
    assert!(!ended.lines().any(|l| l.starts_with("1 ")), "the stopped trial never finished: {ended}");
}

#[test]
fn a_job_waiting_in_the_queue_shows_its_wait_and_a_stop_cancels_it() {
    let Some(env) = SlurmEnv::new("  sbatch: [\"--begin=now+3600\"]\n", "", &[]) else { return };
    env.start_loop("later", "2");
    let s = env.wait_show("later", SESSION_DEADLINE, "the baseline's job to wait in the queue", |s| {
        iteration(s, 0).is_some_and(|it| it["queue_reason"] == "BeginTime")
    });
    let job = iteration(&s, 0).and_then(|it| it["job_id"].as_str().map(str::to_string)).expect("job id");
    assert!(env.squeue().contains(&format!("{job}|revis-")), "{}", env.squeue());
    let status = env.revis_ok(&["status"]);
    assert!(status.contains("running (queued: BeginTime)"), "status shows the wait: {status}");
    env.revis_ok(&["stop", "later"]);
    let s = env.wait_ended("later", SESSION_DEADLINE);
    assert_eq!(state(&s), "stopped", "{}", pretty(&s));
    assert!(wait_until(SESSION_DEADLINE, || !env.squeue().contains(&format!("{job}|"))), "{}", env.squeue());
    assert!(runs_log(&env.env.project, "runs.log").is_empty(), "nothing ran");
}

#[test]
fn delete_cancels_the_sessions_job() {
    let Some(env) = SlurmEnv::new("", "", &[("kill_grace", "2s")]) else { return };
    env.touch("hold-1");
    env.start_loop("gone", "3");
    env.wait_ctl("pid-1");
    let job = env.job_of(1);
    let pid = revis_tests::process::read_pid(&env.ctl("pid-1")).expect("pid");
    env.revis_ok(&["delete", "gone"]);
    assert!(
        wait_until(SESSION_DEADLINE, || !env.squeue().contains(&format!("{job}|"))),
        "job {job} outlived its session:\n{}",
        env.squeue()
    );
    assert!(
        wait_until(SESSION_DEADLINE, || !revis_tests::process::pid_alive(pid)),
        "the training outlived its session"
    );
}

#[test]
fn a_daemon_killed_during_a_job_reattaches_by_job_id_and_never_resubmits() {
    let Some(env) = SlurmEnv::new("", "", &[]) else { return };
    env.touch("hold-1");
    env.start_loop("crash", "3");
    env.wait_ctl("pid-1");
    let job = env.job_of(1);
    kill_daemon(&env.env.home);
    // The job goes on without the daemon; a new daemon finds it by its id.
    env.revis_ok(&["daemon", "start"]);
    env.touch("go-1");
    let s = env.wait_ended("crash", SESSION_DEADLINE * 2);
    assert_eq!(state(&s), "completed", "{}", pretty(&s));
    let one = iteration(&s, 1).expect("iteration 1");
    assert_eq!(one["state"], "succeeded", "{}", pretty(&one));
    assert_eq!(one["job_id"].as_str(), Some(job.as_str()), "{}", pretty(&one));
    let ran = runs_log(&env.env.project, "runs.log");
    assert_eq!(ran.iter().filter(|n| **n == 1).count(), 1, "iteration 1 ran once: {ran:?}");
    assert_eq!(numbers(&s), vec![0, 1, 2]);
}

#[test]
fn a_requeued_job_is_waited_for_not_failed() {
    let Some(env) = SlurmEnv::new("", "", &[]) else { return };
    env.touch("hold-1");
    env.start_loop("requeue", "2");
    env.wait_ctl("pid-1");
    let job = env.job_of(1);
    let out = env.cluster.run("scontrol", &["requeue", &job]).expect("scontrol requeue");
    assert!(out.status.success(), "requeue: {}", describe(&out));
    // A requeued job waits two minutes before it may start again; let it go now, and let
    // the second run through.
    env.touch("go-1");
    assert!(
        wait_until(SESSION_DEADLINE, || job_state(&env, &job) == "PENDING"),
        "the job did not go back to the queue"
    );
    let out =
        env.cluster.run("scontrol", &["update", &format!("jobid={job}"), "starttime=now"]).expect("scontrol update");
    assert!(out.status.success(), "update: {}", describe(&out));
    let s = env.wait_ended("requeue", SESSION_DEADLINE * 2);
    let one = iteration(&s, 1).expect("iteration 1");
    assert_eq!(one["state"], "succeeded", "{}", pretty(&one));
    let runs = std::fs::read_to_string(env.ctl("runs.log")).unwrap_or_default();
    assert!(runs.lines().any(|l| l.starts_with(&format!("1 {job} 1 "))), "the job ran again after its requeue: {runs}");
    let log = env.revis_ok(&["logs", "requeue", "--iteration", "1"]);
    assert_eq!(log.matches("training iteration 1 in job").count(), 2, "both runs' output is kept: {log}");
}

#[test]
fn what_the_cluster_would_refuse_is_refused_before_anything_runs() {
    for (executor, needle) in [
        ("  partition: nosuch\n", "executor.partition: the cluster has no partition 'nosuch' (it has: debug)"),
        ("  gres: \"tpu:1\"\n", "executor.gres: partition 'debug' defines no GRES 'tpu'"),
    ] {
        let Some(env) = SlurmEnv::new(executor, "", &[]) else { return };
        let out = env.revis(&["loop", "--name", "bad", "--advisor", "search", "--max-iterations", "1"]);
        let printed = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(!out.status.success(), "revis loop must refuse {executor:?}: {printed}");
        assert!(printed.contains(needle), "{printed}");
        assert!(printed.contains("revis.yaml:"), "the error names the file and line: {printed}");
        assert!(env.squeue().trim().is_empty(), "nothing was submitted: {}", env.squeue());
        drop(env);
    }
    // A login host that does not answer.
    let closed = revis_tests::closed_port();
    let Some(env) = SlurmEnv::new(&format!("  login: 127.0.0.1\n  port: {closed}\n"), "", &[]) else { return };
    let out = env.revis(&["loop", "--name", "bad", "--advisor", "search", "--max-iterations", "1"]);
    let printed = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{printed}");
    assert!(printed.contains("executor.login 127.0.0.1") && printed.contains(&closed.to_string()), "{printed}");
    drop(env);

    // A time limit that is not one is refused when the file is read.
    let project = Project::new();
    let yaml = format!("{}executor:\n  type: slurm\n  time: soon\n", script_yaml("sh train.sh", &[]));
    project.write("revis.yaml", &yaml).commit("bad time");
    let env = TestEnv::new(project);
    let out = env.revis(&["loop", "--name", "bad", "--advisor", "search"]);
    let printed = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success() && printed.contains("executor.time"), "{printed}");

    // sbatch itself refusing the job: its words are quoted and nothing is left submitted.
    let Some(env) = SlurmEnv::new("  sbatch: [\"--mincpus=4096\"]\n", "", &[]) else { return };
    env.start_loop("refused", "1");
    let s = env.wait_show("refused", SESSION_DEADLINE, "the baseline to fail", |s| {
        iteration(s, 0).is_some_and(|it| !failure(&it).is_empty()) || ENDED_STATES.contains(&state(s))
    });
    let zero = iteration(&s, 0).expect("baseline");
    assert!(failure(&zero).contains("sbatch refused the job"), "{}", pretty(&zero));
    assert!(failure(&zero).contains("node configuration"), "sbatch's own message is quoted: {}", pretty(&zero));
    assert!(env.squeue().trim().is_empty(), "nothing half-submitted: {}", env.squeue());
    if !ENDED_STATES.contains(&state(&env.env.show("refused"))) {
        env.revis_ok(&["stop", "refused"]);
    }
}

#[test]
fn with_accounting_the_account_is_checked_and_a_job_slurmctld_forgot_is_looked_up_in_sacct() {
    let Some((cluster, turn)) = start_cluster(SlurmCluster::start_with_accounting) else { return };
    let env = SlurmEnv::on(cluster, turn, "  account: nosuch\n", "", &[]);
    let out = env.revis(&["loop", "--name", "bad", "--advisor", "search", "--max-iterations", "1"]);
    let printed = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "an account the user has no association with is refused: {printed}");
    assert!(printed.contains("executor.account: you have no association with account 'nosuch'"), "{printed}");
    let (cluster, turn) = (env.cluster, env._turn);
    drop(env.env);

    let env = SlurmEnv::on(cluster, turn, &format!("  account: {}\n", revis_fixtures::slurm::ACCOUNT), "", &[]);
    env.touch("hold-1");
    env.start_loop("acct", "3");
    env.wait_ctl("pid-1");
    let job = env.job_of(1);
    // The job is cancelled while no daemon watches, and slurmctld forgets it: only accounting
    // still knows what became of it.
    kill_daemon(&env.env.home);
    let out = env.cluster.run("scancel", &[&job]).expect("scancel");
    assert!(out.status.success(), "scancel: {}", describe(&out));
    let forgotten = wait_until(Duration::from_secs(180), || {
        env.cluster.run("scontrol", &["show", "job", &job]).is_ok_and(|o| !o.status.success())
    });
    assert!(forgotten, "slurmctld still remembers job {job}");
    env.revis_ok(&["daemon", "start"]);
    let s = env.wait_ended("acct", SESSION_DEADLINE * 2);
    let one = iteration(&s, 1).expect("iteration 1");
    assert!(failure(&one).contains("cancelled outside Revis (CANCELLED)"), "sacct said how it ended: {}", pretty(&one));
    let ran = runs_log(&env.env.project, "runs.log");
    assert_eq!(ran.iter().filter(|n| **n == 1).count(), 1, "never resubmitted: {ran:?}");
    assert_eq!(iteration(&s, 2).expect("iteration 2")["state"], "succeeded", "{}", pretty(&s));
}

#[test]
fn init_with_flags_asks_slurm_and_writes_a_slurm_executor() {
    let Some(env) = SlurmEnv::new("", "", &[]) else { return };
    std::fs::remove_file(env.env.project.path().join("revis.yaml")).expect("remove revis.yaml");
    let base = ["init", "--yes", "--train", "sh train.sh", "--primary", "val_loss", "--slurm"];
    let out = env.revis(&[&base[..], &["--partition", "gpu"]].concat());
    let printed = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success() && printed.contains("no partition 'gpu' on this machine (it has: debug)"),
        "{printed}"
    );
    let work = env.work.path().display().to_string();
    env.revis_ok(&[&base[..], &["--partition", "debug", "--work-dir", &work]].concat());
    let config = env.env.written_config();
    assert_eq!(config.executor.kind, revisd::config::schema::ExecutorType::Slurm);
    assert_eq!(config.executor.partition.as_deref(), Some("debug"));
    assert_eq!(config.executor.work_dir.as_deref(), Some(work.as_str()));
}

#[test]
fn jobs_are_submitted_through_a_login_host_over_ssh() {
    let Some((cluster, turn)) = cluster() else { return };
    let mut server = sshd::SshServer::start();
    server.set_session_env("SLURM_CONF", &cluster.conf().display().to_string());
    let project = Project::new();
    let yaml = format!(
        "{}executor:\n  type: slurm\n  login: {}\n  work_dir: {}\n  poll_interval: 1s\n",
        script_yaml("sh train.sh", &[]),
        sshd::ALIAS,
        server.work_dir().display()
    );
    project.write("train.sh", &training(project.ctl())).write("revis.yaml", &yaml);
    project.commit("slurm through a login host");
    let env = TestEnv::new(project);
    server.revis_ok(&env, &["loop", "--name", "login", "--advisor", "search", "--max-iterations", "2"]);
    let s = server.wait_show(&env, "login", SESSION_DEADLINE * 2, |s| ENDED_STATES.contains(&state(s)));
    assert_eq!(state(&s), "completed", "{}", pretty(&s));
    for it in iterations(&s) {
        assert_eq!(it["state"], "succeeded", "{}", pretty(&it));
        assert!(it["job_id"].is_string(), "{}", pretty(&it));
    }
    let log = server.revis_ok(&env, &["logs", "login", "--iteration", "1"]);
    assert!(log.contains("training iteration 1 in job"), "the job's output came back over SSH: {log}");
    drop(env);
    drop(server);
    drop(cluster);
    drop(turn);
}
