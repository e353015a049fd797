//! Reports built by hand for the renderers' tests, shared by all of them.
//!
//! They live here rather than in `ocidiff-testkit` because they are made of this crate's
//! types: the test kit would need `ocidiff-core` as a dependency, and a unit-test build would
//! then see two copies of `Findings` that do not match.

use serde_json::{Value, json};

use crate::finding::{
    Class, Comparison, Detail, FieldDiff, Finding, Findings, Input, Kind, Owner, SCHEMA_VERSION,
    Summary, Tool, Verdict,
};
use crate::model::Digest;
use crate::normalize::Rules;

fn sha(n: u8) -> String {
    Digest::sha256_of(&[n]).to_string()
}

fn fd(field: &str, lhs: Option<Value>, rhs: Option<Value>) -> FieldDiff {
    FieldDiff::new(field, lhs, rhs, Class::Content)
}

/// A report with findings of every kind, added and removed entries and multi-field rows.
// A fixture: one literal report, read top to bottom; splitting it would scatter its rows.
#[allow(clippy::too_many_lines)]
pub(crate) fn sample_report() -> Findings {
    let findings = vec![
        Finding::new(
            Kind::Descriptor,
            "manifests-0",
            "",
            vec![
                fd("digest", Some(json!(sha(1))), Some(json!(sha(2)))),
                fd("size", Some(json!(1234)), Some(json!(1240))),
            ],
        ),
        Finding::new(
            Kind::Index,
            "index",
            ".manifests",
            vec![fd(
                "value",
                Some(json!([{"digest": sha(3)}])),
                Some(json!([{"digest": sha(4)}, {"digest": sha(5)}])),
            )],
        ),
        Finding::new(
            Kind::Manifest,
            "manifests-0",
            ".annotations[\"org.opencontainers.image.created\"]",
            vec![fd("value", Some(json!("2024-01-01T00:00:00Z")), None)],
        ),
        Finding::new(
            Kind::Config,
            "manifests-0/config",
            ".config.Env",
            vec![fd(
                "value",
                Some(json!([
                    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
                ])),
                Some(json!(["PATH=/usr/bin", "LANG=C.UTF-8"])),
            )],
        ),
        Finding::new(
            Kind::Layer,
            "manifests-0/layers-1",
            "",
            vec![fd(
                "mediaType",
                Some(json!("application/vnd.oci.image.layer.v1.tar+gzip")),
                Some(json!("application/vnd.oci.image.layer.v1.tar+zstd")),
            )],
        ),
        Finding::new(
            Kind::File,
            "manifests-0/layers-1",
            "etc/os-release",
            vec![
                fd("digest", Some(json!(sha(6))), Some(json!(sha(7)))),
                fd(
                    "mtime",
                    Some(json!("2024-01-01T00:00:00Z")),
                    Some(json!("2024-02-01T00:00:00Z")),
                ),
                fd("mode", Some(json!("0644")), Some(json!("0755"))),
            ],
        ),
        Finding::new(
            Kind::File,
            "manifests-0/layers-1",
            "usr/bin/new-tool",
            vec![fd(
                "entry",
                None,
                Some(
                    json!({"type": "file", "mode": "0755", "uid": 0, "gid": 0, "size": 5, "digest": sha(9)}),
                ),
            )],
        ),
        Finding::new(
            Kind::File,
            "manifests-0/layers-1",
            "var/lib/gone",
            vec![fd(
                "entry",
                Some(json!({"type": "directory", "mode": "0755", "uid": 0, "gid": 0})),
                None,
            )],
        ),
        Finding::new(
            Kind::File,
            "manifests-0/layers-1",
            "etc/ssl/certs/ca-certificates-from-a-very-long-directory-name/bundle.crt",
            vec![
                fd("linkname", None, Some(json!("../x"))),
                fd("size", Some(json!(10)), Some(json!(0))),
            ],
        ),
        Finding::new(
            Kind::File,
            "manifests-0/layers-1",
            "evil\n\u{1b}[2Jname",
            vec![fd("uid", Some(json!(0)), Some(json!(1000)))],
        ),
    ];
    Findings {
        schema_version: SCHEMA_VERSION,
        tool: Tool {
            name: "ocidiff".to_owned(),
            version: "0.1.0".to_owned(),
            commit: "unknown".into(),
        },
        inputs: [
            Input {
                reference: "oci:a".to_owned(),
                transport: "oci".to_owned(),
                digest: Some(sha(8).parse().unwrap()),
            },
            Input {
                reference: "docker-archive:b.tar".to_owned(),
                transport: "docker-archive".to_owned(),
                digest: None,
            },
        ],
        rules: Rules::default(),
        ignore_paths: vec![],
        config_file: None,
        verdict: Verdict::of(&findings),
        comparisons: vec![Comparison {
            location: "manifests-0".to_owned(),
            platform: None,
            digests: [Some(sha(3).parse().unwrap()), Some(sha(4).parse().unwrap())],
            created: [
                Some("2024-03-01T12:00:00Z".to_owned()),
                Some("2024-03-08T12:00:00Z".to_owned()),
            ],
        }],
        summary: Summary::of(&findings),
        findings,
    }
}

/// Tries to end a script, add an element and break out of an attribute.
pub(crate) const HOSTILE: &str =
    "</script><script>alert(1)</script><img src=x onerror=alert(2)>\"'&";

/// The table's sample plus what only the HTML and Markdown show: findings set aside, a
/// text diff, nested findings, ELF sections, a note, advice, and hostile names and values.
pub(crate) fn rich_report() -> Findings {
    let mut report = sample_report();
    let ts = |l: &str, r: &str| {
        FieldDiff::new("mtime", Some(json!(l)), Some(json!(r)), Class::Timestamp).set_aside()
    };
    let mut text = Finding::new(
        Kind::File,
        "manifests-0/layers-1",
        "etc/motd",
        vec![FieldDiff::new(
            "digest",
            Some(json!("sha256:aa")),
            Some(json!("sha256:bb")),
            Class::Content,
        )],
    );
    text.detail = Some(Detail {
        text_diff: Some("--- a/etc/motd\n+++ b/etc/motd\n@@ -1,2 +1,2 @@\n hello\n-old <b>line</b>\n+new line\n".to_owned()),
        truncated: true,
        ..Detail::default()
    });
    let mut archive = Finding::new(
        Kind::File,
        "manifests-0/layers-1",
        "lib/apk/db/scripts.tar",
        vec![
            FieldDiff::new(
                "digest",
                Some(json!("sha256:cc")),
                Some(json!("sha256:dd")),
                Class::NestedMetadata,
            )
            .set_aside(),
        ],
    );
    archive.detail = Some(Detail {
        nested: vec![Finding::new(
            Kind::File,
            "lib/apk/db/scripts.tar",
            "busybox-1.36.post-install",
            vec![ts("2024-01-01T00:00:00Z", "2024-03-01T00:00:00Z")],
        )],
        ..Detail::default()
    });
    let mut elf = Finding::new(
        Kind::File,
        "manifests-0/layers-1",
        "usr/bin/tool",
        vec![FieldDiff::new(
            "digest",
            Some(json!("sha256:ee")),
            Some(json!("sha256:ff")),
            Class::Content,
        )],
    );
    elf.detail = Some(Detail {
        elf_sections: vec![".text".to_owned(), ".note.gnu.build-id".to_owned()],
        note: Some(format!("too large to diff {HOSTILE}")),
        ..Detail::default()
    });
    let mut log = Finding::new(
        Kind::File,
        "manifests-0/layers-1",
        "var/log/dpkg.log",
        vec![ts("2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z")],
    );
    log.advice = Some(format!(
        "Delete `/var/log/dpkg.log` <in the same step> {HOSTILE}"
    ));
    report.findings.extend([
        text,
        archive,
        elf,
        Finding::new(
            Kind::File,
            "manifests-0/layers-1",
            HOSTILE,
            vec![FieldDiff::new(
                "linkname",
                Some(json!(HOSTILE)),
                None,
                Class::Content,
            )],
        ),
        log,
    ]);
    report.inputs[1].reference = format!("oci:{HOSTILE}");
    report.ignore_paths = vec!["/var/log/**".to_owned()];
    report.rules.ignore_file_timestamps = true;
    refresh(&mut report);
    report
}

pub(crate) fn refresh(report: &mut Findings) {
    report.verdict = Verdict::of(&report.findings);
    report.summary = Summary::of(&report.findings);
}

/// A file whose `field` differs, in the first layer of the first manifest: many of them make
/// a large report.
pub(crate) fn file_change(
    name: &str,
    field: &str,
    lhs: Value,
    rhs: Value,
    class: Class,
) -> Finding {
    Finding::new(
        Kind::File,
        "manifests-0/layers-0",
        name,
        vec![FieldDiff::new(field, Some(lhs), Some(rhs), class)],
    )
}

/// A path of 300 characters: never shortened in any report.
pub(crate) fn long_path() -> String {
    let dir = "a-directory-with-a-rather-long-name/";
    let mut path = String::from("usr/share/");
    while path.chars().count() + dir.len() < 290 {
        path.push_str(dir);
    }
    while path.chars().count() < 296 {
        path.push('x');
    }
    path.push_str(".txt");
    path
}

/// The config's `created`, set aside, with its advice.
fn created() -> Finding {
    let mut created = Finding::new(
        Kind::Config,
        "manifests-0/config",
        ".created",
        vec![
            FieldDiff::new(
                "value",
                Some(json!("2024-03-01T12:00:00Z")),
                Some(json!("2024-03-08T12:00:00Z")),
                Class::Timestamp,
            )
            .set_aside(),
        ],
    );
    created.advice = Some("Build with SOURCE_DATE_EPOCH=1709294400.".to_owned());
    created
}

/// What `--packages` finds, in walk order (file findings first, then the packages): files of
/// every package class, a runtime-dependent entry, a file no package owns, a derived digest
/// and a set-aside timestamp, to check the review order; the package and the timestamp with
/// advice.
pub(crate) fn review_report() -> Findings {
    let owned = |name: &str, class: Class, package: &str, versions: [Option<&str>; 2]| {
        let mut f = file_change(name, "digest", json!(sha(1)), json!(sha(2)), class);
        f.owner = Some(Owner {
            ecosystem: "dpkg".to_owned(),
            name: package.to_owned(),
            lhs_version: versions[0].map(str::to_owned),
            rhs_version: versions[1].map(str::to_owned),
        });
        f
    };
    let package = |name: &str, field: FieldDiff| {
        Finding::new(Kind::Package, "manifests-0/packages", name, vec![field])
    };
    let pinned = |mut f: Finding| {
        f.advice = Some(
            "Install the version input 0 has: `apt-get install --no-install-recommends foo=1.0`."
                .to_owned(),
        );
        f
    };
    let mut report = sample_report();
    report.findings = vec![
        Finding::new(
            Kind::Descriptor,
            "manifests-0/layers-0",
            "",
            vec![FieldDiff::new(
                "digest",
                Some(json!(sha(3))),
                Some(json!(sha(4))),
                Class::Derived,
            )],
        ),
        created(),
        owned(
            "usr/bin/foo",
            Class::PackageChanged,
            "foo",
            [Some("1.0"), Some("1.1")],
        ),
        owned(
            "usr/bin/bar",
            Class::SamePackageContent,
            "bar",
            [Some("2.0"), Some("2.0")],
        ),
        file_change(
            "etc/motd",
            "digest",
            json!(sha(5)),
            json!(sha(6)),
            Class::Unowned,
        ),
        file_change(
            "var/lib/dpkg/status",
            "digest",
            json!(sha(7)),
            json!(sha(8)),
            Class::PackageChanged,
        ),
        owned(
            "usr/bin/new",
            Class::PackageChanged,
            "new",
            [None, Some("3")],
        ),
        file_change(
            "etc/twice",
            "runtime",
            json!("duplicate-path"),
            json!(null),
            Class::RuntimeDependent,
        ),
        file_change(&long_path(), "size", json!(1), json!(2), Class::Content),
        pinned(package(
            "dpkg:foo",
            FieldDiff::new(
                "version",
                Some(json!("1.0 (amd64)")),
                Some(json!("1.1 (amd64)")),
                Class::PackageVersion,
            ),
        )),
        package(
            "dpkg:new",
            FieldDiff::new("entry", None, Some(json!("3 (amd64)")), Class::Added),
        ),
    ];
    refresh(&mut report);
    report
}
