//! Tar entries and layers, written byte by byte as the caller describes them.
//!
//! Headers are filled in by hand rather than through `tar::Builder::append_data` because a
//! test kit must be able to write what careful tools refuse to: `..` components, absolute
//! names, PAX records on every entry, GNU headers. Paths are written verbatim (a directory
//! named `etc` has no trailing slash unless the caller gives one).

use std::io::Write;

use sha2::{Digest as _, Sha256};

/// The default modification time of entries, layers and archives: 2023-11-14T22:13:20Z.
pub const DEFAULT_MTIME: u64 = 1_700_000_000;

/// How a layer's tar stream is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// Plain tar, as `docker save` writes layers.
    #[default]
    None,
    /// gzip, with mtime 0 in its header so that the bytes are the same every run.
    Gzip,
    /// zstd.
    Zstd,
}

/// The header style entries are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TarFormat {
    /// POSIX ustar headers; names longer than 100 bytes fall back to GNU long-name entries,
    /// as tar-rs and Docker write them.
    #[default]
    Ustar,
    /// ustar headers each preceded by a PAX extended header (holding at least `mtime`, as GNU
    /// tar's `--format=pax` and `BuildKit` write them); long names go into PAX `path`/`linkpath`.
    Pax,
    /// GNU headers (`ustar  ` magic); long names as GNU long-name entries.
    Gnu,
}

/// What an entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file with this content.
    File(Vec<u8>),
    /// A directory.
    Dir,
    /// A symbolic link to this target.
    Symlink(String),
    /// A hard link to another entry of the same layer, named by its path.
    Hardlink(String),
    /// A named pipe.
    Fifo,
    /// A character device.
    CharDevice {
        /// The device's major number.
        major: u32,
        /// The device's minor number.
        minor: u32,
    },
    /// A block device.
    BlockDevice {
        /// The device's major number.
        major: u32,
        /// The device's minor number.
        minor: u32,
    },
}

/// One tar entry: built with a constructor, then adjusted with the chainable setters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The path as written in the header.
    pub path: String,
    /// What the entry is.
    pub kind: EntryKind,
    /// Permission bits.
    pub mode: u32,
    /// Owner user ID (0 by default).
    pub uid: u64,
    /// Owner group ID (0 by default).
    pub gid: u64,
    /// Owner user name (empty by default).
    pub uname: String,
    /// Owner group name (empty by default).
    pub gname: String,
    /// Modification time in seconds since the epoch ([`DEFAULT_MTIME`] by default).
    pub mtime: u64,
    /// PAX records written before the entry, in order (xattrs are `SCHILY.xattr.NAME`).
    pub pax: Vec<(String, Vec<u8>)>,
}

impl Entry {
    fn new(path: &str, kind: EntryKind, mode: u32) -> Entry {
        Entry {
            path: path.to_owned(),
            kind,
            mode,
            uid: 0,
            gid: 0,
            uname: String::new(),
            gname: String::new(),
            mtime: DEFAULT_MTIME,
            pax: Vec::new(),
        }
    }

    /// A regular file, mode 0644.
    pub fn file(path: &str, content: impl AsRef<[u8]>) -> Entry {
        Entry::new(path, EntryKind::File(content.as_ref().to_vec()), 0o644)
    }

    /// A directory, mode 0755. The name is written as given: pass `etc/` for the usual form.
    pub fn dir(path: &str) -> Entry {
        Entry::new(path, EntryKind::Dir, 0o755)
    }

    /// A symbolic link, mode 0777.
    pub fn symlink(path: &str, target: &str) -> Entry {
        Entry::new(path, EntryKind::Symlink(target.to_owned()), 0o777)
    }

    /// A hard link named `path` to the entry `target`.
    pub fn hardlink(path: &str, target: &str) -> Entry {
        Entry::new(path, EntryKind::Hardlink(target.to_owned()), 0o644)
    }

    /// The whiteout deleting `path` from lower layers: an empty file `DIR/.wh.NAME`.
    pub fn whiteout(path: &str) -> Entry {
        let trimmed = path.trim_end_matches('/');
        let (dir, name) = match trimmed.rsplit_once('/') {
            Some((dir, name)) => (format!("{dir}/"), name),
            None => (String::new(), trimmed),
        };
        Entry::file(&format!("{dir}.wh.{name}"), b"")
    }

    /// The opaque marker hiding everything lower layers hold under `dir`.
    pub fn opaque(dir: &str) -> Entry {
        let dir = dir.trim_end_matches('/');
        let path = if dir.is_empty() {
            ".wh..wh..opq".to_owned()
        } else {
            format!("{dir}/.wh..wh..opq")
        };
        Entry::file(&path, b"")
    }

    /// A named pipe, mode 0644.
    pub fn fifo(path: &str) -> Entry {
        Entry::new(path, EntryKind::Fifo, 0o644)
    }

    /// A character device, mode 0666.
    pub fn char_device(path: &str, major: u32, minor: u32) -> Entry {
        Entry::new(path, EntryKind::CharDevice { major, minor }, 0o666)
    }

    /// A block device, mode 0660.
    pub fn block_device(path: &str, major: u32, minor: u32) -> Entry {
        Entry::new(path, EntryKind::BlockDevice { major, minor }, 0o660)
    }

    /// Sets the permission bits.
    pub fn mode(mut self, mode: u32) -> Entry {
        self.mode = mode;
        self
    }

    /// Sets the owner user ID.
    pub fn uid(mut self, uid: u64) -> Entry {
        self.uid = uid;
        self
    }

    /// Sets the owner group ID.
    pub fn gid(mut self, gid: u64) -> Entry {
        self.gid = gid;
        self
    }

    /// Sets the owner user name.
    pub fn uname(mut self, uname: &str) -> Entry {
        uname.clone_into(&mut self.uname);
        self
    }

    /// Sets the owner group name.
    pub fn gname(mut self, gname: &str) -> Entry {
        gname.clone_into(&mut self.gname);
        self
    }

    /// Sets the modification time, in seconds since the epoch.
    pub fn mtime(mut self, secs: u64) -> Entry {
        self.mtime = secs;
        self
    }

    /// Adds a PAX record (written whatever the layer's [`TarFormat`]).
    pub fn pax(mut self, key: &str, value: impl AsRef<[u8]>) -> Entry {
        self.pax.push((key.to_owned(), value.as_ref().to_vec()));
        self
    }

    /// Adds an extended attribute, as the PAX record `SCHILY.xattr.NAME`.
    pub fn xattr(self, name: &str, value: impl AsRef<[u8]>) -> Entry {
        self.pax(&format!("SCHILY.xattr.{name}"), value)
    }

    fn type_flag(&self) -> tar::EntryType {
        match self.kind {
            EntryKind::File(_) => tar::EntryType::Regular,
            EntryKind::Dir => tar::EntryType::Directory,
            EntryKind::Symlink(_) => tar::EntryType::Symlink,
            EntryKind::Hardlink(_) => tar::EntryType::Link,
            EntryKind::Fifo => tar::EntryType::Fifo,
            EntryKind::CharDevice { .. } => tar::EntryType::Char,
            EntryKind::BlockDevice { .. } => tar::EntryType::Block,
        }
    }
}

/// A layer: entries in order, the header style and the compression of its blob.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Layer {
    /// The entries, in stream order.
    pub entries: Vec<Entry>,
    /// How the blob is compressed.
    pub compression: Compression,
    /// The header style entries are written in.
    pub format: TarFormat,
    /// A tar stream given as it is (see [`Layer::raw`]), instead of `entries`.
    pub raw: Option<Vec<u8>>,
}

impl Layer {
    /// An uncompressed ustar layer.
    pub fn new(entries: Vec<Entry>) -> Layer {
        Layer {
            entries,
            ..Layer::default()
        }
    }

    /// A layer whose uncompressed tar stream is `tar`, byte for byte: a hostile stream written
    /// with [`crate::RawTar`], or one a tool made.
    pub fn raw(tar: Vec<u8>) -> Layer {
        Layer {
            raw: Some(tar),
            ..Layer::default()
        }
    }

    /// Sets how the blob is compressed.
    pub fn compression(mut self, compression: Compression) -> Layer {
        self.compression = compression;
        self
    }

    /// Sets the header style.
    pub fn format(mut self, format: TarFormat) -> Layer {
        self.format = format;
        self
    }

    /// The uncompressed tar stream, ending with the two zero blocks.
    ///
    /// # Panics
    /// When an entry cannot be represented: a uname or gname longer than 32 bytes, or a
    /// number too large for its header field. These are mistakes in the test, not input.
    pub fn tar_bytes(&self) -> Vec<u8> {
        if let Some(raw) = &self.raw {
            return raw.clone();
        }
        let mut builder = tar::Builder::new(Vec::new());
        for entry in &self.entries {
            append_entry(&mut builder, entry, self.format);
        }
        builder
            .into_inner()
            .expect("writing a tar into memory cannot fail")
    }

    /// The blob as stored in an image: the tar stream, compressed.
    pub fn blob_bytes(&self) -> Vec<u8> {
        compress(&self.tar_bytes(), self.compression)
    }

    /// `sha256:…` of the uncompressed tar, as listed in the config's `rootfs.diff_ids`.
    pub fn diff_id(&self) -> String {
        sha256_digest(&self.tar_bytes())
    }
}

/// Compresses deterministically: gzip with no name and mtime 0, zstd at level 3.
pub fn compress(bytes: &[u8], compression: Compression) -> Vec<u8> {
    match compression {
        Compression::None => bytes.to_vec(),
        Compression::Gzip => {
            let mut gz = flate2::GzBuilder::new()
                .mtime(0)
                .write(Vec::new(), flate2::Compression::default());
            gz.write_all(bytes).expect("compressing into memory");
            gz.finish().expect("compressing into memory")
        }
        Compression::Zstd => zstd::encode_all(bytes, 3).expect("compressing into memory"),
    }
}

/// `sha256:HEX` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn append_entry(builder: &mut tar::Builder<Vec<u8>>, entry: &Entry, format: TarFormat) {
    let mut header = match format {
        TarFormat::Gnu => tar::Header::new_gnu(),
        TarFormat::Ustar | TarFormat::Pax => tar::Header::new_ustar(),
    };
    let mut pax = Vec::new();
    if format == TarFormat::Pax {
        pax.push(("mtime".to_owned(), entry.mtime.to_string().into_bytes()));
    }
    let link = match &entry.kind {
        EntryKind::Symlink(t) | EntryKind::Hardlink(t) => Some(t.as_str()),
        _ => None,
    };
    let name_field_len = header.as_old().name.len();
    let long_name = entry.path.len() > name_field_len;
    let long_link = link.is_some_and(|l| l.len() > name_field_len);
    if format == TarFormat::Pax {
        if long_name {
            pax.push(("path".to_owned(), entry.path.clone().into_bytes()));
        }
        if let (true, Some(l)) = (long_link, link) {
            pax.push(("linkpath".to_owned(), l.as_bytes().to_vec()));
        }
    } else {
        if long_name {
            append_gnu_long(builder, b'L', &entry.path);
        }
        if let (true, Some(l)) = (long_link, link) {
            append_gnu_long(builder, b'K', l);
        }
    }
    pax.extend(entry.pax.iter().cloned());
    if !pax.is_empty() {
        append_pax(builder, &entry.path, &pax);
    }

    set_truncated(&mut header.as_old_mut().name, &entry.path);
    if let Some(l) = link {
        set_truncated(&mut header.as_old_mut().linkname, l);
    }
    header.set_entry_type(entry.type_flag());
    header.set_mode(entry.mode);
    header.set_uid(entry.uid);
    header.set_gid(entry.gid);
    header.set_mtime(entry.mtime);
    header
        .set_username(&entry.uname)
        .expect("uname fits in 32 bytes");
    header
        .set_groupname(&entry.gname)
        .expect("gname fits in 32 bytes");
    if let EntryKind::CharDevice { major, minor } | EntryKind::BlockDevice { major, minor } =
        entry.kind
    {
        header.set_device_major(major).expect("ustar or gnu header");
        header.set_device_minor(minor).expect("ustar or gnu header");
    }
    let data: &[u8] = match &entry.kind {
        EntryKind::File(content) => content,
        _ => &[],
    };
    header.set_size(data.len() as u64);
    header.set_cksum();
    builder
        .append(&header, data)
        .expect("writing a tar into memory cannot fail");
}

/// Copies as much of `value` as fits: the whole name, or its head when a long-name record
/// carries the rest.
fn set_truncated(field: &mut [u8], value: &str) {
    field.fill(0);
    let n = value.len().min(field.len());
    field[..n].copy_from_slice(&value.as_bytes()[..n]);
}

/// A GNU `././@LongLink` entry of type `L` (name) or `K` (link name).
fn append_gnu_long(builder: &mut tar::Builder<Vec<u8>>, kind: u8, value: &str) {
    let mut header = tar::Header::new_gnu();
    set_truncated(&mut header.as_old_mut().name, "././@LongLink");
    header.set_entry_type(tar::EntryType::new(kind));
    header.set_mode(0o644);
    let mut data = value.as_bytes().to_vec();
    data.push(0);
    header.set_size(data.len() as u64);
    header.set_cksum();
    builder
        .append(&header, &data[..])
        .expect("writing a tar into memory cannot fail");
}

/// A PAX extended header (type `x`) named like Go's `archive/tar` names them.
fn append_pax(builder: &mut tar::Builder<Vec<u8>>, path: &str, records: &[(String, Vec<u8>)]) {
    let mut data = Vec::new();
    for (key, value) in records {
        data.extend_from_slice(&pax_record(key, value));
    }
    let trimmed = path.trim_end_matches('/');
    let name = match trimmed.rsplit_once('/') {
        Some((dir, base)) => format!("{dir}/PaxHeaders.0/{base}"),
        None => format!("PaxHeaders.0/{trimmed}"),
    };
    let mut header = tar::Header::new_ustar();
    set_truncated(&mut header.as_old_mut().name, &name);
    header.set_entry_type(tar::EntryType::XHeader);
    header.set_mode(0o644);
    header.set_size(data.len() as u64);
    header.set_cksum();
    builder
        .append(&header, &data[..])
        .expect("writing a tar into memory cannot fail");
}

/// `LEN KEY=VALUE\n`, where LEN counts the whole record including its own digits.
fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let body = key.len() + value.len() + 3; // space, '=', newline
    let mut len = body + body.to_string().len();
    if len.to_string().len() + body != len {
        len = body + len.to_string().len();
    }
    let mut record = format!("{len} {key}=").into_bytes();
    record.extend_from_slice(value);
    record.push(b'\n');
    record
}

/// The OCI layer media type whose compression a blob's magic bytes show, as an image that
/// describes its layers truthfully would declare it.
pub fn layer_media_type(blob: &[u8]) -> &'static str {
    match blob.get(..4) {
        Some([0x1f, 0x8b, ..]) => "application/vnd.oci.image.layer.v1.tar+gzip",
        Some([0x28, 0xb5, 0x2f, 0xfd]) => "application/vnd.oci.image.layer.v1.tar+zstd",
        _ => "application/vnd.oci.image.layer.v1.tar",
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    /// What a reader sees of one entry.
    struct ReadBack {
        path: String,
        pax: Vec<(String, Vec<u8>)>,
        gnu: bool,
    }

    fn read_back(tar_bytes: &[u8]) -> Vec<ReadBack> {
        let mut archive = tar::Archive::new(tar_bytes);
        let mut out = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let pax = match entry.pax_extensions().unwrap() {
                Some(exts) => exts
                    .map(|e| {
                        let e = e.unwrap();
                        (e.key().unwrap().to_owned(), e.value_bytes().to_vec())
                    })
                    .collect(),
                None => vec![],
            };
            out.push(ReadBack {
                path: entry.path().unwrap().to_string_lossy().into_owned(),
                pax,
                gnu: entry.header().as_gnu().is_some(),
            });
        }
        out
    }

    #[test]
    fn gzip_and_zstd_layers_have_the_tar_as_diff_id() {
        let entries = vec![Entry::dir("etc/"), Entry::file("etc/hostname", b"box\n")];
        for compression in [Compression::None, Compression::Gzip, Compression::Zstd] {
            let layer = Layer::new(entries.clone()).compression(compression);
            assert_eq!(layer.diff_id(), sha256_digest(&layer.tar_bytes()));
            let mut plain = Vec::new();
            let blob = layer.blob_bytes();
            match compression {
                Compression::None => plain = blob.clone(),
                Compression::Gzip => {
                    assert_eq!(&blob[..2], &[0x1f, 0x8b]);
                    flate2::read::GzDecoder::new(&blob[..])
                        .read_to_end(&mut plain)
                        .unwrap();
                }
                Compression::Zstd => plain = zstd::decode_all(&blob[..]).unwrap(),
            }
            assert_eq!(plain, layer.tar_bytes());
        }
    }

    #[test]
    fn whiteouts_and_opaque_markers_are_named_as_the_spec_says() {
        assert_eq!(Entry::whiteout("etc/foo").path, "etc/.wh.foo");
        assert_eq!(Entry::whiteout("foo").path, ".wh.foo");
        assert_eq!(Entry::whiteout("a/b/dir/").path, "a/b/.wh.dir");
        assert_eq!(Entry::opaque("etc/").path, "etc/.wh..wh..opq");
        assert_eq!(Entry::opaque("").path, ".wh..wh..opq");
    }

    #[test]
    fn formats_write_their_header_styles() {
        let long = format!("usr/{}/file", "d".repeat(120));
        let entries = vec![
            Entry::file("a", b"x").xattr("user.k", b"v"),
            Entry::file(&long, b"y"),
            Entry::symlink("l", &"t".repeat(150)),
        ];
        let ustar = read_back(&Layer::new(entries.clone()).tar_bytes());
        assert_eq!(
            ustar[0].pax,
            vec![("SCHILY.xattr.user.k".to_owned(), b"v".to_vec())]
        );
        assert!(ustar.iter().all(|e| !e.gnu));
        assert_eq!(ustar[1].path, long);
        assert!(
            ustar[1].pax.is_empty(),
            "long names use GNU records in ustar"
        );

        let pax = read_back(
            &Layer::new(entries.clone())
                .format(TarFormat::Pax)
                .tar_bytes(),
        );
        assert!(pax.iter().all(|e| e.pax.iter().any(|(k, _)| k == "mtime")));
        assert!(
            pax[1]
                .pax
                .iter()
                .any(|(k, v)| k == "path" && v == long.as_bytes())
        );
        assert_eq!(pax[1].path, long);
        assert!(pax[2].pax.iter().any(|(k, _)| k == "linkpath"));

        let gnu = read_back(&Layer::new(entries).format(TarFormat::Gnu).tar_bytes());
        assert!(gnu.iter().all(|e| e.gnu));
        assert_eq!(gnu[1].path, long);
    }

    #[test]
    fn entries_carry_their_metadata() {
        let layer = Layer::new(vec![
            Entry::file("f", b"abc")
                .mode(0o600)
                .uid(1000)
                .gid(1001)
                .uname("me")
                .gname("us")
                .mtime(5),
            Entry::hardlink("h", "f"),
            Entry::fifo("p"),
            Entry::char_device("dev/null", 1, 3),
            Entry::file("../escape", b""),
        ]);
        let bytes = layer.tar_bytes();
        let mut archive = tar::Archive::new(&bytes[..]);
        let mut entries = archive.entries().unwrap();
        let f = entries.next().unwrap().unwrap();
        let h = f.header();
        assert_eq!(
            (
                h.mode().unwrap(),
                h.uid().unwrap(),
                h.gid().unwrap(),
                h.mtime().unwrap()
            ),
            (0o600, 1000, 1001, 5)
        );
        assert_eq!(h.username().unwrap(), Some("me"));
        assert_eq!(h.groupname().unwrap(), Some("us"));
        let link = entries.next().unwrap().unwrap();
        assert_eq!(link.header().entry_type(), tar::EntryType::Link);
        assert_eq!(link.link_name().unwrap().unwrap().to_str(), Some("f"));
        assert_eq!(
            entries.next().unwrap().unwrap().header().entry_type(),
            tar::EntryType::Fifo
        );
        let dev = entries.next().unwrap().unwrap();
        assert_eq!(dev.header().device_major().unwrap(), Some(1));
        assert_eq!(dev.header().device_minor().unwrap(), Some(3));
        assert_eq!(
            entries.next().unwrap().unwrap().path_bytes().as_ref(),
            b"../escape"
        );
    }

    #[test]
    fn pax_record_lengths_count_themselves() {
        assert_eq!(pax_record("a", b"b"), b"6 a=b\n");
        let r = pax_record("k", &[b'v'; 93]);
        assert_eq!(r.len(), 99);
        assert!(r.starts_with(b"99 "));
        // 100 cannot be written: its own three digits would make the record 101 long.
        let r = pax_record("k", &[b'v'; 94]);
        assert_eq!(r.len(), 101);
        assert!(r.starts_with(b"101 "));
    }
}
