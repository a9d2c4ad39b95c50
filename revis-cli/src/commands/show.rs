//! `revis show NAME`: one session in detail (header and iteration table) or as JSON.

use std::process::ExitCode;

use clap::Args;
use revis_proto::v1::GetSessionRequest;

use super::{Context, out, out_json};
use crate::error::CliError;
use crate::render::session::detail;

/// Show a session: result, budget, spend and every iteration.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Session name.
    pub name: String,
    /// Print the session as one JSON object.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(ctx: &Context, args: ShowArgs) -> Result<ExitCode, CliError> {
    let request = GetSessionRequest { name: args.name, project_dir: ctx.project_dir()? };
    let mut conn = ctx.connect().await?;
    let session = conn.client.get_session(request).await?.into_inner();
    if args.json {
        out_json(&session, true)?;
    } else {
        out(&detail(&session, &ctx.palette))?;
    }
    Ok(ExitCode::SUCCESS)
}
