//! `revis watch NAME`: replays a session's events from the start, then follows live until
//! `session_ended`. A broken stream (daemon restart) is resumed from the last seq seen, so no
//! event is printed twice; the exit code follows the session's final state.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
#[cfg(test)]
use revis_proto::v1::HelloReply;
use revis_proto::v1::{Event, WatchRequest};

use super::{Context, out, out_json};
use crate::client::is_disconnect;
use crate::error::CliError;
use crate::render::event::event_line;

/// Reconnects in a row that bring no new event before watch gives up.
const MAX_FRUITLESS_RECONNECTS: u32 = 20;
const RECONNECT_PAUSE: Duration = Duration::from_millis(200);

/// Follow a session's progress live until it ends (exit 1 if it failed).
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Session name.
    pub name: String,
    /// Print each event as one JSON object per line.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(ctx: &Context, args: WatchArgs) -> Result<ExitCode, CliError> {
    follow(ctx, &args.name, args.json).await
}

/// Shared with `revis loop --watch`.
pub async fn follow(ctx: &Context, name: &str, json: bool) -> Result<ExitCode, CliError> {
    let final_state = stream_events(ctx, name, |event| print_event(ctx, event, json)).await?;
    Ok(exit_for(final_state.as_deref()))
}

/// Hands every event of the session to `sink` exactly once, in seq order, across reconnects;
/// returns the final state carried by `session_ended`.
async fn stream_events(
    ctx: &Context,
    name: &str,
    mut sink: impl FnMut(&Event) -> Result<(), CliError>,
) -> Result<Option<String>, CliError> {
    let project_dir = ctx.project_dir()?;
    let mut last_seq = 0;
    let mut fruitless = 0;
    loop {
        let mut conn = ctx.connect().await?;
        let request = WatchRequest { name: name.to_string(), project_dir: project_dir.clone(), after_seq: last_seq };
        let mut stream = match conn.client.watch(request).await {
            Ok(response) => response.into_inner(),
            Err(status) if is_disconnect(&status) => {
                fruitless = retry(fruitless, status).await?;
                continue;
            }
            Err(status) => return Err(status.into()),
        };
        let broke = loop {
            match stream.message().await {
                Ok(Some(event)) => {
                    // A resumed stream may overlap what we printed; the seq decides.
                    if event.seq <= last_seq {
                        continue;
                    }
                    last_seq = event.seq;
                    fruitless = 0;
                    sink(&event)?;
                    if event.kind == "session_ended" {
                        return Ok(event.final_state);
                    }
                }
                // Closed without session_ended: the daemon went away gracefully.
                Ok(None) => break tonic::Status::unavailable("the event stream closed early"),
                Err(status) if is_disconnect(&status) => break status,
                Err(status) => return Err(status.into()),
            }
        };
        fruitless = retry(fruitless, broke).await?;
    }
}

/// Counts a reconnect; gives up with the last error after too many without progress.
async fn retry(fruitless: u32, status: tonic::Status) -> Result<u32, CliError> {
    if fruitless >= MAX_FRUITLESS_RECONNECTS {
        return Err(status.into());
    }
    tokio::time::sleep(RECONNECT_PAUSE).await;
    Ok(fruitless + 1)
}

fn print_event(ctx: &Context, event: &Event, json: bool) -> Result<(), CliError> {
    if json { out_json(event, false) } else { out(&format!("{}\n", event_line(event, &ctx.palette))) }
}

/// completed or stopped → 0, failed → 1 (anything else the daemon may add counts as ended fine).
fn exit_for(final_state: Option<&str>) -> ExitCode {
    match final_state {
        Some("failed") => ExitCode::FAILURE,
        _ => ExitCode::SUCCESS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{FakeDaemon, Script, TestResult, event};

    fn ended_session_events() -> Vec<Event> {
        let mut events: Vec<Event> = (1..5).map(|seq| event(seq, "metrics", None)).collect();
        events.push(event(5, "session_ended", Some("failed")));
        events
    }

    async fn collect(daemon: &FakeDaemon) -> Result<(Vec<u64>, Option<String>), CliError> {
        let ctx = Context::for_test(daemon.home.clone(), daemon.dir.path().to_path_buf());
        let mut seen = Vec::new();
        let final_state = stream_events(&ctx, "s", |e| {
            seen.push(e.seq);
            Ok(())
        })
        .await?;
        Ok((seen, final_state))
    }

    #[tokio::test]
    async fn a_broken_stream_resumes_after_the_last_seq_seen() -> TestResult {
        let daemon = FakeDaemon::start(Script {
            events: ended_session_events(),
            break_first_watch_after: Some(2),
            hello: HelloReply { protocol: revis_proto::PROTOCOL_VERSION, ..Default::default() },
            ..Default::default()
        })
        .await?;
        let (seen, final_state) = collect(&daemon).await?;
        assert_eq!(seen, [1, 2, 3, 4, 5]);
        assert_eq!(final_state.as_deref(), Some("failed"));
        assert_eq!(daemon.watch_calls(), [0, 2]);
        Ok(())
    }

    #[tokio::test]
    async fn replayed_events_are_never_shown_twice() -> TestResult {
        let daemon = FakeDaemon::start(Script {
            events: ended_session_events(),
            break_first_watch_after: Some(3),
            ignore_after_seq: true,
            hello: HelloReply { protocol: revis_proto::PROTOCOL_VERSION, ..Default::default() },
        })
        .await?;
        let (seen, _) = collect(&daemon).await?;
        assert_eq!(seen, [1, 2, 3, 4, 5]);
        Ok(())
    }

    #[test]
    fn exit_code_follows_the_final_state() {
        assert_eq!(exit_for(Some("completed")), ExitCode::SUCCESS);
        assert_eq!(exit_for(Some("stopped")), ExitCode::SUCCESS);
        assert_eq!(exit_for(Some("failed")), ExitCode::FAILURE);
        assert_eq!(exit_for(None), ExitCode::SUCCESS);
    }
}
