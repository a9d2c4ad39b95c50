//! The connect helper against a fake daemon on a real Unix socket: absent and stale sockets,
//! the protocol check, and shutdown.

use super::*;
use crate::testing::{FakeDaemon, Script, TestResult};

fn hello(protocol: u32, active_sessions: u32) -> HelloReply {
    HelloReply {
        version: "9.9.9".into(),
        protocol,
        pid: 4242,
        home: "/h".into(),
        active_sessions,
        ..Default::default()
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
    wait_until_gone(&home).await?;
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
        "revisd 9.9.9 (protocol {other}) is running with active sessions; stop them or run `revis daemon stop`"
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
    wait_until_gone(&daemon.home).await?;
    assert!(connect_existing(&daemon.home).await?.is_none());
    Ok(())
}
