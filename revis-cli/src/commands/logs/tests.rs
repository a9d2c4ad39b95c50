//! `logs`: chunk rendering, the resume position, and `-f` across broken streams against the
//! fake daemon.

use super::*;
use crate::testing::{FakeDaemon, LogsScript, Script, TestResult};

const AT: &str = "2024-05-01T10:00:00Z";

fn chunk(source: &str, text: &str) -> LogChunk {
    LogChunk { source: source.into(), iteration: Some(1), text: text.into(), ..Default::default() }
}

fn event(seq: u64, message: &str) -> LogChunk {
    LogChunk { source: "event".into(), seq, text: format!("{AT} {message}\n"), ..Default::default() }
}

fn header(iteration: u32) -> LogChunk {
    LogChunk {
        source: "event".into(),
        iteration: Some(iteration),
        text: format!("--- training log of iteration {iteration} ---\n"),
        ..Default::default()
    }
}

fn train(iteration: u32, attempt: u32, text: &str, end_offset: u64) -> LogChunk {
    LogChunk {
        source: "train".into(),
        iteration: Some(iteration),
        text: text.into(),
        attempt,
        end_offset,
        ..Default::default()
    }
}

#[test]
fn training_output_is_printed_as_is() {
    let p = Palette::plain();
    assert_eq!(chunk_text(&chunk("train", "epoch 1\r\nloss 0.3"), &p), "epoch 1\r\nloss 0.3");
}

#[test]
fn event_lines_get_the_watch_format_and_a_newline() {
    let p = Palette::plain();
    let header = "--- training log of iteration 1 ---";
    assert_eq!(chunk_text(&chunk("event", header), &p), format!("{header}\n"));
    let expected = format!("{}  #1  run finished\n", crate::render::time::clock(AT));
    assert_eq!(chunk_text(&chunk("event", &format!("{AT} run finished\n")), &p), expected);
}

#[test]
fn resent_training_output_is_cut_at_the_offset_already_printed() {
    let mut position = Position::default();
    assert!(position.admit(train(1, 1, "abc", 3)).is_some());
    let overlap = position.admit(train(1, 1, "abcdef", 6)).map(|c| c.text);
    assert_eq!(overlap.as_deref(), Some("def"));
    assert!(position.admit(train(1, 1, "def", 6)).is_none());
    assert_eq!(position.train, Some((1, 1, 6)));
}

#[test]
fn a_new_attempt_of_the_same_iteration_is_printed_from_its_start() {
    let mut position = Position::default();
    assert!(position.admit(train(1, 1, "first try\n", 10)).is_some());
    let retry = position.admit(train(1, 2, "again\n", 6)).map(|c| c.text);
    assert_eq!(retry.as_deref(), Some("again\n"));
    assert_eq!(position.train, Some((1, 2, 6)));
}

#[test]
fn training_output_without_an_offset_is_never_dropped() {
    let mut position = Position::default();
    assert!(position.admit(train(1, 1, "a", 0)).is_some());
    assert!(position.admit(train(1, 1, "b", 0)).is_some());
    assert_eq!(position.train, None);
}

#[test]
fn the_resumed_request_carries_the_last_seq_and_training_offset() {
    let mut position = Position::default();
    for c in [event(1, "a"), event(2, "b"), header(3), train(3, 2, "xy", 42), event(3, "c")] {
        position.admit(c);
    }
    let base = LogsRequest { name: "s".into(), follow: true, ..Default::default() };
    let request = position.request(&base);
    assert_eq!(
        (request.after_seq, request.resume_iteration, request.resume_attempt, request.resume_offset),
        (3, Some(3), 2, 42)
    );
    assert_eq!((request.name.as_str(), request.follow), ("s", true));
}

fn fast() -> Patience {
    Patience {
        deadline: Duration::from_millis(500),
        pause: Duration::from_millis(10),
        healthy_stream: Duration::from_secs(60),
    }
}

async fn fake_daemon(logs: LogsScript) -> Result<FakeDaemon, Box<dyn std::error::Error>> {
    let hello = crate::testing::this_build();
    let daemon = FakeDaemon::start(Script { hello, ..Default::default() }).await?;
    daemon.serve_logs(logs);
    Ok(daemon)
}

/// Everything `logs -f` prints, as plain text.
async fn followed(daemon: &FakeDaemon, iteration: Option<u32>) -> Result<String, CliError> {
    let ctx = Context::for_test(daemon.home.clone(), daemon.dir.path().to_path_buf());
    let request = LogsRequest { name: "s".into(), follow: true, iteration, ..Default::default() };
    let mut printed = String::new();
    follow(&ctx, &request, fast(), |c| {
        printed.push_str(&chunk_text(c, &ctx.palette));
        Ok(())
    })
    .await?;
    Ok(printed)
}

fn printed(chunks: &[LogChunk]) -> String {
    chunks.iter().map(|c| chunk_text(c, &Palette::plain())).collect()
}

fn resume_fields(daemon: &FakeDaemon) -> Vec<(u64, Option<u32>, u32, u64)> {
    daemon.logs_calls().iter().map(|r| (r.after_seq, r.resume_iteration, r.resume_attempt, r.resume_offset)).collect()
}

fn session_log() -> Vec<LogChunk> {
    vec![
        event(1, "session started"),
        event(2, "iteration 1 started"),
        header(1),
        train(1, 1, "epoch 1\n", 8),
        event(3, "metrics"),
        train(1, 1, "epoch 2\n", 16),
        event(4, "session ended"),
    ]
}

#[tokio::test]
async fn a_broken_follow_resumes_after_the_last_event_and_offset() -> TestResult {
    let daemon = fake_daemon(LogsScript { chunks: session_log(), break_after: vec![4], ..Default::default() }).await?;
    assert_eq!(followed(&daemon, None).await?, printed(&session_log()));
    assert_eq!(resume_fields(&daemon), [(0, None, 0, 0), (2, Some(1), 1, 8)]);
    Ok(())
}

#[tokio::test]
async fn a_header_printed_just_before_the_break_is_not_printed_again() -> TestResult {
    // Broken right after the header, then once more before anything new arrived.
    let daemon =
        fake_daemon(LogsScript { chunks: session_log(), break_after: vec![3, 0], ..Default::default() }).await?;
    assert_eq!(followed(&daemon, None).await?, printed(&session_log()));
    assert_eq!(resume_fields(&daemon), [(0, None, 0, 0), (2, None, 0, 0), (2, None, 0, 0)]);
    Ok(())
}

#[tokio::test]
async fn output_a_careless_daemon_replays_is_never_shown_twice() -> TestResult {
    let chunks = vec![train(2, 1, "a\n", 2), train(2, 1, "b\n", 4), train(2, 1, "c\n", 6)];
    let script = LogsScript { chunks: chunks.clone(), break_after: vec![2], ignore_resume: true, ..Default::default() };
    let daemon = fake_daemon(script).await?;
    assert_eq!(followed(&daemon, Some(2)).await?, printed(&chunks));
    assert_eq!(resume_fields(&daemon), [(0, None, 0, 0), (0, Some(2), 1, 4)]);
    Ok(())
}

#[tokio::test]
async fn reconnecting_gives_up_with_a_clear_error_after_the_deadline() -> TestResult {
    let daemon = fake_daemon(LogsScript { chunks: session_log(), always_break: true, ..Default::default() }).await?;
    let started = Instant::now();
    let err = followed(&daemon, None).await.err().ok_or("following a dead stream succeeded")?;
    assert!(started.elapsed() >= fast().deadline);
    assert!(err.to_string().contains("did not resume it within 0.5 s"), "{err}");
    assert!(daemon.logs_calls().len() >= 2);
    Ok(())
}

#[tokio::test]
async fn a_stream_the_daemon_ends_is_not_reopened() -> TestResult {
    let daemon = fake_daemon(LogsScript { chunks: session_log(), ..Default::default() }).await?;
    assert_eq!(followed(&daemon, None).await?, printed(&session_log()));
    assert_eq!(daemon.logs_calls().len(), 1);
    Ok(())
}
