//! `revis logs NAME`: the session's event log and training output as the daemon streams them.
//! Training text is printed byte-for-byte; event-log lines (`<time> <message>`) get the
//! `watch` line format. With `-f`, a stream broken by a daemon restart is resumed where the
//! output stands (events after the last seq, training output after the last byte offset), so
//! nothing is printed twice or lost; the daemon decides where to resume from, this module only
//! tells it what was printed and drops anything it still sends twice.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use revis_proto::v1::{LogChunk, LogsRequest};
use tokio::time::{Instant, sleep};
use tonic::Streaming;

use super::{Context, out};
use crate::client::is_disconnect;
use crate::error::CliError;
use crate::render::color::Palette;
use crate::render::event::log_event_line;

/// Print a session's event log and training logs.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Session name.
    pub name: String,
    /// Keep printing new output until the session ends (Ctrl-C to stop).
    #[arg(short, long)]
    pub follow: bool,
    /// Only the training log of this iteration (default: the event log, then the latest
    /// iteration's training log).
    #[arg(short, long, value_name = "N")]
    pub iteration: Option<u32>,
    /// Print the script the iteration ran (a Slurm job's job.sh) instead of its output.
    #[arg(long, conflicts_with = "follow")]
    pub script: bool,
}

pub async fn run(ctx: &Context, args: LogsArgs) -> Result<ExitCode, CliError> {
    let request = LogsRequest {
        name: args.name,
        project_dir: ctx.project_dir()?,
        iteration: args.iteration,
        follow: args.follow,
        script: args.script,
        ..Default::default()
    };
    let print = |chunk: &LogChunk| out(&chunk_text(chunk, &ctx.palette));
    if args.follow {
        follow(ctx, &request, Patience::default(), print).await?;
    } else {
        let mut stream = open(ctx, request).await?;
        while let Some(chunk) = stream.message().await? {
            print(&chunk)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn open(ctx: &Context, request: LogsRequest) -> Result<Streaming<LogChunk>, CliError> {
    let mut conn = ctx.connect().await?;
    Ok(conn.client.logs(request).await?.into_inner())
}

/// Hands every chunk of the followed logs to `sink` once, in order, across daemon restarts;
/// returns when the daemon ends the stream (the session or the chosen run is over).
async fn follow(
    ctx: &Context,
    request: &LogsRequest,
    patience: Patience,
    mut sink: impl FnMut(&LogChunk) -> Result<(), CliError>,
) -> Result<(), CliError> {
    let mut position = Position::default();
    let mut reconnects = Reconnects { patience, outage_since: None };
    loop {
        let mut stream = match open(ctx, position.request(request)).await {
            Ok(stream) => stream,
            // The first connect fails as without -f; later ones wait for the daemon to return.
            Err(e) if reconnects.outage_since.is_some() && is_transient(&e) => {
                reconnects.pause(&request.name, e).await?;
                continue;
            }
            Err(e) => return Err(e),
        };
        let opened = Instant::now();
        let broke = loop {
            match stream.message().await {
                Ok(Some(chunk)) => {
                    if let Some(chunk) = position.admit(chunk) {
                        reconnects.outage_since = None;
                        sink(&chunk)?;
                    }
                }
                Ok(None) => return Ok(()),
                Err(status) if is_disconnect(&status) => break status,
                Err(status) => return Err(status.into()),
            }
        };
        // A quiet session prints nothing for long stretches: a stream that stayed up a while
        // still shows the daemon was back, so the next restart gets a fresh deadline.
        if opened.elapsed() >= patience.healthy_stream {
            reconnects.outage_since = None;
        }
        position.stream_broke();
        reconnects.pause(&request.name, broke.into()).await?;
    }
}

/// Errors that may clear up once a restarting daemon is back.
fn is_transient(error: &CliError) -> bool {
    match error {
        CliError::Rpc(status) => is_disconnect(status),
        CliError::Connect { .. } | CliError::DaemonStart { .. } => true,
        _ => false,
    }
}

#[derive(Debug, Clone, Copy)]
struct Patience {
    /// How long reconnecting may go on without any new output.
    deadline: Duration,
    pause: Duration,
    healthy_stream: Duration,
}

impl Default for Patience {
    fn default() -> Self {
        Self {
            deadline: Duration::from_secs(30),
            pause: Duration::from_millis(200),
            healthy_stream: Duration::from_secs(5),
        }
    }
}

struct Reconnects {
    patience: Patience,
    /// When the daemon last stopped serving us; None while it does.
    outage_since: Option<Instant>,
}

impl Reconnects {
    /// Waits before the next attempt, or gives up once the outage outlasted the deadline.
    async fn pause(&mut self, name: &str, cause: CliError) -> Result<(), CliError> {
        let since = *self.outage_since.get_or_insert_with(Instant::now);
        if since.elapsed() >= self.patience.deadline {
            return Err(CliError::Runtime(format!(
                "lost the log stream of '{name}' and revisd did not resume it within {:.1} s (last error: {cause})",
                self.patience.deadline.as_secs_f64()
            )));
        }
        sleep(self.patience.pause).await;
        Ok(())
    }
}

/// How far the output got, so that a resumed stream continues right after it.
#[derive(Debug, Default)]
struct Position {
    /// Seq of the last event-log line printed.
    after_seq: u64,
    /// (iteration, attempt, end offset) of the last training output printed.
    train: Option<(u32, u32, u64)>,
    /// Iteration of a training-log header printed with no training output after it yet: the
    /// daemon cannot know we saw it and sends it again on the resumed stream.
    bare_header: Option<u32>,
    /// The header the current (resumed) stream is expected to repeat.
    repeated_header: Option<u32>,
}

impl Position {
    fn request(&self, base: &LogsRequest) -> LogsRequest {
        LogsRequest {
            after_seq: self.after_seq,
            resume_iteration: self.train.map(|(iteration, _, _)| iteration),
            resume_attempt: self.train.map_or(0, |(_, attempt, _)| attempt),
            resume_offset: self.train.map_or(0, |(_, _, offset)| offset),
            ..base.clone()
        }
    }

    fn stream_broke(&mut self) {
        self.repeated_header = self.bare_header;
    }

    /// The part of `chunk` not printed yet, recording it as printed; None if all of it was.
    fn admit(&mut self, chunk: LogChunk) -> Option<LogChunk> {
        if chunk.source == "train" {
            return self.admit_train(chunk);
        }
        if chunk.seq > 0 {
            if chunk.seq <= self.after_seq {
                return None;
            }
            self.after_seq = chunk.seq;
            return Some(chunk);
        }
        // Seq 0: a header the daemon writes before a training log, not an event.
        let repeated = self.repeated_header.take();
        if repeated.is_some() && repeated == chunk.iteration {
            return None;
        }
        self.bare_header = chunk.iteration;
        Some(chunk)
    }

    fn admit_train(&mut self, mut chunk: LogChunk) -> Option<LogChunk> {
        // Without an offset (a daemon that does not report one) there is nothing to resume by.
        let Some(iteration) = chunk.iteration.filter(|_| chunk.end_offset > 0) else {
            return Some(chunk);
        };
        if let Some((n, attempt, end)) = self.train
            && (n, attempt) == (iteration, chunk.attempt)
        {
            if chunk.end_offset <= end {
                return None;
            }
            // A daemon that resent from before our offset: keep only the new tail.
            let start = chunk.end_offset.saturating_sub(chunk.text.len() as u64);
            if start < end
                && let Some(tail) = usize::try_from(end - start).ok().and_then(|seen| chunk.text.get(seen..))
            {
                chunk.text = tail.to_string();
            }
        }
        self.train = Some((iteration, chunk.attempt, chunk.end_offset));
        self.bare_header = None;
        self.repeated_header = None;
        Some(chunk)
    }
}

fn chunk_text(chunk: &LogChunk, palette: &Palette) -> String {
    if chunk.source != "event" {
        return chunk.text.clone();
    }
    let mut text = log_event_line(&chunk.text, chunk.iteration, palette).unwrap_or_else(|| chunk.text.clone());
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests;
