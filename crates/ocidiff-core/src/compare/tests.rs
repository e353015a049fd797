//! The engine on images generated in code: each ignore rule's effect, platforms, layering and
//! verification.

use std::path::Path;

use ocidiff_testkit::{
    Compression, Entry, ImageSpec, IndexSpec, Layer, MediaStyle, Root, TarFormat, write_oci_dir,
};
use serde_json::json;

use super::*;
use crate::finding::{self, Class};
use crate::reference::ImageRef;
use crate::source;

fn open(dir: &Path, name: &str, root: impl Into<Root>) -> Image {
    let path = dir.join(name);
    write_oci_dir(&path, &[("", root.into())]).unwrap();
    source::open(&ImageRef::OciDir {
        path,
        reference: None,
    })
    .unwrap()
}

fn run(l: impl Into<Root>, r: impl Into<Root>, opts: &Options) -> Result<Report, CompareError> {
    let dir = tempfile::tempdir().unwrap();
    let (l, r) = (open(dir.path(), "l", l), open(dir.path(), "r", r));
    compare(&l, &r, opts).map(|o| o.report)
}

fn with(rules: Rules) -> Options {
    Options {
        rules,
        ..Options::default()
    }
}

fn strict() -> Options {
    Options::default()
}

fn one(entries: Vec<Entry>) -> ImageSpec {
    ImageSpec::new().layer(Layer::new(entries))
}

/// `(kind, name, counted fields)` of each counted finding, for compact assertions.
fn rows(report: &Report) -> Vec<(Kind, String, Vec<String>)> {
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

fn file_rows(report: &Report) -> Vec<(String, Vec<String>)> {
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
        one(vec![Entry::file("a", "1").mode(0o100644)]),
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
    let report = run(l, r, &with(Rules::semantic())).unwrap();
    assert!(rows(&report).is_empty(), "{:?}", rows(&report));
    assert_eq!(report.verdict.outcome, finding::Outcome::Equivalent);
    assert!(
        report
            .verdict
            .set_aside_by_class
            .contains_key(&Class::StorageFormat)
    );
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
    let opts = Options {
        platforms: PlatformChoice::These(vec!["linux/arm64".parse().unwrap()]),
        ..with(Rules::semantic())
    };
    let report = run(l.clone(), r.clone(), &opts).unwrap();
    assert!(rows(&report).is_empty(), "{:?}", rows(&report));
    assert_eq!(
        report.comparisons[0].platform.as_ref().unwrap().to_string(),
        "linux/arm64"
    );

    let opts = Options {
        platforms: PlatformChoice::These(vec!["linux/s390x".parse().unwrap()]),
        ..with(Rules::semantic())
    };
    let err = run(l.clone(), r.clone(), &opts).unwrap_err();
    assert_eq!(err.side, 0);
    assert!(
        err.to_string()
            .contains("no image for platform linux/s390x; the image has: linux/amd64, linux/arm64"),
        "{err}"
    );

    let opts = Options {
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
    let l = source::open(&l.reference).unwrap();
    let r = source::open(&r.reference).unwrap();
    let err = compare(&l, &r, &strict()).err().unwrap();
    assert_eq!(err.side, 1);
    assert!(
        err.to_string().contains("does not match its digest"),
        "{err}"
    );
}

fn set_aside(report: &Report) -> Vec<(String, Class)> {
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
    let l = ImageSpec::new()
        .layer(Layer::new(vec![Entry::file("a", "1")]))
        .layer(Layer::new(vec![
            Entry::whiteout("never-there"),
            Entry::opaque("empty/"),
        ]));
    let r = ImageSpec::new()
        .layer(Layer::new(vec![Entry::file("a", "1")]))
        .layer(Layer::new(vec![]));
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
fn ignore_path_sets_matching_files_aside() {
    let l = one(vec![
        Entry::file("var/log/dpkg.log", "1"),
        Entry::file("var/cache/x/y", "1"),
    ]);
    let r = one(vec![
        Entry::file("var/log/dpkg.log", "2"),
        Entry::file("var/cache/x/y", "2"),
    ]);
    let opts = Options {
        ignore_paths: vec!["/var/log/dpkg.log".into(), "var/cache".into()],
        ..with(Rules::semantic())
    };
    let report = run(l.clone(), r.clone(), &opts).unwrap();
    assert!(rows(&report).is_empty(), "{:?}", rows(&report));
    assert_eq!(report.verdict.set_aside_by_class[&Class::IgnoredPath], 2);
    let opts = Options {
        ignore_paths: vec!["/var/*/dpkg.log".into()],
        ..with(Rules::semantic())
    };
    assert_eq!(file_rows(&run(l, r, &opts).unwrap()).len(), 1);
    assert!(check_patterns(&["a[".into()]).is_err());
}
