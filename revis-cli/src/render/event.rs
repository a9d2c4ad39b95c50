//! One line per session event, as `watch` and `logs` print them:
//! `HH:MM:SS  #3  message` (local time; the iteration column only when the event has one).

use revis_proto::v1::{Event, SessionState};

use super::color::{Palette, Style, state_style};
use super::time;
use crate::states;

/// The fields of an event that a line shows.
#[derive(Debug, Default)]
struct EventView {
    at: String,
    kind: String,
    iteration: Option<u32>,
    message: String,
    final_state: Option<SessionState>,
}

pub fn event_line(event: &Event, palette: &Palette) -> String {
    render(
        &EventView {
            at: event.at.clone(),
            kind: event.kind.clone(),
            iteration: event.iteration,
            message: event.message.clone(),
            final_state: states::known(event.final_state),
        },
        palette,
    )
}

/// Renders a line of the daemon's event log (`<RFC 3339 time> <message>`) like `watch`
/// does; None for anything else (headers and the like, which the caller prints as is).
pub fn log_event_line(text: &str, iteration: Option<u32>, palette: &Palette) -> Option<String> {
    let line = text.trim_end_matches(['\n', '\r']);
    let (at, message) = line.split_once(' ')?;
    time::parse_rfc3339(at)?;
    let view = EventView { at: at.to_string(), iteration, message: message.to_string(), ..Default::default() };
    Some(render(&view, palette))
}

fn render(view: &EventView, palette: &Palette) -> String {
    let clock = palette.paint(Some(Style::Dim), &time::clock(&view.at));
    let style = match view.kind.as_str() {
        "iteration_failed" | "decision_failed" | "handoff_failed" => Some(Style::Red),
        // The user let a code change go ahead: mark where the coding agent took over.
        "handoff_approved" => Some(Style::Green),
        // The session waits for the user: make it stand out in a scrolling stream.
        "session_paused" => Some(Style::Yellow),
        "session_ended" => view.final_state.and_then(state_style).or(Some(Style::Bold)),
        _ => None,
    };
    let message = palette.paint(style, &view.message);
    match view.iteration {
        Some(n) => {
            let tag = palette.paint(Some(Style::Cyan), &format!("#{n}"));
            format!("{clock}  {tag}  {message}")
        }
        None => format!("{clock}  {message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(iteration: Option<u32>, message: &str) -> Event {
        Event {
            session: "s".into(),
            seq: 1,
            at: "not-a-time".into(),
            kind: "metrics".into(),
            iteration,
            message: message.into(),
            data: "{}".into(),
            final_state: None,
        }
    }

    #[test]
    fn lines_show_time_iteration_and_message() {
        let p = Palette::plain();
        assert_eq!(event_line(&event(Some(3), "val_loss=0.41"), &p), "not-a-time  #3  val_loss=0.41");
        assert_eq!(event_line(&event(None, "session started"), &p), "not-a-time  session started");
    }

    #[test]
    fn advisor_events_render_as_plain_lines() {
        let p = Palette::plain();
        for kind in ["decision_failed", "session_paused", "config_changed", "replicate"] {
            let e = Event { kind: kind.into(), ..event(Some(2), "something happened") };
            assert_eq!(event_line(&e, &p), "not-a-time  #2  something happened", "{kind}");
        }
        let on = Palette::decide_for_test();
        let failed = Event { kind: "decision_failed".into(), ..event(None, "no decision") };
        assert!(event_line(&failed, &on).contains("\x1b[31mno decision"));
        let paused = Event { kind: "session_paused".into(), ..event(None, "paused") };
        assert!(event_line(&paused, &on).contains("\x1b[33mpaused"));
    }

    #[test]
    fn handoff_events_stand_out() {
        let p = Palette::plain();
        let failed = Event { kind: "handoff_failed".into(), ..event(Some(4), "code change failed and was reverted") };
        assert_eq!(event_line(&failed, &p), "not-a-time  #4  code change failed and was reverted");
        let on = Palette::decide_for_test();
        assert!(event_line(&failed, &on).contains("\x1b[31mcode change failed"));
        let approved = Event { kind: "handoff_approved".into(), ..event(Some(4), "code change approved") };
        assert!(event_line(&approved, &on).contains("\x1b[32mcode change approved"));
    }

    #[test]
    fn the_end_of_a_session_is_coloured_by_its_final_state() {
        let on = Palette::decide_for_test();
        let ended = |state: Option<SessionState>| Event {
            kind: "session_ended".into(),
            final_state: state.map(|s| s as i32),
            ..event(None, "session ended")
        };
        assert!(event_line(&ended(Some(SessionState::Failed)), &on).contains("\x1b[31msession ended"));
        assert!(event_line(&ended(Some(SessionState::Completed)), &on).contains("\x1b[36msession ended"));
        assert!(event_line(&ended(Some(SessionState::Stopped)), &on).contains("\x1b[1msession ended"));
        assert!(event_line(&ended(None), &on).contains("\x1b[1msession ended"));
    }

    #[test]
    fn event_log_lines_render_like_watch() {
        let p = Palette::plain();
        let at = "2024-05-01T10:20:30.123Z";
        let expected = format!("{}  #2  decision: keep it", time::clock(at));
        let line = log_event_line(&format!("{at} decision: keep it\n"), Some(2), &p);
        assert_eq!(line, Some(expected));
        let expected = format!("{}  session started", time::clock(at));
        assert_eq!(log_event_line(&format!("{at} session started"), None, &p), Some(expected));
    }

    #[test]
    fn other_event_log_text_is_not_touched() {
        let p = Palette::plain();
        assert_eq!(log_event_line("--- training log of iteration 3 ---\n", Some(3), &p), None);
        assert_eq!(log_event_line("plain", None, &p), None);
    }
}
