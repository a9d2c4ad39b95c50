//! The records the engine answers reads with: a session, its iterations and events as stored,
//! and a session's one-line summary. The API translates these to protocol messages; it never
//! reads the store itself.

pub use crate::store::sessions::{IterationFacts, SessionHead};
pub use crate::store::{EventRow, IterationRow, SessionRow};

/// A stored JSON value of an iteration that does not parse: an error naming what and whose.
pub fn corrupt(field: &'static str, it: &IterationRow, e: serde_json::Error) -> super::EngineError {
    super::EngineError::Store(crate::store::StoreError::Corrupt {
        field,
        detail: format!("session {} iteration {}: {e}", it.session_id, it.number),
    })
}

/// An iteration record for tests.
#[cfg(test)]
pub(crate) use crate::store::iterations::sample as sample_iteration;
