//! `ocidiff images`, `rm`, `prune` and `info` on a store filled by `ocidiff load` of archives
//! the test kit writes: no registry, no daemon, no network. Every test has its own `--store`.

// Scenario tests read top to bottom, one setup and its checks: splitting them hides the story.
#![allow(clippy::too_many_lines)]

use std::path::Path;

use assert_cmd::Command;
use ocidiff_testkit::{
    DockerArchiveForm, Entry, ImageSpec, Layer, write_docker_archive, write_oci_archive,
};

fn image(platform: &str, hello: &str) -> ImageSpec {
    ImageSpec::new().platform(platform).layer(Layer::new(vec![
        Entry::dir("etc/"),
        Entry::file("etc/hello", hello),
    ]))
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn ocidiff(store: &Path, args: &[&str]) -> Out {
    let out = Command::cargo_bin("ocidiff")
        .unwrap()
        .env("OCIDIFF_STORE", store)
        .env("DOCKER_CONFIG", store.join("no-docker-config"))
        .args(args)
        .output()
        .unwrap();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn ok(store: &Path, args: &[&str]) -> String {
    let out = ocidiff(store, args);
    assert_eq!(
        out.code, 0,
        "ocidiff {args:?}: {}{}",
        out.stdout, out.stderr
    );
    out.stdout
}

fn load(store: &Path, archive: &Path) -> String {
    ok(store, &["load", "--input", archive.to_str().unwrap()])
}

/// `images` as rows of cells (the header first).
fn table(store: &Path) -> Vec<Vec<String>> {
    ok(store, &["images"])
        .lines()
        .map(|l| l.split_whitespace().map(str::to_owned).collect())
        .collect()
}

/// The cell of `column` in the row whose NAME is `name`.
fn cell(rows: &[Vec<String>], name: &str, column: &str) -> String {
    let c = rows[0].iter().position(|h| h == column).unwrap();
    let row = rows
        .iter()
        .find(|r| r.first().is_some_and(|n| n == name) || r.join(" ").starts_with(name))
        .unwrap_or_else(|| panic!("no row {name} in {rows:?}"));
    // "(loaded FILE)" is two words.
    let shift = name.matches(' ').count();
    row[c + shift].clone()
}

/// The number after `key:` in `ocidiff info`.
fn info_number(store: &Path, key: &str) -> u64 {
    let out = ok(store, &["info"]);
    out.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == key).then(|| v.split_whitespace().next()?.parse().ok())?
        })
        .unwrap_or_else(|| panic!("no {key} in `ocidiff info`:\n{out}"))
}

#[test]
fn images_name_every_load_and_rm_takes_what_images_shows() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let store = w.join("store");
    let named = w.join("named.tar");
    write_docker_archive(
        &named,
        &[(vec!["app:1", "app:latest"], image("linux/amd64", "one\n"))],
        DockerArchiveForm::Classic,
    )
    .unwrap();
    let oci = w.join("oci.tar");
    write_oci_archive(
        &oci,
        &[("team/app:2", image("linux/arm64", "two\n").into())],
    )
    .unwrap();
    let unnamed = w.join("unnamed.tar");
    write_docker_archive(
        &unnamed,
        &[(vec![], image("linux/amd64", "three\n"))],
        DockerArchiveForm::Classic,
    )
    .unwrap();
    for archive in [&named, &oci, &unnamed] {
        load(&store, archive);
    }

    let out = ok(&store, &["images"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5, "{out}");
    // Aligned: every row's ID starts where the header's does.
    let id_at = lines[0].find("ID").unwrap();
    for line in &lines[1..] {
        assert!(
            line[id_at..].starts_with(|c: char| c.is_ascii_hexdigit())
                && line[..id_at].ends_with("  "),
            "{out}"
        );
    }
    let rows = table(&store);
    assert_eq!(
        rows[0],
        ["NAME", "KIND", "ID", "DIGEST", "PLATFORMS", "SIZE"],
        "{out}"
    );
    assert_eq!(cell(&rows, "app:1", "KIND"), "archive");
    assert_eq!(cell(&rows, "app:latest", "PLATFORMS"), "linux/amd64");
    assert_eq!(cell(&rows, "team/app:2", "PLATFORMS"), "linux/arm64");
    assert_eq!(cell(&rows, "(loaded unnamed.tar)", "KIND"), "archive");
    let unnamed_id = cell(&rows, "(loaded unnamed.tar)", "ID");
    let unnamed_digest = cell(&rows, "(loaded unnamed.tar)", "DIGEST");
    assert_eq!(unnamed_id.len(), 12, "{out}");
    assert!(
        unnamed_digest.starts_with(&format!("sha256:{unnamed_id}")),
        "{out}"
    );
    assert!(
        !out.contains(" - "),
        "no record is left without a name: {out}"
    );

    let info = ok(&store, &["info"]);
    assert!(
        info.lines().any(|l| l
            .split_whitespace()
            .collect::<Vec<_>>()
            .starts_with(&["loaded", "archives", "4"])),
        "{info}"
    );
    assert_eq!(info_number(&store, "Unused"), 0, "{info}");
    let blobs = info_number(&store, "Blobs");
    // Three images of a manifest, a config and a layer each.
    assert_eq!(blobs, 9, "{info}");

    // Unknown images: exit 2 naming them, nothing removed.
    let out = ocidiff(&store, &["rm", "app:1", "nope:3"]);
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(
        out.stderr.contains("no image named nope:3"),
        "{}",
        out.stderr
    );
    let out = ocidiff(&store, &["rm", "docker://app:1"]);
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(out.stderr.contains("docker://app:1"), "{}", out.stderr);
    let out = ocidiff(&store, &["rm", &unnamed_id[..11]]);
    assert_eq!(out.code, 2, "11 digits are too few: {}", out.stdout);
    assert_eq!(table(&store).len(), 5);

    // By short ID: the unnamed load.
    let out = ok(&store, &["rm", &unnamed_id]);
    assert!(
        out.contains(&format!("Removed (loaded unnamed.tar) ({unnamed_id})")),
        "{out}"
    );
    assert!(out.contains("Freed 1 image, 3 blobs"), "{out}");
    // A name whose image another name keeps frees nothing; by digest, both go.
    let out = ok(&store, &["rm", "app:1"]);
    assert!(out.contains("Freed 1 image, 0 blobs"), "{out}");
    let digest = cell(&table(&store), "app:latest", "DIGEST");
    let out = ok(&store, &["rm", &digest, "docker.io/team/app:2"]);
    assert!(out.contains("Freed 2 images, 6 blobs"), "{out}");
    assert_eq!(table(&store).len(), 1, "only the header is left");
    assert_eq!(info_number(&store, "Blobs"), 0);
}

#[test]
fn prune_removes_unnamed_loads_and_unused_blobs_and_all_empties_the_store() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let store = w.join("store");
    let archive = |file: &str, tags: Vec<&str>, hello: &str| {
        let path = w.join(file);
        write_docker_archive(
            &path,
            &[(tags, image("linux/amd64", hello))],
            DockerArchiveForm::Classic,
        )
        .unwrap();
        path
    };
    load(&store, &archive("v1.tar", vec!["app:1"], "one\n"));
    load(&store, &archive("u.tar", vec![], "unnamed\n"));
    // The tag loaded again with other content: the first image's blobs are used by nothing.
    load(&store, &archive("v2.tar", vec!["app:1"], "two\n"));
    // An unnamed load piped in.
    let piped = std::fs::read(archive("p.tar", vec![], "piped\n")).unwrap();
    let out = Command::cargo_bin("ocidiff")
        .unwrap()
        .env("OCIDIFF_STORE", &store)
        .arg("load")
        .write_stdin(piped)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let rows = table(&store);
    assert_eq!(cell(&rows, "(loaded standard input)", "KIND"), "archive");
    assert_eq!(rows.len(), 4, "{rows:?}");
    assert_eq!(info_number(&store, "Unused"), 3);
    assert_eq!(info_number(&store, "Images"), 3);

    let out = ok(&store, &["prune"]);
    assert!(out.contains("Removed (loaded u.tar)"), "{out}");
    assert!(out.contains("Removed (loaded standard input)"), "{out}");
    assert!(out.contains("Freed 2 images, 9 blobs"), "{out}");
    let rows = table(&store);
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[1][0], "app:1");
    assert_eq!(info_number(&store, "Unused"), 0);
    // Nothing left to prune.
    let out = ok(&store, &["prune"]);
    assert_eq!(out.trim(), "Freed 0 images, 0 blobs, 0B");

    let out = ok(&store, &["prune", "--all"]);
    assert!(out.contains("Removed app:1"), "{out}");
    assert!(out.contains("Freed 1 image, 3 blobs"), "{out}");
    assert_eq!(table(&store).len(), 1);
    assert_eq!(info_number(&store, "Blobs"), 0);
    assert!(store.join("refs").is_dir(), "the store's directories stay");
}
