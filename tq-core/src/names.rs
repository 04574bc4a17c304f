//! Checks on partition, key and field names (contract section 1).

use crate::error::{Error, Result};

/// Longest partition name, in bytes.
pub const MAX_PARTITION_BYTES: usize = 256;
/// Longest field name, in bytes.
pub const MAX_FIELD_BYTES: usize = 256;
/// Longest key, in bytes.
pub const MAX_KEY_BYTES: usize = 4096;

fn check(what: &'static str, name: &str, max: usize) -> Result<()> {
    if name.is_empty() {
        return Err(Error::invalid_argument(format!("{what} must not be empty")));
    }
    if name.len() > max {
        return Err(Error::invalid_argument(format!(
            "{what} is {} bytes long, the limit is {max}",
            name.len()
        ))
        .with_context(what, truncate(name)));
    }
    Ok(())
}

/// Checks a partition name.
pub fn check_partition(partition: &str) -> Result<()> {
    check("partition", partition, MAX_PARTITION_BYTES)
}

/// Checks a key.
pub fn check_key(key: &str) -> Result<()> {
    check("key", key, MAX_KEY_BYTES)
}

/// Checks a field name.
pub fn check_field(field: &str) -> Result<()> {
    check("field", field, MAX_FIELD_BYTES)
}

/// A name cut to a readable length for error messages.
pub(crate) fn truncate(name: &str) -> String {
    const SHOW: usize = 64;
    if name.len() <= SHOW {
        return name.to_owned();
    }
    let mut end = SHOW;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &name[..end])
}

/// Up to ten names joined for an error message, each cut to 64 bytes, with
/// a count of the rest: `"a, b, c and 12 more"`. For backends that name keys
/// in their errors the way the engine does.
pub fn list_names<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.into_iter().collect();
    let mut out = names
        .iter()
        .take(10)
        .map(|n| truncate(n))
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > 10 {
        out.push_str(&format!(" and {} more", names.len() - 10));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_emptiness() {
        assert!(check_partition("p").is_ok());
        assert!(check_partition("").is_err());
        assert!(check_partition(&"p".repeat(256)).is_ok());
        assert!(check_partition(&"p".repeat(257)).is_err());
        assert!(check_key(&"k".repeat(4096)).is_ok());
        assert!(check_key(&"k".repeat(4097)).is_err());
        assert!(check_field(&"f".repeat(257)).is_err());
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        let s = "é".repeat(100);
        assert!(truncate(&s).ends_with("..."));
        assert_eq!(
            list_names((0..12).map(|_| "a")),
            "a, a, a, a, a, a, a, a, a, a and 2 more"
        );
    }
}
