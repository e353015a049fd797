//! A real Debian root filesystem (debootstrap of bookworm, `minbase`), made once per machine and
//! cached under `/tmp`, for the package view's tests on what dpkg itself writes. One run takes
//! about two minutes and 200 MB, so the packages unit test and the CLI test share it.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::skip::{on_path, skip};

/// Where the root is kept between runs.
pub const CACHE: &str = "/tmp/ocidiff-debootstrap";
const MIRROR: &str = "http://deb.debian.org/debian";

/// The cached root, made under an exclusive `flock` so that test processes running at once wait
/// for one debootstrap instead of each starting their own. `None`, after skipping, when
/// debootstrap or flock is missing or Debian's mirror does not answer; a debootstrap that fails
/// while the mirror answers is a failure.
pub fn bookworm_root() -> Option<PathBuf> {
    let root = Path::new(CACHE).join("bookworm");
    if root.join("var/lib/dpkg/status").is_file() {
        return Some(root);
    }
    if let Some(missing) = ["debootstrap", "flock"].into_iter().find(|t| !on_path(t)) {
        skip(&format!(
            "{missing} is not installed (apt-get install debootstrap util-linux)"
        ));
        return None;
    }
    if !mirror_answers() {
        skip(&format!(
            "Debian's mirror {MIRROR} does not answer (no network?)"
        ));
        return None;
    }
    std::fs::create_dir_all(CACHE).unwrap_or_else(|e| panic!("cannot create {CACHE}: {e}"));
    let script = format!(
        "test -f bookworm/var/lib/dpkg/status && exit 0; \
         rm -rf bookworm.partial.lock && \
         timeout 600 debootstrap --variant=minbase bookworm bookworm.partial.lock {MIRROR} \
             >log.txt 2>&1 && \
         mv -T bookworm.partial.lock bookworm; rm -rf bookworm.partial.lock"
    );
    let status = Command::new("flock")
        .current_dir(CACHE)
        .args(["bookworm.lock", "sh", "-c", &script])
        .status()
        .unwrap_or_else(|e| panic!("cannot run flock: {e}"));
    assert!(
        status.success() && root.join("var/lib/dpkg/status").is_file(),
        "debootstrap of bookworm failed ({status}) while {MIRROR} answers; its log:\n{}",
        std::fs::read_to_string(Path::new(CACHE).join("log.txt")).unwrap_or_default()
    );
    Some(root)
}

/// Whether the mirror serves bookworm's release file: what tells a machine without network
/// (a skip) from a debootstrap that fails (a failure).
fn mirror_answers() -> bool {
    Command::new("curl")
        .args(["-sfI", "--max-time", "20"])
        .arg(format!("{MIRROR}/dists/bookworm/Release"))
        .output()
        .is_ok_and(|o| o.status.success())
}
