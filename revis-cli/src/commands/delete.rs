//! `revis delete NAME...`: removes sessions with their worktrees and (unless kept) branches.

use std::process::ExitCode;

use clap::Args;
use revis_proto::v1::DeleteSessionsRequest;

use super::{Context, out};
use crate::error::CliError;

/// Delete sessions, their worktrees and their revis/NAME branches.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Session names.
    #[arg(required = true, value_name = "NAME")]
    pub names: Vec<String>,
    /// Keep the revis/NAME branches (only the session records and worktrees go).
    #[arg(long)]
    pub keep_branch: bool,
}

pub async fn run(ctx: &Context, args: DeleteArgs) -> Result<ExitCode, CliError> {
    let request =
        DeleteSessionsRequest { names: args.names, project_dir: ctx.project_dir()?, keep_branch: args.keep_branch };
    let mut conn = ctx.connect().await?;
    let reply = conn.client.delete_sessions(request).await?.into_inner();
    for name in &reply.deleted {
        out(&format!("{name}\n"))?;
    }
    Ok(ExitCode::SUCCESS)
}
