//! Builds container images in code for ocidiff's tests and examples.
//!
//! Describe layers entry by entry, images and indexes around them, then write them in any of
//! the forms ocidiff reads. Everything is deterministic: the same specs give the same bytes.
//!
//! ```
//! use ocidiff_testkit::{Compression, Entry, ImageSpec, Layer, write_oci_dir};
//!
//! let dir = std::env::temp_dir().join("ocidiff-testkit-doc");
//! let image = ImageSpec::new().layer(
//!     Layer::new(vec![Entry::dir("etc/"), Entry::file("etc/os-release", "ID=test\n")])
//!         .compression(Compression::Gzip),
//! );
//! let roots = write_oci_dir(&dir, &[("v1", image.into())]).unwrap();
//! assert!(roots[0].starts_with("sha256:"));
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```

#![warn(missing_docs)]

pub mod debian;
pub mod examples;
mod go;
pub mod go_json;
pub mod go_tar;
pub mod hostile_tar;
mod image;
mod layer;
mod raw;
pub mod registry;
pub mod schema;
pub mod skip;
mod write;

pub use image::{
    Blob, BuiltImage, BuiltIndex, DEFAULT_CREATED, ImageSpec, IndexEntry, IndexSpec, MediaStyle,
    Root, sample_documents,
};
pub use layer::{
    Compression, DEFAULT_MTIME, Entry, EntryKind, Layer, TarFormat, compress, layer_media_type,
    sha256_digest,
};
pub use raw::{
    RawLayer, RawTar, header as raw_header, header_edited, pax_records, write_index_json,
    write_layout_blobs, write_raw_oci_dir,
};
pub use write::{
    DockerArchiveForm, docker_archive_bytes, oci_archive_bytes, write_docker_archive,
    write_oci_archive, write_oci_dir,
};

/// `len` bytes that no compressor shrinks, the same for the same `seed` (xorshift): file
/// contents for layers that must stay large once compressed.
// Each byte is the generator's low 8 bits.
#[allow(clippy::cast_possible_truncation)]
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// `bytes` with each `(at, value)` edit written at `at` modulo the length, then cut to `cut`
/// modulo the length plus one: how property tests make hostile inputs from valid ones.
pub fn mutate(mut bytes: Vec<u8>, edits: &[(usize, u8)], cut: Option<usize>) -> Vec<u8> {
    let len = bytes.len();
    for &(at, value) in edits.iter().filter(|_| len > 0) {
        bytes[at % len] = value;
    }
    if let Some(c) = cut {
        bytes.truncate(c % (len + 1));
    }
    bytes
}
