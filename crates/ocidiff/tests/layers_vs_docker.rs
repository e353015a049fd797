//! ocidiff's reading of layers against Docker's own: hand-made layers (the ways a layer can be
//! read or applied differently), loaded into the test suite's dockerd, a container created from
//! each and its file system exported. The export, as a one-layer image, must then be what
//! `ocidiff diff --flatten --semantic` sees in the crafted image — or ocidiff must say that the
//! result depends on the runtime, or refuse the image where Docker refuses it.
//!
//! A second test reads the same layers through the comparison of large layer pairs as they
//! stream (`compare::stream`): each case padded past the size from which pairs stream, against
//! its twin with every layer's entries in reverse order. Where Docker's two file systems differ,
//! ocidiff must not call the images equivalent.
//!
//! Needs a docker daemon (`DOCKER_HOST`, as exported by `scripts/services.sh`). Without one the
//! test skips (`ocidiff_testkit::skip`), a failure under `OCIDIFF_REQUIRE_SERVICES=1`.

// Scenario tests read top to bottom, one setup and its checks: splitting them hides the story.
#![allow(clippy::too_many_lines)]

mod common;

use common::{docker, run, skip, tool_works};

use std::path::{Path, PathBuf};

use ocidiff_testkit::{
    DockerArchiveForm, ImageSpec, Layer, RawTar, header_edited, write_docker_archive, write_oci_dir,
};
use serde_json::Value;

/// What Docker and ocidiff must make of a case.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// Docker unpacks it; ocidiff sees the same file system and says so (exit 0).
    Same,
    /// Docker unpacks it; ocidiff reports it as runtime-dependent (exit 1).
    RuntimeDependent,
    /// Docker refuses it; ocidiff refuses it too (exit 2).
    Refused,
    /// Docker refuses it, others accept it; ocidiff reports it as runtime-dependent.
    RefusedByDocker,
}

struct Case {
    name: &'static str,
    layers: Vec<Vec<u8>>,
    expect: Expect,
    /// Overrides of the config (e.g. wrong diff IDs).
    config: Vec<(&'static str, Value)>,
}

fn case(name: &'static str, expect: Expect, layers: Vec<RawTar>) -> Case {
    Case {
        name,
        layers: layers.into_iter().map(RawTar::finish).collect(),
        expect,
        config: vec![],
    }
}

fn t() -> RawTar {
    RawTar::new()
}

fn dir(tar: RawTar, name: &str) -> RawTar {
    tar.entry(name.as_bytes(), b'5', 0, b"")
}

fn cases() -> Vec<Case> {
    use Expect::*;
    let no_magic = |h: &mut [u8; 512]| h[257..265].fill(0);
    vec![
        case(
            "whiteouts and opaque directories of lower layers",
            Same,
            vec![
                dir(dir(t(), "d/"), "o/")
                    .file(b"d/gone", b"1")
                    .file(b"d/kept", b"2")
                    .file(b"o/x", b"3"),
                dir(t(), "o/")
                    .file(b"d/.wh.gone", b"")
                    .file(b"o/.wh..wh..opq", b"")
                    .file(b"o/new", b"4")
                    .file(b".wh.never-there", b""),
            ],
        ),
        case(
            "a symlink of the same layer in a parent path, relative and absolute",
            Same,
            vec![
                dir(t(), "d/")
                    .link(b"rel", b'2', b"d")
                    .link(b"abs", b'2', b"/d")
                    .file(b"rel/x", b"x")
                    .file(b"abs/y", b"y"),
            ],
        ),
        case(
            "a hard link keeps what it held when a later layer rewrites its target",
            Same,
            vec![
                t().file(b"a", b"old").link(b"b", b'1', b"a"),
                t().file(b"a", b"new"),
            ],
        ),
        case(
            "a hard link entry sets the mode and owner of the file it links to",
            Same,
            vec![t().file(b"plain", b"#!/bin/sh\n").bytes(&header_edited(
                b"suid",
                b'1',
                0,
                b"plain",
                |h| {
                    h[100..108].copy_from_slice(b"0004755\0");
                    h[108..116].copy_from_slice(b"0001750\0");
                },
            ))],
        ),
        case(
            "a size on a directory header, and typeflag NUL with a trailing slash",
            Same,
            vec![
                t().entry(b"d/", b'5', 1024, b"")
                    .file(b"d/after", b"a")
                    .entry(b"nul-dir/", 0, 0, b"")
                    .entry(b"nul-file", 0, 1, b"f"),
            ],
        ),
        case(
            "repeated and empty PAX records, extension headers without magic, long names",
            Same,
            vec![
                t().pax(
                    b'x',
                    &[("path", b"first"), ("path", b"second"), ("uid", b"")],
                )
                .bytes(&header_edited(b"header-name", b'0', 0, b"", |h| {
                    h[108..116].copy_from_slice(b"0001750\0");
                }))
                .edited(
                    b"PaxHeaders/0",
                    b'x',
                    &ocidiff_testkit::pax_records(&[("path", b"from-v7-pax")]),
                    no_magic,
                )
                .edited(b"v7-name", b'0', b"", no_magic)
                .pax(b'x', &[("path", b"pax-path")])
                .entry(b"././@LongLink", b'L', 9, b"gnu-wins")
                .file(b"short", b""),
            ],
        ),
        case(
            "owners as chown sets them: 32 bits, -1 leaves them",
            Same,
            vec![
                t().pax(b'x', &[("uid", b"4294967301"), ("gid", b"-1")])
                    .file(b"owned", b""),
            ],
        ),
        case(
            "a file over a directory of a lower layer removes its children",
            Same,
            vec![
                dir(t(), "x/").file(b"x/child", b"c"),
                t().file(b"x", b"file now"),
            ],
        ),
        case(
            "a PAX global header at a fresh path",
            Same,
            vec![
                t().pax(b'g', &[("comment", b"git archive")])
                    .file(b"f", b"f"),
            ],
        ),
        case(
            "a whiteout after the entry it deletes, in the same layer",
            RuntimeDependent,
            vec![t().file(b"n", b"1").file(b".wh.n", b"")],
        ),
        case(
            "a write through a symlink of a lower layer",
            RuntimeDependent,
            vec![
                dir(t(), "real/").link(b"lnk", b'2', b"real"),
                t().file(b"lnk/x", b"x"),
            ],
        ),
        case(
            "a hard link to a file of a lower layer",
            RuntimeDependent,
            vec![t().file(b"a", b"a"), t().link(b"b", b'1', b"a")],
        ),
        case(
            "a PAX global header named like a path of a lower layer",
            RuntimeDependent,
            vec![
                t().file(b"victim", b"v"),
                t().bytes(&header_edited(b"victim", b'g', 0, b"", |_| {}))
                    .file(b"f", b""),
            ],
        ),
        case(
            "a name climbing above the root",
            RuntimeDependent,
            vec![t().file(b"../../escaped", b"e")],
        ),
        case(
            "missing parent directories",
            RuntimeDependent,
            vec![t().file(b"p/q/r", b"r")],
        ),
        case(
            "an opaque whiteout after entries of its own layer in a lower directory",
            RuntimeDependent,
            vec![
                dir(dir(t(), "d/"), "d/sub/").file(b"d/sub/x", b"x"),
                t().file(b"d/sub/new", b"n").file(b"d/.wh..wh..opq", b""),
            ],
        ),
        case(
            "the same path twice in a layer",
            RefusedByDocker,
            vec![t().file(b"twice", b"1").file(b"./twice", b"2")],
        ),
        case(
            "directories created through a dangling symlink",
            RefusedByDocker,
            vec![
                t().link(b"dangling", b'2', b"/nowhere")
                    .file(b"dangling/sub/f", b"f"),
            ],
        ),
        case(
            "a file of a lower layer used as a directory",
            RefusedByDocker,
            vec![t().file(b"f", b"f"), t().file(b"f/child", b"c")],
        ),
        case(
            "a typeflag runtimes do not unpack",
            Refused,
            vec![t().entry(b"contiguous", b'7', 1, b"c")],
        ),
        case(
            "a hard link to nothing",
            Refused,
            vec![t().link(b"h", b'1', b"missing")],
        ),
        case(
            "a directory removed later in its own layer",
            Refused,
            vec![dir(t(), "nd/").file(b".wh.nd", b"")],
        ),
        case(
            "a zero block followed by more entries",
            Refused,
            vec![t().file(b"a", b"").bytes(&[0; 512]).file(b"hidden", b"h")],
        ),
        case(
            "a PAX uid that does not parse",
            Refused,
            vec![t().pax(b'x', &[("uid", b"12x")]).file(b"f", b"")],
        ),
        case(
            "a whiteout of the root",
            Refused,
            vec![t().file(b"a", b"").file(b".wh.", b"")],
        ),
        Case {
            config: vec![(
                "rootfs",
                serde_json::json!({"type": "layers", "diff_ids": [format!("sha256:{}", "0".repeat(64))]}),
            )],
            ..case(
                "rootfs.diff_ids naming another layer",
                Refused,
                vec![t().file(b"f", b"f")],
            )
        },
    ]
}

fn image(layers: &[Vec<u8>], config: &[(&str, Value)]) -> ImageSpec {
    let mut spec = layers.iter().fold(ImageSpec::new(), |spec, tar| {
        spec.layer(Layer::raw(tar.clone()))
    });
    for (k, v) in config {
        spec = spec.config_field(k, v.clone());
    }
    spec
}

/// Docker's file system for the image in `archive`: load, create, export; `Err` when Docker
/// refuses the image.
fn docker_view(archive: &Path, tag: &str, out: &Path) -> Result<Vec<u8>, String> {
    run(docker().args(["load", "-q", "-i"]).arg(archive))?;
    // Named after the image: the two tests of this file run at once.
    let container = format!(
        "ocidiff-layers-{}-{}",
        std::process::id(),
        tag.replace(|c: char| !c.is_ascii_alphanumeric(), "-")
    );
    let _ = docker().args(["rm", "-f", &container]).output();
    let result = run(docker().args(["create", "--name", &container, tag, "x"]))
        .and_then(|_| run(docker().args(["export", "-o"]).arg(out).arg(&container)))
        .and_then(|_| std::fs::read(out).map_err(|e| format!("reading the export: {e}")));
    let _ = docker().args(["rm", "-f", &container]).output();
    let _ = docker().args(["rmi", "-f", tag]).output();
    result
}

struct Diff {
    code: i32,
    report: Option<Value>,
    stderr: String,
}

fn ocidiff(dir: &Path, lhs: &str, rhs: &str) -> Diff {
    let report = dir.join("report.json");
    let _ = std::fs::remove_file(&report);
    // Docker's own additions to every container: mount points and the files it writes.
    let ignore = [".dockerenv", "etc", "dev", "proc", "sys"];
    let mut cmd = assert_cmd::Command::cargo_bin("ocidiff").unwrap();
    cmd.env("OCIDIFF_STORE", dir.join("store"))
        .args(["diff", "--flatten", "--semantic", "--report-file"])
        .arg(&report);
    for p in ignore {
        cmd.args(["--ignore-path", p]);
    }
    let out = cmd.args([lhs, rhs]).output().unwrap();
    Diff {
        code: out.status.code().unwrap_or(-1),
        report: std::fs::read(&report)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok()),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn runtime_dependent(d: &Diff) -> Vec<String> {
    let Some(report) = &d.report else {
        return vec![];
    };
    report["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["counted"] == true && f["class"] == "runtime-dependent")
        .map(|f| f["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn counted(d: &Diff) -> Vec<String> {
    let Some(report) = &d.report else {
        return vec![];
    };
    report["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["counted"] == true)
        .map(|f| format!("{} {} {}", f["kind"], f["name"], f["class"]))
        .collect()
}

/// A fresh directory for the test `name`.
fn work_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("layers-vs-docker")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn ocidiff_sees_what_docker_unpacks() {
    if !tool_works(docker().arg("info")) {
        let why = format!(
            "no docker daemon answers (DOCKER_HOST={:?}); start one with scripts/services.sh start",
            std::env::var("DOCKER_HOST").unwrap_or_default()
        );
        skip(&why);
        return;
    }
    let root = work_dir("flatten");
    let plain_dir = root.join("plain");
    write_oci_dir(
        &plain_dir,
        &[("p", image(&[t().file(b"plain", b"p").finish()], &[]).into())],
    )
    .unwrap();
    let plain = format!("oci:{}:p", plain_dir.display());
    let mut failures = Vec::new();
    for (i, c) in cases().into_iter().enumerate() {
        let dir = root.join(format!("case-{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        let tag = format!("ocidiff-layers/case:{i}");
        let archive = dir.join("image.tar");
        write_docker_archive(
            &archive,
            &[(vec![tag.as_str()], image(&c.layers, &c.config))],
            DockerArchiveForm::Classic,
        )
        .unwrap();
        let crafted = format!("docker-archive:{}", archive.display());
        let docker = docker_view(&archive, &tag, &dir.join("export.tar"));
        let problem = match (c.expect, docker) {
            (Expect::Same | Expect::RuntimeDependent, Err(e)) => {
                Some(format!("Docker refused it: {e}"))
            }
            (Expect::Refused | Expect::RefusedByDocker, Ok(_)) => {
                Some("Docker unpacked it".to_owned())
            }
            (Expect::Same | Expect::RuntimeDependent, Ok(export)) => {
                let ref_dir = dir.join("export-layout");
                write_oci_dir(&ref_dir, &[("e", image(&[export], &[]).into())]).unwrap();
                let d = ocidiff(&dir, &crafted, &format!("oci:{}:e", ref_dir.display()));
                let rd = runtime_dependent(&d);
                match c.expect {
                    Expect::Same if d.code != 0 => Some(format!(
                        "ocidiff exit {}: {:?} {}",
                        d.code,
                        counted(&d),
                        d.stderr
                    )),
                    Expect::RuntimeDependent if d.code != 1 || rd.is_empty() => Some(format!(
                        "expected a runtime-dependent finding; exit {}: {:?} {}",
                        d.code,
                        counted(&d),
                        d.stderr
                    )),
                    _ => None,
                }
            }
            (Expect::Refused, Err(_)) => {
                let d = ocidiff(&dir, &plain, &crafted);
                (d.code != 2 || d.stderr.trim_end().lines().count() != 1).then(|| {
                    format!(
                        "expected ocidiff to refuse it; exit {}: {}",
                        d.code, d.stderr
                    )
                })
            }
            (Expect::RefusedByDocker, Err(_)) => {
                let d = ocidiff(&dir, &plain, &crafted);
                (d.code != 1 || runtime_dependent(&d).is_empty()).then(|| {
                    format!(
                        "expected a runtime-dependent finding; exit {}: {:?} {}",
                        d.code,
                        counted(&d),
                        d.stderr
                    )
                })
            }
        };
        if let Some(p) = problem {
            failures.push(format!("{} ({:?}): {p}", c.name, c.expect));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The entries of a plain tar stream, each with the extension headers (PAX `x`, GNU `L`/`K`)
/// before it; `None` for a stream this cannot take apart safely: another magic, a global
/// header, a size that is not plain octal or on a type without content, anything after the
/// end-of-archive blocks but zeros.
fn split_entries(tar: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut entries = Vec::new();
    let mut current = Vec::new();
    let mut at = 0;
    loop {
        let block = tar.get(at..at + 512)?;
        if block.iter().all(|&b| b == 0) {
            return (current.is_empty() && tar[at..].iter().all(|&b| b == 0)).then_some(entries);
        }
        if &block[257..265] != b"ustar\x0000" {
            return None;
        }
        let text = std::str::from_utf8(&block[124..136]).ok()?;
        let size = u64::from_str_radix(text.trim_matches(|c| c == '\0' || c == ' '), 8).ok()?;
        let kind = block[156];
        let with_content = matches!(kind, b'0' | 0 | b'x' | b'L' | b'K');
        // A header-only type (link, symlink, directory) must declare no content.
        if !with_content && (size > 0 || !matches!(kind, b'1' | b'2' | b'5')) {
            return None;
        }
        let len = 512 + usize::try_from(size.div_ceil(512) * 512).ok()?;
        current.extend_from_slice(tar.get(at..at + len)?);
        at += len;
        if !matches!(kind, b'x' | b'L' | b'K') {
            entries.push(std::mem::take(&mut current));
        }
    }
}

/// `entries`, then a file of `PAD` bytes named after `layer`, then the end-of-archive blocks.
fn padded(entries: &[Vec<u8>], layer: usize) -> Vec<u8> {
    const PAD: usize = 3 << 20;
    let mut tar: Vec<u8> = entries.concat();
    let content: Vec<u8> = (0..=250u8).cycle().take(PAD).collect();
    tar.extend(
        t().file(format!("pad-{layer}").as_bytes(), &content)
            .finish(),
    );
    tar
}

#[test]
fn streamed_layer_pairs_see_what_docker_unpacks() {
    if !tool_works(docker().arg("info")) {
        skip("no docker daemon answers; start one with scripts/services.sh start");
        return;
    }
    let root = work_dir("streamed");
    let mut failures = Vec::new();
    let mut compared = 0;
    let mut differing = 0;
    for (i, c) in cases().into_iter().enumerate() {
        if !matches!(c.expect, Expect::Same | Expect::RuntimeDependent) || !c.config.is_empty() {
            continue;
        }
        let Some(split) = c
            .layers
            .iter()
            .map(|l| split_entries(l))
            .collect::<Option<Vec<_>>>()
        else {
            continue;
        };
        // One entry a layer: nothing to reorder.
        if split.iter().all(|entries| entries.len() < 2) {
            continue;
        }
        let dir = root.join(format!("case-{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        let twins: [Vec<Vec<u8>>; 2] = [
            split
                .iter()
                .enumerate()
                .map(|(k, e)| padded(e, k))
                .collect(),
            split
                .iter()
                .enumerate()
                .map(|(k, e)| padded(&e.iter().rev().cloned().collect::<Vec<_>>(), k))
                .collect(),
        ];
        let mut refs = Vec::new();
        let mut views = Vec::new();
        for (side, layers) in twins.iter().enumerate() {
            let tag = format!("ocidiff-layers/streamed:{i}-{side}");
            let archive = dir.join(format!("image-{side}.tar"));
            write_docker_archive(
                &archive,
                &[(vec![tag.as_str()], image(layers, &[]))],
                DockerArchiveForm::Classic,
            )
            .unwrap();
            refs.push(format!("docker-archive:{}", archive.display()));
            views.push(docker_view(
                &archive,
                &tag,
                &dir.join(format!("export-{side}.tar")),
            ));
        }
        let mut cmd = assert_cmd::Command::cargo_bin("ocidiff").unwrap();
        let out = cmd
            .env("OCIDIFF_STORE", dir.join("store"))
            .env("OCIDIFF_LOG", "ocidiff_core::compare::stream=debug")
            .args(["diff", "--semantic", &refs[0], &refs[1]])
            .output()
            .unwrap();
        let code = out.status.code().unwrap_or(-1);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !stderr.contains("streamed") {
            failures.push(format!("{}: no pair was streamed: {stderr}", c.name));
            continue;
        }
        let same_in_docker = match (&views[0], &views[1]) {
            (Ok(l), Ok(r)) => {
                let exports: Vec<String> = [l, r]
                    .iter()
                    .enumerate()
                    .map(|(side, export)| {
                        let d = dir.join(format!("export-layout-{side}"));
                        write_oci_dir(&d, &[("e", image(&[(*export).clone()], &[]).into())])
                            .unwrap();
                        format!("oci:{}:e", d.display())
                    })
                    .collect();
                let d = ocidiff(&dir, &exports[0], &exports[1]);
                assert!(
                    d.code < 2,
                    "{}: comparing the exports: {}",
                    c.name,
                    d.stderr
                );
                d.code == 0
            }
            // Docker refuses one of the two: they are not the same to Docker.
            _ => false,
        };
        eprintln!(
            "{}: the same to Docker: {same_in_docker}; ocidiff exit {code}",
            c.name
        );
        compared += 1;
        if !same_in_docker {
            differing += 1;
            if code == 0 {
                failures.push(format!(
                    "{}: Docker unpacks the twins differently, ocidiff exit 0",
                    c.name
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(compared >= 8, "only {compared} cases could be reordered");
    assert!(
        differing >= 1,
        "no twin that Docker unpacks differently: a test that cannot fail"
    );
}
