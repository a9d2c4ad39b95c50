//! Where each key of a loaded revis.yaml was written, by dotted path (`guardrails.plateau_runs`,
//! `context.deny[2]`), so semantic checks made on the typed `Config` can still point at a line.
//! Paths are spelled exactly as `decode.rs` spells them in schema errors.

use std::collections::HashMap;

use super::decode::is_int_literal;
use super::tree::{Node, NodeKind, Pos};

#[derive(Debug, Clone)]
struct Entry {
    key: Pos,
    int_literal: bool,
    /// The value's text when it is a scalar, as written (quotes removed).
    scalar: Option<String>,
}

#[derive(Debug, Default)]
pub struct KeyIndex {
    entries: HashMap<String, Entry>,
}

impl KeyIndex {
    pub fn build(root: &Node) -> Self {
        let mut index = Self::default();
        index.walk(root, "");
        index
    }

    fn walk(&mut self, node: &Node, path: &str) {
        match &node.kind {
            NodeKind::Scalar { .. } => {}
            NodeKind::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    let child = format!("{path}[{i}]");
                    self.insert(&child, item.pos, item);
                    self.walk(item, &child);
                }
            }
            NodeKind::Map(entries) => {
                for (key, value) in entries {
                    let Some(name) = key.as_key() else { continue };
                    let child = if path.is_empty() { name.to_string() } else { format!("{path}.{name}") };
                    self.insert(&child, key.pos, value);
                    self.walk(value, &child);
                }
            }
        }
    }

    fn insert(&mut self, path: &str, key: Pos, value: &Node) {
        let scalar = match &value.kind {
            NodeKind::Scalar { text, .. } => Some(text.clone()),
            _ => None,
        };
        self.entries.insert(path.to_string(), Entry { key, int_literal: is_int_literal(value), scalar });
    }

    /// Position of the key at `path`, or of its nearest written ancestor when the key itself was
    /// left out (a default), or None for an empty file.
    pub fn pos(&self, path: &str) -> Option<Pos> {
        let mut current = path;
        loop {
            if let Some(entry) = self.entries.get(current) {
                return Some(entry.key);
            }
            let cut = current.rfind(['.', '['])?;
            current = &current[..cut];
        }
    }

    /// True if the value at `path` was written as an integer literal (`3`, not `3.0`).
    pub fn is_int_literal(&self, path: &str) -> bool {
        self.entries.get(path).is_some_and(|e| e.int_literal)
    }

    /// The text of the scalar written at `path`: what a value meant before serde typed it.
    pub fn scalar(&self, path: &str) -> Option<&str> {
        self.entries.get(path).and_then(|e| e.scalar.as_deref())
    }

    pub fn contains(&self, path: &str) -> bool {
        self.entries.contains_key(path)
    }
}
