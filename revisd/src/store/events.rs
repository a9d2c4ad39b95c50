//! The per-session event log. Sequence numbers are dense and start at 1; an event is written in
//! the same transaction as the state change it reports and broadcast only after commit.

use sqlx::{FromRow, SqlitePool};

use super::{Doing, Result, Tx};

#[derive(Debug, Clone, FromRow)]
pub struct EventRow {
    pub session_id: i64,
    pub seq: i64,
    pub at: String,
    pub kind: String,
    pub iteration: Option<i64>,
    pub message: String,
    pub data: String,
}

#[derive(Debug, Clone)]
pub struct NewEvent {
    pub kind: &'static str,
    pub iteration: Option<u32>,
    pub message: String,
    pub data: serde_json::Value,
}

impl NewEvent {
    pub fn new(kind: &'static str, iteration: Option<u32>, message: impl Into<String>) -> Self {
        Self { kind, iteration, message: message.into(), data: serde_json::Value::Null }
    }

    pub fn with_data(mut self, data: serde_json::Value) -> Self {
        self.data = data;
        self
    }
}

pub async fn append(tx: &mut Tx, session_id: i64, event: NewEvent) -> Result<EventRow> {
    let seq: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) + 1 FROM events WHERE session_id = ?")
        .bind(session_id)
        .fetch_one(&mut **tx)
        .await
        .doing("numbering an event")?;
    let data = if event.data.is_null() { "{}".to_string() } else { event.data.to_string() };
    let row = EventRow {
        session_id,
        seq,
        at: super::now(),
        kind: event.kind.to_string(),
        iteration: event.iteration.map(i64::from),
        message: event.message,
        data,
    };
    sqlx::query(
        "INSERT INTO events (session_id, seq, at, kind, iteration, message, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(row.session_id)
    .bind(row.seq)
    .bind(&row.at)
    .bind(&row.kind)
    .bind(row.iteration)
    .bind(&row.message)
    .bind(&row.data)
    .execute(&mut **tx)
    .await
    .doing("writing an event")?;
    Ok(row)
}

/// Events after `after_seq`, oldest first, at most `limit`.
pub async fn after(pool: &SqlitePool, session_id: i64, after_seq: i64, limit: i64) -> Result<Vec<EventRow>> {
    sqlx::query_as("SELECT * FROM events WHERE session_id = ? AND seq > ? ORDER BY seq LIMIT ?")
        .bind(session_id)
        .bind(after_seq)
        .bind(limit)
        .fetch_all(pool)
        .await
        .doing("reading events")
}
