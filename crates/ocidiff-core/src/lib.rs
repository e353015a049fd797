//! The library behind `ocidiff`: it opens container images from wherever they are stored,
//! walks two of them level by level (index → manifest → config → layers → tar entries) and
//! returns a plain list of findings for the renderers.
//!
//! Dependencies flow one way: `model` ← `reference` ← `content` ← `source` ← `compare` →
//! `finding` ← `report`.
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

pub mod compare;
pub mod content;
pub mod finding;
pub mod inspect;
pub mod layer;
pub mod model;
pub mod normalize;
pub mod packages;
pub mod reference;
pub mod report;
pub mod source;
pub mod store;
