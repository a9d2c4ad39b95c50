//! Watch and logs streams. Both replay from the store and then follow, and both run in their
//! own task feeding a bounded channel: a slow or vanished client only ever blocks its own task,
//! never a session.

use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::{broadcast, mpsc};

use crate::store::{self, EventRow, SessionRow};

use super::{Engine, EngineError, Result};

const REPLAY_BATCH: i64 = 500;
const CHANNEL: usize = 256;
/// How often a log follower looks at the log file's size (one stat): new lines reach a
/// `logs -f` client within this.
const LOG_POLL: Duration = Duration::from_millis(20);
/// How often a follower re-reads the store even when nothing was announced on the bus (a
/// lagged subscription, or state changed without an event).
const FOLLOW_REFRESH: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogSource {
    Event,
    Train,
}

#[derive(Debug, Clone)]
pub struct LogChunk {
    pub source: LogSource,
    pub iteration: Option<u32>,
    pub text: String,
    /// Event chunks: the event's seq (0 for headers).
    pub seq: i64,
    /// Train chunks: the run attempt and the byte offset just past this chunk.
    pub attempt: i64,
    pub end_offset: u64,
}

impl LogChunk {
    fn event(iteration: Option<u32>, seq: i64, text: String) -> Self {
        Self { source: LogSource::Event, iteration, text, seq, attempt: 0, end_offset: 0 }
    }
    fn train(iteration: u32, attempt: i64, text: String, end_offset: u64) -> Self {
        Self { source: LogSource::Train, iteration: Some(iteration), text, seq: 0, attempt, end_offset }
    }
}

/// Where a reconnecting `logs -f` client left off.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogsResume {
    pub after_seq: i64,
    /// (iteration, attempt, offset) of the training log it was reading.
    pub train: Option<(u32, i64, u64)>,
}

impl Engine {
    /// Every event after `after_seq`, then live ones, ending after the `session_ended` event
    /// that closes the session (an earlier end followed by a resume does not close the stream).
    pub fn watch(&self, session: &SessionRow, after_seq: u64) -> mpsc::Receiver<Result<EventRow>> {
        let (tx, rx) = mpsc::channel(CHANNEL);
        let engine = self.clone();
        let id = session.id;
        tokio::spawn(async move {
            let pump = engine.pump_events(id, i64::try_from(after_seq).unwrap_or(i64::MAX), &tx);
            if let Err(e) = engine.until_closing(pump).await {
                let _ = tx.send(Err(e)).await;
            }
        });
        rx
    }

    /// Runs a stream's pump until it ends or the daemon shuts down.
    async fn until_closing(&self, pump: impl std::future::Future<Output = Result<()>>) -> Result<()> {
        let mut closing = self.closing();
        tokio::select! {
            result = pump => result,
            _ = closing.wait_for(|closing| *closing) => {
                Err(EngineError::Unavailable("revisd is shutting down; reconnect to continue".into()))
            }
        }
    }

    async fn pump_events(&self, id: i64, mut last: i64, tx: &mpsc::Sender<Result<EventRow>>) -> Result<()> {
        // Subscribe before reading the store so nothing committed in between is missed.
        let mut live = self.bus().subscribe();
        loop {
            // Replay whatever the store has beyond `last`.
            loop {
                let batch = store::events::after(self.store().pool(), id, last, REPLAY_BATCH).await?;
                let full = batch.len() as i64 == REPLAY_BATCH;
                for event in batch {
                    last = event.seq;
                    if tx.send(Ok(event)).await.is_err() {
                        return Ok(());
                    }
                }
                if !full {
                    break;
                }
            }
            if self.stream_is_over(id, last).await? {
                return Ok(());
            }
            // Follow live events until a gap or lag sends us back to the store.
            loop {
                match live.recv().await {
                    Ok(event) if event.session_id != id || event.seq <= last => continue,
                    Ok(event) if event.seq == last + 1 => {
                        last = event.seq;
                        let ended = event.kind == "session_ended";
                        if tx.send(Ok(event)).await.is_err() {
                            return Ok(());
                        }
                        if ended && self.stream_is_over(id, last).await? {
                            return Ok(());
                        }
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => break,
                    Err(broadcast::error::RecvError::Closed) => return Ok(()),
                }
            }
        }
    }

    /// The stream ends when the last event sent closed the session and the session is still
    /// closed (not resumed since).
    async fn stream_is_over(&self, id: i64, last: i64) -> Result<bool> {
        let Some(session) = store::sessions::get(self.store().pool(), id).await? else {
            return Err(EngineError::NotFound("the session was deleted".into()));
        };
        if session.is_live() {
            return Ok(false);
        }
        let newest = store::events::after(self.store().pool(), id, last - 1, 2).await?;
        Ok(newest.len() == 1 && newest[0].kind == "session_ended")
    }

    /// The script an iteration's run ran (default: the latest that started): a batch job's
    /// job.sh, else the wrapper and the command. Neither holds the environment (secrets).
    pub async fn run_script(&self, session: &SessionRow, iteration: Option<u32>) -> Result<String> {
        let pool = self.store().pool();
        let it = match iteration {
            Some(n) => store::iterations::get(pool, session.id, n)
                .await?
                .ok_or_else(|| EngineError::NotFound(format!("session '{}' has no iteration {n}", session.name)))?,
            None => latest_started(self, session.id)
                .await?
                .ok_or_else(|| EngineError::NotFound(format!("session '{}' has not run anything yet", session.name)))?,
        };
        let dir = self.iteration_run_dir(session.id, &session.name, &it);
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).ok();
        if let Some(job) = read(crate::exec::slurm::JOB_SCRIPT) {
            return Ok(job);
        }
        match (read("run.sh"), read("command.sh")) {
            (Some(run), Some(command)) => Ok(format!("# run.sh\n{run}\n# command.sh\n{command}")),
            _ => Err(EngineError::NotFound(format!("iteration {} has no run script (it has not started)", it.number))),
        }
    }

    /// Logs: with an iteration, that iteration's training log; without, the event log and then
    /// the training log of the latest iteration that ran. `follow` keeps streaming until the
    /// session (or the chosen iteration's run) ends.
    pub fn logs(
        &self,
        session: &SessionRow,
        iteration: Option<u32>,
        follow: bool,
        resume: LogsResume,
    ) -> mpsc::Receiver<Result<LogChunk>> {
        let (tx, rx) = mpsc::channel(CHANNEL);
        let engine = self.clone();
        let session = session.clone();
        tokio::spawn(async move {
            let pump = engine.pump_logs(&session, iteration, follow, resume, &tx);
            if let Err(e) = engine.until_closing(pump).await {
                let _ = tx.send(Err(e)).await;
            }
        });
        rx
    }

    async fn pump_logs(
        &self,
        session: &SessionRow,
        iteration: Option<u32>,
        follow: bool,
        resume: LogsResume,
        tx: &mpsc::Sender<Result<LogChunk>>,
    ) -> Result<()> {
        let pool = self.store().pool();
        // Subscribed before the first read: the session's events wake the follower at once.
        let mut live = self.bus().subscribe();
        let mut last_event = resume.after_seq;
        if iteration.is_none() {
            last_event = self.send_events(session.id, last_event, tx).await?;
        }
        // (iteration number, attempt, bytes already sent)
        let mut current: Option<(u32, i64, u64)> = resume.train;
        // The log file of `current`, so its last lines can be drained when the next run starts.
        let mut current_path = resume.train.map(|(n, run, _)| {
            let (replicate, attempt) = split_run(run);
            self.replicate_run_dir(session.id, &session.name, n, replicate, attempt)
        });
        loop {
            let target = match iteration {
                Some(n) => store::iterations::get(pool, session.id, n)
                    .await?
                    .ok_or_else(|| EngineError::NotFound(format!("session '{}' has no iteration {n}", session.name)))?,
                None => match latest_started(self, session.id).await? {
                    Some(it) => it,
                    None if follow => {
                        if !self.is_live(session.id).await? {
                            return Ok(());
                        }
                        wait_for_more(session.id, None, &mut live).await;
                        continue;
                    }
                    None => return Ok(()),
                },
            };
            let key = (target.number(), run_number(target.replicate, target.attempt));
            let offset = match current {
                Some((n, a, off)) if (n, a) == key => off,
                previous => {
                    // A new run started: first send what the previous one wrote after our last read.
                    if let (Some((n, a, off)), Some(prev)) = (previous, current_path.as_ref()) {
                        let (text, end) = read_from(&self.exec().log_path(prev), off).await;
                        if !text.is_empty() && tx.send(Ok(LogChunk::train(n, a, text, end))).await.is_err() {
                            return Ok(());
                        }
                    }
                    if iteration.is_none() {
                        let header = format!("--- training log of iteration {} ---\n", target.number);
                        if tx.send(Ok(LogChunk::event(Some(key.0), 0, header))).await.is_err() {
                            return Ok(());
                        }
                    }
                    0
                }
            };
            let run_dir = self.iteration_run_dir(session.id, &session.name, &target);
            let path = self.exec().log_path(&run_dir);
            let (text, new_offset) = read_from(&path, offset).await;
            current = Some((key.0, key.1, new_offset));
            current_path = Some(run_dir);
            if !text.is_empty() && tx.send(Ok(LogChunk::train(key.0, key.1, text, new_offset))).await.is_err() {
                return Ok(());
            }
            if !follow {
                return Ok(());
            }
            if iteration.is_none() {
                last_event = self.send_events(session.id, last_event, tx).await?;
            }
            let run_over = target.phase.run_is_over();
            let done = match iteration {
                Some(_) => run_over || !self.is_live(session.id).await?,
                None => !self.is_live(session.id).await?,
            };
            if done {
                // One last read so nothing written just before the end is lost.
                let (text, end) = read_from(&path, new_offset).await;
                if !text.is_empty() {
                    let _ = tx.send(Ok(LogChunk::train(key.0, key.1, text, end))).await;
                }
                return Ok(());
            }
            wait_for_more(session.id, Some((&path, new_offset)), &mut live).await;
        }
    }

    async fn send_events(&self, id: i64, mut last: i64, tx: &mpsc::Sender<Result<LogChunk>>) -> Result<i64> {
        loop {
            let batch = store::events::after(self.store().pool(), id, last, REPLAY_BATCH).await?;
            let full = batch.len() as i64 == REPLAY_BATCH;
            for event in batch {
                last = event.seq;
                let text = format!("{} {}\n", event.at, event.message);
                let chunk = LogChunk::event(event.iteration.and_then(|i| u32::try_from(i).ok()), event.seq, text);
                if tx.send(Ok(chunk)).await.is_err() {
                    return Ok(last);
                }
            }
            if !full {
                return Ok(last);
            }
        }
    }

    async fn is_live(&self, id: i64) -> Result<bool> {
        Ok(store::sessions::get(self.store().pool(), id).await?.is_some_and(|s| s.is_live()))
    }
}

/// One number per run of an iteration for the wire (`LogChunk.attempt`): the attempt, offset by
/// 1000 per baseline replicate, so a client can echo it back to resume the right file.
fn run_number(replicate: i64, attempt: i64) -> i64 {
    (replicate.max(1) - 1) * 1000 + attempt.max(1)
}

fn split_run(run: i64) -> (i64, i64) {
    let run = run.max(1);
    ((run - 1) / 1000 + 1, (run - 1) % 1000 + 1)
}

async fn latest_started(engine: &Engine, id: i64) -> Result<Option<store::IterationRow>> {
    Ok(store::iterations::latest_started(engine.store().pool(), id).await?)
}

/// Waits until the log grows past `offset`, the session records an event, or
/// [`FOLLOW_REFRESH`] passes — whichever comes first. Costs one stat per [`LOG_POLL`].
async fn wait_for_more(id: i64, log: Option<(&PathBuf, u64)>, live: &mut broadcast::Receiver<EventRow>) {
    let now = tokio::time::Instant::now();
    let refresh = now + FOLLOW_REFRESH;
    // One timer for the whole wait: other sessions' events must not keep postponing the stat.
    let mut poll = tokio::time::interval_at(now + LOG_POLL, LOG_POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut bus_open = true;
    loop {
        tokio::select! {
            event = live.recv(), if bus_open => match event {
                Ok(event) if event.session_id != id => {}
                Err(broadcast::error::RecvError::Closed) => bus_open = false,
                // Our session moved on, or we lagged and may have missed that it did.
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => return,
            },
                        _ = poll.tick() => {
                let grew = match log {
                    Some((path, offset)) => tokio::fs::metadata(path).await.is_ok_and(|m| m.len() > offset),
                    None => false,
                };
                if grew || tokio::time::Instant::now() >= refresh {
                    return;
                }
            }
        }
    }
}

/// Reads a file from `offset` to its end; a missing file reads as empty (the run has not
/// written yet). Invalid UTF-8 is replaced rather than failing the stream.
async fn read_from(path: &PathBuf, offset: u64) -> (String, u64) {
    let Ok(mut file) = tokio::fs::File::open(path).await else { return (String::new(), offset) };
    if file.seek(std::io::SeekFrom::Start(offset)).await.is_err() {
        return (String::new(), offset);
    }
    let mut bytes = Vec::new();
    match file.read_to_end(&mut bytes).await {
        Ok(n) => (String::from_utf8_lossy(&bytes).into_owned(), offset + n as u64),
        Err(_) => (String::new(), offset),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A watcher that does not read while a session emits far more events than the live
    /// channel holds must neither block the session nor miss or repeat an event: it falls
    /// back to the store and catches up in order.
    #[tokio::test]
    async fn a_slow_watcher_catches_up_from_the_store_without_gaps() {
        use crate::exec::{LocalExecutor, TmuxServer};
        use crate::store::{NewEvent, NewSession, Store};
        use std::sync::Arc;

        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("revis.db")).await.unwrap();
        let exec = Arc::new(LocalExecutor::new(TmuxServer::Socket(dir.path().join("tmux.sock"))));
        let engine = Engine::new(store.clone(), crate::paths::Home::at(dir.path()), exec);
        let mut tx = store.begin().await.unwrap();
        let sample = NewSession { budget_seconds: None, max_iterations: None, ..store::sessions::sample("s", "/p") };
        let id = store::sessions::insert(&mut tx, &sample).await.unwrap();
        tx.commit().await.unwrap();
        let session = store::sessions::get(store.pool(), id).await.unwrap().unwrap();

        let mut rx = engine.watch(&session, 0);
        const EVENTS: i64 = 3000; // well past the live channel's 1024 and the stream's 256
        for i in 0..EVENTS {
            let mut tx = store.begin().await.unwrap();
            let kind = if i == EVENTS - 1 { "session_ended" } else { "x" };
            if i == EVENTS - 1 {
                store::sessions::set_state(
                    &mut tx,
                    id,
                    crate::states::SessionState::Completed,
                    Some(crate::states::StopReason::Plateau),
                    None,
                )
                .await
                .unwrap();
            }
            let event =
                store::events::append(&mut tx, id, NewEvent::new(kind, None, format!("event {i}"))).await.unwrap();
            tx.commit().await.unwrap();
            engine.bus().publish(event);
        }
        let mut seqs = Vec::new();
        while let Some(item) = rx.recv().await {
            seqs.push(item.unwrap().seq);
        }
        assert_eq!(seqs, (1..=EVENTS).collect::<Vec<_>>());
    }

    #[test]
    fn run_numbers_round_trip_and_keep_plain_attempts_plain() {
        assert_eq!(run_number(1, 1), 1);
        assert_eq!(run_number(1, 3), 3);
        for (r, a) in [(1, 1), (1, 7), (2, 1), (3, 2)] {
            assert_eq!(split_run(run_number(r, a)), (r, a));
        }
    }
}
