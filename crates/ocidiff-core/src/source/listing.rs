//! What an archive holds, for `ocidiff load`: each image with the reference that selects it and
//! the names it should be recorded under.

use std::path::Path;

use super::{ArchiveError, SourceError, TarIndex, manifest_json};
use crate::model::{GoJsonError, Index, gojson};

/// One image of an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivedImage {
    /// The `:REF` that selects it (`None` when it is the only one).
    pub selector: Option<String>,
    /// The names it is tagged with (`RepoTags`, or `io.containerd.image.name` annotations, or
    /// an `org.opencontainers.image.ref.name` that is a whole name as skopeo writes for
    /// `oci-archive:FILE:name:tag`).
    pub names: Vec<String>,
}

/// Whether an `org.opencontainers.image.ref.name` is an image name (`app:1`, `team/app`) rather
/// than a bare tag (`latest`, `2`): a tag cannot hold `/`, `:` or `@`.
fn names_an_image(ref_name: &str) -> bool {
    ref_name.contains(['/', ':', '@'])
}

/// The images of a `docker save` tarball or OCI archive, in the order the archive lists them.
pub fn archived_images(path: &Path) -> Result<Vec<ArchivedImage>, SourceError> {
    let tar = TarIndex::scan(path)?;
    let limit = crate::content::Limits::default().json_bytes;
    let malformed = |what: &str, e: GoJsonError| {
        SourceError::Archive(ArchiveError::Malformed {
            path: path.to_owned(),
            what: what.to_owned(),
            reason: e.to_string(),
        })
    };
    if tar.contains("manifest.json") {
        let bytes = tar.read_small("manifest.json", limit)?;
        let entries = manifest_json::parse(&bytes).map_err(|e| malformed("manifest.json", e))?;
        let single = entries.len() == 1;
        return Ok(entries
            .into_iter()
            .map(|e| {
                let names = e.repo_tags;
                ArchivedImage {
                    selector: if single { None } else { names.first().cloned() },
                    names,
                }
            })
            .collect());
    }
    let bytes = tar.read_small("index.json", limit)?;
    let index: Index =
        gojson::from_slice(&bytes, &gojson::DOCUMENT).map_err(|e| malformed("index.json", e))?;
    let single = index.manifests.len() == 1;
    Ok(index
        .manifests
        .iter()
        .map(|d| {
            let ref_name = d.ref_name().map(str::to_owned);
            let names = d
                .annotations
                .get("io.containerd.image.name")
                .cloned()
                .or_else(|| ref_name.clone().filter(|r| names_an_image(r)))
                .into_iter()
                .collect();
            ArchivedImage {
                selector: if single {
                    None
                } else {
                    ref_name.or_else(|| Some(d.digest.to_string()))
                },
                names,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::names_an_image;

    #[test]
    fn only_whole_names_in_ref_name_name_an_image() {
        assert!(names_an_image("loaded/oci:2"));
        assert!(names_an_image("app:1"));
        assert!(names_an_image("registry.example:5000/app"));
        assert!(!names_an_image("latest"));
        assert!(!names_an_image("2"));
    }
}
