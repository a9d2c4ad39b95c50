//! `revis logs NAME`: the session's event log and training output as the daemon streams them.
//! Training text is printed byte-for-byte; event-log lines (`<time> <message>`) get the
//! `watch` line format.

use std::process::ExitCode;

use clap::Args;
use revis_proto::v1::{LogChunk, LogsRequest};

use super::{Context, out};
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
}

pub async fn run(ctx: &Context, args: LogsArgs) -> Result<ExitCode, CliError> {
    let request = LogsRequest {
        name: args.name,
        project_dir: ctx.project_dir()?,
        iteration: args.iteration,
        follow: args.follow,
    };
    let mut conn = ctx.connect().await?;
    let mut stream = conn.client.logs(request).await?.into_inner();
    while let Some(chunk) = stream.message().await? {
        out(&chunk_text(&chunk, &ctx.palette))?;
    }
    Ok(ExitCode::SUCCESS)
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
mod tests {
    use super::*;

    fn chunk(source: &str, text: &str) -> LogChunk {
        LogChunk { source: source.into(), iteration: Some(1), text: text.into() }
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
        let at = "2024-05-01T10:00:00Z";
        let expected = format!("{}  #1  run finished\n", crate::render::time::clock(at));
        assert_eq!(chunk_text(&chunk("event", &format!("{at} run finished\n")), &p), expected);
    }
}
