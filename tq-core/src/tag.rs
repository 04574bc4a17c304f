//! Per-row tags: small JSON objects for status tracking.

/// A row's tag: a JSON object such as `{"status": "running", "global_steps": 3}`.
pub type Tag = serde_json::Map<String, serde_json::Value>;

/// Shallow-merges `patch` into `tag` (SPEC P5): entries of `patch` replace
/// entries of the same name, other entries of `tag` are kept.
pub fn merge_tag(tag: &mut Tag, patch: &Tag) {
    for (k, v) in patch {
        tag.insert(k.clone(), v.clone());
    }
}

/// Builds a [`Tag`] from `name => value` pairs; each value goes through
/// `serde_json::json!`.
///
/// ```
/// let tag = tq_core::tag! { "status" => "running", "global_steps" => 3 };
/// assert_eq!(tag["global_steps"], 3);
/// ```
#[macro_export]
macro_rules! tag {
    () => { $crate::Tag::new() };
    ($($k:expr => $v:tt),+ $(,)?) => {{
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
