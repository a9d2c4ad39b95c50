//! Colour only when stdout is a terminal and `NO_COLOR` is unset or empty (no-color.org).
//! Callers paint after padding, so escape codes never disturb column widths.

use std::io::IsTerminal;

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

/// Colour of a session state word.
pub fn state_style(state: &str) -> Option<Style> {
    match state {
        "running" => Some(Style::Green),
        "queued" | "paused" => Some(Style::Yellow),
        "failed" => Some(Style::Red),
        "completed" => Some(Style::Cyan),
        _ => None,
    }
}

/// Colour of an iteration outcome (or state, while it runs).
pub fn outcome_style(outcome: &str) -> Option<Style> {
    match outcome {
        "improved" => Some(Style::Green),
        "failed" => Some(Style::Red),
        "interrupted" => Some(Style::Yellow),
        "running" => Some(Style::Cyan),
        "baseline" => Some(Style::Bold),
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
