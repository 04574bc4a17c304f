//! The `[wait]` table of the config: how often `kv_wait` checks a backend
//! that does not push events (contract W3), the same for every backend.
//! Backends that push (all built-ins) never poll, whatever it says.
//!
//! ```toml
//! [wait]
//! poll_interval_ms = 10   # time between two checks of a waiting kv_wait
//! ```

use std::time::Duration;

use serde::Deserialize;
use tq_core::{Error, Result};

use crate::registry::parse_engine_table;

/// The name of the table; no backend can be called this.
pub(crate) const WAIT_TABLE: &str = "wait";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WaitTable {
    poll_interval_ms: Option<u64>,
}

/// The poll interval a `[wait]` table sets, if it sets one; errors name
/// `wait.<setting>`.
pub(crate) fn parse_wait_table(table: toml::Table) -> Result<Option<Duration>> {
    let settings: WaitTable = parse_engine_table(WAIT_TABLE, table)?;
    match settings.poll_interval_ms {
        Some(0) => Err(Error::config(format!(
            "setting `{WAIT_TABLE}.poll_interval_ms` must be at least 1"
        ))
        .with_context("setting", format!("{WAIT_TABLE}.poll_interval_ms"))),
        ms => Ok(ms.map(Duration::from_millis)),
    }
}
