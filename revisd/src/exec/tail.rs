//! The last lines of a (possibly huge, still growing) log file, read from its end.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

const CHUNK: u64 = 8 * 1024;
/// A log of one endless line must not be read whole: past this many bytes the oldest line
/// returned is cut at its start.
const MAX_BYTES: u64 = 8 * 1024 * 1024;

/// The last `n` lines of `path` without their line endings (invalid UTF-8 is replaced).
/// A final newline does not start an empty line.
pub fn tail_lines(path: &Path, n: usize) -> io::Result<Vec<String>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    let mut start = len;
    let mut buf: Vec<u8> = Vec::new();
    // Stop once the buffer holds more than `n` line breaks (not counting the final one), so
    // the first, possibly partial line can be dropped.
    while start > 0 && len - start < MAX_BYTES && newlines(&buf) <= n {
        let step = CHUNK.min(start);
        start -= step;
        file.seek(SeekFrom::Start(start))?;
        let mut chunk = vec![0; usize::try_from(step).unwrap_or(0)];
        file.read_exact(&mut chunk)?;
        chunk.extend_from_slice(&buf);
        buf = chunk;
    }
    let text = String::from_utf8_lossy(&buf);
    let text = text.strip_suffix('\n').unwrap_or(&text);
    if text.is_empty() && start == 0 {
        return Ok(Vec::new());
    }
    let lines: Vec<&str> = text.split('\n').collect();
    let skip = lines.len().saturating_sub(n);
    Ok(lines[skip..].iter().map(|l| l.strip_suffix('\r').unwrap_or(l).to_string()).collect())
}

fn newlines(buf: &[u8]) -> usize {
    let body = buf.strip_suffix(b"\n").unwrap_or(buf);
    body.iter().filter(|&&b| b == b'\n').count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file_with(content: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().expect("temp file");
        f.write_all(content).expect("write");
        f
    }

    #[test]
    fn last_lines_of_small_file() {
        let f = file_with(b"a\nb\r\nc\n");
        assert_eq!(tail_lines(f.path(), 2).expect("tail"), ["b", "c"]);
        assert_eq!(tail_lines(f.path(), 10).expect("tail"), ["a", "b", "c"]);
        assert!(tail_lines(f.path(), 0).expect("tail").is_empty());
    }

    #[test]
    fn no_final_newline_and_empty_file() {
        let f = file_with(b"a\nb");
        assert_eq!(tail_lines(f.path(), 1).expect("tail"), ["b"]);
        let empty = file_with(b"");
        assert!(tail_lines(empty.path(), 3).expect("tail").is_empty());
    }

    #[test]
    fn big_file_reads_across_chunks() {
        let content: String = (0..50_000).map(|i| format!("line {i}\n")).collect();
        let f = file_with(content.as_bytes());
        let tail = tail_lines(f.path(), 3).expect("tail");
        assert_eq!(tail, ["line 49997", "line 49998", "line 49999"]);
        let many = tail_lines(f.path(), 5000).expect("tail");
        assert_eq!(many.len(), 5000);
        assert_eq!(many[0], "line 45000");
    }
}
