//! Everything the CLI prints for humans: tables, durations and times, metric values,
//! colour, event lines. Pure functions from proto messages to text; no I/O except asking
//! whether stdout is a terminal.

pub mod chart;
pub mod code_change;
pub mod color;
pub mod event;
pub mod html;
pub mod progress;
pub mod session;
pub mod svg_chart;
pub mod table;
pub mod terminal;
pub mod time;
pub mod trace;
pub mod value;
