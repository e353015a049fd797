//! The package view (`--packages`) on images made from a real Debian root filesystem
//! (debootstrap), packed by umoci and changed by dpkg itself, as a rebuild a week later would be;
//! and on an Alpine-like image whose apk database the test writes.
//!
//! The Debian test skips (`ocidiff_testkit::skip`) where debootstrap, umoci, dpkg or Debian's
//! mirror is missing, a failure under `OCIDIFF_REQUIRE_SERVICES=1`.

// Scenario tests read top to bottom, one setup and its checks: splitting them hides the story.
#![allow(clippy::too_many_lines)]

use std::path::{Path, PathBuf};
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use ocidiff_testkit::debian;
use ocidiff_testkit::skip::{on_path, skip};
use ocidiff_testkit::{Entry, ImageSpec, Layer, write_oci_dir};
use serde_json::Value;

/// Runs `cmd`, returning whether it succeeded; its output goes to stderr for a failing test.
fn run(cmd: &mut Command) -> bool {
    let out = cmd.output().expect("spawn");
    if !out.status.success() {
        eprintln!(
            "{cmd:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out.status.success()
}

/// Unpacks `layout:base` into a fresh bundle, lets `edit` change its root filesystem, and
/// repacks it as `layout:tag` (umoci writes the changes as a new layer, whiteouts included).
fn variant(layout: &Path, work: &Path, tag: &str, edit: impl FnOnce(&Path)) {
    let bundle = work.join(format!("bundle-{tag}"));
    let image = |t: &str| format!("{}:{t}", layout.display());
    assert!(run(Command::new("umoci")
        .args(["unpack", "--image", &image("base")])
        .arg(&bundle)));
    edit(&bundle.join("rootfs"));
    assert!(run(Command::new("umoci")
        .args(["repack", "--image", &image(tag)])
        .arg(&bundle)));
}

/// A tiny real .deb, built by dpkg-deb, to install with dpkg.
fn probe_deb(work: &Path) -> PathBuf {
    let tree = work.join("probe");
    std::fs::create_dir_all(tree.join("DEBIAN")).expect("DEBIAN dir");
    std::fs::create_dir_all(tree.join("usr/share/ocidiff-probe")).expect("probe dir");
    std::fs::write(
        tree.join("DEBIAN/control"),
        "Package: ocidiff-probe\nVersion: 1.0-1\nArchitecture: all\n\
         Maintainer: t <t@example.org>\nDescription: probe\n probe\n",
    )
    .expect("control");
    std::fs::write(tree.join("usr/share/ocidiff-probe/README"), "probe\n").expect("README");
    let deb = work.join("ocidiff-probe.deb");
    assert!(run(Command::new("dpkg-deb")
        .args(["--root-owner-group", "--build"])
        .arg(&tree)
        .arg(&deb)));
    deb
}

fn dpkg(rootfs: &Path, args: &[&str]) {
    assert!(run(Command::new("dpkg")
        .arg(format!("--root={}", rootfs.display()))
        .args(args)));
}

fn diff(dir: &Path, lhs: &str, rhs: &str) -> (Value, String) {
    let report = dir.join(format!("{rhs}.json"));
    let out = Command::cargo_bin("ocidiff")
        .expect("ocidiff binary")
        .current_dir(dir)
        .args(["diff", "--semantic", "--packages", "--report-file"])
        .arg(&report)
        .arg(format!("oci:L:{lhs}"))
        .arg(format!("oci:L:{rhs}"))
        .output()
        .expect("run ocidiff");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let json = std::fs::read(&report).expect("report written");
    (
        serde_json::from_slice(&json).expect("report is JSON"),
        stderr,
    )
}

fn finding<'a>(report: &'a Value, kind: &str, name: &str) -> &'a Value {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["kind"] == kind && f["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} finding {name:?} in {report:#}"))
}

/// One rebuild "a week later" holding every case at once (one comparison of a 200 MB root
/// costs minutes in a debug build): a package version bump with a changed file it owns; a file
/// changed under an unchanged package; files no package owns; a package removed and one added,
/// both by dpkg itself.
#[test]
fn real_debian_rebuild_classes_each_difference() {
    if let Some(tool) = ["umoci", "dpkg", "dpkg-deb"]
        .into_iter()
        .find(|t| !on_path(t))
    {
        return skip(&format!("{tool} is not installed"));
    }
    let Some(root) = debian::bookworm_root() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let work = dir.path();
    let layout = work.join("L");
    assert!(run(Command::new("umoci")
        .args(["init", "--layout"])
        .arg(&layout)));
    let base = format!("{}:base", layout.display());
    assert!(run(Command::new("umoci").args(["new", "--image", &base])));
    let bundle = work.join("bundle-base");
    assert!(run(Command::new("umoci")
        .args(["unpack", "--image", &base])
        .arg(&bundle)));
    assert!(run(Command::new("cp")
        .arg("-a")
        .arg(root.join("."))
        .arg(bundle.join("rootfs"))));
    assert!(run(Command::new("umoci")
        .args(["repack", "--image", &base])
        .arg(&bundle)));

    let status = std::fs::read_to_string(root.join("var/lib/dpkg/status")).expect("status");
    let version_of = |name: &str| {
        let para = status
            .split("\n\n")
            .find(|p| p.starts_with(&format!("Package: {name}\n")))
            .unwrap_or_else(|| panic!("{name} in status"));
        para.lines()
            .find_map(|l| l.strip_prefix("Version: "))
            .expect("Version field")
            .to_owned()
    };
    let base_files = version_of("base-files");
    let dpkg_version = version_of("dpkg");
    let removed = version_of("libsemanage-common");
    let deb = probe_deb(work);

    variant(&layout, work, "v2", |rootfs| {
        // (b) base-files moved to a newer version, with a file it owns changed.
        let status = rootfs.join("var/lib/dpkg/status");
        let text = std::fs::read_to_string(&status).expect("status");
        let bumped = bump(&text, "base-files", &base_files);
        std::fs::write(&status, bumped).expect("write status");
        std::fs::write(rootfs.join("etc/debian_version"), "12.99\n").expect("debian_version");
        // (c) the same dpkg version, one of its files different.
        let copyright = rootfs.join("usr/share/doc/dpkg/copyright");
        let mut bytes = std::fs::read(&copyright).expect("copyright");
        bytes.extend_from_slice(b"\nchanged after installation\n");
        std::fs::write(&copyright, bytes).expect("write copyright");
        // (d) files no package owns: one changed, one added.
        std::fs::write(rootfs.join("etc/hostname"), "rebuilt\n").expect("hostname");
        std::fs::create_dir_all(rootfs.join("opt/app")).expect("opt/app");
        std::fs::write(rootfs.join("opt/app/x"), "app\n").expect("opt/app/x");
        // (e) a package removed and one added, by dpkg.
        dpkg(
            rootfs,
            &["--force-depends", "--purge", "libsemanage-common"],
        );
        dpkg(rootfs, &["-i", deb.to_str().expect("utf-8 temp path")]);
    });

    let started = std::time::Instant::now();
    let (report, stderr) = diff(work, "base", "v2");
    println!("ocidiff on the Debian rebuild: {:?}", started.elapsed());

    let pkg = finding(&report, "package", "dpkg:base-files");
    let version = &pkg["fields"][0];
    assert_eq!(version["field"], "version");
    assert_eq!(version["lhs"], format!("{base_files} (amd64)"));
    assert_eq!(version["rhs"], format!("{base_files}+rebuild1 (amd64)"));

    let debian_version = finding(&report, "file", "etc/debian_version");
    assert_eq!(debian_version["class"], "package-changed");
    assert_eq!(debian_version["owner"]["name"], "base-files");

    let copyright = finding(&report, "file", "usr/share/doc/dpkg/copyright");
    assert_eq!(copyright["class"], "same-package-content");
    assert_eq!(copyright["owner"]["name"], "dpkg");
    assert_eq!(
        copyright["owner"]["lhs_version"],
        copyright["owner"]["rhs_version"]
    );
    assert!(
        copyright["owner"]["lhs_version"]
            .as_str()
            .is_some_and(|v| v.starts_with(&dpkg_version)),
        "{copyright:#}"
    );

    for unowned in ["etc/hostname", "opt/app/x"] {
        assert_eq!(finding(&report, "file", unowned)["class"], "unowned");
    }

    let gone = finding(&report, "package", "dpkg:libsemanage-common");
    assert!(
        gone["fields"][0]["lhs"]
            .as_str()
            .is_some_and(|v| v.starts_with(&removed)),
        "{gone:#}"
    );
    assert!(gone["fields"][0]["rhs"].is_null(), "{gone:#}");
    let added = finding(&report, "package", "dpkg:ocidiff-probe");
    assert!(added["fields"][0]["lhs"].is_null(), "{added:#}");
    assert!(
        added["fields"][0]["rhs"]
            .as_str()
            .is_some_and(|v| v.starts_with("1.0-1")),
        "{added:#}"
    );
    // Files of the removed and the added package go with their package.
    assert_eq!(
        finding(&report, "file", "usr/share/ocidiff-probe/README")["class"],
        "package-changed"
    );

    // Advice (docs/advice.md): pin what moved to input 0's version, the package's files too;
    // nothing to pin for the same version or for what only input 1 has.
    let pin = format!("`apt-get install --no-install-recommends base-files={base_files}`");
    for f in [pkg, debian_version] {
        let advice = f["advice"].as_str().unwrap_or_default();
        assert!(
            advice.contains(&pin) && advice.contains("(apt-pin: "),
            "{f:#}"
        );
    }
    assert!(
        gone["advice"]
            .as_str()
            .is_some_and(|a| a.contains(&format!("libsemanage-common={removed}"))),
        "{gone:#}"
    );
    assert!(copyright.get("advice").is_none(), "{copyright:#}");
    assert!(added.get("advice").is_none(), "{added:#}");

    let verdict = stderr
        .lines()
        .find(|l| l.starts_with("ocidiff: different"))
        .unwrap_or_else(|| panic!("no verdict line in {stderr}"));
    assert!(verdict.contains("package-version: 1"), "{verdict}");
    assert!(verdict.contains("same-package-content: 1"), "{verdict}");
    for class in ["added: ", "removed: ", "package-changed: ", "unowned: "] {
        assert!(verdict.contains(class), "{verdict}");
    }
}

/// `text` with `name`'s `Version:` field set to `old` + "+rebuild1".
fn bump(text: &str, name: &str, old: &str) -> String {
    text.split("\n\n")
        .map(|para| {
            if para.starts_with(&format!("Package: {name}\n")) {
                para.replace(
                    &format!("\nVersion: {old}\n"),
                    &format!("\nVersion: {old}+rebuild1\n"),
                )
            } else {
                para.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// An Alpine-like image whose `lib/apk/db/installed` the test writes (apk-tools is not a
/// Debian package here): musl bumped with a file it owns changed, busybox unchanged with its
/// binary changed, a file no package owns, and a package added.
#[test]
fn apk_rebuild_classes_each_difference() {
    let installed = |musl: &str, extra: bool| {
        let mut db = format!(
            "C:Q1aaaa=\nP:musl\nV:{musl}\nA:x86_64\nF:lib\nR:ld-musl-x86_64.so.1\n\n\
             C:Q1bbbb=\nP:busybox\nV:1.36.1-r15\nA:x86_64\nF:bin\nR:busybox\n\n"
        );
        if extra {
            db.push_str("P:tzdata\nV:2024a-r0\nA:x86_64\nF:usr/share/zoneinfo\nR:UTC\n\n");
        }
        db
    };
    let image = |musl: &str, libc: &str, busybox: &str, extra: bool| {
        let mut entries = vec![
            Entry::dir("lib/apk/db/"),
            Entry::file("lib/apk/db/installed", installed(musl, extra)),
            Entry::file("lib/ld-musl-x86_64.so.1", libc),
            Entry::file("bin/busybox", busybox),
            Entry::file("etc/motd", busybox),
        ];
        if extra {
            entries.push(Entry::file("usr/share/zoneinfo/UTC", "TZif"));
        }
        ImageSpec::new().layer(Layer::new(entries))
    };
    let dir = tempfile::tempdir().expect("temp dir");
    write_oci_dir(
        &dir.path().join("L"),
        &[
            ("base", image("1.2.4-r2", "libc a", "bb a", false).into()),
            ("v2", image("1.2.4-r3", "libc b", "bb b", true).into()),
        ],
    )
    .expect("write layout");
    let (report, stderr) = diff(dir.path(), "base", "v2");
    let musl = finding(&report, "package", "apk:musl");
    assert_eq!(musl["fields"][0]["lhs"], "1.2.4-r2 (x86_64)", "{musl:#}");
    assert_eq!(musl["fields"][0]["rhs"], "1.2.4-r3 (x86_64)", "{musl:#}");
    let libc = finding(&report, "file", "lib/ld-musl-x86_64.so.1");
    assert_eq!(libc["class"], "package-changed");
    assert_eq!(libc["owner"]["name"], "musl");
    let busybox = finding(&report, "file", "bin/busybox");
    assert_eq!(busybox["class"], "same-package-content");
    assert_eq!(busybox["owner"]["lhs_version"], "1.36.1-r15 (x86_64)");
    assert_eq!(finding(&report, "file", "etc/motd")["class"], "unowned");
    assert!(finding(&report, "package", "apk:tzdata")["fields"][0]["lhs"].is_null());
    assert_eq!(
        finding(&report, "file", "usr/share/zoneinfo/UTC")["class"],
        "package-changed"
    );
    for class in [
        "package-version: 1",
        "added: 1",
        // musl's file, tzdata's file, and lib/apk/db/installed itself.
        "package-changed: 3",
        "same-package-content: 1",
        "unowned: ",
    ] {
        assert!(stderr.contains(class), "{class} in {stderr}");
    }
}
