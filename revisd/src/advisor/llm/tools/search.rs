//! `search_code`: a regex over the text files of the worktree (or one directory or file of it),
//! walking in a stable order and skipping what the model may not or need not see: denied
//! paths, noise directories, symlinks (which could loop or lead into hidden places), binary
//! and large files.

use std::io::Read;
use std::path::{Path, PathBuf};

use regex::{Regex, RegexBuilder};
use serde_json::Value;

use super::Workspace;
use super::args::Args;
use super::files::{NOISE_DIRS, SNIFF_BYTES, display_rel, join_rel, open_no_follow};
use crate::path_policy::resolve_existing;

pub const DEFAULT_RESULTS: u64 = 50;
pub const MAX_RESULTS: u64 = 200;
/// Larger files are data or generated code, not what a regex over source should scan.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// A bound on the walk itself, so a huge tree cannot stall a decision.
const MAX_FILES: usize = 20_000;
const MAX_MATCH_CHARS: usize = 300;

pub fn search_code(ws: &Workspace<'_>, value: &Value) -> Result<String, String> {
    let args = Args::new("search_code", value, &["pattern", "path", "max_results"])?;
    let pattern = args.required_string("pattern")?;
    let rel = args.string("path")?.filter(|p| !p.trim().is_empty()).unwrap_or(".");
    let max = usize::try_from(args.integer("max_results", 1, MAX_RESULTS)?.unwrap_or(DEFAULT_RESULTS)).unwrap_or(50);
    let regex = RegexBuilder::new(pattern)
        .size_limit(1 << 22)
        .build()
        .map_err(|e| format!("search_code: invalid regex {pattern:?}: {e}"))?;
    let real = resolve_existing(ws.root, rel, ws.deny).map_err(|e| e.to_string())?;
    let shown = display_rel(rel);

    let real_root = ws.real_root()?;
    let mut search = Search { ws, real_root, regex: &regex, max, hits: Vec::new(), files: 0, full: false };
    if real.is_dir() {
        search.walk(real, shown.clone());
    } else {
        search.file(&real, &shown);
    }
    let mut out = if search.hits.is_empty() {
        format!("no matches for /{pattern}/ in `{shown}`\n")
    } else {
        search.hits.join("\n") + "\n"
    };
    if search.full {
        out.push_str(&format!("[stopped at {max} matches; narrow the pattern or the path, or raise max_results]\n"));
    } else if search.files >= MAX_FILES {
        out.push_str(&format!("[stopped after scanning {MAX_FILES} files; search a subdirectory]\n"));
    }
    Ok(out)
}

struct Search<'a> {
    ws: &'a Workspace<'a>,
    real_root: PathBuf,
    regex: &'a Regex,
    max: usize,
    hits: Vec<String>,
    files: usize,
    full: bool,
}

impl Search<'_> {
    fn done(&self) -> bool {
        self.full || self.files >= MAX_FILES
    }

    /// Depth-first with entries in name order (files and directories interleaved), so results
    /// come in path order and are the same from one call to the next.
    fn walk(&mut self, dir: PathBuf, shown: String) {
        let mut stack = vec![(shown, dir, true)];
        while let Some((shown, path, is_dir)) = stack.pop() {
            if !is_dir {
                self.file(&path, &shown);
                if self.done() {
                    return;
                }
                continue;
            }
            let Ok(entries) = std::fs::read_dir(&path) else {
                continue;
            };
            let mut children: Vec<(String, PathBuf, bool)> = entries
                .flatten()
                .filter_map(|entry| {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    let kind = entry.file_type().ok()?;
                    if kind.is_symlink() || NOISE_DIRS.contains(&name.as_str()) {
                        return None;
                    }
                    let child = join_rel(&shown, &name);
                    if self.ws.hidden(&self.real_root, &child, &entry.path()) {
                        return None;
                    }
                    Some((child, entry.path(), kind.is_dir()))
                })
                .collect();
            children.sort();
            stack.extend(children.into_iter().rev());
        }
    }

    fn file(&mut self, path: &Path, shown: &str) {
        self.files += 1;
        // Opened without following a last-component symlink, and checked through the open file,
        // so the file read is the one the walk vetted.
        let Ok(mut file) = open_no_follow(path) else {
            return;
        };
        let small = file.metadata().is_ok_and(|m| m.is_file() && m.len() <= MAX_FILE_BYTES);
        let mut text = Vec::new();
        if !small || file.read_to_end(&mut text).is_err() {
            return;
        }
        if text[..text.len().min(SNIFF_BYTES)].contains(&0) {
            return;
        }
        let Ok(text) = String::from_utf8(text) else {
            return;
        };
        for (index, line) in text.lines().enumerate() {
            if self.regex.is_match(line) {
                if self.hits.len() >= self.max {
                    self.full = true;
                    return;
                }
                let line = super::clip_line(line.trim_end_matches('\r').trim(), MAX_MATCH_CHARS);
                self.hits.push(format!("{shown}:{}: {line}", index + 1));
            }
        }
    }
}
