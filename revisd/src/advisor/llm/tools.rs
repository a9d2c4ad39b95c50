//! The read-only tools the LLM agent calls, executed against the worktree: `read_file`,
//! `list_directory`, `search_code`, `get_training_logs`, `get_history`,
//! `suggest_search_point` (and the schema of `submit_decision`, which the agent itself handles).
//!
//! Every path goes through `path_policy::resolve`, so a denied file is invisible (listings omit it,
//! searches skip it, reads answer "no such file"); outputs are capped so one call cannot flood
//! the prompt. Tools never write, never panic on the model's input, and report a bad call as a
//! [`ToolOutcome`] with `is_error` set, in words the model can act on.

mod args;
mod files;
mod logs;
mod search;
mod specs;

use std::path::Path;

use serde_json::Value;

use crate::path_policy::Deny;
pub use specs::{SUBMIT_DECISION, tool_specs};

/// Any tool's output is cut at this size (the per-tool caps are usually lower).
pub(crate) const MAX_OUTPUT_BYTES: usize = 64 * 1024;

/// Training logs, as the engine keeps them.
pub trait LogSource {
    /// The iteration whose log this is, and the end of its training log (a few thousand lines
    /// at most; older lines may be left out). `None` asks for the latest iteration that has a
    /// log. `Err` is a message for the model ("iteration 4 has no training log").
    fn log_text(&self, iteration: Option<u32>) -> Result<(u32, String), String>;
}

/// Past iterations, as the engine summarises them.
pub trait HistorySource {
    /// The last `last` iterations (all when `None`), oldest first, as JSON: number, changes,
    /// hypothesis, metrics, outcome.
    fn history(&self, last: Option<usize>) -> Value;
}

/// The offline search advisor over the session's `search.space`, as the engine runs it.
pub trait SearchSource {
    /// Its next point for the space given every run so far (and those in flight), with the
    /// changes that would set it and its expected improvement; `Err` says why there is none (no
    /// space configured, the space exhausted).
    fn suggestion(&self) -> Result<Value, String>;
}

/// What a tool call answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolOutcome {
    pub content: String,
    pub is_error: bool,
}

impl ToolOutcome {
    fn from(result: Result<String, String>) -> Self {
        match result {
            Ok(content) => Self { content: cap(content), is_error: false },
            Err(content) => Self { content: cap(content), is_error: true },
        }
    }
}

/// Everything the tools may look at.
pub struct Workspace<'a> {
    pub root: &'a Path,
    pub deny: &'a Deny,
    /// `Sync` so the agent's future, which holds the workspace across awaits, stays `Send`.
    pub logs: &'a (dyn LogSource + Sync),
    pub history: &'a (dyn HistorySource + Sync),
    pub search: &'a (dyn SearchSource + Sync),
}

impl Workspace<'_> {
    /// Run tool `name` with the model's `args` (a JSON object). `submit_decision` is not
    /// handled here: the agent validates and records decisions.
    pub fn run_tool(&self, name: &str, args: &Value) -> ToolOutcome {
        ToolOutcome::from(match name {
            "read_file" => files::read_file(self, args),
            "list_directory" => files::list_directory(self, args),
            "search_code" => search::search_code(self, args),
            "get_training_logs" => logs::get_training_logs(self, args),
            "get_history" => logs::get_history(self, args),
            "suggest_search_point" => suggest_search_point(self, args),
            SUBMIT_DECISION => Err("submit_decision is answered by the agent, not run as a tool".to_string()),
            other => Err(format!(
                "unknown tool `{other}`; the tools are: read_file, list_directory, search_code, \
                 get_training_logs, get_history, suggest_search_point, submit_decision"
            )),
        })
    }
}

impl Workspace<'_> {
    /// The worktree's real path, which every `resolve`d path starts with.
    fn real_root(&self) -> Result<std::path::PathBuf, String> {
        self.root.canonicalize().map_err(|e| format!("cannot resolve the repository root: {e}"))
    }

    /// Whether an entry met while listing or walking is hidden: by the name the model sees
    /// (`shown`) or by where it really is (`real`, below a directory that `resolve` returned,
    /// `real_root` from [`Self::real_root`]), since a symlinked directory can give a hidden
    /// place an innocent name.
    fn hidden(&self, real_root: &Path, shown: &str, real: &Path) -> bool {
        self.deny.is_denied(Path::new(shown))
            || real.strip_prefix(real_root).map_or(true, |inside| self.deny.is_denied(inside))
    }
}

fn suggest_search_point(ws: &Workspace<'_>, value: &Value) -> Result<String, String> {
    args::Args::new("suggest_search_point", value, &[])?;
    let suggestion = ws.search.suggestion()?;
    serde_json::to_string_pretty(&suggestion).map_err(|e| format!("cannot show the suggestion: {e}"))
}

/// Cut `text` to [`MAX_OUTPUT_BYTES`] at a character boundary, saying so.
fn cap(mut text: String) -> String {
    if text.len() <= MAX_OUTPUT_BYTES {
        return text;
    }
    let mut end = MAX_OUTPUT_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push_str("\n[output cut at 64 KiB]");
    text
}

/// At most `max` characters of `line`, marking a cut.
pub(crate) fn clip_line(line: &str, max: usize) -> String {
    match line.char_indices().nth(max) {
        None => line.to_string(),
        Some((at, _)) => format!("{} … [{} more bytes]", &line[..at], line.len() - at),
    }
}

#[cfg(test)]
mod tests;
