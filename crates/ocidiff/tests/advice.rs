//! Advice in the reports (docs/advice.md): a rebuild whose file times and `dpkg.log` differ
//! from the published image is told how to match it.

use assert_cmd::Command;
use ocidiff_testkit::{Entry, ImageSpec, Layer, write_oci_dir};
use serde_json::{Value, json};

/// Input 0's `created`, 2024-03-01T12:00:00Z, in seconds.
const EPOCH: &str = "1709294400";

fn spec(mtime: u64, log: &str, created: &str) -> ImageSpec {
    ImageSpec::new()
        .layer(Layer::new(vec![
            Entry::file("etc/hostname", "box\n").mtime(mtime),
            Entry::file("var/log/dpkg.log", log).mtime(1),
        ]))
        .config_field("created", json!(created))
}

fn finding<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("no finding {name} in {report:#}"))
}

#[test]
fn the_json_report_advises_on_timestamps_and_logs() {
    let dir = tempfile::tempdir().unwrap();
    let (l, r) = (dir.path().join("published"), dir.path().join("rebuild"));
    let published = spec(1, "2024-03-01 install curl\n", "2024-03-01T12:00:00Z");
    let rebuild = spec(2, "2024-03-08 install curl\n", "2024-03-08T12:00:00Z");
    write_oci_dir(&l, &[("", published.into())]).unwrap();
    write_oci_dir(&r, &[("", rebuild.into())]).unwrap();
    let out = Command::cargo_bin("ocidiff")
        .unwrap()
        .args(["diff", "--report-file", "-"])
        .args([&l, &r])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["comparisons"][0]["created"],
        json!(["2024-03-01T12:00:00Z", "2024-03-08T12:00:00Z"])
    );

    let hostname = finding(&report, "etc/hostname");
    assert_eq!(hostname["class"], "timestamp");
    let advice = hostname["advice"].as_str().unwrap();
    assert!(
        advice.contains(&format!("SOURCE_DATE_EPOCH={EPOCH}")),
        "{advice}"
    );
    assert!(advice.contains("rewrite-timestamp=true"), "{advice}");
    assert!(advice.contains("(file-timestamps: "), "{advice}");

    let log = finding(&report, "var/log/dpkg.log");
    assert_eq!(log["class"], "content");
    let advice = log["advice"].as_str().unwrap();
    assert!(advice.contains("rm -f /var/log/dpkg.log"), "{advice}");
    assert!(advice.contains("(var-log: "), "{advice}");

    let created = finding(&report, ".created");
    assert!(
        created["advice"]
            .as_str()
            .unwrap()
            .contains(&format!("--timestamp {EPOCH}"))
    );
    // Derived digests have no remedy of their own.
    for f in report["findings"].as_array().unwrap() {
        if f["class"] == "derived" {
            assert!(f.get("advice").is_none(), "{f:#}");
        }
    }
}

#[test]
fn verbose_table_shows_the_advice_under_its_row() {
    let dir = tempfile::tempdir().unwrap();
    let (l, r) = (dir.path().join("published"), dir.path().join("rebuild"));
    write_oci_dir(&l, &[("", spec(1, "a\n", "2024-03-01T12:00:00Z").into())]).unwrap();
    write_oci_dir(&r, &[("", spec(2, "a\n", "2024-03-01T12:00:00Z").into())]).unwrap();
    let table = |args: &[&str]| {
        let out = Command::cargo_bin("ocidiff")
            .unwrap()
            .arg("diff")
            .args(args)
            .args([&l, &r])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    let verbose = table(&["--verbose"]);
    let lines: Vec<&str> = verbose.lines().collect();
    let row = lines
        .iter()
        .position(|l| l.starts_with("File") && l.contains("etc/hostname"))
        .unwrap_or_else(|| panic!("{verbose}"));
    assert!(
        lines[row + 1].starts_with("    advice: Build with SOURCE_DATE_EPOCH=1709294400 "),
        "{verbose}"
    );
    assert!(!table(&[]).contains("advice:"));
}
