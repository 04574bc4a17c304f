//! `manifest.json`, written last: what a complete checkpoint holds
//! (docs/CHECKPOINT_FORMAT.md, "The manifest").

use serde::{Deserialize, Serialize};
use tq_core::{Error, ErrorKind, Result};

/// The value of [`Manifest::format`].
pub const FORMAT_NAME: &str = "tq-checkpoint";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// The manifest's object name, under the checkpoint's prefix.
pub const MANIFEST_NAME: &str = "manifest.json";

/// A complete checkpoint: every partition, every data object with its size
/// and checksum. Its presence is what makes a checkpoint exist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`FORMAT_NAME`].
    pub format: String,
    /// The format version, [`FORMAT_VERSION`] for this build.
    pub version: u32,
    /// The value codec version of the cells (`tq_core::codec::CODEC_VERSION`).
    pub codec_version: u8,
    /// 32 random hex digits; the data objects live under this name, so two
    /// saves to one prefix never write the same object.
    pub checkpoint_id: String,
    /// The partitions, sorted by name.
    pub partitions: Vec<PartitionEntry>,
}

/// One saved partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartitionEntry {
    /// The partition's name.
    pub name: String,
    /// How many rows (keys) it holds: the sum of its objects' `rows`.
    pub keys: u64,
    /// Its data objects, in key order: object 0 holds the first keys.
    pub objects: Vec<ObjectEntry>,
    /// Whether the copy is the partition's state at one instant of the save
    /// (no row changed between its read and the end of the save). `false`
    /// only for a fuzzy save; absent in a manifest means `true`.
    #[serde(default = "yes")]
    pub consistent: bool,
}

fn yes() -> bool {
    true
}

/// One data object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectEntry {
    /// Its path relative to the checkpoint's prefix, `/`-separated.
    pub path: String,
    /// Its length in bytes.
    pub bytes: u64,
    /// How many row records it holds.
    pub rows: u64,
    /// CRC-32C (Castagnoli) of all its bytes, 8 lowercase hex digits.
    pub crc32c: String,
}

impl Manifest {
    /// Parses and checks a manifest: the format name and version, and that
    /// every partition's key count is the sum of its objects' rows.
    pub fn from_json(bytes: &[u8]) -> Result<Manifest> {
        let manifest: Manifest = serde_json::from_slice(bytes).map_err(|e| {
            Error::corrupted(format!("{MANIFEST_NAME} does not parse")).with_source(e)
        })?;
        if manifest.format != FORMAT_NAME {
            return Err(Error::corrupted(format!(
                "{MANIFEST_NAME} names format {:?}, not {FORMAT_NAME:?}",
                manifest.format
            )));
        }
        if manifest.version != FORMAT_VERSION {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "checkpoint format version {} (this build reads version {FORMAT_VERSION})",
                    manifest.version
                ),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for p in &manifest.partitions {
            tq_core::names::check_partition(&p.name).map_err(|e| {
                Error::corrupted(format!(
                    "{MANIFEST_NAME} names a partition no store can hold: {}",
                    e.message()
                ))
                .with_context("partition", p.name.clone())
            })?;
            if !seen.insert(p.name.as_str()) {
                return Err(Error::corrupted(format!(
                    "{MANIFEST_NAME} lists partition {:?} twice",
                    p.name
                ))
                .with_context("partition", p.name.clone()));
            }
            let rows: u64 = p
                .objects
                .iter()
                .map(|o| o.rows)
                .fold(0, u64::saturating_add);
            if rows != p.keys {
                return Err(Error::corrupted(format!(
                    "partition {:?} has {} keys but its objects hold {rows} rows",
                    p.name, p.keys
                ))
                .with_context("partition", p.name.clone()));
            }
        }
        Ok(manifest)
    }

    /// The manifest as pretty JSON.
    pub fn to_json(&self) -> Vec<u8> {
        // Plain strings and integers: serializing cannot fail.
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }

    /// The entry of partition `name`.
    pub fn partition(&self, name: &str) -> Option<&PartitionEntry> {
        self.partitions.iter().find(|p| p.name == name)
    }
}

/// A CRC-32C as the manifest writes it.
pub fn crc_hex(crc: u32) -> String {
    format!("{crc:08x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(partitions: &str) -> Vec<u8> {
        format!(
            r#"{{"format":"tq-checkpoint","version":1,"codec_version":1,
                "checkpoint_id":"00","partitions":[{partitions}]}}"#
        )
        .into_bytes()
    }

    fn partition(name: &str, keys: u64, rows: u64) -> String {
        format!(
            r#"{{"name":"{name}","keys":{keys},"objects":[
                {{"path":"00/0.rows","bytes":8,"rows":{rows},"crc32c":"00000000"}}]}}"#
        )
    }

    fn refusal(bytes: &[u8]) -> Error {
        Manifest::from_json(bytes).expect_err("refused")
    }

    #[test]
    fn a_good_manifest_parses_and_round_trips() {
        let parsed = Manifest::from_json(&manifest(&partition("train", 2, 2))).unwrap();
        assert_eq!(parsed.partitions[0].objects[0].rows, 2);
        assert_eq!(Manifest::from_json(&parsed.to_json()).unwrap(), parsed);
    }

    #[test]
    fn consistent_defaults_to_true_and_reads_false() {
        let absent = Manifest::from_json(&manifest(&partition("p", 1, 1))).unwrap();
        assert!(absent.partitions[0].consistent);
        let fuzzy = partition("p", 1, 1).replacen('{', r#"{"consistent":false,"#, 1);
        let fuzzy = Manifest::from_json(&manifest(&fuzzy)).unwrap();
        assert!(!fuzzy.partitions[0].consistent);
    }

    #[test]
    fn inconsistent_manifests_are_corrupted() {
        let twice = format!("{},{}", partition("a", 1, 1), partition("a", 1, 1));
        for bytes in [
            manifest(&partition("train", 3, 2)),
            manifest(&partition("", 1, 1)),
            manifest(&twice),
            b"{not json".to_vec(),
            other_format(),
        ] {
            let err = refusal(&bytes);
            assert_eq!(err.kind(), ErrorKind::Corrupted, "{err}");
        }
    }

    #[test]
    fn unknown_members_are_corrupted() {
        let text = String::from_utf8(manifest(&partition("t", 1, 1))).unwrap();
        let extra = text.replacen("\"version\":1", "\"version\":1,\"extra\":0", 1);
        assert_ne!(extra, text);
        assert_eq!(refusal(extra.as_bytes()).kind(), ErrorKind::Corrupted);
    }

    fn other_format() -> Vec<u8> {
        String::from_utf8(manifest(&partition("train", 1, 1)))
            .unwrap()
            .replacen("tq-checkpoint", "other", 1)
            .into_bytes()
    }
}
