//! Commands as RESP2 bytes without copying their large arguments.
//!
//! redis-rs copies every argument into its command buffer, then the whole
//! pipeline into one more buffer, then into its codec's write buffer: three
//! copies of a put's payload into fresh memory before the socket sees it
//! (the put ran at 0.52 GB/s against 2.58 GB/s for the engine). A
//! [`Command`] keeps small arguments in one byte buffer and large ones as
//! the caller's [`Bytes`] (a tensor's own buffer), and [`Encoded`] hands
//! them to a vectored write: the payload is copied once, by the kernel.

use bytes::Bytes;

use crate::landing::ReplyLanding;

/// Arguments at least this long are sent from their own buffer; shorter
/// ones are copied into the framing buffer (cheaper than an iovec each).
const SHARED_MIN: usize = 4096;

/// One piece of an argument.
#[derive(Debug, Clone)]
enum Piece {
    /// Bytes of `Command::small`.
    Small(std::ops::Range<usize>),
    /// The caller's bytes.
    Shared(Bytes),
}

/// One Redis command: its arguments, each made of pieces.
#[derive(Debug, Clone, Default)]
pub struct Command {
    small: Vec<u8>,
    /// Per argument, its pieces.
    args: Vec<Vec<Piece>>,
    /// Where the direct reader puts the values of this command's array
    /// reply (an `MGET` of cells); other paths ignore it.
    landing: Option<ReplyLanding>,
}

impl Command {
    /// A command named `name` (`HSET`, `EVAL`, ...).
    pub fn new(name: &str) -> Command {
        let mut c = Command::default();
        c.arg(name.as_bytes());
        c
    }

    /// Lets the direct reader read this command's array reply into
    /// `landing`'s slots ([`crate::landing`]).
    pub fn land_in(&mut self, landing: ReplyLanding) -> &mut Command {
        self.landing = Some(landing);
        self
    }

    /// Where this command's reply lands, if anywhere.
    pub fn landing(&self) -> Option<&ReplyLanding> {
        self.landing.as_ref()
    }

    /// Appends one argument (copied: names, keys, numbers, JSON).
    pub fn arg(&mut self, bytes: impl AsRef<[u8]>) -> &mut Command {
        let piece = self.small_piece(bytes.as_ref());
        self.args.push(vec![piece]);
        self
    }

    /// Appends one argument made of `head` (copied) and `tail` (shared
    /// when large): a cell's codec header and payload.
    pub fn arg_parts(&mut self, head: &[u8], tail: &Bytes) -> &mut Command {
        let mut pieces = vec![self.small_piece(head)];
        if tail.len() >= SHARED_MIN {
            pieces.push(Piece::Shared(tail.clone()));
        } else {
            pieces.push(self.small_piece(tail));
        }
        self.args.push(pieces);
        self
    }

    fn small_piece(&mut self, bytes: &[u8]) -> Piece {
        let start = self.small.len();
        self.small.extend_from_slice(bytes);
        Piece::Small(start..self.small.len())
    }

    /// Argument `i`'s bytes (copied together).
    pub fn arg_bytes(&self, i: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for piece in self.args.get(i).into_iter().flatten() {
            out.extend_from_slice(self.piece(piece));
        }
        out
    }

    fn piece<'a>(&'a self, piece: &'a Piece) -> &'a [u8] {
        match piece {
            Piece::Small(r) => self.small.get(r.clone()).unwrap_or_default(),
            Piece::Shared(b) => b,
        }
    }

    /// The bytes this command puts on the wire (about).
    pub fn wire_len(&self) -> usize {
        self.small.len()
            + self
                .args
                .iter()
                .flatten()
                .map(|p| match p {
                    Piece::Small(_) => 0,
                    Piece::Shared(b) => b.len(),
                })
                .sum::<usize>()
            + 16 * (self.args.len() + 1)
    }

    /// The same command for redis-rs (copies every argument; for the
    /// paths that go through redis-rs: TLS, redirections, control).
    pub fn to_redis(&self) -> redis::Cmd {
        let mut cmd = redis::Cmd::new();
        for i in 0..self.args.len() {
            cmd.arg(self.arg_bytes(i));
        }
        cmd
    }
}

/// A pipeline of commands laid out for a vectored write: framing and small
/// arguments in one buffer, large arguments as shared slices in between.
#[derive(Debug, Default)]
pub struct Encoded {
    framing: Vec<u8>,
    /// In order: framing bytes up to this offset, then this shared slice.
    parts: Vec<(usize, Option<Bytes>)>,
}

impl Encoded {
    /// Encodes `cmds` back to back.
    pub fn new<'a>(cmds: impl IntoIterator<Item = &'a Command>) -> Encoded {
        let mut e = Encoded::default();
        for cmd in cmds {
            e.push(cmd);
        }
        e.parts.push((e.framing.len(), None));
        e
    }

    fn push(&mut self, cmd: &Command) {
        let head = |out: &mut Vec<u8>, mark: u8, n: usize| {
            out.push(mark);
            out.extend_from_slice(n.to_string().as_bytes());
            out.extend_from_slice(b"\r\n");
        };
        head(&mut self.framing, b'*', cmd.args.len());
        for pieces in &cmd.args {
            let len: usize = pieces.iter().map(|p| cmd.piece(p).len()).sum();
            head(&mut self.framing, b'$', len);
            for p in pieces {
                match p {
                    Piece::Small(_) => self.framing.extend_from_slice(cmd.piece(p)),
                    Piece::Shared(b) => self.parts.push((self.framing.len(), Some(b.clone()))),
                }
            }
            self.framing.extend_from_slice(b"\r\n");
        }
    }

    /// The slices to write, in order.
    pub fn slices(&self) -> Vec<&[u8]> {
        let mut out = Vec::with_capacity(self.parts.len() * 2);
        let mut at = 0;
        for (end, shared) in &self.parts {
            if *end > at {
                out.push(&self.framing[at..*end]);
            }
            at = *end;
            if let Some(b) = shared
                && !b.is_empty()
            {
                out.push(&b[..]);
            }
        }
        out
    }

    /// The total number of bytes.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.framing.len()
            + self
                .parts
                .iter()
                .filter_map(|(_, b)| b.as_ref().map(Bytes::len))
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(e: &Encoded) -> Vec<u8> {
        e.slices().concat()
    }

    #[test]
    fn commands_encode_as_resp_arrays() {
        let big = Bytes::from(vec![7u8; SHARED_MIN]);
        let mut c = Command::new("HSET");
        c.arg("k")
            .arg_parts(b"hd", &big)
            .arg_parts(b"x", &Bytes::from_static(b"yz"));
        let e = Encoded::new([&c, &Command::new("PING")]);
        let mut want = b"*4\r\n$4\r\nHSET\r\n$1\r\nk\r\n".to_vec();
        want.extend_from_slice(format!("${}\r\nhd", SHARED_MIN + 2).as_bytes());
        want.extend_from_slice(&big);
        want.extend_from_slice(b"\r\n$3\r\nxyz\r\n*1\r\n$4\r\nPING\r\n");
        assert_eq!(flat(&e), want);
        assert_eq!(e.len(), want.len());
        assert_eq!(c.arg_bytes(3), b"xyz");
        let packed = c.to_redis().get_packed_command();
        assert_eq!(&packed[..], &want[..packed.len()]);
    }
}
