//! Conversions between Python objects and tq-rs values.

pub(crate) mod input;
pub(crate) mod json;
pub(crate) mod output;
