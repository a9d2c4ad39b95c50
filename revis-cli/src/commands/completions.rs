//! `revis completions SHELL`: prints a completion script generated from the clap definition,
//! so completions never drift from the real flags. Needs no daemon.

use std::process::ExitCode;

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use super::{Context, out};
use crate::error::CliError;

/// Print a shell completion script (e.g. `revis completions zsh > ~/.zfunc/_revis`).
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// bash, zsh, fish, elvish or powershell.
    #[arg(value_enum)]
    pub shell: Shell,
}

pub async fn run(_ctx: &Context, args: CompletionsArgs) -> Result<ExitCode, CliError> {
    out(&script(args.shell))?;
    Ok(ExitCode::SUCCESS)
}

/// Generated into memory first: clap_complete panics on a write error, and `out` turns a
/// closed pipe into a quiet exit instead.
pub fn script(shell: Shell) -> String {
    let mut command = crate::Cli::command();
    let mut buffer = Vec::new();
    clap_complete::generate(shell, &mut command, "revis", &mut buffer);
    String::from_utf8_lossy(&buffer).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shell_gets_a_script_naming_the_subcommands() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let text = script(shell);
            assert!(text.contains("revis"), "{shell:?}");
            for sub in ["compare", "export", "completions", "show"] {
                assert!(text.contains(sub), "{shell:?} script lacks {sub}");
            }
        }
    }
}
