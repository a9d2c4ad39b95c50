//! `revis resume NAME`: continues a stopped or paused session with its counters and spend;
//! `--skip` drops the code change a paused session waits for.

use std::process::ExitCode;

use clap::Args;
use revis_proto::v1::{ResumeSessionRequest, SessionSummary};

use super::{Context, out};
use crate::error::CliError;
use crate::{provider_env, states};

/// Continue a stopped or paused session where it left off.
#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// Session name.
    pub name: String,
    /// New wall-clock budget from now, e.g. 2h (default: what was left).
    #[arg(long, value_name = "DURATION")]
    pub budget: Option<String>,
    /// Drop the code change the session waits for and go on.
    #[arg(long)]
    pub skip: bool,
}

pub async fn run(ctx: &Context, args: ResumeArgs) -> Result<ExitCode, CliError> {
    let skip = args.skip;
    let project_dir = ctx.project_dir()?;
    let mut conn = ctx.connect().await?;
    // The resuming shell's provider settings win: that is how a `needs_credentials` pause
    // is resolved (the daemon never stored the ones the session started with).
    let env = provider_env::for_session(&mut conn.client, &project_dir, &args.name).await?;
    let request =
        ResumeSessionRequest { name: args.name, project_dir, budget: args.budget.unwrap_or_default(), env, skip };
    let session = conn.client.resume_session(request).await?.into_inner();
    out(&message(&session, skip, &ctx.project_hint()))?;
    Ok(ExitCode::SUCCESS)
}

fn message(session: &SessionSummary, skip: bool, project_hint: &str) -> String {
    let name = &session.name;
    let what = if skip { " without the code change" } else { "" };
    let state = states::state_word(session);
    format!("Resumed {name}{what} ({state})\n  follow: revis{project_hint} watch {name}\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use revis_proto::v1::SessionState;

    #[test]
    fn message_says_whether_the_code_change_was_dropped() {
        let session = SessionSummary { name: "s".into(), state: SessionState::Running as i32, ..Default::default() };
        assert_eq!(message(&session, false, ""), "Resumed s (running)\n  follow: revis watch s\n");
        assert_eq!(
            message(&session, true, " -C /p"),
            "Resumed s without the code change (running)\n  follow: revis -C /p watch s\n"
        );
    }
}
