//! How a test that cannot run says so. libtest has no "skipped" result and hides what a passing
//! test prints, so a skip is a failure under `OCIDIFF_REQUIRE_SERVICES=1` (CI) and otherwise a
//! line appended to `$OCIDIFF_SKIP_LOG`, which `scripts/test.sh` counts and prints at the end,
//! and on stderr past libtest's capture for a plain `cargo test`.
//!
//! Only the absence of a tool or service may skip: a tool that is there and fails is a failure.

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

/// The variable that turns every skip into a failure.
pub const REQUIRE_SERVICES: &str = "OCIDIFF_REQUIRE_SERVICES";
/// The file skip records are appended to.
pub const SKIP_LOG: &str = "OCIDIFF_SKIP_LOG";

/// Whether a missing tool or service fails the test instead of skipping it (CI sets it).
pub fn services_required() -> bool {
    std::env::var_os(REQUIRE_SERVICES).is_some_and(|v| v == "1")
}

/// Skips the calling test because `why` (a missing tool or service) keeps it from running:
/// panics under `OCIDIFF_REQUIRE_SERVICES=1`, otherwise records the skip and returns, and the
/// caller returns without checking anything.
pub fn skip(why: &str) {
    let line = record_line(&current_test(), why);
    assert!(
        !services_required(),
        "{line} (and {REQUIRE_SERVICES}=1: a skip is a failure)"
    );
    if first_time(&line) {
        // Past libtest's capture, which only takes `print!`-style output.
        let _ = writeln!(std::io::stderr(), "{line}");
        if let Some(log) = std::env::var_os(SKIP_LOG) {
            append(Path::new(&log), &line);
        }
    }
}

/// Whether `program` is an executable file on `PATH`: what decides between skipping (absent)
/// and failing (present but broken).
pub fn on_path(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            std::fs::metadata(dir.join(program))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

/// The calling test as `binary::test`: libtest names each test's thread after the test.
fn current_test() -> String {
    let binary = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_default();
    // Cargo names test binaries `name-<hash>`.
    let binary = match binary.rsplit_once('-') {
        Some((name, hash)) if hash.bytes().all(|b| b.is_ascii_hexdigit()) => name.to_owned(),
        _ => binary,
    };
    match std::thread::current().name() {
        Some(test) if test != "main" => format!("{binary}::{test}"),
        _ => binary,
    }
}

/// One line, whatever `why` holds (tool output can span many).
fn record_line(test: &str, why: &str) -> String {
    let why = why.split_whitespace().collect::<Vec<_>>().join(" ");
    format!("SKIP: {test}: {why}")
}

/// Whether this process has not recorded `line` yet: a test calling `skip` in every case of a
/// property test says so once.
fn first_time(line: &str) -> bool {
    static SEEN: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let mut seen = SEEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    seen.get_or_insert_default().insert(line.to_owned())
}

/// Appends `line` to `log` in one write, so that test processes running at once do not
/// interleave their lines.
fn append(log: &Path, line: &str) {
    let appended = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .and_then(|mut f| f.write_all(format!("{line}\n").as_bytes()));
    if let Err(e) = appended {
        panic!(
            "{line}, and it cannot be recorded in {}: {e}",
            log.display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_skip_is_one_line_in_the_log_once() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("skips");
        let line = record_line("bin::t", "tool\nmissing:  see  above");
        assert_eq!(line, "SKIP: bin::t: tool missing: see above");
        assert!(first_time(&line));
        assert!(!first_time(&line));
        append(&log, &line);
        append(&log, &record_line("bin::u", "other"));
        assert_eq!(
            std::fs::read_to_string(&log).unwrap(),
            "SKIP: bin::t: tool missing: see above\nSKIP: bin::u: other\n"
        );
    }

    #[test]
    fn programs_are_found_on_path() {
        assert!(on_path("sh"));
        assert!(!on_path("ocidiff-no-such-program"));
    }

    #[test]
    fn the_test_is_named_after_its_thread() {
        let name = std::thread::Builder::new()
            .name("module::case".into())
            .spawn(current_test)
            .unwrap()
            .join()
            .unwrap();
        assert!(name.ends_with("::module::case"), "{name}");
        assert!(name.starts_with("ocidiff_testkit"), "{name}");
    }
}
