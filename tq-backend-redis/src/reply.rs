//! Reading RESP2 replies into [`redis::Value`]s, large bulk strings
//! straight from the socket into their final, exactly sized buffer.
//!
//! redis-rs parses from its read buffer (grown to hold a whole reply) into
//! a fresh `Vec` per bulk string: every byte of a get is copied twice in
//! user space before tq-core assembles the column. Here a bulk string
//! larger than what is buffered is read by the kernel into its own `Vec`,
//! which then becomes the cell's `Bytes` without another copy.
//!
//! Arrays are parsed with an explicit stack (no recursion, whatever the
//! nesting); malformed input is an error, never a panic.

use redis::{RedisError, RedisResult, Value};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::landing::ReplyLanding;

/// The read buffer's size: replies smaller than this are parsed from it.
const BUF: usize = 64 * 1024;
/// The most a bulk string's announced length allocates up front.
const MAX_PREALLOC: usize = 1 << 30;
/// The most one read takes into the buffer when replies land
/// ([`Replies::land_reads`]): the end of a value, a small reply and the
/// next header, but not much of the next payload, which would then be
/// copied a second time on its way to its slot.
const LANDING_READ: usize = 256;

fn protocol_error(what: &str) -> RedisError {
    RedisError::from((
        redis::ErrorKind::Parse,
        "malformed reply from the Redis server",
        what.to_owned(),
    ))
}

/// A buffered reader of replies.
pub struct Replies<R> {
    inner: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// The most one read into `buf` takes.
    read_size: usize,
}

impl<R: AsyncRead + Unpin> Replies<R> {
    /// Reads replies from `inner`.
    pub fn new(inner: R) -> Self {
        Replies {
            inner,
            buf: vec![0; BUF],
            start: 0,
            end: 0,
            read_size: BUF,
        }
    }

    /// Reads into the buffer in small steps, for a stream whose large
    /// values mostly land in slots ([`next_landing`](Self::next_landing)):
    /// with full-size reads, most of each payload would arrive in the
    /// buffer with the header before it, and be copied from there (in a
    /// get of 1024 x 9 cells of 32 KiB, 78-92% of the bytes).
    pub fn land_reads(&mut self) {
        self.read_size = LANDING_READ;
    }

    /// Whether nothing read is left unparsed.
    pub fn is_drained(&self) -> bool {
        self.start == self.end
    }

    /// Reads more bytes into the buffer (compacting it first); an early
    /// end of stream is an I/O error.
    async fn fill(&mut self) -> RedisResult<()> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            // A line longer than the buffer (a long error text): grow.
            self.buf.resize(self.buf.len() * 2, 0);
        }
        let upto = self.buf.len().min(self.end + self.read_size);
        let n = self.inner.read(&mut self.buf[self.end..upto]).await?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the Redis server closed the connection",
            )
            .into());
        }
        self.end += n;
        Ok(())
    }

    /// One `\r\n`-terminated line, without the terminator.
    async fn line(&mut self) -> RedisResult<Vec<u8>> {
        let mut scanned = 0;
        loop {
            let window = &self.buf[self.start..self.end];
            if let Some(pos) = window[scanned..].windows(2).position(|w| w == b"\r\n") {
                let line = window[..scanned + pos].to_vec();
                self.start += scanned + pos + 2;
                return Ok(line);
            }
            scanned = window.len().saturating_sub(1);
            self.fill().await?;
        }
    }

    /// Exactly `n` bytes, then `\r\n`.
    async fn bulk(&mut self, n: usize) -> RedisResult<Vec<u8>> {
        // A length beyond any real value (a damaged stream) must not abort
        // on allocation: start smaller and let the vector grow.
        let mut out = Vec::with_capacity(n.min(MAX_PREALLOC));
        let have = (self.end - self.start).min(n);
        out.extend_from_slice(&self.buf[self.start..self.start + have]);
        self.start += have;
        while out.len() < n {
            // The buffer is empty: the kernel copies into `out` directly.
            let want = n - out.len();
            let read = (&mut self.inner)
                .take(want as u64)
                .read_buf(&mut out)
                .await?;
            if read == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the Redis server closed the connection",
                )
                .into());
            }
        }
        while self.end - self.start < 2 {
            self.fill().await?;
        }
        if &self.buf[self.start..self.start + 2] != b"\r\n" {
            return Err(protocol_error("a bulk string without its terminator"));
        }
        self.start += 2;
        Ok(out)
    }

    /// Exactly `out.len()` bytes into `out`, then `\r\n`.
    async fn bulk_into(&mut self, out: &mut [u8]) -> RedisResult<()> {
        let have = (self.end - self.start).min(out.len());
        out[..have].copy_from_slice(&self.buf[self.start..self.start + have]);
        self.start += have;
        let mut filled = have;
        while filled < out.len() {
            // The buffer is empty: the kernel copies into `out` directly.
            let read = self.inner.read(&mut out[filled..]).await?;
            if read == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the Redis server closed the connection",
                )
                .into());
            }
            filled += read;
        }
        while self.end - self.start < 2 {
            self.fill().await?;
        }
        if &self.buf[self.start..self.start + 2] != b"\r\n" {
            return Err(protocol_error("a bulk string without its terminator"));
        }
        self.start += 2;
        Ok(())
    }

    /// One whole reply, as [`next`](Self::next); with `landing`, the
    /// bulk strings of an array reply go to their slots where they fit
    /// (each such value comes back as [`Value::Okay`], the slot recorded
    /// as landed), the others as usual.
    pub async fn next_landing(&mut self, landing: Option<&ReplyLanding>) -> RedisResult<Value> {
        let Some(landing) = landing else {
            return self.next().await;
        };
        let line = self.line().await?;
        let n = match line.split_first() {
            Some((b'*', rest)) => parse_number(rest)?,
            _ => return self.finish_reply(line).await,
        };
        if n <= 0 {
            return self.finish_reply(line).await;
        }
        let n = n as usize;
        let mut items = Vec::with_capacity(n.min(1024));
        for k in 0..n {
            let line = self.line().await?;
            let item = match line.split_first() {
                Some((b'$', rest)) => match parse_number(rest)? {
                    len if len < 0 => Value::Nil,
                    len => match landing.fill(k, len as usize) {
                        Some((id, slot)) => {
                            self.bulk_into(slot).await?;
                            landing.landed(id);
                            Value::Okay
                        }
                        None => Value::BulkString(self.bulk(len as usize).await?),
                    },
                },
                _ => self.finish_reply(line).await?,
            };
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    /// The rest of the reply whose first line is `line`.
    async fn finish_reply(&mut self, line: Vec<u8>) -> RedisResult<Value> {
        let mut stack: Vec<(Vec<Value>, usize)> = Vec::new();
        let mut first = Some(line);
        loop {
            let line = match first.take() {
                Some(line) => line,
                None => self.line().await?,
            };
            let mut value = self.scalar_or_open(line, &mut stack).await?;
            // Close every array this value completes.
            loop {
                let Some(v) = value.take() else { break };
                match stack.last_mut() {
                    None => return Ok(v),
                    Some((items, missing)) => {
                        items.push(v);
                        *missing -= 1;
                        if *missing == 0 {
                            let (items, _) = stack.pop().unwrap_or_default();
                            value = Some(Value::Array(items));
                        }
                    }
                }
            }
        }
    }

    /// One whole reply. A server error comes back as
    /// [`Value::ServerError`], at the top as inside arrays.
    pub async fn next(&mut self) -> RedisResult<Value> {
        let line = self.line().await?;
        self.finish_reply(line).await
    }

    /// Reads the value whose header is `line`; returns a complete value,
    /// or `None` after opening a non-empty array on `stack`.
    async fn scalar_or_open(
        &mut self,
        line: Vec<u8>,
        stack: &mut Vec<(Vec<Value>, usize)>,
    ) -> RedisResult<Option<Value>> {
        let (&mark, rest) = line
            .split_first()
            .ok_or_else(|| protocol_error("an empty line"))?;
        let number = || parse_number(rest);
        Ok(Some(match mark {
            b'+' if rest == b"OK" => Value::Okay,
            b'+' => Value::SimpleString(String::from_utf8_lossy(rest).into_owned()),
            b'-' => {
                let mut text = line.clone();
                text.extend_from_slice(b"\r\n");
                // redis-rs' own parser classifies the error code.
                match redis::parse_redis_value(&text) {
                    Ok(v @ Value::ServerError(_)) => v,
                    _ => return Err(protocol_error("an error reply")),
                }
            }
            b':' => Value::Int(number()?),
            b'$' => match number()? {
                n if n < 0 => Value::Nil,
                n => Value::BulkString(self.bulk(n as usize).await?),
            },
            b'*' => match number()? {
                n if n < 0 => Value::Nil,
                0 => Value::Array(Vec::new()),
                n => {
                    let n = n as usize;
                    stack.push((Vec::with_capacity(n.min(1024)), n));
                    return Ok(None);
                }
            },
            _ => return Err(protocol_error("an unknown reply type")),
        }))
    }
}

/// A length or integer of a reply header.
fn parse_number(digits: &[u8]) -> RedisResult<i64> {
    std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| protocol_error("a length or integer that is not a number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn parse_all(bytes: &[u8]) -> RedisResult<Vec<Value>> {
        let all = parse_all_with(bytes, false).await;
        // Small reads change how the stream is read, never what it says.
        let small = parse_all_with(bytes, true).await;
        assert_eq!(all.as_ref().ok(), small.as_ref().ok());
        all
    }

    async fn parse_all_with(bytes: &[u8], small_reads: bool) -> RedisResult<Vec<Value>> {
        let mut r = Replies::new(bytes);
        if small_reads {
            r.land_reads();
        }
        let mut out = Vec::new();
        while r.start < r.end || out.is_empty() {
            out.push(r.next().await?);
            if r.start == r.end && r.inner.is_empty() {
                break;
            }
        }
        Ok(out)
    }

    #[tokio::test]
    async fn replies_parse_like_redis_rs() {
        let big = vec![b'x'; 3 * BUF + 5];
        let mut text = b"+OK\r\n+QUEUED\r\n:-7\r\n$-1\r\n*0\r\n*2\r\n*1\r\n$3\r\nabc\r\n".to_vec();
        text.extend_from_slice(b":1\r\n-ERR boom\r\n");
        text.extend_from_slice(format!("${}\r\n", big.len()).as_bytes());
        text.extend_from_slice(&big);
        text.extend_from_slice(b"\r\n*2\r\n-NOSCRIPT no\r\n$0\r\n\r\n");
        let got = parse_all(&text).await.unwrap();
        let want = redis::parse_redis_value(b"*2\r\n*1\r\n$3\r\nabc\r\n:1\r\n").unwrap();
        assert_eq!(got[0], Value::Okay);
        assert_eq!(got[1], Value::SimpleString("QUEUED".into()));
        assert_eq!(got[2], Value::Int(-7));
        assert_eq!(got[3], Value::Nil);
        assert_eq!(got[4], Value::Array(vec![]));
        assert_eq!(got[5], want);
        assert!(matches!(&got[6], Value::ServerError(e) if e.code() == "ERR"));
        assert_eq!(got[7], Value::BulkString(big));
        let Value::Array(last) = &got[8] else {
            panic!("{:?}", got[8]);
        };
        assert!(matches!(&last[0], Value::ServerError(e) if e.code() == "NOSCRIPT"));
        assert_eq!(last[1], Value::BulkString(vec![]));
    }

    /// Values that fit their slot land there (`Okay`); values of another
    /// length, values without a slot, nils and errors come back as usual,
    /// and the reader stays in step for the next reply.
    #[tokio::test]
    async fn array_values_land_in_their_slots_where_they_fit() {
        for small_reads in [false, true] {
            values_land_in_their_slots(small_reads).await;
        }
    }

    async fn values_land_in_their_slots(small_reads: bool) {
        use crate::landing::{LandingPlan, ReplyLanding};
        use std::sync::Arc;

        let big = vec![b'y'; 3 * BUF + 5];
        let mut plan = LandingPlan::default();
        let s0 = plan.slot(b"f", 3);
        let s1 = plan.slot(b"f", big.len());
        let s2 = plan.slot(b"f", 4); // gets 5 bytes: does not fit
        let landing = Arc::new(plan.build());
        let reply_landing =
            ReplyLanding::new(landing.clone(), vec![Some(s0), Some(s1), Some(s2), None]);
        let mut text = b"*6\r\n$3\r\nabc\r\n".to_vec();
        text.extend_from_slice(format!("${}\r\n", big.len()).as_bytes());
        text.extend_from_slice(&big);
        text.extend_from_slice(b"\r\n$5\r\nhello\r\n$2\r\nno\r\n$-1\r\n-ERR x\r\n:7\r\n");
        let mut r = Replies::new(&text[..]);
        if small_reads {
            r.land_reads();
        }
        let got = r.next_landing(Some(&reply_landing)).await.unwrap();
        let Value::Array(items) = got else {
            panic!("{got:?}")
        };
        assert_eq!(
            items[..4],
            [
                Value::Okay,
                Value::Okay,
                Value::BulkString(b"hello".to_vec()),
                Value::BulkString(b"no".to_vec()),
            ]
        );
        assert_eq!(items[4], Value::Nil);
        assert!(matches!(&items[5], Value::ServerError(_)));
        // A reply that is no array passes through.
        assert_eq!(
            r.next_landing(Some(&reply_landing)).await.unwrap(),
            Value::Int(7)
        );
        drop(reply_landing);
        let landed = Arc::into_inner(landing).unwrap().finish();
        let (column, start) = landed.slot(s0).unwrap();
        assert_eq!(&column[start..start + 3], b"abc");
        let (column, start) = landed.slot(s1).unwrap();
        assert_eq!(&column[start..start + big.len()], &big[..]);
        assert!(landed.slot(s2).is_none());
        // A stream cut inside a landing value is an error.
        let mut plan = LandingPlan::default();
        let id = plan.slot(b"f", 10);
        let reply_landing = ReplyLanding::new(Arc::new(plan.build()), vec![Some(id)]);
        let mut r = Replies::new(&b"*1\r\n$10\r\nabc"[..]);
        assert!(r.next_landing(Some(&reply_landing)).await.is_err());
    }

    #[tokio::test]
    async fn garbage_is_an_error_not_a_panic() {
        for bad in [
            &b"?\r\n"[..],
            b"$abc\r\n",
            b"$3\r\nabcde",
            b"*2\r\n:1\r\n",
            b"",
            b"\r\n",
        ] {
            assert!(Replies::new(bad).next().await.is_err(), "{bad:?}");
        }
    }
}
