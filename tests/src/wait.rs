//! Polling with a deadline: the only way tests wait for anything. It lives in `revis-fixtures`,
//! shared with revisd's unit tests; the harness's paths stay.

pub use revis_fixtures::wait::{closed_port, wait_for, wait_until};
