//! Which image ocidiff reads from a crafted `docker save` or OCI archive, checked against the
//! runtimes: each archive is loaded with `docker load` into the test suite's dockerd and
//! imported with `ctr images import` into a containerd of the test's own, and ocidiff must read
//! the very image they loaded (`ocidiff diff --semantic ARCHIVE docker://TAG` is identical) or
//! refuse the archive (exit 2) — which it does where the runtimes read it differently, and for
//! members that collide once extracted, whatever the runtimes make of them.
//!
//! What ocidiff reads is also checked without the runtimes, against an archive of the expected
//! image alone, so that the cases run everywhere. Needs a docker daemon (`DOCKER_HOST`, from
//! `scripts/services.sh`), containerd and skopeo for the runtime half; without them that half
//! says SKIP, unless `OCIDIFF_REQUIRE_SERVICES=1`.

// Scenario tests read top to bottom, one setup and its checks: splitting them hides the story.
#![allow(clippy::too_many_lines)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use assert_cmd::Command as BinCommand;
use common::{Containerd, docker, have, run, skip, tool_works};
use ocidiff_testkit::{
    BuiltImage, DockerArchiveForm, Entry, ImageSpec, Layer, MediaStyle, oci_archive_bytes,
    sha256_digest, write_docker_archive,
};
use serde_json::{Value, json};

/// Tags (and containerd names) of the test's images start with this.
const REPO: &str = "ocidiff-archive-test";

/// One of the two images every case is made of: its one file says which.
fn spec(which: &str) -> ImageSpec {
    ImageSpec::new()
        .platform("linux/amd64")
        .layer(Layer::new(vec![Entry::file("which", which)]))
}

fn hex(digest: &str) -> &str {
    digest.trim_start_matches("sha256:")
}

/// The uncompressed layer of a one-layer image.
fn layer_of(built: &BuiltImage) -> &[u8] {
    &built.layers[0].bytes
}

/// A `manifest.json` entry.
fn saved(config: &str, tags: &[&str], layers: &[&str]) -> Value {
    json!({"Config": config, "RepoTags": tags, "Layers": layers})
}

/// A classic `docker save` archive of `members`, written as given (names, order, links).
fn members_tar(members: Vec<Entry>) -> Vec<u8> {
    Layer::new(members).tar_bytes()
}

/// The members of a Docker ≥ 25 archive holding both images' blobs, with `index` as its
/// `index.json` and `manifest` as its `manifest.json`.
fn layout_members(images: &[&BuiltImage], index: &Value, manifest: &Value) -> Vec<Entry> {
    let mut members = vec![Entry::dir("blobs/"), Entry::dir("blobs/sha256/")];
    for image in images {
        for blob in image.blobs() {
            members.push(Entry::file(
                &format!("blobs/sha256/{}", blob.hex()),
                &blob.bytes,
            ));
        }
    }
    members.push(Entry::file(
        "oci-layout",
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    ));
    members.push(Entry::file(
        "index.json",
        serde_json::to_vec(index).unwrap(),
    ));
    members.push(Entry::file(
        "manifest.json",
        serde_json::to_vec(manifest).unwrap(),
    ));
    members
}

/// `index.json` listing `image` under the containerd name `name`, as Docker ≥ 25 writes it.
fn docker_index(image: &BuiltImage, name: &str) -> Value {
    let mut descriptor = image.manifest.descriptor();
    descriptor["annotations"] = json!({
        "io.containerd.image.name": name,
        "org.opencontainers.image.ref.name": name.rsplit(':').next().unwrap(),
    });
    json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [descriptor],
    })
}

/// A `manifest.json` entry pointing into the layout's blobs.
fn saved_blobs(image: &BuiltImage, tags: &[&str]) -> Value {
    let layers: Vec<String> = image
        .layers
        .iter()
        .map(|l| format!("blobs/sha256/{}", l.hex()))
        .collect();
    json!({
        "Config": format!("blobs/sha256/{}", image.config.hex()),
        "RepoTags": tags,
        "Layers": layers,
    })
}

/// What ocidiff must do with a case.
enum Expect {
    /// Read image `A` or `B` from `docker-archive:FILE[:reference]`.
    Reads(char),
    /// Refuse it, saying all of these.
    Refuses(&'static [&'static str]),
}

/// What the runtimes do with a case (dockerd 20.10 and containerd 1.6, as tested).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Runtime {
    /// Runs image `A` or `B` under the case's tag.
    Runs(char),
    /// Loads nothing under the tag (or refuses the archive).
    Nothing,
}

struct Case {
    name: &'static str,
    /// The archive, built from the two images.
    bytes: Vec<u8>,
    /// `:REF` given to ocidiff (the tag every runtime name is made of).
    reference: Option<String>,
    expect: Expect,
    docker: Runtime,
    containerd: Runtime,
}

fn cases(a: &BuiltImage, b: &BuiltImage) -> Vec<Case> {
    let tag = |case: &str| format!("{REPO}/{case}:1");
    let config = |i: &BuiltImage| format!("{}.json", hex(&i.config.digest));
    let mut out = Vec::new();

    // Names spelled as extraction cleans them: `./manifest.json`, `x/../C.json`,
    // `L//layer.tar`, and a layer reached through a symbolic link.
    let t = tag("cleaned");
    out.push(Case {
        name: "cleaned",
        bytes: members_tar(vec![
            Entry::file(&format!("x/../{}", config(a)), &a.config.bytes),
            Entry::file("L//layer.tar", layer_of(a)),
            Entry::symlink("M/layer.tar", "../L/layer.tar"),
            Entry::file(
                "./manifest.json",
                serde_json::to_vec(&json!([saved(&config(a), &[&t], &["M/layer.tar"])])).unwrap(),
            ),
        ]),
        reference: Some(t),
        expect: Expect::Reads('A'),
        docker: Runtime::Runs('A'),
        containerd: Runtime::Runs('A'),
    });

    // A layer reached through a link whose target spells `.` again and again: Docker gives
    // up past 255 steps of resolution (`/`, `M`, each `.`, `L`, `layer.tar`: 4 + dots), and
    // containerd cleans the target. At 256 steps both load it; at 257 only containerd does.
    for (name, dots, expect, docker) in [
        (
            "link-steps-256",
            252,
            Expect::Reads('A'),
            Runtime::Runs('A'),
        ),
        (
            "link-steps-257",
            253,
            Expect::Refuses(&["goes through more than 255 path components and links"]),
            Runtime::Nothing,
        ),
    ] {
        let t = tag(name);
        out.push(Case {
            name,
            bytes: members_tar(vec![
                Entry::file(&config(a), &a.config.bytes),
                Entry::file("L/layer.tar", layer_of(a)),
                Entry::symlink("M", &format!("{}L/layer.tar", "./".repeat(dots))),
                Entry::file(
                    "manifest.json",
                    serde_json::to_vec(&json!([saved(&config(a), &[&t], &["M"])])).unwrap(),
                ),
            ]),
            reference: Some(t),
            expect,
            docker,
            containerd: Runtime::Runs('A'),
        });
    }

    // A later `manifest.json` under another spelling: both runtimes read the later one; a
    // reader keyed on the first member's name would compare another image.
    let t = tag("manifest-collision");
    let manifest = |i: &BuiltImage, layer: &str| {
        serde_json::to_vec(&json!([saved(&config(i), &[&t], &[layer])])).unwrap()
    };
    out.push(Case {
        name: "manifest-collision",
        bytes: members_tar(vec![
            Entry::file(&config(a), &a.config.bytes),
            Entry::file(&config(b), &b.config.bytes),
            Entry::file("a/layer.tar", layer_of(a)),
            Entry::file("b/layer.tar", layer_of(b)),
            Entry::file("manifest.json", manifest(a, "a/layer.tar")),
            Entry::file("x/../manifest.json", manifest(b, "b/layer.tar")),
        ]),
        reference: None,
        expect: Expect::Refuses(&[
            "\"manifest.json\" and \"x/../manifest.json\" both extract to \"manifest.json\"",
        ]),
        docker: Runtime::Runs('B'),
        containerd: Runtime::Runs('B'),
    });

    // The layer replaced by `L//layer.tar`: Docker loads A's config with the later bytes.
    let t = tag("layer-collision");
    out.push(Case {
        name: "layer-collision",
        bytes: members_tar(vec![
            Entry::file(&config(a), &a.config.bytes),
            Entry::file("L/layer.tar", layer_of(b)),
            Entry::file("L//layer.tar", layer_of(a)),
            Entry::file(
                "manifest.json",
                serde_json::to_vec(&json!([saved(&config(a), &[&t], &["L/layer.tar"])])).unwrap(),
            ),
        ]),
        reference: None,
        expect: Expect::Refuses(&[
            "\"L/layer.tar\" and \"L//layer.tar\" both extract to \"L/layer.tar\"",
        ]),
        docker: Runtime::Runs('A'),
        containerd: Runtime::Runs('A'),
    });

    // One tag on two entries: each is tagged in turn, the last keeps it.
    let t = tag("tag-twice");
    out.push(Case {
        name: "tag-twice",
        bytes: members_tar(vec![
            Entry::file(&config(a), &a.config.bytes),
            Entry::file(&config(b), &b.config.bytes),
            Entry::file("a/layer.tar", layer_of(a)),
            Entry::file("b/layer.tar", layer_of(b)),
            Entry::file(
                "manifest.json",
                serde_json::to_vec(&json!([
                    saved(&config(a), &[&t], &["a/layer.tar"]),
                    saved(&config(b), &[&t], &["b/layer.tar"]),
                ]))
                .unwrap(),
            ),
        ]),
        reference: Some(t),
        expect: Expect::Reads('B'),
        docker: Runtime::Runs('B'),
        containerd: Runtime::Runs('B'),
    });

    // Docker ≥ 25's form, both indexes agreeing.
    let t = tag("docker-25");
    out.push(Case {
        name: "docker-25",
        bytes: members_tar(layout_members(
            &[a],
            &docker_index(a, &format!("docker.io/{t}")),
            &json!([saved_blobs(a, &[&t])]),
        )),
        reference: Some(t),
        expect: Expect::Reads('A'),
        docker: Runtime::Runs('A'),
        containerd: Runtime::Runs('A'),
    });

    // `index.json` says A, `manifest.json` B: docker load reads manifest.json, ctr import
    // index.json.
    let t = tag("layout-disagrees");
    out.push(Case {
        name: "layout-disagrees",
        bytes: members_tar(layout_members(
            &[a, b],
            &docker_index(a, &format!("docker.io/{t}")),
            &json!([saved_blobs(b, &[&t])]),
        )),
        reference: Some(t),
        expect: Expect::Refuses(&["manifest.json and index.json disagree"]),
        docker: Runtime::Runs('B'),
        containerd: Runtime::Runs('A'),
    });

    // Docker ≥ 25 writes `"manifests": null` for images it cannot describe in a layout:
    // docker load reads manifest.json; ctr import finds no image.
    let t = tag("null-manifests");
    out.push(Case {
        name: "null-manifests",
        bytes: members_tar(layout_members(
            &[b],
            &json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": null,
            }),
            &json!([saved_blobs(b, &[&t])]),
        )),
        reference: Some(t),
        expect: Expect::Reads('B'),
        docker: Runtime::Runs('B'),
        containerd: Runtime::Nothing,
    });

    // Docker's foreign-layer media type in the layout, as Windows base images have it.
    let t = tag("foreign-layer");
    let mut foreign = spec("A").media(MediaStyle::Docker).build();
    let mut manifest: Value = serde_json::from_slice(&foreign.manifest.bytes).unwrap();
    manifest["layers"][0]["mediaType"] =
        json!("application/vnd.docker.image.rootfs.foreign.diff.tar");
    foreign.manifest = ocidiff_testkit::Blob::new(
        &foreign.manifest.media_type,
        serde_json::to_vec(&manifest).unwrap(),
    );
    out.push(Case {
        name: "foreign-layer",
        bytes: members_tar(layout_members(
            &[&foreign],
            &docker_index(&foreign, &format!("docker.io/{t}")),
            &json!([saved_blobs(&foreign, &[&t])]),
        )),
        reference: Some(t),
        expect: Expect::Reads('A'),
        docker: Runtime::Runs('A'),
        containerd: Runtime::Runs('A'),
    });
    out
}

fn ocidiff(store: &Path, args: &[&str]) -> Output {
    BinCommand::cargo_bin("ocidiff")
        .unwrap()
        .env("OCIDIFF_STORE", store)
        .env("DOCKER_CONFIG", store.join("no-docker-config"))
        .args(args)
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}: {}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `docker-archive:FILE[:REF]`.
fn archive_ref(file: &Path, reference: Option<&str>) -> String {
    match reference {
        Some(r) => format!("docker-archive:{}:{r}", file.display()),
        None => format!("docker-archive:{}", file.display()),
    }
}

/// Checks what ocidiff makes of each case against archives of `A` and `B` alone.
fn check_ocidiff(case: &Case, file: &Path, alone: &[(char, PathBuf)], store: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let source = archive_ref(file, case.reference.as_deref());
    match case.expect {
        Expect::Reads(which) => {
            for (image, path) in alone {
                let out = ocidiff(
                    store,
                    &["diff", "--semantic", &source, path.to_str().unwrap()],
                );
                let want = i32::from(*image != which);
                if out.status.code() != Some(want) {
                    problems.push(format!(
                        "{}: ocidiff against image {image} alone: {}",
                        case.name,
                        text(&out)
                    ));
                }
            }
        }
        Expect::Refuses(needles) => {
            // A bare path is a docker-archive too.
            let bare = file.to_str().unwrap().to_owned();
            let forms = match case.reference {
                Some(_) => vec![source],
                None => vec![source, bare],
            };
            for form in forms {
                let out = ocidiff(store, &["diff", &form, &form]);
                let stderr = String::from_utf8_lossy(&out.stderr);
                if out.status.code() != Some(2) || !needles.iter().all(|n| stderr.contains(n)) {
                    problems.push(format!(
                        "{}: ocidiff should refuse {form} saying {needles:?}: {}",
                        case.name,
                        text(&out)
                    ));
                }
            }
        }
    }
    problems
}

/// The image ID (config digest) `docker load` left under `tag`, if any.
fn docker_loads(file: &Path, tag: &str) -> Option<String> {
    let _ = docker().args(["rmi", "-f", tag]).output();
    let loaded = docker().arg("load").arg("-i").arg(file).output().unwrap();
    if !loaded.status.success() {
        eprintln!(
            "docker load {}: {}",
            file.display(),
            String::from_utf8_lossy(&loaded.stderr).trim()
        );
        return None;
    }
    let id = docker()
        .args(["image", "inspect", "-f", "{{.Id}}", tag])
        .output()
        .unwrap();
    id.status
        .success()
        .then(|| String::from_utf8_lossy(&id.stdout).trim().to_owned())
}

/// The config digest of the image `ctr import` left under `name`, if any.
fn containerd_imports(
    ctd: &Containerd,
    namespace: &str,
    file: &Path,
    name: &str,
) -> Option<String> {
    let imported = ctd
        .ctr(namespace)
        .args(["images", "import", "--no-unpack"])
        .arg(file)
        .output()
        .unwrap();
    if !imported.status.success() {
        eprintln!(
            "ctr import {}: {}",
            file.display(),
            String::from_utf8_lossy(&imported.stderr).trim()
        );
        return None;
    }
    let listed = run(ctd.ctr(namespace).args(["images", "ls"])).unwrap();
    let digest = listed
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))?
        .split_whitespace()
        .nth(2)?
        .to_owned();
    let manifest = run(ctd.ctr(namespace).args(["content", "get", &digest])).unwrap();
    let manifest: Value = serde_json::from_str(&manifest).unwrap();
    manifest["config"]["digest"].as_str().map(str::to_owned)
}

#[test]
fn ocidiff_reads_archives_as_the_runtimes_load_them() {
    let work = tempfile::tempdir().unwrap();
    let store = work.path().join("store");
    let (a, b) = (spec("A").build(), spec("B").build());
    let by_config = |id: &str| {
        if id == a.config.digest {
            'A'
        } else if id == b.config.digest {
            'B'
        } else {
            '?'
        }
    };
    let mut alone = Vec::new();
    for (which, image) in [('A', spec("A")), ('B', spec("B"))] {
        let path = work.path().join(format!("{which}.tar"));
        write_docker_archive(
            &path,
            &[(vec!["alone:1"], image)],
            DockerArchiveForm::Classic,
        )
        .unwrap();
        alone.push((which, path));
    }
    let cases = cases(&a, &b);
    let mut problems = Vec::new();
    for case in &cases {
        let file = work.path().join(format!("{}.tar", case.name));
        std::fs::write(&file, &case.bytes).unwrap();
        problems.extend(check_ocidiff(case, &file, &alone, &store));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    let docker_up = tool_works(docker().arg("info"));
    if !docker_up {
        let why = format!(
            "needs a docker daemon (DOCKER_HOST={:?}; scripts/services.sh start)",
            std::env::var("DOCKER_HOST").unwrap_or_default()
        );
        skip(&format!("the runtime half {why}"));
        return;
    }
    let Some(ctd) = Containerd::start() else {
        return;
    };
    for case in &cases {
        let file = work.path().join(format!("{}.tar", case.name));
        let tag = format!("{REPO}/{}:1", case.name);
        let containerd_name = format!("docker.io/{tag}");
        let by_docker =
            docker_loads(&file, &tag).map_or(Runtime::Nothing, |id| Runtime::Runs(by_config(&id)));
        let by_containerd = containerd_imports(&ctd, case.name, &file, &containerd_name)
            .map_or(Runtime::Nothing, |id| Runtime::Runs(by_config(&id)));
        if (by_docker, by_containerd) != (case.docker, case.containerd) {
            problems.push(format!(
                "{}: expected docker {:?} and containerd {:?}, saw {by_docker:?} and \
                 {by_containerd:?}",
                case.name, case.docker, case.containerd
            ));
        }
        let remove = || docker().args(["rmi", "-f", &tag]).output();
        let Expect::Reads(which) = case.expect else {
            let _ = remove();
            continue;
        };
        let source = archive_ref(&file, case.reference.as_deref());
        let against = [
            ("docker", format!("docker://{tag}"), by_docker),
            (
                "containerd",
                format!("containerd://{}//{containerd_name}", case.name),
                by_containerd,
            ),
        ];
        for (runtime, loaded, by_runtime) in against {
            if by_runtime != Runtime::Runs(which) {
                continue;
            }
            let out = BinCommand::cargo_bin("ocidiff")
                .unwrap()
                .env("OCIDIFF_STORE", &store)
                .env("CONTAINERD_ADDRESS", &ctd.socket)
                .args(["diff", "--semantic", &source, &loaded])
                .output()
                .unwrap();
            if out.status.code() != Some(0) {
                problems.push(format!(
                    "{}: ocidiff's reading differs from what {runtime} loaded: {}",
                    case.name,
                    text(&out)
                ));
            }
        }
        let _ = remove();
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// `oci:DIR:REF` (here an OCI archive) where two entries carry REF: skopeo reads the first,
/// `ctr import` leaves the name on the last; ocidiff says the name is ambiguous and lists both.
#[test]
fn a_ref_name_on_two_images_is_ambiguous_as_the_runtimes_disagree() {
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("twice.tar");
    let (bytes, roots) = oci_archive_bytes(&[("v1", spec("A").into()), ("v1", spec("B").into())]);
    std::fs::write(&file, bytes).unwrap();
    let out = ocidiff(
        &work.path().join("store"),
        &[
            "diff",
            &format!("oci-archive:{}:v1", file.display()),
            &format!("oci-archive:{}:{}", file.display(), roots[1]),
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        stderr.contains("\"v1\" is on several images")
            && stderr.contains(&roots[0])
            && stderr.contains(&roots[1]),
        "{stderr}"
    );

    if !have("skopeo") {
        skip("skopeo is not installed");
        return;
    }
    let raw = Command::new("skopeo")
        .args(["inspect", "--raw"])
        .arg(format!("oci-archive:{}:v1", file.display()))
        .output()
        .unwrap();
    assert!(
        raw.status.success(),
        "skopeo: {}",
        String::from_utf8_lossy(&raw.stderr)
    );
    assert_eq!(
        sha256_digest(&raw.stdout),
        roots[0],
        "skopeo reads the first"
    );
    let Some(ctd) = Containerd::start() else {
        return;
    };
    ctd.import("twice", &file, &["--base-name", "twice"]);
    let listed = run(ctd.ctr("twice").args(["images", "ls"])).unwrap();
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("twice:v1 ") && l.contains(&roots[1])),
        "ctr import leaves the name on the last: {listed}"
    );
}
