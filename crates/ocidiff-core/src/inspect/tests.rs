use std::fmt::Write as _;
use std::io::{Cursor, Write};
use std::time::Instant;

use flate2::{Compression, GzBuilder};
use zip::write::SimpleFileOptions;

use super::*;

/// A file for [`tar_of`]: name, content, mtime.
type F<'a> = (&'a str, &'a [u8], u64);

fn tar_entries(entries: &[F<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data, mtime) in entries {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(*mtime);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

fn tar_of(entries: &[F<'_>]) -> Vec<u8> {
    let mut out = tar_entries(entries);
    out.extend_from_slice(&[0; 1024]);
    out
}

fn gzip(data: &[u8], mtime: u32, filename: Option<&str>) -> Vec<u8> {
    let mut b = GzBuilder::new().mtime(mtime);
    if let Some(f) = filename {
        b = b.filename(f);
    }
    let mut e = b.write(Vec::new(), Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn zip_of(entries: &[F<'_>]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data, mtime) in entries {
        let t = zip::DateTime::from_date_and_time(2020, 1, 1, 0, 0, (*mtime % 60) as u8).unwrap();
        let o = SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .last_modified_time(t)
            .unix_permissions(0o644);
        w.start_file(*name, o).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn strict() -> InspectOptions {
    InspectOptions::default()
}

fn semantic() -> InspectOptions {
    InspectOptions {
        rules: Rules::semantic(),
        ..InspectOptions::default()
    }
}

fn fields_of<'a>(i: &'a Inspection, path: &str) -> Vec<(&'a str, bool)> {
    i.nested
        .iter()
        .filter(|n| n.path == path)
        .flat_map(|n| n.fields.iter().map(|f| (f.0.as_str(), f.3)))
        .collect()
}

#[test]
fn tar_differing_only_in_inner_mtimes() {
    let l = tar_of(&[
        ("pre-install", b"#!/bin/sh\necho hi\n", 1),
        ("post", b"x", 1),
    ]);
    let r = tar_of(&[
        ("pre-install", b"#!/bin/sh\necho hi\n", 2),
        ("post", b"x", 1),
    ]);
    let sem = inspect("scripts.tar", &l, &r, &semantic());
    assert!(sem.only_ignorable, "{sem:#?}");
    assert_eq!(
        fields_of(&sem, "scripts.tar!/pre-install"),
        [("mtime", true)]
    );
    assert!(sem.note.is_none());

    let st = inspect("scripts.tar", &l, &r, &strict());
    assert!(!st.only_ignorable);
    assert_eq!(
        fields_of(&st, "scripts.tar!/pre-install"),
        [("mtime", false)]
    );
    let f = &st.nested[0].fields[0];
    assert_eq!(f.1, Some(json!("1970-01-01T00:00:01Z")));
    assert_eq!(f.2, Some(json!("1970-01-01T00:00:02Z")));
}

#[test]
fn tar_content_differs_inside() {
    let l = tar_of(&[("etc/conf", b"a\nb\nc\n", 1), ("gone", b"", 1)]);
    let r = tar_of(&[("etc/conf", b"a\nB\nc\n", 1), ("new", b"", 1)]);
    let i = inspect("x.tar", &l, &r, &semantic());
    assert!(!i.only_ignorable);
    assert_eq!(fields_of(&i, "x.tar!/etc/conf"), [("digest", false)]);
    assert_eq!(fields_of(&i, "x.tar!/gone"), [("entry", false)]);
    assert_eq!(fields_of(&i, "x.tar!/new"), [("entry", false)]);
    let conf = i
        .nested
        .iter()
        .find(|n| n.path == "x.tar!/etc/conf")
        .unwrap();
    let diff = conf.text_diff.as_deref().unwrap();
    assert!(
        diff.starts_with("--- a/x.tar!/etc/conf\n+++ b/x.tar!/etc/conf\n"),
        "{diff}"
    );
    assert!(diff.contains("-b\n+B\n"), "{diff}");
    let gone = i.nested.iter().find(|n| n.path == "x.tar!/gone").unwrap();
    assert!(gone.fields[0].1.is_some() && gone.fields[0].2.is_none());
}

#[test]
fn tar_order_and_format() {
    let l = tar_of(&[("a", b"1", 1), ("b", b"2", 1)]);
    let r = tar_of(&[("b", b"2", 1), ("a", b"1", 1)]);
    assert!(inspect("t.tar", &l, &r, &semantic()).only_ignorable);
    let st = inspect("t.tar", &l, &r, &strict());
    assert!(!st.only_ignorable);
    assert_eq!(fields_of(&st, "t.tar!/a"), [("position", false)]);

    // The same entry as GNU and as USTAR header.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(1);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mode(0o644);
    h.set_mtime(1);
    b.append_data(&mut h, "a", &b"1"[..]).unwrap();
    let gnu = b.into_inner().unwrap();
    let ustar = tar_entries(&[("a", b"1", 1)]);
    assert!(inspect("t.tar", &gnu, &ustar, &semantic()).only_ignorable);
    let st = inspect("t.tar", &gnu, &ustar, &strict());
    assert_eq!(fields_of(&st, "t.tar!/a"), [("format", false)]);
}

#[test]
fn canonical_paths_and_padding_are_encoding() {
    let r = tar_of(&[("a", b"1", 1)]);
    // tar-rs normalises `./a` on the way in: write the name into the header by hand.
    let mut l = r.clone();
    let mut h = ::tar::Header::from_byte_slice(&l[..512]).clone();
    h.as_old_mut().name[..3].copy_from_slice(b"./a");
    h.set_cksum();
    l[..512].copy_from_slice(h.as_bytes());
    let sem = inspect("t.tar", &l, &r, &semantic());
    assert!(sem.only_ignorable, "{sem:#?}");
    assert_eq!(fields_of(&sem, "t.tar"), [("encoding", true)]);
    let st = inspect("t.tar", &l, &r, &strict());
    assert!(!st.only_ignorable);
    assert_eq!(fields_of(&st, "t.tar!/./a"), [("entry", false)]);

    // Same entries, different padding after the end-of-archive marker.
    let mut padded = l.clone();
    padded.extend_from_slice(&[0; 512]);
    assert!(inspect("t.tar", &l, &padded, &semantic()).only_ignorable);
    assert!(!inspect("t.tar", &l, &padded, &strict()).only_ignorable);
}

#[test]
fn gzip_header_mtime_and_name() {
    let payload = b"hello\nworld\n";
    let l = gzip(payload, 1000, Some("a.txt"));
    let r = gzip(payload, 2000, Some("b.txt"));
    let sem = inspect("a.txt.gz", &l, &r, &semantic());
    assert!(sem.only_ignorable, "{sem:#?}");
    assert_eq!(
        fields_of(&sem, "a.txt.gz"),
        [("gzip.mtime", true), ("gzip.filename", true)]
    );
    let st = inspect("a.txt.gz", &l, &r, &strict());
    assert!(!st.only_ignorable);
    assert_eq!(
        fields_of(&st, "a.txt.gz"),
        [("gzip.mtime", false), ("gzip.filename", false)]
    );
    assert_eq!(st.nested[0].fields[0].1, Some(json!(1000)));
}

#[test]
fn gzip_of_text_gets_a_text_diff() {
    let l = gzip(b"one\ntwo\n", 0, None);
    let r = gzip(b"one\nthree\n", 0, None);
    let i = inspect("notes.gz", &l, &r, &semantic());
    assert!(!i.only_ignorable);
    assert_eq!(
        fields_of(&i, "notes.gz"),
        [("payload.size", false), ("payload.digest", false)]
    );
    let diff = i.text_diff.unwrap();
    assert!(diff.contains("-two\n+three\n"), "{diff}");
}

#[test]
fn targz_with_nested_scripts_tar() {
    let sl = tar_of(&[("pre-install", b"echo 1\n", 10)]);
    let sr = tar_of(&[("pre-install", b"echo 1\n", 20)]);
    let l = gzip(&tar_of(&[("lib/apk/db/scripts.tar", &sl, 5)]), 1, None);
    let r = gzip(&tar_of(&[("lib/apk/db/scripts.tar", &sr, 5)]), 2, None);
    let sem = inspect("layer.tar.gz", &l, &r, &semantic());
    assert!(sem.only_ignorable, "{sem:#?}");
    let inner = "layer.tar.gz!/lib/apk/db/scripts.tar";
    assert_eq!(
        fields_of(&sem, "layer.tar.gz"),
        [("gzip.mtime", true), ("payload.digest", true)]
    );
    assert_eq!(fields_of(&sem, inner), [("digest", true)]);
    assert_eq!(
        fields_of(&sem, &format!("{inner}!/pre-install")),
        [("mtime", true)]
    );
    assert!(!inspect("layer.tar.gz", &l, &r, &strict()).only_ignorable);

    // Content changed two levels down: not ignorable, and shown.
    let sr = tar_of(&[("pre-install", b"echo 2\n", 10)]);
    let r = gzip(&tar_of(&[("lib/apk/db/scripts.tar", &sr, 5)]), 2, None);
    let i = inspect("layer.tar.gz", &l, &r, &semantic());
    assert!(!i.only_ignorable);
    assert_eq!(fields_of(&i, inner), [("digest", false)]);
    let deepest = format!("{inner}!/pre-install");
    assert_eq!(fields_of(&i, &deepest), [("digest", false)]);
}

/// An apk package: gzip members each holding a tar without its end-of-archive blocks.
#[test]
fn apk_like_concatenated_gzip_tars() {
    let pkg = |mtime: u64, gz_mtime: u32, data: &[u8]| {
        let mut out = gzip(
            &tar_entries(&[(".SIGN.RSA.key", b"sig", 0)]),
            gz_mtime,
            None,
        );
        out.extend(gzip(
            &tar_entries(&[(".PKGINFO", b"pkgname=x\n", mtime)]),
            gz_mtime,
            None,
        ));
        out.extend(gzip(&tar_of(&[("usr/bin/x", data, mtime)]), gz_mtime, None));
        out
    };
    let l = pkg(1, 1, b"bin");
    let r = pkg(2, 9, b"bin");
    let sem = inspect("x.apk", &l, &r, &semantic());
    assert!(sem.only_ignorable, "{sem:#?}");
    let f = fields_of(&sem, "x.apk");
    assert!(
        f.contains(&("gzip.mtime", true)) && f.contains(&("gzip[2].mtime", true)),
        "{f:?}"
    );
    assert_eq!(fields_of(&sem, "x.apk!/.PKGINFO"), [("mtime", true)]);
    assert_eq!(fields_of(&sem, "x.apk!/usr/bin/x"), [("mtime", true)]);

    let r = pkg(1, 1, b"BIN");
    let i = inspect("x.apk", &l, &r, &semantic());
    assert!(!i.only_ignorable);
    assert_eq!(fields_of(&i, "x.apk!/usr/bin/x"), [("digest", false)]);
}

#[test]
fn zip_timestamps_and_order() {
    let l = zip_of(&[("a.txt", b"alpha", 1), ("b.txt", b"beta", 1)]);
    let r = zip_of(&[("b.txt", b"beta", 2), ("a.txt", b"alpha", 2)]);
    let sem = inspect("x.whl", &l, &r, &semantic());
    assert!(sem.only_ignorable, "{sem:#?}");
    assert!(fields_of(&sem, "x.whl!/a.txt").contains(&("mtime", true)));
    let only_times = InspectOptions {
        rules: Rules {
            ignore_file_timestamps: true,
            ..Rules::default()
        },
        ..InspectOptions::default()
    };
    let i = inspect("x.whl", &l, &r, &only_times);
    assert!(!i.only_ignorable);
    assert_eq!(
        fields_of(&i, "x.whl!/a.txt"),
        [("mtime", true), ("position", false)]
    );

    let r = zip_of(&[("a.txt", b"alpha!", 1), ("b.txt", b"beta", 1)]);
    let i = inspect("x.whl", &l, &r, &semantic());
    assert!(!i.only_ignorable);
    assert_eq!(
        fields_of(&i, "x.whl!/a.txt"),
        [
            ("compressed_size", true),
            ("size", false),
            ("digest", false)
        ]
    );
    assert!(i.nested[0].text_diff.is_some());
}

#[test]
fn zip_in_tar_and_jar_in_jar() {
    let inner_l = zip_of(&[("C.class", b"\xca\xfe\xba\xbe1", 1)]);
    let inner_r = zip_of(&[("C.class", b"\xca\xfe\xba\xbe2", 1)]);
    let l = tar_of(&[("opt/app.jar", &zip_of(&[("lib/dep.jar", &inner_l, 1)]), 1)]);
    let r = tar_of(&[("opt/app.jar", &zip_of(&[("lib/dep.jar", &inner_r, 1)]), 1)]);
    let i = inspect("layer.tar", &l, &r, &semantic());
    assert!(!i.only_ignorable);
    let deep = "layer.tar!/opt/app.jar!/lib/dep.jar!/C.class";
    assert_eq!(fields_of(&i, deep), [("digest", false)]);

    let inner_r = zip_of(&[("C.class", b"\xca\xfe\xba\xbe1", 7)]);
    let r = tar_of(&[("opt/app.jar", &zip_of(&[("lib/dep.jar", &inner_r, 1)]), 1)]);
    let i = inspect("layer.tar", &l, &r, &semantic());
    assert!(i.only_ignorable, "{i:#?}");
    assert_eq!(fields_of(&i, deep), [("mtime", true)]);
}

#[test]
fn depth_limit_stops_with_a_note() {
    let mut l = b"x".to_vec();
    let mut r = b"y".to_vec();
    for _ in 0..6 {
        l = tar_of(&[("n.tar", &l, 1)]);
        r = tar_of(&[("n.tar", &r, 1)]);
    }
    let opts = InspectOptions {
        max_depth: 3,
        ..semantic()
    };
    let i = inspect("n.tar", &l, &r, &opts);
    assert!(!i.only_ignorable);
    assert!(i.note.as_deref().unwrap().contains("deeper than 3"));
    assert_eq!(
        fields_of(&i, "n.tar!/n.tar!/n.tar!/n.tar"),
        [("digest", false)]
    );
}

#[test]
fn text_diff_with_context_and_truncation() {
    let l = (0..100).fold(String::new(), |mut l, n| {
        let _ = writeln!(l, "line {n}");
        l
    });
    let r = l.replace("line 50\n", "LINE 50\n").replace("line 90\n", "");
    let i = inspect("etc/big.conf", l.as_bytes(), r.as_bytes(), &strict());
    let diff = i.text_diff.unwrap();
    assert!(!i.truncated);
    assert!(diff.starts_with("--- a/etc/big.conf\n+++ b/etc/big.conf\n@@ -48,7 +48,7 @@\n"));
    assert!(
        diff.contains(" line 49\n-line 50\n+LINE 50\n line 51\n"),
        "{diff}"
    );
    assert!(!i.only_ignorable && i.nested.is_empty());

    let small = InspectOptions {
        max_text_diff_bytes: 100,
        ..strict()
    };
    let i = inspect("etc/big.conf", l.as_bytes(), r.as_bytes(), &small);
    let diff = i.text_diff.unwrap();
    assert!(
        i.truncated && diff.len() <= 100 && diff.ends_with('\n'),
        "{diff:?}"
    );

    let i = inspect("f", b"a", b"b", &strict());
    assert!(
        i.text_diff
            .unwrap()
            .contains("-a\n\\ No newline at end of file\n+b\n")
    );
}

#[test]
fn elf_sections_of_two_programs() {
    if !ocidiff_testkit::skip::on_path("cc") {
        return ocidiff_testkit::skip::skip("no C compiler (apt-get install gcc)");
    }
    let dir = tempfile::tempdir().unwrap();
    let build = |code: &str, out: &str| {
        let src = dir.path().join(format!("{out}.c"));
        std::fs::write(&src, code).unwrap();
        let bin = dir.path().join(out);
        let cc = std::process::Command::new("cc")
            .arg("-O1")
            .arg("-Wl,--build-id=sha1")
            .arg("-o")
            .arg(&bin)
            .arg(&src)
            .output()
            .unwrap();
        assert!(
            cc.status.success(),
            "cc failed: {}",
            String::from_utf8_lossy(&cc.stderr)
        );
        std::fs::read(bin).unwrap()
    };
    let l = build("int main(void) { return 1; }\n", "l");
    let r = build(
        "const char *s = \"a different string\";\nint main(void) { return 2; }\n",
        "r",
    );
    let i = inspect("usr/bin/x", &l, &r, &semantic());
    assert!(
        i.elf_sections.iter().any(|s| s == ".text"),
        "{:?}",
        i.elf_sections
    );
    assert!(
        i.elf_sections.iter().any(|s| s == ".note.gnu.build-id"),
        "{:?}",
        i.elf_sections
    );
    assert!(!i.only_ignorable && i.note.is_none());

    let i = inspect("usr/bin/x", &l, b"\x7fELF\x02\x01\x01garbage", &strict());
    assert!(i.note.is_some() && i.elf_sections.is_empty());
}

#[test]
fn gzip_bomb_stops_at_the_limit() {
    // 1 MiB of zeros compresses to about 1 KiB; 20,000 members make ~20 MiB → 20 GiB.
    let member = gzip(&vec![0; 1 << 20], 0, None);
    let bomb = member.repeat(20_000);
    let mut other = bomb.clone();
    other.extend_from_slice(&member);
    let opts = InspectOptions {
        max_bytes: 1 << 20,
        ..semantic()
    };
    let start = Instant::now();
    let i = inspect("bomb.gz", &bomb, &other, &opts);
    assert!(start.elapsed().as_secs() < 20);
    assert!(!i.only_ignorable);
    assert!(i.note.unwrap().contains("more than"));

    let zl = zip_of(&[("z", &vec![0; 1 << 20], 1)]);
    let zr = zip_of(&[("z", &vec![0; 1 << 20], 2)]);
    let opts = InspectOptions {
        max_bytes: 256 << 10,
        ..semantic()
    };
    let i = inspect("bomb.zip", &zl, &zr, &opts);
    assert!(!i.only_ignorable && i.note.unwrap().contains("more than"));
}

#[test]
fn entry_limit() {
    let l = tar_of(&[("a", b"1", 1), ("b", b"2", 1), ("c", b"3", 1)]);
    let r = tar_of(&[("a", b"1", 2), ("b", b"2", 1), ("c", b"3", 1)]);
    let opts = InspectOptions {
        max_entries: 2,
        ..semantic()
    };
    let i = inspect("t.tar", &l, &r, &opts);
    assert!(
        !i.only_ignorable
            && i.note
                .unwrap()
                .contains("more than 2 entries; not compared")
    );
}

#[test]
fn garbage_with_magic_is_a_note() {
    let mut ustar = vec![7u8; 1024];
    ustar[257..263].copy_from_slice(b"ustar\0");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("a.gz", b"\x1f\x8b\x08\x00garbage".to_vec()),
        ("a.zip", b"PK\x03\x04garbage".to_vec()),
        ("a.zst", b"\x28\xb5\x2f\xfdgarbage".to_vec()),
        ("a.tar", ustar),
        ("a.so", b"\x7fELFgarbage".to_vec()),
    ];
    for (name, bad) in cases {
        let mut other = bad.clone();
        other.push(1);
        let i = inspect(name, &bad, &other, &semantic());
        assert!(i.note.is_some(), "{name}: {i:#?}");
        assert!(!i.only_ignorable, "{name}");
    }
    let i = inspect(
        "a.tar.gz",
        &gzip(b"x", 0, None),
        &tar_of(&[("a", b"", 0)]),
        &semantic(),
    );
    assert_eq!(fields_of(&i, "a.tar.gz"), [("kind", false)]);
}

/// A small deterministic generator, so that a failure can be replayed.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
// Truncating random numbers into positions and bytes is the point.
#[allow(clippy::cast_possible_truncation)]
fn random_and_mutated_input_never_panics() {
    let seeds: Vec<Vec<u8>> = vec![
        tar_of(&[("a", b"1", 1), ("d/b.txt", b"x\ny\n", 2)]),
        gzip(&tar_of(&[("a", b"1", 1)]), 1, Some("a.tar")),
        zip_of(&[("a", b"1", 1), ("b.jar", &zip_of(&[("c", b"2", 1)]), 1)]),
        zstd::encode_all(&tar_of(&[("a", b"1", 1)])[..], 1).unwrap(),
        b"\x7fELF\x02\x01\x01\x00".to_vec(),
        b"PK\x05\x06".to_vec(),
    ];
    let opts = InspectOptions {
        max_bytes: 1 << 20,
        ..semantic()
    };
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for round in 0..3000 {
        let seed = &seeds[round % seeds.len()];
        let mut mutated = seed.clone();
        let flips = 1 + rng.next() % 8;
        for _ in 0..flips {
            if mutated.is_empty() {
                break;
            }
            let at = (rng.next() % mutated.len() as u64) as usize;
            match rng.next() % 3 {
                0 => mutated[at] = rng.next() as u8,
                1 => mutated.truncate(at),
                _ => mutated.insert(at, rng.next() as u8),
            }
        }
        let mut random = seed.get(..4).unwrap_or_default().to_vec();
        random.extend((0..rng.next() % 2048).map(|_| rng.next() as u8));
        let _ = inspect("f.tar.gz", seed, &mutated, &opts);
        let _ = inspect("f", &mutated, &random, &opts);
    }
}

#[test]
fn wants_content_is_bounded() {
    assert!(wants_content("usr/lib/app.jar", 100 << 20));
    assert!(wants_content("lib/apk/db/scripts.tar", 10_000));
    assert!(wants_content("SOME.TGZ", 200 << 20));
    assert!(!wants_content("x.tar.gz", 300 << 20));
    assert!(wants_content("usr/bin/unnamed", 1 << 20));
    assert!(!wants_content("usr/lib/libbig.so", 100 << 20));
}
