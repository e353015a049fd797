//! Every comparison option checked for its effect: one image pair per rule, differing only in
//! what the rule ignores, run without any option (a difference, named), with the rule's own
//! option (none), with `--semantic` (none unless the rule is outside it), and with every other
//! option but that one (still the difference: an option must not ignore what another names).

// Scenario tests read top to bottom, one setup and its checks: splitting them hides the story.
#![allow(clippy::too_many_lines)]

use std::path::Path;

use assert_cmd::Command;
use ocidiff_testkit::{Compression, Entry, ImageSpec, Layer, MediaStyle, TarFormat, write_oci_dir};
use serde_json::json;

/// The options that switch one rule on, as the CLI spells them.
const RULES: &[&str] = &[
    "--ignore-history",
    "--ignore-file-order",
    "--ignore-file-mode-redundant-bits",
    "--ignore-file-timestamps",
    "--ignore-image-timestamps",
    "--ignore-image-name",
    "--ignore-tar-format",
    "--treat-canonical-paths-equal",
    "--ignore-owner-names",
    "--ignore-mount-points",
    "--ignore-builder-metadata",
    "--ignore-storage-format",
];

struct Case {
    name: &'static str,
    /// The options that make the pair the same; `--semantic` too when `semantic`.
    options: &'static [&'static str],
    semantic: bool,
    lhs: ImageSpec,
    rhs: ImageSpec,
    /// What the strict table shows: `(row type, text in the row)`.
    strict_row: (&'static str, &'static str),
}

fn files(entries: Vec<Entry>) -> ImageSpec {
    ImageSpec::new().layer(Layer::new(entries))
}

fn base() -> Vec<Entry> {
    vec![
        Entry::dir("etc/"),
        Entry::file("etc/hostname", "box\n"),
        Entry::file("etc/motd", "hello\n"),
    ]
}

fn history(created_by: &str) -> serde_json::Value {
    json!([{"created": "2023-11-14T22:13:20Z", "created_by": created_by}])
}

fn cases() -> Vec<Case> {
    let image = || files(base());
    vec![
        Case {
            name: "history",
            options: &["--ignore-history"],
            semantic: true,
            lhs: image().config_field("history", history("RUN make")),
            rhs: image().config_field("history", history("RUN make -j8")),
            strict_row: ("Cfg", ".history[0]"),
        },
        Case {
            name: "file order",
            options: &["--ignore-file-order"],
            semantic: true,
            lhs: image(),
            rhs: files({
                let mut e = base();
                e.swap(1, 2);
                e
            }),
            strict_row: ("File", "etc/hostname"),
        },
        Case {
            name: "redundant mode bits",
            options: &["--ignore-file-mode-redundant-bits"],
            semantic: true,
            lhs: image(),
            rhs: files({
                let mut e = base();
                e[1] = Entry::file("etc/hostname", "box\n").mode(0o100_644);
                e
            }),
            strict_row: ("File", "etc/hostname"),
        },
        Case {
            name: "file timestamps",
            options: &["--ignore-file-timestamps", "--ignore-timestamps"],
            semantic: true,
            lhs: image(),
            rhs: files({
                let mut e = base();
                e[2] = Entry::file("etc/motd", "hello\n").mtime(1_800_000_000);
                e
            }),
            strict_row: ("File", "etc/motd"),
        },
        Case {
            name: "image timestamps",
            options: &["--ignore-image-timestamps", "--ignore-timestamps"],
            semantic: true,
            lhs: image(),
            rhs: image()
                .config_field("created", json!("2024-02-29T12:00:00Z"))
                .annotation("org.opencontainers.image.created", "2024-02-29T12:00:00Z"),
            strict_row: ("Cfg", ".created"),
        },
        Case {
            name: "image name",
            options: &["--ignore-image-name"],
            semantic: true,
            lhs: image().annotation("io.containerd.image.name", "example.com/app:1"),
            rhs: image().annotation("io.containerd.image.name", "example.com/app:2"),
            strict_row: ("Mani", "io.containerd.image.name"),
        },
        Case {
            name: "tar format",
            options: &["--ignore-tar-format"],
            semantic: true,
            lhs: image(),
            rhs: ImageSpec::new().layer(Layer::new(base()).format(TarFormat::Pax)),
            strict_row: ("File", "etc/hostname"),
        },
        Case {
            name: "canonical paths",
            options: &["--treat-canonical-paths-equal"],
            semantic: true,
            lhs: image(),
            rhs: files(vec![
                Entry::dir("./etc/"),
                Entry::file("./etc/hostname", "box\n"),
                Entry::file("/etc/motd", "hello\n"),
            ]),
            strict_row: ("File", "etc/hostname"),
        },
        Case {
            name: "owner names",
            options: &["--ignore-owner-names"],
            semantic: true,
            lhs: image(),
            rhs: files({
                let mut e = base();
                e[2] = Entry::file("etc/motd", "hello\n")
                    .uname("root")
                    .gname("root");
                e
            }),
            strict_row: ("File", "etc/motd"),
        },
        Case {
            name: "mount points",
            options: &["--ignore-mount-points"],
            semantic: true,
            lhs: image(),
            rhs: files({
                let mut e = base();
                e.extend([
                    Entry::dir("dev/"),
                    Entry::file("etc/hosts", ""),
                    Entry::dir("run/").mode(0o755),
                ]);
                e
            }),
            strict_row: ("File", "etc/hosts"),
        },
        Case {
            name: "builder metadata",
            options: &["--ignore-builder-metadata"],
            semantic: true,
            lhs: image().config_field("config", json!({"Cmd": ["/bin/sh"]})),
            rhs: image()
                .config_field(
                    "config",
                    json!({"Cmd": ["/bin/sh"], "ArgsEscaped": true,
                           "Labels": {"io.buildah.version": "1.28.2"}}),
                )
                .annotation(
                    "org.opencontainers.image.base.name",
                    "docker.io/library/busybox:1",
                ),
            strict_row: ("Cfg", "io.buildah.version"),
        },
        Case {
            name: "storage format",
            options: &["--ignore-storage-format"],
            semantic: true,
            lhs: image(),
            rhs: ImageSpec::new()
                .layer(Layer::new(base()).compression(Compression::Zstd))
                .media(MediaStyle::Docker),
            strict_row: ("Desc", "mediaType"),
        },
        Case {
            name: "layer split",
            options: &["--flatten"],
            semantic: false,
            lhs: image(),
            rhs: ImageSpec::new()
                .layer(Layer::new(base()[..2].to_vec()))
                .layer(Layer::new(base()[2..].to_vec()))
                .config_field(
                    "history",
                    json!([
                        {"created": "2023-11-14T22:13:20Z", "created_by": "testkit layer 0"},
                        {"created": "2023-11-14T22:13:20Z", "created_by": "testkit layer 1"},
                    ]),
                ),
            strict_row: ("Mani", ".layers"),
        },
    ]
}

struct Outcome {
    code: Option<i32>,
    table: String,
}

fn diff(lhs: &Path, rhs: &Path, options: &[&str]) -> Outcome {
    let out = Command::cargo_bin("ocidiff")
        .unwrap()
        .arg("diff")
        .args(options)
        .arg(lhs)
        .arg(rhs)
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{options:?}: {}{table}",
        String::from_utf8_lossy(&out.stderr)
    );
    Outcome {
        code: out.status.code(),
        table,
    }
}

fn has_row(table: &str, (kind, text): (&str, &str)) -> bool {
    table
        .lines()
        .any(|l| l.starts_with(kind) && l.contains(text))
}

#[test]
fn each_option_ignores_its_difference_and_no_other() {
    let dir = tempfile::tempdir().unwrap();
    for (n, case) in cases().into_iter().enumerate() {
        let name = case.name;
        let lhs = dir.path().join(format!("{n}-lhs"));
        let rhs = dir.path().join(format!("{n}-rhs"));
        write_oci_dir(&lhs, &[("t", case.lhs.into())]).unwrap();
        write_oci_dir(&rhs, &[("t", case.rhs.into())]).unwrap();

        let strict = diff(&lhs, &rhs, &[]);
        assert_eq!(strict.code, Some(1), "{name}: strict\n{}", strict.table);
        assert!(
            has_row(&strict.table, case.strict_row),
            "{name}: strict table lacks {:?}\n{}",
            case.strict_row,
            strict.table
        );

        let mut sames: Vec<Vec<&str>> = case.options.iter().map(|o| vec![*o]).collect();
        if case.options.contains(&"--flatten") {
            sames = vec![vec!["--flatten", "--semantic"]];
        }
        if case.semantic {
            sames.push(vec!["--semantic"]);
        }
        for options in sames {
            let run = diff(&lhs, &rhs, &options);
            assert_eq!(run.code, Some(0), "{name}: {options:?}\n{}", run.table);
            assert_eq!(run.table, "", "{name}: {options:?}");
        }

        if !case.semantic {
            let run = diff(&lhs, &rhs, &["--semantic"]);
            assert_eq!(run.code, Some(1), "{name}: --semantic alone\n{}", run.table);
        }

        // Every rule but this case's own (`--ignore-timestamps` is two of them; the layer
        // split has none in the list): the difference is still there.
        let others: Vec<&str> = RULES
            .iter()
            .copied()
            .filter(|r| !case.options.contains(r))
            .collect();
        let run = diff(&lhs, &rhs, &others);
        assert_eq!(run.code, Some(1), "{name}: {others:?}\n{}", run.table);
        assert!(
            has_row(&run.table, case.strict_row),
            "{name}: {others:?} lacks {:?}\n{}",
            case.strict_row,
            run.table
        );
    }
}

#[test]
fn ignore_path_sets_aside_the_files_it_matches_and_only_those() {
    let dir = tempfile::tempdir().unwrap();
    let lhs = dir.path().join("lhs");
    let rhs = dir.path().join("rhs");
    let mut changed = base();
    changed[2] = Entry::file("etc/motd", "hello again\n");
    write_oci_dir(&lhs, &[("t", files(base()).into())]).unwrap();
    write_oci_dir(&rhs, &[("t", files(changed).into())]).unwrap();
    // (options, exit code, whether the motd row counts): without a rule, the differing layer
    // digests still count when the file is set aside.
    for (options, code, shown) in [
        (&["--semantic"][..], 1, true),
        (&["--semantic", "--ignore-path", "/etc/motd"], 0, false),
        (&["--semantic", "--ignore-path", "etc/*"], 0, false),
        (&["--semantic", "--ignore-path", "/etc"], 0, false),
        (&["--semantic", "--ignore-path", "etc/host*"], 1, true),
        (&["--semantic", "--ignore-path", "/motd"], 1, true),
        (&["--ignore-path", "/etc/motd"], 1, false),
    ] {
        let run = diff(&lhs, &rhs, options);
        assert_eq!(run.code, Some(code), "{options:?}\n{}", run.table);
        assert_eq!(
            has_row(&run.table, ("File", "etc/motd")),
            shown,
            "{options:?}\n{}",
            run.table
        );
    }
}

#[test]
fn flatten_and_packages_alone_still_compare_digests() {
    // Neither ignores anything: the digests that differ with a timestamp still count.
    let dir = tempfile::tempdir().unwrap();
    let lhs = dir.path().join("lhs");
    let rhs = dir.path().join("rhs");
    let mut touched = base();
    touched[2] = Entry::file("etc/motd", "hello\n").mtime(1_800_000_000);
    write_oci_dir(&lhs, &[("t", files(base()).into())]).unwrap();
    write_oci_dir(&rhs, &[("t", files(touched).into())]).unwrap();
    for option in ["--flatten", "--packages"] {
        let run = diff(&lhs, &rhs, &[option]);
        assert_eq!(run.code, Some(1), "{option}\n{}", run.table);
        assert!(
            has_row(&run.table, ("Desc", "manifests-0/config")),
            "{option}\n{}",
            run.table
        );
    }
}

#[test]
fn a_path_set_aside_says_why_in_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let lhs = dir.path().join("lhs");
    let rhs = dir.path().join("rhs");
    let report = dir.path().join("report.json");
    let mut changed = base();
    changed[2] = Entry::file("etc/motd", "hello again\n");
    write_oci_dir(&lhs, &[("t", files(base()).into())]).unwrap();
    write_oci_dir(&rhs, &[("t", files(changed).into())]).unwrap();
    let report_arg = report.to_str().unwrap();
    let run = diff(
        &lhs,
        &rhs,
        &[
            "--semantic",
            "--ignore-path",
            "/etc/motd",
            "--report-file",
            report_arg,
        ],
    );
    assert_eq!(run.code, Some(0));
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let motd = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "etc/motd")
        .unwrap();
    assert_eq!(motd["class"], "ignored-path");
    assert_eq!(
        motd["explanation"],
        "the path matches --ignore-path; set aside as asked"
    );
}

#[test]
fn semantic_still_counts_what_the_container_runs_as() {
    let dir = tempfile::tempdir().unwrap();
    let lhs = dir.path().join("lhs");
    let rhs = dir.path().join("rhs");
    let runs_as = |user: &str| {
        files(base()).config_field(
            "config",
            json!({"User": user, "Env": ["PATH=/bin"], "Cmd": ["/bin/sh"]}),
        )
    };
    write_oci_dir(&lhs, &[("t", runs_as("nobody").into())]).unwrap();
    write_oci_dir(&rhs, &[("t", runs_as("").into())]).unwrap();
    for options in [&[][..], &["--semantic"], &["--semantic", "--flatten"]] {
        let run = diff(&lhs, &rhs, options);
        assert_eq!(run.code, Some(1), "{options:?}\n{}", run.table);
        assert!(
            has_row(&run.table, ("Cfg", ".config.User")),
            "{options:?}\n{}",
            run.table
        );
    }
}
