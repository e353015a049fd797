#![no_main]

use libfuzzer_sys::fuzz_target;
use ocidiff_core::reference::{DockerRef, ImageRef};

fuzz_target!(|input: &str| {
    if let Ok(r) = DockerRef::parse(input) {
        let again = DockerRef::parse(&r.to_string()).expect("a printed reference parses");
        assert_eq!(again.to_string(), r.to_string());
    }
    let _ = ImageRef::parse(input);
});
