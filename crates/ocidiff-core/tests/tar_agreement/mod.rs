//! Reading a tar stream with ocidiff's reader and with Go's (the oracle in the test kit), and
//! saying where they disagree. Shared by `tests/go_tar.rs` and the `tar_vs_go` fuzz target.

use std::io::Read;

use ocidiff_core::content::{Limits, MemorySource};
use ocidiff_core::layer::tar::{Reader, TarError, Time};
use ocidiff_core::layer::{self, ContentDigest, FileDigests};
use ocidiff_core::model::{Descriptor, Digest, media};
use ocidiff_testkit::go_tar::{GoEntry, GoPair, GoRead, GoTar, GoTime};
use sha2::{Digest as _, Sha256};

fn go_time(t: Time) -> Option<GoTime> {
    (t != Time::GO_ZERO).then_some(GoTime {
        secs: t.secs,
        nanos: t.nanos,
    })
}

fn pairs(m: &std::collections::BTreeMap<Vec<u8>, Vec<u8>>) -> Vec<GoPair> {
    m.iter()
        .map(|(k, v)| GoPair {
            key: k.clone(),
            value: v.clone(),
        })
        .collect()
}

const CHUNK: usize = 1 << 20;

/// The oracle's content fingerprint: SHA-256 over 1 MiB chunks at fixed offsets, an all-zero
/// chunk hashed as `Z`, so that sparse files with holes of many GB read in seconds.
#[derive(Default)]
struct Fingerprint {
    hash: Sha256,
    chunk: Vec<u8>,
    len: i64,
}

impl Fingerprint {
    fn write(&mut self, mut bytes: &[u8]) {
        self.len += i64::try_from(bytes.len()).unwrap();
        while !bytes.is_empty() {
            let k = (CHUNK - self.chunk.len()).min(bytes.len());
            self.chunk.extend_from_slice(&bytes[..k]);
            bytes = &bytes[k..];
            if self.chunk.len() == CHUNK {
                self.flush();
            }
        }
    }

    fn flush(&mut self) {
        static ZERO: [u8; CHUNK] = [0; CHUNK];
        if self.chunk.len() == CHUNK && self.chunk[..] == ZERO[..] {
            self.hash.update(b"Z");
        } else {
            self.hash.update(&self.chunk);
        }
        self.chunk.clear();
    }

    fn sum(mut self) -> String {
        self.flush();
        hex::encode(self.hash.finalize())
    }
}

/// How content is taken from our reader: copied out through `Read`, or lent in place from the
/// stream's buffer (`Reader::drain_data`, as layer walks take it).
#[derive(Clone, Copy)]
enum Content {
    Read,
    Drained,
}

/// What our reader makes of `stream`, in the oracle's terms; `true` when it refused the stream
/// as ambiguous (Go reads it differently from run to run).
fn ours(stream: &[u8], how: Content) -> (GoRead, bool) {
    let mut r = Reader::new(stream);
    let mut out = GoRead {
        go: String::new(),
        entries: Vec::new(),
        error: None,
    };
    loop {
        let h = match r.next_header() {
            Ok(Some(h)) => h,
            Ok(None) => return (out, false),
            Err(e) => {
                let ambiguous = matches!(e, TarError::Ambiguous { .. });
                out.error = Some(e.go_name().to_owned());
                return (out, ambiguous);
            }
        };
        let mut fp = Fingerprint::default();
        let read_error = match how {
            Content::Read => {
                let mut buf = vec![0u8; CHUNK];
                loop {
                    match r.read(&mut buf) {
                        Ok(0) => break None,
                        Ok(n) => fp.write(&buf[..n]),
                        Err(e) => break Some(TarError::from_io(e).go_name().to_owned()),
                    }
                }
            }
            Content::Drained => r
                .drain_data(&mut |bytes| fp.write(bytes))
                .err()
                .map(|e| e.go_name().to_owned()),
        };
        let len = fp.len;
        out.entries.push(GoEntry {
            typeflag: h.typeflag,
            name: h.name,
            linkname: h.linkname,
            size: h.size,
            mode: h.mode,
            uid: h.uid,
            gid: h.gid,
            uname: h.uname,
            gname: h.gname,
            mtime: go_time(h.mtime),
            atime: h.atime.and_then(go_time),
            ctime: h.ctime.and_then(go_time),
            devmajor: h.devmajor,
            devminor: h.devminor,
            xattrs: pairs(&h.xattrs),
            pax: pairs(&h.pax),
            format: h.format.0,
            content: fp.sum(),
            content_len: len,
            read_error: read_error.clone(),
        });
        if read_error.is_some() {
            out.error = read_error;
            return (out, false);
        }
    }
}

/// Checks that our reader and Go's read `stream` alike; the reason when they do not.
pub fn agree(go: &mut GoTar, stream: &[u8]) -> Result<(), String> {
    let theirs = go.read(stream);
    let (mine, ambiguous) = ours(stream, Content::Read);
    if ours(stream, Content::Drained) != (mine.clone(), ambiguous) {
        return Err("content drained in place reads otherwise than through Read".into());
    }
    let n = mine.entries.len().min(theirs.entries.len());
    for i in 0..n {
        if mine.entries[i] != theirs.entries[i] {
            return Err(format!(
                "entry {i} differs:\n  ours: {:?}\n  go:   {:?}",
                mine.entries[i], theirs.entries[i]
            ));
        }
    }
    if ambiguous {
        // Refused where Go reads on: only acceptable for streams Go reads inconsistently.
        return Ok(());
    }
    if mine.entries.len() != theirs.entries.len() || mine.error != theirs.error {
        return Err(format!(
            "ours: {} entries, error {:?}; go: {} entries, error {:?}",
            mine.entries.len(),
            mine.error,
            theirs.entries.len(),
            theirs.error
        ));
    }
    if theirs.error.is_none() {
        hashed_with_the_stream_as_go_reads(&theirs, stream)?;
    }
    Ok(())
}

/// Walked as an uncompressed layer whose files are hashed in the pass that hashes the stream
/// ([`FileDigests::Sha256`]: below the tar reader, as the stream is consumed), each regular
/// file's digest is the SHA-256 of the content Go reads. (Files of 1 MiB or more, whose
/// fingerprint is chunked, and streams with holes to fill of over 64 MiB are not checked.)
fn hashed_with_the_stream_as_go_reads(theirs: &GoRead, stream: &[u8]) -> Result<(), String> {
    if theirs.entries.iter().any(|e| e.content_len > 64 << 20) {
        return Ok(());
    }
    let digest = Digest::sha256_of(stream);
    let desc = Descriptor {
        media_type: media::OCI_LAYER.into(),
        digest: digest.clone(),
        size: stream.len() as u64,
        platform: None,
        annotations: Default::default(),
        urls: vec![],
        artifact_type: None,
    };
    let source = MemorySource([(digest, stream.to_vec())].into());
    let limits = Limits::default();
    // A walk refuses more than the reader does (its limits, runtimes' disagreements on
    // compression): those streams say nothing about hashing.
    let Ok(listing) = layer::walk(
        &source,
        &desc,
        0,
        None,
        &limits,
        FileDigests::Sha256,
        |_, _| Ok(()),
    ) else {
        return Ok(());
    };
    for (i, (e, go)) in listing.entries.iter().zip(&theirs.entries).enumerate() {
        if let (Some(ContentDigest::Sha256(d)), true) = (e.digest, go.content_len < 1 << 20) {
            if hex::encode(d) != go.content {
                return Err(format!(
                    "entry {i} ({}): hashed with the stream {}, go's content {}",
                    e.name,
                    hex::encode(d),
                    go.content
                ));
            }
        }
    }
    Ok(())
}
