#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use ocidiff_core::layer;
use ocidiff_core::content::{Limits, MemorySource};
use ocidiff_core::model::{Descriptor, Digest};


fuzz_target!(|data: &[u8]| {
    let digest = Digest::sha256_of(data);
    let desc = Descriptor {
        media_type: "application/vnd.oci.image.layer.v1.tar".into(),
        digest: digest.clone(),
        size: data.len() as u64,
        platform: None,
        annotations: Default::default(),
        urls: vec![],
        artifact_type: None,
    };
    let source = MemorySource(HashMap::from([(digest, data.to_vec())]));
    let limits = Limits {
        json_bytes: 64 << 10,
        layer_bytes: 1 << 20,
        decompressed_bytes: 16 << 20,
        manifests: 64,
        layers: 64,
        entries: 10_000,
        metadata_bytes: 1 << 20,
    };
    let mut sink = Vec::new();
    let _ = layer::walk(&source, &desc, 0, &limits, |_, r| {
        sink.clear();
        r.read_to_end(&mut sink).map(drop)
    });
});
