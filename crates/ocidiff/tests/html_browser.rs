//! The HTML report (`--report-html`) in a real browser: Debian's `chromium`, headless, with
//! every host unresolvable, opens a report of about 3,000 differences from a file. The page's
//! script must run to its end without error (it marks `body[data-ready]`), the console must
//! stay free of errors and Content-Security-Policy violations, the filter must find a row of a
//! large group whose rows are kept out of the DOM until needed, and a screenshot is kept in
//! `$CARGO_TARGET_TMPDIR/html_browser/`.
//!
//! Without chromium the tests skip (`ocidiff_testkit::skip`), a failure under
//! `OCIDIFF_REQUIRE_SERVICES=1`.

// Scenario tests read top to bottom, one setup and its checks: splitting them hides the story.
#![allow(clippy::too_many_lines)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use assert_cmd::cargo::CommandCargoExt as _;
use ocidiff_core::finding::{
    Class, Comparison, Detail, FieldDiff, Finding, Findings, Input, Kind, SCHEMA_VERSION, Summary,
    Tool, Verdict,
};
use ocidiff_core::normalize::Rules;
use ocidiff_core::report::html::write_html;
use ocidiff_testkit::skip::skip;
use ocidiff_testkit::{Entry, ImageSpec, Layer, write_oci_dir};
use serde_json::json;

/// Files whose content differs between the two images.
const FILES: usize = 3000;
const HOSTILE: &str = "<script>alert(1)</script>\"'.txt";

/// The chromium binary, or `None` when the test must skip (after saying so).
fn chromium() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser"].iter().find_map(|name| {
        std::env::split_paths(&std::env::var_os("PATH")?)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        skip("chromium is not installed (apt-get install chromium)");
    }
    found
}

/// A fresh directory under the test target's tmp dir, kept after the run for a look.
fn out_dir(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("html_browser")
        .join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs chromium headless on `page` (with `fragment` appended to its URL) with `args`: no
/// sandbox (root in a container), no GPU, no background traffic, and every host name
/// unresolvable, so that nothing can leave the machine.
fn run_chromium(chromium: &Path, dir: &Path, page: &Path, fragment: &str, args: &[&str]) -> Output {
    let profile = tempfile::tempdir().unwrap();
    let url = format!("file://{}{fragment}", page.display());
    let out = Command::new("timeout")
        .arg("180")
        .arg(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--disable-dev-shm-usage",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(&url)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "chromium failed on {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The page's DOM after its script ran; fails on a script error or a console error.
fn dump_dom(chromium: &Path, dir: &Path, page: &Path, fragment: &str) -> String {
    let out = run_chromium(chromium, dir, page, fragment, &["--dump-dom"]);
    let dom = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let console: Vec<&str> = stderr
        .lines()
        .filter(|l| {
            l.contains("CONSOLE")
                || l.contains("Uncaught")
                || l.contains("Content Security Policy")
                || l.contains("Content-Security-Policy")
        })
        .collect();
    assert!(
        console.is_empty(),
        "console output from the page:\n{}",
        console.join("\n")
    );
    assert!(
        !dom.contains("data-error="),
        "the page's script failed:\n{}",
        &dom[..dom.len().min(4000)]
    );
    assert!(
        dom.contains("data-ready=\"ok\""),
        "the page's script did not finish"
    );
    dom
}

/// Takes a 1400×1000 screenshot of `page` into `dir/name` and checks it is a real image.
fn screenshot(chromium: &Path, dir: &Path, page: &Path, fragment: &str, name: &str) -> PathBuf {
    let png = dir.join(name);
    run_chromium(
        chromium,
        dir,
        page,
        fragment,
        &[
            &format!("--screenshot={}", png.display()),
            "--window-size=1400,1000",
            "--hide-scrollbars",
        ],
    );
    let bytes = std::fs::read(&png).unwrap();
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is no PNG",
        png.display()
    );
    // A blank 1400×1000 page compresses to a few kB; a rendered report is far larger.
    assert!(
        bytes.len() > 30_000,
        "{} is nearly empty ({} bytes)",
        png.display(),
        bytes.len()
    );
    // Past libtest's capture: where to look, even when the test passes.
    let _ = writeln!(
        std::io::stderr(),
        "html_browser: screenshot in {}",
        png.display()
    );
    png
}

fn image(side: &str) -> ImageSpec {
    let mut entries = vec![
        Entry::dir("etc/"),
        Entry::file("etc/os-release", "ID=test\n"),
        Entry::file("etc/hostname", "box\n").mtime(if side == "a" {
            1_700_000_000
        } else {
            1_700_000_500
        }),
        Entry::dir("var/"),
        Entry::dir("var/log/"),
        Entry::file("var/log/dpkg.log", format!("installed at {side}\n")),
        Entry::dir("usr/"),
        Entry::dir("usr/share/"),
        Entry::dir("usr/share/data/"),
    ];
    for i in 0..FILES {
        entries.push(Entry::file(
            &format!("usr/share/data/file-{i:04}"),
            format!("{side}{i}\n"),
        ));
    }
    if side == "b" {
        entries.push(Entry::file(&format!("usr/share/{HOSTILE}"), "x"));
        entries.push(Entry::file("usr/share/perm", "p").mode(0o600));
    } else {
        entries.push(Entry::file("usr/share/perm", "p"));
    }
    ImageSpec::new().layer(Layer::new(entries))
}

#[test]
fn cli_report_of_thousands_of_rows() {
    let Some(chromium) = chromium() else {
        return;
    };
    let dir = out_dir("cli");
    let mut refs = Vec::new();
    for side in ["a", "b"] {
        let layout = dir.join(format!("image-{side}"));
        write_oci_dir(&layout, &[(side, image(side).into())]).unwrap();
        refs.push(format!("oci:{}:{side}", layout.display()));
    }
    let page = dir.join("report.html");
    let out = Command::cargo_bin("ocidiff")
        .unwrap()
        .args([
            "diff",
            "--ignore-file-timestamps",
            "--ignore-path",
            "/var/log/**",
            "--report-html",
        ])
        .arg(&page)
        .args(&refs)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.contains(&format!("data-total=\"{FILES}\"")),
        "no group of {FILES} rows"
    );
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;.txt"));
    assert!(!html.contains(HOSTILE));

    let dom = dump_dom(&chromium, &dir, &page, "");
    assert!(dom.contains("<div class=\"outcome\">different</div>"));
    // The large group's rows stay out of the DOM until it is opened.
    assert!(!dom.contains("title=\"usr/share/data/file-0042\""));
    assert!(dom.contains("title=\"usr/share/&lt;script&gt;alert(1)&lt;/script&gt;&quot;'.txt\""));

    // Filtering from the URL opens the group and puts the one matching row in.
    let dom = dump_dom(&chromium, &dir, &page, "#q=FILE-0042");
    assert!(
        dom.contains("title=\"usr/share/data/file-0042\""),
        "the filter did not find the row"
    );
    assert!(!dom.contains("title=\"usr/share/data/file-0043\""));
    assert!(
        dom.contains(">1 of 3,000<"),
        "the group's count is not updated"
    );

    screenshot(&chromium, &dir, &page, "", "report.png");
    screenshot(&chromium, &dir, &page, "#q=perm", "filtered.png");

    // Opened, the large group shows its first page of rows and offers the rest.
    let opened = dir.join("opened.html");
    let total = format!("data-total=\"{FILES}\"");
    std::fs::write(
        &opened,
        html.replacen(&format!("{total}>"), &format!("{total} open>"), 1),
    )
    .unwrap();
    let dom = dump_dom(&chromium, &dir, &opened, "");
    assert_eq!(dom.matches("title=\"usr/share/data/file-").count(), 500);
    assert!(
        dom.contains(">Show 500 more (2,500 not shown)</button>"),
        "no button for the rest"
    );
    screenshot(&chromium, &dir, &opened, "", "opened.png");
}

/// A report built in code, with what the engine may not produce for the images above: text
/// diffs, nested archive findings, ELF sections, notes, and hostile values everywhere.
fn detailed_report() -> Findings {
    let sha = |n: u8| format!("sha256:{}", format!("{n:02x}").repeat(32));
    let mut motd = Finding::new(
        Kind::File,
        "manifests-0/layers-1",
        "etc/motd",
        vec![
            FieldDiff::new(
                "digest",
                Some(json!(sha(1))),
                Some(json!(sha(2))),
                Class::Content,
            ),
            FieldDiff::new("size", Some(json!(40)), Some(json!(44)), Class::Content),
            FieldDiff::new(
                "mtime",
                Some(json!("2024-01-01T00:00:00Z")),
                Some(json!("2024-03-01T00:00:00Z")),
                Class::Timestamp,
            )
            .set_aside(),
        ],
    );
    motd.detail = Some(Detail {
        text_diff: Some(
            "--- a/etc/motd\n+++ b/etc/motd\n@@ -1,3 +1,3 @@\n Welcome\n-Built on Monday </script><script>alert(1)</script>\n+Built on Tuesday\n The end\n"
                .to_owned(),
        ),
        ..Detail::default()
    });
    let mut scripts = Finding::new(
        Kind::File,
        "manifests-0/layers-1",
        "lib/apk/db/scripts.tar",
        vec![
            FieldDiff::new(
                "digest",
                Some(json!(sha(3))),
                Some(json!(sha(4))),
                Class::NestedMetadata,
            )
            .set_aside(),
        ],
    );
    scripts.detail = Some(Detail {
        nested: vec![Finding::new(
            Kind::File,
            "lib/apk/db/scripts.tar",
            "busybox-1.36.1-r2.post-install",
            vec![
                FieldDiff::new(
                    "mtime",
                    Some(json!("2024-01-01T00:00:00Z")),
                    Some(json!("2024-03-01T00:00:00Z")),
                    Class::Timestamp,
                )
                .set_aside(),
            ],
        )],
        ..Detail::default()
    });
    let mut elf = Finding::new(
        Kind::File,
        "manifests-0/layers-1",
        "usr/bin/app",
        vec![FieldDiff::new(
            "digest",
            Some(json!(sha(5))),
            Some(json!(sha(6))),
            Class::Content,
        )],
    );
    elf.detail = Some(Detail {
        elf_sections: vec![".text".to_owned(), ".note.gnu.build-id".to_owned()],
        note: Some("too large for a text diff".to_owned()),
        ..Detail::default()
    });
    let findings = vec![
        Finding::new(
            Kind::Config,
            "manifests-0/config",
            ".config.Env",
            vec![FieldDiff::new(
                "value",
                Some(json!(["PATH=/usr/bin", "A=1"])),
                Some(json!(["PATH=/usr/bin", "A=</script>"])),
                Class::ConfigField,
            )],
        ),
        motd,
        elf,
        scripts,
        Finding::new(
            Kind::File,
            "manifests-0/layers-1",
            &format!("evil/{HOSTILE}\u{202e}\u{1b}[2J"),
            vec![FieldDiff::new(
                "entry",
                None,
                Some(json!({"type": "file", "mode": "0644", "size": 1})),
                Class::Added,
            )],
        ),
    ];
    Findings {
        schema_version: SCHEMA_VERSION,
        tool: Tool {
            name: "ocidiff".to_owned(),
            version: "test".to_owned(),
            commit: "unknown".into(),
        },
        inputs: [
            Input {
                reference: "oci:a".to_owned(),
                transport: "oci".to_owned(),
                digest: Some(sha(7).parse().unwrap()),
            },
            Input {
                reference: format!("oci:{HOSTILE}"),
                transport: "oci".to_owned(),
                digest: None,
            },
        ],
        rules: Rules::semantic(),
        ignore_paths: vec!["/var/log/**".to_owned()],
        config_file: None,
        comparisons: vec![Comparison {
            location: "manifests-0".to_owned(),
            platform: None,
            digests: [Some(sha(8).parse().unwrap()), Some(sha(9).parse().unwrap())],
            created: [None, None],
        }],
        verdict: Verdict::of(&findings),
        summary: Summary::of(&findings),
        findings,
    }
}

#[test]
fn details_and_hostile_values() {
    let Some(chromium) = chromium() else {
        return;
    };
    let dir = out_dir("details");
    let page = dir.join("report.html");
    let mut file = std::fs::File::create(&page).unwrap();
    write_html(&detailed_report(), &mut file).unwrap();
    drop(file);

    let dom = dump_dom(&chromium, &dir, &page, "");
    // No script from the data ran: only the page's own two script elements exist.
    assert_eq!(dom.matches("<script").count(), 2, "{dom}");
    assert!(dom.contains("<span class=\"add\">+Built on Tuesday\n</span>"));
    assert!(dom.contains("busybox-1.36.1-r2.post-install"));
    screenshot(&chromium, &dir, &page, "", "report.png");
}
