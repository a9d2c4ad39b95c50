//! `read_file` and `list_directory`: line-numbered, capped reads of text files and sorted,
//! capped listings, both blind to denied paths.

use std::fs::File;
use std::io::{BufRead, BufReader, Cursor, Read};
use std::path::{Component, Path};

use serde_json::Value;

use super::Workspace;
use super::args::Args;
use crate::path_policy::{resolve, resolve_existing};

pub const MAX_READ_LINES: usize = 400;
pub const MAX_READ_BYTES: usize = 64 * 1024;
/// The numbered lines of one read; the rest of [`MAX_READ_BYTES`] is for the header and the
/// note on how to continue.
const BODY_BUDGET: usize = MAX_READ_BYTES - 512;
/// A longer line (minified JSON, a data row) is cut so one line cannot use the whole budget.
const MAX_LINE_CHARS: usize = 2000;
/// How much of a file decides whether it is binary.
pub const SNIFF_BYTES: usize = 8 * 1024;
/// After the shown range, lines are still counted (for "of N lines") up to this many bytes.
const COUNT_LIMIT_BYTES: u64 = 32 * 1024 * 1024;
pub const MAX_LIST_ENTRIES: usize = 500;

/// Directories that are never interesting to the model and can be huge; listings and searches
/// skip them (they are not hidden: `read_file` still reads inside them unless denied).
pub const NOISE_DIRS: &[&str] = &[
    ".git",
    ".revis",
    "__pycache__",
    "node_modules",
    ".venv",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    ".tox",
    ".ipynb_checkpoints",
];

/// `rel` as the model should see it: `./a//b/` → `a/b`, the root as `.`.
pub fn display_rel(rel: &str) -> String {
    let parts: Vec<String> = Path::new(rel)
        .components()
        .filter_map(|c| match c {
            Component::Normal(part) => Some(part.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    if parts.is_empty() { ".".to_string() } else { parts.join("/") }
}

/// `child` inside the directory shown as `dir`.
pub fn join_rel(dir: &str, child: &str) -> String {
    if dir == "." { child.to_string() } else { format!("{dir}/{child}") }
}

pub fn read_file(ws: &Workspace<'_>, value: &Value) -> Result<String, String> {
    let args = Args::new("read_file", value, &["path", "start_line", "end_line"])?;
    let rel = args.required_string("path")?;
    let start = args.integer("start_line", 1, u64::from(u32::MAX))?.unwrap_or(1);
    let end = args.integer("end_line", 1, u64::from(u32::MAX))?;
    if let Some(end) = end
        && end < start
    {
        return Err(format!("read_file: end_line ({end}) is before start_line ({start})"));
    }
    let real = resolve_existing(ws.root, rel, ws.deny).map_err(|e| e.to_string())?;
    let shown = display_rel(rel);
    let meta = std::fs::metadata(&real).map_err(|_| format!("no such file or directory: {rel}"))?;
    if meta.is_dir() {
        return Err(format!("`{shown}` is a directory; use list_directory to see what it holds"));
    }
    if !meta.is_file() {
        return Err(format!("`{shown}` is not a regular file"));
    }
    let mut file = open_no_follow(&real).map_err(|e| format!("cannot open `{shown}`: {e}"))?;
    let mut sniff = Vec::with_capacity(SNIFF_BYTES);
    (&mut file).take(SNIFF_BYTES as u64).read_to_end(&mut sniff).map_err(|e| format!("cannot read `{shown}`: {e}"))?;
    let binary = || format!("`{shown}` is a binary file (or not UTF-8 text); read_file only shows text");
    if sniff.contains(&0) {
        return Err(binary());
    }
    let reader = BufReader::new(Cursor::new(sniff).chain(file));
    let page = page(reader, start, end).map_err(|e| match e {
        PageError::Binary => binary(),
        PageError::Io(e) => format!("cannot read `{shown}`: {e}"),
    })?;
    render(&shown, start, end, &page)
}

/// Opens a path `resolve` returned, refusing a symlink in its last component: `resolve` proved
/// where every link led when it looked, and a link put there since must not be followed out of
/// the worktree. (A directory above swapped for a link in that instant is not caught; nothing
/// else runs in the worktree while the advisor reads it.)
pub fn open_no_follow(real: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().read(true).custom_flags(nix::libc::O_NOFOLLOW).open(real)
}

/// The lines of one read, and what was learnt about the rest of the file.
struct Page {
    body: String,
    /// Number of the last line shown (0 when none).
    last: u64,
    /// The file's line count, when it was counted to the end.
    total: Option<u64>,
    /// Where to continue when a cap stopped the read early.
    next: Option<u64>,
}

enum PageError {
    Binary,
    Io(std::io::Error),
}

fn page(mut reader: impl BufRead, start: u64, end: Option<u64>) -> Result<Page, PageError> {
    let mut body = String::new();
    let (mut number, mut shown, mut last, mut next) = (0u64, 0usize, 0u64, None);
    let mut consumed = 0u64;
    let mut buf = Vec::new();
    let mut total = None;
    loop {
        buf.clear();
        let read = reader.read_until(b'\n', &mut buf).map_err(PageError::Io)?;
        if read == 0 {
            total = Some(number);
            break;
        }
        number += 1;
        consumed += read as u64;
        let in_range = number >= start && end.is_none_or(|e| number <= e) && next.is_none();
        if in_range {
            let text = std::str::from_utf8(&buf).map_err(|_| PageError::Binary)?;
            let text = text.trim_end_matches('\n').trim_end_matches('\r');
            let line = format!("{number:>6}\t{}\n", super::clip_line(text, MAX_LINE_CHARS));
            if shown >= MAX_READ_LINES || (shown > 0 && body.len() + line.len() > BODY_BUDGET) {
                next = Some(number);
            } else {
                body.push_str(&line);
                shown += 1;
                last = number;
            }
        }
        let past_range = next.is_some() || end.is_some_and(|e| number >= e);
        if past_range && consumed >= COUNT_LIMIT_BYTES {
            break;
        }
    }
    Ok(Page { body, last, total, next })
}

fn render(shown: &str, start: u64, end: Option<u64>, page: &Page) -> Result<String, String> {
    let of = match page.total {
        Some(total) => format!("{total} lines"),
        None => "a long file".to_string(),
    };
    if page.total == Some(0) {
        return Ok(format!("`{shown}` is empty (0 lines)"));
    }
    if page.last == 0 {
        return Err(format!("start_line {start} is past the end of `{shown}` ({of})"));
    }
    let mut out = format!("{shown} (lines {start}-{} of {of}):\n{}", page.last, page.body);
    if let Some(next) = page.next {
        let until = end.map(|e| format!(", \"end_line\": {e}")).unwrap_or_default();
        out.push_str(&format!(
            "[stopped at {MAX_READ_LINES} lines / 64 KiB per call; continue with read_file \
             {{\"path\": \"{shown}\", \"start_line\": {next}{until}}}]\n"
        ));
    } else if page.total.is_none_or(|total| page.last < total) && end.is_some() {
        out.push_str(&format!("[more lines follow line {}]\n", page.last));
    }
    Ok(out)
}

pub fn list_directory(ws: &Workspace<'_>, value: &Value) -> Result<String, String> {
    let args = Args::new("list_directory", value, &["path"])?;
    let rel = args.string("path")?.filter(|p| !p.trim().is_empty()).unwrap_or(".");
    let real = resolve_existing(ws.root, rel, ws.deny).map_err(|e| e.to_string())?;
    let shown = display_rel(rel);
    if !real.is_dir() {
        return Err(format!("`{shown}` is a file, not a directory; use read_file to read it"));
    }
    let real_root = ws.real_root()?;
    let entries = std::fs::read_dir(&real).map_err(|e| format!("cannot list `{shown}`: {e}"))?;
    let mut listed: Vec<(String, Option<u64>)> = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let child = join_rel(&shown, &name);
        if NOISE_DIRS.contains(&name.as_str()) || ws.hidden(&real_root, &child, &entry.path()) {
            continue;
        }
        // A symlink is shown as what it leads to, and only when that is visible too.
        let meta = match entry.file_type() {
            Ok(t) if t.is_symlink() => match resolve(ws.root, &child, ws.deny) {
                Ok(target) => std::fs::metadata(target).ok(),
                Err(_) => None,
            },
            Ok(_) => entry.metadata().ok(),
            Err(_) => None,
        };
        match meta {
            Some(m) if m.is_dir() => listed.push((format!("{name}/"), None)),
            Some(m) if m.is_file() => listed.push((name, Some(m.len()))),
            _ => {}
        }
    }
    listed.sort();
    let total = listed.len();
    let mut out = format!("{shown}/ ({total} entries)\n");
    if total == 0 {
        out = format!("{shown}/ is empty\n");
    }
    for (name, size) in listed.iter().take(MAX_LIST_ENTRIES) {
        match size {
            Some(size) => out.push_str(&format!("{name}  ({})\n", human_size(*size))),
            None => out.push_str(&format!("{name}\n")),
        }
    }
    if total > MAX_LIST_ENTRIES {
        out.push_str(&format!(
            "[{} more entries not shown; list a subdirectory or use search_code]\n",
            total - MAX_LIST_ENTRIES
        ));
    }
    Ok(out)
}

fn human_size(bytes: u64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let b = bytes as f64;
    match bytes {
        0..1024 => format!("{bytes} B"),
        1024..1_048_576 => format!("{:.1} KiB", b / 1024.0),
        1_048_576..1_073_741_824 => format!("{:.1} MiB", b / 1_048_576.0),
        _ => format!("{:.1} GiB", b / 1_073_741_824.0),
    }
}
