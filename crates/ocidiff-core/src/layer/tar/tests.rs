//! Cases where the `tar` crate and Go disagree, read the way Go reads them. The property test
//! in `tests/go_tar.rs` checks many more against Go itself.

use super::*;

/// A ustar header block; `edit` may change any byte before the checksum is set.
fn block(name: &[u8], flag: u8, size: u64, edit: impl FnOnce(&mut [u8; 512])) -> [u8; 512] {
    ocidiff_testkit::header_edited(name, flag, size, b"", edit)
}

fn data(bytes: &[u8]) -> Vec<u8> {
    let mut v = bytes.to_vec();
    v.resize(bytes.len().div_ceil(512) * 512, 0);
    v
}

fn pax(records: &[(&str, &str)]) -> Vec<u8> {
    let records: Vec<(&str, &[u8])> = records.iter().map(|(k, v)| (*k, v.as_bytes())).collect();
    ocidiff_testkit::pax_records(&records)
}

fn stream(parts: &[&[u8]]) -> Vec<u8> {
    let mut v: Vec<u8> = parts.concat();
    v.extend_from_slice(&[0; 1024]);
    v
}

/// Every entry with its content, or the error that ended the walk.
fn read_all(bytes: &[u8]) -> (Vec<(Header, Vec<u8>)>, Option<TarError>) {
    let mut r = Reader::new(bytes);
    let mut out = Vec::new();
    loop {
        match r.next_header() {
            Ok(Some(h)) => {
                let mut content = Vec::new();
                if let Err(e) = r.read_to_end(&mut content) {
                    return (out, Some(TarError::from_io(e)));
                }
                out.push((h, content));
            }
            Ok(None) => return (out, None),
            Err(e) => return (out, Some(e)),
        }
    }
}

#[test]
fn a_directory_size_is_not_data() {
    let bytes = stream(&[
        &block(b"d/", typeflag::DIR, 1024, |_| {}),
        &block(b"f", typeflag::REG, 3, |_| {}),
        &data(b"abc"),
    ]);
    let (entries, err) = read_all(&bytes);
    assert!(err.is_none(), "{err:?}");
    let names: Vec<_> = entries.iter().map(|(h, _)| h.name.clone()).collect();
    assert_eq!(names, [b"d/".to_vec(), b"f".to_vec()]);
    assert_eq!(
        entries[0].0.size, 1024,
        "Go reports the size it reads no data for"
    );
    assert_eq!(entries[1].1, b"abc");
}

#[test]
fn typeflag_nul_with_a_trailing_slash_is_a_directory() {
    let bytes = stream(&[
        &block(b"d/", 0, 0, |_| {}),
        &block(b"f", 0, 0, |_| {}),
        &block(b"g/", typeflag::REG, 0, |_| {}),
    ]);
    let (entries, _) = read_all(&bytes);
    let flags: Vec<u8> = entries.iter().map(|(h, _)| h.typeflag).collect();
    assert_eq!(flags, [typeflag::DIR, typeflag::REG, typeflag::REG]);
}

#[test]
fn repeated_and_empty_pax_records() {
    let records = [
        ("path", "first"),
        ("path", "second"),
        ("uid", ""),
        ("SCHILY.xattr.user.a", ""),
        ("SCHILY.xattr.user.b", "1"),
    ];
    let p = pax(&records);
    let bytes = stream(&[
        &block(b"PaxHeader", typeflag::X_HEADER, p.len() as u64, |_| {}),
        &data(&p),
        &block(b"header-name", typeflag::REG, 0, |b| {
            b[108..116].copy_from_slice(b"0001750\0");
        }),
    ]);
    let (entries, err) = read_all(&bytes);
    assert!(err.is_none(), "{err:?}");
    let h = &entries[0].0;
    assert_eq!(h.name, b"second", "the last record wins");
    assert_eq!(h.uid, 1000, "an empty record keeps the header's value");
    assert_eq!(h.xattrs.len(), 1, "Go's Xattrs leave out empty values");
    assert_eq!(h.pax[&b"SCHILY.xattr.user.a".to_vec()], b"");
    assert_eq!(h.format, Format::PAX);
}

#[test]
fn extension_headers_without_magic_still_apply() {
    let p = pax(&[("path", "from-pax")]);
    let v7 = |b: &mut [u8; 512]| b[257..265].fill(0);
    let bytes = stream(&[
        &block(b"x", typeflag::X_HEADER, p.len() as u64, v7),
        &data(&p),
        &block(b"plain", typeflag::REG, 0, v7),
        &block(b"././@LongLink", typeflag::GNU_LONG_NAME, 9, v7),
        &data(b"long-name"),
        &block(b"short", typeflag::REG, 0, v7),
    ]);
    let (entries, err) = read_all(&bytes);
    assert!(err.is_none(), "{err:?}");
    let names: Vec<_> = entries.iter().map(|(h, _)| h.name.clone()).collect();
    assert_eq!(names, [b"from-pax".to_vec(), b"long-name".to_vec()]);
}

#[test]
fn a_gnu_long_name_beats_a_pax_path() {
    let p = pax(&[("path", "from-pax")]);
    let bytes = stream(&[
        &block(b"x", typeflag::X_HEADER, p.len() as u64, |_| {}),
        &data(&p),
        &block(b"L", typeflag::GNU_LONG_NAME, 10, |_| {}),
        &data(b"from-gnu\0x"),
        &block(b"header", typeflag::REG, 0, |_| {}),
    ]);
    let (entries, _) = read_all(&bytes);
    assert_eq!(entries[0].0.name, b"from-gnu", "cut at the NUL");
}

#[test]
fn a_zero_block_then_more_entries_is_an_error() {
    let mut bytes = block(b"a", typeflag::REG, 0, |_| {}).to_vec();
    bytes.extend_from_slice(&[0; 512]);
    bytes.extend_from_slice(&block(b"hidden", typeflag::REG, 0, |_| {}));
    bytes.extend_from_slice(&[0; 1024]);
    let (entries, err) = read_all(&bytes);
    assert_eq!(entries.len(), 1);
    assert!(
        matches!(err, Some(TarError::Header { offset: 512, .. })),
        "{err:?}"
    );
    // One zero block and then nothing is a proper end.
    let mut bytes = block(b"a", typeflag::REG, 0, |_| {}).to_vec();
    bytes.extend_from_slice(&[0; 512]);
    assert!(read_all(&bytes).1.is_none());
}

#[test]
fn a_stream_ending_in_padding_ends_the_archive() {
    let mut bytes = block(b"a", typeflag::REG, 3, |_| {}).to_vec();
    bytes.extend_from_slice(b"abc\0");
    let (entries, err) = read_all(&bytes);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(entries[0].1, b"abc");
    // Inside the data, it is an error.
    let mut bytes = block(b"a", typeflag::REG, 3, |_| {}).to_vec();
    bytes.extend_from_slice(b"ab");
    assert!(matches!(
        read_all(&bytes).1,
        Some(TarError::UnexpectedEof { .. })
    ));
}

#[test]
fn star_headers_carry_a_prefix_and_times() {
    let bytes = stream(&[&block(b"name", typeflag::REG, 0, |b| {
        b[345..351].copy_from_slice(b"prefix");
        b[476..488].copy_from_slice(b"00000000012\0");
        b[508..512].copy_from_slice(b"tar\0");
    })]);
    let (entries, err) = read_all(&bytes);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(entries[0].0.name, b"prefix/name");
    assert_eq!(entries[0].0.atime, Some(Time { secs: 10, nanos: 0 }));
    assert_eq!(entries[0].0.format, Format::UNKNOWN);
}

#[test]
fn gnu_times_that_are_not_numbers_fall_back_to_a_prefix() {
    let gnu = |b: &mut [u8; 512]| {
        b[257..263].copy_from_slice(b"ustar ");
        b[263..265].copy_from_slice(b" \0");
        b[345..351].copy_from_slice(b"pre/fx");
    };
    let bytes = stream(&[&block(b"name", typeflag::REG, 0, gnu)]);
    let (entries, err) = read_all(&bytes);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(entries[0].0.name, b"pre/fx/name");
    assert_eq!(entries[0].0.atime, None);
}

#[test]
fn pax_numbers_that_do_not_parse_are_errors() {
    for (k, v) in [
        ("uid", "x"),
        ("gid", "1.5"),
        ("size", "-"),
        ("mtime", "1.a"),
    ] {
        let p = pax(&[(k, v)]);
        let bytes = stream(&[
            &block(b"x", typeflag::X_HEADER, p.len() as u64, |_| {}),
            &data(&p),
            &block(b"f", typeflag::REG, 0, |_| {}),
        ]);
        assert!(
            matches!(read_all(&bytes).1, Some(TarError::Header { .. })),
            "{k}={v}"
        );
    }
}

#[test]
fn oversized_extension_entries_are_refused_after_one_mib() {
    let big = (MAX_SPECIAL_FILE + 1) as u64;
    let mut bytes = block(b"L", typeflag::GNU_LONG_NAME, 0, |b| {
        b[124..136].copy_from_slice(b"77777777777\0");
    })
    .to_vec();
    bytes.extend(std::iter::repeat_n(
        b'a',
        usize::try_from(big).unwrap() + 10,
    ));
    let mut r = Reader::new(&bytes[..]);
    assert!(matches!(
        r.next_header(),
        Err(TarError::FieldTooLong { .. })
    ));
    assert!(
        r.position() <= 512 + big + 8192,
        "read no more than Go does"
    );
    assert!(
        matches!(r.next_header(), Err(TarError::FieldTooLong { .. })),
        "sticky"
    );
}

/// A GNU 0.1 sparse file in PAX: `map` places the packed `packed` bytes in a file of `size`.
fn sparse_file(map: &str, size: &str, packed: &[u8]) -> Vec<u8> {
    let p = pax(&[
        ("GNU.sparse.major", "0"),
        ("GNU.sparse.minor", "1"),
        ("GNU.sparse.name", "sparse-file"),
        ("GNU.sparse.realsize", size),
        (
            "GNU.sparse.numblocks",
            &(map.split(',').count() / 2).to_string(),
        ),
        ("GNU.sparse.map", map),
    ]);
    stream(&[
        &block(b"x", typeflag::X_HEADER, p.len() as u64, |_| {}),
        &data(&p),
        &block(
            b"GNUSparseFile.0/sparse-file",
            typeflag::REG,
            packed.len() as u64,
            |_| {},
        ),
        &data(packed),
    ])
}

#[test]
fn sparse_files_read_with_holes() {
    for (map, logical) in [
        ("2,3,8,2", &b"\0\0abc\0\0\0de\0\0"[..]),
        ("0,3,8,2", &b"abc\0\0\0\0\0de\0\0"[..]),
    ] {
        let bytes = sparse_file(map, "12", b"abcde");
        let (entries, err) = read_all(&bytes);
        assert!(err.is_none(), "{err:?}");
        assert_eq!(entries[0].0.name, b"sparse-file");
        assert_eq!(entries[0].1, logical, "{map}");
        // Read in pieces of every size, each starting and ending anywhere in a hole or a
        // fragment.
        for piece in 1..=13 {
            let mut r = Reader::new(&bytes[..]);
            r.next_header().unwrap().unwrap();
            let (mut content, mut buf) = (Vec::new(), vec![0xaa; piece]);
            loop {
                match r.read(&mut buf).unwrap() {
                    0 => break,
                    n => content.extend_from_slice(&buf[..n]),
                }
            }
            assert_eq!(content, logical, "{map} in pieces of {piece}");
        }
    }
    // More data than the map refers to.
    assert!(matches!(
        read_all(&sparse_file("2,3,8,2", "12", b"abcdef")).1,
        Some(TarError::UnrefData { .. })
    ));
    // The stream ends inside a fragment: the bytes read before it first, then the error, as
    // Go's reader returns them.
    let bytes = sparse_file("0,3,8,2", "12", b"abcde");
    let cut = bytes.windows(5).position(|w| w == b"abcde").unwrap() + 2;
    let mut r = Reader::new(&bytes[..cut]);
    r.next_header().unwrap().unwrap();
    let mut buf = [0; 12];
    assert_eq!(r.read(&mut buf).unwrap(), 2);
    assert_eq!(&buf[..2], b"ab");
    assert!(r.read(&mut buf).is_err());
}

#[test]
fn negative_sizes() {
    let neg = |b: &mut [u8; 512]| b[124..136].copy_from_slice(&[0xff; 12]);
    let bytes = stream(&[&block(b"f", typeflag::REG, 0, neg)]);
    assert!(matches!(read_all(&bytes).1, Some(TarError::Header { .. })));
    let bytes = stream(&[&block(b"d/", typeflag::DIR, 0, neg)]);
    let (entries, err) = read_all(&bytes);
    assert!(err.is_none());
    assert_eq!(entries[0].0.size, -1);
}
