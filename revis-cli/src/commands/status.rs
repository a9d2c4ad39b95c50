//! `revis status`: the live sessions (queued, running, paused) of every project.

use std::process::ExitCode;

use clap::Args;
use revis_proto::v1::ListSessionsRequest;

use super::{Context, out, out_json};
use crate::error::CliError;
use crate::render::session::summary_table_at;

/// Show live sessions (queued, running, paused) of all projects.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print a JSON array of session summaries.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(ctx: &Context, args: StatusArgs) -> Result<ExitCode, CliError> {
    let mut conn = ctx.connect().await?;
    let request = ListSessionsRequest { project_dir: String::new(), live_only: true };
    let sessions = conn.client.list_sessions(request).await?.into_inner().sessions;
    if args.json {
        out_json(&sessions, true)?;
    } else if sessions.is_empty() {
        out("No live sessions.\n")?;
    } else {
        out(&summary_table_at(&sessions, true, &ctx.palette, Some(chrono::Utc::now())))?;
    }
    Ok(ExitCode::SUCCESS)
}
