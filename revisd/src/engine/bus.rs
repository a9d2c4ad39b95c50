//! Live fan-out of persisted events. Events are written to the store first (inside the
//! transition's transaction) and only then published here, so a watcher that replays from the
//! store and then follows the bus sees each event exactly once (it skips seqs it already has).
//! A subscriber that lags is told by `broadcast` and re-reads from the store; the session
//! never waits for a watcher.

use tokio::sync::broadcast;

use crate::store::EventRow;

#[derive(Clone)]
pub struct EventBus {
    tx: broadcast::Sender<EventRow>,
}

impl EventBus {
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(1024);
        Self { tx }
    }

    pub fn publish(&self, event: EventRow) {
        // No subscriber is not an error: nobody is watching.
        let _ = self.tx.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<EventRow> {
        self.tx.subscribe()
    }
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new()
    }
}
