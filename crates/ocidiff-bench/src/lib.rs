//! Inputs for ocidiff's benchmarks, built in code so that a run needs no network: images with
//! many small layers, a layer with many small files, and a pair of multi-megabyte images. Each
//! shape comes in two variants (`lhs` = 0, `rhs` = 1) that differ in a few files, as rebuilds do.
//!
//! Content is pseudo-random but deterministic, mixing text-like and incompressible bytes so
//! that gzip works about as hard as on real root filesystems.

use std::io;
use std::path::Path;

use ocidiff_testkit::{Compression, Entry, ImageSpec, Layer, write_oci_dir};

/// A fixed-seed xorshift generator: fast, and the same bytes on every machine.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

/// `len` bytes for file `seed`: three quarters words from a small vocabulary (compressible,
/// like text and code), one quarter random (like machine code and compressed data).
pub fn content(seed: u64, len: usize) -> Vec<u8> {
    const WORDS: [&str; 16] = [
        "usr", "lib", "include", "static", "const", "return", "int", "void", "struct", "x86_64",
        "linux", "gnu", "debian", "0x0000", "if", "else",
    ];
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(len + 16);
    while out.len() < len {
        let r = rng.next();
        if r % 4 == 0 {
            out.extend_from_slice(&rng.next().to_le_bytes());
        } else {
            out.extend_from_slice(WORDS[(r >> 8) as usize % WORDS.len()].as_bytes());
            out.push(if r & 0x30 == 0 { b'\n' } else { b' ' });
        }
    }
    out.truncate(len);
    out
}

/// Seeds a file's content: the same in both variants unless `changed`.
fn seed(parts: &[u64], variant: u8, changed: bool) -> u64 {
    let base = parts.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, p| {
        (h ^ p).wrapping_mul(0x0100_0000_01b3)
    });
    if changed {
        base ^ u64::from(variant) << 56
    } else {
        base
    }
}

/// `layers` gzip layers of 8 small files each; in the `rhs` variant one file in every tenth
/// layer differs.
pub fn many_layers(layers: usize, variant: u8) -> ImageSpec {
    let mut image = ImageSpec::new();
    for l in 0..layers {
        let dir = format!("layer{l:04}/");
        let mut entries = vec![Entry::dir(&dir)];
        for f in 0..8u64 {
            let changed = f == 0 && l % 10 == 0;
            let s = seed(&[1, l as u64, f], variant, changed);
            let len = 200 + (s % 3800) as usize;
            entries.push(Entry::file(&format!("{dir}f{f}"), content(s, len)));
        }
        image = image.layer(Layer::new(entries).compression(Compression::Gzip));
    }
    image
}

/// One gzip layer holding `files` small files (64 to 1 KiB) in directories of 1000; in the
/// `rhs` variant every thousandth file differs.
pub fn many_files(files: usize, variant: u8) -> ImageSpec {
    let mut entries = Vec::with_capacity(files + files / 1000 + 1);
    for f in 0..files {
        let dir = format!("d{:04}/", f / 1000);
        if f % 1000 == 0 {
            entries.push(Entry::dir(&dir));
        }
        let s = seed(&[2, f as u64], variant, f % 1000 == 0);
        let len = 64 + (s % 960) as usize;
        entries.push(Entry::file(&format!("{dir}file{f:06}"), content(s, len)));
    }
    ImageSpec::new().layer(Layer::new(entries).compression(Compression::Gzip))
}

/// Three gzip layers of files from 16 KiB to 1 MiB, about `mib` MiB uncompressed in all; in
/// the `rhs` variant one file in twenty differs.
pub fn sized_pair(mib: usize, variant: u8) -> ImageSpec {
    let mut image = ImageSpec::new();
    let per_layer = (mib << 20) / 3;
    for l in 0..3u64 {
        let dir = format!("part{l}/");
        let mut entries = vec![Entry::dir(&dir)];
        let (mut total, mut f) = (0usize, 0u64);
        while total < per_layer {
            let s = seed(&[3, l, f], variant, f % 20 == 1);
            let len = (16 << 10) + (seed(&[3, l, f], 0, false) % (1008 << 10)) as usize;
            entries.push(Entry::file(&format!("{dir}blob{f:05}"), content(s, len)));
            total += len;
            f += 1;
        }
        image = image.layer(Layer::new(entries).compression(Compression::Gzip));
    }
    image
}

/// Writes `image` as an OCI image layout at `dir`, tagged `latest`.
pub fn write_layout(dir: &Path, image: ImageSpec) -> io::Result<()> {
    write_oci_dir(dir, &[("latest", image.into())]).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_is_deterministic_and_sized() {
        assert_eq!(content(7, 1000), content(7, 1000));
        assert_ne!(content(7, 1000), content(8, 1000));
        assert_eq!(content(7, 1234).len(), 1234);
    }

    #[test]
    fn variants_differ_in_a_few_files() {
        let [l, r] = [0, 1].map(|v| many_layers(20, v).build());
        assert_eq!(l.layers.len(), 20);
        let differing = l
            .layers
            .iter()
            .zip(&r.layers)
            .filter(|(a, b)| a.digest != b.digest)
            .count();
        assert_eq!(differing, 2);
        assert_eq!(many_files(2000, 0).layers[0].entries.len(), 2002);
        // Even the quick check's 4 MiB pair, a few files per layer, differs in every layer.
        let [l, r] = [0, 1].map(|v| sized_pair(4, v).build());
        assert!(
            l.layers
                .iter()
                .zip(&r.layers)
                .all(|(a, b)| a.digest != b.digest)
        );
    }
}
