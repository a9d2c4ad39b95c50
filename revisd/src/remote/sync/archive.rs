//! The tar stream of a sync, produced as it is sent: a blocking thread writes the entries into
//! chunks of `CHUNK` bytes and hands them over a channel of `QUEUE` slots to the task feeding
//! the remote `tar -x`. The producer waits while the queue is full, so what the sync holds is
//! a few chunks however large the worktree; a `Meter` counts it.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;

use super::SyncError;
use super::manifest::{EXEC_MODE, Entry, SYMLINK_MODE};

pub(super) const CHUNK: usize = 64 * 1024;
/// Chunks waiting for the connection. With the chunk being filled and the one being sent, the
/// sync holds at most (QUEUE + 2) × CHUNK bytes of archive.
pub(super) const QUEUE: usize = 4;

/// Archive bytes in flight: written by the producer and not yet taken by the connection.
#[derive(Debug, Default)]
pub(crate) struct Meter {
    in_flight: AtomicU64,
    peak: AtomicU64,
}

impl Meter {
    fn add(&self, n: usize) {
        let now = self.in_flight.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
        self.peak.fetch_max(now, Ordering::Relaxed);
    }

    fn sub(&self, n: usize) {
        self.in_flight.fetch_sub(n as u64, Ordering::Relaxed);
    }

    /// The most bytes in flight at once so far.
    pub(crate) fn peak(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }
}

/// Bytes of the archive on their way to the connection; they leave the meter when the chunk
/// is dropped, that is once the connection has taken them (or they were abandoned).
pub(crate) struct Chunk {
    data: Vec<u8>,
    meter: Arc<Meter>,
}

impl AsRef<[u8]> for Chunk {
    fn as_ref(&self) -> &[u8] {
        &self.data
    }
}

impl Drop for Chunk {
    fn drop(&mut self) {
        self.meter.sub(self.data.len());
    }
}

/// Why the archive stopped short.
pub(super) enum Stopped {
    /// The receiving side went away (the remote command ended, the connection dropped): its
    /// own error says why.
    Closed,
    Failed(SyncError),
}

/// Writes the tar of `files` (paths relative to `worktree`) into `tx`, blocking while the
/// queue is full. Returns the bytes handed over. Runs on a blocking thread.
pub(super) fn write(
    worktree: &Path,
    files: &[(String, Entry)],
    tx: mpsc::Sender<Chunk>,
    meter: Arc<Meter>,
) -> Result<u64, Stopped> {
    let writer = ChunkWriter { buf: Vec::with_capacity(CHUNK), tx, meter, sent: 0, closed: false, abandoned: false };
    let mut builder = tar::Builder::new(writer);
    builder.mode(tar::HeaderMode::Deterministic);
    // Fresh mtimes: tools that cache by mtime and size (Python's .pyc) must see the change.
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    for (rel, entry) in files {
        if let Err(e) = append(&mut builder, worktree, rel, entry, now) {
            let writer = builder.get_mut();
            // `tar::Builder` writes the closing blocks when dropped: they must not reach the
            // remote, where a truncated stream fails instead of passing for a complete one.
            writer.abandon();
            return Err(if writer.closed { Stopped::Closed } else { Stopped::Failed(e) });
        }
    }
    let stopped = |writer: &ChunkWriter, source| {
        if writer.closed {
            Stopped::Closed
        } else {
            Stopped::Failed(SyncError::Io { action: "archive", path: worktree.to_path_buf(), source })
        }
    };
    if let Err(e) = builder.finish() {
        let writer = builder.get_mut();
        writer.abandon();
        return Err(stopped(writer, e));
    }
    let mut writer = match builder.into_inner() {
        Ok(writer) => writer,
        Err(source) => {
            return Err(Stopped::Failed(SyncError::Io { action: "archive", path: worktree.to_path_buf(), source }));
        }
    };
    match writer.flush() {
        Ok(()) => Ok(writer.sent),
        Err(e) => Err(stopped(&writer, e)),
    }
}

fn append(
    builder: &mut tar::Builder<ChunkWriter>,
    worktree: &Path,
    rel: &str,
    entry: &Entry,
    now: u64,
) -> Result<(), SyncError> {
    let path = worktree.join(rel);
    let io = |action, source| SyncError::Io { action, path: path.clone(), source };
    let mut header = tar::Header::new_gnu();
    header.set_mtime(now);
    if entry.mode == SYMLINK_MODE {
        let target = std::fs::read_link(&path).map_err(|e| io("read link", e))?;
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_size(0);
        header.set_mode(0o777);
        return builder.append_link(&mut header, rel, &target).map_err(|e| io("archive", e));
    }
    let file = match File::open(&path) {
        Ok(file) => file,
        // Deleted since the manifest was taken: the next sync notices.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io("read", e)),
    };
    let size = file.metadata().map_err(|e| io("stat", e))?.len();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(size);
    header.set_mode(if entry.mode == EXEC_MODE { 0o755 } else { 0o644 });
    builder.append_data(&mut header, rel, Exact { file, left: size }).map_err(|e| io("archive", e))
}

/// A file's first `left` bytes, failing if it ends sooner: the header already promised that
/// many, and a short entry would shift every later one. (Bytes appended since the header was
/// written wait for the next sync, which sees a new blob id.)
struct Exact {
    file: File,
    left: u64,
}

impl Read for Exact {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = buf.len().min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.file.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the file shrank while it was being sent"));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// The tar builder's output: bytes gather into a chunk, and a full chunk goes to the queue.
struct ChunkWriter {
    buf: Vec<u8>,
    tx: mpsc::Sender<Chunk>,
    meter: Arc<Meter>,
    sent: u64,
    /// The receiver is gone: nothing more can be sent.
    closed: bool,
    /// The archive failed: later writes (the builder's closing blocks) are refused.
    abandoned: bool,
}

impl ChunkWriter {
    fn send(&mut self) -> io::Result<()> {
        let data = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        let len = data.len() as u64;
        // The chunk now carries these bytes in the meter; a refused one is dropped right here.
        let chunk = Chunk { data, meter: self.meter.clone() };
        if self.tx.blocking_send(chunk).is_err() {
            self.closed = true;
            return Err(io::Error::new(io::ErrorKind::BrokenPipe, "the remote end stopped reading the archive"));
        }
        self.sent += len;
        Ok(())
    }

    fn abandon(&mut self) {
        self.abandoned = true;
        self.meter.sub(self.buf.len());
        self.buf.clear();
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.abandoned || self.closed {
            return Err(io::Error::new(io::ErrorKind::BrokenPipe, "the archive was abandoned"));
        }
        let n = data.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        self.meter.add(n);
        if self.buf.len() == CHUNK {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() || self.abandoned || self.closed {
            return Ok(());
        }
        self.send()
    }
}

impl Drop for ChunkWriter {
    fn drop(&mut self) {
        self.meter.sub(self.buf.len());
    }
}
