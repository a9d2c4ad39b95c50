//! The connect helper against a fake daemon on a real Unix socket: absent and stale sockets,
//! the protocol check, and shutdown.

use super::*;
use crate::testing::{FakeDaemon, Script, TestResult};

/// A daemon of this very build.
fn hello(protocol: u32, active_sessions: u32) -> HelloReply {
    HelloReply {
        version: build_info::VERSION.into(),
        commit: build_info::COMMIT.into(),
        protocol,
        pid: 4242,
        home: "/h".into(),
        active_sessions,
        ..Default::default()
    }
}

/// A daemon of another build (an older install elsewhere on PATH).
fn older(protocol: u32, active_sessions: u32) -> HelloReply {
    HelloReply {
        version: "0.0.9".into(),
        commit: "a1b2c3d4e5f6".into(),
        commit_date: "2026-01-02".into(),
        executable: "/usr/local/bin/revisd".into(),
        ..hello(protocol, active_sessions)
    }
}

#[tokio::test]
async fn no_socket_means_not_running() -> TestResult {
    let dir = tempfile::tempdir()?;
    assert!(connect_existing(&Home::at(dir.path())).await?.is_none());
    Ok(())
}

#[tokio::test]
async fn a_stale_socket_counts_as_not_running() -> TestResult {
    let dir = tempfile::tempdir()?;
    let home = Home::at(dir.path());
    drop(std::os::unix::net::UnixListener::bind(home.socket())?);
    assert!(home.socket().exists());
    assert!(connect_existing(&home).await?.is_none());
    wait_until_gone(&home, None).await?;
    Ok(())
}

#[tokio::test]
async fn a_daemon_with_our_protocol_is_used_as_is() -> TestResult {
    let daemon = FakeDaemon::start(Script { hello: hello(PROTOCOL_VERSION, 0), ..Default::default() }).await?;
    let conn = connect(&daemon.home).await?;
    assert_eq!(conn.hello.pid, 4242);
    assert!(!conn.started);
    Ok(())
}

#[tokio::test]
async fn a_busy_daemon_with_another_protocol_is_left_alone() -> TestResult {
    let other = PROTOCOL_VERSION + 1;
    let daemon = FakeDaemon::start(Script { hello: hello(other, 2), ..Default::default() }).await?;
    let err = connect(&daemon.home).await.err().map(|e| (e.exit_code(), e.to_string()));
    let expected = format!(
        "revisd {} (protocol {other}) is running with active sessions; stop them or run `revis daemon stop`",
        build_info::VERSION
    );
    assert_eq!(err, Some((1, expected)));
    // Still there: connect_existing skips the protocol check.
    assert!(connect_existing(&daemon.home).await?.is_some());
    Ok(())
}

#[tokio::test]
async fn shutdown_waits_until_the_socket_is_gone() -> TestResult {
    let daemon = FakeDaemon::start(Script { hello: hello(PROTOCOL_VERSION, 0), ..Default::default() }).await?;
    let Some(mut conn) = connect_existing(&daemon.home).await? else {
        return Err("fake daemon did not answer".into());
    };
    request_shutdown(&mut conn.client).await?;
    wait_until_gone(&daemon.home, None).await?;
    assert!(connect_existing(&daemon.home).await?.is_none());
    Ok(())
}

#[tokio::test]
async fn a_busy_daemon_of_another_build_is_used_and_named() -> TestResult {
    let daemon = FakeDaemon::start(Script { hello: older(PROTOCOL_VERSION, 1), ..Default::default() }).await?;
    let conn = connect(&daemon.home).await?;
    assert!(!conn.started);
    assert_eq!(conn.hello.version, "0.0.9");
    let note = other_build_note(&conn.hello);
    for part in
        ["revisd 0.0.9 (a1b2c3d4e5f6 2026-01-02) (/usr/local/bin/revisd)", build_info::VERSION, "revis daemon stop"]
    {
        assert!(note.contains(part), "{part:?} missing from {note}");
    }
    Ok(())
}

#[test]
fn a_daemon_is_kept_only_when_it_is_this_build_or_busy() {
    assert_eq!(meeting(&hello(PROTOCOL_VERSION, 0), true), Meeting::Same);
    assert_eq!(meeting(&hello(PROTOCOL_VERSION, 3), true), Meeting::Same);
    // Never an older one that happens to be running idle: the revisd beside this revis takes over.
    assert_eq!(meeting(&older(PROTOCOL_VERSION, 0), true), Meeting::ReplaceIdle);
    assert_eq!(meeting(&older(PROTOCOL_VERSION + 1, 0), true), Meeting::ReplaceIdle);
    assert_eq!(meeting(&older(PROTOCOL_VERSION, 2), true), Meeting::OtherBuild);
    assert_eq!(meeting(&older(PROTOCOL_VERSION + 1, 2), true), Meeting::OtherProtocolBusy);
    // The same version from another commit is another build.
    let rebuilt = HelloReply { commit: "ffffffffffff".into(), ..hello(PROTOCOL_VERSION, 0) };
    assert_eq!(meeting(&rebuilt, true), Meeting::ReplaceIdle);
}

#[test]
fn without_a_revisd_beside_it_revis_keeps_the_one_that_runs() {
    // What would be started is what PATH finds, probably this very daemon: no restart loop.
    assert_eq!(meeting(&older(PROTOCOL_VERSION, 0), false), Meeting::OtherBuild);
    // Another protocol cannot be talked to at all: replaced still.
    assert_eq!(meeting(&older(PROTOCOL_VERSION + 1, 0), false), Meeting::ReplaceIdle);
}

#[test]
fn a_process_is_alive_until_it_has_exited() -> TestResult {
    assert!(process_alive(std::process::id()));
    let mut child = std::process::Command::new("true").spawn()?;
    let pid = child.id();
    child.wait()?;
    assert!(!process_alive(pid));
    Ok(())
}

#[tokio::test]
async fn gone_means_the_socket_closed_and_the_process_exited() -> TestResult {
    let dir = tempfile::tempdir()?;
    let home = Home::at(dir.path());
    let mut child = std::process::Command::new("true").spawn()?;
    let pid = child.id();
    child.wait()?;
    wait_until_gone(&home, Some(pid)).await?;
    Ok(())
}
