//! Vocabulary shared by every part of ocidiff: digests, media types, platforms, the OCI
//! documents the walk navigates and the two sides of a comparison.

mod digest;
pub mod gojson;
pub mod media;
mod oci;
mod platform;
pub mod progress;
mod side;

pub use digest::{Algorithm, Digest, DigestError, Hasher};
pub use gojson::GoJsonError;
pub use media::{Compression, MediaKind};
pub use oci::{Blob, Config, Descriptor, Document, DocumentError, Index, Manifest, RootFs};
pub use platform::{Matcher, Platform, PlatformChoice, PlatformError, is_runnable};
pub use progress::{Progress, Reporter, Unit};
pub use side::Side;
