use std::collections::BTreeMap;
use std::path::Path;

#[cfg(feature = "rpm")]
use ocidiff_testkit::skip::{on_path, skip};

use super::*;

fn files(entries: &[(&str, &[u8])]) -> BTreeMap<String, Vec<u8>> {
    entries
        .iter()
        .map(|(p, c)| ((*p).to_owned(), c.to_vec()))
        .collect()
}

// Builds the `Option<PackageVersion>` fields of the expected findings directly.
#[allow(clippy::unnecessary_wraps)]
fn pv(version: &str, arch: Option<&str>) -> Option<PackageVersion> {
    Some(PackageVersion {
        version: version.to_owned(),
        arch: arch.map(str::to_owned),
    })
}

fn find<'s>(set: &'s PackageSet, name: &str) -> &'s Package {
    set.packages
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no package {name} in {:?}", set.packages))
}

const DPKG_LHS: &str = "\
Package: bash
Status: install ok installed
Priority: required
Version: 5.2.15-2+b2
Architecture: amd64
Description: GNU Bourne Again SHell
 Bash is an sh-compatible command language interpreter.
 .
 More lines.
Conffiles:
 /etc/bash.bashrc 89269e1298235f1b12b4c16e4065ad0d
 /etc/skel/.bashrc 0a2ab1f4f6c1b7c5a2c7f2b5d7c2d1a1

Package: libc6
Status: install ok installed
Version: 2.36-9
Architecture: amd64
Multi-Arch: same

Package: libc6
Status: install ok installed
Version: 2.36-9
Architecture: i386
Multi-Arch: same

Package: gone
Status: install ok installed
Version: 1.0
Architecture: all

Package: removed-but-configured
Status: deinstall ok config-files
Version: 3.0
Architecture: amd64
";

const DPKG_RHS: &str = "\
Package: bash
Status: hold ok installed
Version: 5.2.15-2+b7
Architecture: amd64
Conffiles:
 /etc/bash.bashrc 89269e1298235f1b12b4c16e4065ad0d

Package: libc6
Status: install ok installed
Version: 2.36-9
Architecture: amd64

Package: libc6
Status: install ok installed
Version: 2.36-9
Architecture: i386

Package: new
Status: install ok unpacked
Version: 0.1
Architecture: amd64
";

fn dpkg(status: &str) -> PackageSet {
    read(&files(&[
        ("var/lib/dpkg/status", status.as_bytes()),
        (
            "var/lib/dpkg/info/bash.list",
            b"/.\n/bin\n/bin/bash\n/usr/share/doc/bash\n",
        ),
        (
            "var/lib/dpkg/info/bash.md5sums",
            b"d41d8cd98f00b204e9800998ecf8427e  usr/share/doc/bash/copyright\n",
        ),
        (
            "var/lib/dpkg/info/libc6:amd64.list",
            b"/.\n/usr/lib/x86_64-linux-gnu/libc.so.6\n/usr/share/doc/libc6/changelog.gz\n",
        ),
        (
            "var/lib/dpkg/info/libc6:i386.list",
            b"/.\n/usr/lib/i386-linux-gnu/libc.so.6\n/usr/share/doc/libc6/changelog.gz\n",
        ),
        ("var/lib/dpkg/info/gone.list", b"/usr/bin/gone\n"),
        ("var/lib/dpkg/info/new.list", b"/usr/bin/new\n"),
        (
            "var/lib/dpkg/info/removed-but-configured.list",
            b"/etc/removed.conf\n",
        ),
    ]))
}

#[test]
fn dpkg_status_and_lists() {
    let lhs = dpkg(DPKG_LHS);
    assert!(lhs.notes.is_empty(), "{:?}", lhs.notes);
    let names: Vec<_> = lhs
        .packages
        .iter()
        .map(|p| {
            format!(
                "{}:{}={}",
                p.name,
                p.arch.as_deref().unwrap_or("-"),
                p.version
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            "bash:amd64=5.2.15-2+b2",
            "gone:all=1.0",
            "libc6:amd64=2.36-9",
            "libc6:i386=2.36-9"
        ]
    );
    assert_eq!(
        find(&lhs, "bash").files,
        [
            "bin",
            "bin/bash",
            "etc/bash.bashrc",
            "etc/skel/.bashrc",
            "usr/share/doc/bash",
            "usr/share/doc/bash/copyright",
        ]
    );
    let i386 = lhs
        .packages
        .iter()
        .find(|p| p.arch.as_deref() == Some("i386"))
        .map(|p| p.files.clone());
    assert_eq!(
        i386.as_deref(),
        Some(
            &[
                "usr/lib/i386-linux-gnu/libc.so.6".to_owned(),
                "usr/share/doc/libc6/changelog.gz".to_owned()
            ][..]
        )
    );
}

#[test]
fn dpkg_compare_and_attribute() {
    let (lhs, rhs) = (dpkg(DPKG_LHS), dpkg(DPKG_RHS));
    let diffs = compare(&lhs, &rhs);
    assert_eq!(
        diffs,
        [
            PackageDiff {
                ecosystem: Ecosystem::Dpkg,
                name: "bash".into(),
                lhs: pv("5.2.15-2+b2", Some("amd64")),
                rhs: pv("5.2.15-2+b7", Some("amd64")),
            },
            PackageDiff {
                ecosystem: Ecosystem::Dpkg,
                name: "gone".into(),
                lhs: pv("1.0", Some("all")),
                rhs: None,
            },
            PackageDiff {
                ecosystem: Ecosystem::Dpkg,
                name: "new".into(),
                lhs: None,
                rhs: pv("0.1", Some("amd64")),
            },
        ]
    );
    let kinds: Vec<_> = diffs.iter().map(PackageDiff::change).collect();
    assert_eq!(kinds, [Change::Version, Change::Removed, Change::Added]);

    let owners = Owners::new(&lhs, &rhs);
    let bash_changed = Ownership::PackageChanged {
        ecosystem: Ecosystem::Dpkg,
        name: "bash".into(),
        lhs: pv("5.2.15-2+b2", Some("amd64")),
        rhs: pv("5.2.15-2+b7", Some("amd64")),
    };
    assert_eq!(owners.attribute("bin/bash"), bash_changed);
    // Merged /usr: the list says /bin/bash, the filesystem holds usr/bin/bash.
    assert_eq!(owners.attribute("usr/bin/bash"), bash_changed);
    // Only the lhs still lists this conffile: bash changed and dropped it.
    assert_eq!(owners.attribute("etc/skel/.bashrc"), bash_changed);
    assert_eq!(
        owners.attribute("usr/lib/x86_64-linux-gnu/libc.so.6"),
        Ownership::SameVersion {
            ecosystem: Ecosystem::Dpkg,
            name: "libc6".into(),
            version: pv("2.36-9", Some("amd64")).unwrap_or_else(|| unreachable!()),
        }
    );
    assert_eq!(
        owners.attribute("usr/lib/i386-linux-gnu/libc.so.6"),
        Ownership::SameVersion {
            ecosystem: Ecosystem::Dpkg,
            name: "libc6".into(),
            version: pv("2.36-9", Some("i386")).unwrap_or_else(|| unreachable!()),
        }
    );
    assert_eq!(
        owners.attribute("usr/bin/gone"),
        Ownership::PackageChanged {
            ecosystem: Ecosystem::Dpkg,
            name: "gone".into(),
            lhs: pv("1.0", Some("all")),
            rhs: None,
        }
    );
    assert_eq!(
        owners.attribute("usr/bin/new"),
        Ownership::PackageChanged {
            ecosystem: Ecosystem::Dpkg,
            name: "new".into(),
            lhs: None,
            rhs: pv("0.1", Some("amd64")),
        }
    );
    assert_eq!(owners.attribute("etc/hostname"), Ownership::Unowned);
    assert_eq!(owners.attribute("etc/removed.conf"), Ownership::Unowned);
    assert_eq!(attribute("etc/hostname", &lhs, &rhs), Ownership::Unowned);
}

#[test]
fn dpkg_malformed_becomes_notes() {
    let set = read(&files(&[(
        "var/lib/dpkg/status",
        b"Package: ok\nVersion: 1\n\nthis line is junk\nVersion: 2\n\nPackage: nover\n\n\xff\xfe: x\n",
    )]));
    assert_eq!(set.packages.len(), 1);
    assert_eq!(
        set.notes,
        [
            "var/lib/dpkg/status: line 4 is neither a field nor a continuation: \"this line is junk\"",
            "var/lib/dpkg/status: the record at line 4 has no Package field",
            "var/lib/dpkg/status: the record at line 7 has no Version field",
            "var/lib/dpkg/status: the record at line 9 has no Package field",
        ]
    );
}

#[test]
fn dpkg_distroless_status_d() {
    let set = read(&files(&[
        (
            "var/lib/dpkg/status.d/libssl3",
            b"Package: libssl3\nVersion: 3.0.15-1~deb12u1\nArchitecture: arm64\nMulti-Arch: same\n",
        ),
        (
            "var/lib/dpkg/status.d/libssl3.md5sums",
            b"0123456789abcdef0123456789abcdef  usr/lib/aarch64-linux-gnu/libssl.so.3\n",
        ),
        (
            "var/lib/dpkg/status.d/base",
            b"Package: base-files\nVersion: 12.4+deb12u8\nArchitecture: arm64\n",
        ),
        (
            "var/lib/dpkg/status.d/base.md5sums",
            b"0123456789abcdef0123456789abcdef  etc/debian_version\n",
        ),
    ]));
    assert!(set.notes.is_empty(), "{:?}", set.notes);
    assert_eq!(find(&set, "base-files").files, ["etc/debian_version"]);
    let ssl = find(&set, "libssl3");
    assert_eq!(
        (ssl.version.as_str(), ssl.arch.as_deref()),
        ("3.0.15-1~deb12u1", Some("arm64"))
    );
    assert_eq!(ssl.files, ["usr/lib/aarch64-linux-gnu/libssl.so.3"]);
}

fn apk(db: &str) -> PackageSet {
    read(&files(&[("lib/apk/db/installed", db.as_bytes())]))
}

const APK_LHS: &str = "\
C:Q1abc=
P:musl
V:1.2.4-r2
A:x86_64
T:the musl c library
F:lib
R:ld-musl-x86_64.so.1
a:0:0:755
Z:Q1xyz=
R:libc.musl-x86_64.so.1

P:busybox
V:1.36.1-r15
A:x86_64
F:bin
R:busybox
F:etc
R:securetty
";

const APK_RHS: &str = "\
P:musl
V:1.2.4-r2
A:x86_64
F:lib
R:ld-musl-x86_64.so.1
R:libc.musl-x86_64.so.1

P:busybox
V:1.36.1-r19
A:x86_64
F:bin
R:busybox

P:zlib
V:1.3.1-r0
A:x86_64
F:lib
R:libz.so.1
";

#[test]
fn apk_installed() {
    let (lhs, rhs) = (apk(APK_LHS), apk(APK_RHS));
    assert!(lhs.notes.is_empty() && rhs.notes.is_empty());
    assert_eq!(
        find(&lhs, "busybox").files,
        ["bin", "bin/busybox", "etc", "etc/securetty"]
    );
    assert_eq!(
        compare(&lhs, &rhs),
        [
            PackageDiff {
                ecosystem: Ecosystem::Apk,
                name: "busybox".into(),
                lhs: pv("1.36.1-r15", Some("x86_64")),
                rhs: pv("1.36.1-r19", Some("x86_64")),
            },
            PackageDiff {
                ecosystem: Ecosystem::Apk,
                name: "zlib".into(),
                lhs: None,
                rhs: pv("1.3.1-r0", Some("x86_64")),
            },
        ]
    );
    let owners = Owners::new(&lhs, &rhs);
    assert!(matches!(
        owners.attribute("bin/busybox"),
        Ownership::PackageChanged { name, .. } if name == "busybox"
    ));
    assert!(matches!(
        owners.attribute("lib/ld-musl-x86_64.so.1"),
        Ownership::SameVersion { name, .. } if name == "musl"
    ));
    assert_eq!(owners.attribute("etc/motd"), Ownership::Unowned);
    // A block without a name or version is noted, not taken.
    let bad = apk("P:noversion\nA:x86_64\n\nV:1\n\nno colon here\nP:x\nV:2\n");
    assert_eq!(bad.packages.len(), 1);
    assert_eq!(
        bad.notes,
        [
            "lib/apk/db/installed: the record at line 1 has no V: field",
            "lib/apk/db/installed: the record at line 4 has no P: field",
            "lib/apk/db/installed: line 6 is neither a field nor a continuation: \"no colon here\"",
        ]
    );
}

#[cfg(feature = "rpm")]
/// A value in a fabricated rpm header.
enum Tag {
    Str(&'static str),
    Strs(Vec<&'static str>),
    Ints(Vec<u32>),
}

#[cfg(feature = "rpm")]
/// An rpm header blob as rpm stores it in its sqlite database.
fn header(tags: &[(u32, Tag)]) -> Vec<u8> {
    let (mut index, mut data) = (Vec::new(), Vec::new());
    for (tag, value) in tags {
        let (kind, count) = match value {
            Tag::Str(_) => (6u32, 1usize),
            Tag::Strs(v) => (8, v.len()),
            Tag::Ints(v) => {
                while data.len() % 4 != 0 {
                    data.push(0);
                }
                (4, v.len())
            }
        };
        let u32_of = |n: usize| u32::try_from(n).unwrap();
        for n in [*tag, kind, u32_of(data.len()), u32_of(count)] {
            index.extend(n.to_be_bytes());
        }
        match value {
            Tag::Str(s) => data.extend(s.bytes().chain([0])),
            Tag::Strs(v) => v.iter().for_each(|s| data.extend(s.bytes().chain([0]))),
            Tag::Ints(v) => v.iter().for_each(|n| data.extend(n.to_be_bytes())),
        }
    }
    let mut blob = Vec::new();
    blob.extend(u32::try_from(index.len() / 16).unwrap().to_be_bytes());
    blob.extend(u32::try_from(data.len()).unwrap().to_be_bytes());
    blob.extend(index);
    blob.extend(data);
    blob
}

#[cfg(feature = "rpm")]
fn rpm_package(
    name: &'static str,
    epoch: Option<u32>,
    version: &'static str,
    files: &[(&'static str, &'static str)],
) -> Vec<u8> {
    let mut dirs: Vec<&'static str> = Vec::new();
    let mut indexes = Vec::new();
    for (dir, _) in files {
        let at = dirs.iter().position(|d| d == dir).unwrap_or_else(|| {
            dirs.push(dir);
            dirs.len() - 1
        });
        indexes.push(u32::try_from(at).unwrap());
    }
    let mut tags = vec![
        (1000, Tag::Str(name)),
        (1001, Tag::Str(version)),
        (1002, Tag::Str("1.el9")),
        (1022, Tag::Str("x86_64")),
        (1116, Tag::Ints(indexes)),
        (1117, Tag::Strs(files.iter().map(|(_, b)| *b).collect())),
        (1118, Tag::Strs(dirs)),
    ];
    if let Some(epoch) = epoch {
        tags.push((1003, Tag::Ints(vec![epoch])));
    }
    header(&tags)
}

#[cfg(feature = "rpm")]
fn rpmdb(blobs: &[Vec<u8>]) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("rpmdb.sqlite");
    let conn = rusqlite::Connection::open(&path).expect("create sqlite");
    conn.execute_batch(
        "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL);",
    )
    .expect("schema");
    for blob in blobs {
        conn.execute("INSERT INTO Packages (blob) VALUES (?1)", [blob])
            .expect("insert");
    }
    drop(conn);
    std::fs::read(&path).expect("read back")
}

#[cfg(feature = "rpm")]
#[test]
fn rpm_sqlite() {
    let bash = |v| {
        rpm_package(
            "bash",
            None,
            v,
            &[("/usr/bin/", "bash"), ("/etc/", "bashrc")],
        )
    };
    let openssl = rpm_package(
        "openssl-libs",
        Some(1),
        "3.0.7",
        &[("/usr/lib64/", "libssl.so.3")],
    );
    let lhs = read(&files(&[(
        "var/lib/rpm/rpmdb.sqlite",
        &rpmdb(&[bash("5.1.8"), openssl.clone()]),
    )]));
    let rhs = read(&files(&[(
        "usr/lib/sysimage/rpm/rpmdb.sqlite",
        &rpmdb(&[bash("5.1.9"), openssl, b"\0\0\0\x09\0\0\0\x01".to_vec()]),
    )]));
    assert!(lhs.notes.is_empty(), "{:?}", lhs.notes);
    assert_eq!(find(&lhs, "bash").files, ["etc/bashrc", "usr/bin/bash"]);
    let ssl = find(&lhs, "openssl-libs");
    assert_eq!(
        (ssl.version.as_str(), ssl.arch.as_deref()),
        ("1:3.0.7-1.el9", Some("x86_64"))
    );
    assert_eq!(
        rhs.notes,
        [
            "usr/lib/sysimage/rpm/rpmdb.sqlite: package header 3: 8 bytes, too short for the 153 bytes its counts announce"
        ]
    );
    assert_eq!(
        compare(&lhs, &rhs),
        [PackageDiff {
            ecosystem: Ecosystem::Rpm,
            name: "bash".into(),
            lhs: pv("5.1.8-1.el9", Some("x86_64")),
            rhs: pv("5.1.9-1.el9", Some("x86_64")),
        }]
    );
    let owners = Owners::new(&lhs, &rhs);
    assert!(matches!(
        owners.attribute("usr/bin/bash"),
        Ownership::PackageChanged { .. }
    ));
    assert!(matches!(
        owners.attribute("usr/lib64/libssl.so.3"),
        Ownership::SameVersion { name, .. } if name == "openssl-libs"
    ));
}

#[cfg(feature = "rpm")]
#[test]
fn rpm_hostile_headers_become_notes() {
    let good = rpm_package("a", None, "1", &[("/x/", "y")]);
    let mut out_of_range = good.clone();
    // Point the first index entry's offset far past the data.
    out_of_range[16..20].copy_from_slice(&0xffff_fff0u32.to_be_bytes());
    let bad_dir = header(&[
        (1000, Tag::Str("b")),
        (1001, Tag::Str("1")),
        (1116, Tag::Ints(vec![7])),
        (1117, Tag::Strs(vec!["f"])),
        (1118, Tag::Strs(vec!["/d/"])),
    ]);
    let huge = [0xffu8; 8].to_vec();
    let wrong_type = header(&[(1000, Tag::Ints(vec![1])), (1001, Tag::Str("1"))]);
    let mut unterminated = header(&[(1000, Tag::Str("c")), (1001, Tag::Str("1"))]);
    unterminated.pop();
    let set = read(&files(&[(
        "var/lib/rpm/rpmdb.sqlite",
        &rpmdb(&[out_of_range, bad_dir, huge, wrong_type, unterminated]),
    )]));
    assert!(set.packages.is_empty());
    let path = "var/lib/rpm/rpmdb.sqlite: package header";
    assert_eq!(
        set.notes,
        [
            format!("{path} 1: tag 1000: offset 4294967280 and count 1 run past the 30 data bytes"),
            format!("{path} 2: file 0 names directory 7 of 1"),
            format!(
                "{path} 3: 4294967295 index entries or 4294967295 data bytes, beyond rpm's limits"
            ),
            format!("{path} 4: tag 1000 has type 4, not 6"),
            format!("{path} 5: 43 bytes, too short for the 44 bytes its counts announce"),
        ]
    );
    let garbage = read(&files(&[(
        "var/lib/rpm/rpmdb.sqlite",
        b"this is not a database".as_slice(),
    )]));
    assert_eq!(garbage.notes.len(), 1, "{:?}", garbage.notes);
    assert!(garbage.notes[0].starts_with("var/lib/rpm/rpmdb.sqlite: "));
    assert!(unsupported("var/lib/rpm/Packages").is_some());
    assert!(unsupported("var/lib/dpkg/status").is_none());
}

const SITE: &str = "usr/local/lib/python3.12/site-packages";

fn python(version: &str, record: &str) -> PackageSet {
    let meta = format!(
        "Metadata-Version: 2.1\nName: Requests_Toolbelt\nVersion: {version}\nSummary: x\n\nName: not-a-header\n"
    );
    read(&files(&[
        (
            &format!("{SITE}/requests_toolbelt-{version}.dist-info/METADATA"),
            meta.as_bytes(),
        ),
        (
            &format!("{SITE}/requests_toolbelt-{version}.dist-info/RECORD"),
            record.as_bytes(),
        ),
        (
            &format!("{SITE}/six-1.16.0.dist-info/METADATA"),
            b"Name: six\nVersion: 1.16.0\n",
        ),
        (
            &format!("{SITE}/six-1.16.0.dist-info/RECORD"),
            b"six.py,sha256=abc,34549\nsix-1.16.0.dist-info/RECORD,,\n",
        ),
    ]))
}

#[test]
fn python_dist_info() {
    let lhs = python(
        "1.0.0",
        "requests_toolbelt/__init__.py,sha256=x,10\n\"weird,name.py\",sha256=y,3\n../../../bin/toolbelt,sha256=z,99\n",
    );
    let rhs = python("1.0.1", "requests_toolbelt/__init__.py,sha256=x,10\n");
    assert!(lhs.notes.is_empty(), "{:?}", lhs.notes);
    let toolbelt = find(&lhs, "Requests_Toolbelt");
    assert_eq!(
        toolbelt.files,
        [
            "usr/local/bin/toolbelt".to_owned(),
            format!("{SITE}/requests_toolbelt/__init__.py"),
            format!("{SITE}/weird,name.py"),
        ]
    );
    assert_eq!(
        compare(&lhs, &rhs),
        [PackageDiff {
            ecosystem: Ecosystem::Python,
            name: "Requests_Toolbelt".into(),
            lhs: pv("1.0.0", None),
            rhs: pv("1.0.1", None),
        }]
    );
    let owners = Owners::new(&lhs, &rhs);
    // Only the lhs RECORD lists it; the pair's versions are still both known.
    assert_eq!(
        owners.attribute("usr/local/bin/toolbelt"),
        Ownership::PackageChanged {
            ecosystem: Ecosystem::Python,
            name: "Requests_Toolbelt".into(),
            lhs: pv("1.0.0", None),
            rhs: pv("1.0.1", None),
        }
    );
    assert!(matches!(
        owners.attribute(&format!("{SITE}/six.py")),
        Ownership::SameVersion { name, .. } if name == "six"
    ));
    // Names compare normalised (PEP 503): a respelt name is the same distribution.
    let respelt = read(&files(&[(
        "app/venv/lib/python3.12/site-packages/requests.toolbelt-1.0.0.dist-info/METADATA",
        b"Name: requests-toolbelt\nVersion: 1.0.0\n",
    )]));
    let original = read(&files(&[(
        "app/venv/lib/python3.12/site-packages/requests_toolbelt-1.0.0.dist-info/METADATA",
        b"Name: Requests_Toolbelt\nVersion: 1.0.0\n",
    )]));
    assert!(compare(&original, &respelt).is_empty());
    let broken = read(&files(&[
        ("x/a-1.dist-info/METADATA", b"Summary: no name\n".as_slice()),
        ("x/b-1.dist-info/METADATA", b"Name: b\n".as_slice()),
        (
            "x/c-1.dist-info/METADATA",
            b"Name: c\nVersion: 1\n".as_slice(),
        ),
        (
            "x/c-1.dist-info/RECORD",
            b"ok.py,,\n\"unterminated\n".as_slice(),
        ),
    ]));
    assert_eq!(broken.packages.len(), 1);
    assert_eq!(
        broken.notes[..2],
        [
            "x/a-1.dist-info/METADATA: the record at line 1 has no Name field",
            "x/b-1.dist-info/METADATA: the record at line 1 has no Version field",
        ]
    );
}

#[test]
fn wants_only_databases() {
    for yes in [
        "var/lib/dpkg/status",
        "var/lib/dpkg/status.d/libc6",
        "var/lib/dpkg/status.d/libc6.md5sums",
        "var/lib/dpkg/info/bash.list",
        "var/lib/dpkg/info/libc6:amd64.md5sums",
        "lib/apk/db/installed",
        "usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA",
        "a.dist-info/RECORD",
    ] {
        assert!(wants(yes), "{yes}");
    }
    for rpm in [
        "var/lib/rpm/rpmdb.sqlite",
        "var/lib/rpm/rpmdb.sqlite-wal",
        "usr/lib/sysimage/rpm/rpmdb.sqlite",
    ] {
        assert_eq!(wants(rpm), cfg!(feature = "rpm"), "{rpm}");
    }
    for no in [
        "var/lib/dpkg/status-old",
        "var/lib/dpkg/status.d/sub/x",
        "var/lib/dpkg/info/bash.postinst",
        "var/lib/dpkg/info/sub/bash.list",
        "etc/apk/world",
        "var/lib/rpm/rpmdb.sqlite-shm",
        "var/lib/rpm/Packages",
        ".dist-info/METADATA",
        "x.dist-info/WHEEL",
        "x.dist-info/sub/METADATA",
        "usr/bin/bash",
    ] {
        assert!(!wants(no), "{no}");
    }
}

/// Without the `rpm` feature a database is not read, and a note says why.
#[cfg(not(feature = "rpm"))]
#[test]
fn rpm_database_without_the_feature_is_a_note() {
    let note = unsupported("var/lib/rpm/rpmdb.sqlite").expect("a note");
    assert!(note.contains("without the `rpm` feature"), "{note}");
    assert!(unsupported("var/lib/rpm/rpmdb.sqlite-wal").is_none());
}

#[test]
fn multi_arch_pairs_by_arch() {
    let pkg = |version: &str, arch: &str| Package {
        ecosystem: Ecosystem::Dpkg,
        name: "libfoo".into(),
        version: version.into(),
        arch: Some(arch.into()),
        files: Vec::new(),
    };
    let lhs = PackageSet {
        packages: vec![pkg("1", "amd64"), pkg("1", "i386")],
        notes: Vec::new(),
    };
    let rhs = PackageSet {
        packages: vec![pkg("1", "amd64"), pkg("2", "i386"), pkg("1", "arm64")],
        notes: Vec::new(),
    };
    assert_eq!(
        compare(&lhs, &rhs),
        [
            PackageDiff {
                ecosystem: Ecosystem::Dpkg,
                name: "libfoo".into(),
                lhs: pv("1", Some("i386")),
                rhs: pv("2", Some("i386")),
            },
            PackageDiff {
                ecosystem: Ecosystem::Dpkg,
                name: "libfoo".into(),
                lhs: None,
                rhs: pv("1", Some("arm64")),
            },
        ]
    );
}

/// Every file of `root` the package view wants, keyed as the engine keys them.
fn wanted_files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() {
                let rel = path
                    .strip_prefix(root)
                    .expect("below root")
                    .to_string_lossy()
                    .into_owned();
                if wants(&rel) {
                    out.insert(rel, std::fs::read(&path).expect("read wanted file"));
                }
            }
        }
    }
    out
}

#[test]
fn real_debian_root() {
    let Some(root) = ocidiff_testkit::debian::bookworm_root() else {
        return;
    };
    let files = wanted_files(&root);
    let set = read(&files);
    assert!(set.notes.is_empty(), "{:?}", set.notes);
    assert!(set.packages.len() > 50, "{} packages", set.packages.len());
    let dpkg = find(&set, "dpkg");
    assert!(!dpkg.version.is_empty());
    assert!(dpkg.files.iter().any(|f| f == "usr/bin/dpkg"));
    assert!(find(&set, "bash").version.starts_with('5'));
    let same = Owners::new(&set, &set);
    assert!(matches!(
        same.attribute("usr/bin/dpkg"),
        Ownership::SameVersion { name, .. } if name == "dpkg"
    ));
    // bash's list names /bin/bash; the merged-/usr tree holds usr/bin/bash.
    assert!(matches!(
        same.attribute("usr/bin/bash"),
        Ownership::SameVersion { name, .. } if name == "bash"
    ));
    assert_eq!(same.attribute("etc/hostname"), Ownership::Unowned);
    // A later rebuild with a newer bash.
    let mut newer = set.clone();
    for p in &mut newer.packages {
        if p.name == "bash" {
            p.version.push_str("+rebuild1");
        }
    }
    assert_eq!(compare(&set, &newer).len(), 1);
    assert!(matches!(
        Owners::new(&set, &newer).attribute("usr/bin/bash"),
        Ownership::PackageChanged { name, .. } if name == "bash"
    ));
}

#[cfg(feature = "rpm")]
#[test]
fn rpm_sqlite_in_wal_mode_reads_the_wal() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("rpmdb.sqlite");
    let conn = rusqlite::Connection::open(&path).expect("create sqlite");
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;
         CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL);",
    )
    .expect("schema");
    conn.execute(
        "INSERT INTO Packages (blob) VALUES (?1)",
        [rpm_package(
            "glibc",
            None,
            "2.34",
            &[("/usr/lib64/", "libc.so.6")],
        )],
    )
    .expect("insert");
    // Copied while the connection is open, as an image layer captures a live database: the
    // row is still only in the -wal file.
    let main = std::fs::read(&path).expect("main file");
    let wal = std::fs::read(dir.path().join("rpmdb.sqlite-wal")).expect("wal file");
    let set = read(&files(&[
        ("var/lib/rpm/rpmdb.sqlite", &main),
        ("var/lib/rpm/rpmdb.sqlite-wal", &wal),
    ]));
    assert!(set.notes.is_empty(), "{:?}", set.notes);
    assert_eq!(find(&set, "glibc").files, ["usr/lib64/libc.so.6"]);
    let without_wal = read(&files(&[("var/lib/rpm/rpmdb.sqlite", &main)]));
    assert!(without_wal.packages.is_empty());
}

#[cfg(feature = "rpm")]
/// Runs `cmd`; a failure quotes it and its output.
fn run(cmd: &mut std::process::Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[cfg(feature = "rpm")]
/// A database written by rpm itself (Debian's `rpm` package), to check the header parser on
/// rpm's own output rather than only on blobs this file builds.
#[test]
fn real_rpm_database() {
    if !(on_path("rpm") && on_path("rpmbuild")) {
        return skip("rpm and rpmbuild are not installed (apt-get install rpm)");
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let top = dir.path().join("top");
    let root = dir.path().join("root");
    std::fs::create_dir_all(top.join("SPECS")).expect("spec dir");
    let spec = top.join("SPECS/hello.spec");
    std::fs::write(
        &spec,
        "Name: hello-ocidiff\nVersion: 1.2\nRelease: 3\nEpoch: 2\nSummary: t\nLicense: MIT\n\
         BuildArch: noarch\n%description\nt\n%install\n\
         mkdir -p %{buildroot}/usr/bin %{buildroot}/etc/hello\n\
         echo hi > %{buildroot}/usr/bin/hello\necho x > %{buildroot}/etc/hello/conf\n\
         %files\n/usr/bin/hello\n%dir /etc/hello\n/etc/hello/conf\n",
    )
    .expect("spec");
    let rpm = |args: &[&str]| {
        let mut cmd = std::process::Command::new("rpm");
        cmd.args(["--define", "_db_backend sqlite", "--root"])
            .arg(&root)
            .args(["--dbpath", "/usr/lib/sysimage/rpm"])
            .args(args);
        cmd
    };
    let rpm_file = top.join("RPMS/noarch/hello-ocidiff-1.2-3.noarch.rpm");
    run(std::process::Command::new("rpmbuild")
        .arg("--define")
        .arg(format!("_topdir {}", top.display()))
        .arg("-bb")
        .arg(&spec));
    run(&mut rpm(&["--initdb"]));
    run(rpm(&["-i", "--nodeps", "--noscripts", "--justdb"]).arg(&rpm_file));
    let set = read(&wanted_files(&root));
    assert!(set.notes.is_empty(), "{:?}", set.notes);
    let hello = find(&set, "hello-ocidiff");
    assert_eq!(
        (hello.version.as_str(), hello.arch.as_deref()),
        ("2:1.2-3", Some("noarch"))
    );
    assert_eq!(
        hello.files,
        ["etc/hello", "etc/hello/conf", "usr/bin/hello"]
    );
}
