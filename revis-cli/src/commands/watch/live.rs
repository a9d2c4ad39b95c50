//! What `watch` prints besides event lines: the progress line of the running iteration. On a
//! terminal it stays on the last line and is redrawn in place (event lines go above it); in a
//! pipe or file it is printed as a plain line whenever the iteration or its phase changes.
//! Returns the text to write; must not write it, poll the daemon or read the clock itself.

use chrono::{DateTime, Utc};
use revis_proto::v1::{Phase, SessionDetail};

use crate::render::progress::{progress_key, progress_line};
use crate::render::table::truncate;

/// Back to the start of the line and erase it.
const CLEAR_LINE: &str = "\r\x1b[K";

pub struct Live {
    terminal: bool,
    /// Terminal columns: a longer line would wrap and `\r` could no longer erase it.
    width: usize,
    /// The progress line on screen now (terminal only).
    shown: Option<String>,
    /// (iteration, phase) of the last plain progress line.
    last_key: Option<(u32, Phase)>,
}

impl Live {
    pub fn new(terminal: bool, width: usize) -> Self {
        Self { terminal, width, shown: None, last_key: None }
    }

    /// Text that prints one event line, keeping the progress line under it.
    pub fn event(&mut self, line: &str) -> String {
        match &self.shown {
            Some(progress) => format!("{CLEAR_LINE}{line}\n{progress}"),
            None => format!("{line}\n"),
        }
    }

    /// Text that shows the session's progress as of `now` (empty when nothing changes).
    pub fn session(&mut self, d: &SessionDetail, now: DateTime<Utc>) -> String {
        let line = progress_line(d, now);
        if self.terminal {
            let line = line.map(|l| truncate(&format!("▶ {l}"), self.width.saturating_sub(1).max(1)));
            let text = match (&line, &self.shown) {
                (Some(line), Some(shown)) if line == shown => String::new(),
                (Some(line), _) => format!("{CLEAR_LINE}{line}"),
                (None, Some(_)) => CLEAR_LINE.to_string(),
                (None, None) => String::new(),
            };
            self.shown = line;
            return text;
        }
        let key = progress_key(d);
        if key.is_none() || key == self.last_key {
            return String::new();
        }
        self.last_key = key;
        line.map(|l| format!("progress  {l}\n")).unwrap_or_default()
    }

    /// Text that leaves the terminal clean for what follows the stream.
    pub fn finish(&mut self) -> String {
        match self.shown.take() {
            Some(_) => CLEAR_LINE.to_string(),
            None => String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use revis_proto::v1::{Iteration, IterationState, SessionState, SessionSummary};

    fn session(state: SessionState, number: u32, phase: Phase) -> SessionDetail {
        SessionDetail {
            summary: Some(SessionSummary { state: state as i32, ..Default::default() }),
            iterations: vec![Iteration {
                number,
                state: IterationState::Running as i32,
                phase: Some(phase as i32),
                started_at: Some("2024-05-01T10:00:00Z".into()),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn running(number: u32, phase: Phase) -> SessionDetail {
        session(SessionState::Running, number, phase)
    }

    fn at(seconds: u32) -> DateTime<Utc> {
        let text = format!("2024-05-01T10:00:{seconds:02}Z");
        DateTime::parse_from_rfc3339(&text).map(|t| t.with_timezone(&Utc)).unwrap_or_default()
    }

    #[test]
    fn on_a_terminal_the_line_is_redrawn_in_place_under_the_events() {
        let mut live = Live::new(true, 80);
        assert_eq!(live.event("e1"), "e1\n", "no progress line yet");
        assert_eq!(live.session(&running(1, Phase::Train), at(2)), "\r\x1b[K▶ #1 train 2.0s");
        assert_eq!(live.session(&running(1, Phase::Train), at(2)), "", "unchanged: nothing to redraw");
        assert_eq!(live.session(&running(1, Phase::Train), at(3)), "\r\x1b[K▶ #1 train 3.0s");
        assert_eq!(live.event("e2"), "\r\x1b[Ke2\n▶ #1 train 3.0s");
        let ended = session(SessionState::Completed, 1, Phase::Done);
        assert_eq!(live.session(&ended, at(4)), "\r\x1b[K");
        assert_eq!(live.event("e3"), "e3\n");
        assert_eq!(live.finish(), "");
    }

    #[test]
    fn the_terminal_line_never_wraps() {
        let mut live = Live::new(true, 10);
        let text = live.session(&running(12345, Phase::Collect), at(5));
        assert_eq!(text.trim_start_matches("\r\x1b[K").chars().count(), 9, "{text:?}");
        assert_eq!(live.finish(), "\r\x1b[K");
    }

    #[test]
    fn plain_output_prints_a_line_per_phase_change_and_no_escapes() {
        let mut live = Live::new(false, 80);
        assert_eq!(live.session(&running(1, Phase::Train), at(1)), "progress  #1 train 1.0s\n");
        assert_eq!(live.session(&running(1, Phase::Train), at(9)), "", "same phase: no new line");
        assert_eq!(live.event("e"), "e\n");
        assert_eq!(live.session(&running(1, Phase::Collect), at(9)), "progress  #1 collect 9.0s\n");
        assert_eq!(live.finish(), "");
    }
}
