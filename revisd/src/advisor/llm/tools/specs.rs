//! The tools as the model sees them: names, descriptions and JSON schemas. The descriptions are
//! the model's only manual, so they say what each tool returns, its limits and how to page.
//! Schemas use only what Anthropic, OpenAI and OpenAI-compatible servers all accept (`type`,
//! `enum`, `anyOf`, `required`, `additionalProperties`).

use serde_json::{Value, json};

use super::files::{MAX_LIST_ENTRIES, MAX_READ_LINES};
use super::logs::{DEFAULT_ERROR_LINES, DEFAULT_METRIC_LINES, DEFAULT_TAIL, MAX_HISTORY, MAX_LOG_LINES};
use super::search::{DEFAULT_RESULTS, MAX_RESULTS};
use crate::advisor::llm::chat::ToolSpec;

pub const SUBMIT_DECISION: &str = "submit_decision";

fn spec(name: &str, description: String, parameters: Value) -> ToolSpec {
    ToolSpec { name: name.to_string(), description, parameters }
}

fn object(properties: Value, required: &[&str]) -> Value {
    json!({ "type": "object", "properties": properties, "required": required, "additionalProperties": false })
}

/// Every tool, `submit_decision` last (its definition is the one providers cache up to).
pub fn tool_specs() -> Vec<ToolSpec> {
    vec![
        spec(
            "read_file",
            format!(
                "Read a text file of the repository, with line numbers (`  12\\tcode`). Paths are relative to \
                 the repository root. At most {MAX_READ_LINES} lines or 64 KiB are returned per call; the output \
                 then says which start_line to continue from. Binary files are refused. Some files are hidden \
                 and read as missing."
            ),
            object(
                json!({
                    "path": {"type": "string", "description": "File path relative to the repository root, e.g. `configs/base.yaml`."},
                    "start_line": {"type": "integer", "minimum": 1, "description": "First line to show (1-based). Default 1."},
                    "end_line": {"type": "integer", "minimum": 1, "description": "Last line to show (inclusive). Default: as far as the limit allows."}
                }),
                &["path"],
            ),
        ),
        spec(
            "list_directory",
            format!(
                "List a directory of the repository, sorted by name: subdirectories end with `/`, files show \
                 their size. Caches and environments (.git, __pycache__, node_modules, .venv, ...) and hidden \
                 files are left out. At most {MAX_LIST_ENTRIES} entries."
            ),
            object(
                json!({
                    "path": {"type": "string", "description": "Directory relative to the repository root. Default `.` (the root)."}
                }),
                &[],
            ),
        ),
        spec(
            "search_code",
            format!(
                "Search the repository's text files with a regular expression (Rust regex syntax; `(?i)` for \
                 case-insensitive), line by line. Returns `path:line: text` for each match, in path order. \
                 Binary files, files over 1 MiB, caches and hidden files are skipped. Default {DEFAULT_RESULTS} \
                 matches, at most {MAX_RESULTS}."
            ),
            object(
                json!({
                    "pattern": {"type": "string", "description": "Regular expression, e.g. `lr|learning_rate` or `def train\\(`."},
                    "path": {"type": "string", "description": "Directory or file to search, relative to the repository root. Default `.`."},
                    "max_results": {"type": "integer", "minimum": 1, "maximum": MAX_RESULTS, "description": "Maximum number of matches to return."}
                }),
                &["pattern"],
            ),
        ),
        spec(
            "get_training_logs",
            format!(
                "Read the training log (stdout and stderr) of an iteration. Modes: `tail` = its last lines \
                 (default {DEFAULT_TAIL}); `errors` = lines with errors, exceptions, tracebacks, NaN or inf, \
                 with a few lines of context (default {DEFAULT_ERROR_LINES} lines); `metrics` = the last lines \
                 that print metrics like `loss=0.3` or `acc: 0.9` (default {DEFAULT_METRIC_LINES}). Only the end \
                 of a long log is available."
            ),
            object(
                json!({
                    "iteration": {"type": "integer", "minimum": 0, "description": "Iteration number (0 is the baseline). Default: the latest iteration that has a log."},
                    "mode": {"type": "string", "enum": ["tail", "errors", "metrics"], "description": "What to extract. Default `tail`."},
                    "lines": {"type": "integer", "minimum": 1, "maximum": MAX_LOG_LINES, "description": "Maximum number of lines to return."}
                }),
                &[],
            ),
        ),
        spec(
            "get_history",
            "The past iterations of this session as JSON, oldest first: each one's changes, hypothesis, \
             metrics and outcome."
                .to_string(),
            object(
                json!({
                    "last": {"type": "integer", "minimum": 1, "maximum": MAX_HISTORY, "description": "Only the most recent N iterations. Default: all."}
                }),
                &[],
            ),
        ),
        spec(
            "suggest_search_point",
            "The offline search advisor's (TPE's) next point for this session's `search.space`, given every \
             run so far and those in flight: its parameter values, the changes that would set them (ready for \
             `submit_decision`), and `expected_improvement`, TPE's expected improvement relative to a point \
             the good and poor runs make equally likely (1 = no better, larger is better; null during its \
             warm-up draws). Use it to weigh a numeric tweak against a structural change."
                .to_string(),
            object(json!({}), &[]),
        ),
        spec(SUBMIT_DECISION, submit_description(), submit_schema()),
    ]
}

fn submit_description() -> String {
    "Submit your decision for the next iteration; call it exactly once, when you are done investigating. \
     `change` runs a new iteration with `changes` applied to the best state so far; `stop` ends the session \
     (the goal is reached or nothing promising is left); `escalate` pauses it for a human. Changes: \
     `config_edit` sets an existing key (dotted, e.g. `optimizer.lr`) of a YAML, JSON or TOML file to a value \
     of the same type; `arg` adds, replaces or (value null) removes a command-line option of the training \
     command (a boolean true makes it a bare flag, false removes it); `command` replaces the whole training \
     command; `code` asks for a code change described in `request`. The decision is checked before anything \
     is applied: if a file or key does not exist or a value has the wrong type, you get the list of problems \
     back and can submit a corrected decision. When the prompt says several slots are free (trials run in \
     parallel), `more` may hold further changes to run at the same time, each its own trial with its own \
     rationale and hypothesis. `search_space` widens or narrows the declared search space."
        .to_string()
}

fn submit_schema() -> Value {
    let scalar = json!({"type": ["string", "number", "boolean"]});
    let change = json!({
        "anyOf": [
            object(
                json!({
                    "kind": {"type": "string", "enum": ["config_edit"]},
                    "file": {"type": "string", "description": "Config file relative to the repository root."},
                    "key": {"type": "string", "description": "Dotted key of an existing scalar, e.g. `optimizer.lr`."},
                    "value": scalar.clone()
                }),
                &["kind", "file", "key", "value"],
            ),
            object(
                json!({
                    "kind": {"type": "string", "enum": ["arg"]},
                    "name": {"type": "string", "description": "Option name with its dashes, e.g. `--batch-size`."},
                    "value": {"type": ["string", "number", "boolean", "null"], "description": "New value; null removes the option."}
                }),
                &["kind", "name", "value"],
            ),
            object(
                json!({
                    "kind": {"type": "string", "enum": ["command"]},
                    "text": {"type": "string", "description": "The complete new training command."}
                }),
                &["kind", "text"],
            ),
            object(
                json!({
                    "kind": {"type": "string", "enum": ["code"]},
                    "request": {"type": "string", "description": "What the code change must do, precisely."},
                    "files": {"type": "array", "items": {"type": "string"}, "description": "Files most relevant to the change."}
                }),
                &["kind", "request"],
            ),
        ]
    });
    object(
        json!({
            "action": {"type": "string", "enum": ["change", "stop", "escalate"]},
            "rationale": {"type": "string", "description": "Why, citing the evidence (metrics, logs, code)."},
            "hypothesis": {"type": "string", "description": "What you expect the change to do to the metric, and why."},
            "changes": {"type": "array", "items": change.clone(), "description": "Required for `change`; empty otherwise."},
            "more": {
                "type": "array",
                "description": "Only with `change`, and only when several slots are free: further changes to try at once, each its own trial. At most as many as the free slots less one.",
                "items": object(
                    json!({
                        "rationale": {"type": "string", "description": "Why, citing the evidence."},
                        "hypothesis": {"type": "string", "description": "What you expect this change to do, and why."},
                        "changes": {"type": "array", "items": change}
                    }),
                    &["rationale", "changes"],
                )
            },
            "search_space": {
                "type": "array",
                "description": "Only with `change`, in a session with a search space: new domains for searched parameters, which the search advisor samples from the next trial on. Widen a range whose best value sits at an edge; narrow one around the region that works. A numeric range keeps its type and scale and takes `low` and/or `high`; a categorical parameter takes `values`.",
                "items": object(
                    json!({
                        "param": {"type": "string", "description": "A parameter of the search space, as named there."},
                        "low": {"type": "number", "description": "New lower bound of a numeric range."},
                        "high": {"type": "number", "description": "New upper bound of a numeric range."},
                        "values": {"type": "array", "items": {"type": ["string", "number", "boolean"]}, "description": "New values of a categorical parameter."}
                    }),
                    &["param"],
                )
            }
        }),
        &["action", "rationale"],
    )
}
