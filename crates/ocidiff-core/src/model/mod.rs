//! Vocabulary shared by every part of ocidiff: digests, media types, platforms and the OCI
//! documents the walk navigates.

mod digest;
pub mod gojson;
pub mod media;
mod oci;
mod platform;

pub use digest::{Algorithm, Digest, DigestError, Hasher};
pub use gojson::GoJsonError;
pub use media::{Compression, MediaKind};
pub use oci::{Blob, Config, Descriptor, Document, DocumentError, Index, Manifest, RootFs};
pub use platform::{Matcher, Platform, PlatformChoice, PlatformError, is_runnable};
