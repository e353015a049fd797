//! Renderers. Each reads a [`crate::finding::Report`] and nothing else.
