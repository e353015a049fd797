//! Renderers. Each reads a [`crate::finding::Report`] and nothing else.

pub mod dir;
pub mod json;
pub mod table;
