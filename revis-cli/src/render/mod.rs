//! Everything the CLI prints for humans: tables, durations and times, metric values,
//! colour, event lines. Pure functions from proto messages to text; no I/O except asking
//! whether stdout is a terminal.

pub mod code_change;
pub mod color;
pub mod event;
pub mod session;
pub mod table;
pub mod time;
pub mod trace;
pub mod value;
