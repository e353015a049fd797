//! What an archive holds, for `ocidiff load`: each image with the reference that selects it and
//! the names it should be recorded under.

use std::path::Path;

use serde::Deserialize;

use super::{ArchiveError, SourceError, TarIndex};
use crate::model::Index;

/// One image of an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivedImage {
    /// The `:REF` that selects it (`None` when it is the only one).
    pub selector: Option<String>,
    /// The names it is tagged with (`RepoTags`, or `io.containerd.image.name` annotations).
    pub names: Vec<String>,
}

/// The images of a `docker save` tarball or OCI archive, in the order the archive lists them.
pub fn archived_images(path: &Path) -> Result<Vec<ArchivedImage>, SourceError> {
    #[derive(Deserialize)]
    struct Entry {
        #[serde(rename = "RepoTags", default)]
        repo_tags: Option<Vec<String>>,
    }
    let tar = TarIndex::scan(path)?;
    let limit = crate::content::Limits::default().json_bytes;
    let malformed = |what: &str, e: serde_json::Error| {
        SourceError::Archive(ArchiveError::Malformed {
            path: path.to_owned(),
            what: what.to_owned(),
            reason: e.to_string(),
        })
    };
    if tar.contains("manifest.json") {
        let bytes = tar.read_small("manifest.json", limit)?;
        let entries: Vec<Entry> =
            serde_json::from_slice(&bytes).map_err(|e| malformed("manifest.json", e))?;
        let single = entries.len() == 1;
        return Ok(entries
            .into_iter()
            .map(|e| {
                let names = e.repo_tags.unwrap_or_default();
                ArchivedImage {
                    selector: if single { None } else { names.first().cloned() },
                    names,
                }
            })
            .collect());
    }
    let bytes = tar.read_small("index.json", limit)?;
    let index: Index = serde_json::from_slice(&bytes).map_err(|e| malformed("index.json", e))?;
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
