//! Plain-TCP pipelines that bypass redis-rs for the data path.
//!
//! Every put, get, list and clear pipeline to a standalone server or to a
//! cluster master goes through here when the connection is not TLS: the
//! request is one vectored write of [`Encoded`] (payload copied once, by
//! the kernel) while the replies are read concurrently by [`Replies`]
//! (large values land in their final buffer). redis-rs keeps the rest:
//! opening and its checks, TLS, and commands resent after a redirection.
//!
//! Connections are pooled per server address; one pipeline has a
//! connection to itself, so a large batch split into several pipelines
//! uses several connections at once. A connection that failed in any way,
//! or whose pipeline timed out, is dropped, never reused: the next
//! pipeline opens a fresh one (that is the whole reconnect logic).

use std::collections::HashMap;
use std::io::IoSlice;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use redis::{RedisError, RedisResult, Value};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::reply::Replies;
use crate::wire::{Command, Encoded};

/// Idle connections kept per server.
const MAX_IDLE: usize = 32;
/// Iovecs handed to one `writev` (Linux takes up to 1024).
const IOVECS: usize = 256;
/// Commands written per step, and at most this many steps ahead of the
/// replies read. Without a window the server buffers the replies of a
/// whole pipeline when the client reads slower than it answers (a get of
/// 75 MB had the server fault in 75 MB of reply buffers and ran at
/// 0.40 GB/s); redis-benchmark keeps 16 commands in flight (`-P 16`).
/// Fewer in flight is faster for gets (cells of 32 KiB, nine per row: 8
/// commands per step read 1024 rows in 124-128 ms, 4 in 116-123 ms; 16 in
/// 160-170 ms, BENCHMARKS.md).
const STEP: usize = 4;
const STEPS_AHEAD: usize = 3;

/// How many of a pipeline's commands may be written once `answered` of
/// them are answered: whole steps, at most [`STEPS_AHEAD`] steps beyond
/// the step being answered.
fn window_end(answered: usize) -> usize {
    (answered / STEP + STEPS_AHEAD + 1) * STEP
}

/// Credentials and timeouts of the direct connections, and the idle pool.
pub struct Direct {
    username: Option<String>,
    password: Option<String>,
    db: i64,
    connect_timeout: Duration,
    command_timeout: Option<Duration>,
    idle: Mutex<HashMap<String, Vec<TcpStream>>>,
    /// Small pipelines in flight on direct connections.
    small: AtomicUsize,
}

/// A small pipeline's place among those allowed on direct connections;
/// gives it back when dropped.
pub struct SmallSlot<'a>(&'a AtomicUsize);

impl Drop for SmallSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl std::fmt::Debug for Direct {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Direct").finish_non_exhaustive()
    }
}

fn timed_out(what: &str) -> RedisError {
    std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("the Redis server did not answer {what} in time"),
    )
    .into()
}

impl Direct {
    /// Direct connections authenticating as `username`/`password` (if
    /// given) and selecting `db`.
    pub fn new(
        username: Option<String>,
        password: Option<String>,
        db: i64,
        connect_timeout: Duration,
        command_timeout: Option<Duration>,
    ) -> Direct {
        Direct {
            username,
            password,
            db,
            connect_timeout,
            command_timeout,
            idle: Mutex::new(HashMap::new()),
            small: AtomicUsize::new(0),
        }
    }

    /// A place for one small pipeline if fewer than `max` are in flight.
    pub fn small_slot(&self, max: usize) -> Option<SmallSlot<'_>> {
        self.small
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| SmallSlot(&self.small))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<TcpStream>>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An idle connection to `addr`, or a new one (connected, `AUTH`,
    /// `SELECT`).
    async fn take(&self, addr: &str) -> RedisResult<TcpStream> {
        if let Some(stream) = self.lock().get_mut(addr).and_then(Vec::pop) {
            return Ok(stream);
        }
        let mut stream = tokio::time::timeout(self.connect_timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| timed_out("the connection"))??;
        crate::keepalive::apply(&stream)?;
        let mut hello = Vec::new();
        if let Some(pw) = &self.password {
            let mut auth = Command::new("AUTH");
            if let Some(user) = &self.username {
                auth.arg(user);
            }
            auth.arg(pw);
            hello.push(auth);
        }
        if self.db != 0 {
            let mut select = Command::new("SELECT");
            select.arg(self.db.to_string());
            hello.push(select);
        }
        if !hello.is_empty() {
            for answer in self.exchange(&mut stream, &hello).await? {
                answer?;
            }
        }
        Ok(stream)
    }

    fn give_back(&self, addr: &str, stream: TcpStream) {
        let mut idle = self.lock();
        let list = idle.entry(addr.to_owned()).or_default();
        if list.len() < MAX_IDLE {
            list.push(stream);
        }
    }

    /// Runs `cmds` as one pipeline on a connection to `addr` (`host:port`)
    /// and returns one outcome per command; a server error is that
    /// command's outcome, an I/O error or timeout fails the whole call.
    pub async fn pipeline(
        &self,
        addr: &str,
        cmds: &[Command],
    ) -> RedisResult<Vec<RedisResult<Value>>> {
        let mut stream = self.take(addr).await?;
        let answers = self.exchange(&mut stream, cmds).await?;
        self.give_back(addr, stream);
        Ok(answers)
    }

    /// Writes `cmds` while reading their replies, within the command
    /// timeout.
    async fn exchange(
        &self,
        stream: &mut TcpStream,
        cmds: &[Command],
    ) -> RedisResult<Vec<RedisResult<Value>>> {
        let (answered_tx, mut answered) = tokio::sync::watch::channel(0usize);
        let work = async {
            let (read, mut write) = stream.split();
            let send = async {
                let mut sent = 0;
                while sent < cmds.len() {
                    // Everything the window allows now, in one write: a
                    // small pipeline goes out whole.
                    let answers = *answered.borrow_and_update();
                    let upto = window_end(answers).min(cmds.len());
                    if upto > sent {
                        write_all(&mut write, &Encoded::new(&cmds[sent..upto])).await?;
                        sent = upto;
                    } else if answered.wait_for(|&n| window_end(n) > sent).await.is_err() {
                        // The reader is gone, and its error wins.
                        break;
                    }
                }
                write.flush().await?;
                Ok::<_, RedisError>(())
            };
            let receive = async {
                let mut replies = Replies::new(read);
                if cmds.iter().any(|c| c.landing().is_some()) {
                    replies.land_reads();
                }
                let mut out = Vec::with_capacity(cmds.len());
                for cmd in cmds {
                    out.push(match replies.next_landing(cmd.landing()).await? {
                        Value::ServerError(e) => Err(e.into()),
                        v => Ok(v),
                    });
                    answered_tx.send_replace(out.len());
                }
                if !replies.is_drained() {
                    return Err(RedisError::from((
                        redis::ErrorKind::Parse,
                        "the Redis server sent more replies than commands",
                    )));
                }
                Ok(out)
            };
            let ((), out) = tokio::try_join!(send, receive)?;
            Ok(out)
        };
        match self.command_timeout {
            Some(t) => tokio::time::timeout(t, work)
                .await
                .map_err(|_| timed_out("a pipeline"))?,
            None => work.await,
        }
    }
}

/// Writes every slice of `encoded`, many per `writev`.
async fn write_all<W: AsyncWrite + Unpin>(w: &mut W, encoded: &Encoded) -> std::io::Result<()> {
    let slices = encoded.slices();
    let (mut idx, mut off) = (0usize, 0usize);
    while idx < slices.len() {
        let mut io = Vec::with_capacity(IOVECS);
        io.push(IoSlice::new(&slices[idx][off..]));
        io.extend(
            slices[idx + 1..]
                .iter()
                .take(IOVECS - 1)
                .map(|s| IoSlice::new(s)),
        );
        let mut n = w.write_vectored(&io).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        while n > 0 && idx < slices.len() {
            let rest = slices[idx].len() - off;
            if n >= rest {
                n -= rest;
                idx += 1;
                off = 0;
            } else {
                off += n;
                n = 0;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_allows_whole_steps_a_few_ahead_of_the_answers() {
        let ahead = STEP * (STEPS_AHEAD + 1);
        // Before any answer: the first steps, in one write.
        assert_eq!(window_end(0), ahead);
        // Part of a step answered moves nothing; a whole step moves one.
        assert_eq!(window_end(STEP - 1), ahead);
        assert_eq!(window_end(STEP), ahead + STEP);
        // Never more than the window beyond what was answered.
        for answered in 0..10 * STEP {
            let end = window_end(answered);
            assert!(
                end > answered && end - answered <= ahead,
                "{answered} -> {end}"
            );
        }
    }

    #[test]
    fn at_most_max_small_pipelines_hold_a_slot() {
        let direct = Direct::new(None, None, 0, Duration::from_secs(1), None);
        let a = direct.small_slot(2).expect("first");
        let b = direct.small_slot(2).expect("second");
        assert!(direct.small_slot(2).is_none(), "a third goes to redis-rs");
        drop(a);
        let c = direct
            .small_slot(2)
            .expect("a slot given back is free again");
        drop((b, c));
        assert_eq!(direct.small.load(Ordering::Acquire), 0);
    }
}
