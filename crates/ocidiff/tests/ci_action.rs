//! The GitHub Action's script (`scripts/ci-action.sh`, which `action.yml` calls) run as a runner
//! runs it: `GITHUB_OUTPUT`, `GITHUB_STEP_SUMMARY`, `RUNNER_TEMP` and the inputs as `INPUT_*`,
//! on the example images. Installing from a release is tested against a release directory on
//! disk (`file://`), with the build under test as its asset.

mod common;

use common::{have, skip};

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A runner's files for one step: its temp dir, output file and job summary.
struct Runner {
    dir: tempfile::TempDir,
}

struct Step {
    code: Option<i32>,
    stderr: String,
    outputs: HashMap<String, String>,
    summary: String,
}

impl Runner {
    fn new() -> Runner {
        Runner {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs `scripts/ci-action.sh STEP` with these inputs (`INPUT_` and upper case added).
    fn step(&self, step: &str, inputs: &[(&str, &str)], env: &[(&str, &Path)]) -> Step {
        let (output, summary) = (self.path("github_output"), self.path("step_summary"));
        std::fs::create_dir_all(self.path("runner_temp")).unwrap();
        let mut cmd = Command::new("bash");
        cmd.arg(repo().join("scripts/ci-action.sh"))
            .arg(step)
            .env("GITHUB_OUTPUT", &output)
            .env("GITHUB_STEP_SUMMARY", &summary)
            .env("RUNNER_TEMP", self.path("runner_temp"))
            .env("RUNNER_ARCH", "X64")
            .env("OCIDIFF_STORE", self.path("store"))
            .env("DOCKER_CONFIG", self.path("no-docker-config"));
        for (name, value) in inputs {
            cmd.env(format!("INPUT_{}", name.to_uppercase()), value);
        }
        for (name, value) in env {
            cmd.env(name, value);
        }
        let out = cmd.output().unwrap();
        let outputs = std::fs::read_to_string(&output)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        // Each step starts with empty files, as each job does.
        let _ = std::fs::remove_file(&output);
        let summary_text = std::fs::read_to_string(&summary).unwrap_or_default();
        let _ = std::fs::remove_file(&summary);
        Step {
            code: out.status.code(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            outputs,
            summary: summary_text,
        }
    }

    fn run(&self, inputs: &[(&str, &str)]) -> Step {
        let bin = Path::new(env!("CARGO_BIN_EXE_ocidiff"));
        self.step("run", inputs, &[("OCIDIFF", bin)])
    }
}

fn example(name: &str) -> String {
    repo().join("examples").join(name).display().to_string()
}

#[test]
fn different_images_fail_the_step_with_a_summary_and_reports() {
    let runner = Runner::new();
    let (v1, v2) = (example("hello-v1"), example("hello-v2.tar"));
    let step = runner.run(&[("image0", &v1), ("image1", &v2), ("args", "--semantic")]);
    assert_eq!(step.code, Some(1), "{}", step.stderr);
    assert_eq!(step.outputs["exit-code"], "1");
    assert_eq!(step.outputs["verdict"], "different");
    let reports = runner.path("runner_temp/ocidiff-report");
    assert_eq!(Path::new(&step.outputs["report-dir"]), reports);
    // The job summary is ocidiff's Markdown, also kept as summary.md for the artifact.
    let summary = std::fs::read_to_string(&step.outputs["summary"]).unwrap();
    assert_eq!(step.summary, summary);
    assert!(summary.contains("etc/hello/run.sh"), "{summary}");
    assert!(summary.contains("permission"), "{summary}");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&step.outputs["report-json"]).unwrap()).unwrap();
    assert_eq!(json["inputs"][0]["reference"], format!("oci:{v1}"));
    assert_eq!(json["summary"]["differences"], 4, "{}", json["summary"]);
    let html = std::fs::read_to_string(&step.outputs["report-html"]).unwrap();
    assert!(html.contains("etc/hello/NEWS"));
}

#[test]
fn a_difference_passes_when_told_not_to_fail() {
    let runner = Runner::new();
    let reports = runner.path("reports");
    let step = runner.run(&[
        ("image0", &example("hello-v1")),
        ("image1", &example("hello-v2.tar")),
        ("fail_on_difference", "false"),
        ("report_dir", reports.to_str().unwrap()),
    ]);
    assert_eq!(step.code, Some(0), "{}", step.stderr);
    assert_eq!(step.outputs["exit-code"], "1");
    assert_eq!(step.outputs["verdict"], "different");
    assert!(reports.join("report.json").is_file());
}

#[test]
fn the_same_image_passes() {
    let runner = Runner::new();
    let v1 = example("hello-v1");
    let step = runner.run(&[("image0", &v1), ("image1", &format!("oci:{v1}:v1"))]);
    assert_eq!(step.code, Some(0), "{}", step.stderr);
    assert_eq!(step.outputs["verdict"], "identical");
    assert!(step.summary.contains("identical"), "{}", step.summary);
}

#[test]
fn an_error_fails_the_step_and_says_so_in_the_summary() {
    let runner = Runner::new();
    let missing = runner.path("no-such-layout");
    let step = runner.run(&[
        ("image0", &example("hello-v1")),
        ("image1", missing.to_str().unwrap()),
        ("fail_on_difference", "false"),
    ]);
    assert_eq!(step.code, Some(2), "{}", step.stderr);
    assert_eq!(step.outputs["exit-code"], "2");
    assert_eq!(step.outputs["verdict"], "error");
    assert!(step.summary.contains("error"), "{}", step.summary);
    // Missing inputs are the action's error, before ocidiff runs.
    let step = runner.run(&[("image0", &example("hello-v1"))]);
    assert_eq!(step.code, Some(2));
    assert!(
        step.stderr.contains("needs image0 and image1"),
        "{}",
        step.stderr
    );
}

#[test]
fn install_downloads_the_release_for_the_runner_and_checks_it() {
    if !have("curl") || !have("sha256sum") {
        skip("curl or sha256sum is missing (apt-get install curl coreutils)");
        return;
    }
    let runner = Runner::new();
    // A release as scripts/release.sh writes it: ocidiff-TRIPLE and its checksum file.
    let release = runner.path("releases/download/v0.1.0");
    std::fs::create_dir_all(&release).unwrap();
    let asset = "ocidiff-x86_64-unknown-linux-musl";
    std::fs::copy(env!("CARGO_BIN_EXE_ocidiff"), release.join(asset)).unwrap();
    let sum = Command::new("sha256sum")
        .arg(asset)
        .current_dir(&release)
        .output()
        .unwrap();
    std::fs::write(release.join(format!("{asset}.sha256")), &sum.stdout).unwrap();
    let url = format!("file://{}", runner.path("releases").display());
    let inputs = [
        ("install", "release"),
        ("version", "v0.1.0"),
        ("release_url", &url),
    ];

    let step = runner.step("install", &inputs, &[]);
    assert_eq!(step.code, Some(0), "{}", step.stderr);
    let binary = &step.outputs["binary"];
    let version = Command::new(binary).arg("--version").output().unwrap();
    assert!(version.status.success());
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("ocidiff "));

    // A file that does not match its checksum is refused.
    std::fs::write(release.join(asset), b"not ocidiff").unwrap();
    let step = runner.step("install", &inputs, &[]);
    assert_eq!(step.code, Some(2), "{}", step.stderr);
    assert!(step.stderr.contains("does not match"), "{}", step.stderr);
    assert!(!step.outputs.contains_key("binary"));
}

/// The `INPUT_*` names in `text`.
fn input_names(text: &str) -> std::collections::BTreeSet<&str> {
    text.match_indices("INPUT_")
        .map(|(at, _)| {
            let rest = &text[at..];
            let end = rest
                .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .filter(|name| name.len() > "INPUT_".len())
        .collect()
}

#[test]
fn the_action_passes_every_input_the_script_reads() {
    let script = std::fs::read_to_string(repo().join("scripts/ci-action.sh")).unwrap();
    let action = std::fs::read_to_string(repo().join("action.yml")).unwrap();
    assert_eq!(input_names(&script), input_names(&action));
}

#[test]
fn the_gitlab_template_script_is_valid_sh() {
    if !have("sh") {
        skip("sh is missing");
        return;
    }
    let template = std::fs::read_to_string(repo().join("ci/gitlab/ocidiff.gitlab-ci.yml")).unwrap();
    // The block scalar after `script:`'s `- |`, to the first line indented less.
    let lines: Vec<&str> = template
        .lines()
        .skip_while(|l| l.trim() != "- |")
        .skip(1)
        .take_while(|l| l.is_empty() || l.starts_with("      "))
        .map(|l| l.get(6..).unwrap_or(""))
        .collect();
    let script = lines.join("\n");
    assert!(script.contains("ocidiff \"$@\""), "{script}");
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &script).unwrap();
    let out = Command::new("sh")
        .arg("-n")
        .arg(file.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
