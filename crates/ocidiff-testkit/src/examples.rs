//! The repository's example images: `hello` v1 and v2, two builds of one small image a week
//! apart, stored in two different forms so that comparing them is also a cross-format demo.

use std::io;
use std::path::Path;

use serde_json::json;

use crate::image::{ImageSpec, MediaStyle};
use crate::layer::{Compression, Entry, Layer};
use crate::write::{DockerArchiveForm, write_docker_archive, write_oci_dir};

/// The directory (OCI layout) holding v1, under the examples directory.
pub const V1_DIR: &str = "hello-v1";
/// The file (classic `docker save` tarball) holding v2, under the examples directory.
pub const V2_ARCHIVE: &str = "hello-v2.tar";

/// 2024-03-01T12:00:00Z and a week later.
const V1_TIME: u64 = 1_709_294_400;
const V2_TIME: u64 = V1_TIME + 7 * 24 * 3600;

/// The base layer, the same bytes in both builds (a cached build step).
fn base_layer() -> Layer {
    Layer::new(vec![
        Entry::dir("bin/"),
        Entry::file(
            "bin/hello",
            "#!/bin/sh\necho \"hello, built $(cat /etc/hello/build-date)\"\n",
        )
        .mode(0o755),
        Entry::dir("etc/"),
        Entry::file(
            "etc/os-release",
            "NAME=\"Hello Linux\"\nID=hello\nVERSION_ID=1.0\n",
        ),
        Entry::dir("usr/"),
        Entry::dir("usr/share/"),
        Entry::dir("usr/share/hello/"),
        Entry::file(
            "usr/share/hello/README",
            "A tiny image for ocidiff's examples.\n",
        ),
    ])
}

/// The application layer as the build on `time` writes it.
fn app_layer(v2: bool, time: u64) -> Layer {
    let date = if v2 {
        "2024-03-08T12:00:00Z\n"
    } else {
        "2024-03-01T12:00:00Z\n"
    };
    let level = if v2 { "level=2\n" } else { "level=1\n" };
    let mut entries = vec![
        Entry::dir("etc/hello/").mtime(time),
        Entry::file("etc/hello/build-date", date).mtime(time),
        Entry::file("etc/hello/config.ini", format!("greeting=hello\n{level}")).mtime(time),
        Entry::file("etc/hello/LICENSE", "Apache-2.0\n").mtime(time),
        Entry::file("etc/hello/run.sh", "#!/bin/sh\nexec /bin/hello\n")
            .mode(if v2 { 0o755 } else { 0o644 })
            .mtime(time),
    ];
    if v2 {
        entries.push(Entry::file("etc/hello/NEWS", "v2: level 2 by default\n").mtime(time));
    }
    Layer::new(entries)
}

fn rfc3339(v2: bool) -> &'static str {
    if v2 {
        "2024-03-08T12:00:00Z"
    } else {
        "2024-03-01T12:00:00Z"
    }
}

/// One build of `hello`.
pub fn hello(v2: bool) -> ImageSpec {
    let time = if v2 { V2_TIME } else { V1_TIME };
    let compression = if v2 {
        Compression::None
    } else {
        Compression::Gzip
    };
    let media = if v2 {
        MediaStyle::Docker
    } else {
        MediaStyle::Oci
    };
    ImageSpec::new()
        .media(media)
        .layer(base_layer().compression(compression))
        .layer(app_layer(v2, time).compression(compression))
        .config_field("created", json!(rfc3339(v2)))
        .config_field(
            "config",
            json!({
                "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                "Cmd": ["/bin/hello"],
                "Labels": {"org.opencontainers.image.title": "hello"},
            }),
        )
        .config_field(
            "history",
            json!([
                {"created": "2024-02-01T00:00:00Z", "created_by": "ADD base.tar /"},
                {"created": rfc3339(v2), "created_by": "COPY etc/hello /etc/hello"},
            ]),
        )
}

/// Writes `hello-v1/` (OCI layout, gzip layers) and `hello-v2.tar` (classic docker save)
/// into `dir`, replacing earlier copies.
pub fn write_examples(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let v1 = dir.join(V1_DIR);
    if v1.exists() {
        std::fs::remove_dir_all(&v1)?;
    }
    write_oci_dir(&v1, &[("v1", hello(false).into())])?;
    write_docker_archive(
        &dir.join(V2_ARCHIVE),
        &[(vec!["hello:v2"], hello(true))],
        DockerArchiveForm::Classic,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    use super::*;

    /// Every file under `root`, by path relative to it.
    fn tree(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
        let mut out = BTreeMap::new();
        let mut stack = vec![root.to_owned()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    let rel = path.strip_prefix(root).unwrap().to_owned();
                    out.insert(rel, std::fs::read(&path).unwrap());
                }
            }
        }
        out
    }

    #[test]
    fn committed_examples_match_the_generator() {
        let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
        let fresh = tempfile::tempdir().unwrap();
        write_examples(fresh.path()).unwrap();
        let hint = "examples/ drifted from the generator: run \
                    `cargo run -p ocidiff-testkit --bin gen-examples` and commit the result";
        assert_eq!(
            tree(&committed.join(V1_DIR)),
            tree(&fresh.path().join(V1_DIR)),
            "{hint}"
        );
        assert!(
            std::fs::read(committed.join(V2_ARCHIVE)).unwrap()
                == std::fs::read(fresh.path().join(V2_ARCHIVE)).unwrap(),
            "{hint}"
        );
    }

    #[test]
    fn the_builds_differ_where_a_rebuild_would() {
        let (v1, v2) = (hello(false).build(), hello(true).build());
        assert_eq!(v1.diff_ids[0], v2.diff_ids[0], "base layer is shared");
        assert_ne!(
            v1.layers[0].digest, v2.layers[0].digest,
            "but compressed differently"
        );
        assert_ne!(v1.diff_ids[1], v2.diff_ids[1]);
        let total: usize = [&v1, &v2]
            .iter()
            .flat_map(|b| b.blobs())
            .map(|b| b.bytes.len())
            .sum();
        assert!(total < 100_000, "examples stay small: {total} bytes");
    }
}
