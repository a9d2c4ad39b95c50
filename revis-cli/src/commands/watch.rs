//! `revis watch NAME`: replays a session's events from the start, then follows live until
//! `session_ended`. A broken stream (daemon restart) is resumed from the last seq seen, so no
//! event is printed twice; the exit code follows the session's final state. Without `--json`
//! it also keeps a progress line for the running iteration and draws the primary-metric chart
//! at the end.

mod live;

use std::cell::RefCell;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use revis_proto::v1::{Event, GetSessionRequest, SessionState, WatchRequest};

use super::{Context, out, out_json};
use crate::client::{connect_existing, is_disconnect};
use crate::error::CliError;
use crate::render::chart::primary_chart;
use crate::render::event::event_line;
use crate::render::terminal;
use crate::states;
use live::Live;

/// Reconnects in a row that bring no new event before watch gives up.
const MAX_FRUITLESS_RECONNECTS: u32 = 20;
const RECONNECT_PAUSE: Duration = Duration::from_millis(200);
/// How often the progress line is refreshed (its elapsed time ticks in seconds).
const PROGRESS_INTERVAL: Duration = Duration::from_secs(1);

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

/// Shared with `revis loop --watch`. Besides the events: a progress line for the running
/// iteration while it runs, and the primary-metric chart once the session ended (not with
/// `--json`, which prints events only).
pub async fn follow(ctx: &Context, name: &str, json: bool) -> Result<ExitCode, CliError> {
    if json {
        let final_state = stream_events(ctx, name, |event| print_event(ctx, event, true)).await?;
        return Ok(exit_for(final_state));
    }
    let terminal = terminal::stdout_is_terminal();
    let live = RefCell::new(Live::new(terminal, terminal::stdout_columns().unwrap_or(terminal::DEFAULT_WIDTH)));
    let events = stream_events(ctx, name, |event| out(&live.borrow_mut().event(&event_line(event, &ctx.palette))));
    let final_state = tokio::select! {
        result = events => result?,
        failure = show_progress(ctx, name, &live) => return Err(failure),
    };
    out(&live.borrow_mut().finish())?;
    if let Some(chart) = final_chart(ctx, name).await {
        out(&format!("\n{chart}"))?;
    }
    Ok(exit_for(final_state))
}

/// Polls the session and keeps its progress line up to date; runs until the caller drops it
/// and returns only when stdout fails. The daemon being away just skips a refresh: the event
/// stream deals with reconnecting (and starting a daemon is its call, not ours).
async fn show_progress(ctx: &Context, name: &str, live: &RefCell<Live>) -> CliError {
    let project_dir = match ctx.project_dir() {
        Ok(dir) => dir,
        Err(err) => return err,
    };
    let mut client = None;
    let mut ticks = tokio::time::interval(PROGRESS_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if client.is_none() {
            client = connect_existing(&ctx.home).await.ok().flatten().map(|conn| conn.client);
        }
        let Some(conn) = client.as_mut() else { continue };
        let request = GetSessionRequest { name: name.to_string(), project_dir: project_dir.clone(), trace: false };
        match conn.get_session(request).await {
            Ok(reply) => {
                let text = live.borrow_mut().session(&reply.into_inner(), chrono::Utc::now());
                if let Err(err) = out(&text) {
                    return err;
                }
            }
            Err(_) => client = None,
        }
    }
}

/// The chart of the ended session; None when it cannot be fetched or has nothing to plot.
async fn final_chart(ctx: &Context, name: &str) -> Option<String> {
    let request = GetSessionRequest { name: name.to_string(), project_dir: ctx.project_dir().ok()?, trace: false };
    let mut conn = ctx.connect().await.ok()?;
    let session = conn.client.get_session(request).await.ok()?.into_inner();
    primary_chart(&session, &ctx.palette, terminal::chart_width())
}

/// Hands every event of the session to `sink` exactly once, in seq order, across reconnects;
/// returns the final state carried by `session_ended`.
async fn stream_events(
    ctx: &Context,
    name: &str,
    mut sink: impl FnMut(&Event) -> Result<(), CliError>,
) -> Result<Option<SessionState>, CliError> {
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
                        return Ok(states::known(event.final_state));
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
fn exit_for(final_state: Option<SessionState>) -> ExitCode {
    match final_state {
        Some(SessionState::Failed) => ExitCode::FAILURE,
        _ => ExitCode::SUCCESS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{FakeDaemon, Script, TestResult, event};

    fn ended_session_events() -> Vec<Event> {
        let mut events: Vec<Event> = (1..5).map(|seq| event(seq, "metrics", None)).collect();
        events.push(event(5, "session_ended", Some(SessionState::Failed)));
        events
    }

    async fn collect(daemon: &FakeDaemon) -> Result<(Vec<u64>, Option<SessionState>), CliError> {
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
            hello: crate::testing::this_build(),
            ..Default::default()
        })
        .await?;
        let (seen, final_state) = collect(&daemon).await?;
        assert_eq!(seen, [1, 2, 3, 4, 5]);
        assert_eq!(final_state, Some(SessionState::Failed));
        assert_eq!(daemon.watch_calls(), [0, 2]);
        Ok(())
    }

    #[tokio::test]
    async fn replayed_events_are_never_shown_twice() -> TestResult {
        let daemon = FakeDaemon::start(Script {
            events: ended_session_events(),
            break_first_watch_after: Some(3),
            ignore_after_seq: true,
            hello: crate::testing::this_build(),
        })
        .await?;
        let (seen, _) = collect(&daemon).await?;
        assert_eq!(seen, [1, 2, 3, 4, 5]);
        Ok(())
    }

    #[test]
    fn exit_code_follows_the_final_state() {
        assert_eq!(exit_for(Some(SessionState::Completed)), ExitCode::SUCCESS);
        assert_eq!(exit_for(Some(SessionState::Stopped)), ExitCode::SUCCESS);
        assert_eq!(exit_for(Some(SessionState::Failed)), ExitCode::FAILURE);
        assert_eq!(exit_for(None), ExitCode::SUCCESS);
    }
}
