#![no_main]

//! The body is shared with stable `cargo test` (`crates/ocidiff-core/tests/fuzz_targets.rs`).

use libfuzzer_sys::fuzz_target;

// Each target uses one of the bodies.
#[allow(dead_code)]
#[path = "../../crates/ocidiff-core/tests/fuzz_bodies/mod.rs"]
mod fuzz_bodies;

fuzz_target!(|input: &str| fuzz_bodies::reference(input));
