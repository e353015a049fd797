//! The hardware floor for comparing images: `floor LAYOUT...` reads every layer blob of the
//! given OCI image layouts, on all cores, hashing each blob as stored (the digest check any
//! correct tool owes) and decompressing it and hashing the decompressed stream (the least work
//! behind comparing file contents). Nothing is compared, nothing is skipped, not even blobs
//! both images share. It prints the bytes read and the time taken.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use rayon::prelude::*;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Reads `r` to its end through a 128 KiB buffer (larger than `io::copy`'s 8 KiB, to give the
/// floor every advantage), hashing what it reads; returns the byte count.
fn pump(mut r: impl Read, hasher: &mut Sha256) -> io::Result<u64> {
    let mut buf = vec![0; 128 << 10];
    let mut total = 0;
    loop {
        match r.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => {
                hasher.update(&buf[..n]);
                total += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Hashes what is read through it.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

fn blob_path(layout: &Path, digest: &str) -> anyhow::Result<PathBuf> {
    let (algo, hex) = digest
        .split_once(':')
        .with_context(|| format!("digest {digest:?} has no algorithm"))?;
    Ok(layout.join("blobs").join(algo).join(hex))
}

fn read_json(path: &Path) -> anyhow::Result<Value> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", path.display()))
}

/// Collects the layer blobs below `doc` (an index or a manifest) into `out`.
fn layers(layout: &Path, doc: &Value, out: &mut Vec<(PathBuf, u64)>) -> anyhow::Result<()> {
    if let Some(list) = doc["manifests"].as_array() {
        for m in list {
            let digest = m["digest"]
                .as_str()
                .context("manifest descriptor without digest")?;
            layers(layout, &read_json(&blob_path(layout, digest)?)?, out)?;
        }
    }
    if let Some(list) = doc["layers"].as_array() {
        for l in list {
            let digest = l["digest"]
                .as_str()
                .context("layer descriptor without digest")?;
            out.push((blob_path(layout, digest)?, l["size"].as_u64().unwrap_or(0)));
        }
    }
    Ok(())
}

/// Reads one blob once: hash as stored, decompress by magic bytes, hash decompressed.
fn drain(path: &Path) -> anyhow::Result<u64> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut raw = BufReader::with_capacity(
        256 << 10,
        Hashing {
            inner: file,
            hasher: Sha256::new(),
        },
    );
    let head = raw.fill_buf()?;
    let gzip = head.starts_with(&[0x1f, 0x8b]);
    let zstd = head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]);
    let mut hasher = Sha256::new();
    let out = if gzip {
        pump(flate2::bufread::MultiGzDecoder::new(&mut raw), &mut hasher)?
    } else if zstd {
        pump(
            zstd::stream::read::Decoder::with_buffer(&mut raw)?,
            &mut hasher,
        )?
    } else {
        pump(&mut raw, &mut hasher)?
    };
    io::copy(&mut raw, &mut io::sink())?;
    std::hint::black_box((raw.into_inner().hasher.finalize(), hasher.finalize()));
    Ok(out)
}

fn main() -> anyhow::Result<()> {
    let dirs: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    if dirs.is_empty() {
        bail!("usage: floor OCI-LAYOUT...");
    }
    let start = Instant::now();
    let mut blobs = Vec::new();
    for dir in &dirs {
        layers(dir, &read_json(&dir.join("index.json"))?, &mut blobs)?;
    }
    // Repeated descriptors within one layout (an index listing a manifest twice) are read once;
    // the same blob in two layouts is read twice, as a comparison of the two would.
    let mut seen = BTreeSet::new();
    blobs.retain(|(p, _)| seen.insert(p.clone()));
    // Largest first, so that no big blob starts last and leaves the other cores idle.
    blobs.sort_by_key(|b| std::cmp::Reverse(b.1));
    let stored: u64 = blobs.iter().map(|b| b.1).sum();
    let decompressed: u64 = blobs
        .par_iter()
        .map(|(p, _)| drain(p))
        .collect::<anyhow::Result<Vec<u64>>>()?
        .iter()
        .sum();
    eprintln!(
        "floor: {} blobs, {} MB stored, {} MB decompressed, {:.3} s on {} threads",
        blobs.len(),
        stored / 1_000_000,
        decompressed / 1_000_000,
        start.elapsed().as_secs_f64(),
        rayon::current_num_threads()
    );
    Ok(())
}
