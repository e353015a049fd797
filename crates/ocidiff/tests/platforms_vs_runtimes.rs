//! Which image of a multi-platform image ocidiff compares, checked against the runtimes: each
//! crafted index (variants, fallbacks, nested indexes, entries without a platform,
//! attestations, duplicates) is imported into a containerd of the test's own and mounted with
//! `ctr images mount --platform P`, pushed to a real registry and pulled by the test suite's
//! dockerd with `docker pull --platform P`, and compared by ocidiff from an OCI archive and from
//! the registry with `--platform P`. containerd must run the very image ocidiff compares, or
//! both must refuse. Docker 20.10 (Debian's) predates part of containerd's rules (entries
//! without a platform, nested indexes): where it refuses an index containerd accepts, that is
//! allowed; running another image than ocidiff compared never is.
//!
//! Needs containerd, skopeo and the registry (`docker-registry`) and a docker daemon
//! (`DOCKER_HOST`, from `scripts/services.sh`); without them the test skips
//! (`ocidiff_testkit::skip`), a failure under `OCIDIFF_REQUIRE_SERVICES=1`.

mod common;

use std::collections::HashMap;
use std::io::Write as _;
use std::path::Path;
use std::process::Command;

use assert_cmd::Command as BinCommand;
use common::{Containerd, docker, skip, tool_works};
use ocidiff_testkit::registry::{TestRegistries, missing_tools};
use ocidiff_testkit::{
    Blob, BuiltIndex, Entry, EntryKind, ImageSpec, IndexEntry, IndexSpec, Layer, write_oci_archive,
};

/// An image whose one file, `arch`, says which it is.
fn tagged(platform: &str, tag: &str) -> ImageSpec {
    ImageSpec::new()
        .platform(platform)
        .layer(Layer::new(vec![Entry::file("arch", tag)]))
}

/// A crafted index, the platforms to ask for, and what Docker before 23 does differently.
struct Case {
    name: &'static str,
    index: IndexSpec,
    wanted: &'static [&'static str],
    /// Whether Docker 20.10 follows indexes of this shape at all (nested indexes and entries
    /// without a platform came with Docker 23's use of containerd's rules).
    docker_knows: bool,
    /// Where Docker 20.10's own matcher chooses otherwise: it takes exact matches only (no
    /// `amd64`→`386`, `arm64`→`arm` fallbacks, so it refuses), except that an `arm` request
    /// with no exact variant takes the first `arm` entry in the index (`Some(tag)`).
    docker_20_10: &'static [(&'static str, Option<&'static str>)],
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "variant-first",
            index: IndexSpec::new()
                .manifest(tagged("linux/amd64/v3", "X"))
                .manifest(tagged("linux/amd64", "Y")),
            wanted: &["linux/amd64", "linux/amd64/v3", "linux/386"],
            docker_knows: true,
            docker_20_10: &[],
        },
        Case {
            name: "fallbacks",
            index: IndexSpec::new()
                .manifest(tagged("linux/386", "I"))
                .manifest(tagged("linux/arm/v5", "A5"))
                .manifest(tagged("linux/arm/v6", "A6"))
                .manifest(tagged("linux/arm/v6", "A6bis")),
            wanted: &[
                "linux/amd64",
                "linux/arm64",
                "linux/arm/v7",
                "linux/arm/v5",
                "linux/s390x",
            ],
            docker_knows: true,
            docker_20_10: &[
                ("linux/amd64", None),
                ("linux/arm64", None),
                ("linux/arm/v7", Some("A5")),
            ],
        },
        Case {
            name: "attestation",
            index: IndexSpec::new()
                .manifest(tagged("unknown/unknown", "att"))
                .manifest(tagged("linux/amd64", "Y")),
            wanted: &["linux/amd64", "linux/arm64"],
            docker_knows: true,
            docker_20_10: &[],
        },
        Case {
            name: "nested-without-platform-first",
            index: IndexSpec::new()
                .nested(IndexSpec::new().manifest(tagged("linux/amd64", "N")), None)
                .manifest(tagged("linux/amd64", "Y"))
                .nested(
                    IndexSpec::new().manifest(tagged("linux/arm64", "NA")),
                    Some("linux/arm64"),
                ),
            wanted: &["linux/amd64", "linux/arm64", "linux/riscv64"],
            docker_knows: false,
            docker_20_10: &[],
        },
        Case {
            name: "without-platform",
            index: IndexSpec::new()
                .manifest(tagged("linux/s390x", "S"))
                .manifest_without_platform(tagged("linux/arm64", "B"))
                .manifest_without_platform(tagged("linux/amd64", "C")),
            wanted: &["linux/arm64", "linux/amd64", "linux/s390x"],
            docker_knows: false,
            docker_20_10: &[],
        },
    ]
}

/// The `arch` tag of every image in `index`, by manifest digest and by config digest.
fn tags(index: &IndexSpec) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for entry in &index.entries {
        let spec = match entry {
            IndexEntry::Image(spec) | IndexEntry::Bare(spec) => spec,
            IndexEntry::Nested(nested, _) => {
                out.extend(tags(nested));
                continue;
            }
        };
        let EntryKind::File(tag) = &spec.layers[0].entries[0].kind else {
            unreachable!("every image holds the file `arch`")
        };
        let tag = String::from_utf8(tag.clone()).unwrap();
        let built = spec.build();
        out.insert(built.manifest.digest, tag.clone());
        out.insert(built.config.digest, tag);
    }
    out
}

/// What a runtime (or ocidiff) did for one platform: ran the image with this tag, or refused.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Runs(String),
    Refuses(String),
}

fn containerd_runs(ctd: &Containerd, namespace: &str, image: &str, platform: &str) -> Outcome {
    // One mount point per platform: `ctr images mount` names its snapshot after the mount
    // point, and a second mount at the same place would show the first snapshot again.
    let mnt = ctd.path(&format!("mnt-{namespace}-{}", platform.replace('/', "-")));
    std::fs::create_dir_all(&mnt).unwrap();
    let out = ctd
        .ctr(namespace)
        .args([
            "images",
            "mount",
            "--snapshotter",
            "native",
            "--platform",
            platform,
        ])
        .arg(image)
        .arg(&mnt)
        .output()
        .unwrap();
    if !out.status.success() {
        return Outcome::Refuses(String::from_utf8_lossy(&out.stderr).trim().to_owned());
    }
    let tag = std::fs::read_to_string(mnt.join("arch")).unwrap();
    let unmount = ctd
        .ctr(namespace)
        .args(["images", "unmount", "--rm"])
        .arg(&mnt)
        .output()
        .unwrap();
    assert!(unmount.status.success(), "ctr images unmount failed");
    Outcome::Runs(tag)
}

fn docker_runs(reference: &str, platform: &str, tags: &HashMap<String, String>) -> Outcome {
    let out = docker()
        .args(["pull", "-q", "--platform", platform, reference])
        .output()
        .unwrap();
    if !out.status.success() {
        return Outcome::Refuses(String::from_utf8_lossy(&out.stderr).trim().to_owned());
    }
    let id = docker()
        .args(["image", "inspect", "-f", "{{.Id}}", reference])
        .output()
        .unwrap();
    let id = String::from_utf8_lossy(&id.stdout).trim().to_owned();
    let _ = docker().args(["rmi", "-f", reference]).output();
    Outcome::Runs(
        tags.get(&id)
            .cloned()
            .unwrap_or_else(|| format!("unknown {id}")),
    )
}

/// The image ocidiff compares for `platform`, named by `tag_of` from its manifest digest.
fn ocidiff_compares(
    reference: &str,
    platform: &str,
    store: &Path,
    tag_of: impl Fn(&str) -> String,
) -> Outcome {
    let report = store.with_extension("report.json");
    let out = BinCommand::cargo_bin("ocidiff")
        .unwrap()
        .env("OCIDIFF_STORE", store)
        .env("DOCKER_CONFIG", store.join("no-docker-config"))
        .args([
            "diff",
            "--platform",
            platform,
            reference,
            reference,
            "--report-file",
        ])
        .arg(&report)
        .output()
        .unwrap();
    match out.status.code() {
        Some(0) => {}
        Some(2) => {
            return Outcome::Refuses(String::from_utf8_lossy(&out.stderr).trim().to_owned());
        }
        other => panic!(
            "ocidiff on {reference} exited with {other:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    Outcome::Runs(tag_of(
        report["comparisons"][0]["digests"][0].as_str().unwrap(),
    ))
}

/// Pushes `index` to `reg/name:latest` as it is, blob by blob (skopeo would recompress the
/// layers, and refuses nested indexes).
fn push_raw(reg: &str, name: &str, index: &BuiltIndex, tag: &str) {
    let put = |method: &str, url: String, body: &[u8], media_type: Option<&str>| {
        let mut cmd = Command::new("curl");
        cmd.args(["-sf", "-X", method, "--data-binary", "@-", &url]);
        if let Some(mt) = media_type {
            cmd.args(["-H", &format!("Content-Type: {mt}")]);
        }
        let mut child = cmd
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(body).unwrap();
        assert!(
            child.wait().unwrap().success(),
            "curl {method} {url} failed"
        );
    };
    // An upload is started with POST, and given its bytes with one PUT to where it points.
    let blob = |b: &Blob| {
        let started = Command::new("curl")
            .args([
                "-sf",
                "-X",
                "POST",
                "-o",
                "/dev/null",
                "-w",
                "%header{location}",
            ])
            .arg(format!("http://{reg}/v2/{name}/blobs/uploads/"))
            .output()
            .unwrap();
        let mut location = String::from_utf8(started.stdout).unwrap();
        if location.starts_with('/') {
            location = format!("http://{reg}{location}");
        }
        assert!(!location.is_empty(), "no upload started at {reg}");
        let sep = if location.contains('?') { '&' } else { '?' };
        put(
            "PUT",
            format!("{location}{sep}digest={}", b.digest),
            &b.bytes,
            // Not curl's default form type: the registry would read the bytes as a form.
            Some("application/octet-stream"),
        );
    };
    let manifest = |b: &Blob, reference: &str| {
        put(
            "PUT",
            format!("http://{reg}/v2/{name}/manifests/{reference}"),
            &b.bytes,
            Some(&b.media_type),
        );
    };
    for nested in &index.nested {
        push_raw(reg, name, nested, &nested.index.digest);
    }
    for image in &index.images {
        blob(&image.config);
        image.layers.iter().for_each(blob);
        manifest(&image.manifest, &image.manifest.digest);
    }
    manifest(&index.index, tag);
}

#[test]
fn ocidiff_compares_the_image_runtimes_run() {
    let missing = missing_tools();
    let docker_up = tool_works(docker().arg("info"));
    if !missing.is_empty() || !docker_up {
        let why = format!(
            "needs {missing:?} and a docker daemon (DOCKER_HOST={:?}; scripts/services.sh start)",
            std::env::var("DOCKER_HOST").unwrap_or_default()
        );
        skip(&why);
        return;
    }
    let Some(ctd) = Containerd::start() else {
        return;
    };
    let regs = TestRegistries::start().unwrap();
    let reg = regs.anon().to_owned();
    let server = docker()
        .args(["version", "-f", "{{.Server.Version}}"])
        .output()
        .unwrap();
    let major: u32 = String::from_utf8_lossy(&server.stdout)
        .split('.')
        .next()
        .and_then(|m| m.trim().parse().ok())
        .unwrap_or(0);
    let legacy_docker = major < 23;
    let mut disagreements = Vec::new();
    for case in cases() {
        let tags = tags(&case.index);
        let archive = ctd.path(&format!("{}.tar", case.name));
        write_oci_archive(&archive, &[("latest", case.index.clone().into())]).unwrap();
        ctd.import(
            case.name,
            &archive,
            &["--all-platforms", "--base-name", case.name],
        );
        let remote = format!("{reg}/{}:latest", case.name);
        push_raw(&reg, case.name, &case.index.build(), "latest");
        for platform in case.wanted {
            let from_archive = ocidiff_compares(
                &format!("oci-archive:{}", archive.display()),
                platform,
                &ctd.path("store"),
                |d| {
                    tags.get(d)
                        .cloned()
                        .unwrap_or_else(|| format!("unknown {d}"))
                },
            );
            let ctr = containerd_runs(&ctd, case.name, &format!("{}:latest", case.name), platform);
            let same = |a: &Outcome, b: &Outcome| match (a, b) {
                (Outcome::Runs(x), Outcome::Runs(y)) => x == y,
                (Outcome::Refuses(_), Outcome::Refuses(_)) => true,
                _ => false,
            };
            if !same(&from_archive, &ctr) {
                disagreements.push(format!(
                    "{} for {platform}: ocidiff {from_archive:?}, containerd {ctr:?}",
                    case.name
                ));
            }
            let from_registry = ocidiff_compares(&remote, platform, &ctd.path("store"), |d| {
                tags.get(d)
                    .cloned()
                    .unwrap_or_else(|| format!("unknown {d}"))
            });
            if !same(&from_registry, &from_archive) {
                disagreements.push(format!(
                    "{} for {platform}: ocidiff from the registry {from_registry:?}, from the \
                     archive {from_archive:?}",
                    case.name
                ));
            }
            let by_docker = docker_runs(&remote, platform, &tags);
            let legacy = case
                .docker_20_10
                .iter()
                .find(|(p, _)| p == platform)
                .filter(|_| legacy_docker);
            let allowed = match legacy {
                Some((_, Some(tag))) => by_docker == Outcome::Runs((*tag).to_owned()),
                Some((_, None)) => matches!(by_docker, Outcome::Refuses(_)),
                None => {
                    same(&by_docker, &from_registry)
                        || (legacy_docker
                            && !case.docker_knows
                            && matches!(by_docker, Outcome::Refuses(_)))
                }
            };
            if !allowed {
                disagreements.push(format!(
                    "{} for {platform}: ocidiff {from_registry:?}, docker {by_docker:?}",
                    case.name
                ));
            }
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}
