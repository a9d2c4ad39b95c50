//! How the CLI reads the protocol's enum fields: a session's state, stop reason and phase, an
//! iteration's state, outcome and phase, the advisor. prost keeps them as `i32`; the readers
//! here turn them into the generated enums, and `word` turns an enum into the text the CLI
//! prints. Every comparison is made on the enums; text exists only for output.
//!
//! The zero value (`UNSPECIFIED`) means "not set", as the empty string did when these fields
//! were strings: it reads as absent and prints as nothing, so the output stays what it was.

use revis_proto::v1::{self as pb, Iteration, SessionSummary};
use revis_proto::words::Word;
use serde::Serializer;

/// The word a value prints as (`running`, `no_improvement`); empty for the zero value.
pub fn word<E: Word + Default + PartialEq>(value: E) -> String {
    if value == E::default() { String::new() } else { value.word() }
}

/// An optional enum field's value; None when it is absent or zero. A number this CLI does not
/// know also reads as None: the handshake rules out a daemon of another protocol, so it can
/// only come from a broken reply, and "not set" is safer to show than a guess.
pub fn known<E: TryFrom<i32> + Default + PartialEq>(value: Option<i32>) -> Option<E> {
    value.and_then(|v| E::try_from(v).ok()).filter(|e| *e != E::default())
}

/// Why the session ended, or what a paused session waits for.
pub fn stop_reason(s: &SessionSummary) -> Option<pb::StopReason> {
    known(s.stop_reason)
}

/// The phase of the session's current iteration (live sessions only).
pub fn phase(s: &SessionSummary) -> Option<pb::Phase> {
    known(s.phase)
}

/// The session's state as it prints (`running`).
pub fn state_word(s: &SessionSummary) -> String {
    word(s.state())
}

/// What the iteration's result meant; None while it runs.
pub fn outcome(it: &Iteration) -> Option<pb::Outcome> {
    known(it.outcome)
}

/// The step the iteration is at.
pub fn iteration_phase(it: &Iteration) -> Option<pb::Phase> {
    known(it.phase)
}

/// What an iteration's OUTCOME column shows: its outcome once it has one, else how its run
/// stands (`running`, `pending`). Both enums have a `failed` and an `interrupted`, which
/// print and colour alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Outcome(pb::Outcome),
    Run(pb::IterationState),
}

impl Standing {
    pub fn new(outcome: Option<pb::Outcome>, state: pb::IterationState) -> Self {
        outcome.map_or(Standing::Run(state), Standing::Outcome)
    }

    pub fn of(it: &Iteration) -> Self {
        Self::new(outcome(it), it.state())
    }

    pub fn word(self) -> String {
        match self {
            Standing::Outcome(outcome) => word(outcome),
            Standing::Run(state) => word(state),
        }
    }
}

/// serde `serialize_with`: an enum as its word (the export schema writes words, not numbers).
pub fn serialize_word<E, S>(value: &E, serializer: S) -> Result<S::Ok, S::Error>
where
    E: Word + Default + PartialEq,
    S: Serializer,
{
    serializer.serialize_str(&word(*value))
}

/// Like `serialize_word`, for an optional field (None is null).
pub fn serialize_opt_word<E, S>(value: &Option<E>, serializer: S) -> Result<S::Ok, S::Error>
where
    E: Word + Default + PartialEq,
    S: Serializer,
{
    match value {
        Some(value) => serialize_word(value, serializer),
        None => serializer.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_zero_value_prints_as_nothing_and_reads_as_absent() {
        assert_eq!(word(pb::SessionState::Running), "running");
        assert_eq!(word(pb::Outcome::NoImprovement), "no_improvement");
        assert_eq!(word(pb::SessionState::Unspecified), "");
        assert_eq!(known::<pb::StopReason>(Some(pb::StopReason::Budget as i32)), Some(pb::StopReason::Budget));
        assert_eq!(known::<pb::StopReason>(Some(0)), None);
        assert_eq!(known::<pb::StopReason>(Some(999)), None);
        assert_eq!(known::<pb::StopReason>(None), None);
    }

    #[test]
    fn an_iteration_stands_by_its_outcome_once_it_has_one() {
        let running = Iteration { state: pb::IterationState::Running as i32, ..Default::default() };
        assert_eq!(Standing::of(&running), Standing::Run(pb::IterationState::Running));
        assert_eq!(Standing::of(&running).word(), "running");
        let improved = Iteration {
            state: pb::IterationState::Succeeded as i32,
            outcome: Some(pb::Outcome::Improved as i32),
            ..Default::default()
        };
        assert_eq!(Standing::of(&improved), Standing::Outcome(pb::Outcome::Improved));
        assert_eq!(Standing::of(&improved).word(), "improved");
    }
}
