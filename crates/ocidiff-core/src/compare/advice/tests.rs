use serde_json::json;

use super::*;
use crate::finding::{Detail, FieldDiff, Owner};

const CREATED: &str = "2024-03-01T12:00:00Z";
const EPOCH: &str = "1709294400";

fn ctx() -> Ctx<'static> {
    Ctx {
        created: Some(CREATED),
        nested: false,
    }
}

fn field(name: &str, class: Class) -> FieldDiff {
    FieldDiff::new(name, Some(json!(1)), Some(json!(2)), class)
}

fn file(name: &str, fields: Vec<FieldDiff>) -> Finding {
    Finding::new(Kind::File, "manifests-0/layers-0", name, fields)
}

fn content(name: &str) -> Finding {
    file(name, vec![field("digest", Class::Content)])
}

fn mtime(name: &str) -> Finding {
    file(name, vec![field("mtime", Class::Timestamp)])
}

/// The id of the entry that fits `f`.
fn id(f: &Finding, c: &Ctx<'_>) -> Option<&'static str> {
    ADVICE.iter().find(|a| (a.fits)(f, c)).map(|a| a.id)
}

fn archive(name: &str, inside: Vec<Finding>) -> Finding {
    let mut f = file(
        name,
        vec![field("digest", Class::NestedMetadata).set_aside()],
    );
    f.detail = Some(Detail {
        nested: inside,
        ..Detail::default()
    });
    f
}

fn inner(outer: &str, name: &str, fields: Vec<FieldDiff>) -> Finding {
    Finding::new(Kind::File, outer, name, fields)
}

#[test]
fn paths_that_builds_should_not_leave_behind() {
    let c = ctx();
    for (path, expected) in [
        ("var/log/dpkg.log", "var-log"),
        ("./var/log/apt/term.log", "var-log"),
        (
            "var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease",
            "apt-lists",
        ),
        ("var/cache/apt/pkgcache.bin", "apt-cache"),
        ("var/lib/dpkg/status-old", "dpkg-old"),
        ("var/cache/debconf/templates.dat-old", "debconf-old"),
        ("var/cache/ldconfig/aux-cache", "ldconfig-aux-cache"),
        (
            "usr/lib/python3/dist-packages/x/__pycache__/y.cpython-311.pyc",
            "python-bytecode",
        ),
        ("opt/app/z.pyc", "python-bytecode"),
    ] {
        assert_eq!(id(&content(path), &c), Some(expected), "{path}");
        // Whatever differs about them: deleting them removes the difference.
        assert_eq!(id(&mtime(path), &c), Some(expected), "{path}");
    }
    for path in [
        "var/logs/x",
        "usr/share/doc/var/log/x",
        "var/lib/dpkg/status",
        "var/cache/debconf/config.dat",
        "var/lib/apt/extended_states",
        "var/cache/ldconfig/aux-cache-other",
        "usr/lib/python3/x.py",
        "etc/os-release",
    ] {
        assert_eq!(id(&content(path), &c), None, "{path}");
    }
    // Not a path of the image: a member of an archive.
    let nested = Ctx {
        created: None,
        nested: true,
    };
    assert_eq!(id(&content("var/log/dpkg.log"), &nested), None);
    // A package or config finding is not a file.
    let package = Finding::new(
        Kind::Package,
        "manifests-0/packages",
        "var/log/x",
        vec![field("entry", Class::Added)],
    );
    assert_eq!(id(&package, &c), None);
}

#[test]
fn file_timestamps_only_when_timestamps_are_what_differs() {
    let c = ctx();
    assert_eq!(id(&mtime("etc/hostname"), &c), Some("file-timestamps"));
    let aside = file(
        "etc/hostname",
        vec![field("mtime", Class::Timestamp).set_aside()],
    );
    assert_eq!(id(&aside, &c), Some("file-timestamps"));
    let both = file(
        "etc/hostname",
        vec![
            field("mtime", Class::Timestamp),
            field("digest", Class::Content),
        ],
    );
    assert_eq!(id(&both, &c), None);
    let text = advice(&mtime("etc/hostname"), &c).unwrap();
    assert!(
        text.contains(&format!("SOURCE_DATE_EPOCH={EPOCH}")),
        "{text}"
    );
    assert!(text.contains("rewrite-timestamp=true"), "{text}");
    assert!(text.contains(&format!("--timestamp {EPOCH}")), "{text}");
    // Without input 0's `created`, the variable is left for the reader to set.
    let unknown = Ctx {
        created: None,
        nested: false,
    };
    let text = advice(&mtime("etc/hostname"), &unknown).unwrap();
    assert!(
        text.contains("SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH"),
        "{text}"
    );
}

#[test]
fn image_created_and_history() {
    let c = ctx();
    let config = |name: &str, class| {
        Finding::new(
            Kind::Config,
            "manifests-0/config",
            name,
            vec![field("value", class)],
        )
    };
    assert_eq!(
        id(&config(".created", Class::Timestamp), &c),
        Some("image-created")
    );
    assert_eq!(
        id(&config(".history[3].created", Class::Timestamp), &c),
        Some("image-created")
    );
    assert!(
        advice(&config(".created", Class::Timestamp), &c)
            .unwrap()
            .contains(&format!("--build-arg SOURCE_DATE_EPOCH={EPOCH}"))
    );
    assert_eq!(
        id(&config(".history[3].created_by", Class::History), &c),
        Some("history")
    );
    assert_eq!(
        id(&config(".history[3].comment", Class::BuilderMetadata), &c),
        None
    );
    assert_eq!(id(&config(".config.Env", Class::ConfigField), &c), None);
    // An annotation's time is not the config's.
    let annotation = Finding::new(
        Kind::Manifest,
        "manifests-0",
        ".annotations[\"org.opencontainers.image.created\"]",
        vec![field("value", Class::Timestamp)],
    );
    assert_eq!(id(&annotation, &c), None);
}

#[test]
fn gzip_headers_and_archive_timestamps() {
    let c = ctx();
    let gz = archive(
        "usr/share/doc/x/changelog.gz",
        vec![inner(
            "usr/share/doc/x/changelog.gz",
            "usr/share/doc/x/changelog.gz",
            vec![
                field("gzip.mtime", Class::Timestamp),
                field("gzip.filename", Class::Timestamp),
            ],
        )],
    );
    assert_eq!(id(&gz, &c), Some("gzip-header"));
    let tar = archive(
        "opt/x.tar",
        vec![inner(
            "opt/x.tar",
            "a/b",
            vec![field("mtime", Class::Timestamp)],
        )],
    );
    assert_eq!(id(&tar, &c), Some("archive-timestamps"));
    // A member whose content differs: the archive's times are not the remedy.
    let changed = archive(
        "opt/x.tar",
        vec![
            inner("opt/x.tar", "a/b", vec![field("mtime", Class::Timestamp)]),
            inner("opt/x.tar", "a/c", vec![field("digest", Class::Content)]),
        ],
    );
    assert_eq!(id(&changed, &c), None);
    // Only the OS byte of the header: nothing `gzip -n` changes.
    let os = archive(
        "x.gz",
        vec![inner(
            "x.gz",
            "x.gz",
            vec![field("gzip.os", Class::Timestamp)],
        )],
    );
    assert_eq!(id(&os, &c), None);
    // The members themselves get theirs.
    let mut report_like = vec![tar];
    for f in &mut report_like {
        fill_one(f, &c);
    }
    let nested = &report_like[0].detail.as_ref().unwrap().nested[0];
    assert!(nested.advice.as_deref().unwrap().contains("--clamp-mtime"));
    assert!(
        report_like[0]
            .advice
            .as_deref()
            .unwrap()
            .contains("--sort=name")
    );
}

fn package(name: &str, lhs: &str, rhs: &str) -> Finding {
    Finding::new(
        Kind::Package,
        "manifests-0/packages",
        name,
        vec![FieldDiff::new(
            "version",
            Some(json!(lhs)),
            Some(json!(rhs)),
            Class::PackageVersion,
        )],
    )
}

#[test]
fn a_moved_package_is_pinned_with_input_0s_version_and_snapshot() {
    let c = ctx();
    let curl = package(
        "dpkg:curl",
        "7.88.1-10+deb12u15 (amd64)",
        "7.88.1-10+deb12u17 (amd64)",
    );
    assert_eq!(id(&curl, &c), Some("apt-pin"));
    assert_eq!(
        advice(&curl, &c).unwrap(),
        "Install the version input 0 has: `apt-get install --no-install-recommends curl=7.88.1-10+deb12u15`; if the archive no longer has it, add `deb [check-valid-until=no] https://snapshot.debian.org/archive/debian/20240301T120000Z/ <suite> main` (Debian as of input 0's `created`) to the apt sources. (apt-pin: https://manpages.debian.org/bookworm/apt/apt-get.8.en.html, https://snapshot.debian.org/)"
    );
    let no_date = Ctx {
        created: None,
        nested: false,
    };
    assert_eq!(
        advice(&curl, &no_date).unwrap(),
        "Install the version input 0 has: `apt-get install --no-install-recommends curl=7.88.1-10+deb12u15`. (apt-pin: https://manpages.debian.org/bookworm/apt/apt-get.8.en.html, https://snapshot.debian.org/)"
    );
    let musl = package("apk:musl", "1.2.4-r2 (x86_64)", "1.2.4-r3 (x86_64)");
    assert_eq!(id(&musl, &c), Some("apk-pin"));
    let text = advice(&musl, &c).unwrap();
    assert!(
        text.contains("`apk add musl=1.2.4-r2`") && !text.contains("snapshot"),
        "{text}"
    );
    let bash = package("rpm:bash", "5.1.8-6.el9", "5.1.8-9.el9");
    assert_eq!(id(&bash, &c), Some("rpm-pin"));
    assert!(
        advice(&bash, &c)
            .unwrap()
            .contains("`dnf install bash-5.1.8-6.el9`")
    );
    let requests = package("python:requests", "2.31.0", "2.32.3");
    assert_eq!(id(&requests, &c), Some("python-pin"));
    assert!(
        advice(&requests, &c)
            .unwrap()
            .contains("`pip install requests==2.31.0`")
    );
    // The architecture alone moved: no pin.
    assert_eq!(id(&package("dpkg:x", "1 (amd64)", "1 (i386)"), &c), None);
}

#[test]
fn a_file_of_a_moved_package_is_pinned_to_its_owner() {
    let c = ctx();
    let mut f = file("usr/bin/curl", vec![field("digest", Class::Content)]);
    f.class = Class::PackageChanged;
    f.owner = Some(Owner {
        ecosystem: "dpkg".to_owned(),
        name: "curl".to_owned(),
        lhs_version: Some("1.0 (amd64)".to_owned()),
        rhs_version: Some("1.1 (amd64)".to_owned()),
    });
    assert_eq!(id(&f, &c), Some("apt-pin"));
    f.class = Class::SamePackageContent;
    assert_eq!(id(&f, &c), None);
}

fn report_with(findings: Vec<Finding>) -> Findings {
    use crate::finding::{Comparison, Input, SCHEMA_VERSION, Summary, Tool, Verdict};
    let input = || Input {
        reference: "oci:x".to_owned(),
        transport: "oci".to_owned(),
        digest: None,
    };
    Findings {
        schema_version: SCHEMA_VERSION,
        tool: Tool {
            name: "ocidiff".to_owned(),
            version: "0".to_owned(),
            commit: "unknown".into(),
        },
        inputs: [input(), input()],
        rules: crate::normalize::Rules::default(),
        ignore_paths: vec![],
        config_file: None,
        comparisons: vec![Comparison {
            location: "manifests-0".to_owned(),
            platform: None,
            digests: [None, None],
            created: [None, None],
        }],
        summary: Summary::of(&findings),
        verdict: Verdict::of(&findings),
        findings,
    }
}

#[test]
fn fill_dates_each_manifest_by_its_own_config() {
    let mut report = report_with(vec![
        package("dpkg:curl", "1.0", "1.1"),
        mtime("etc/hostname"),
        content("etc/os-release"),
    ]);
    report.comparisons[0].created = [
        Some(CREATED.to_owned()),
        Some("2025-01-01T00:00:00Z".to_owned()),
    ];
    fill(&mut report);
    let advice: Vec<Option<&str>> = report
        .findings
        .iter()
        .map(|f| f.advice.as_deref())
        .collect();
    assert!(advice[0].unwrap().contains("/20240301T120000Z/"));
    assert!(advice[1].unwrap().contains(EPOCH));
    assert_eq!(advice[2], None);
}

#[test]
fn ids_are_unique_and_docs_list_every_advice_with_its_sources() {
    let docs = include_str!("../../../../../docs/advice.md");
    let mut ids: Vec<&str> = ADVICE.iter().map(|a| a.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), ADVICE.len(), "an id is used twice");
    for a in ADVICE {
        assert!(
            docs.contains(&format!("`{}`", a.id)),
            "docs/advice.md lacks {}",
            a.id
        );
        for source in a.sources {
            assert!(
                docs.contains(source),
                "docs/advice.md lacks {source} of {}",
                a.id
            );
        }
    }
}
