//! The local executor against a real tmux server on a private socket in a temp dir.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::*;

const LONG: Duration = Duration::from_secs(30);

/// A private tmux server and its temp dir; the server dies with the fixture.
struct Fixture {
    dir: tempfile::TempDir,
    server: TmuxServer,
    exec: LocalExecutor,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let server = TmuxServer::Socket(dir.path().join("tmux.sock"));
        let exec = LocalExecutor::new(server.clone()).with_timeout_grace(Duration::from_secs(2));
        std::fs::create_dir_all(dir.path().join("work")).expect("work dir");
        Self { dir, server, exec }
    }

    fn spec(&self, run_id: &str, command: &str) -> RunSpec {
        RunSpec {
            run_id: run_id.to_string(),
            run_dir: self.dir.path().join("runs").join(run_id),
            workdir: self.dir.path().join("work"),
            command: command.to_string(),
            env: Vec::new(),
            output_dir: self.dir.path().join("out").join(run_id),
            session: "1-test".to_string(),
        }
    }

    async fn run(&self, spec: &RunSpec) -> RunOutcome {
        self.exec.start(spec).await.expect("start");
        let deadline = Some(Instant::now() + LONG);
        self.exec.wait(&spec.run_id, &spec.run_dir, deadline).await.expect("wait")
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.server.kill_server_blocking();
    }
}

fn log_of(spec: &RunSpec) -> String {
    std::fs::read_to_string(spec.run_dir.join("train.log")).expect("train.log")
}

/// Polls `check` until it holds or `LONG` passes.
async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + LONG;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Gone or a zombie nobody reaps: either way it no longer runs.
fn process_gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

async fn read_pid_file(path: PathBuf) -> i32 {
    let p = path.clone();
    eventually("pid file", async || std::fs::read_to_string(&p).is_ok_and(|s| s.trim().parse::<i32>().is_ok())).await;
    std::fs::read_to_string(&path).expect("pid file").trim().parse().expect("pid")
}

#[tokio::test]
async fn run_writes_output_and_exit_code_zero() {
    let fx = Fixture::new();
    let spec = fx.spec("ok", "echo hello; pwd; echo stderr >&2; echo done > \"$REVIS_OUTPUT_DIR/marker\"");
    // The engine holds executors as `Arc<dyn Executor>` and waits on spawned tasks.
    let exec: Arc<dyn Executor> = Arc::new(fx.exec.clone());
    exec.start(&spec).await.expect("start");
    let (run_id, run_dir) = (spec.run_id.clone(), spec.run_dir.clone());
    let waiter = tokio::spawn(async move { exec.wait(&run_id, &run_dir, Some(Instant::now() + LONG)).await });
    let outcome = waiter.await.expect("join").expect("wait");
    assert_eq!(outcome, RunOutcome::Exited { code: 0 });
    let log = log_of(&spec);
    let workdir = std::fs::canonicalize(&spec.workdir).expect("canonical workdir");
    assert!(log.contains("hello\n"), "{log}");
    assert!(log.contains("stderr\n"), "{log}");
    assert!(log.contains(&format!("{}\n", workdir.display())), "{log}");
    assert!(spec.output_dir.join("marker").is_file());
    let status = fx.exec.status("ok", &spec.run_dir).await.expect("status");
    assert_eq!(status, RunStatus::Exited { code: 0 });
    assert_eq!(fx.exec.log_path(&spec.run_dir), spec.run_dir.join("train.log"));
}

#[tokio::test]
async fn nonzero_exit_code_is_reported() {
    let fx = Fixture::new();
    let spec = fx.spec("three", "echo before; exit 3");
    assert_eq!(fx.run(&spec).await, RunOutcome::Exited { code: 3 });
    eventually("pane closes", async || !fx.exec.is_alive("three").await.expect("alive")).await;
}

#[tokio::test]
async fn quotes_dollars_and_newlines_survive() {
    let fx = Fixture::new();
    let mut spec =
        fx.spec("quotes", "printf '%s\\n' \"it's\" 'a \"b\" $HOME `x`'\necho \"[$SECRET]\"\necho \"[$MULTI]\"");
    let secret = "it's a \"$ecret\" `whoami` \\ $(id) ; rm -rf /nope";
    spec.env = vec![("SECRET".into(), secret.into()), ("MULTI".into(), "one\ntwo".into())];
    // Paths are quoted too, and tmux's `#{...}` formats do not apply to them.
    spec.workdir = fx.dir.path().join("we'ird #{session_name} dir");
    std::fs::create_dir_all(&spec.workdir).expect("odd workdir");
    spec.command.push_str("\npwd");
    assert_eq!(fx.run(&spec).await, RunOutcome::Exited { code: 0 });
    let workdir = std::fs::canonicalize(&spec.workdir).expect("canonical workdir");
    let expected = format!("it's\na \"b\" $HOME `x`\n[{secret}]\n[one\ntwo]\n{}\n", workdir.display());
    assert_eq!(log_of(&spec), expected);
    // The secret lives only in the private env file, never in a script or a command line.
    let run_sh = std::fs::read_to_string(spec.run_dir.join("run.sh")).expect("run.sh");
    assert!(!run_sh.contains("ecret"));
    let mode = |name: &str| {
        let meta = std::fs::metadata(spec.run_dir.join(name)).expect("metadata");
        meta.permissions().mode() & 0o777
    };
    assert_eq!(mode("env"), 0o600);
    assert_eq!(mode("run.sh"), 0o700);
    assert_eq!(mode("command.sh"), 0o700);
}

#[tokio::test]
async fn timeout_kills_the_whole_process_group() {
    let fx = Fixture::new();
    let spec = fx.spec("slow", "sleep 300 & echo $! > \"$REVIS_OUTPUT_DIR/child.pid\"; sleep 300");
    fx.exec.start(&spec).await.expect("start");
    let grandchild = read_pid_file(spec.output_dir.join("child.pid")).await;
    let wrapper = read_pid_file(spec.run_dir.join("pid")).await;
    let outcome = fx.exec.wait("slow", &spec.run_dir, Some(Instant::now())).await.expect("wait");
    assert_eq!(outcome, RunOutcome::TimedOut);
    eventually("grandchild killed", async || process_gone(grandchild)).await;
    eventually("wrapper killed", async || process_gone(wrapper)).await;
    assert!(!fx.exec.is_alive("slow").await.expect("alive"));
}

#[tokio::test]
async fn kill_escalates_to_sigkill_after_grace() {
    let fx = Fixture::new();
    assert!(!fx.exec.is_alive("stubborn").await.expect("alive before any server"));
    let spec = fx.spec("stubborn", "trap '' TERM; sleep 300");
    fx.exec.start(&spec).await.expect("start");
    assert!(fx.exec.is_alive("stubborn").await.expect("alive"));
    assert_eq!(fx.exec.status("stubborn", &spec.run_dir).await.expect("status"), RunStatus::Running);
    let wrapper = read_pid_file(spec.run_dir.join("pid")).await;
    fx.exec.kill("stubborn", &spec.run_dir, Duration::from_millis(200)).await.expect("kill");
    assert!(process_gone(wrapper));
    assert!(!fx.exec.is_alive("stubborn").await.expect("alive"));
    let status = fx.exec.status("stubborn", &spec.run_dir).await.expect("status");
    assert_eq!(status, RunStatus::Vanished);
    // Killing again (a finished run) is fine.
    fx.exec.kill("stubborn", &spec.run_dir, Duration::from_millis(200)).await.expect("kill again");
}

#[tokio::test]
async fn vanished_session_is_detected() {
    let fx = Fixture::new();
    let spec = fx.spec("gone", "sleep 300");
    fx.exec.start(&spec).await.expect("start");
    fx.server.kill_session("gone").await.expect("kill-session");
    let outcome = fx.exec.wait("gone", &spec.run_dir, Some(Instant::now() + LONG)).await;
    assert_eq!(outcome.expect("wait"), RunOutcome::Vanished);
    // Whatever survived the hangup goes with its group.
    fx.exec.kill("gone", &spec.run_dir, Duration::from_secs(1)).await.expect("kill");
}

#[tokio::test]
async fn second_start_of_a_live_run_is_refused() {
    let fx = Fixture::new();
    let spec = fx.spec("twice", "sleep 300");
    fx.exec.start(&spec).await.expect("start");
    let err = fx.exec.start(&spec).await.expect_err("second start");
    assert!(matches!(err, ExecError::AlreadyRunning(_)), "{err}");
    fx.exec.kill("twice", &spec.run_dir, Duration::from_secs(1)).await.expect("kill");
}

#[tokio::test]
async fn bad_run_ids_and_env_names_are_refused() {
    let fx = Fixture::new();
    let err = fx.exec.start(&fx.spec("a.b", "true")).await.expect_err("dot");
    assert!(matches!(err, ExecError::InvalidRunId(_)), "{err}");
    let mut spec = fx.spec("env", "true");
    spec.env = vec![("BAD NAME".into(), "x".into())];
    let err = fx.exec.start(&spec).await.expect_err("env name");
    assert!(matches!(err, ExecError::InvalidEnvName(_)), "{err}");
}

#[tokio::test]
async fn bad_exit_code_file_names_its_path() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("exit_code"), "oops").expect("write");
    let err = wrapper::RunFiles::new(dir.path()).read_exit_code().expect_err("bad code");
    assert!(err.to_string().contains(&dir.path().join("exit_code").display().to_string()));
}

/// The daemon runs with umask 077; training gets the user's umask back, so checkpoints it
/// writes keep their usual permissions while the run's log stays private.
#[tokio::test]
async fn training_runs_under_the_users_umask_and_the_log_stays_private() {
    use std::os::unix::fs::PermissionsExt;
    crate::exec::wrapper::set_training_umask(0o022);
    let fx = Fixture::new();
    let spec = fx.spec("umask", "umask; touch \"$REVIS_OUTPUT_DIR/checkpoint\"");
    assert_eq!(fx.run(&spec).await, RunOutcome::Exited { code: 0 });
    assert!(log_of(&spec).contains("0022"), "{}", log_of(&spec));
    let mode = |p: PathBuf| std::fs::metadata(&p).expect("metadata").permissions().mode() & 0o777;
    assert_eq!(mode(spec.output_dir.join("checkpoint")), 0o644);
    // The test process's own umask decides the log's mode here; revisd's is 077.
    let log_mode = mode(spec.run_dir.join("train.log"));
    assert_eq!(log_mode & 0o002, 0, "the log must never be world-writable: {log_mode:o}");
}

/// A daemon killed between tmux's `new-session` and the wrapper writing its pid: the restarted
/// daemon's attach finds the tmux session, waits for the pid and re-attaches, never starting the
/// run a second time (which tmux would refuse).
#[tokio::test]
async fn attach_waits_for_the_pid_of_a_run_started_just_before_a_crash() {
    let fx = Fixture::new();
    let spec = fx.spec("early", "sleep 300");
    assert!(fx.exec.attach("early", &spec.run_dir).await.expect("attach").is_none(), "never started");
    fx.exec.start(&spec).await.expect("start");
    // As the crash left it: the session is up, its pid not on disk yet (it comes a moment later).
    let pid_file = super::wrapper::RunFiles::new(&spec.run_dir).pid();
    let pid = std::fs::read_to_string(&pid_file).expect("pid file");
    std::fs::remove_file(&pid_file).expect("remove the pid file");
    let late = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        std::fs::write(&pid_file, pid).expect("write the pid file");
    });
    let status = fx.exec.attach("early", &spec.run_dir).await.expect("attach");
    assert_eq!(status, Some(RunStatus::Running));
    late.await.expect("the late writer");
    fx.exec.kill("early", &spec.run_dir, Duration::from_secs(1)).await.expect("kill");
}
