//! The library behind `ocidiff`: it opens container images from wherever they are stored,
//! walks two of them level by level (index → manifest → config → layers → tar entries) and
//! returns a plain list of findings for the renderers.
//!
//! Dependencies flow one way: `model` ← `reference` ← `content` ← `source` ← `compare` →
//! `finding` ← `report`.

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
