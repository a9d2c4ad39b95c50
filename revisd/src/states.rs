//! The words of a session's life: its state, an iteration's phase, state and outcome, why a
//! session stopped or paused, and a pending stop request, plus which advisor a session uses.
//!
//! Each is an enum with ONE text mapping (the `words!` table below). The store keeps the text in
//! its TEXT columns and reads it back through `TryFrom<String>` (an unknown word is a corrupt row,
//! never a default); events carry the same words; the wire uses the proto enums (see
//! `api/convert.rs`). No state, phase or reason literal appears anywhere else in the daemon.

use std::fmt;

/// Declares an enum whose variants each have one stored word, with `as_str`, `ALL`, `Display`,
/// `FromStr`/`TryFrom<String>` and serde through that word.
macro_rules! words {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "&'static str")]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The word the store, the events and the CLI's JSON use.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownWord;

            fn from_str(text: &str) -> Result<Self, UnknownWord> {
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == text)
                    .ok_or_else(|| UnknownWord { kind: stringify!($name), word: text.to_string() })
            }
        }

        impl TryFrom<String> for $name {
            type Error = UnknownWord;

            fn try_from(text: String) -> Result<Self, UnknownWord> {
                text.parse()
            }
        }

        impl From<$name> for &'static str {
            fn from(value: $name) -> Self {
                value.as_str()
            }
        }

        // Stored as its word in a TEXT column; a word no variant has fails the row's decoding.
        impl sqlx::Type<sqlx::Sqlite> for $name {
            fn type_info() -> sqlx::sqlite::SqliteTypeInfo {
                <str as sqlx::Type<sqlx::Sqlite>>::type_info()
            }

            fn compatible(ty: &sqlx::sqlite::SqliteTypeInfo) -> bool {
                <str as sqlx::Type<sqlx::Sqlite>>::compatible(ty)
            }
        }

        impl<'q> sqlx::Encode<'q, sqlx::Sqlite> for $name {
            fn encode_by_ref(
                &self,
                buf: &mut sqlx::sqlite::SqliteArgumentsBuffer,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <&str as sqlx::Encode<'q, sqlx::Sqlite>>::encode_by_ref(&self.as_str(), buf)
            }
        }

        impl<'r> sqlx::Decode<'r, sqlx::Sqlite> for $name {
            fn decode(value: sqlx::sqlite::SqliteValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
                let text = <&str as sqlx::Decode<'r, sqlx::Sqlite>>::decode(value)?;
                Ok(text.parse::<$name>()?)
            }
        }
    };
}

/// A stored word that none of an enum's variants has: the row was written by something else.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {word:?}")]
pub struct UnknownWord {
    pub kind: &'static str,
    pub word: String,
}

words! {
    /// Where a session is in its life.
    SessionState {
        Queued = "queued",
        Running = "running",
        /// Waiting for a human (a code change, an approval, credentials, an escalation).
        Paused = "paused",
        Completed = "completed",
        Stopped = "stopped",
        Failed = "failed",
    }
}

impl SessionState {
    /// Queued, running or paused: the daemon still owes this session work.
    pub const LIVE: &'static [SessionState] = &[SessionState::Queued, SessionState::Running, SessionState::Paused];

    pub fn is_live(self) -> bool {
        Self::LIVE.contains(&self)
    }

    /// An actor drives the session now (queued sessions start as soon as they are picked up).
    pub fn is_active(self) -> bool {
        matches!(self, SessionState::Queued | SessionState::Running)
    }

    pub fn is_terminal(self) -> bool {
        !self.is_live()
    }
}

words! {
    /// The step an iteration is at: `prepare → train → collect` as a trial in its slot, then
    /// `advise → apply → commit` while its decision makes the next trial (in a free slot), then
    /// `done`. With several slots a judged iteration may go back to `advise` to fill another
    /// free slot; a trial to confirm (`guardrails.confirm`) waits in `confirm` while its
    /// confirmation runs take free slots, and is judged once they are done.
    Phase {
        Prepare = "prepare",
        Train = "train",
        Collect = "collect",
        Confirm = "confirm",
        Advise = "advise",
        Apply = "apply",
        Commit = "commit",
        Done = "done",
    }
}

impl Phase {
    /// The iteration is a trial that holds its slot (about to run, running, being collected).
    pub fn holds_slot(self) -> bool {
        matches!(self, Phase::Prepare | Phase::Train | Phase::Collect)
    }

    /// The iteration is judged and its decision is being made or applied.
    pub fn is_deciding(self) -> bool {
        matches!(self, Phase::Advise | Phase::Apply | Phase::Commit)
    }

    /// A run of this iteration has ended (or never started again): its log is complete.
    pub fn run_is_over(self) -> bool {
        !matches!(self, Phase::Prepare | Phase::Train)
    }
}

words! {
    /// How an iteration's run stands.
    IterationState {
        Pending = "pending",
        Running = "running",
        Succeeded = "succeeded",
        Failed = "failed",
        Interrupted = "interrupted",
    }
}

impl IterationState {
    /// The run finished and was judged: the advisor learns from it.
    pub fn is_judged(self) -> bool {
        matches!(self, IterationState::Succeeded | IterationState::Failed)
    }
}

words! {
    /// What an iteration's result meant for the session.
    Outcome {
        Baseline = "baseline",
        Improved = "improved",
        NoImprovement = "no_improvement",
        /// Its first run beat the best, its confirmation runs together did not.
        NotConfirmed = "not_confirmed",
        /// `guardrails.early_stop` stopped it: its partial value informs, it is never the best.
        StoppedEarly = "stopped_early",
        Failed = "failed",
        Interrupted = "interrupted",
    }
}

words! {
    /// Why a session ended, or what a paused session waits for.
    StopReason {
        /// `revis stop`.
        User = "user",
        /// `--budget` (active wall-clock time) is used up.
        Budget = "budget",
        MaxIterations = "max_iterations",
        MaxCost = "max_cost",
        /// `metrics.target` reached.
        Target = "target",
        Plateau = "plateau",
        /// `guardrails.retry_budget` consecutive failures.
        RetryBudget = "retry_budget",
        /// The search advisor has nothing left to propose.
        SpaceExhausted = "space_exhausted",
        /// The advisor decided to stop.
        Advisor = "advisor",
        /// An internal error or a workspace that cannot be used.
        Error = "error",
        AwaitingChange = "awaiting_change",
        AwaitingApproval = "awaiting_approval",
        NeedsCredentials = "needs_credentials",
        /// The advisor asked for a human.
        Escalated = "escalated",
    }
}

impl StopReason {
    /// A paused session waits for a code change (made by hand, or approved for an agent).
    pub fn waits_for_code(self) -> bool {
        matches!(self, StopReason::AwaitingChange | StopReason::AwaitingApproval)
    }
}

words! {
    /// A stop the user asked for that the session has not acted on yet.
    StopRequest {
        /// Kill the run and stop.
        Now = "now",
        /// Let the current run finish, then stop.
        AfterRun = "after_run",
    }
}

words! {
    /// Which advisor decides a session's changes.
    AdvisorKind {
        /// The offline search advisor (TPE, random, grid over `search.space`).
        Search = "search",
        /// The LLM agent.
        Llm = "llm",
        /// The search advisor, with the LLM consulted every `llm.consult_every` trials and
        /// when progress stalls; one history.
        Hybrid = "hybrid",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_reads_back_as_its_variant() {
        fn round_trip<T>(all: &[T])
        where
            T: Copy + PartialEq + fmt::Debug + std::str::FromStr + Into<&'static str>,
            <T as std::str::FromStr>::Err: fmt::Debug,
        {
            for v in all {
                let word: &'static str = (*v).into();
                assert_eq!(word.parse::<T>().ok(), Some(*v), "{word}");
            }
        }
        round_trip(SessionState::ALL);
        round_trip(Phase::ALL);
        round_trip(IterationState::ALL);
        round_trip(Outcome::ALL);
        round_trip(StopReason::ALL);
        round_trip(StopRequest::ALL);
        round_trip(AdvisorKind::ALL);
    }

    #[test]
    fn an_unknown_word_is_an_error_that_names_it() {
        let e = "runing".parse::<SessionState>().unwrap_err();
        assert_eq!(e.to_string(), "unknown SessionState \"runing\"");
        let json: Result<Phase, _> = serde_json::from_str("\"trian\"");
        assert!(json.is_err());
        assert_eq!(serde_json::to_string(&Outcome::NoImprovement).unwrap(), "\"no_improvement\"");
    }
}
