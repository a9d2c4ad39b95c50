//! `revis show NAME`: one session in detail (header, primary-metric chart and iteration table)
//! or as JSON.
//! `--trace` asks the daemon for each iteration's decision transcript and prints it after the
//! table with the code change a coding agent made, if one did (or, with `--json`, leaves them
//! in the `trace` and `agent` fields).

use std::process::ExitCode;

use clap::Args;
use revis_proto::v1::GetSessionRequest;

use super::{Context, out, out_json};
use crate::error::CliError;
use crate::render::chart::primary_chart;
use crate::render::session::{detail, detail_with_chart};
use crate::render::terminal::chart_width;
use crate::render::trace::transcripts;

/// Show a session: result, budget, spend and every iteration.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Session name.
    pub name: String,
    /// Print the session as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Also show how each LLM decision was reached (messages, tool calls and results) and
    /// each coding agent's change (request, summary, files, diff).
    #[arg(long)]
    pub trace: bool,
}

pub async fn run(ctx: &Context, args: ShowArgs) -> Result<ExitCode, CliError> {
    let request = GetSessionRequest { name: args.name, project_dir: ctx.project_dir()?, trace: args.trace };
    let mut conn = ctx.connect().await?;
    let session = conn.client.get_session(request).await?.into_inner();
    if args.json {
        out_json(&session, true)?;
        return Ok(ExitCode::SUCCESS);
    }
    // The chart goes between the header and the table; nothing to plot leaves the plain view.
    let chart = primary_chart(&session, &ctx.palette, chart_width());
    let mut text = match chart.as_deref() {
        Some(chart) => detail_with_chart(&session, &ctx.palette, Some(chart)),
        None => detail(&session, &ctx.palette),
    };
    if args.trace {
        text.push_str(&transcripts(&session.iterations, &ctx.palette));
    }
    out(&text)?;
    Ok(ExitCode::SUCCESS)
}
