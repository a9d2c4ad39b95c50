//! `revis stop [NAME]`: stops a session now (the run is killed and retried on resume) or,
//! with `--after-run`, once the current run has finished and been measured.

use std::process::ExitCode;

use clap::Args;
use revis_proto::v1::{SessionState, SessionSummary, StopSessionRequest};

use super::{Context, out};
use crate::error::CliError;

/// Stop a session (default: the one live session of this project).
#[derive(Debug, Args)]
pub struct StopArgs {
    /// Session name; may be omitted when the project has exactly one live session.
    pub name: Option<String>,
    /// Let the current training run finish (its metrics count), then stop.
    #[arg(long)]
    pub after_run: bool,
}

pub async fn run(ctx: &Context, args: StopArgs) -> Result<ExitCode, CliError> {
    let request = StopSessionRequest {
        name: args.name.unwrap_or_default(),
        project_dir: ctx.project_dir()?,
        after_run: args.after_run,
    };
    let mut conn = ctx.connect().await?;
    let session = conn.client.stop_session(request).await?.into_inner();
    out(&message(&session, args.after_run))?;
    Ok(ExitCode::SUCCESS)
}

fn message(session: &SessionSummary, after_run: bool) -> String {
    let name = &session.name;
    if after_run && session.stop_requested {
        format!("{name} will stop after the current run\n")
    } else if matches!(session.state(), SessionState::Running | SessionState::Queued) {
        format!("Stopping {name}\n")
    } else {
        format!("Stopped {name}\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(state: SessionState, stop_requested: bool) -> SessionSummary {
        SessionSummary { name: "s".into(), state: state as i32, stop_requested, ..Default::default() }
    }

    #[test]
    fn message_says_what_happens() {
        assert_eq!(message(&session(SessionState::Running, true), true), "s will stop after the current run\n");
        assert_eq!(message(&session(SessionState::Running, false), false), "Stopping s\n");
        assert_eq!(message(&session(SessionState::Queued, false), false), "Stopping s\n");
        assert_eq!(message(&session(SessionState::Stopped, false), false), "Stopped s\n");
        assert_eq!(message(&session(SessionState::Stopped, false), true), "Stopped s\n");
    }
}
