//! Which cluster master serves which bucket, so that a cluster operation
//! sends one pipeline per master instead of one per bucket.
//!
//! The map comes from `CLUSTER SLOTS`; it is only an optimisation: a
//! command that reaches the wrong master (after a resharding) answers
//! `MOVED`/`ASK` without running, and is sent again through the client's
//! own per-slot routing, which follows redirections.

use std::collections::HashMap;

use redis::Value;

/// The number of hash slots of a Redis Cluster.
pub const SLOTS: usize = 16_384;

/// The hash slot of a key whose hash tag is `tag` (CRC16/XMODEM mod 16384,
/// as Redis computes it).
pub fn slot_of_tag(tag: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in tag {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc % SLOTS as u16
}

/// The hash slot of a whole key, as Redis computes it: of its hash tag
/// (what lies between its first `{` and the next `}`) when that is not
/// empty, else of the whole key.
pub fn slot_of_key(key: &[u8]) -> u16 {
    let tag = key.iter().position(|&b| b == b'{').and_then(|open| {
        let rest = &key[open + 1..];
        let close = rest.iter().position(|&b| b == b'}')?;
        (close > 0).then(|| &rest[..close])
    });
    slot_of_tag(tag.unwrap_or(key))
}

/// The slot of bucket `b` (its hash tag is `{b}`).
pub fn slot_of_bucket(bucket: u16) -> u16 {
    slot_of_tag(bucket.to_string().as_bytes())
}

/// Which master serves each slot, and where each master listens.
#[derive(Debug, Clone)]
pub struct SlotMap {
    /// Slot -> master number.
    pub owner: Vec<u32>,
    /// Master number -> `host:port` (`[v6]:port`; `:port` when the
    /// cluster does not say the host).
    pub addrs: Vec<String>,
}

/// The slot map in a `CLUSTER SLOTS` answer; `None` if the answer does not
/// cover every slot.
pub fn parse_cluster_slots(answer: Value) -> Option<SlotMap> {
    let Value::Array(ranges) = answer else {
        return None;
    };
    let mut owner = vec![u32::MAX; SLOTS];
    let mut masters: HashMap<String, u32> = HashMap::new();
    let mut addrs = Vec::new();
    for range in ranges {
        let Value::Array(items) = range else {
            return None;
        };
        let mut it = items.into_iter();
        let (Some(Value::Int(start)), Some(Value::Int(end)), Some(Value::Array(master))) =
            (it.next(), it.next(), it.next())
        else {
            return None;
        };
        let mut m = master.into_iter();
        let (Some(host), Some(Value::Int(port))) = (m.next(), m.next()) else {
            return None;
        };
        let host = match host {
            Value::BulkString(h) => String::from_utf8(h).ok()?,
            Value::SimpleString(h) => h,
            _ => return None,
        };
        let id = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let next = masters.len() as u32;
        let node = *masters.entry(id.clone()).or_insert_with(|| {
            addrs.push(id);
            next
        });
        let (start, end) = (usize::try_from(start).ok()?, usize::try_from(end).ok()?);
        for slot in owner.get_mut(start..=end)? {
            *slot = node;
        }
    }
    (!owner.contains(&u32::MAX)).then_some(SlotMap { owner, addrs })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_match_redis() {
        // Values from `CLUSTER KEYSLOT`.
        assert_eq!(slot_of_tag(b"foo"), 12182);
        // The CRC16/XMODEM check value.
        assert_eq!(slot_of_tag(b"123456789"), 0x31c3);
        // Keys: a hash tag when there is a non-empty one.
        assert_eq!(slot_of_key(b"foo"), 12182);
        assert_eq!(slot_of_key(b"tq:seq"), slot_of_tag(b"tq:seq"));
        assert_eq!(slot_of_key(b"a{foo}b"), 12182);
        assert_eq!(slot_of_key(b"{foo}{bar}"), 12182);
        assert_eq!(slot_of_key(b"a{}b"), slot_of_tag(b"a{}b"));
        assert_eq!(slot_of_key(b"a{foo"), slot_of_tag(b"a{foo"));
    }
}
