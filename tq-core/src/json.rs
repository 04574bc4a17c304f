//! The nesting limit of JSON tags and values, checked without recursion.
//!
//! `serde_json` serializes, clones, compares and drops a [`serde_json::Value`]
//! recursively, and its parser refuses documents nested deeper than 128
//! levels. A tag nested a few thousand levels deep would overflow the stack of
//! whichever thread touched it first, and one nested 127 levels deep would be
//! written fine and never parse again once a backend wrapped it in its own
//! record. So the KV engine rejects, before anything is written, every tag and
//! JSON cell nested deeper than [`MAX_JSON_DEPTH`], and this module measures
//! and disposes of such values with loops, never recursion.

use serde_json::Value as Json;

use crate::error::{Error, Result};
use crate::tag::Tag;

/// The deepest nesting of arrays and objects a tag or a JSON cell may have.
///
/// A tag is an object, so it counts as one level: `{"a": {"b": 1}}` is two
/// levels deep, and a tag entry may nest 63 more levels. A JSON cell value
/// `[[1]]` is two levels deep; a scalar is zero. Backends add a few levels of
/// their own framing and must read back everything up to this limit; the
/// `serde_json` parser they use stops at 128.
pub const MAX_JSON_DEPTH: usize = 64;

/// How deeply `value` nests arrays and objects (a scalar is 0), counted with
/// an explicit stack so any depth is safe to measure. Stops counting once
/// the depth passes `limit`, so a huge value is not walked to its end.
fn depth_up_to(value: &Json, limit: usize) -> usize {
    let mut deepest = 0;
    let mut stack: Vec<(&Json, usize)> = vec![(value, 0)];
    while let Some((value, depth)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Json>> = match value {
            Json::Array(items) => Box::new(items.iter()),
            Json::Object(map) => Box::new(map.values()),
            _ => continue,
        };
        let depth = depth + 1;
        deepest = deepest.max(depth);
        if deepest > limit {
            return deepest;
        }
        stack.extend(children.map(|c| (c, depth)));
    }
    deepest
}

/// How deeply `value` nests arrays and objects, up to one past
/// [`MAX_JSON_DEPTH`] (deeper values report `MAX_JSON_DEPTH + 1`).
pub fn json_depth(value: &Json) -> usize {
    depth_up_to(value, MAX_JSON_DEPTH)
}

/// `InvalidArgument` when `value` nests deeper than [`MAX_JSON_DEPTH`]; the
/// caller adds the partition, key and field. (A tag is an object: check its
/// entries against `MAX_JSON_DEPTH - 1`, as the KV engine does.)
pub fn check_json_depth(value: &Json) -> Result<()> {
    if json_depth(value) > MAX_JSON_DEPTH {
        return Err(Error::invalid_argument(format!(
            "the JSON value nests arrays and objects more than {MAX_JSON_DEPTH} levels deep"
        )));
    }
    Ok(())
}

/// Drops `value` without recursion, whatever its depth (`serde_json`'s own
/// `Drop` recurses once per level and can overflow the stack).
pub fn drop_json(value: Json) {
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            Json::Array(items) => stack.extend(items),
            Json::Object(map) => stack.extend(map.into_iter().map(|(_, v)| v)),
            _ => {}
        }
    }
}

/// Drops `tag` without recursion; see [`drop_json`].
pub fn drop_tag(tag: Tag) {
    drop_json(Json::Object(tag));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `[[[...]]]` nested `depth` levels, built without recursion.
    fn nested_array(depth: usize) -> Json {
        let mut value = json!(1);
        for _ in 0..depth {
            value = Json::Array(vec![value]);
        }
        value
    }

    #[test]
    fn depth_counts_arrays_and_objects() {
        assert_eq!(json_depth(&json!(1)), 0);
        assert_eq!(json_depth(&json!([])), 1);
        assert_eq!(json_depth(&json!({"a": [1, {"b": 2}]})), 3);
        assert_eq!(json_depth(&nested_array(64)), 64);
        assert_eq!(json_depth(&nested_array(65)), 65);
        let deep = nested_array(10_000);
        assert_eq!(json_depth(&deep), MAX_JSON_DEPTH + 1);
        drop_json(deep);
    }

    #[test]
    fn values_a_million_levels_deep_are_measured_and_dropped_without_overflow() {
        // On a small stack, so recursion anywhere would overflow it.
        std::thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(|| {
                let value = nested_array(1_000_000);
                assert!(check_json_depth(&value).is_err());
                drop_json(value);
                let mut tag = Tag::new();
                tag.insert("x".into(), nested_array(1_000_000));
                drop_tag(tag);
            })
            .unwrap()
            .join()
            .unwrap();
    }
}
