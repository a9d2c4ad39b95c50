//! `revis resume NAME`: continues a stopped or paused session with its counters and spend.

use std::process::ExitCode;

use clap::Args;
use revis_proto::v1::ResumeSessionRequest;

use super::{Context, out};
use crate::error::CliError;
use crate::provider_env;

/// Continue a stopped or paused session where it left off.
#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// Session name.
    pub name: String,
    /// New wall-clock budget from now, e.g. 2h (default: what was left).
    #[arg(long, value_name = "DURATION")]
    pub budget: Option<String>,
}

pub async fn run(ctx: &Context, args: ResumeArgs) -> Result<ExitCode, CliError> {
    let request = ResumeSessionRequest {
        name: args.name,
        project_dir: ctx.project_dir()?,
        budget: args.budget.unwrap_or_default(),
        // The resuming shell's provider settings win: that is how a `needs_credentials` pause
        // is resolved (the daemon never stored the ones the session started with).
        env: provider_env::from_process(),
    };
    let mut conn = ctx.connect().await?;
    let session = conn.client.resume_session(request).await?.into_inner();
    let c = ctx.project_hint();
    let name = &session.name;
    out(&format!("Resumed {name} ({})\n  follow: revis{c} watch {name}\n", session.state))?;
    Ok(ExitCode::SUCCESS)
}
