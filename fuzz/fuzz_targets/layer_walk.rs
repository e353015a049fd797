#![no_main]

use std::collections::HashMap;
use std::io::Read;

use libfuzzer_sys::fuzz_target;
use ocidiff_core::compare::layer;
use ocidiff_core::content::{BlobSource, ContentError, Limits};
use ocidiff_core::model::{Descriptor, Digest};

struct Memory(HashMap<Digest, Vec<u8>>);

impl BlobSource for Memory {
    fn open(&self, digest: &Digest) -> Result<Box<dyn Read + Send + '_>, ContentError> {
        match self.0.get(digest) {
            Some(b) => Ok(Box::new(&b[..])),
            None => Err(ContentError::NotFound {
                digest: digest.clone(),
                source_name: self.describe(),
            }),
        }
    }

    fn describe(&self) -> String {
        "memory".into()
    }
}

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
    let source = Memory(HashMap::from([(digest, data.to_vec())]));
    let limits = Limits {
        json_bytes: 64 << 10,
        layer_bytes: 1 << 20,
        decompressed_bytes: 16 << 20,
        manifests: 64,
        layers: 64,
        entries: 10_000,
    };
    let mut sink = Vec::new();
    let _ = layer::walk(&source, &desc, 0, &limits, |_, r| {
        sink.clear();
        r.read_to_end(&mut sink).map(drop)
    });
});
