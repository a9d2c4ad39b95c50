//! Connection tests against a real OpenSSH server on 127.0.0.1 (see `test_sshd`).

use std::path::Path;
use std::time::Duration;

use super::test_sshd::{KeyKind, SshdExt, TestAgent, TestSshd, keygen, read_public_key, test_options};
use super::*;
use crate::config::Executor;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A temp $HOME for the client side.
fn home() -> std::io::Result<tempfile::TempDir> {
    tempfile::Builder::new().prefix("revis-home-").tempdir()
}

async fn connect_with_key(sshd: &TestSshd, home: &Path, key: &Path) -> Result<Remote, RemoteError> {
    let target = sshd
        .target(vec![key.to_path_buf()])
        .map_err(|e| RemoteError::Config { path: home.to_path_buf(), message: e.to_string() })?;
    Remote::connect_with(target, test_options(home)).await
}

#[tokio::test]
async fn exec_reports_stdout_stderr_status_and_feeds_stdin() -> TestResult {
    let sshd = TestSshd::start()?;
    let key = sshd.authorized_key("client_ed25519", KeyKind::Ed25519)?;
    let home = home()?;
    sshd.trust(home.path())?;
    let remote = connect_with_key(&sshd, home.path(), &key).await?;

    let out = remote.exec("echo out; echo err >&2; exit 3", None).await?;
    assert_eq!(out.status, Some(3));
    assert_eq!(out.stdout, b"out\n");
    assert_eq!(out.stderr, b"err\n");
    assert!(!out.success());

    // sh -c semantics and quoting survive the trip.
    let out = remote.exec("printf '%s|' \"it's\" $((1+2))", None).await?;
    assert_eq!(String::from_utf8_lossy(&out.stdout), "it's|3|");

    let out = remote.exec("cat; printf done", Some(b"secret\n".to_vec())).await?;
    assert_eq!(out.stdout, b"secret\ndone");
    assert!(out.success());

    // More stdin than one window, while the command also writes.
    let big = vec![b'x'; 3 * 1024 * 1024];
    let out = remote.exec("cat | wc -c", Some(big)).await?;
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "3145728");

    // A command that ignores its stdin is fine.
    let out = remote.exec("true", Some(vec![b'y'; 1024])).await?;
    assert_eq!(out.status, Some(0));
    Ok(())
}

#[tokio::test]
async fn output_is_bounded() -> TestResult {
    let sshd = TestSshd::start()?;
    let key = sshd.authorized_key("client_ed25519", KeyKind::Ed25519)?;
    let home = home()?;
    sshd.trust(home.path())?;
    let mut opts = test_options(home.path());
    opts.max_output = 1000;
    let remote = Remote::connect_with(sshd.target(vec![key])?, opts).await?;
    let err = remote.exec("head -c 5000 /dev/zero", None).await;
    assert!(matches!(err, Err(RemoteError::OutputTooLarge { limit: 1000, .. })), "{err:?}");
    Ok(())
}

#[tokio::test]
async fn key_file_auth_with_rsa_and_ecdsa_and_missing_files_skipped() -> TestResult {
    let sshd = TestSshd::start()?;
    let rsa = sshd.authorized_key("client_rsa", KeyKind::Rsa)?;
    let ecdsa = sshd.authorized_key("client_ecdsa", KeyKind::Ecdsa)?;
    let home = home()?;
    sshd.trust(home.path())?;
    let missing = home.path().join("nope");
    for key in [rsa, ecdsa] {
        let target = sshd.target(vec![missing.clone(), key])?;
        let remote = Remote::connect_with(target, test_options(home.path())).await?;
        assert!(remote.exec("true", None).await?.success(), "{}", sshd.log());
    }
    Ok(())
}

#[tokio::test]
async fn unauthorized_key_fails_naming_what_was_tried() -> TestResult {
    let sshd = TestSshd::start()?;
    let home = home()?;
    sshd.trust(home.path())?;
    let stranger = home.path().join("stranger");
    keygen(&stranger, KeyKind::Ed25519)?;
    let err = Remote::connect_with(sshd.target(vec![stranger])?, test_options(home.path())).await;
    match err {
        Err(e @ RemoteError::AuthFailed { .. }) => assert!(e.to_string().contains("stranger"), "{e}"),
        other => panic!("expected AuthFailed, got {other:?}"),
    }
    Ok(())
}

#[tokio::test]
async fn agent_auth_uses_the_given_socket() -> TestResult {
    let sshd = TestSshd::start()?;
    let key = sshd.authorized_key("agent_key", KeyKind::Ed25519)?;
    let agent = TestAgent::start()?;
    agent.add(&key)?;
    let home = home()?;
    sshd.trust(home.path())?;

    // No identity files at all: only the agent can succeed.
    let mut opts = test_options(home.path());
    opts.agent_socket = Some(agent.socket().to_path_buf());
    let remote = Remote::connect_with(sshd.target(Vec::new())?, opts).await?;
    assert_eq!(remote.exec("echo via-agent", None).await?.stdout, b"via-agent\n");

    let without = Remote::connect_with(sshd.target(Vec::new())?, test_options(home.path())).await;
    assert!(matches!(without, Err(RemoteError::AuthFailed { .. })), "{without:?}");
    Ok(())
}

#[tokio::test]
async fn alias_from_ssh_config_is_resolved_and_used() -> TestResult {
    let sshd = TestSshd::start()?;
    let key = sshd.authorized_key("client_ed25519", KeyKind::Ed25519)?;
    let home = home()?;
    let ssh_dir = home.path().join(".ssh");
    std::fs::create_dir_all(&ssh_dir)?;
    std::fs::copy(&key, ssh_dir.join("gpu_key"))?;
    let user = test_sshd::current_user()?;
    std::fs::write(
        ssh_dir.join("config"),
        format!(
            "Host gpubox\n  HostName 127.0.0.1\n  Port {}\n  User {user}\n  IdentityFile ~/.ssh/gpu_key\n\nHost *\n  ServerAliveInterval 30\n",
            sshd.port()
        ),
    )?;
    sshd.trust(home.path())?;

    assert_eq!(list_hosts(home.path()), vec!["gpubox"]);
    let executor = Executor { host: Some("gpubox".into()), ..Executor::default() };
    let target = resolve(&executor, home.path())?;
    assert_eq!((target.host.as_str(), target.port), ("127.0.0.1", sshd.port()));
    assert_eq!(target.identity_files, vec![ssh_dir.join("gpu_key")]);
    let remote = Remote::connect_with(target, test_options(home.path())).await?;
    assert_eq!(remote.exec("echo hi", None).await?.stdout, b"hi\n");
    Ok(())
}

#[tokio::test]
async fn proxy_jump_tunnels_through_the_jump_host() -> TestResult {
    let sshd = TestSshd::start()?;
    let key = sshd.authorized_key("client_ed25519", KeyKind::Ed25519)?;
    let home = home()?;
    sshd.trust(home.path())?;
    // The server is its own jump host: the inner connection rides a direct-tcpip channel.
    let mut target = sshd.target(vec![key.clone()])?;
    target.proxy_jump = Some(Box::new(sshd.target(vec![key])?));
    let remote = Remote::connect_with(target, test_options(home.path())).await?;
    assert_eq!(remote.exec("echo tunnelled", None).await?.stdout, b"tunnelled\n");
    Ok(())
}

#[tokio::test]
async fn unknown_host_is_refused_with_fingerprint_then_trusted() -> TestResult {
    let sshd = TestSshd::start()?;
    let key = sshd.authorized_key("client_ed25519", KeyKind::Ed25519)?;
    let home = home()?;
    let expected = sshd.host_key()?.fingerprint(russh::keys::HashAlg::Sha256).to_string();

    let err = connect_with_key(&sshd, home.path(), &key).await;
    let Err(e @ RemoteError::UnknownHost { .. }) = err else {
        panic!("expected UnknownHost, got {err:?}");
    };
    let message = e.to_string();
    assert!(expected.starts_with("SHA256:"));
    assert!(message.contains(&expected), "{message}");
    assert!(message.contains("revis init"), "{message}");
    let RemoteError::UnknownHost { host, port, key: presented, .. } = e else {
        unreachable!();
    };

    trust_host(home.path(), &host, port, &presented)?;
    let known = std::fs::read_to_string(known_hosts_path(home.path()))?;
    assert!(known.starts_with(&format!("[127.0.0.1]:{} ssh-ed25519 ", sshd.port())), "{known}");
    let remote = connect_with_key(&sshd, home.path(), &key).await?;
    assert!(remote.exec("true", None).await?.success());
    Ok(())
}

#[tokio::test]
async fn changed_host_key_is_refused() -> TestResult {
    let sshd = TestSshd::start()?;
    let key = sshd.authorized_key("client_ed25519", KeyKind::Ed25519)?;
    let home = home()?;
    let impostor = home.path().join("impostor");
    keygen(&impostor, KeyKind::Ed25519)?;
    let recorded = read_public_key(&home.path().join("impostor.pub"))?;
    trust_host(home.path(), "127.0.0.1", sshd.port(), &recorded)?;

    let err = connect_with_key(&sshd, home.path(), &key).await;
    let Err(e @ RemoteError::HostKeyChanged { .. }) = err else {
        panic!("expected HostKeyChanged, got {err:?}");
    };
    let message = e.to_string();
    assert!(message.contains("HAS CHANGED"), "{message}");
    assert!(message.contains("line 1"), "{message}");
    Ok(())
}

#[tokio::test]
async fn reconnects_after_the_server_drops_the_connection() -> TestResult {
    let mut sshd = TestSshd::start()?;
    let key = sshd.authorized_key("client_ed25519", KeyKind::Ed25519)?;
    let home = home()?;
    sshd.trust(home.path())?;
    let remote = connect_with_key(&sshd, home.path(), &key).await?;
    assert!(remote.exec("true", None).await?.success());

    // Idle connection killed server-side: the next exec reconnects transparently.
    sshd.kill_sessions()?;
    assert_eq!(remote.exec("echo again", None).await?.stdout, b"again\n");

    // Killed mid-command: reported as a drop (never silently re-run), then usable again.
    let started = sshd.dir().join("started");
    let running = {
        let remote = remote.clone();
        let command = format!("touch '{}'; sleep 30", started.display());
        tokio::spawn(async move { remote.exec(&command, None).await })
    };
    wait_for_file(&started).await?;
    sshd.kill_sessions()?;
    let dropped = tokio::time::timeout(Duration::from_secs(10), running).await??;
    assert!(matches!(dropped, Err(RemoteError::Disconnected { .. })), "{dropped:?}");
    assert!(remote.exec("true", None).await?.success());

    // The whole server restarted: a clone of the handle reconnects with backoff.
    sshd.restart()?;
    let clone = remote.clone();
    assert_eq!(clone.exec("echo back", None).await?.stdout, b"back\n");
    Ok(())
}

#[tokio::test]
async fn server_down_is_a_transient_connect_error() -> TestResult {
    let mut sshd = TestSshd::start()?;
    let key = sshd.authorized_key("client_ed25519", KeyKind::Ed25519)?;
    let home = home()?;
    sshd.trust(home.path())?;
    sshd.stop();
    let err = connect_with_key(&sshd, home.path(), &key).await;
    match err {
        Err(e @ RemoteError::Connect { .. }) => assert!(e.is_transient()),
        other => panic!("expected Connect, got {other:?}"),
    }
    Ok(())
}

/// A host whose port accepts connections and then never says a word (a hung sshd, a
/// firewall that blackholes after the handshake). Counts the connections it accepted.
struct SilentHost {
    port: u16,
    accepted: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl SilentHost {
    async fn start() -> std::io::Result<SilentHost> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = accepted.clone();
        let task = tokio::spawn(async move {
            // Accepted sockets are kept open, unanswered, until the test ends.
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                held.push(socket);
            }
        });
        Ok(SilentHost { port, accepted, task })
    }

    fn accepted(&self) -> usize {
        self.accepted.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for SilentHost {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test]
async fn a_connect_in_progress_holds_no_lock_and_is_shared() -> TestResult {
    let silent = SilentHost::start().await?;
    let home = home()?;
    let mut opts = test_options(home.path());
    opts.connect_timeout = Duration::from_secs(3);
    opts.reconnect_attempts = 0;
    let target = SshTarget {
        alias: "silent".into(),
        host: "127.0.0.1".into(),
        port: silent.port,
        user: test_sshd::current_user()?,
        identity_files: Vec::new(),
        proxy_jump: None,
    };
    let remote = Remote::new(target, opts);
    let first = {
        let remote = remote.clone();
        tokio::spawn(async move { remote.exec("true", None).await })
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while silent.accepted() == 0 {
        assert!(tokio::time::Instant::now() < deadline, "the first exec never reached the host");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // The first task is now stuck in its connect. Dropping the cached connection needs the
    // state, not the connect: it must not wait out the other task's handshake.
    let dropped = tokio::time::timeout(Duration::from_secs(1), remote.disconnect()).await;
    assert!(dropped.is_ok(), "disconnect waited for another task's connect to a silent host");

    // A second caller waits on the same attempt rather than queueing to start its own.
    let second = {
        let remote = remote.clone();
        tokio::spawn(async move { remote.exec("true", None).await })
    };
    let (first, second) = (first.await?, second.await?);
    assert!(matches!(first, Err(RemoteError::Timeout { .. })), "{first:?}");
    assert!(matches!(second, Err(RemoteError::Timeout { .. })), "{second:?}");
    assert_eq!(silent.accepted(), 1, "both callers shared one connect");
    Ok(())
}

/// Waits until a remote command (on this same machine) has created `path`.
async fn wait_for_file(path: &Path) -> TestResult {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !path.exists() {
        if tokio::time::Instant::now() > deadline {
            return Err(format!("remote command never created {}", path.display()).into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}
