//! The `[update]` table of the config: how `kv_update` retries (contract
//! U4), the same for every backend.
//!
//! ```toml
//! [update]
//! max_attempts = 64          # read-merge-write rounds per call
//! initial_backoff_us = 200   # backoff bound after the first conflict
//! max_backoff_us = 20000     # largest backoff bound
//! ```

use std::time::Duration;

use serde::Deserialize;
use tq_core::{Error, Result, UpdatePolicy};

use crate::registry::parse_engine_table;

/// The name of the table; no backend can be called this.
pub(crate) const UPDATE_TABLE: &str = "update";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateTable {
    max_attempts: Option<u32>,
    initial_backoff_us: Option<u64>,
    max_backoff_us: Option<u64>,
}

/// The policy an `[update]` table describes (unset settings keep
/// [`UpdatePolicy::default`]); errors name `update.<setting>`.
pub(crate) fn parse_update_table(table: toml::Table) -> Result<UpdatePolicy> {
    let settings: UpdateTable = parse_engine_table(UPDATE_TABLE, table)?;
    let default = UpdatePolicy::default();
    let mut policy = default;
    if let Some(n) = settings.max_attempts {
        if n == 0 {
            return Err(Error::config(format!(
                "setting `{UPDATE_TABLE}.max_attempts` must be at least 1"
            ))
            .with_context("setting", format!("{UPDATE_TABLE}.max_attempts")));
        }
        policy = policy.with_max_attempts(n);
    }
    let initial = settings
        .initial_backoff_us
        .map_or(default.initial_backoff, Duration::from_micros);
    let max = settings
        .max_backoff_us
        .map_or(default.max_backoff, Duration::from_micros);
    if max < initial {
        return Err(Error::config(format!(
            "setting `{UPDATE_TABLE}.max_backoff_us` is below `initial_backoff_us`"
        ))
        .with_context("setting", format!("{UPDATE_TABLE}.max_backoff_us")));
    }
    Ok(policy.with_backoff(initial, max))
}
