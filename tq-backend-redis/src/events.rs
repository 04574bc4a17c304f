//! The watch messages the row scripts publish (`lua/put_row.lua`,
//! `lua/put_meta.lua`, `lua/clear.lua`) and their decoding.
//!
//! A message is one kind byte followed by items, each `<len>:<bytes>` with
//! `len` the decimal byte length, so keys, field names and tag JSON may hold
//! any bytes (`:`, `{`, NUL, ...) and a script builds a message with plain
//! string concatenation:
//!
//! | kind | items | event |
//! |---|---|---|
//! | `P` | key, `n` (decimal), `n` cell hash fields `f<field>`, then tag hash fields `t<name>` and their JSON, alternating | [`WatchEvent::Put`]: the fields set, the row's whole tag |
//! | `F` | key, the removed cell hash fields `f<field>` | [`WatchEvent::Clear`] of those fields |
//! | `C` | key | [`WatchEvent::Clear`] of the whole row |
//!
//! Names travel as the row hash stores them (with their kind byte), which
//! spares the scripts a copy of each; the decoder checks and drops it.

use redis::Value as RV;
use tq_core::{Error, Result, WatchEvent};

use crate::cells::decode_tag;
use crate::keys::{CELL_MARK, TAG_MARK};

/// The event a watch message carries; `Corrupted` (naming the partition)
/// for bytes no script of this version sends.
pub fn decode(message: &[u8], partition: &str) -> Result<WatchEvent> {
    let bad = |why: &str| {
        Error::corrupted(format!(
            "a watch message of partition {partition:?} does not decode ({why}); the write it \
             reports is not known: resync with kv_list"
        ))
        .with_context("partition", partition)
    };
    let (&kind, rest) = message.split_first().ok_or_else(|| bad("empty"))?;
    let mut items = Items(rest);
    let key = items.text("key").map_err(|w| bad(&w))?;
    let event = match kind {
        b'C' => WatchEvent::Clear { key, fields: None },
        b'F' => {
            let mut fields = Vec::new();
            while !items.is_empty() {
                fields.push(items.name(CELL_MARK, "field").map_err(|w| bad(&w))?);
            }
            WatchEvent::Clear {
                key,
                fields: Some(fields),
            }
        }
        b'P' => {
            let count: usize = items
                .text("field count")
                .ok()
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| bad("the field count is not a number"))?;
            // Each name takes at least 3 bytes: an absurd count is caught
            // before it allocates.
            if count > items.0.len() / 3 {
                return Err(bad("the field count exceeds the message"));
            }
            let mut fields = Vec::with_capacity(count);
            for _ in 0..count {
                fields.push(items.name(CELL_MARK, "field").map_err(|w| bad(&w))?);
            }
            let mut flat = Vec::new();
            while !items.is_empty() {
                let name = items.bytes().map_err(|w| bad(&w))?;
                if name.first() != Some(&TAG_MARK) {
                    return Err(bad("a tag entry's name lacks its mark"));
                }
                let value = items.bytes().map_err(|w| bad(&w))?;
                flat.push(RV::BulkString(name.to_vec()));
                flat.push(RV::BulkString(value.to_vec()));
            }
            let tag = decode_tag(flat, partition, &key, None)?;
            WatchEvent::Put { key, fields, tag }
        }
        other => return Err(bad(&format!("unknown kind byte {other:#04x}"))),
    };
    if !items.is_empty() {
        return Err(bad("bytes after the last item"));
    }
    Ok(event)
}

/// The `<len>:<bytes>` items of a message, read front to back.
struct Items<'a>(&'a [u8]);

impl<'a> Items<'a> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn bytes(&mut self) -> std::result::Result<&'a [u8], String> {
        let colon = self
            .0
            .iter()
            .position(|&b| b == b':')
            .ok_or("an item has no length")?;
        let len: usize = std::str::from_utf8(&self.0[..colon])
            .ok()
            .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|d| d.parse().ok())
            .ok_or("an item's length is not a number")?;
        let rest = &self.0[colon + 1..];
        if len > rest.len() {
            return Err("an item is longer than the message".to_owned());
        }
        let (item, rest) = rest.split_at(len);
        self.0 = rest;
        Ok(item)
    }

    fn text(&mut self, what: &str) -> std::result::Result<String, String> {
        String::from_utf8(self.bytes()?.to_vec()).map_err(|_| format!("the {what} is not UTF-8"))
    }

    /// A hash field name: its `mark`, then UTF-8.
    fn name(&mut self, mark: u8, what: &str) -> std::result::Result<String, String> {
        match self.bytes()?.split_first() {
            Some((&m, name)) if m == mark => {
                String::from_utf8(name.to_vec()).map_err(|_| format!("a {what} is not UTF-8"))
            }
            _ => Err(format!("a {what} name lacks its mark")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tq_core::ErrorKind;

    /// What the scripts send, built the way they build it.
    fn item(out: &mut Vec<u8>, bytes: &[u8]) {
        out.extend_from_slice(format!("{}:", bytes.len()).as_bytes());
        out.extend_from_slice(bytes);
    }

    fn marked(mark: u8, name: &str) -> Vec<u8> {
        let mut v = vec![mark];
        v.extend_from_slice(name.as_bytes());
        v
    }

    fn put(key: &str, fields: &[&str], tag: &[(&str, &str)]) -> Vec<u8> {
        let mut m = vec![b'P'];
        item(&mut m, key.as_bytes());
        item(&mut m, fields.len().to_string().as_bytes());
        for f in fields {
            item(&mut m, &marked(b'f', f));
        }
        for (name, json) in tag {
            item(&mut m, &marked(b't', name));
            item(&mut m, json.as_bytes());
        }
        m
    }

    const HOSTILE: [&str; 9] = [
        "", ":", "1:x", "{0}", "\0", "a\0:b", "é🦀", "P3:abc", "9999:",
    ];

    #[test]
    fn puts_with_hostile_names_round_trip() {
        for name in HOSTILE {
            let m = put(
                name,
                &[name, "x"],
                &[(name, "{\"a\":[1,\":\"]}"), ("n", "3")],
            );
            let WatchEvent::Put { key, fields, tag } = decode(&m, "p").unwrap() else {
                panic!("not a put");
            };
            assert_eq!(key, name);
            assert_eq!(fields, vec![name.to_owned(), "x".to_owned()]);
            assert_eq!(tag[name], serde_json::json!({"a": [1, ":"]}));
            assert_eq!(tag["n"], 3);
        }
        let tag_only = decode(&put("k", &[], &[]), "p").unwrap();
        assert_eq!(
            tag_only,
            WatchEvent::Put {
                key: "k".into(),
                fields: vec![],
                tag: Default::default()
            }
        );
    }

    #[test]
    fn clears_with_hostile_names_round_trip() {
        for name in HOSTILE {
            let mut m = vec![b'C'];
            item(&mut m, name.as_bytes());
            assert_eq!(
                decode(&m, "p").unwrap(),
                WatchEvent::Clear {
                    key: name.into(),
                    fields: None
                }
            );
            let mut m = vec![b'F'];
            item(&mut m, name.as_bytes());
            item(&mut m, &marked(b'f', name));
            item(&mut m, &marked(b'f', ":"));
            assert_eq!(
                decode(&m, "p").unwrap(),
                WatchEvent::Clear {
                    key: name.into(),
                    fields: Some(vec![name.into(), ":".into()])
                }
            );
        }
    }

    #[test]
    fn garbage_is_corrupted_never_a_panic() {
        let mut cases: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"X1:k".to_vec(),
            b"C".to_vec(),
            b"C5:k".to_vec(),
            b"Cx:k".to_vec(),
            b"C:k".to_vec(),
            b"C1:kextra".to_vec(),
            b"C-1:k".to_vec(),
            b"C99999999999999999999999:k".to_vec(),
            b"P1:k1:52:fa".to_vec(),
            b"P1:k9:999999999".to_vec(),
            b"P1:k1:02:xa".to_vec(),
            b"P1:k1:02:ta".to_vec(),
            b"P1:k1:02:ta3:{{{".to_vec(),
            b"F1:k2:xa".to_vec(),
            b"C2:\xff\xfe".to_vec(),
        ];
        // Every prefix of a valid message, too.
        let valid = put("key", &["f1"], &[("t", "1")]);
        cases.extend((0..valid.len()).map(|n| valid[..n].to_vec()));
        // The one prefix that is a whole message: the put without its tag.
        let whole = put("key", &["f1"], &[]);
        for case in cases {
            match decode(&case, "p") {
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::Corrupted, "{case:?}");
                    assert_eq!(e.context_value("partition"), Some("p"));
                }
                Ok(event) => assert_eq!(case, whole, "{event:?}"),
            }
        }
    }
}
