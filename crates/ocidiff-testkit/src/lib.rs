//! Builds container images in code for ocidiff's tests and examples.
