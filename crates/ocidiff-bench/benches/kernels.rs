//! Kernels of a comparison, each on in-memory input so that disk and page cache play no part:
//! inflate (flate2 on zlib-rs, as ocidiff uses it, against `miniz_oxide`), zstd decoding,
//! SHA-256, the tar walk of a layer of many small files, and a whole `compare()` of two
//! generated images. Run with `cargo bench -p ocidiff-bench`.

use std::collections::HashMap;
use std::io::{self, Read, Write};

use criterion::{BenchmarkId, Criterion, Throughput, black_box, criterion_group, criterion_main};
use ocidiff_bench::{content, many_files, many_layers, write_layout};
use ocidiff_core::compare::{CompareOptions, compare};
use ocidiff_core::content::{Limits, MemorySource};
use ocidiff_core::layer::{self, FileDigests};
use ocidiff_core::model::{Descriptor, Digest, media};
use ocidiff_core::normalize::Rules;
use ocidiff_core::reference::ImageRef;
use ocidiff_core::source;
use sha2::{Digest as _, Sha256};

/// 16 MiB of the benchmark's text-and-binary mix.
fn sample() -> Vec<u8> {
    content(42, 16 << 20)
}

fn drain(mut r: impl Read) -> u64 {
    io::copy(&mut r, &mut io::sink()).expect("in-memory stream")
}

fn inflate(c: &mut Criterion) {
    let data = sample();
    let mut raw = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    raw.write_all(&data).expect("in memory");
    let raw = raw.finish().expect("in memory");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&data).expect("in memory");
    let gz = gz.finish().expect("in memory");

    let mut g = c.benchmark_group("inflate");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.sample_size(20);
    g.bench_function("flate2-zlib-rs/gzip-stream", |b| {
        b.iter(|| drain(flate2::bufread::MultiGzDecoder::new(&gz[..])));
    });
    g.bench_function("flate2-zlib-rs/deflate-stream", |b| {
        b.iter(|| drain(flate2::bufread::DeflateDecoder::new(&raw[..])));
    });
    g.bench_function("miniz_oxide/deflate-whole-buffer", |b| {
        b.iter(|| miniz_oxide::inflate::decompress_to_vec(black_box(&raw)).expect("valid"));
    });
    g.finish();
}

fn zstd_decode(c: &mut Criterion) {
    let data = sample();
    let mut g = c.benchmark_group("zstd-decode");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.sample_size(20);
    for level in [3, 19] {
        let z = zstd::encode_all(&data[..], level).expect("in memory");
        g.bench_with_input(BenchmarkId::new("level", level), &z, |b, z| {
            b.iter(|| drain(zstd::stream::read::Decoder::new(&z[..]).expect("valid")));
        });
    }
    g.finish();
}

fn sha256(c: &mut Criterion) {
    let data = sample();
    let mut g = c.benchmark_group("sha256");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.sample_size(20);
    g.bench_function("sha2", |b| b.iter(|| Sha256::digest(black_box(&data))));
    g.bench_function("ocidiff-digest", |b| {
        b.iter(|| Digest::sha256_of(black_box(&data)));
    });
    g.finish();
}

fn tar_walk(c: &mut Criterion) {
    let mut g = c.benchmark_group("tar-walk");
    g.sample_size(10);
    for files in [10_000usize, 50_000] {
        let built = many_files(files, 0).build();
        let gz = &built.layers[0];
        let tar = flate2::read::GzDecoder::new(&gz.bytes[..]);
        let mut plain = Vec::new();
        { tar }.read_to_end(&mut plain).expect("in memory");
        // The files of an uncompressed layer hashed on their own (BLAKE3 from 4 KiB), and with
        // the layer's own hash (SHA-256, in the same pass).
        for (name, bytes, media_type, digests) in [
            (
                "plain",
                plain.clone(),
                media::OCI_LAYER,
                FileDigests::BySize,
            ),
            ("plain-sha256", plain, media::OCI_LAYER, FileDigests::Sha256),
            (
                "gzip",
                gz.bytes.clone(),
                media::OCI_LAYER_GZIP,
                FileDigests::BySize,
            ),
        ] {
            let digest = Digest::sha256_of(&bytes);
            let desc = Descriptor {
                media_type: media_type.into(),
                digest: digest.clone(),
                size: bytes.len() as u64,
                platform: None,
                annotations: Default::default(),
                urls: vec![],
                artifact_type: None,
            };
            let src = MemorySource(HashMap::from([(digest, bytes)]));
            let limits = Limits::default();
            g.throughput(Throughput::Elements(files as u64));
            g.bench_function(BenchmarkId::new(name, files), |b| {
                b.iter(|| {
                    layer::walk(&src, &desc, 0, None, &limits, digests, |_, _| Ok(()))
                        .expect("valid layer")
                        .entries
                        .len()
                });
            });
        }
    }
    g.finish();
}

fn whole_compare(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut g = c.benchmark_group("compare");
    g.sample_size(10);
    let shapes = [
        ("layers-100", many_layers(100, 0), many_layers(100, 1)),
        ("files-20000", many_files(20_000, 0), many_files(20_000, 1)),
        ("same-image", many_files(20_000, 0), many_files(20_000, 0)),
    ];
    for (name, lhs, rhs) in shapes {
        let [l, r] = ["lhs", "rhs"].map(|s| dir.path().join(name).join(s));
        write_layout(&l, lhs).expect("writing layout");
        write_layout(&r, rhs).expect("writing layout");
        let open = |p: &std::path::Path| {
            let r = ImageRef::parse(&format!("oci:{}", p.display())).expect("reference");
            source::open(&r, &Default::default()).expect("opening layout")
        };
        let (li, ri) = (open(&l), open(&r));
        let opts = CompareOptions {
            rules: Rules::semantic(),
            ..CompareOptions::default()
        };
        g.bench_function(name, |b| {
            b.iter(|| {
                compare(&li, &ri, &opts)
                    .expect("comparable")
                    .report
                    .findings
                    .len()
            });
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    inflate,
    zstd_decode,
    sha256,
    tar_walk,
    whole_compare
);
criterion_main!(benches);
