//! The supervisor: which actor drives which session.
//!
//! Every command for a session goes through [`Supervisor::send`], which hands it to the
//! session's actor, starting one when there is none. The map is locked while a command is
//! queued and while an idle actor retires, so a command is either in the inbox of an actor that
//! will read it or starts a new actor: never lost, and never read by two actors. A session has at
//! most one actor at any time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::commands::Command;

/// The receiving end of a session's commands, owned by its actor.
pub(crate) struct Inbox {
    pub(crate) rx: mpsc::UnboundedReceiver<Command>,
    /// Which spawn of the session's actor this is (a retired actor must not remove its successor).
    pub(crate) generation: u64,
}

struct Entry {
    tx: mpsc::UnboundedSender<Command>,
    generation: u64,
    task: Option<JoinHandle<()>>,
}

/// What `send` did with a command.
pub(crate) enum Delivery {
    /// An actor already running has it.
    Queued,
    /// No actor ran: the caller must start this one with `actor::run`.
    Spawn(Inbox),
}

#[derive(Default)]
pub(crate) struct Supervisor {
    actors: Mutex<HashMap<i64, Entry>>,
    generations: AtomicU64,
    /// Actors that ever drove each session at the same time as another (a test's witness).
    #[cfg(test)]
    pub(crate) overlaps: std::sync::atomic::AtomicUsize,
    #[cfg(test)]
    driving: Mutex<std::collections::HashSet<i64>>,
}

impl Supervisor {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Entry>> {
        // A panic while holding this lock cannot leave the map half-edited (every edit is one
        // insert or remove), so a poisoned lock is still good.
        self.actors.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues `command` for the session's actor, or says that one must be started (with the
    /// command already in its inbox). `None` queues nothing and only ensures an actor runs.
    pub(crate) fn send(&self, id: i64, command: Option<Command>) -> Delivery {
        let mut actors = self.lock();
        if let Some(entry) = actors.get(&id) {
            match command {
                None => return Delivery::Queued,
                Some(command) => match entry.tx.send(command) {
                    Ok(()) => return Delivery::Queued,
                    // The actor is gone without retiring (it was aborted at shutdown): replace it.
                    Err(mpsc::error::SendError(command)) => {
                        actors.remove(&id);
                        return self.fresh(&mut actors, id, Some(command));
                    }
                },
            }
        }
        self.fresh(&mut actors, id, command)
    }

    fn fresh(&self, actors: &mut HashMap<i64, Entry>, id: i64, command: Option<Command>) -> Delivery {
        let (tx, rx) = mpsc::unbounded_channel();
        if let Some(command) = command {
            // The receiver is alive in this scope: the send cannot fail.
            let _ = tx.send(command);
        }
        let generation = self.generations.fetch_add(1, Ordering::Relaxed) + 1;
        actors.insert(id, Entry { tx, generation, task: None });
        Delivery::Spawn(Inbox { rx, generation })
    }

    /// Records the task of a freshly spawned actor, so shutdown can abort it.
    pub(crate) fn started(&self, id: i64, generation: u64, task: JoinHandle<()>) {
        let mut actors = self.lock();
        match actors.get_mut(&id) {
            Some(entry) if entry.generation == generation => entry.task = Some(task),
            // It already retired (a very short life): nothing to keep.
            _ => {}
        }
    }

    /// An actor with nothing to do asks to end. It may, unless a command reached its inbox in
    /// the meantime (then it must handle it first): decided under the lock senders take, so no
    /// command can slip in between.
    pub(crate) fn retire(&self, id: i64, inbox: &Inbox) -> bool {
        let mut actors = self.lock();
        if !inbox.rx.is_empty() {
            return false;
        }
        if actors.get(&id).is_some_and(|e| e.generation == inbox.generation) {
            actors.remove(&id);
        }
        true
    }

    /// Ends every actor (daemon shutdown). Sessions keep their state in the store and training
    /// keeps running; the next daemon resumes them.
    pub(crate) fn abort_all(&self) {
        let actors = std::mem::take(&mut *self.lock());
        for (_, entry) in actors {
            if let Some(task) = entry.task {
                task.abort();
            }
        }
    }

    /// Whether the session has an actor now.
    #[cfg(test)]
    pub(crate) fn live(&self, id: i64) -> bool {
        self.lock().contains_key(&id)
    }

    /// Test witness: called when an actor starts and stops driving a session.
    #[cfg(test)]
    pub(crate) fn driving(&self, id: i64, on: bool) {
        let mut driving = self.driving.lock().unwrap_or_else(|p| p.into_inner());
        if on {
            if !driving.insert(id) {
                self.overlaps.fetch_add(1, Ordering::SeqCst);
            }
        } else {
            driving.remove(&id);
        }
    }
}
