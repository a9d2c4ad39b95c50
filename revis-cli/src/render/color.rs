//! Colour only when stdout is a terminal and `NO_COLOR` is unset or empty (no-color.org).
//! Callers paint after padding, so escape codes never disturb column widths.

use std::io::IsTerminal;

use revis_proto::v1::{IterationState, Outcome, SessionState};

use crate::states::Standing;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Bold,
    Dim,
    Red,
    Green,
    Yellow,
    Cyan,
}

impl Style {
    fn code(self) -> &'static str {
        match self {
            Style::Bold => "1",
            Style::Dim => "2",
            Style::Red => "31",
            Style::Green => "32",
            Style::Yellow => "33",
            Style::Cyan => "36",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Palette {
    enabled: bool,
}

impl Palette {
    pub fn for_stdout() -> Self {
        let no_color = std::env::var_os("NO_COLOR");
        Self::decide(std::io::stdout().is_terminal(), no_color.as_deref())
    }

    fn decide(is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> Self {
        let suppressed = no_color.is_some_and(|v| !v.is_empty());
        Self { enabled: is_terminal && !suppressed }
    }

    #[cfg(test)]
    pub fn plain() -> Self {
        Self { enabled: false }
    }

    /// A palette that colours, whatever stdout is.
    #[cfg(test)]
    pub fn decide_for_test() -> Self {
        Self { enabled: true }
    }

    pub fn paint(&self, style: Option<Style>, text: &str) -> String {
        match style {
            Some(style) if self.enabled && !text.is_empty() => {
                format!("\x1b[{}m{text}\x1b[0m", style.code())
            }
            _ => text.to_string(),
        }
    }
}

/// Colour of a session state.
pub fn state_style(state: SessionState) -> Option<Style> {
    match state {
        SessionState::Running => Some(Style::Green),
        SessionState::Queued | SessionState::Paused => Some(Style::Yellow),
        SessionState::Failed => Some(Style::Red),
        SessionState::Completed => Some(Style::Cyan),
        SessionState::Stopped | SessionState::Unspecified => None,
    }
}

/// Colour of an iteration's outcome (or of its run's state, while it has none).
pub fn outcome_style(standing: Standing) -> Option<Style> {
    match standing {
        Standing::Outcome(Outcome::Improved) => Some(Style::Green),
        Standing::Outcome(Outcome::Failed) | Standing::Run(IterationState::Failed) => Some(Style::Red),
        Standing::Outcome(Outcome::Interrupted | Outcome::NotConfirmed)
        | Standing::Run(IterationState::Interrupted) => Some(Style::Yellow),
        Standing::Run(IterationState::Running) => Some(Style::Cyan),
        Standing::Outcome(Outcome::Baseline) => Some(Style::Bold),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn colour_needs_a_terminal() {
        assert_eq!(Palette::decide(false, None), Palette::plain());
        assert_ne!(Palette::decide(true, None), Palette::plain());
    }

    #[test]
    fn no_color_disables_colour_unless_empty() {
        assert_eq!(Palette::decide(true, Some(OsStr::new("1"))), Palette::plain());
        assert_ne!(Palette::decide(true, Some(OsStr::new(""))), Palette::plain());
    }

    #[test]
    fn plain_palette_leaves_text_alone() {
        assert_eq!(Palette::plain().paint(Some(Style::Red), "x"), "x");
        let on = Palette::decide(true, None);
        assert_eq!(on.paint(Some(Style::Red), "x"), "\x1b[31mx\x1b[0m");
        assert_eq!(on.paint(None, "x"), "x");
    }
}
