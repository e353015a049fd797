//! The library behind `ocidiff`: it opens container images from wherever they are stored,
//! walks two of them level by level (index → manifest → config → layers → tar entries) and
//! returns a plain list of findings for the renderers.
//!
//! Dependencies flow one way, each module using only those before it: `model` ← `reference` ←
//! `content` ← `layer` ← `normalize` ← `finding` ← `image` ← `store` ← `source` ← `rebuild` ←
//! `inspect` ← `packages` ← `compare` ← `report` ← `attest`.
//! `finding` is the plain result model that the engine (`compare`) fills and the renderers
//! (`report`) read, so it sits below the engine; `attest` (signed statements of a rebuild check)
//! needs only digests and comes last. `tests/architecture.rs` keeps this order true.
//!
//! # Features
//!
//! All on by default. With `default-features = false` the library reads local images only
//! (OCI layouts, `oci-archive`, `docker-archive`) and builds none of tokio, reqwest, hyper,
//! tonic, prost or rusqlite; a reference that needs a missing feature opens as
//! [`source::SourceError::FeatureDisabled`].
//!
//! - `registry`: pulling from registries into the store (reqwest, tokio).
//! - `daemon`: `docker://` and `podman://`, exported through the Engine API.
//! - `containerd`: `containerd://`, read through containerd's gRPC API (tonic, prost).
//! - `rpm`: the sqlite rpm database in the package view (rusqlite); without it an image's
//!   rpm database is named in a note.

#![warn(missing_docs)]

// In the order above; each comment starts a group, which keeps rustfmt from sorting across it.

// The vocabulary (digests, media types, documents) and image references.
pub mod model;
pub mod reference;
// Reading blobs and the layers in them.
pub mod content;
pub mod layer;
// What a comparison ignores.
pub mod normalize;
// The result model.
pub mod finding;
// The opened image, and the embedded store that keeps pulled ones.
pub mod image;
pub mod store;
// Where images come from.
pub mod source;
// Building an image again from its source.
pub mod rebuild;
// Views into layer content: nested archives and installed packages.
pub mod inspect;
pub mod packages;
// The engine and the renderers.
pub mod compare;
pub mod report;
// Signed statements of what a check found.
pub mod attest;
