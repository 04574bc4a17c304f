//! What a put asks of a backend for one row ([`RowWrite`], made of
//! [`CellWrite`]s) and what it answers ([`RowState`]); what a get answers
//! ([`Cells`]).

use crate::tag::Tag;
use crate::value::Value;

/// What a row write does to one field of the row.
///
/// `#[non_exhaustive]`: a backend matches the variants it knows and answers
/// any other with [`crate::ErrorKind::Unsupported`] (the engine never sends a
/// variant newer than the tq-core the backend was built against, so that arm
/// only guards a backend used with a newer engine).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum CellWrite {
    /// Set the field to this value, replacing an earlier value.
    Set(Value),
    /// Remove the field (contract C5). Removing a field the row lacks does
    /// nothing.
    Remove,
}

impl CellWrite {
    /// The value a [`CellWrite::Set`] writes; `None` for a removal.
    pub fn value(&self) -> Option<&Value> {
        match self {
            CellWrite::Set(value) => Some(value),
            CellWrite::Remove => None,
        }
    }
}

/// What one put does to one row: cells to set or remove, and tag entries to
/// merge, all applied atomically (Behavior B4).
///
/// `#[non_exhaustive]` so that a row write can grow (a precondition, say)
/// without breaking backends: build one with [`RowWrite::new`] and the
/// `with_*` methods, read it through its public fields.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RowWrite {
    /// The row's key.
    pub key: String,
    /// What to do to each field, in order. Field names are distinct.
    pub cells: Vec<(String, CellWrite)>,
    /// Entries to shallow-merge into the row's tag; `None` leaves it as is.
    pub tag: Option<Tag>,
}

impl RowWrite {
    /// A write of `key` that does nothing yet.
    pub fn new(key: impl Into<String>) -> Self {
        RowWrite {
            key: key.into(),
            cells: Vec::new(),
            tag: None,
        }
    }

    /// Sets `field` to `value`.
    pub fn with_cell(mut self, field: impl Into<String>, value: impl Into<Value>) -> Self {
        self.cells
            .push((field.into(), CellWrite::Set(value.into())));
        self
    }

    /// Removes `field` (contract C5).
    pub fn with_removed(mut self, field: impl Into<String>) -> Self {
        self.cells.push((field.into(), CellWrite::Remove));
        self
    }

    /// Merges `tag`'s entries into the row's tag.
    pub fn with_tag(mut self, tag: Tag) -> Self {
        self.tag = Some(tag);
        self
    }

    /// Whether the write creates the row when it is missing: it does when it
    /// sets a cell or merges a tag (even an empty one, P4); a write that
    /// only removes fields leaves a missing row missing (C5).
    pub fn creates(&self) -> bool {
        self.tag.is_some()
            || self
                .cells
                .iter()
                .any(|(_, cell)| matches!(cell, CellWrite::Set(_)))
    }

    /// The cells this write sets, with their values.
    pub fn set_cells(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.cells
            .iter()
            .filter_map(|(field, cell)| cell.value().map(|v| (field.as_str(), v)))
    }
}

/// A row's state right after a put.
///
/// `#[non_exhaustive]`: a backend builds one with [`RowState::new`] (a row
/// that exists after the write) or [`RowState::absent`].
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct RowState {
    /// The row's full tag after the merge (`{}` for an absent row).
    pub tag: Tag,
    /// Every field the row holds after the put, in any order.
    pub fields: Vec<String>,
    /// Whether the row existed before this write. A row that did not and
    /// whose write does not [create](RowWrite::creates) it is still missing.
    pub existed: bool,
}

impl RowState {
    /// A row that exists after the write, with its full tag and fields;
    /// `existed` says whether it was there before.
    pub fn new(tag: Tag, fields: Vec<String>, existed: bool) -> Self {
        RowState {
            tag,
            fields,
            existed,
        }
    }

    /// A row that was missing and stays missing (a write that only removed
    /// fields).
    pub fn absent() -> Self {
        RowState::default()
    }
}

/// The cells a get found for one row: field name and value, in any order.
pub type Cells = Vec<(String, Value)>;
