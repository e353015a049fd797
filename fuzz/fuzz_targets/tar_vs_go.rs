#![no_main]

//! ocidiff's tar reader against Go's `archive/tar` on arbitrary bytes: both read the same
//! entries, fields, contents and errors, or ocidiff refuses a stream Go reads inconsistently.
//! Needs Go on PATH; the oracle is built once per run.

use std::sync::{Mutex, OnceLock};

use libfuzzer_sys::fuzz_target;
use ocidiff_testkit::go_tar::{self, GoTar};

#[path = "../../crates/ocidiff-core/tests/tar_agreement/mod.rs"]
mod tar_agreement;

fn oracle() -> &'static Mutex<GoTar> {
    static ORACLE: OnceLock<Mutex<GoTar>> = OnceLock::new();
    ORACLE.get_or_init(|| {
        let dir = std::env::temp_dir().join("ocidiff-fuzz-go");
        let bin = go_tar::build(&dir).expect("building the Go oracle");
        Mutex::new(GoTar::start(&bin).expect("starting the Go oracle"))
    })
}

fuzz_target!(|data: &[u8]| {
    let mut go = oracle().lock().unwrap_or_else(|e| e.into_inner());
    if let Err(why) = tar_agreement::agree(&mut go, data) {
        panic!("{why}");
    }
});
