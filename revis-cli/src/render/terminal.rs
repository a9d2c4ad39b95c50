//! What the charts need to know about stdout: whether it is a terminal and how wide it is.
//! Must not write anything; everything else in `render` stays a pure function of its input.

use std::io::IsTerminal;

/// Chart width when stdout is not a terminal (or will not say how wide it is).
pub const DEFAULT_WIDTH: usize = 60;
/// Beyond this a chart only gets sparser, not clearer.
const MAX_WIDTH: usize = 160;

pub fn stdout_is_terminal() -> bool {
    std::io::stdout().is_terminal()
}

/// The terminal's column count, when stdout is a terminal that reports one.
pub fn stdout_columns() -> Option<usize> {
    let stdout = std::io::stdout();
    if !stdout.is_terminal() {
        return None;
    }
    let size = rustix::termios::tcgetwinsize(&stdout).ok()?;
    Some(usize::from(size.ws_col)).filter(|&c| c > 0)
}

/// The width charts are drawn at: the terminal's, else 60 columns.
pub fn chart_width() -> usize {
    width_from(stdout_columns())
}

fn width_from(columns: Option<usize>) -> usize {
    columns.map_or(DEFAULT_WIDTH, |c| c.min(MAX_WIDTH))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn width_follows_the_terminal_or_defaults_to_sixty() {
        assert_eq!(width_from(None), 60);
        assert_eq!(width_from(Some(100)), 100);
        assert_eq!(width_from(Some(500)), MAX_WIDTH);
    }
}
