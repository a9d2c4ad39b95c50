//! The prompts of interactive `revis init`, over `inquire` (arrow-key menus on stderr), and the
//! wizard's error type: Ctrl-C or Esc anywhere — in a prompt or while waiting for the daemon —
//! is `Cancelled`, so the caller can leave without writing anything.
//! Must not: talk to the daemon or decide defaults (see `choices`).

use std::future::Future;

use inquire::ui::RenderConfig;
use inquire::{Confirm, InquireError, MultiSelect, Select, Text};

use crate::error::CliError;

#[derive(Debug, thiserror::Error)]
pub enum WizardError {
    /// The user pressed Ctrl-C or Esc.
    #[error("cancelled")]
    Cancelled,
    #[error(transparent)]
    Cli(#[from] CliError),
}

impl From<tonic::Status> for WizardError {
    fn from(status: tonic::Status) -> Self {
        WizardError::Cli(CliError::Rpc(status))
    }
}

pub type Result<T> = std::result::Result<T, WizardError>;

fn map_err(what: &str, e: InquireError) -> WizardError {
    match e {
        InquireError::OperationCanceled | InquireError::OperationInterrupted => WizardError::Cancelled,
        InquireError::NotTTY => {
            CliError::Usage("revis init needs a terminal to ask; use --yes and flags instead".into()).into()
        }
        InquireError::IO(source) => CliError::io(format!("cannot ask for {what}"), source).into(),
        other => CliError::Runtime(format!("cannot ask for {what}: {other}")).into(),
    }
}

/// The look of every prompt: inquire's (which honours NO_COLOR) with the README's `❯`.
pub fn install_style() {
    let mut config = RenderConfig::default();
    config.highlighted_option_prefix.content = "❯";
    inquire::set_global_render_config(config);
}

/// A menu of labels; returns the chosen index.
pub fn select(question: &str, labels: Vec<String>, start: usize) -> Result<usize> {
    let start = start.min(labels.len().saturating_sub(1));
    Select::new(question, labels)
        .with_starting_cursor(start)
        .with_page_size(12)
        .raw_prompt()
        .map(|chosen| chosen.index)
        .map_err(|e| map_err(question, e))
}

/// A line of text; Enter alone takes `default` (when given). Empty answers are refused unless
/// `optional`.
pub fn text(question: &str, default: Option<&str>, optional: bool, help: Option<&str>) -> Result<String> {
    let mut prompt = Text::new(question);
    if let Some(default) = default.filter(|d| !d.is_empty()) {
        prompt = prompt.with_default(default);
    }
    if let Some(help) = help {
        prompt = prompt.with_help_message(help);
    }
    if !optional {
        prompt = prompt.with_validator(|value: &str| {
            Ok(if value.trim().is_empty() {
                inquire::validator::Validation::Invalid("an answer is needed".into())
            } else {
                inquire::validator::Validation::Valid
            })
        });
    }
    prompt.prompt().map(|answer| answer.trim().to_string()).map_err(|e| map_err(question, e))
}

pub fn confirm(question: &str, default: bool) -> Result<bool> {
    Confirm::new(question).with_default(default).prompt().map_err(|e| map_err(question, e))
}

/// A checklist with the items at `checked` ticked; returns the chosen items in list order.
pub fn multi_select<T: std::fmt::Display>(
    question: &str,
    items: Vec<T>,
    checked: &[usize],
    help: &str,
) -> Result<Vec<T>> {
    MultiSelect::new(question, items)
        .with_default(checked)
        .with_page_size(15)
        .with_help_message(help)
        .prompt()
        .map_err(|e| map_err(question, e))
}

/// Waits for a daemon call, or for Ctrl-C (no prompt is reading the terminal then, so it
/// arrives as SIGINT).
pub async fn interruptible<T>(call: impl Future<Output = std::result::Result<T, tonic::Status>>) -> Result<T> {
    tokio::select! {
        reply = call => Ok(reply?),
        // A handler that cannot be installed leaves the call uninterruptible, not cancelled.
        Ok(()) = tokio::signal::ctrl_c() => Err(WizardError::Cancelled),
    }
}

/// A progress note on stderr (prompts live there too; stdout stays for results).
pub fn note(text: &str) {
    eprintln!("{text}");
}
