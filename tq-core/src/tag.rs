//! Per-row tags: small JSON objects for status tracking.

/// A row's tag: a JSON object such as `{"status": "running", "global_steps": 3}`.
///
/// Build one with [`tag!`](crate::tag!); read its entries with the methods of
/// [`serde_json::Value`], whose crate tq-core re-exports as
/// [`tq_core::serde_json`](crate::serde_json), so no extra dependency is
/// needed:
///
/// ```
/// use tq_core::serde_json::Value;
/// use tq_core::{Tag, tag};
///
/// fn status(tag: &Tag) -> Option<&str> {
///     tag.get("status").and_then(Value::as_str)
/// }
/// assert_eq!(status(&tag! {"status" => "done", "global_steps" => 3}), Some("done"));
/// ```
pub type Tag = serde_json::Map<String, serde_json::Value>;

/// Shallow-merges `patch` into `tag` (contract P5): entries of `patch` replace
/// entries of the same name, other entries of `tag` are kept.
pub fn merge_tag(tag: &mut Tag, patch: &Tag) {
    for (k, v) in patch {
        tag.insert(k.clone(), v.clone());
    }
}

/// Builds a [`Tag`], in either of two forms:
///
/// - `name => value` pairs, each value any `Serialize` expression (numbers,
///   strings, bools, vectors, `json!(..)`; it goes through `json!`):
///   `tag! {"status" => "running", "step" => step, "score" => -0.5}`;
/// - a JSON object literal, as with `serde_json::json!`:
///   `tag!({"status": "running", "nested": {"a": [1, 2]}})`.
///
/// ```
/// use tq_core::tag;
/// let step = 3;
/// let a = tag! {"status" => "running", "global_steps" => step, "score" => -0.5};
/// let b = tag!({"status": "running", "global_steps": 3, "score": -0.5});
/// assert_eq!(a, b);
/// assert!(tag! {}.is_empty());
/// ```
#[macro_export]
macro_rules! tag {
    () => { $crate::Tag::new() };
    ({ $($json:tt)* }) => {
        match $crate::__private::serde_json::json!({ $($json)* }) {
            $crate::__private::serde_json::Value::Object(map) => map,
            // json!({..}) always builds an object.
            _ => $crate::Tag::new(),
        }
    };
    ($($k:expr => $v:expr),+ $(,)?) => {{
        let mut tag = $crate::Tag::new();
        $( tag.insert(::std::string::String::from($k), $crate::__private::serde_json::json!($v)); )+
        tag
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_replaces_named_entries_and_keeps_others() {
        let mut tag = crate::tag! { "status" => "running", "step" => 1 };
        merge_tag(
            &mut tag,
            &crate::tag! { "status" => "done", "score" => 0.5 },
        );
        assert_eq!(
            serde_json::Value::Object(tag),
            serde_json::json!({"status": "done", "step": 1, "score": 0.5})
        );
    }
}
