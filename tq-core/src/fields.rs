//! [`FieldNames`]: what the field-list arguments of the kv_* API accept.
//!
//! `select_fields` of the gets and `fields` of [`crate::KvStore::kv_clear`]
//! take `Option<&dyn FieldNames>`: `None` means every field, and `Some(&x)`
//! takes any list of strings, as literals or as the collection you hold.
//! A trait object rather than a generic parameter keeps a bare `None`
//! compiling (a generic `Option<F>` would need its type spelled out).
//!
//! ```
//! # use tq_core::FieldNames;
//! fn names(fields: Option<&dyn FieldNames>) -> Vec<String> {
//!     fields.map(|f| f.field_names().into_iter().map(str::to_owned).collect()).unwrap_or_default()
//! }
//! let owned: Vec<String> = vec!["a".into(), "b".into()];
//! let borrowed: &[String] = &owned;
//! assert_eq!(names(Some(&["a", "b"])), ["a", "b"]);
//! assert_eq!(names(Some(&owned)), ["a", "b"]);
//! assert_eq!(names(Some(&borrowed)), ["a", "b"]);
//! assert_eq!(names(Some(&vec!["a"])), ["a"]);
//! assert!(names(None).is_empty());
//! ```

use std::collections::BTreeSet;

use indexmap::IndexSet;

/// A list of field names, in order. Implemented for arrays, slices, `Vec`s,
/// `BTreeSet`s and `IndexSet`s of anything that is `AsRef<str>`.
pub trait FieldNames: Sync {
    /// The names, in order (repeats are kept: the operation decides whether
    /// they are allowed).
    fn field_names(&self) -> Vec<&str>;
}

impl<S: AsRef<str> + Sync, const N: usize> FieldNames for [S; N] {
    fn field_names(&self) -> Vec<&str> {
        self.iter().map(AsRef::as_ref).collect()
    }
}

impl<S: AsRef<str> + Sync> FieldNames for &[S] {
    fn field_names(&self) -> Vec<&str> {
        self.iter().map(AsRef::as_ref).collect()
    }
}

impl<S: AsRef<str> + Sync> FieldNames for Vec<S> {
    fn field_names(&self) -> Vec<&str> {
        self.iter().map(AsRef::as_ref).collect()
    }
}

impl<S: AsRef<str> + Sync> FieldNames for BTreeSet<S> {
    fn field_names(&self) -> Vec<&str> {
        self.iter().map(AsRef::as_ref).collect()
    }
}

impl<S: AsRef<str> + Sync, H: Sync> FieldNames for IndexSet<S, H> {
    fn field_names(&self) -> Vec<&str> {
        self.iter().map(AsRef::as_ref).collect()
    }
}
