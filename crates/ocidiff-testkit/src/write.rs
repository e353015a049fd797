//! Writers for the on-disk forms: OCI layout directories, OCI archives and `docker save`
//! tarballs (classic and Docker ≥ 25). All output is a function of the specs alone: outer
//! archives use fixed modes, owners and [`DEFAULT_MTIME`], and members are written in a fixed
//! order, so that committed examples regenerate byte for byte.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::path::Path;

use serde_json::{Value, json};

use crate::image::{Blob, ImageSpec, OCI_INDEX, Root, to_json};
use crate::layer::{DEFAULT_MTIME, Entry, Layer, sha256_digest};

const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;
const REF_NAME: &str = "org.opencontainers.image.ref.name";
const CONTAINERD_NAME: &str = "io.containerd.image.name";

/// Which of the two `docker save` forms to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DockerArchiveForm {
    /// Docker < 25: `manifest.json`, `<config hex>.json`, `<id>/layer.tar` (a layer whose blob
    /// already appears under another id becomes a symlink to it, as docker save dedupes),
    /// `<id>/VERSION`, `<id>/json`, `repositories`.
    Classic,
    /// Docker ≥ 25: an OCI layout (`oci-layout`, `index.json`, `blobs/sha256/…`) plus the
    /// legacy `manifest.json` (pointing into `blobs/`) and `repositories`.
    OciLayout,
}

/// The files of an OCI layout holding `images` (one `index.json` entry each, annotated with
/// `org.opencontainers.image.ref.name` unless the name is empty) and the root digests.
fn oci_layout_files(images: &[(&str, Root)]) -> (Vec<(String, Vec<u8>)>, Vec<String>) {
    let mut blobs = BTreeMap::new();
    let mut descriptors = Vec::new();
    let mut roots = Vec::new();
    for (name, root) in images {
        let built = root.build();
        let mut descriptor = built.descriptor;
        if !name.is_empty() {
            descriptor["annotations"] = json!({ REF_NAME: name });
        }
        roots.push(descriptor["digest"].as_str().unwrap_or_default().to_owned());
        descriptors.push(descriptor);
        for blob in built.blobs {
            blobs.insert(blob.digest.clone(), blob);
        }
    }
    let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors});
    let mut files: Vec<(String, Vec<u8>)> = blobs
        .into_values()
        .map(|b| (format!("blobs/sha256/{}", b.hex()), b.bytes))
        .collect();
    files.push(("index.json".into(), to_json(&index)));
    files.push(("oci-layout".into(), OCI_LAYOUT.to_vec()));
    (files, roots)
}

/// Writes an OCI image layout directory (created if missing) and returns the digest of each
/// root, in order.
pub fn write_oci_dir(dir: &Path, images: &[(&str, Root)]) -> io::Result<Vec<String>> {
    let (files, roots) = oci_layout_files(images);
    for (name, bytes) in files {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, bytes)?;
    }
    Ok(roots)
}

/// The bytes of an OCI archive: a tar of the layout [`write_oci_dir`] writes.
pub fn oci_archive_bytes(images: &[(&str, Root)]) -> (Vec<u8>, Vec<String>) {
    let (files, roots) = oci_layout_files(images);
    let mut entries = vec![Entry::dir("blobs/"), Entry::dir("blobs/sha256/")];
    entries.extend(files.iter().map(|(name, bytes)| Entry::file(name, bytes)));
    (outer_tar(entries), roots)
}

/// Writes an OCI archive and returns the digest of each root, in order.
pub fn write_oci_archive(file: &Path, images: &[(&str, Root)]) -> io::Result<Vec<String>> {
    let (bytes, roots) = oci_archive_bytes(images);
    std::fs::write(file, bytes)?;
    Ok(roots)
}

/// The bytes of a `docker save` tarball and each image's ID (its config digest).
///
/// Layers are stored as their blobs: give them [`crate::Compression::None`] (the default) for
/// what docker save writes; a compressed layer makes the rarer archives some tools write.
pub fn docker_archive_bytes(
    images: &[(Vec<&str>, ImageSpec)],
    form: DockerArchiveForm,
) -> (Vec<u8>, Vec<String>) {
    match form {
        DockerArchiveForm::Classic => classic_archive(images),
        DockerArchiveForm::OciLayout => layout_archive(images),
    }
}

/// Writes a `docker save` tarball and returns each image's ID (its config digest).
pub fn write_docker_archive(
    file: &Path,
    images: &[(Vec<&str>, ImageSpec)],
    form: DockerArchiveForm,
) -> io::Result<Vec<String>> {
    let (bytes, ids) = docker_archive_bytes(images, form);
    std::fs::write(file, bytes)?;
    Ok(ids)
}

fn classic_archive(images: &[(Vec<&str>, ImageSpec)]) -> (Vec<u8>, Vec<String>) {
    let mut entries = Vec::new();
    let mut configs = Vec::new();
    let mut written_ids = HashSet::new();
    let mut first_id_of_blob: HashMap<String, String> = HashMap::new();
    let mut manifest = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut image_ids = Vec::new();
    for (tags, spec) in images {
        let built = spec.build();
        let mut parent: Option<String> = None;
        let mut layer_paths = Vec::new();
        for blob in &built.layers {
            // Docker's v1 ids chain each layer to its parent; any stable chain will do here.
            let chain = format!("{} {}", parent.as_deref().unwrap_or(""), blob.digest);
            let id = sha256_digest(chain.as_bytes())["sha256:".len()..].to_owned();
            if written_ids.insert(id.clone()) {
                let mut v1 = json!({"id": id, "created": "1970-01-01T00:00:00Z"});
                if let Some(p) = &parent {
                    v1["parent"] = json!(p);
                }
                entries.push(Entry::dir(&format!("{id}/")));
                entries.push(Entry::file(&format!("{id}/VERSION"), b"1.0"));
                entries.push(Entry::file(&format!("{id}/json"), to_json(&v1)));
                let member = format!("{id}/layer.tar");
                if let Some(first) = first_id_of_blob.get(&blob.digest) {
                    entries.push(Entry::symlink(&member, &format!("../{first}/layer.tar")));
                } else {
                    entries.push(Entry::file(&member, &blob.bytes));
                    first_id_of_blob.insert(blob.digest.clone(), id.clone());
                }
            }
            layer_paths.push(format!("{id}/layer.tar"));
            parent = Some(id);
        }
        let config_name = format!("{}.json", built.config.hex());
        if !configs.iter().any(|c: &Entry| c.path == config_name) {
            configs.push(Entry::file(&config_name, &built.config.bytes));
        }
        manifest.push(json!({
            "Config": config_name,
            "RepoTags": repo_tags(tags),
            "Layers": layer_paths,
        }));
        for tag in tags {
            let (repo, tag) = split_tag(tag);
            repositories
                .entry(repo.to_owned())
                .or_default()
                .insert(tag.to_owned(), parent.clone().unwrap_or_default());
        }
        image_ids.push(built.config.digest);
    }
    entries.extend(configs);
    entries.push(Entry::file(
        "manifest.json",
        to_json(&Value::from(manifest)),
    ));
    entries.push(Entry::file("repositories", to_json(&json!(repositories))));
    (outer_tar(entries), image_ids)
}

fn layout_archive(images: &[(Vec<&str>, ImageSpec)]) -> (Vec<u8>, Vec<String>) {
    let mut blobs: BTreeMap<String, Blob> = BTreeMap::new();
    let mut descriptors = Vec::new();
    let mut manifest = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut image_ids = Vec::new();
    let blob_path = |b: &Blob| format!("blobs/sha256/{}", b.hex());
    for (tags, spec) in images {
        let built = spec.build();
        if tags.is_empty() {
            descriptors.push(built.descriptor());
        }
        for tag in tags {
            let mut d = built.descriptor();
            let (repo, short_tag) = split_tag(tag);
            d["annotations"] = json!({
                CONTAINERD_NAME: full_name(tag),
                REF_NAME: short_tag,
            });
            descriptors.push(d);
            repositories
                .entry(repo.to_owned())
                .or_default()
                .insert(short_tag.to_owned(), built.config.hex().to_owned());
        }
        manifest.push(json!({
            "Config": blob_path(&built.config),
            "RepoTags": repo_tags(tags),
            "Layers": built.layers.iter().map(blob_path).collect::<Vec<_>>(),
        }));
        image_ids.push(built.config.digest.clone());
        for blob in built.blobs() {
            blobs.insert(blob.digest.clone(), blob.clone());
        }
    }
    let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors});
    let mut entries = vec![Entry::dir("blobs/"), Entry::dir("blobs/sha256/")];
    entries.extend(blobs.values().map(|b| Entry::file(&blob_path(b), &b.bytes)));
    entries.push(Entry::file("index.json", to_json(&index)));
    entries.push(Entry::file(
        "manifest.json",
        to_json(&Value::from(manifest)),
    ));
    entries.push(Entry::file("oci-layout", OCI_LAYOUT));
    entries.push(Entry::file("repositories", to_json(&json!(repositories))));
    (outer_tar(entries), image_ids)
}

/// `RepoTags` as docker save writes it: `null` for an untagged image.
fn repo_tags(tags: &[&str]) -> Value {
    if tags.is_empty() {
        Value::Null
    } else {
        json!(tags)
    }
}

/// `foo:1` → (`foo`, `1`); `reg:5000/x` → (`reg:5000/x`, `latest`).
fn split_tag(name: &str) -> (&str, &str) {
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    match name[last_slash..].rfind(':') {
        Some(i) => (&name[..last_slash + i], &name[last_slash + i + 1..]),
        None => (name, "latest"),
    }
}

/// The name Docker's containerd store records: `foo:1` → `docker.io/library/foo:1`.
fn full_name(name: &str) -> String {
    let (repo, tag) = split_tag(name);
    let repo = match repo.split_once('/') {
        Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => repo.to_owned(),
        Some(_) => format!("docker.io/{repo}"),
        None => format!("docker.io/library/{repo}"),
    };
    format!("{repo}:{tag}")
}

/// The tar around a layout or docker save: regular modes, root owner, fixed mtime.
fn outer_tar(entries: Vec<Entry>) -> Vec<u8> {
    let entries = entries
        .into_iter()
        .map(|e| e.mtime(DEFAULT_MTIME))
        .collect();
    Layer::new(entries).tar_bytes()
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;
    use crate::image::IndexSpec;
    use crate::layer::Compression;

    fn members(tar_bytes: &[u8]) -> BTreeMap<String, (tar::EntryType, Vec<u8>, Option<String>)> {
        let mut archive = tar::Archive::new(tar_bytes);
        let mut out = BTreeMap::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let name = entry.path().unwrap().to_string_lossy().into_owned();
            let link = entry
                .link_name()
                .unwrap()
                .map(|l| l.to_string_lossy().into_owned());
            let kind = entry.header().entry_type();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            out.insert(name, (kind, data, link));
        }
        out
    }

    fn json_of(bytes: &[u8]) -> Value {
        serde_json::from_slice(bytes).unwrap()
    }

    fn small_image(content: &str) -> ImageSpec {
        ImageSpec::new().layer(Layer::new(vec![Entry::file("f", content)]))
    }

    #[test]
    fn oci_dir_holds_every_blob_it_references() {
        let dir = tempfile::tempdir().unwrap();
        let index = IndexSpec::new()
            .manifest(small_image("a").platform("linux/amd64"))
            .manifest(small_image("b").platform("linux/arm64"));
        let roots = write_oci_dir(
            dir.path(),
            &[
                ("v1", small_image("a").into()),
                ("multi", index.into()),
                ("", small_image("c").into()),
            ],
        )
        .unwrap();
        let index = json_of(&std::fs::read(dir.path().join("index.json")).unwrap());
        assert_eq!(index["manifests"].as_array().unwrap().len(), 3);
        assert_eq!(index["manifests"][0]["annotations"][REF_NAME], "v1");
        assert!(index["manifests"][2].get("annotations").is_none());
        assert_eq!(json!(roots[1]), index["manifests"][1]["digest"]);
        let blobs = dir.path().join("blobs/sha256");
        for entry in std::fs::read_dir(&blobs).unwrap() {
            let entry = entry.unwrap();
            let bytes = std::fs::read(entry.path()).unwrap();
            assert_eq!(
                sha256_digest(&bytes),
                format!("sha256:{}", entry.file_name().to_string_lossy())
            );
        }
        // index + 2 manifests + 2 configs + 2 layers for the index, the same "a" image, "c".
        assert_eq!(std::fs::read_dir(&blobs).unwrap().count(), 7 + 3);
    }

    #[test]
    fn oci_archive_is_a_tar_of_the_layout() {
        let (bytes, roots) = oci_archive_bytes(&[("v1", small_image("a").into())]);
        let m = members(&bytes);
        assert_eq!(m["oci-layout"].1, OCI_LAYOUT);
        let index = json_of(&m["index.json"].1);
        assert_eq!(json!(roots[0]), index["manifests"][0]["digest"]);
        let hex = roots[0].trim_start_matches("sha256:");
        assert!(m.contains_key(&format!("blobs/sha256/{hex}")));
        assert_eq!(m["blobs/"].0, tar::EntryType::Directory);
    }

    #[test]
    fn classic_docker_archive_dedupes_layers_with_symlinks() {
        let shared = Layer::new(vec![Entry::file("same", b"x")]);
        let one = ImageSpec::new().layer(shared.clone());
        let two = ImageSpec::new()
            .layer(Layer::new(vec![Entry::file("base", b"y")]))
            .layer(shared);
        let (bytes, ids) = docker_archive_bytes(
            &[(vec!["one:1"], one), (vec!["two", "reg:5000/x/two:2"], two)],
            DockerArchiveForm::Classic,
        );
        let m = members(&bytes);
        let manifest = json_of(&m["manifest.json"].1);
        assert_eq!(manifest[1]["RepoTags"], json!(["two", "reg:5000/x/two:2"]));
        let config = &manifest[0]["Config"];
        assert_eq!(
            json!(format!("{}.json", &ids[0]["sha256:".len()..])),
            *config
        );
        let layers: Vec<&str> = manifest[1]["Layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap())
            .collect();
        let linked = &m[layers[1]];
        assert_eq!(linked.0, tar::EntryType::Symlink);
        let target = linked.2.as_deref().unwrap();
        let first = manifest[0]["Layers"][0].as_str().unwrap();
        assert_eq!(target, format!("../{first}"));
        assert_eq!(m[first].0, tar::EntryType::Regular);
        let repositories = json_of(&m["repositories"].1);
        assert!(repositories["reg:5000/x/two"]["2"].is_string());
        assert!(repositories["two"]["latest"].is_string());
        let config_bytes = &m[config.as_str().unwrap()].1;
        assert_eq!(sha256_digest(config_bytes), ids[0]);
    }

    #[test]
    fn docker_25_archive_is_an_annotated_layout_with_a_legacy_manifest() {
        let (bytes, ids) = docker_archive_bytes(
            &[
                (vec!["hello:v2", "ghcr.io/o/hello"], small_image("a")),
                (vec![], small_image("b")),
            ],
            DockerArchiveForm::OciLayout,
        );
        let m = members(&bytes);
        let index = json_of(&m["index.json"].1);
        let annotations = &index["manifests"][0]["annotations"];
        assert_eq!(annotations[CONTAINERD_NAME], "docker.io/library/hello:v2");
        assert_eq!(annotations[REF_NAME], "v2");
        assert_eq!(
            index["manifests"][1]["annotations"][CONTAINERD_NAME],
            "ghcr.io/o/hello:latest"
        );
        assert!(index["manifests"][2].get("annotations").is_none());
        let manifest = json_of(&m["manifest.json"].1);
        assert_eq!(
            manifest[0]["Config"],
            json!(format!("blobs/sha256/{}", &ids[0]["sha256:".len()..]))
        );
        assert!(manifest[1]["RepoTags"].is_null());
        for layer in manifest[0]["Layers"].as_array().unwrap() {
            assert!(m.contains_key(layer.as_str().unwrap()));
        }
        assert!(m.contains_key("oci-layout"));
    }

    #[test]
    fn output_is_deterministic() {
        let spec = || {
            ImageSpec::new()
                .layer(Layer::new(vec![Entry::file("f", b"x")]).compression(Compression::Gzip))
        };
        for form in [DockerArchiveForm::Classic, DockerArchiveForm::OciLayout] {
            assert_eq!(
                docker_archive_bytes(&[(vec!["a"], spec())], form),
                docker_archive_bytes(&[(vec!["a"], spec())], form)
            );
        }
        assert_eq!(
            oci_archive_bytes(&[("a", spec().into())]),
            oci_archive_bytes(&[("a", spec().into())])
        );
    }

    #[test]
    fn names_are_split_and_normalised_like_docker() {
        assert_eq!(split_tag("foo"), ("foo", "latest"));
        assert_eq!(split_tag("reg:5000/x:y"), ("reg:5000/x", "y"));
        assert_eq!(full_name("foo"), "docker.io/library/foo:latest");
        assert_eq!(full_name("me/foo:1"), "docker.io/me/foo:1");
        assert_eq!(full_name("reg:5000/x:y"), "reg:5000/x:y");
        assert_eq!(full_name("localhost/x"), "localhost/x:latest");
    }
}
