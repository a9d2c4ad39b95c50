//! `revis approve NAME`: lets a session paused on a code change (`awaiting_approval`) hand that
//! change to the coding agent. It only asks the daemon; the daemon decides whether the session
//! is in a state that can be approved and says why not.

use std::process::ExitCode;

use clap::Args;
use revis_proto::v1::{ApproveSessionRequest, SessionSummary};

use super::{Context, out};
use crate::error::CliError;
use crate::provider_env;

/// Let a paused code change go to the coding agent.
#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// Session name.
    pub name: String,
}

pub async fn run(ctx: &Context, args: ApproveArgs) -> Result<ExitCode, CliError> {
    let project_dir = ctx.project_dir()?;
    let mut conn = ctx.connect().await?;
    // Coding agents need the same provider keys the advisor does, and the daemon never
    // stored the ones the session started with.
    let env = provider_env::for_session(&mut conn.client, &project_dir, &args.name).await?;
    let request = ApproveSessionRequest { name: args.name, project_dir, env };
    let session = conn.client.approve_session(request).await?.into_inner();
    out(&message(&session, &ctx.project_hint()))?;
    Ok(ExitCode::SUCCESS)
}

fn message(session: &SessionSummary, project_hint: &str) -> String {
    let name = &session.name;
    format!("Approved {name}: the coding agent takes over\n  follow: revis{project_hint} watch {name}\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use revis_proto::v1::SessionState;

    #[test]
    fn message_names_the_session_and_how_to_follow_it() {
        let session =
            SessionSummary { name: "quick-otter".into(), state: SessionState::Running as i32, ..Default::default() };
        assert_eq!(
            message(&session, ""),
            "Approved quick-otter: the coding agent takes over\n  follow: revis watch quick-otter\n"
        );
        assert!(message(&session, " -C /p").ends_with("follow: revis -C /p watch quick-otter\n"));
    }
}
