//! `revis daemon start|stop|status`: explicit control of revisd (normally it starts on demand).
//! `status` and `stop` never start a daemon.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use revis_proto::build_info;
use revis_proto::v1::HelloReply;

use super::{Context, out, out_json};
use crate::client;
use crate::error::CliError;
use crate::render::time;

/// Start, stop or inspect the revisd daemon.
#[derive(Debug, Args)]
pub struct DaemonArgs {
    #[command(subcommand)]
    pub action: DaemonAction,
}

#[derive(Debug, Subcommand)]
pub enum DaemonAction {
    /// Start revisd unless it is already running, and print its pid.
    Start,
    /// Ask revisd to exit and wait until it has (training runs keep going).
    Stop,
    /// Show whether revisd runs, its version, pid, home, uptime and sessions (exit 1 if not running).
    Status {
        /// Print the daemon's Hello reply as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(ctx: &Context, args: DaemonArgs) -> Result<ExitCode, CliError> {
    match args.action {
        DaemonAction::Start => {
            let conn = ctx.connect().await?;
            let pid = conn.hello.pid;
            if conn.started {
                out(&format!("revisd started (pid {pid})\n"))?;
            } else {
                out(&format!("revisd is already running (pid {pid})\n"))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        DaemonAction::Stop => {
            let Some(mut conn) = client::connect_existing(&ctx.home).await? else {
                out("revisd is not running\n")?;
                return Ok(ExitCode::SUCCESS);
            };
            client::request_shutdown(&mut conn.client).await?;
            client::wait_until_gone(&ctx.home, Some(conn.hello.pid)).await?;
            out(&format!("revisd stopped (pid {})\n", conn.hello.pid))?;
            Ok(ExitCode::SUCCESS)
        }
        DaemonAction::Status { json } => match client::connect_existing(&ctx.home).await? {
            None => {
                out("revisd is not running\n")?;
                Ok(ExitCode::FAILURE)
            }
            Some(conn) if json => {
                out_json(&conn.hello, true)?;
                Ok(ExitCode::SUCCESS)
            }
            Some(conn) => {
                out(&status_text(&conn.hello))?;
                Ok(ExitCode::SUCCESS)
            }
        },
    }
}

fn status_text(h: &HelloReply) -> String {
    let mut text = format!(
        "revisd {} (protocol {}) is running\n  pid       {}\n  home      {}\n  uptime    {}\n  sessions  {} active, {} paused\n",
        build_info::describe(&h.version, &h.commit, &h.commit_date),
        h.protocol,
        h.pid,
        h.home,
        time::duration(h.uptime_seconds as f64),
        h.active_sessions,
        h.paused_sessions
    );
    if !h.executable.is_empty() {
        text.push_str(&format!("  binary    {}\n", h.executable));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_shows_version_pid_home_uptime_and_sessions() {
        let hello = HelloReply {
            version: "0.1.0".into(),
            protocol: 1,
            pid: 42,
            home: "/h".into(),
            active_sessions: 2,
            paused_sessions: 1,
            uptime_seconds: 192,
            commit: "0123456789ab".into(),
            commit_date: "2026-12-07".into(),
            executable: "/venv/bin/revisd".into(),
        };
        let text = status_text(&hello);
        for part in [
            "revisd 0.1.0 (0123456789ab 2026-12-07) (protocol 1)",
            "pid       42",
            "home      /h",
            "3m 12s",
            "2 active, 1 paused",
            "binary    /venv/bin/revisd",
        ] {
            assert!(text.contains(part), "{part:?} missing from {text}");
        }
    }
}
