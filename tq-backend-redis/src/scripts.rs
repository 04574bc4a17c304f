//! The Lua scripts that keep a row, its index entry and its partition entry
//! consistent: a put's bookkeeping, a clear, a listing.
//!
//! A large row's values never enter a script: its put sends them with a
//! plain `MSET` (cells under keys of their own) and `HSET` and runs
//! [`PUT_META`] after them in the same `MULTI`/`EXEC` (Redis hashes every
//! byte of every string that enters Lua, and a script's `HSET` copies each
//! value once more). A small row (at most
//! 8 KiB of values) is written by [`PUT_ROW`] alone, values included: one
//! command instead of four (single-row puts, one task: 2.90x the engine's
//! time against 3.16x, median of 3 alternating runs; 16 tasks: 1.81x
//! against 2.29x; BENCHMARKS.md).
//!
//! [`PUT_ROW`], [`CLEAR`] and [`LIST`] run as `EVALSHA` in a pipeline; a server that
//! does not know a script yet (first use, or after a restart) answers
//! `NOSCRIPT`, and the affected commands are sent again as `EVAL` with the
//! script's text, which also teaches the server the script. [`PUT_META`] is
//! always sent as `EVAL` (its text is 1.6 KiB; only rows over 8 KiB use it): inside
//! `MULTI`/`EXEC` a `NOSCRIPT` only shows at `EXEC`, after the `HSET` of the
//! same transaction has run, so an unknown script must never happen there.

use std::sync::LazyLock;

use crate::wire::Command;

/// One Lua script (indentation and comment lines removed, as they would be
/// sent with every `EVAL`) and its SHA1.
#[derive(Debug)]
pub struct LuaScript {
    code: String,
    sha: String,
}

impl LuaScript {
    fn new(source: &'static str) -> Self {
        let code: String = source
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("--"))
            .map(|l| format!("{l}\n"))
            .collect();
        let sha = redis::Script::new(&code).get_hash().to_owned();
        LuaScript { code, sha }
    }

    /// `EVALSHA sha numkeys keys...` (or `EVAL code ...` with `by_text`);
    /// append the arguments to the returned command.
    pub fn invocation(&self, by_text: bool, keys: &[&[u8]]) -> Command {
        let mut cmd = if by_text {
            let mut c = Command::new("EVAL");
            c.arg(&self.code);
            c
        } else {
            let mut c = Command::new("EVALSHA");
            c.arg(&self.sha);
            c
        };
        cmd.arg(keys.len().to_string());
        for k in keys {
            cmd.arg(*k);
        }
        cmd
    }
}

/// A put's bookkeeping of one row (sequence, index and partition entries
/// of a new row) and the row's state after the write (`lua/put_meta.lua`,
/// after the functions it shares with [`PUT_ROW`], `lua/row_state.lua`);
/// never sees a value.
pub static PUT_META: LazyLock<LuaScript> = LazyLock::new(|| {
    LuaScript::new(concat!(
        include_str!("lua/row_state.lua"),
        include_str!("lua/put_meta.lua")
    ))
});
/// A small row's whole write: `HSET` of its pairs, then [`PUT_META`]'s
/// bookkeeping (`lua/put_row.lua`), as one `EVALSHA`.
pub static PUT_ROW: LazyLock<LuaScript> = LazyLock::new(|| {
    LuaScript::new(concat!(
        include_str!("lua/row_state.lua"),
        include_str!("lua/put_row.lua")
    ))
});
/// Removes one row (`lua/clear.lua`).
pub static CLEAR: LazyLock<LuaScript> =
    LazyLock::new(|| LuaScript::new(include_str!("lua/clear.lua")));
/// Lists one bucket (`lua/list.lua`).
pub static LIST: LazyLock<LuaScript> =
    LazyLock::new(|| LuaScript::new(include_str!("lua/list.lua")));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_are_sent_without_comment_lines() {
        for script in [&*PUT_META, &*PUT_ROW, &*CLEAR, &*LIST] {
            assert!(script.code.contains("redis.call"));
            assert!(
                !script
                    .code
                    .lines()
                    .any(|l| l.trim_start().starts_with("--"))
            );
            assert_eq!(script.sha.len(), 40);
        }
        // The put script never gets a cell's value: its arguments are the
        // sequence, the key, the partition, the creates flag, the stamp,
        // how to publish, field names and the tag entries set; it writes
        // only 'v' and 's'.
        assert!(!PUT_META.code.contains("unpack"));
        let hsets: Vec<&str> = PUT_META
            .code
            .lines()
            .filter(|l| l.contains("'HSET'"))
            .collect();
        assert_eq!(
            hsets,
            [
                "redis.call('HSET', row, 'v', ARGV[5])",
                "redis.call('HSET', row, 'v', ARGV[5], 's', seq)"
            ]
        );
        // Its text goes with every large row's `EVAL` (1.6 KiB against a
        // row of 9 x 32 KiB: 0.6%); keep it small.
        assert!(PUT_META.code.len() < 1700, "{}", PUT_META.code.len());
    }
}
