//! Inputs for ocidiff's benchmarks, built in code so that a run needs no network: images with
//! many small layers, a layer with many small files, and a pair of multi-megabyte images. Each
//! shape comes in two variants (`lhs` = 0, `rhs` = 1) that differ in a few files, as rebuilds do.
//!
//! Content is pseudo-random but deterministic, mixing text-like and incompressible bytes so
//! that gzip works about as hard as on real root filesystems.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;

use ocidiff_testkit::{Compression, Entry, ImageSpec, Layer, write_oci_dir};
use serde_json::json;
use sha2::{Digest, Sha256};

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
        if r.is_multiple_of(4) {
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

/// [`many_files`], with the `rhs` variant's files in another order (a fixed permutation; the
/// directories still come first): a rebuild whose builder walked the tree differently.
pub fn many_files_shuffled(files: usize, variant: u8) -> ImageSpec {
    let image = many_files(files, variant);
    if variant == 0 {
        return image;
    }
    let mut image = image;
    let layer = image.layers.remove(0);
    let (mut dirs, mut rest): (Vec<Entry>, Vec<Entry>) = layer
        .entries
        .into_iter()
        .partition(|e| e.path.ends_with('/'));
    let mut rng = Rng::new(42);
    for i in (1..rest.len()).rev() {
        let j = usize::try_from(rng.next() % (i as u64 + 1)).expect("at most i");
        rest.swap(i, j);
    }
    dirs.extend(rest);
    ImageSpec::new().layer(Layer::new(dirs).compression(Compression::Gzip))
}

/// Files of the large pair: 8 MiB each, under at most 1 GiB per layer.
const BIG_FILE: usize = 8 << 20;
const BIG_LAYER: usize = 1 << 30;

/// Counts and hashes what is written through it: a layer blob's digest and size.
struct Counting<W> {
    inner: W,
    hasher: Sha256,
    size: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A file's content: an 8-byte seed, then a 1 MiB block repeated (what is hashed matters,
/// not what it says; generating gigabytes word by word would take longer than the runs).
struct BigContent<'a> {
    seed: [u8; 8],
    block: &'a [u8],
    at: usize,
    len: usize,
}

impl Read for BigContent<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.at >= self.len {
            return Ok(0);
        }
        let n = if self.at < 8 {
            let n = buf.len().min(8 - self.at);
            buf[..n].copy_from_slice(&self.seed[self.at..self.at + n]);
            n
        } else {
            let off = (self.at - 8) % self.block.len();
            let n = buf
                .len()
                .min(self.block.len() - off)
                .min(self.len - self.at);
            buf[..n].copy_from_slice(&self.block[off..off + n]);
            n
        };
        self.at += n;
        Ok(n)
    }
}

/// Writes a pair of OCI layouts at `dir/lhs` and `dir/rhs` holding `mib` MiB each of files in
/// uncompressed layers of at most 1 GiB, streamed to disk (a 5 GB pair does not fit in memory
/// the way the other shapes are built); in the `rhs` variant one file in twenty differs.
pub fn write_big_pair(dir: &Path, mib: usize) -> io::Result<()> {
    let block = content(4, 1 << 20);
    for (variant, side) in [(0u8, "lhs"), (1, "rhs")] {
        let root = dir.join(side);
        let blobs = root.join("blobs/sha256");
        std::fs::create_dir_all(&blobs)?;
        let total = mib << 20;
        let (mut written, mut file, mut layers) = (0usize, 0u64, Vec::new());
        while written < total {
            let part = root.join("layer.part");
            let mut out = Counting {
                inner: BufWriter::with_capacity(1 << 20, File::create(&part)?),
                hasher: Sha256::new(),
                size: 0,
            };
            {
                let mut tar = tar::Builder::new(&mut out);
                let dir_name = format!("part{}/", layers.len());
                let mut h = tar::Header::new_ustar();
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                tar.append_data(&mut h, &dir_name, io::empty())?;
                let mut in_layer = 0;
                while in_layer < BIG_LAYER && written < total {
                    let changed = file % 20 == 1;
                    let mut h = tar::Header::new_ustar();
                    h.set_mode(0o644);
                    h.set_size(BIG_FILE as u64);
                    let content = BigContent {
                        seed: seed(&[5, file], variant, changed).to_le_bytes(),
                        block: &block,
                        at: 0,
                        len: BIG_FILE,
                    };
                    tar.append_data(&mut h, format!("{dir_name}big{file:05}"), content)?;
                    in_layer += BIG_FILE;
                    written += BIG_FILE;
                    file += 1;
                }
                tar.finish()?;
            }
            out.flush()?;
            let hex = hex::encode(out.hasher.finalize());
            std::fs::rename(&part, blobs.join(&hex))?;
            layers.push((hex, out.size));
        }
        let write_blob = |bytes: Vec<u8>| -> io::Result<(String, usize)> {
            let hex = hex::encode(Sha256::digest(&bytes));
            std::fs::write(blobs.join(&hex), &bytes)?;
            Ok((hex, bytes.len()))
        };
        let config = json!({
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {
                "type": "layers",
                "diff_ids": layers.iter().map(|(h, _)| format!("sha256:{h}")).collect::<Vec<_>>(),
            },
        });
        let (config_hex, config_size) = write_blob(serde_json::to_vec(&config)?)?;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": format!("sha256:{config_hex}"),
                "size": config_size,
            },
            "layers": layers.iter().map(|(h, size)| json!({
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": format!("sha256:{h}"),
                "size": size,
            })).collect::<Vec<_>>(),
        });
        let (manifest_hex, manifest_size) = write_blob(serde_json::to_vec(&manifest)?)?;
        let index = json!({
            "schemaVersion": 2,
            "manifests": [{
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": format!("sha256:{manifest_hex}"),
                "size": manifest_size,
                "annotations": {"org.opencontainers.image.ref.name": "latest"},
            }],
        });
        std::fs::write(root.join("index.json"), serde_json::to_vec(&index)?)?;
        std::fs::write(
            root.join("oci-layout"),
            br#"{"imageLayoutVersion":"1.0.0"}"#,
        )?;
    }
    Ok(())
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

    #[test]
    fn shuffled_variant_holds_the_same_names_in_another_order() {
        let names = |v| -> Vec<String> {
            many_files_shuffled(3000, v).layers[0]
                .entries
                .iter()
                .map(|e| e.path.clone())
                .collect()
        };
        let (l, r) = (names(0), names(1));
        assert_ne!(l, r);
        assert!(r[..3].iter().all(|n| n.ends_with('/')));
        let (mut l, mut r) = (l, r);
        l.sort();
        r.sort();
        assert_eq!(l, r);
    }

    #[test]
    fn big_pair_is_a_layout_that_ocidiff_reads() {
        let dir = tempfile::tempdir().unwrap();
        write_big_pair(dir.path(), 20).unwrap();
        let index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("rhs/index.json")).unwrap())
                .unwrap();
        assert_eq!(
            index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
            "latest"
        );
        let blobs = std::fs::read_dir(dir.path().join("lhs/blobs/sha256"))
            .unwrap()
            .count();
        assert_eq!(blobs, 3, "one layer, a config and a manifest");
    }
}
