//! `revis show NAME`: one session in detail (header and iteration table) or as JSON.
//! `--trace` asks the daemon for each iteration's decision transcript and prints it after the
//! table with the code change a coding agent made, if one did (or, with `--json`, leaves them
//! in the `trace` and `agent` fields).

use std::process::ExitCode;

use clap::Args;
use revis_proto::v1::GetSessionRequest;

use super::{Context, out, out_json};
use crate::error::CliError;
use crate::render::session::detail;
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
    let mut text = detail(&session, &ctx.palette);
    if args.trace {
        text.push_str(&transcripts(&session.iterations, &ctx.palette));
    }
    out(&text)?;
    Ok(ExitCode::SUCCESS)
}
