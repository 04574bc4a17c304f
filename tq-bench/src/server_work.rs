//! What the Redis servers did during one put or one get: their main
//! threads' CPU time (`INFO cpu`) and the time spent inside each command
//! (`INFO commandstats`), as differences of two snapshots. Against the
//! operation's wall time this says whether the server was the bottleneck
//! (busy nearly all the time) or waited for the client, and which commands
//! cost it most (a `HSET` copies every value it stores, a `SET` keeps the
//! argument it read; scripts sent by text are hashed on every call).
//!
//! The snapshots need no `CONFIG RESETSTAT`, so a server given with
//! `--redis-url` keeps its own statistics.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Counters of the servers at one moment, summed over the nodes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerCounters {
    /// Main threads' user + system CPU seconds.
    pub cpu_secs: f64,
    /// Per command (`hset`, `config|get`, ...): calls and microseconds.
    pub commands: BTreeMap<String, (u64, u64)>,
}

impl ServerCounters {
    /// Adds one node's `INFO cpu` and `INFO commandstats` answers.
    pub fn add_info(&mut self, cpu: &str, commandstats: &str) -> Result<(), String> {
        self.cpu_secs += main_thread_cpu(cpu)
            .ok_or_else(|| format!("INFO cpu without used_cpu_* fields: {cpu:?}"))?;
        for (name, calls, usec) in parse_commandstats(commandstats) {
            let e = self.commands.entry(name).or_default();
            e.0 += calls;
            e.1 += usec;
        }
        Ok(())
    }
}

/// The main thread's CPU seconds, else the process's (servers before 6.2
/// have no `_main_thread` fields).
fn main_thread_cpu(info: &str) -> Option<f64> {
    let field = |name: &str| -> Option<f64> {
        info.lines()
            .find_map(|l| l.trim().strip_prefix(name)?.strip_prefix(':'))
            .and_then(|v| v.trim().parse().ok())
    };
    match (
        field("used_cpu_user_main_thread"),
        field("used_cpu_sys_main_thread"),
    ) {
        (Some(u), Some(s)) => Some(u + s),
        _ => Some(field("used_cpu_user")? + field("used_cpu_sys")?),
    }
}

/// `(command, calls, usec)` of each `cmdstat_<command>:calls=..,usec=..`
/// line; lines that do not parse are skipped.
pub fn parse_commandstats(info: &str) -> Vec<(String, u64, u64)> {
    info.lines()
        .filter_map(|l| {
            let (name, rest) = l.trim().strip_prefix("cmdstat_")?.split_once(':')?;
            let mut calls = None;
            let mut usec = None;
            for kv in rest.split(',') {
                match kv.split_once('=') {
                    Some(("calls", v)) => calls = v.parse().ok(),
                    Some(("usec", v)) => usec = v.parse().ok(),
                    _ => {}
                }
            }
            Some((name.to_owned(), calls?, usec?))
        })
        .collect()
}

/// One command's share of an operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandTime {
    /// Command name as Redis reports it (`hset`, `eval`, ...).
    pub command: String,
    /// Calls during the operation (commands run by scripts count too).
    pub calls: u64,
    /// Milliseconds inside the command. `exec` includes the commands it
    /// ran and `eval`/`evalsha` the commands their scripts called, so the
    /// times overlap and do not add up to the CPU time.
    pub ms: f64,
}

/// What the servers did during one operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerWork {
    /// The operation's wall time, milliseconds.
    pub wall_ms: f64,
    /// Server main-thread CPU time in that span, milliseconds (summed over
    /// the nodes of a cluster, so it may exceed the wall time there).
    pub cpu_ms: f64,
    /// The commands that took the most time, most first.
    pub top: Vec<CommandTime>,
}

/// `after - before` over `wall_ms`, with the `top` most expensive commands.
pub fn work(
    before: &ServerCounters,
    after: &ServerCounters,
    wall_ms: f64,
    top: usize,
) -> ServerWork {
    let mut commands: Vec<CommandTime> = after
        .commands
        .iter()
        .filter_map(|(name, &(calls, usec))| {
            let (c0, u0) = before.commands.get(name).copied().unwrap_or_default();
            let calls = calls.saturating_sub(c0);
            (calls > 0).then(|| CommandTime {
                command: name.clone(),
                calls,
                ms: usec.saturating_sub(u0) as f64 / 1e3,
            })
        })
        .collect();
    commands.sort_by(|a, b| b.ms.total_cmp(&a.ms));
    commands.truncate(top);
    ServerWork {
        wall_ms,
        cpu_ms: ((after.cpu_secs - before.cpu_secs) * 1e3).max(0.0),
        top: commands,
    }
}

impl ServerWork {
    /// `busy 61% (301 ms CPU of 492 ms): exec 145 ms/1024, hset ...`.
    pub fn line(&self) -> String {
        let busy = if self.wall_ms > 0.0 {
            100.0 * self.cpu_ms / self.wall_ms
        } else {
            0.0
        };
        let top: Vec<String> = self
            .top
            .iter()
            .map(|c| format!("{} {:.1} ms/{}", c.command, c.ms, c.calls))
            .collect();
        format!(
            "server busy {busy:.0}% ({:.0} ms CPU of {:.0} ms); in commands: {}",
            self.cpu_ms,
            self.wall_ms,
            top.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATS: &str = "# Commandstats\r\n\
        cmdstat_hset:calls=6144,usec=198665,usec_per_call=32.33,rejected_calls=0,failed_calls=0\r\n\
        cmdstat_config|get:calls=14,usec=65,usec_per_call=4.64,rejected_calls=0,failed_calls=0\r\n\
        cmdstat_broken:calls=x,usec=1\r\n\
        cmdstat_exec:calls=2048,usec=291483,usec_per_call=142.33\r\n";

    const CPU: &str = "# CPU\r\nused_cpu_sys:6.3\r\nused_cpu_user:1.8\r\n\
        used_cpu_sys_main_thread:6.25\r\nused_cpu_user_main_thread:1.75\r\n";

    #[test]
    fn commandstats_lines_are_parsed_and_bad_ones_skipped() {
        assert_eq!(
            parse_commandstats(STATS),
            vec![
                ("hset".to_owned(), 6144, 198665),
                ("config|get".to_owned(), 14, 65),
                ("exec".to_owned(), 2048, 291483),
            ]
        );
        assert!(parse_commandstats("").is_empty());
    }

    #[test]
    fn cpu_prefers_the_main_thread() {
        assert_eq!(main_thread_cpu(CPU), Some(8.0));
        assert_eq!(
            main_thread_cpu("used_cpu_sys:1.5\r\nused_cpu_user:0.5\r\n"),
            Some(2.0)
        );
        assert_eq!(main_thread_cpu("nothing"), None);
    }

    #[test]
    fn work_is_the_difference_sorted_by_time() {
        let mut before = ServerCounters::default();
        before.add_info(CPU, STATS).unwrap();
        let mut after = before.clone();
        after.cpu_secs += 0.3;
        after
            .commands
            .insert("hset".into(), (6144 + 1024, 198665 + 90_000));
        after
            .commands
            .insert("exec".into(), (2048 + 1024, 291483 + 140_000));
        after.commands.insert("eval".into(), (1024, 36_000));
        let w = work(&before, &after, 500.0, 2);
        assert!((w.cpu_ms - 300.0).abs() < 1e-6);
        assert_eq!(
            w.top,
            vec![
                CommandTime {
                    command: "exec".into(),
                    calls: 1024,
                    ms: 140.0
                },
                CommandTime {
                    command: "hset".into(),
                    calls: 1024,
                    ms: 90.0
                },
            ]
        );
        assert_eq!(
            w.line(),
            "server busy 60% (300 ms CPU of 500 ms); in commands: exec 140.0 ms/1024, hset 90.0 ms/1024"
        );
        // Two nodes add up.
        let mut two = ServerCounters::default();
        two.add_info(CPU, STATS).unwrap();
        two.add_info(CPU, STATS).unwrap();
        assert_eq!(two.commands["hset"], (2 * 6144, 2 * 198665));
        assert!(two.add_info("no cpu here", STATS).is_err());
    }
}
