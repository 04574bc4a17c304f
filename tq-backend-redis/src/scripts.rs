//! The Lua scripts that make row writes, clears and listings atomic.
//!
//! Each runs as `EVALSHA` inside a pipeline; a server that does not know a
//! script yet (first use, or after a restart) answers `NOSCRIPT`, and the
//! affected commands are sent again as `EVAL` with the script's text, which
//! also teaches the server the script.

use std::sync::LazyLock;

use redis::Cmd;

/// One Lua script and its SHA1.
#[derive(Debug)]
pub struct LuaScript {
    code: &'static str,
    sha: String,
}

impl LuaScript {
    fn new(code: &'static str) -> Self {
        LuaScript {
            code,
            sha: redis::Script::new(code).get_hash().to_owned(),
        }
    }

    /// `EVALSHA sha numkeys keys...` (or `EVAL code ...` with `by_text`);
    /// append the arguments to the returned command.
    pub fn invocation(&self, by_text: bool, keys: &[&[u8]]) -> Cmd {
        let mut cmd = if by_text {
            let mut c = redis::cmd("EVAL");
            c.arg(self.code);
            c
        } else {
            let mut c = redis::cmd("EVALSHA");
            c.arg(&self.sha);
            c
        };
        cmd.arg(keys.len());
        for k in keys {
            cmd.arg(*k);
        }
        cmd
    }
}

/// Writes one row and returns its state (`lua/put.lua`).
pub static PUT: LazyLock<LuaScript> = LazyLock::new(|| LuaScript::new(include_str!("lua/put.lua")));
/// Removes one row (`lua/clear.lua`).
pub static CLEAR: LazyLock<LuaScript> =
    LazyLock::new(|| LuaScript::new(include_str!("lua/clear.lua")));
/// Lists one bucket (`lua/list.lua`).
pub static LIST: LazyLock<LuaScript> =
    LazyLock::new(|| LuaScript::new(include_str!("lua/list.lua")));
