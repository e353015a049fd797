#![no_main]

use libfuzzer_sys::fuzz_target;
use ocidiff_core::model::Document;

fuzz_target!(|data: &[u8]| {
    let _ = Document::parse(data, None);
    let _ = Document::parse(data, Some("application/vnd.oci.image.index.v1+json"));
    let _ = Document::parse(data, Some("application/vnd.docker.distribution.manifest.v2+json"));
});
