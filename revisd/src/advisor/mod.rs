//! Advisors decide what the next iteration changes. `search` is the built-in offline advisor
//! (TPE / random / grid over `search.space`); `llm` arrives later behind the same trait.
//!
//! An advisor never touches the worktree: it returns a [`Decision`] that `changes` validates
//! and applies.

pub mod llm;
pub mod search;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// What the advisor wants next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub action: Action,
    pub rationale: String,
    #[serde(default)]
    pub hypothesis: Option<String>,
    #[serde(default)]
    pub changes: Vec<Change>,
    /// Values of the search-space parameters after this decision is applied (search advisor),
    /// stored so the advisor can learn from the iteration the decision produced.
    #[serde(default)]
    pub params: IndexMap<String, serde_json::Value>,
    /// Further changes the LLM advisor proposed at once for other free slots (trials running in
    /// parallel), each its own trial with its own rationale and hypothesis. Never nested.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub more: Vec<Decision>,
    /// New ranges (or value sets) for searched parameters: the model widens a range whose best
    /// sits at an edge, or narrows one around the good region, and the search advisor samples
    /// the new one from the next trial on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub search_space: Vec<SpaceEdit>,
}

/// One parameter's new domain in `search.space`: a numeric range keeps its type and scale and
/// takes the bounds given (one or both); a categorical one takes the new `values`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpaceEdit {
    pub param: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub low: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<serde_json::Value>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Change,
    Stop,
    Escalate,
}

/// One change of a decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// Set `key` (dotted) in a YAML, JSON or TOML file relative to the worktree root.
    ConfigEdit { file: String, key: String, value: serde_json::Value },
    /// Add, replace (`Some`) or remove (`None`) a CLI argument of the training command.
    Arg { name: String, value: Option<serde_json::Value> },
    /// Replace the training command.
    Command { text: String },
    /// A code change for a coding agent (or a human).
    Code {
        request: String,
        #[serde(default)]
        files: Vec<String>,
    },
}

/// A finished iteration as an advisor sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    pub iteration: u32,
    /// Values of the search-space parameters that iteration ran with.
    pub params: IndexMap<String, serde_json::Value>,
    /// The primary metric; `None` when the iteration failed.
    pub primary: Option<f64>,
}
