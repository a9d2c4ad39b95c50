//! The one-line progress of a running session, as `watch` keeps it under the event lines:
//! `#3 train 1m 12s · left 2h 47m, 5 runs · ▁▃▅✗ best 0.41 (#2)`. Pure: the clock is a
//! parameter and nothing is printed here.

use chrono::{DateTime, Utc};
use revis_proto::v1::{Iteration, IterationState, Phase, SessionDetail, SessionState, SessionSummary};

use super::chart::{series, sparkline};
use super::session::budget_left;
use super::{time, value};
use crate::states::{self, word};

/// Iterations the progress line's sparkline shows at most.
pub const SPARK_POINTS: usize = 24;

/// The iteration the session works on: the last one not done yet, while the session runs.
pub fn current(d: &SessionDetail) -> Option<&Iteration> {
    if d.head().state() != SessionState::Running {
        return None;
    }
    d.iterations.iter().rev().find(|it| {
        states::iteration_phase(it).is_some_and(|phase| phase != Phase::Done)
            && it.state() != IterationState::Interrupted
    })
}

/// What identifies a progress line without its clock: (iteration, phase). Plain output prints
/// a line only when this changes.
pub fn progress_key(d: &SessionDetail) -> Option<(u32, Phase)> {
    current(d).map(|it| (it.number, it.phase()))
}

/// One line per slot of a session that runs several trials at once (none for one slot):
/// `slot 1 · gpu 2,3 · #7 train 4m 12s`, or `slot 2 · idle` while its next trial is decided.
/// Elapsed times need `now`.
pub fn slot_lines(s: &SessionSummary, now: Option<DateTime<Utc>>) -> Vec<String> {
    if s.slots <= 1 || !s.state.eq(&(SessionState::Running as i32)) && !s.state.eq(&(SessionState::Paused as i32)) {
        return Vec::new();
    }
    (0..s.slots)
        .map(|slot| {
            let mut parts = vec![format!("slot {slot}")];
            let trial = s.trials.iter().find(|t| t.slot == slot);
            if let Some(host) = trial.map(|t| t.host.as_str()).filter(|h| !h.is_empty()) {
                parts.push(host.to_string());
            }
            if let Some(gpus) = trial.map(|t| t.gpus.as_str()).filter(|g| !g.is_empty()) {
                parts.push(format!("gpu {gpus}"));
            }
            match trial {
                Some(t) => {
                    let mut what = match &t.queue_reason {
                        Some(reason) => format!("#{} queued ({reason})", t.iteration),
                        None => format!("#{} {}", t.iteration, word(t.phase())),
                    };
                    let started = t.started_at.as_deref().and_then(|at| DateTime::parse_from_rfc3339(at).ok());
                    if let (Some(now), Some(started), true) = (now, started, t.phase() != Phase::Prepare) {
                        let elapsed = (now - started.with_timezone(&Utc)).num_milliseconds() as f64 / 1000.0;
                        what.push_str(&format!(" {}", time::duration(elapsed.max(0.0))));
                    }
                    parts.push(what);
                }
                None => parts.push("idle".to_string()),
            }
            parts.join(" · ")
        })
        .collect()
}

/// What identifies the slot lines without their clocks: (slot, iteration, phase) per slot.
pub fn slots_key(s: &SessionSummary) -> Vec<(u32, u32, i32)> {
    s.trials.iter().map(|t| (t.slot, t.iteration, t.phase)).collect()
}

/// The progress line of a running session; None when nothing runs.
pub fn progress_line(d: &SessionDetail, now: DateTime<Utc>) -> Option<String> {
    let it = current(d)?;
    let mut head = match &it.queue_reason {
        // A batch job not started yet: its wait is queue time, not run time.
        Some(reason) => format!("#{} queued ({reason})", it.number),
        None => format!("#{} {}", it.number, word(it.phase())),
    };
    let started = it.started_at.as_deref().and_then(|at| DateTime::parse_from_rfc3339(at).ok());
    if let Some(started) = started {
        let elapsed = (now - started.with_timezone(&Utc)).num_milliseconds() as f64 / 1000.0;
        head.push_str(&format!(" {}", time::duration(elapsed.max(0.0))));
    }
    let mut parts = vec![head];
    // The value the run reported last (progress.jsonl), live.
    if let Some(last) = it.history.last() {
        parts.push(format!("{} {} @ step {}", d.head().primary_metric, value::metric(last.value), last.step));
    }
    let runs = d.iterations.iter().filter(|i| i.started_at.is_some()).map(|i| i.number).max().map_or(0, |n| n + 1);
    let s = d.head();
    let left = budget_left(s.budget.as_ref(), s.spend.as_ref(), runs);
    if left != "-" {
        parts.push(format!("left {left}"));
    }
    let points = series(&d.iterations);
    let spark = sparkline(&points, SPARK_POINTS);
    let best = s.best.as_ref().map(|b| format!("best {} (#{})", value::metric(b.value), b.iteration));
    match (spark.is_empty(), best) {
        (false, Some(best)) => parts.push(format!("{spark} {best}")),
        (false, None) => parts.push(spark),
        (true, Some(best)) => parts.push(best),
        (true, None) => {}
    }
    Some(parts.join(" · "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use revis_proto::v1::{Best, Budget, Outcome, SessionSummary, Spend};

    fn it(number: u32, state: IterationState, phase: Phase, primary: Option<f64>) -> Iteration {
        Iteration {
            number,
            state: state as i32,
            phase: Some(phase as i32),
            primary,
            outcome: (state == IterationState::Failed).then_some(Outcome::Failed as i32),
            started_at: Some("2024-05-01T10:00:00Z".into()),
            ..Default::default()
        }
    }

    fn session(state: SessionState, budget: Option<Budget>, iterations: Vec<Iteration>) -> SessionDetail {
        SessionDetail {
            summary: Some(SessionSummary {
                state: state as i32,
                best: Some(Best { iteration: 0, value: 2.0 }),
                budget,
                spend: Some(Spend { active_seconds: 600.0, llm_usd: 0.0, ..Default::default() }),
                ..Default::default()
            }),
            iterations,
            ..Default::default()
        }
    }

    fn running(iterations: Vec<Iteration>) -> SessionDetail {
        let budget = Budget { wall_seconds: Some(3600.0), max_iterations: Some(5), max_cost: None };
        session(SessionState::Running, Some(budget), iterations)
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2024-05-01T10:01:12Z").map(|t| t.with_timezone(&Utc)).unwrap_or_default()
    }

    #[test]
    fn the_line_shows_iteration_phase_elapsed_budget_and_sparkline() {
        let d = running(vec![
            it(0, IterationState::Succeeded, Phase::Done, Some(2.0)),
            it(1, IterationState::Failed, Phase::Done, None),
            it(2, IterationState::Running, Phase::Train, None),
        ]);
        let line = progress_line(&d, now());
        assert_eq!(line.as_deref(), Some("#2 train 1m 12s · left 50m, 2 runs · ▄✗ best 2 (#0)"));
        assert_eq!(progress_key(&d), Some((2, Phase::Train)));
    }

    #[test]
    fn a_job_waiting_in_its_queue_shows_the_wait_and_its_reason_not_a_run() {
        let waiting =
            Iteration { queue_reason: Some("Resources".into()), ..it(2, IterationState::Running, Phase::Train, None) };
        let d = running(vec![it(0, IterationState::Succeeded, Phase::Done, Some(2.0)), waiting]);
        let line = progress_line(&d, now()).unwrap_or_default();
        assert!(line.starts_with("#2 queued (Resources) 1m 12s · "), "{line}");
    }

    #[test]
    fn nothing_runs_when_the_session_is_not_running_or_every_iteration_is_done() {
        let done = it(0, IterationState::Succeeded, Phase::Done, Some(2.0));
        assert_eq!(progress_line(&running(vec![done.clone()]), now()), None);
        let train = it(1, IterationState::Running, Phase::Train, None);
        let stopped = session(SessionState::Stopped, None, vec![done, train]);
        assert_eq!(progress_line(&stopped, now()), None);
    }

    #[test]
    fn an_interrupted_run_is_not_the_current_one() {
        let d = running(vec![it(1, IterationState::Interrupted, Phase::Train, None)]);
        assert_eq!(progress_line(&d, now()), None);
    }

    #[test]
    fn a_run_not_started_yet_has_no_elapsed_time() {
        let mut next = it(1, IterationState::Pending, Phase::Prepare, None);
        next.started_at = None;
        let d =
            session(SessionState::Running, None, vec![it(0, IterationState::Succeeded, Phase::Done, Some(2.0)), next]);
        assert_eq!(progress_line(&d, now()).as_deref(), Some("#1 prepare · ▄ best 2 (#0)"));
    }
}
