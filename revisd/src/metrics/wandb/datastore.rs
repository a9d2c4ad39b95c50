//! The W&B client's transaction log, `<run dir>/run-<id>.wandb`: the only place an offline run
//! (wandb ≥ 0.19, wandb-core) keeps its summary and history; `files/wandb-summary.json` is not
//! written then.
//!
//! Format (LevelDB log): a 7-byte file header `:W&B`, magic 0xBEE1 (LE), version 0; then 32 KiB
//! blocks of chunks `crc32 (4, LE) | length (2, LE) | type (1) | data`, type 1 full, 2 first,
//! 3 middle, 4 last; fewer than 7 bytes left in a block are padding. Each record is a protobuf
//! `wandb_internal.Record`; only the fields Revis reads are declared below (tags from
//! wandb_internal.proto), prost skips the rest.
//!
//! Must not: write the file, or fail on a torn tail (a killed client leaves one): reading stops
//! at the first incomplete chunk and keeps what came before.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::summary;

const FILE_HEADER: &[u8] = b":W&B\xe1\xbe\x00";
const BLOCK: usize = 32 * 1024;
const CHUNK_HEADER: usize = 7;

#[derive(Clone, PartialEq, prost::Message)]
struct Record {
    #[prost(message, optional, tag = "2")]
    history: Option<HistoryRecord>,
    #[prost(message, optional, tag = "3")]
    summary: Option<SummaryRecord>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct HistoryRecord {
    #[prost(message, repeated, tag = "1")]
    item: Vec<Item>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct SummaryRecord {
    #[prost(message, repeated, tag = "1")]
    update: Vec<Item>,
    #[prost(message, repeated, tag = "2")]
    remove: Vec<Item>,
}

/// HistoryItem and SummaryItem share these tags. Newer clients fill `nested_key`, older `key`.
#[derive(Clone, PartialEq, prost::Message)]
struct Item {
    #[prost(string, tag = "1")]
    key: String,
    #[prost(string, repeated, tag = "2")]
    nested_key: Vec<String>,
    #[prost(string, tag = "16")]
    value_json: String,
}

impl Item {
    fn name(&self) -> String {
        if self.key.is_empty() { self.nested_key.join(".") } else { self.key.clone() }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DatastoreError {
    #[error("W&B run log {} could not be read: {source}", .path.display())]
    Unreadable { path: PathBuf, source: std::io::Error },
    #[error("{} is not a W&B run log (unexpected header)", .0.display())]
    NotALog(PathBuf),
}

/// What the log says: the final summary (numbers only) and the history rows.
#[derive(Debug, Default)]
pub struct Contents {
    pub summary: BTreeMap<String, f64>,
    pub history: Vec<BTreeMap<String, f64>>,
    /// Set when the log ended in a torn or undecodable record.
    pub truncated: bool,
}

pub fn read(path: &Path) -> Result<Contents, DatastoreError> {
    let bytes =
        std::fs::read(path).map_err(|source| DatastoreError::Unreadable { path: path.to_path_buf(), source })?;
    if !bytes.starts_with(FILE_HEADER) {
        return Err(DatastoreError::NotALog(path.to_path_buf()));
    }
    let mut contents = Contents::default();
    let mut summary_json: BTreeMap<String, String> = BTreeMap::new();
    let (records, torn) = records(&bytes);
    contents.truncated = torn;
    for record in records {
        let Ok(record) = <Record as prost::Message>::decode(record.as_slice()) else {
            contents.truncated = true;
            break;
        };
        if let Some(history) = record.history {
            let row = history.item.iter().filter_map(|i| number(&i.value_json).map(|n| (i.name(), n))).collect();
            contents.history.push(row);
        }
        if let Some(update) = record.summary {
            for item in &update.update {
                summary_json.insert(item.name(), item.value_json.clone());
            }
            for item in &update.remove {
                summary_json.remove(&item.name());
            }
        }
    }
    for (name, json) in summary_json {
        match serde_json::from_str::<serde_json::Value>(&json) {
            Ok(value) => summary::flatten(&name, &value, &mut contents.summary),
            Err(_) => {
                if let Some(n) = number(&json) {
                    contents.summary.insert(name, n);
                }
            }
        }
    }
    Ok(contents)
}

/// A scalar `value_json`; Python writes NaN and infinities as bare tokens.
fn number(json: &str) -> Option<f64> {
    match json.trim() {
        "NaN" => Some(f64::NAN),
        "Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        other => serde_json::from_str::<f64>(other).ok(),
    }
}

/// Reassembled record payloads, and whether the log ended in a torn chunk.
fn records(bytes: &[u8]) -> (Vec<Vec<u8>>, bool) {
    let mut out = Vec::new();
    let mut pending: Option<Vec<u8>> = None;
    let mut offset = FILE_HEADER.len();
    while offset < bytes.len() {
        let left_in_block = BLOCK - offset % BLOCK;
        if left_in_block < CHUNK_HEADER {
            offset += left_in_block;
            continue;
        }
        let Some(header) = bytes.get(offset..offset + CHUNK_HEADER) else { return (out, true) };
        let length = usize::from(u16::from_le_bytes([header[4], header[5]]));
        let kind = header[6];
        if kind == 0 && length == 0 {
            // Zero padding at the end of a preallocated or flushed block.
            offset += left_in_block;
            continue;
        }
        let start = offset + CHUNK_HEADER;
        let Some(data) = bytes.get(start..start + length) else { return (out, true) };
        offset = start + length;
        match kind {
            1 => out.push(data.to_vec()),
            2 => pending = Some(data.to_vec()),
            3 | 4 => {
                let Some(mut record) = pending.take() else { return (out, true) };
                record.extend_from_slice(data);
                if kind == 4 {
                    out.push(record);
                } else {
                    pending = Some(record);
                }
            }
            _ => return (out, true),
        }
    }
    (out, pending.is_some())
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// Encodes records the way the client does (for tests of the reader and of `local`).
    pub fn encode(records: &[Vec<u8>]) -> Vec<u8> {
        let mut out = FILE_HEADER.to_vec();
        for record in records {
            let mut rest: &[u8] = record;
            let mut first = true;
            loop {
                let left_in_block = BLOCK - out.len() % BLOCK;
                if left_in_block < CHUNK_HEADER {
                    out.resize(out.len() + left_in_block, 0);
                    continue;
                }
                let room = left_in_block - CHUNK_HEADER;
                let take = rest.len().min(room);
                let last = take == rest.len();
                let kind = match (first, last) {
                    (true, true) => 1u8,
                    (true, false) => 2,
                    (false, false) => 3,
                    (false, true) => 4,
                };
                out.extend_from_slice(&[0, 0, 0, 0]);
                out.extend_from_slice(&(take as u16).to_le_bytes());
                out.push(kind);
                out.extend_from_slice(&rest[..take]);
                rest = &rest[take..];
                first = false;
                if last {
                    break;
                }
            }
        }
        out
    }

    fn item(key: &str, json: &str) -> Item {
        Item { key: String::new(), nested_key: key.split('.').map(str::to_string).collect(), value_json: json.into() }
    }

    /// A history record and the summary update the client writes with it.
    pub fn step_records(step: u32, metrics: &[(&str, &str)]) -> Vec<Vec<u8>> {
        let mut items: Vec<Item> = metrics.iter().map(|(k, v)| item(k, v)).collect();
        items.push(item("_step", &step.to_string()));
        let history = Record { history: Some(HistoryRecord { item: items.clone() }), summary: None };
        let summary = Record { history: None, summary: Some(SummaryRecord { update: items, remove: vec![] }) };
        vec![prost::Message::encode_to_vec(&summary), prost::Message::encode_to_vec(&history)]
    }

    #[test]
    fn reads_summary_and_history_across_blocks_and_stops_at_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let mut records = Vec::new();
        // Enough steps (and one huge value) that records span and straddle 32 KiB blocks.
        let big = format!("\"{}\"", "x".repeat(40_000));
        for step in 0..400 {
            let loss = format!("{}", 1.0 / f64::from(step + 1));
            records.extend(step_records(step, &[("val_loss", &loss), ("eval.acc", "0.5"), ("note", &big)]));
        }
        records.extend(step_records(400, &[("val_loss", "NaN")]));
        let mut bytes = encode(&records);
        let path = dir.path().join("run-x.wandb");
        std::fs::write(&path, &bytes).unwrap();
        let c = read(&path).unwrap();
        assert!(!c.truncated);
        assert_eq!(c.history.len(), 401);
        assert_eq!(c.history[3]["val_loss"], 0.25);
        assert!(c.summary["val_loss"].is_nan());
        assert_eq!(c.summary["eval.acc"], 0.5);
        assert_eq!(c.summary["_step"], 400.0);
        assert!(!c.summary.contains_key("note"));

        bytes.truncate(bytes.len() - 3);
        std::fs::write(&path, &bytes).unwrap();
        let c = read(&path).unwrap();
        assert!(c.truncated);
        assert_eq!(c.history.len(), 400);

        std::fs::write(&path, b"not a log").unwrap();
        assert!(matches!(read(&path), Err(DatastoreError::NotALog(_))));
    }
}
