//! The engine on images generated in code: each ignore rule's effect, platforms, layering and
//! verification.

use std::fmt::Write as _;
use std::path::Path;

use ocidiff_testkit::{
    Compression, Entry, ImageSpec, IndexSpec, Layer, MediaStyle, Root, TarFormat, write_oci_dir,
};
use serde_json::json;

use super::*;
use crate::finding::{self, Class};
use crate::model::{Digest, Document, media};
use crate::normalize::PathFilter;
use crate::reference::ImageRef;
use crate::source;

fn open(dir: &Path, name: &str, root: impl Into<Root>) -> Image {
    let path = dir.join(name);
    write_oci_dir(&path, &[("", root.into())]).unwrap();
    source::open(
        &ImageRef::OciDir {
            path,
            reference: None,
        },
        &Default::default(),
    )
    .unwrap()
}

fn run(
    l: impl Into<Root>,
    r: impl Into<Root>,
    opts: &CompareOptions,
) -> Result<Findings, CompareError> {
    let dir = tempfile::tempdir().unwrap();
    let (l, r) = (open(dir.path(), "l", l), open(dir.path(), "r", r));
    compare(&l, &r, opts).map(|o| o.report)
}

fn with(rules: Rules) -> CompareOptions {
    CompareOptions {
        rules,
        ..CompareOptions::default()
    }
}

fn strict() -> CompareOptions {
    CompareOptions::default()
}

fn one(entries: Vec<Entry>) -> ImageSpec {
    ImageSpec::new().layer(Layer::new(entries))
}

/// `(kind, name, counted fields)` of each counted finding, for compact assertions.
fn rows(report: &Findings) -> Vec<(Kind, String, Vec<String>)> {
    report
        .findings
        .iter()
        .filter(|f| f.counted)
        .map(|f| {
            (
                f.kind,
                f.name.clone(),
                f.fields
                    .iter()
                    .filter(|d| d.counted)
                    .map(|d| d.field.clone())
                    .collect(),
            )
        })
        .collect()
}

fn file_rows(report: &Findings) -> Vec<(String, Vec<String>)> {
    rows(report)
        .into_iter()
        .filter(|(k, ..)| *k == Kind::File)
        .map(|(_, n, f)| (n, f))
        .collect()
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn identical_images_have_no_findings() {
    let img = one(vec![Entry::dir("etc/"), Entry::file("etc/a", "x")]);
    let report = run(img.clone(), img, &strict()).unwrap();
    assert!(report.findings.is_empty(), "{:?}", rows(&report));
    assert_eq!(report.summary.differences, 0);
}

#[test]
fn content_difference_names_fields_and_location() {
    let report = run(
        one(vec![Entry::file("etc/a", "x")]),
        one(vec![Entry::file("etc/a", "yy"), Entry::file("etc/new", "")]),
        &with(Rules::semantic()),
    )
    .unwrap();
    assert_eq!(
        file_rows(&report),
        vec![
            ("etc/a".into(), s(&["size", "digest"])),
            ("etc/new".into(), s(&["entry"]))
        ]
    );
    let f = report
        .findings
        .iter()
        .find(|f| f.kind == Kind::File)
        .unwrap();
    assert_eq!(f.location, "manifests-0/layers-0");
}

#[test]
fn file_timestamps_only_differ_strictly() {
    let (l, r) = (
        one(vec![Entry::file("a", "x").mtime(1)]),
        one(vec![Entry::file("a", "x").mtime(2)]),
    );
    let strict_report = run(l.clone(), r.clone(), &strict()).unwrap();
    assert_eq!(file_rows(&strict_report), vec![("a".into(), s(&["mtime"]))]);
    let rules = Rules {
        ignore_file_timestamps: true,
        ..Rules::default()
    };
    assert!(file_rows(&run(l, r, &with(rules)).unwrap()).is_empty());
}

#[test]
fn file_order() {
    let (l, r) = (
        one(vec![Entry::file("a", "1"), Entry::file("b", "2")]),
        one(vec![Entry::file("b", "2"), Entry::file("a", "1")]),
    );
    let report = run(l.clone(), r.clone(), &strict()).unwrap();
    assert_eq!(
        file_rows(&report),
        vec![
            ("a".into(), s(&["position"])),
            ("b".into(), s(&["position"]))
        ]
    );
    let rules = Rules {
        ignore_file_order: true,
        ..Rules::default()
    };
    assert!(file_rows(&run(l, r, &with(rules)).unwrap()).is_empty());
}

#[test]
fn redundant_mode_bits() {
    let (l, r) = (
        one(vec![Entry::file("a", "1").mode(0o100_644)]),
        one(vec![Entry::file("a", "1").mode(0o644)]),
    );
    let report = run(l.clone(), r.clone(), &strict()).unwrap();
    assert_eq!(file_rows(&report), vec![("a".into(), s(&["mode"]))]);
    let rules = Rules {
        ignore_file_mode_redundant_bits: true,
        ..Rules::default()
    };
    assert!(file_rows(&run(l, r, &with(rules)).unwrap()).is_empty());
    // Permission bits always count.
    let report = run(
        one(vec![Entry::file("a", "1").mode(0o644)]),
        one(vec![Entry::file("a", "1").mode(0o755)]),
        &with(Rules::semantic()),
    )
    .unwrap();
    assert_eq!(file_rows(&report), vec![("a".into(), s(&["mode"]))]);
}

#[test]
fn tar_format() {
    let entries = vec![Entry::file("a", "1")];
    let l = ImageSpec::new().layer(Layer::new(entries.clone()).format(TarFormat::Ustar));
    let r = ImageSpec::new().layer(Layer::new(entries).format(TarFormat::Gnu));
    let report = run(l.clone(), r.clone(), &strict()).unwrap();
    assert_eq!(file_rows(&report), vec![("a".into(), s(&["format"]))]);
    let rules = Rules {
        ignore_tar_format: true,
        ..Rules::default()
    };
    assert!(file_rows(&run(l, r, &with(rules)).unwrap()).is_empty());
}

#[test]
fn canonical_paths() {
    let (l, r) = (
        one(vec![Entry::file("./etc/a", "1")]),
        one(vec![Entry::file("etc/a", "1")]),
    );
    let report = run(l.clone(), r.clone(), &strict()).unwrap();
    assert_eq!(
        file_rows(&report),
        vec![
            ("./etc/a".into(), s(&["entry"])),
            ("etc/a".into(), s(&["entry"]))
        ]
    );
    let rules = Rules {
        treat_canonical_paths_equal: true,
        ..Rules::default()
    };
    assert!(file_rows(&run(l, r, &with(rules)).unwrap()).is_empty());
}

#[test]
fn ownership_xattrs_and_pax_records_always_count() {
    let report = run(
        one(vec![Entry::file("a", "1").uid(0).xattr("user.k", "v")]),
        one(vec![
            Entry::file("a", "1")
                .uid(1000)
                .xattr("user.k", "w")
                .pax("LIBARCHIVE.creationtime", "1"),
        ]),
        &with(Rules::semantic()),
    )
    .unwrap();
    assert_eq!(
        file_rows(&report),
        vec![(
            "a".into(),
            s(&["uid", "xattr:user.k", "pax:LIBARCHIVE.creationtime"])
        )]
    );
}

#[test]
fn image_timestamps_and_history() {
    let base = one(vec![Entry::file("a", "1")]);
    let later = base
        .clone()
        .config_field("created", json!("2030-01-01T00:00:00Z"))
        .config_field(
            "history",
            json!([{"created": "2030-01-01T00:00:00Z", "created_by": "other"}]),
        );
    let report = run(base.clone(), later.clone(), &strict()).unwrap();
    let cfg: Vec<String> = rows(&report)
        .into_iter()
        .filter(|r| r.0 == Kind::Config)
        .map(|r| r.1)
        .collect();
    assert_eq!(
        cfg,
        s(&[".created", ".history[0].created", ".history[0].created_by"])
    );

    let ts = Rules {
        ignore_image_timestamps: true,
        ..Rules::default()
    };
    let report = run(base.clone(), later.clone(), &with(ts)).unwrap();
    let cfg: Vec<String> = rows(&report)
        .into_iter()
        .filter(|r| r.0 == Kind::Config)
        .map(|r| r.1)
        .collect();
    assert_eq!(cfg, s(&[".history[0].created_by"]));

    let both = Rules {
        ignore_image_timestamps: true,
        ignore_history: true,
        ..Rules::default()
    };
    assert!(rows(&run(base, later, &with(both)).unwrap()).is_empty());
}

#[test]
fn image_name_annotations() {
    let l = one(vec![Entry::file("a", "1")]).annotation("org.opencontainers.image.ref.name", "a");
    let r = one(vec![Entry::file("a", "1")]).annotation("org.opencontainers.image.ref.name", "b");
    let report = run(l.clone(), r.clone(), &strict()).unwrap();
    assert!(rows(&report).iter().any(|(k, n, _)| *k == Kind::Manifest
        && n == ".annotations[\"org.opencontainers.image.ref.name\"]"));
    let rules = Rules {
        ignore_image_name: true,
        ..Rules::default()
    };
    assert!(rows(&run(l, r, &with(rules)).unwrap()).is_empty());
}

#[test]
fn docker_and_oci_storage_agree_under_semantic() {
    let entries = vec![Entry::dir("etc/"), Entry::file("etc/a", "hello")];
    let l = ImageSpec::new()
        .layer(Layer::new(entries.clone()).compression(Compression::Gzip))
        .media(MediaStyle::Docker);
    let r = ImageSpec::new()
        .layer(Layer::new(entries).compression(Compression::Zstd))
        .media(MediaStyle::Oci);
    let report = run(l.clone(), r.clone(), &strict()).unwrap();
    assert!(
        rows(&report)
            .iter()
            .any(|(k, _, f)| *k == Kind::Descriptor && f.contains(&"mediaType".to_owned())),
        "{:?}",
        rows(&report)
    );
    assert!(file_rows(&report).is_empty());
    // One class whatever the options: strict counts it, and says --semantic would not.
    let classes: Vec<&Class> = report.verdict.counted_by_class.keys().collect();
    assert_eq!(classes, [&Class::StorageFormat], "{classes:?}");
    assert!(report.verdict.equivalent_under_semantic);
    assert!(
        report
            .verdict
            .line()
            .ends_with("equivalent under --semantic")
    );
    let report = run(l, r, &with(Rules::semantic())).unwrap();
    assert!(rows(&report).is_empty(), "{:?}", rows(&report));
    assert_eq!(report.verdict.outcome, finding::Outcome::Equivalent);
    assert!(!report.verdict.equivalent_under_semantic);
    assert!(
        report
            .verdict
            .set_aside_by_class
            .contains_key(&Class::StorageFormat)
    );
}

/// A Docker manifest cannot carry annotations: `docker save` of a buildah image loses its
/// `org.opencontainers.image.base.*`; against a Docker manifest that is the storage format.
#[test]
fn annotations_a_docker_manifest_cannot_carry_are_storage_format() {
    let entries = vec![Entry::file("a", "1")];
    let oci = ImageSpec::new()
        .layer(Layer::new(entries.clone()))
        .annotation(
            "org.opencontainers.image.source",
            "https://example.org/src.git",
        );
    let docker = ImageSpec::new()
        .layer(Layer::new(entries))
        .media(MediaStyle::Docker);
    let report = run(oci.clone(), docker.clone(), &with(Rules::semantic())).unwrap();
    assert_eq!(
        report.verdict.outcome,
        finding::Outcome::Equivalent,
        "{:?}",
        rows(&report)
    );
    let base = |r: &Findings| {
        r.findings
            .iter()
            .find(|f| f.kind == Kind::Manifest && f.name.starts_with(".annotations"))
            .map(|f| (f.class, f.counted))
    };
    assert_eq!(base(&report), Some((Class::StorageFormat, false)));
    let report = run(oci.clone(), docker, &strict()).unwrap();
    assert_eq!(base(&report), Some((Class::StorageFormat, true)));
    // Between two OCI manifests an annotation still counts under --semantic.
    let other = ImageSpec::new().layer(Layer::new(vec![Entry::file("a", "1")]));
    let report = run(oci, other.clone(), &with(Rules::semantic())).unwrap();
    assert_eq!(base(&report), Some((Class::Annotation, true)));
    // The base image a builder names is its own record, whatever the storage format.
    let built = ImageSpec::new()
        .layer(Layer::new(vec![Entry::file("a", "1")]))
        .annotation(
            "org.opencontainers.image.base.name",
            "docker.io/library/debian:12",
        );
    let report = run(built.clone(), other.clone(), &with(Rules::semantic())).unwrap();
    assert_eq!(base(&report), Some((Class::BuilderMetadata, false)));
    let report = run(built, other, &strict()).unwrap();
    assert_eq!(base(&report), Some((Class::BuilderMetadata, true)));
}

#[test]
fn different_layering_of_the_same_filesystem() {
    let l = ImageSpec::new()
        .layer(Layer::new(vec![
            Entry::dir("etc/"),
            Entry::file("etc/a", "1"),
        ]))
        .layer(Layer::new(vec![
            Entry::file("etc/b", "2"),
            Entry::whiteout("etc/gone"),
        ]));
    let r = ImageSpec::new().layer(Layer::new(vec![
        Entry::dir("etc/"),
        Entry::file("etc/a", "1"),
        Entry::file("etc/b", "2"),
    ]));
    let report = run(l, r, &with(Rules::semantic())).unwrap();
    assert_eq!(
        rows(&report),
        vec![(Kind::Manifest, ".layers".into(), s(&["count"]))]
    );
}

#[test]
fn layers_without_entries_change_nothing() {
    let base = || Layer::new(vec![Entry::dir("etc/"), Entry::file("etc/a", "1")]);
    let app = |content: &str| Layer::new(vec![Entry::dir("app/"), Entry::file("app/x", content)]);
    let classic = ImageSpec::new().layer(base()).layer(app("1"));
    // BuildKit's layer for a WORKDIR that exists: a tar with no entries.
    let buildkit = |content: &str| {
        ImageSpec::new()
            .layer(base())
            .layer(Layer::new(vec![]))
            .layer(app(content))
    };
    let report = run(classic.clone(), buildkit("1"), &with(Rules::semantic())).unwrap();
    assert!(rows(&report).is_empty(), "{:?}", rows(&report));
    let count = report
        .findings
        .iter()
        .find(|f| f.name == ".layers")
        .unwrap();
    assert_eq!((count.class, count.counted), (Class::Layering, false));
    assert!(
        count
            .detail
            .as_ref()
            .and_then(|d| d.note.as_ref())
            .is_some()
    );
    // Strictly it counts; what the layers hold still counts under --semantic.
    let report = run(classic.clone(), buildkit("1"), &strict()).unwrap();
    assert!(rows(&report).iter().any(|(_, name, _)| name == ".layers"));
    let report = run(classic.clone(), buildkit("2"), &with(Rules::semantic())).unwrap();
    assert_eq!(file_rows(&report), [("app/x".into(), s(&["digest"]))]);
    // An extra layer that holds something is another split of the files.
    let split = ImageSpec::new()
        .layer(base())
        .layer(Layer::new(vec![Entry::dir("app/")]))
        .layer(Layer::new(vec![Entry::file("app/x", "1")]));
    let report = run(classic, split, &with(Rules::semantic())).unwrap();
    assert_eq!(
        rows(&report),
        [(Kind::Manifest, ".layers".to_owned(), s(&["count"]))]
    );
}

#[test]
fn squashed_comparison_applies_whiteouts() {
    let l = ImageSpec::new()
        .layer(Layer::new(vec![
            Entry::file("a", "1"),
            Entry::file("b", "1"),
        ]))
        .layer(Layer::new(vec![Entry::whiteout("a")]));
    let r = one(vec![Entry::file("a", "1"), Entry::file("b", "1")]);
    let report = run(l, r, &with(Rules::semantic())).unwrap();
    assert_eq!(file_rows(&report), vec![("a".into(), s(&["entry"]))]);
    let a = report.findings.iter().find(|f| f.name == "a").unwrap();
    assert_eq!(a.location, "manifests-0/rootfs");
}

fn multi(platforms: &[&str]) -> IndexSpec {
    platforms.iter().fold(IndexSpec::new(), |idx, p| {
        idx.manifest(one(vec![Entry::file("arch", *p)]).platform(p))
    })
}

#[test]
fn platform_selection() {
    let l = multi(&["linux/amd64", "linux/arm64"]);
    let r = multi(&["linux/amd64", "linux/arm64", "linux/s390x"]);
    let opts = CompareOptions {
        platforms: PlatformChoice::These(vec!["linux/arm64".parse().unwrap()]),
        ..with(Rules::semantic())
    };
    let report = run(l.clone(), r.clone(), &opts).unwrap();
    assert!(rows(&report).is_empty(), "{:?}", rows(&report));
    assert_eq!(
        report.comparisons[0].platform.as_ref().unwrap().to_string(),
        "linux/arm64"
    );

    let opts = CompareOptions {
        platforms: PlatformChoice::These(vec!["linux/s390x".parse().unwrap()]),
        ..with(Rules::semantic())
    };
    let err = run(l.clone(), r.clone(), &opts).unwrap_err();
    assert_eq!(err.side, Some(Side::Lhs));
    assert!(
        err.to_string().contains(
            "no image for platform linux/s390x; the image offers: linux/amd64, linux/arm64"
        ),
        "{err}"
    );

    let opts = CompareOptions {
        platforms: PlatformChoice::All,
        ..with(Rules::semantic())
    };
    let report = run(l, r, &opts).unwrap();
    assert_eq!(report.comparisons.len(), 2);
    assert_eq!(
        rows(&report),
        vec![(Kind::Index, ".manifests".into(), s(&["platforms"]))]
    );
    let platforms = report
        .findings
        .iter()
        .find(|f| f.kind == Kind::Index)
        .unwrap();
    assert_eq!(platforms.fields[0].rhs, Some(json!(["linux/s390x"])));
    assert_eq!(platforms.class, Class::Platform);
}

#[test]
fn a_platform_asked_for_must_be_the_single_images_own() {
    let image = || one(vec![Entry::file("a", "1")]).platform("linux/arm64");
    let asked = |p: &str| CompareOptions {
        platforms: PlatformChoice::These(vec![p.parse().unwrap()]),
        ..strict()
    };
    let err = run(image(), image(), &asked("linux/amd64")).unwrap_err();
    assert!(
        err.to_string()
            .contains("no image for platform linux/amd64; the image offers: linux/arm64"),
        "{err}"
    );
    assert!(
        run(image(), image(), &asked("linux/arm64"))
            .unwrap()
            .findings
            .is_empty()
    );
    // Nothing asked for: the image is read whatever it is for, as a runtime runs it.
    assert!(
        run(image(), image(), &strict())
            .unwrap()
            .findings
            .is_empty()
    );
}

/// The image an input would run for `wanted`, by the content of its `arch` file.
fn chosen(image: IndexSpec, wanted: &str) -> Result<String, CompareError> {
    let dir = tempfile::tempdir().unwrap();
    let l = open(dir.path(), "l", image.clone());
    let r = open(dir.path(), "r", image);
    let opts = CompareOptions {
        platforms: PlatformChoice::These(vec![wanted.parse().unwrap()]),
        ..with(Rules::semantic())
    };
    let compared = compare(&l, &r, &opts)?;
    let digest = compared.report.comparisons[0].digests[0]
        .clone()
        .expect("an index entry was chosen");
    Ok(names_of(&l, &digest))
}

/// The `arch` file of the image whose manifest is `digest`.
fn names_of(image: &Image, digest: &Digest) -> String {
    let mut bytes = Vec::new();
    image
        .blobs
        .open(digest)
        .unwrap()
        .read_to_end(&mut bytes)
        .unwrap();
    let Ok(Document::Manifest(m)) = Document::parse(&bytes, None) else {
        panic!("{digest} is no manifest");
    };
    let mut content = String::new();
    crate::layer::walk(
        &*image.blobs,
        &m.layers[0],
        0,
        None,
        &Limits::default(),
        crate::layer::FileDigests::BySize,
        |e, r| {
            if e.name.ends_with("arch") {
                r.read_to_string(&mut content)?;
            }
            Ok(())
        },
    )
    .unwrap();
    content
}

fn tagged(platform: &str, tag: &str) -> ImageSpec {
    one(vec![Entry::file("arch", tag)]).platform(platform)
}

#[test]
fn a_runtime_chooses_by_containerd_rules() {
    // A plain request is not a request for a higher variant: containerd runs Y.
    let v3_first = IndexSpec::new()
        .manifest(tagged("linux/amd64/v3", "X"))
        .manifest(tagged("linux/amd64", "Y"));
    assert_eq!(chosen(v3_first.clone(), "linux/amd64").unwrap(), "Y");
    assert_eq!(chosen(v3_first.clone(), "linux/amd64/v3").unwrap(), "X");
    assert_eq!(chosen(v3_first, "linux/amd64/v4").unwrap(), "X");

    // Entries without a platform come last, nested indexes included.
    let nested_first = IndexSpec::new()
        .nested(IndexSpec::new().manifest(tagged("linux/amd64", "N")), None)
        .manifest(tagged("linux/amd64", "Y"));
    assert_eq!(chosen(nested_first, "linux/amd64").unwrap(), "Y");
    let nested_for_arm = IndexSpec::new()
        .nested(
            IndexSpec::new().manifest(tagged("linux/arm64", "N")),
            Some("linux/arm64"),
        )
        .manifest(tagged("linux/amd64", "Y"));
    assert_eq!(chosen(nested_for_arm, "linux/arm64").unwrap(), "N");

    // A platform-less entry is run when nothing else fits and its config does.
    let bare = IndexSpec::new()
        .manifest(tagged("linux/s390x", "S"))
        .manifest_without_platform(tagged("linux/arm64", "B"));
    assert_eq!(chosen(bare.clone(), "linux/arm64/v8").unwrap(), "B");
    let err = chosen(bare, "linux/amd64").unwrap_err();
    assert!(
        err.to_string()
            .contains("names no platform and its config is for linux/arm64"),
        "{err}"
    );

    // Fallbacks a runtime allows, in its order; document order among equals.
    let fallbacks = IndexSpec::new()
        .manifest(tagged("linux/386", "I"))
        .manifest(tagged("linux/arm/v5", "A5"))
        .manifest(tagged("linux/arm/v6", "A6"))
        .manifest(tagged("linux/arm/v6", "A6bis"));
    assert_eq!(chosen(fallbacks.clone(), "linux/amd64").unwrap(), "I");
    assert_eq!(chosen(fallbacks.clone(), "linux/arm64").unwrap(), "A6");
    assert_eq!(chosen(fallbacks, "linux/arm/v5").unwrap(), "A5");
}

#[test]
fn all_platforms_pairs_exact_platforms_and_compares_platformless_images() {
    let l = IndexSpec::new()
        .manifest(tagged("linux/amd64/v3", "X"))
        .manifest(tagged("linux/arm64/v8", "A"))
        .manifest_without_platform(tagged("linux/riscv64", "R"));
    let r = IndexSpec::new()
        .manifest(tagged("linux/amd64", "X"))
        .manifest(tagged("linux/arm64", "A"))
        .manifest_without_platform(tagged("linux/riscv64", "R2"));
    let opts = CompareOptions {
        platforms: PlatformChoice::All,
        ..with(Rules::semantic())
    };
    let report = run(l, r, &opts).unwrap();
    let compared: Vec<String> = report
        .comparisons
        .iter()
        .map(|c| c.platform.as_ref().unwrap().to_string())
        .collect();
    assert_eq!(compared, ["linux/arm64/v8", "linux/riscv64"]);
    let platforms = report
        .findings
        .iter()
        .find(|f| f.kind == Kind::Index)
        .unwrap();
    assert_eq!(platforms.fields[0].lhs, Some(json!(["linux/amd64/v3"])));
    assert_eq!(platforms.fields[0].rhs, Some(json!(["linux/amd64"])));
    // The platform-less images were compared: their files differ.
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.location == "manifests-1/layers-0" && f.name.ends_with("arch")),
        "{:?}",
        rows(&report)
    );
}

#[test]
fn comparing_nothing_is_an_error() {
    let opts = CompareOptions {
        platforms: PlatformChoice::All,
        ..with(Rules::semantic())
    };
    let l = IndexSpec::new().manifest(tagged("linux/amd64", "X"));
    let r = IndexSpec::new().manifest(tagged("linux/arm64", "X"));
    let err = run(l, r, &opts).unwrap_err();
    assert_eq!(err.side, None);
    let msg = err.to_string();
    assert!(msg.starts_with("nothing to compare: input 0"), "{msg}");
    assert!(msg.contains("offers linux/amd64, input 1"), "{msg}");
    assert!(msg.contains("offers linux/arm64, and no platform"), "{msg}");

    // An index holding only attestations offers nothing either.
    let only_attestation = IndexSpec::new().manifest(tagged("unknown/unknown", "att"));
    let err = run(only_attestation.clone(), only_attestation, &opts).unwrap_err();
    assert!(err.to_string().contains("offers no image"), "{err}");
}

#[test]
fn same_digest_is_verified_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let img = one(vec![Entry::file("a", "1")]);
    let l = open(dir.path(), "l", img.clone());
    let r = open(dir.path(), "r", img);
    // Corrupt input 1's layer blob in place: same name, other bytes.
    let manifest: crate::model::Manifest = match Document::parse(
        &crate::content::read_json_blob(&*r.blobs, r.root.descriptor.as_ref().unwrap(), 1 << 20)
            .unwrap(),
        None,
    )
    .unwrap()
    {
        Document::Manifest(m) => *m,
        Document::Index(_) => unreachable!(),
    };
    let layer = &manifest.layers[0].digest;
    let blob = dir.path().join("r/blobs/sha256").join(layer.hex());
    let mut bytes = std::fs::read(&blob).unwrap();
    let last = bytes.len() - 1;
    bytes[last - 600] ^= 1;
    std::fs::write(&blob, bytes).unwrap();
    let l = source::open(&l.reference, &Default::default()).unwrap();
    let r = source::open(&r.reference, &Default::default()).unwrap();
    let err = compare(&l, &r, &strict()).err().unwrap();
    assert_eq!(err.side, Some(Side::Rhs));
    assert!(
        err.to_string().contains("does not match its digest"),
        "{err}"
    );
}

/// Counts the bytes read through it.
struct Counting {
    inner: Box<dyn crate::content::BlobSource>,
    read: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

struct CountingReader<'a> {
    inner: Box<dyn std::io::Read + Send + 'a>,
    read: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl std::io::Read for CountingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

impl crate::content::BlobSource for Counting {
    fn open(
        &self,
        digest: &Digest,
    ) -> Result<Box<dyn std::io::Read + Send + '_>, crate::content::ContentError> {
        Ok(Box::new(CountingReader {
            inner: self.inner.open(digest)?,
            read: self.read.clone(),
        }))
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}

/// The images tagged `v1` and `v2` in the layout at `path`, opened so that every byte read
/// of their blobs is counted in the number returned.
fn counted_tags(path: &Path) -> (std::sync::Arc<std::sync::atomic::AtomicU64>, [Image; 2]) {
    let read = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let images = ["v1", "v2"].map(|tag| {
        let image = source::open(
            &ImageRef::OciDir {
                path: path.to_owned(),
                reference: Some(tag.into()),
            },
            &Default::default(),
        )
        .unwrap();
        Image {
            blobs: Box::new(Counting {
                inner: image.blobs,
                read: read.clone(),
            }),
            ..image
        }
    });
    (read, images)
}

#[test]
fn a_blob_both_sides_take_from_one_source_is_not_read() {
    // (When a layer above depends on it, it is read once, not once per side: see
    // `layers_vs_docker` and `runtime_dependent_entries_always_count`.)
    let dir = tempfile::tempdir().unwrap();
    let base = Layer::new(vec![Entry::file("big", vec![7u8; 1 << 20])]);
    let v1 = ImageSpec::new()
        .layer(base.clone())
        .layer(Layer::new(vec![Entry::file("a", "1")]));
    let v2 = ImageSpec::new()
        .layer(base)
        .layer(Layer::new(vec![Entry::file("a", "2")]));
    let path = dir.path().join("layout");
    write_oci_dir(&path, &[("v1", v1.into()), ("v2", v2.into())]).unwrap();
    let (read, [l, r]) = counted_tags(&path);
    let report = compare(&l, &r, &strict()).unwrap().report;
    assert_eq!(
        rows(&report)
            .iter()
            .filter(|(k, _, _)| *k == Kind::File)
            .map(|(_, n, _)| n.as_str())
            .collect::<Vec<_>>(),
        ["a"]
    );
    // Configs, manifests and the second layers, not the shared 1 MiB layer: the second
    // layers name their parents and write nothing twice, so what they do does not depend on it.
    let read = read.load(std::sync::atomic::Ordering::Relaxed);
    assert!(read < 100_000, "{read} bytes read");
}

#[test]
fn a_shared_layer_known_plain_is_not_opened_again() {
    // Uncompressed layers both sides take from one source: the first run reads each one's
    // first bytes (how runtimes would decompress it), the next knows from the diff-ID cache
    // that the blob is its own diff ID, so uncompressed, and reads none of it.
    let dir = tempfile::tempdir().unwrap();
    let cache_dir = tempfile::tempdir().unwrap();
    let image = ImageSpec::new()
        .layer(Layer::new(vec![Entry::file("a", "1")]))
        .layer(Layer::new(vec![Entry::file("b", "2")]));
    let path = dir.path().join("layout");
    write_oci_dir(&path, &[("v1", image.clone().into()), ("v2", image.into())]).unwrap();
    let runs: Vec<(u64, Findings)> = (0..2)
        .map(|_| {
            let (read, [l, r]) = counted_tags(&path);
            let opts = CompareOptions {
                diff_ids: DiffIds::open(cache_dir.path()),
                ..strict()
            };
            let report = compare(&l, &r, &opts).unwrap().report;
            (read.load(std::sync::atomic::Ordering::Relaxed), report)
        })
        .collect();
    let ((cold, first), (warm, second)) = (&runs[0], &runs[1]);
    assert_eq!(first.verdict, second.verdict);
    assert_eq!(
        cold.checked_sub(*warm),
        Some(2 * crate::content::HEAD_BYTES as u64),
        "{cold} then {warm} bytes read"
    );
}

/// A layout at `path` holding one image per `(tag, layer media type)`, all of the same config
/// and gzip layer blob, only the layer's media type differing.
fn typed_layout(path: &Path, tags: &[(&str, &str)]) {
    use ocidiff_testkit::{Blob, write_index_json, write_layout_blobs};
    let layer = Layer::new(vec![Entry::file("a", "1")]);
    let blob = layer.clone().compression(Compression::Gzip).blob_bytes();
    let config = Blob::new(
        media::OCI_CONFIG,
        serde_json::to_vec(&json!({"os": "linux", "architecture": "amd64",
            "rootfs": {"type": "layers", "diff_ids": [layer.diff_id()]}}))
        .unwrap(),
    );
    let mut blobs = vec![
        config.clone(),
        Blob::new(media::OCI_LAYER_GZIP, blob.clone()),
    ];
    let mut descriptors = Vec::new();
    for (tag, media_type) in tags {
        let manifest = Blob::new(
            media::OCI_MANIFEST,
            serde_json::to_vec(
                &json!({"schemaVersion": 2, "mediaType": media::OCI_MANIFEST,
                "config": config.descriptor(),
                "layers": [Blob::new(media_type, blob.clone()).descriptor()]}),
            )
            .unwrap(),
        );
        let mut d = manifest.descriptor();
        d["annotations"] = json!({"org.opencontainers.image.ref.name": tag});
        descriptors.push(d);
        blobs.push(manifest);
    }
    write_layout_blobs(path, &blobs).unwrap();
    write_index_json(
        path,
        &serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": descriptors})).unwrap(),
    )
    .unwrap();
}

#[test]
fn a_shared_layer_is_checked_under_each_sides_media_type() {
    let dir = tempfile::tempdir().unwrap();
    let open_tag = |path: &Path, tag: &str| {
        source::open(
            &ImageRef::OciDir {
                path: path.to_owned(),
                reference: Some(tag.into()),
            },
            &Default::default(),
        )
        .unwrap()
    };
    // The same gzip bytes under `+gzip` (runtimes agree) and under the uncompressed OCI type
    // (Docker decompresses it, containerd does not): from one source or from two.
    let one = dir.path().join("one");
    typed_layout(
        &one,
        &[("gz", media::OCI_LAYER_GZIP), ("tar", media::OCI_LAYER)],
    );
    let other = dir.path().join("other");
    typed_layout(
        &other,
        &[("tar", media::OCI_LAYER), ("gz", media::OCI_LAYER_GZIP)],
    );
    for rhs in [open_tag(&one, "tar"), open_tag(&other, "tar")] {
        let err = compare(&open_tag(&one, "gz"), &rhs, &strict())
            .err()
            .unwrap();
        assert_eq!(err.side, Some(Side::Rhs), "{err}");
        assert!(
            err.to_string()
                .contains("containerd as an uncompressed tar"),
            "{err}"
        );
    }
    let report = compare(&open_tag(&one, "gz"), &open_tag(&other, "gz"), &strict()).unwrap();
    assert_eq!(
        report.report.findings.iter().filter(|f| f.counted).count(),
        0
    );
}

fn set_aside(report: &Findings) -> Vec<(String, Class)> {
    report
        .findings
        .iter()
        .filter(|f| !f.counted)
        .map(|f| (f.name.clone(), f.class))
        .collect()
}

#[test]
fn ignored_differences_are_kept_as_set_aside_with_their_class() {
    let (l, r) = (
        one(vec![Entry::file("a", "x").mtime(1)]),
        one(vec![Entry::file("a", "x").mtime(2)]),
    );
    let report = run(l, r, &with(Rules::semantic())).unwrap();
    assert!(rows(&report).is_empty());
    assert!(set_aside(&report).contains(&("a".into(), Class::Timestamp)));
    assert_eq!(report.verdict.outcome, finding::Outcome::Equivalent);
    assert_eq!(report.summary.differences, 0);
    assert!(
        report
            .verdict
            .line()
            .starts_with("equivalent under the chosen options")
    );
}

#[test]
fn verdict_counts_by_class() {
    let report = run(
        one(vec![Entry::file("a", "x").mtime(1), Entry::file("b", "1")]),
        one(vec![Entry::file("a", "x").mtime(2), Entry::file("b", "2")]),
        &with(Rules::semantic()),
    )
    .unwrap();
    assert_eq!(report.verdict.outcome, finding::Outcome::Different);
    assert_eq!(report.verdict.counted_by_class[&Class::Content], 1);
    assert_eq!(report.verdict.set_aside_by_class[&Class::Timestamp], 1);
    let identical = run(one(vec![]), one(vec![]), &strict()).unwrap();
    assert_eq!(identical.verdict.outcome, finding::Outcome::Identical);
}

#[test]
fn flatten_compares_file_systems_not_layers() {
    let l = ImageSpec::new()
        .layer(Layer::new(vec![
            Entry::dir("etc/"),
            Entry::file("etc/a", "1"),
        ]))
        .layer(Layer::new(vec![Entry::file("etc/b", "2")]));
    let r = ImageSpec::new()
        .layer(Layer::new(vec![
            Entry::dir("etc/"),
            Entry::file("etc/b", "2"),
        ]))
        .layer(Layer::new(vec![Entry::file("etc/a", "1")]));
    // Layer by layer, the same files in other layers differ...
    let by_layer = run(l.clone(), r.clone(), &with(Rules::semantic())).unwrap();
    assert!(!file_rows(&by_layer).is_empty());
    // ...but the file systems are the same.
    let rules = Rules {
        flatten: true,
        ..Rules::semantic()
    };
    let flat = run(l, r, &with(rules)).unwrap();
    assert!(rows(&flat).is_empty(), "{:?}", rows(&flat));
}

#[test]
fn deleting_what_was_never_created_is_no_difference_when_flattened() {
    let base = Layer::new(vec![Entry::file("a", "1"), Entry::dir("empty/")]);
    let l = ImageSpec::new().layer(base.clone()).layer(Layer::new(vec![
        Entry::whiteout("never-there"),
        Entry::opaque("empty/"),
    ]));
    let r = ImageSpec::new().layer(base).layer(Layer::new(vec![]));
    let rules = Rules {
        flatten: true,
        ..Rules::semantic()
    };
    assert!(rows(&run(l.clone(), r.clone(), &with(rules)).unwrap()).is_empty());
    // The layer view labels the same whiteouts as having no effect and sets them aside.
    let report = run(l.clone(), r.clone(), &with(Rules::semantic())).unwrap();
    assert!(rows(&report).is_empty(), "{:?}", rows(&report));
    let labelled: Vec<Class> = report
        .findings
        .iter()
        .filter(|f| f.kind == Kind::File)
        .map(|f| f.class)
        .collect();
    assert_eq!(
        labelled,
        [Class::WhiteoutWithoutEffect, Class::WhiteoutWithoutEffect]
    );
    // Strictly, they are still layer differences.
    assert_eq!(file_rows(&run(l, r, &strict()).unwrap()).len(), 2);
}

#[test]
fn a_whiteout_that_hides_something_counts() {
    let l = ImageSpec::new()
        .layer(Layer::new(vec![Entry::file("a", "1")]))
        .layer(Layer::new(vec![Entry::whiteout("a")]));
    let r = ImageSpec::new()
        .layer(Layer::new(vec![Entry::file("a", "1")]))
        .layer(Layer::new(vec![]));
    let report = run(l, r, &with(Rules::semantic())).unwrap();
    assert_eq!(file_rows(&report), vec![(".wh.a".into(), s(&["entry"]))]);
}

#[test]
fn rewriting_a_file_unchanged_has_no_effect() {
    let base = Layer::new(vec![Entry::file("etc/conf", "same")]);
    let l = ImageSpec::new()
        .layer(base.clone())
        .layer(Layer::new(vec![Entry::file("etc/conf", "same")]));
    let r = ImageSpec::new().layer(base).layer(Layer::new(vec![]));
    let report = run(l, r, &with(Rules::semantic())).unwrap();
    assert!(rows(&report).is_empty(), "{:?}", rows(&report));
    assert_eq!(
        set_aside(&report)
            .into_iter()
            .filter(|(n, _)| n == "etc/conf")
            .collect::<Vec<_>>(),
        vec![("etc/conf".to_owned(), Class::UnchangedRewrite)]
    );
}

#[test]
fn owner_names_with_equal_ids_are_set_aside_and_other_ids_count() {
    let docker = one(vec![
        Entry::file("a", "1").uname("root").gname("root"),
        Entry::file("b", "1").uid(1000).uname("app"),
    ]);
    let buildah = one(vec![
        Entry::file("a", "1").uname("").gname(""),
        Entry::file("b", "1").uid(1001).uname("app2"),
    ]);
    let report = run(docker.clone(), buildah.clone(), &with(Rules::semantic())).unwrap();
    assert_eq!(file_rows(&report), vec![("b".into(), s(&["uid", "uname"]))]);
    let classes = |name: &str| -> Vec<(String, Class, bool)> {
        report
            .findings
            .iter()
            .filter(|f| f.name == name)
            .flat_map(|f| {
                f.fields
                    .iter()
                    .map(|d| (d.field.clone(), d.class, d.counted))
            })
            .collect()
    };
    assert_eq!(
        classes("a"),
        [
            ("uname".to_owned(), Class::OwnerName, false),
            ("gname".to_owned(), Class::OwnerName, false)
        ]
    );
    assert_eq!(
        classes("b"),
        [
            ("uid".to_owned(), Class::Ownership, true),
            ("uname".to_owned(), Class::Ownership, true)
        ]
    );
    // Strictly, a name is a difference of its own class.
    let report = run(docker, buildah, &strict()).unwrap();
    let a = report.findings.iter().find(|f| f.name == "a").unwrap();
    assert_eq!((a.class, a.counted), (Class::OwnerName, true));
}

#[test]
fn empty_mount_targets_are_set_aside_and_content_there_counts() {
    let base = || {
        vec![
            Entry::dir("etc/"),
            Entry::file("etc/passwd", "root:x:0:0::/root:/bin/sh\n"),
        ]
    };
    let classic = one(base());
    let mut traces = base();
    traces.extend([
        Entry::dir("dev/"),
        Entry::dir("proc/"),
        Entry::dir("sys/"),
        Entry::dir("run/"),
        Entry::file("etc/hosts", "").mode(0o755),
        Entry::file("etc/hostname", ""),
        Entry::file("etc/resolv.conf", ""),
    ]);
    let buildkit = one(traces.clone());
    let report = run(classic.clone(), buildkit.clone(), &with(Rules::semantic())).unwrap();
    assert!(rows(&report).is_empty(), "{:?}", rows(&report));
    assert_eq!(report.verdict.set_aside_by_class[&Class::MountPoint], 7);
    let strict_report = run(classic.clone(), buildkit, &strict()).unwrap();
    assert_eq!(
        strict_report.verdict.counted_by_class[&Class::MountPoint],
        7
    );
    // Content at a mount target, a device, a link, or a path beside one still counts.
    let mut hostile = base();
    hostile.extend([
        Entry::file("etc/hosts", "10.0.0.1 registry.example\n"),
        Entry::char_device("dev/null", 1, 3),
        Entry::symlink("etc/resolv.conf", "/tmp/resolv"),
        Entry::file("etc/hosts.allow", ""),
        Entry::file("run/lock", ""),
    ]);
    let report = run(classic.clone(), one(hostile), &with(Rules::semantic())).unwrap();
    let counted: Vec<(String, Class)> = report
        .findings
        .iter()
        .filter(|f| f.counted)
        .map(|f| (f.name.clone(), f.class))
        .collect();
    assert_eq!(
        counted,
        [
            ("etc/hosts".to_owned(), Class::Added),
            ("dev/null".to_owned(), Class::Added),
            ("etc/resolv.conf".to_owned(), Class::Added),
            ("etc/hosts.allow".to_owned(), Class::Added),
            ("run/lock".to_owned(), Class::Added),
        ]
    );
    // Both sides have it: it is a trace only where both are empty.
    let hosts = |content: &str| {
        let mut entries = base();
        entries.push(Entry::file("etc/hosts", content));
        one(entries)
    };
    for (l, r) in [("", "10.0.0.1 x\n"), ("10.0.0.1 x\n", "")] {
        let report = run(hosts(l), hosts(r), &with(Rules::semantic())).unwrap();
        assert_eq!(
            file_rows(&report),
            [("etc/hosts".into(), s(&["size", "digest"]))]
        );
    }
    let report = run(
        hosts(""),
        one({
            let mut entries = base();
            entries.push(Entry::file("etc/hosts", "").mode(0o600).uid(7));
            entries
        }),
        &with(Rules::semantic()),
    )
    .unwrap();
    assert!(rows(&report).is_empty(), "{:?}", rows(&report));
    assert_eq!(report.verdict.set_aside_by_class[&Class::MountPoint], 1);
    // Layer by layer: emptying a lower layer's `/etc/hosts` changes content; writing an empty
    // one over an empty one does not.
    let hosts_below = |content: &str, top: Vec<Entry>| {
        ImageSpec::new()
            .layer(Layer::new(vec![
                Entry::dir("etc/"),
                Entry::file("etc/hosts", content),
            ]))
            .layer(Layer::new(top))
    };
    let emptied = hosts_below("10.0.0.1 x\n", vec![Entry::file("etc/hosts", "")]);
    let kept = hosts_below("10.0.0.1 x\n", vec![]);
    let report = run(kept, emptied, &with(Rules::semantic())).unwrap();
    assert_eq!(file_rows(&report), [("etc/hosts".into(), s(&["entry"]))]);
    let again = hosts_below("", vec![Entry::file("etc/hosts", "").mtime(9).mode(0o755)]);
    let report = run(hosts_below("", vec![]), again, &with(Rules::semantic())).unwrap();
    assert!(rows(&report).is_empty(), "{:?}", rows(&report));
}

#[test]
fn an_empty_mount_target_through_a_symlink_is_what_it_writes_to() {
    // `dev` is a link to `etc`: the empty `dev/passwd` a layer writes empties `etc/passwd`.
    let image = |top: Vec<Entry>| {
        ImageSpec::new()
            .layer(Layer::new(vec![
                Entry::dir("etc/"),
                Entry::file("etc/passwd", "root:x:0:0::/root:/bin/sh\n"),
                Entry::symlink("dev", "etc"),
            ]))
            .layer(Layer::new(top))
    };
    let (l, r) = (image(vec![]), image(vec![Entry::file("dev/passwd", "")]));
    for flatten in [false, true] {
        let rules = Rules {
            flatten,
            ..Rules::semantic()
        };
        let report = run(l.clone(), r.clone(), &with(rules)).unwrap();
        assert_eq!(
            report.verdict.outcome,
            finding::Outcome::Different,
            "{flatten}"
        );
        assert!(
            report
                .findings
                .iter()
                .filter(|f| f.counted)
                .all(|f| f.class != Class::MountPoint),
            "{flatten}: {:?}",
            rows(&report)
        );
    }
}

#[test]
fn a_parent_of_mounts_is_set_aside_only_as_a_runtime_would_make_it() {
    let bin = || Layer::new(vec![Entry::dir("bin/"), Entry::file("bin/sh", "sh")]);
    let classic = ImageSpec::new().layer(bin()).layer(Layer::new(vec![]));
    let with_dirs = |mode: u32| {
        ImageSpec::new().layer(bin()).layer(Layer::new(vec![
            Entry::dir("etc/").mode(mode),
            Entry::dir("run/").mode(mode),
        ]))
    };
    let counted_rows = |l: &ImageSpec, r: &ImageSpec, flatten: bool| {
        let rules = Rules {
            flatten,
            ..Rules::semantic()
        };
        file_rows(&run(l.clone(), r.clone(), &with(rules)).unwrap()).len()
    };
    for flatten in [false, true] {
        assert_eq!(counted_rows(&classic, &with_dirs(0o755), flatten), 0);
        assert_eq!(counted_rows(&classic, &with_dirs(0o1777), flatten), 2);
    }
    // Over a directory a lower layer made, it is a rewrite: it counts where it changes the mode.
    let lower = |mode: u32| {
        ImageSpec::new()
            .layer(Layer::new(vec![
                Entry::dir("etc/").mode(mode),
                Entry::dir("run/").mode(mode),
            ]))
            .layer(Layer::new(vec![]))
    };
    let rewriting = ImageSpec::new()
        .layer(Layer::new(vec![
            Entry::dir("etc/").mode(0o700),
            Entry::dir("run/").mode(0o700),
        ]))
        .layer(Layer::new(vec![
            Entry::dir("etc/").mode(0o755),
            Entry::dir("run/").mode(0o755),
        ]));
    let report = run(lower(0o700), rewriting.clone(), &with(Rules::semantic())).unwrap();
    assert_eq!(
        file_rows(&report),
        [
            ("etc/".into(), s(&["entry"])),
            ("run/".into(), s(&["entry"]))
        ]
    );
    assert!(
        report
            .findings
            .iter()
            .filter(|f| f.counted)
            .all(|f| f.class == Class::Added)
    );
    let unchanged = ImageSpec::new()
        .layer(Layer::new(vec![
            Entry::dir("etc/").mode(0o755),
            Entry::dir("run/").mode(0o755),
        ]))
        .layer(Layer::new(vec![
            Entry::dir("etc/").mode(0o755),
            Entry::dir("run/").mode(0o755),
        ]));
    let report = run(lower(0o755), unchanged, &with(Rules::semantic())).unwrap();
    assert!(rows(&report).is_empty(), "{:?}", rows(&report));
}

#[test]
fn a_directory_written_again_with_the_same_mode_and_ids_has_no_effect() {
    let base = Layer::new(vec![
        Entry::dir("etc/").mtime(1),
        Entry::dir("etc/apt/").mtime(1),
        Entry::file("etc/apt/sources.list", "deb x"),
    ]);
    // buildah re-emits the parents of what a step writes, with its own mtime and no names.
    let rebuilt = |mode: u32, uid: u64| {
        ImageSpec::new().layer(base.clone()).layer(Layer::new(vec![
            Entry::dir("etc/apt/")
                .mtime(9)
                .mode(mode)
                .uid(uid)
                .uname("")
                .gname(""),
            Entry::file("etc/apt/new", "x"),
        ]))
    };
    let classic = ImageSpec::new()
        .layer(base.clone())
        .layer(Layer::new(vec![Entry::file("etc/apt/new", "x")]));
    let class_of = |report: &Findings| {
        report
            .findings
            .iter()
            .find(|f| f.name == "etc/apt/")
            .map(|f| (f.class, f.counted))
    };
    let report = run(classic.clone(), rebuilt(0o755, 0), &strict()).unwrap();
    assert_eq!(class_of(&report), Some((Class::UnchangedRewrite, true)));
    let report = run(classic.clone(), rebuilt(0o755, 0), &with(Rules::semantic())).unwrap();
    assert_eq!(class_of(&report), Some((Class::UnchangedRewrite, false)));
    // Another mode or owner is an effect.
    for (mode, uid) in [(0o700, 0), (0o755, 1000)] {
        let report = run(
            classic.clone(),
            rebuilt(mode, uid),
            &with(Rules::semantic()),
        )
        .unwrap();
        assert_eq!(
            class_of(&report),
            Some((Class::Added, true)),
            "{mode:o} {uid}"
        );
    }
    // The package view keeps what has no effect as such, whoever owns the directory.
    let dpkg = |layers: Vec<Layer>| {
        let database = Layer::new(vec![
            Entry::file(
                "var/lib/dpkg/status",
                "Package: apt\nStatus: install ok installed\nVersion: 2.6\nArchitecture: amd64\n\n",
            ),
            Entry::file(
                "var/lib/dpkg/info/apt.list",
                "/etc\n/etc/apt\n/etc/apt/new\n",
            ),
        ]);
        layers
            .into_iter()
            .fold(ImageSpec::new().layer(database), ImageSpec::layer)
    };
    let lhs = dpkg(vec![
        base.clone(),
        Layer::new(vec![Entry::file("etc/apt/new", "x")]),
    ]);
    let rhs = dpkg(vec![
        base,
        Layer::new(vec![
            Entry::dir("etc/apt/").mtime(9).uname(""),
            Entry::file("etc/apt/new", "x"),
        ]),
    ]);
    let packages = Rules {
        packages: true,
        ..Rules::default()
    };
    let report = run(lhs, rhs, &with(packages)).unwrap();
    assert_eq!(class_of(&report), Some((Class::UnchangedRewrite, true)));
}

#[test]
fn ignore_path_sets_matching_files_aside() {
    let l = one(vec![
        Entry::file("var/log/dpkg.log", "1"),
        Entry::file("var/cache/x/y", "1"),
    ]);
    let r = one(vec![
        Entry::file("var/log/dpkg.log", "2"),
        Entry::file("var/cache/x/y", "2"),
    ]);
    let opts = CompareOptions {
        ignore_paths: PathFilter::new(&["/var/log/dpkg.log".into(), "var/cache".into()]).unwrap(),
        ..with(Rules::semantic())
    };
    let report = run(l.clone(), r.clone(), &opts).unwrap();
    assert!(rows(&report).is_empty(), "{:?}", rows(&report));
    assert_eq!(report.verdict.set_aside_by_class[&Class::IgnoredPath], 2);
    let opts = CompareOptions {
        ignore_paths: PathFilter::new(&["/var/*/dpkg.log".into()]).unwrap(),
        ..with(Rules::semantic())
    };
    assert_eq!(file_rows(&run(l, r, &opts).unwrap()).len(), 1);
    assert!(PathFilter::new(&["a[".into()]).is_err());
}

fn dpkg_image(packages: &[(&str, &str)], files: &[(&str, &str)]) -> ImageSpec {
    let status = packages
        .iter()
        .fold(String::new(), |mut status, (name, version)| {
            let _ = write!(
                status,
                "Package: {name}\nStatus: install ok installed\nVersion: {version}\nArchitecture: amd64\n\n"
            );
            status
        });
    let mut entries = vec![
        Entry::dir("var/lib/dpkg/info/"),
        Entry::file("var/lib/dpkg/status", status),
    ];
    for (name, _) in packages {
        entries.push(Entry::file(
            &format!("var/lib/dpkg/info/{name}.list"),
            format!("/usr/bin/{name}\n"),
        ));
    }
    entries.extend(files.iter().map(|(p, c)| Entry::file(p, *c)));
    ImageSpec::new().layer(Layer::new(entries))
}

#[test]
fn packages_view_attributes_differing_files() {
    let l = dpkg_image(
        &[("foo", "1.0"), ("bar", "2.0"), ("gone", "1")],
        &[
            ("usr/bin/foo", "a"),
            ("usr/bin/bar", "a"),
            ("etc/motd", "a"),
        ],
    );
    let r = dpkg_image(
        &[("foo", "1.1"), ("bar", "2.0"), ("new", "3")],
        &[
            ("usr/bin/foo", "b"),
            ("usr/bin/bar", "b"),
            ("etc/motd", "b"),
        ],
    );
    let rules = Rules {
        packages: true,
        ..Rules::semantic()
    };
    let report = run(l, r, &with(rules)).unwrap();
    let class_of = |name: &str| {
        report
            .findings
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.class)
    };
    assert_eq!(class_of("usr/bin/foo"), Some(Class::PackageChanged));
    assert_eq!(class_of("usr/bin/bar"), Some(Class::SamePackageContent));
    assert_eq!(class_of("etc/motd"), Some(Class::Unowned));
    assert_eq!(class_of("var/lib/dpkg/status"), Some(Class::PackageChanged));
    assert_eq!(class_of("dpkg:foo"), Some(Class::PackageVersion));
    assert_eq!(class_of("dpkg:gone"), Some(Class::Removed));
    assert_eq!(class_of("dpkg:new"), Some(Class::Added));
    let bar = report
        .findings
        .iter()
        .find(|f| f.name == "usr/bin/bar")
        .unwrap();
    assert_eq!(bar.owner.as_ref().unwrap().name, "bar");
    assert_eq!(
        report.verdict.counted_by_class[&Class::SamePackageContent],
        1
    );
    let pkg = report
        .findings
        .iter()
        .find(|f| f.name == "dpkg:foo")
        .unwrap();
    assert_eq!(pkg.kind, Kind::Package);
    assert_eq!(pkg.location, "manifests-0/packages");
    assert_eq!(pkg.fields[0].lhs, Some(json!("1.0 (amd64)")));
}

fn scripts_tar(mtime: u64, body: &str) -> Vec<u8> {
    Layer::new(vec![Entry::file("pre-install", body).mtime(mtime)]).tar_bytes()
}

#[test]
fn nested_archive_differing_only_in_timestamps_is_set_aside() {
    let img = |tar: Vec<u8>| one(vec![Entry::file("lib/apk/db/scripts.tar", tar)]);
    let (l, r) = (
        img(scripts_tar(1, "echo hi")),
        img(scripts_tar(2, "echo hi")),
    );
    let report = run(l.clone(), r.clone(), &with(Rules::semantic())).unwrap();
    assert!(rows(&report).is_empty(), "{:?}", rows(&report));
    let f = report
        .findings
        .iter()
        .find(|f| f.name == "lib/apk/db/scripts.tar")
        .unwrap();
    assert_eq!(f.class, Class::NestedMetadata);
    let nested = &f.detail.as_ref().unwrap().nested;
    assert_eq!(nested[0].name, "lib/apk/db/scripts.tar!/pre-install");
    assert!(!nested[0].counted);
    // Strictly it differs, and the detail says what inside differs.
    let report = run(l, r, &strict()).unwrap();
    let f = report
        .findings
        .iter()
        .find(|f| f.name == "lib/apk/db/scripts.tar")
        .unwrap();
    assert!(f.counted);
    assert_eq!(
        f.detail.as_ref().unwrap().nested[0].fields[0].field,
        "mtime"
    );
    // A real change inside counts under --semantic too.
    let changed = run(
        img(scripts_tar(1, "echo hi")),
        img(scripts_tar(2, "rm -rf /")),
        &with(Rules::semantic()),
    )
    .unwrap();
    assert_eq!(file_rows(&changed).len(), 1);
}

#[test]
fn text_diffs_when_details_are_asked_for() {
    let (l, r) = (
        one(vec![Entry::file("etc/conf", "a=1\nb=2\n")]),
        one(vec![Entry::file("etc/conf", "a=1\nb=3\n")]),
    );
    let opts = CompareOptions {
        details: true,
        ..with(Rules::semantic())
    };
    let report = run(l.clone(), r.clone(), &opts).unwrap();
    let f = report
        .findings
        .iter()
        .find(|f| f.name == "etc/conf")
        .unwrap();
    let diff = f.detail.as_ref().unwrap().text_diff.as_ref().unwrap();
    assert!(diff.contains("-b=2\n+b=3"), "{diff}");
    let report = run(l, r, &with(Rules::semantic())).unwrap();
    let f = report
        .findings
        .iter()
        .find(|f| f.name == "etc/conf")
        .unwrap();
    assert!(f.detail.is_none());
}

#[test]
fn reordering_entries_that_act_on_each_other_counts() {
    let base = Layer::new(vec![Entry::file("x", "lower")]);
    let l = ImageSpec::new().layer(base.clone()).layer(Layer::new(vec![
        Entry::file("x", "new"),
        Entry::whiteout("x"),
    ]));
    let r = ImageSpec::new().layer(base).layer(Layer::new(vec![
        Entry::whiteout("x"),
        Entry::file("x", "new"),
    ]));
    // The same entries; on the left the whiteout deletes the new file, on the right not.
    let report = run(l, r, &with(Rules::semantic())).unwrap();
    assert_eq!(report.verdict.outcome, finding::Outcome::Different);
    let positions: Vec<_> = file_rows(&report)
        .into_iter()
        .filter(|(_, fields)| fields.contains(&"position".to_owned()))
        .map(|(n, _)| n)
        .collect();
    assert!(positions.contains(&"x".to_owned()), "{positions:?}");
    // Entries that do not act on each other may come in any order.
    let l = one(vec![Entry::file("a", "1"), Entry::file("b", "2")]);
    let r = one(vec![Entry::file("b", "2"), Entry::file("a", "1")]);
    let report = run(l, r, &with(Rules::semantic())).unwrap();
    assert!(file_rows(&report).is_empty(), "{:?}", file_rows(&report));
}

#[test]
fn runtime_dependent_entries_always_count() {
    let l = one(vec![Entry::file("a", "1"), Entry::file("a", "1")]);
    let r = one(vec![Entry::file("a", "1")]);
    for rules in [
        Rules::default(),
        Rules::semantic(),
        Rules {
            flatten: true,
            ..Rules::semantic()
        },
        // No package explains away what depends on the runtime (here: an unowned file).
        Rules {
            packages: true,
            ..Rules::semantic()
        },
    ] {
        let report = run(l.clone(), r.clone(), &with(rules)).unwrap();
        let f = report
            .findings
            .iter()
            .find(|f| f.class == Class::RuntimeDependent)
            .unwrap_or_else(|| panic!("{:?}", rows(&report)));
        assert!(f.counted);
        assert_eq!(f.fields[0].lhs, Some(json!("duplicate-path")));
        assert!(
            f.detail
                .as_ref()
                .unwrap()
                .note
                .as_ref()
                .unwrap()
                .contains("Docker and Podman refuse")
        );
    }
    // An image against itself holds the same entries read the same way: identical.
    let report = run(
        l.clone(),
        l,
        &with(Rules {
            flatten: true,
            ..Rules::semantic()
        }),
    )
    .unwrap();
    assert!(rows(&report).is_empty(), "{:?}", rows(&report));
}

#[test]
fn layers_every_runtime_refuses_are_errors() {
    let plain = one(vec![Entry::file("a", "1")]);
    let err = run(
        plain.clone(),
        one(vec![Entry::hardlink("h", "missing")]),
        &strict(),
    )
    .unwrap_err();
    assert_eq!(err.side, Some(Side::Rhs));
    let text = err.to_string();
    assert!(
        text.contains("hard link to missing, which does not exist"),
        "{text}"
    );
    assert!(
        text.contains("every container runtime refuses this layer"),
        "{text}"
    );
}

#[test]
fn diff_ids_are_checked_whatever_the_rules() {
    let plain = one(vec![Entry::file("a", "1")]);
    let wrong = one(vec![Entry::file("a", "2")]).config_field(
        "rootfs",
        json!({"type": "layers", "diff_ids": [format!("sha256:{}", "0".repeat(64))]}),
    );
    for rules in [Rules::default(), Rules::semantic()] {
        let err = run(plain.clone(), wrong.clone(), &with(rules)).unwrap_err();
        assert!(
            matches!(*err.source, InputError::DiffId { index: 0, .. }),
            "{err}"
        );
    }
    let short = one(vec![Entry::file("a", "2")])
        .config_field("rootfs", json!({"type": "layers", "diff_ids": []}));
    let err = run(plain.clone(), short, &strict()).unwrap_err();
    assert!(
        matches!(
            *err.source,
            InputError::DiffIdCount {
                layers: 1,
                diff_ids: 0
            }
        ),
        "{err}"
    );
    // A gzip layer's diff ID is the digest of what it decompresses to.
    let gz = ImageSpec::new()
        .layer(Layer::new(vec![Entry::file("a", "2")]).compression(Compression::Gzip));
    assert!(run(plain.clone(), gz, &strict()).is_ok());
    // Both sides share the layer but name different diff IDs: the wrong one is found.
    let shared_wrong = plain.clone().config_field(
        "rootfs",
        json!({"type": "layers", "diff_ids": [format!("sha256:{}", "1".repeat(64))]}),
    );
    let err = run(plain, shared_wrong, &strict()).unwrap_err();
    assert_eq!(err.side, Some(Side::Rhs));
    assert!(matches!(*err.source, InputError::DiffId { .. }), "{err}");
}

#[test]
fn shared_layers_are_checked_against_the_diff_ids_both_configs_name() {
    let wrong = json!({"type": "layers", "diff_ids": [format!("sha256:{}", "1".repeat(64))]});
    let flatten = Rules {
        flatten: true,
        ..Rules::semantic()
    };
    for compression in [Compression::None, Compression::Gzip, Compression::Zstd] {
        let image = ImageSpec::new()
            .layer(Layer::new(vec![Entry::file("a", "1")]).compression(compression))
            .config_field("rootfs", wrong.clone());
        // The configs differ elsewhere, so that the comparison reaches the layers.
        let other = image.clone().config_field("author", json!("someone"));
        for opts in [strict(), with(Rules::semantic()), with(flatten)] {
            let err = run(image.clone(), other.clone(), &opts).unwrap_err();
            assert!(
                matches!(*err.source, InputError::DiffId { index: 0, .. }),
                "{compression:?}: {err}"
            );
        }
        // An image against itself, from one source.
        let dir = tempfile::tempdir().unwrap();
        let (l, r) = (
            open(dir.path(), "x", image.clone()),
            open(dir.path(), "x", image.clone()),
        );
        let err = compare(&l, &r, &strict()).map(drop).unwrap_err();
        assert!(
            matches!(*err.source, InputError::DiffId { index: 0, .. }),
            "{compression:?}: {err}"
        );
    }
}

#[test]
fn diff_ids_computed_once_are_looked_up_after() {
    let cache_dir = tempfile::tempdir().unwrap();
    let opts = CompareOptions {
        diff_ids: DiffIds::open(cache_dir.path()),
        ..strict()
    };
    let image = ImageSpec::new()
        .layer(Layer::new(vec![Entry::file("a", "1")]).compression(Compression::Gzip));
    let built = image.build();
    let blob: Digest = built.layers[0].digest.parse().unwrap();
    let diff_id: Digest = built.diff_ids[0].parse().unwrap();
    run(image.clone(), image.clone(), &opts).unwrap();
    // A later run (a new cache in memory) finds the blob's record, and the image's.
    let later = || DiffIds::open(cache_dir.path()).unwrap();
    assert_eq!(later().get(&blob), Some(diff_id.clone()));
    let cache = later();
    cache.load_image(std::slice::from_ref(&blob));
    std::fs::remove_dir_all(cache_dir.path().join("diff-ids/sha256")).unwrap();
    assert_eq!(cache.get(&blob), Some(diff_id));
    // A record is what the next run goes by: one that lies is caught as a mismatch.
    let lie = Digest::sha256_of(b"not that layer");
    later().put_image(std::slice::from_ref(&blob), std::slice::from_ref(&lie));
    let opts = CompareOptions {
        diff_ids: Some(later()),
        ..strict()
    };
    let err = run(image.clone(), image, &opts).unwrap_err();
    assert!(matches!(*err.source, InputError::DiffId { .. }), "{err}");
}

/// A layer that differs, and so is walked, takes its diff ID from the cache as a shared one
/// does (its blob is still verified): a record that lies is caught against the config.
#[test]
fn a_walked_layer_takes_its_diff_id_from_the_cache() {
    let cache_dir = tempfile::tempdir().unwrap();
    let opts = || CompareOptions {
        diff_ids: DiffIds::open(cache_dir.path()),
        ..with(Rules::semantic())
    };
    let [l, r] = ["1", "2"].map(|content| {
        ImageSpec::new()
            .layer(Layer::new(vec![Entry::file("a", content)]).compression(Compression::Gzip))
    });
    let blob: Digest = l.build().layers[0].digest.parse().unwrap();
    run(l.clone(), r.clone(), &opts()).unwrap();
    run(l.clone(), r.clone(), &opts()).unwrap();
    let lie = Digest::sha256_of(b"not that layer");
    DiffIds::open(cache_dir.path())
        .unwrap()
        .put_image(std::slice::from_ref(&blob), std::slice::from_ref(&lie));
    let err = run(l, r, &opts()).unwrap_err();
    assert!(
        matches!(*err.source, InputError::DiffId { index: 0, .. }),
        "{err}"
    );
}

#[test]
fn a_whiteout_after_its_target_in_the_same_layer_has_an_effect() {
    let base = Layer::new(vec![Entry::file("keep", "k")]);
    let l = ImageSpec::new().layer(base.clone()).layer(Layer::new(vec![
        Entry::file("tmp", "t"),
        Entry::whiteout("tmp"),
    ]));
    let r = ImageSpec::new().layer(base).layer(Layer::new(vec![]));
    let report = run(l, r, &with(Rules::semantic())).unwrap();
    // `tmp` and its whiteout are on one side only; the whiteout deletes `tmp`, so neither is
    // "without effect", and overlay snapshotters refuse it: runtime-dependent.
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.class == Class::RuntimeDependent && f.counted)
    );
    assert!(
        !report
            .findings
            .iter()
            .any(|f| f.class == Class::WhiteoutWithoutEffect)
    );
}

/// `n` files in a directory, `changed` of them holding something else: a layer that streams
/// (every pair does in the unit tests) and is too long to keep.
fn many(n: usize, changed: usize) -> Vec<Entry> {
    let mut entries = vec![Entry::dir("d/")];
    entries.extend(
        (0..n).map(|i| Entry::file(&format!("d/f{i}"), if i < changed { "x" } else { "y" })),
    );
    entries
}

#[test]
fn a_streamed_pair_finds_what_the_layer_by_layer_comparison_finds() {
    // Settled while streaming: plain, same entries.
    let found = run(one(many(50, 2)), one(many(50, 0)), &with(Rules::semantic())).unwrap();
    assert_eq!(
        file_rows(&found),
        vec![
            ("d/f0".into(), s(&["digest"])),
            ("d/f1".into(), s(&["digest"]))
        ]
    );
    // Not settled (an entry on one side only, a whiteout, a reordered hard link): read again.
    let mut extra = many(50, 0);
    extra.push(Entry::file("d/new", "n"));
    let found = run(one(many(50, 0)), one(extra), &with(Rules::semantic())).unwrap();
    assert_eq!(file_rows(&found), vec![("d/new".into(), s(&["entry"]))]);
    let mut whiteout = many(50, 0);
    whiteout.push(Entry::whiteout("gone"));
    let found = run(one(many(50, 0)), one(whiteout), &with(Rules::semantic())).unwrap();
    assert!(
        set_aside(&found).contains(&(".wh.gone".into(), Class::WhiteoutWithoutEffect)),
        "{:?}",
        set_aside(&found)
    );
    assert!(rows(&found).iter().all(|(k, ..)| *k != Kind::File));
    let linked = |order: [usize; 2]| {
        let mut e = many(50, 0);
        for i in order {
            e.push(Entry::hardlink(&format!("d/l{i}"), &format!("d/f{i}")));
        }
        one(e)
    };
    let found = run(linked([1, 2]), linked([2, 1]), &with(Rules::semantic())).unwrap();
    assert!(
        found.findings.iter().any(|f| f.counted && f.name == "d/l1"),
        "{:?}",
        rows(&found)
    );
}

/// A pair its source walked on one side only is streamed from both blobs, not walked whole
/// for the other side (which may be far longer): the one listing is not what decides it.
#[test]
fn a_pair_walked_on_one_side_only_is_streamed() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = open(dir.path(), "l", one(many(50, 2)));
    let r = open(dir.path(), "r", one(many(50, 0)));
    let layer_of = |image: &Image| match Document::parse(&image.root.bytes, None).unwrap() {
        Document::Manifest(m) => m.layers[0].clone(),
        Document::Index(_) => unreachable!("one manifest"),
    };
    // Another layer's listing under the left layer's digest: were it used, nothing would
    // differ (or its diff ID would not match the config's).
    let other = open(dir.path(), "o", one(many(50, 0)));
    let listing = crate::layer::walk(
        &*other.blobs,
        &layer_of(&other),
        0,
        None,
        &crate::content::Limits::default(),
        crate::layer::FileDigests::BySize,
        |_, _| Ok(()),
    )
    .unwrap();
    l.walked
        .insert(layer_of(&l).digest, std::sync::Arc::new(listing));
    let found = compare(&l, &r, &with(Rules::semantic())).unwrap().report;
    assert_eq!(
        file_rows(&found),
        vec![
            ("d/f0".into(), s(&["digest"])),
            ("d/f1".into(), s(&["digest"]))
        ]
    );
}

#[test]
fn a_streamed_pair_reports_the_side_whose_layer_breaks() {
    let good = Layer::new(many(300, 0)).tar_bytes();
    // Past the first batches, a header whose checksum is wrong.
    let mut broken = good.clone();
    let at = broken.len() - 1024 - 512 * 40;
    broken[at + 148..at + 156].copy_from_slice(b"0000000\0");
    let raw = |tar: Vec<u8>| ImageSpec::new().layer(Layer::raw(tar));
    for (l, r, side) in [
        (raw(broken.clone()), raw(good.clone()), Side::Lhs),
        (raw(good.clone()), raw(broken.clone()), Side::Rhs),
    ] {
        let err = run(l, r, &with(Rules::semantic())).unwrap_err();
        assert_eq!(err.side, Some(side), "{err}");
        assert!(err.to_string().contains("not a tar stream"), "{err}");
    }
}
