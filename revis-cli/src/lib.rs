//! `revis`: the thin command-line client of `revisd`. Parses arguments, dispatches to one
//! command module, and turns the outcome into an exit code. It owns no state and never talks
//! to the daemon except through `client::connect`. A library so that every binary named
//! `revis` (this crate's, and the Python wheel's in `dist/wheel`) is the same program.

mod client;
mod commands;
mod error;
mod home;
mod launch;
mod provider_env;
mod render;
mod states;
#[cfg(test)]
mod testing;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::commands::Context;
use crate::error::CliError;

const EXAMPLES: &str = "\
Examples:
  revis init --yes --train 'python train.py' --primary val_loss
  revis loop --budget 4h          start a session, print its name
  revis watch quick-otter         follow it until it ends
  revis show quick-otter          results, budget and every iteration

The daemon (revisd) starts on demand; its state lives in $REVIS_HOME.";

/// Automates the ML iteration loop: run training, read metrics, change one thing, keep what helps.
#[derive(Debug, Parser)]
#[command(name = "revis", version = revis_proto::build_info::LONG_VERSION, propagate_version = true, after_help = EXAMPLES)]
struct Cli {
    /// Project directory (default: the current directory).
    #[arg(short = 'C', value_name = "DIR", global = true)]
    project_dir: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Init(commands::init::InitArgs),
    Loop(commands::loop_cmd::LoopArgs),
    Status(commands::status::StatusArgs),
    List(commands::list::ListArgs),
    Show(commands::show::ShowArgs),
    Logs(commands::logs::LogsArgs),
    Watch(commands::watch::WatchArgs),
    Stop(commands::stop::StopArgs),
    Resume(commands::resume::ResumeArgs),
    Approve(commands::approve::ApproveArgs),
    Delete(commands::delete::DeleteArgs),
    Daemon(commands::daemon::DaemonArgs),
    Compare(commands::compare::CompareArgs),
    Export(commands::export::ExportArgs),
    Completions(commands::completions::CompletionsArgs),
    Pr(commands::pr::PrArgs),
    Report(commands::report::ReportArgs),
    Ui(commands::ui::UiArgs),
}

async fn dispatch(ctx: &Context, command: Command) -> Result<ExitCode, CliError> {
    match command {
        Command::Init(args) => commands::init::run(ctx, args).await,
        Command::Loop(args) => commands::loop_cmd::run(ctx, args).await,
        Command::Status(args) => commands::status::run(ctx, args).await,
        Command::List(args) => commands::list::run(ctx, args).await,
        Command::Show(args) => commands::show::run(ctx, args).await,
        Command::Logs(args) => commands::logs::run(ctx, args).await,
        Command::Watch(args) => commands::watch::run(ctx, args).await,
        Command::Stop(args) => commands::stop::run(ctx, args).await,
        Command::Resume(args) => commands::resume::run(ctx, args).await,
        Command::Approve(args) => commands::approve::run(ctx, args).await,
        Command::Delete(args) => commands::delete::run(ctx, args).await,
        Command::Daemon(args) => commands::daemon::run(ctx, args).await,
        Command::Compare(args) => commands::compare::run(ctx, args).await,
        Command::Export(args) => commands::export::run(ctx, args).await,
        Command::Completions(args) => commands::completions::run(ctx, args).await,
        Command::Pr(args) => commands::pr::run(ctx, args).await,
        Command::Report(args) => commands::report::run(ctx, args).await,
        Command::Ui(args) => commands::ui::run(ctx, args).await,
    }
}

/// The whole program: `main` of each `revis` binary.
pub fn main() -> ExitCode {
    // clap exits 2 on usage errors and 0 for --help/--version by itself.
    let cli = Cli::parse();
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| CliError::Io { context: "cannot start the async runtime".into(), source })
        .and_then(|runtime| {
            runtime.block_on(async {
                let ctx = Context::new(cli.project_dir)?;
                dispatch(&ctx, cli.command).await
            })
        });
    match result {
        Ok(code) => code,
        Err(err) => {
            if !matches!(err, CliError::StdoutClosed) {
                eprintln!("error: {err}");
            }
            ExitCode::from(err.exit_code())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn project_dir_flag_is_global() {
        let cli = Cli::try_parse_from(["revis", "list", "-C", "/tmp/p", "--all"]);
        let cli = cli.map_err(|e| e.to_string());
        assert!(matches!(cli, Ok(Cli { project_dir: Some(ref p), .. }) if p == &PathBuf::from("/tmp/p")));
    }

    #[test]
    fn approve_takes_a_session_name() {
        let cli = Cli::try_parse_from(["revis", "approve", "quick-otter"]).map_err(|e| e.to_string());
        assert!(matches!(cli, Ok(Cli { command: Command::Approve(ref a), .. }) if a.name == "quick-otter"));
        let missing = Cli::try_parse_from(["revis", "approve"]).err();
        assert_eq!(missing.map(|e| e.exit_code()), Some(2));
    }

    #[test]
    fn approve_help_says_what_it_does() {
        let mut cli = Cli::command();
        let help = cli.find_subcommand_mut("approve").map(|c| c.render_help().to_string()).unwrap_or_default();
        assert!(help.contains("Let a paused code change go to the coding agent"), "{help}");
    }

    #[test]
    fn resume_skip_is_a_flag_off_by_default() {
        let skip = |args: &[&str]| match Cli::try_parse_from(args) {
            Ok(Cli { command: Command::Resume(r), .. }) => Some(r.skip),
            _ => None,
        };
        assert_eq!(skip(&["revis", "resume", "s", "--skip"]), Some(true));
        assert_eq!(skip(&["revis", "resume", "s"]), Some(false));
        assert_eq!(skip(&["revis", "resume", "--skip", "s", "--budget", "2h"]), Some(true));
    }

    #[test]
    fn unknown_flag_is_a_usage_error_with_exit_code_2() {
        let err = Cli::try_parse_from(["revis", "status", "--bogus"]).err();
        assert_eq!(err.map(|e| e.exit_code()), Some(2));
    }
}
