//! `oci-archive:PATH[:REF]`: a tar of an OCI image layout, read in place. Also what a
//! docker ≥ 25 `docker save` tarball holds, which [`super::docker_archive`] reads through this.

use std::io::Read;
use std::path::Path;

use super::SourceError;
use super::archive::{ArchiveError, TarIndex};
use super::layout::select_root;
use crate::content::{BlobSource, ContentError, Limits};
use crate::model::{Blob, Digest};

/// A tar archive holding an OCI image layout.
pub struct OciArchive {
    pub(super) tar: TarIndex,
    /// "OCI archive" or "docker archive", for messages.
    label: &'static str,
}

impl OciArchive {
    /// Scans the archive and checks that it holds a layout.
    pub fn open(path: &Path) -> Result<OciArchive, SourceError> {
        let tar = TarIndex::scan(path)?;
        OciArchive::from_index(tar, "OCI archive")
    }

    /// The blobs of an already scanned archive that may hold a layout (a `docker save`
    /// tarball), not yet checked for one.
    pub(super) fn within(tar: TarIndex, label: &'static str) -> OciArchive {
        OciArchive { tar, label }
    }

    /// A layout found inside an already scanned archive.
    fn from_index(tar: TarIndex, label: &'static str) -> Result<OciArchive, SourceError> {
        for required in ["oci-layout", "index.json"] {
            if !tar.contains(required) {
                return Err(SourceError::NotLayout {
                    path: tar.path().to_owned(),
                    reason: format!("the archive has no {required} member"),
                });
            }
        }
        Ok(OciArchive { tar, label })
    }

    /// The bytes of the layout's `index.json`.
    pub(super) fn index_bytes(&self, limits: &Limits) -> Result<Vec<u8>, SourceError> {
        Ok(self.tar.read_small("index.json", limits.json_bytes)?)
    }

    /// The image named `reference` (or the only one) in `index.json`, chosen as in an OCI
    /// layout directory.
    pub fn root(&self, reference: Option<&str>, limits: &Limits) -> Result<Blob, SourceError> {
        select_root(
            self.tar.path(),
            self.index_bytes(limits)?,
            reference,
            self,
            limits,
        )
    }
}

impl BlobSource for OciArchive {
    fn open(&self, digest: &Digest) -> Result<Box<dyn Read + Send + '_>, ContentError> {
        let member = format!("blobs/{}/{}", digest.algorithm().as_str(), digest.hex());
        match self.tar.open(&member) {
            Ok(reader) => Ok(Box::new(reader)),
            Err(ArchiveError::MissingMember { .. }) => Err(ContentError::NotFound {
                digest: digest.clone(),
                source_name: self.describe(),
            }),
            Err(e) => Err(ContentError::Io {
                digest: digest.clone(),
                source: std::io::Error::other(e),
            }),
        }
    }

    fn describe(&self) -> String {
        format!("{} {}", self.label, self.tar.path().display())
    }
}

#[cfg(test)]
mod tests {
    use ocidiff_testkit::{Compression, Entry, ImageSpec, IndexSpec, Layer, oci_archive_bytes};

    use super::*;
    use crate::model::Document;
    use crate::reference::ImageRef;
    use crate::source::archive::tests::{temp_file, verify_all};

    fn image(content: &str, compression: Compression) -> ImageSpec {
        ImageSpec::new()
            .layer(
                Layer::new(vec![Entry::dir("etc/"), Entry::file("etc/f", content)])
                    .compression(compression),
            )
            .layer(Layer::new(vec![Entry::whiteout("etc/f")]).compression(compression))
    }

    #[test]
    fn opens_selects_and_verifies() {
        let index = IndexSpec::new()
            .manifest(image("amd", Compression::Zstd).platform("linux/amd64"))
            .manifest(image("arm", Compression::Gzip).platform("linux/arm64"));
        let (bytes, roots) = oci_archive_bytes(&[
            ("v1", image("a", Compression::Gzip).into()),
            ("multi", index.into()),
        ]);
        let (_d, path) = temp_file(&bytes);
        let archive = OciArchive::open(&path).unwrap();

        let v1 = archive.root(Some("v1"), &Limits::default()).unwrap();
        assert_eq!(v1.descriptor.as_ref().unwrap().digest.to_string(), roots[0]);
        assert!(matches!(
            Document::parse(&v1.bytes, None).unwrap(),
            Document::Manifest(_)
        ));
        assert_eq!(verify_all(&v1, &archive), 3);

        let multi = archive.root(Some("multi"), &Limits::default()).unwrap();
        assert!(matches!(
            Document::parse(&multi.bytes, None).unwrap(),
            Document::Index(_)
        ));
        assert_eq!(verify_all(&multi, &archive), 2 * 4);

        let err = archive.root(Some("v9"), &Limits::default()).unwrap_err();
        assert!(matches!(err, SourceError::NoSuchImage { .. }), "{err}");
        assert!(err.to_string().contains("v1, multi"), "{err}");
        let err = archive.root(None, &Limits::default()).unwrap_err();
        assert!(matches!(err, SourceError::Ambiguous { .. }), "{err}");
    }

    #[test]
    fn a_name_on_several_images_is_ambiguous() {
        let (bytes, roots) = oci_archive_bytes(&[
            ("v1", image("a", Compression::None).into()),
            ("v1", image("b", Compression::None).into()),
            ("v2", image("a", Compression::None).into()),
            ("v2", image("a", Compression::None).into()),
        ]);
        let (_d, path) = temp_file(&bytes);
        let archive = OciArchive::open(&path).unwrap();
        let err = archive.root(Some("v1"), &Limits::default()).unwrap_err();
        assert!(matches!(err, SourceError::AmbiguousName { .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("\"v1\" is on several images")
                && text.contains(&roots[0])
                && text.contains(&roots[1]),
            "{text}"
        );
        // The same image listed twice under a name is that image; a digest names one.
        let v2 = archive.root(Some("v2"), &Limits::default()).unwrap();
        assert_eq!(v2.descriptor.unwrap().digest.to_string(), roots[0]);
        let b = archive.root(Some(&roots[1]), &Limits::default()).unwrap();
        assert_eq!(b.descriptor.unwrap().digest.to_string(), roots[1]);
    }

    #[test]
    fn missing_blob_is_not_found() {
        let (bytes, _) = oci_archive_bytes(&[("v1", image("a", Compression::None).into())]);
        let (_d, path) = temp_file(&bytes);
        let archive = OciArchive::open(&path).unwrap();
        let err = BlobSource::open(&archive, &Digest::sha256_of(b"nope"))
            .err()
            .unwrap();
        assert!(matches!(err, ContentError::NotFound { .. }), "{err}");
        assert!(err.to_string().contains("OCI archive"), "{err}");
    }

    #[test]
    fn a_tar_without_a_layout_is_refused() {
        let (_d, path) = temp_file(&Layer::new(vec![Entry::file("index.json", "{}")]).tar_bytes());
        let err = OciArchive::open(&path).err().unwrap();
        assert!(err.to_string().contains("no oci-layout member"), "{err}");
    }

    #[test]
    fn bare_path_and_transport_open_through_source_open() {
        let (bytes, _) = oci_archive_bytes(&[("v1", image("a", Compression::Gzip).into())]);
        let (_d, path) = temp_file(&bytes);
        let bare = ImageRef::parse(path.to_str().unwrap()).unwrap();
        assert_eq!(bare.transport(), "oci-archive");
        let image = crate::source::open(&bare, &Default::default()).unwrap();
        assert_eq!(verify_all(&image.root, image.blobs.as_ref()), 3);
        let named = ImageRef::parse(&format!("oci-archive:{}:v1", path.display())).unwrap();
        assert!(crate::source::open(&named, &Default::default()).is_ok());
    }
}
