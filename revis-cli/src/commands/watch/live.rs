//! What `watch` prints besides event lines: the progress line of the running iteration. On a
//! terminal it stays on the last line and is redrawn in place (event lines go above it); in a
//! pipe or file it is printed as a plain line whenever the iteration or its phase changes.
//! Returns the text to write; must not write it, poll the daemon or read the clock itself.

use chrono::{DateTime, Utc};
use revis_proto::v1::{Phase, SessionDetail};

use crate::render::progress::{progress_key, progress_line, slot_lines, slots_key};
use crate::render::table::truncate;

/// Back to the start of the line and erase it.
const CLEAR_LINE: &str = "\r\x1b[K";

pub struct Live {
    terminal: bool,
    /// Terminal columns: a longer line would wrap and `\r` could no longer erase it.
    width: usize,
    /// The progress lines on screen now (terminal only): the progress line, then one line per
    /// slot of a session that runs several trials at once.
    shown: Vec<String>,
    /// What the last plain progress lines showed, without their clocks.
    last_key: Option<ProgressKey>,
}

/// The progress line's (iteration, phase) and each busy slot's (slot, iteration, phase).
type ProgressKey = (Option<(u32, Phase)>, Vec<(u32, u32, i32)>);

/// Erases `n` lines drawn last (the cursor is at the end of the last one).
fn clear(n: usize) -> String {
    match n {
        0 => String::new(),
        n => format!("{CLEAR_LINE}{}", format!("{CURSOR_UP}{CLEAR_LINE}").repeat(n - 1)),
    }
}

/// Up one line.
const CURSOR_UP: &str = "\x1b[1A";

impl Live {
    pub fn new(terminal: bool, width: usize) -> Self {
        Self { terminal, width, shown: Vec::new(), last_key: None }
    }

    /// Text that prints one event line, keeping the progress lines under it.
    pub fn event(&mut self, line: &str) -> String {
        match self.shown.is_empty() {
            false => format!("{}{line}\n{}", clear(self.shown.len()), self.shown.join("\n")),
            true => format!("{line}\n"),
        }
    }

    /// Text that shows the session's progress as of `now` (empty when nothing changes).
    pub fn session(&mut self, d: &SessionDetail, now: DateTime<Utc>) -> String {
        let line = progress_line(d, now);
        let slots = slot_lines(d.head(), Some(now));
        if self.terminal {
            let width = self.width.saturating_sub(1).max(1);
            let mut lines: Vec<String> = line.map(|l| truncate(&format!("▶ {l}"), width)).into_iter().collect();
            lines.extend(slots.iter().map(|l| truncate(&format!("  {l}"), width)));
            if lines == self.shown {
                return String::new();
            }
            let text = format!("{}{}", clear(self.shown.len().max(1)), lines.join("\n"));
            self.shown = lines;
            return text;
        }
        let key = (progress_key(d), slots_key(d.head()));
        if key.0.is_none() || Some(&key) == self.last_key.as_ref() {
            return String::new();
        }
        self.last_key = Some(key);
        let mut text = line.map(|l| format!("progress  {l}\n")).unwrap_or_default();
        for slot in slot_lines(d.head(), None) {
            text.push_str(&format!("progress  {slot}\n"));
        }
        text
    }

    /// Text that leaves the terminal clean for what follows the stream.
    pub fn finish(&mut self) -> String {
        let n = self.shown.len();
        self.shown.clear();
        clear(n)
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

    fn parallel(trials: &[(u32, u32, Phase)]) -> SessionDetail {
        let mut d = running(trials.iter().map(|t| t.1).max().unwrap_or(0), Phase::Train);
        if let Some(s) = d.summary.as_mut() {
            s.slots = 2;
            s.trials = trials
                .iter()
                .map(|(slot, iteration, phase)| revis_proto::v1::SlotTrial {
                    slot: *slot,
                    gpus: slot.to_string(),
                    iteration: *iteration,
                    phase: *phase as i32,
                    started_at: Some("2024-05-01T10:00:00Z".into()),
                    host: String::new(),
                    queue_reason: None,
                })
                .collect();
        }
        d
    }

    #[test]
    fn a_session_with_several_slots_shows_one_line_per_slot_redrawn_together() {
        let mut live = Live::new(true, 80);
        let text = live.session(&parallel(&[(0, 3, Phase::Train), (1, 4, Phase::Train)]), at(5));
        assert_eq!(text, "\r\x1b[K▶ #4 train 5.0s\n  slot 0 · gpu 0 · #3 train 5.0s\n  slot 1 · gpu 1 · #4 train 5.0s");
        // An event goes above all three lines: two lines up, then the event, then them again.
        let event = live.event("e");
        assert!(event.starts_with("\r\x1b[K\x1b[1A\r\x1b[K\x1b[1A\r\x1b[Ke\n▶ #4"), "{event:?}");
        let text = live.session(&parallel(&[(0, 3, Phase::Collect)]), at(6));
        assert!(text.contains("slot 1 · idle"), "{text:?}");
        let mut plain = Live::new(false, 80);
        let text = plain.session(&parallel(&[(0, 3, Phase::Train), (1, 4, Phase::Train)]), at(5));
        assert_eq!(text.lines().count(), 3, "{text}");
        assert_eq!(plain.session(&parallel(&[(0, 3, Phase::Train), (1, 4, Phase::Train)]), at(9)), "");
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
