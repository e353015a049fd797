//! Renderers. Each reads a [`crate::finding::Findings`] and nothing else.

mod cells;
pub mod dir;
pub mod html;
pub mod json;
pub mod markdown;
pub mod table;

#[cfg(test)]
mod fixtures;
