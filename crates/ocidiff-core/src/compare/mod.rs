//! The comparison engine.
