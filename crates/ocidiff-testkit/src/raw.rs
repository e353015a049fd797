//! Byte-level writers for hostile inputs: tar headers that lie about their size, non-UTF-8 or
//! overlong names, duplicate entries, streams cut short, and OCI layouts around layer blobs
//! given as raw bytes. [`crate::Layer`] writes what a tar tool could; this writes what an
//! attacker would.

use std::io;
use std::path::Path;

use serde_json::json;

use crate::image::{Blob, OCI_CONFIG, OCI_INDEX, OCI_MANIFEST, to_json};
use crate::layer::{DEFAULT_MTIME, sha256_digest};

/// A tar stream assembled header by header, with no checks.
#[derive(Debug, Clone, Default)]
pub struct RawTar {
    bytes: Vec<u8>,
}

impl RawTar {
    /// An empty stream.
    pub fn new() -> RawTar {
        RawTar::default()
    }

    /// A ustar header named `name` (first 100 bytes) of type `kind` (`b'0'` file, `b'5'` dir,
    /// `b'L'` GNU long name…) declaring `size` bytes, followed by `data` padded to a block.
    /// `size` and `data.len()` may disagree: that is the point.
    pub fn entry(mut self, name: &[u8], kind: u8, size: u64, data: &[u8]) -> RawTar {
        self.bytes.extend_from_slice(&header(name, kind, size, b""));
        self.push_data(data);
        self
    }

    /// A link entry (`b'1'` hard, `b'2'` symbolic) named `name` pointing at `target`.
    pub fn link(mut self, name: &[u8], kind: u8, target: &[u8]) -> RawTar {
        self.bytes.extend_from_slice(&header(name, kind, 0, target));
        self
    }

    /// A regular file whose header tells the truth.
    pub fn file(self, name: &[u8], data: &[u8]) -> RawTar {
        self.entry(name, b'0', data.len() as u64, data)
    }

    /// A PAX extended header (`b'x'`, or `b'g'` for a global one, named `pax_global_header` as
    /// `git archive` names it) holding `records`.
    pub fn pax(self, kind: u8, records: &[(&str, &[u8])]) -> RawTar {
        let data = pax_records(records);
        let name: &[u8] = if kind == b'g' {
            b"pax_global_header"
        } else {
            b"PaxHeaders/0"
        };
        self.entry(name, kind, data.len() as u64, &data)
    }

    /// A header block made by [`header_edited`], then `data` padded to a block.
    pub fn edited(
        mut self,
        name: &[u8],
        kind: u8,
        data: &[u8],
        edit: impl FnOnce(&mut [u8; 512]),
    ) -> RawTar {
        self.bytes
            .extend_from_slice(&header_edited(name, kind, data.len() as u64, b"", edit));
        self.push_data(data);
        self
    }

    /// Raw bytes appended as they are (a header block written by hand, garbage…).
    pub fn bytes(mut self, bytes: &[u8]) -> RawTar {
        self.bytes.extend_from_slice(bytes);
        self
    }

    fn push_data(&mut self, data: &[u8]) {
        self.bytes.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.bytes.extend(std::iter::repeat_n(0u8, pad));
    }

    /// The stream with its two zero blocks.
    pub fn finish(mut self) -> Vec<u8> {
        self.bytes.extend_from_slice(&[0u8; 1024]);
        self.bytes
    }

    /// The stream as written so far, without an end-of-archive marker.
    pub fn unterminated(self) -> Vec<u8> {
        self.bytes
    }
}

/// One 512-byte ustar header block with a correct checksum.
pub fn header(name: &[u8], kind: u8, size: u64, link: &[u8]) -> [u8; 512] {
    let mut h = [0u8; 512];
    let n = name.len().min(100);
    h[..n].copy_from_slice(&name[..n]);
    octal(&mut h[100..108], 0o644);
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    if size < 8 << 30 {
        octal(&mut h[124..136], size);
    } else {
        // Base-256, as GNU tar writes sizes of 8 GiB and more.
        h[124] = 0x80;
        h[128..136].copy_from_slice(&size.to_be_bytes());
    }
    octal(&mut h[136..148], DEFAULT_MTIME);
    h[156] = kind;
    let l = link.len().min(100);
    h[157..157 + l].copy_from_slice(&link[..l]);
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].fill(b' ');
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    octal(&mut h[148..155], u64::from(sum));
    h
}

/// [`header`] with `edit` applied before the checksum is set: another magic, a field written
/// as a hostile tool would.
pub fn header_edited(
    name: &[u8],
    kind: u8,
    size: u64,
    link: &[u8],
    edit: impl FnOnce(&mut [u8; 512]),
) -> [u8; 512] {
    let mut h = header(name, kind, size, link);
    edit(&mut h);
    h[148..156].fill(b' ');
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    octal(&mut h[148..155], u64::from(sum));
    h
}

/// The data of a PAX extended header: `LENGTH KEY=VALUE\n` per record, lengths right.
pub fn pax_records(records: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in records {
        let body_len = 1 + k.len() + 1 + v.len() + 1;
        let mut len = body_len + 1;
        while len.to_string().len() + body_len != len {
            len += 1;
        }
        out.extend_from_slice(format!("{len} {k}=").as_bytes());
        out.extend_from_slice(v);
        out.push(b'\n');
    }
    out
}

fn octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let s = format!("{value:0digits$o}");
    field[..digits].copy_from_slice(&s.as_bytes()[s.len() - digits..]);
    field[digits] = 0;
}

/// A layer blob as it will be stored, with the media type its manifest gives it.
#[derive(Debug, Clone)]
pub struct RawLayer {
    /// The media type its manifest descriptor gives it.
    pub media_type: String,
    /// The blob, stored as it is.
    pub bytes: Vec<u8>,
}

impl RawLayer {
    /// A layer blob of `media_type` holding `bytes`.
    pub fn new(media_type: &str, bytes: Vec<u8>) -> RawLayer {
        RawLayer {
            media_type: media_type.to_owned(),
            bytes,
        }
    }

    /// An uncompressed OCI layer.
    pub fn tar(bytes: Vec<u8>) -> RawLayer {
        RawLayer::new("application/vnd.oci.image.layer.v1.tar", bytes)
    }
}

/// Writes an OCI layout holding one image (tagged `latest`) made of `layers` as given, with a
/// config whose `diff_ids` are the blobs' own digests (right for uncompressed layers), and
/// returns the image's blobs: manifest, config, layers.
pub fn write_raw_oci_dir(dir: &Path, layers: &[RawLayer]) -> io::Result<Vec<Blob>> {
    let blobs: Vec<Blob> = layers
        .iter()
        .map(|l| Blob::new(&l.media_type, l.bytes.clone()))
        .collect();
    let diff_ids: Vec<String> = layers.iter().map(|l| sha256_digest(&l.bytes)).collect();
    let config = Blob::new(
        OCI_CONFIG,
        to_json(&json!({
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        })),
    );
    let manifest = Blob::new(
        OCI_MANIFEST,
        to_json(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": config.descriptor(),
            "layers": blobs.iter().map(Blob::descriptor).collect::<Vec<_>>(),
        })),
    );
    let mut all = vec![manifest, config];
    all.extend(blobs);
    write_layout_blobs(dir, &all)?;
    let mut descriptor = all[0].descriptor();
    descriptor["annotations"] = json!({"org.opencontainers.image.ref.name": "latest"});
    write_index_json(
        dir,
        &to_json(&json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [descriptor]})),
    )?;
    Ok(all)
}

/// Writes `blobs` under `dir/blobs/sha256/` and the `oci-layout` marker.
pub fn write_layout_blobs(dir: &Path, blobs: &[Blob]) -> io::Result<()> {
    let blob_dir = dir.join("blobs").join("sha256");
    std::fs::create_dir_all(&blob_dir)?;
    for blob in blobs {
        std::fs::write(blob_dir.join(blob.hex()), &blob.bytes)?;
    }
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)
}

/// Writes `bytes` as the layout's `index.json`, whatever they hold.
pub fn write_index_json(dir: &Path, bytes: &[u8]) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("index.json"), bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_parse_back_with_their_declared_size() {
        let tar = RawTar::new()
            .file(b"a", b"hello")
            .entry(b"lies", b'0', 1 << 40, b"short")
            .unterminated();
        let mut archive = tar::Archive::new(&tar[..]);
        let mut entries = archive.entries().unwrap();
        let first = entries.next().unwrap().unwrap();
        assert_eq!(first.size(), 5);
        let second = entries.next().unwrap().unwrap();
        assert_eq!(second.size(), 1 << 40);
    }
}
