//! Renderers. Each reads a [`crate::finding::Report`] and nothing else.

pub mod dir;
pub mod html;
pub mod json;
pub mod markdown;
pub mod table;
