//! `revis list`: every session of this project, or of all projects with `--all`.

use std::process::ExitCode;

use clap::Args;
use revis_proto::v1::ListSessionsRequest;

use super::{Context, out, out_json};
use crate::error::CliError;
use crate::render::session::summary_table;

/// List the sessions of this project, finished ones included.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// List the sessions of every project.
    #[arg(short, long)]
    pub all: bool,
    /// Print a JSON array of session summaries.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(ctx: &Context, args: ListArgs) -> Result<ExitCode, CliError> {
    let project_dir = if args.all { String::new() } else { ctx.project_dir()? };
    let mut conn = ctx.connect().await?;
    let request = ListSessionsRequest { project_dir, live_only: false };
    let sessions = conn.client.list_sessions(request).await?.into_inner().sessions;
    if args.json {
        out_json(&sessions, true)?;
    } else if sessions.is_empty() {
        out(if args.all { "No sessions.\n" } else { "No sessions in this project.\n" })?;
    } else {
        out(&summary_table(&sessions, args.all, &ctx.palette))?;
    }
    Ok(ExitCode::SUCCESS)
}
