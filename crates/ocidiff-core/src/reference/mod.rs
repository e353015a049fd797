//! What the user typed to name an image, parsed into a transport and its arguments.
//!
//! The syntax is skopeo's for local files (`oci:`, `oci-archive:`, `docker-archive:`) and
//! diffoci's for the daemons (`docker://` is the Docker daemon, as in diffoci and dive, not a
//! registry as in skopeo). A bare path to an existing file or directory is recognised by what
//! it holds.

mod docker;

use std::fmt;
use std::path::{Path, PathBuf};

pub use docker::{DOCKER_HUB, DockerRef, DockerRefError};

/// A parsed image name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageRef {
    /// An OCI image layout directory, optionally naming an image by its `ref.name`.
    OciDir {
        /// The layout directory.
        path: PathBuf,
        /// The `org.opencontainers.image.ref.name` to open, when the layout holds several.
        reference: Option<String>,
    },
    /// A tar of an OCI image layout.
    OciArchive {
        /// The archive file.
        path: PathBuf,
        /// The `org.opencontainers.image.ref.name` to open, when the archive holds several.
        reference: Option<String>,
    },
    /// `docker save` output; the reference picks one of its `RepoTags`.
    DockerArchive {
        /// The archive file.
        path: PathBuf,
        /// The `RepoTags` name to open, when the archive holds several images.
        reference: Option<String>,
    },
    /// An image in the Docker daemon.
    Docker(String),
    /// An image in Podman's store.
    Podman(String),
    /// An image in containerd's store.
    Containerd(String),
    /// An image in a registry.
    Registry(String),
}

/// Why an image name could not be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum RefError {
    /// Nothing after `oci:`, `oci-archive:` or `docker-archive:` (the input quoted).
    #[error("invalid image reference {0:?}: the path after the transport is empty")]
    EmptyPath(String),
    /// No image name after a transport that needs one (the input quoted).
    #[error("invalid image reference {0:?}: the name after the transport is empty")]
    EmptyName(String),
    /// A bare path that could not be read to tell what it is: the input, and why.
    #[error("invalid image reference {0:?}: {1}")]
    Unreadable(String, String),
}

impl ImageRef {
    /// Parses a reference. Bare paths are classified by looking at the file system, which is
    /// why this is not `FromStr`.
    pub fn parse(input: &str) -> Result<ImageRef, RefError> {
        let path_and_ref = |rest: &str| -> Result<(PathBuf, Option<String>), RefError> {
            let (path, reference) = match rest.split_once(':') {
                Some((p, r)) if !r.is_empty() => (p, Some(r.to_owned())),
                Some((p, _)) => (p, None),
                None => (rest, None),
            };
            if path.is_empty() {
                return Err(RefError::EmptyPath(input.to_owned()));
            }
            Ok((PathBuf::from(path), reference))
        };
        let name = |rest: &str| -> Result<String, RefError> {
            if rest.is_empty() {
                Err(RefError::EmptyName(input.to_owned()))
            } else {
                Ok(rest.to_owned())
            }
        };
        if let Some(rest) = input.strip_prefix("oci:") {
            let (path, reference) = path_and_ref(rest)?;
            return Ok(ImageRef::OciDir { path, reference });
        }
        if let Some(rest) = input.strip_prefix("oci-archive:") {
            let (path, reference) = path_and_ref(rest)?;
            return Ok(ImageRef::OciArchive { path, reference });
        }
        if let Some(rest) = input.strip_prefix("docker-archive:") {
            let (path, reference) = path_and_ref(rest)?;
            return Ok(ImageRef::DockerArchive { path, reference });
        }
        if let Some(rest) = input.strip_prefix("docker://") {
            return Ok(ImageRef::Docker(name(rest)?));
        }
        if let Some(rest) = input.strip_prefix("docker-daemon:") {
            return Ok(ImageRef::Docker(name(rest)?));
        }
        if let Some(rest) = input.strip_prefix("podman://") {
            return Ok(ImageRef::Podman(name(rest)?));
        }
        if let Some(rest) = input.strip_prefix("containerd://") {
            return Ok(ImageRef::Containerd(name(rest)?));
        }
        let path = Path::new(input);
        if path.is_dir() {
            return Ok(ImageRef::OciDir {
                path: path.to_owned(),
                reference: None,
            });
        }
        if path.is_file() {
            return classify_archive(input, path);
        }
        if input.is_empty() {
            return Err(RefError::EmptyName(input.to_owned()));
        }
        Ok(ImageRef::Registry(input.to_owned()))
    }

    /// The transport's name as the user would write it.
    pub fn transport(&self) -> &'static str {
        match self {
            ImageRef::OciDir { .. } => "oci",
            ImageRef::OciArchive { .. } => "oci-archive",
            ImageRef::DockerArchive { .. } => "docker-archive",
            ImageRef::Docker(_) => "docker",
            ImageRef::Podman(_) => "podman",
            ImageRef::Containerd(_) => "containerd",
            ImageRef::Registry(_) => "registry",
        }
    }
}

/// Tells an OCI archive from a `docker save` tarball by its member names: a tarball with a
/// `manifest.json` is docker-archive (newer Docker writes an OCI layout inside it too, which
/// the docker-archive reader understands); one with only `oci-layout` and `index.json` is an
/// OCI archive.
fn classify_archive(input: &str, path: &Path) -> Result<ImageRef, RefError> {
    let unreadable = |e: std::io::Error| RefError::Unreadable(input.to_owned(), e.to_string());
    let file = std::fs::File::open(path).map_err(unreadable)?;
    let mut archive = tar::Archive::new(file);
    let mut has_oci_layout = false;
    for entry in archive.entries().map_err(unreadable)? {
        let entry = entry.map_err(|e| {
            RefError::Unreadable(
                input.to_owned(),
                format!("not a tar archive or OCI layout directory ({e})"),
            )
        })?;
        let name = entry.path().map_err(unreadable)?;
        let name = name.to_string_lossy();
        let name = name.trim_start_matches("./");
        if name == "manifest.json" {
            return Ok(ImageRef::DockerArchive {
                path: path.to_owned(),
                reference: None,
            });
        }
        has_oci_layout |= name == "oci-layout";
    }
    if has_oci_layout {
        return Ok(ImageRef::OciArchive {
            path: path.to_owned(),
            reference: None,
        });
    }
    Err(RefError::Unreadable(
        input.to_owned(),
        "the archive holds neither manifest.json (docker save) nor oci-layout (OCI archive)".into(),
    ))
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let with_ref = |f: &mut fmt::Formatter<'_>, t: &str, p: &Path, r: &Option<String>| {
            write!(f, "{t}:{}", p.display())?;
            if let Some(r) = r {
                write!(f, ":{r}")?;
            }
            Ok(())
        };
        match self {
            ImageRef::OciDir { path, reference } => with_ref(f, "oci", path, reference),
            ImageRef::OciArchive { path, reference } => with_ref(f, "oci-archive", path, reference),
            ImageRef::DockerArchive { path, reference } => {
                with_ref(f, "docker-archive", path, reference)
            }
            ImageRef::Docker(n) => write!(f, "docker://{n}"),
            ImageRef::Podman(n) => write!(f, "podman://{n}"),
            ImageRef::Containerd(n) => write!(f, "containerd://{n}"),
            ImageRef::Registry(n) => f.write_str(n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_transports() {
        assert_eq!(
            ImageRef::parse("oci:/tmp/x:v1").unwrap(),
            ImageRef::OciDir {
                path: "/tmp/x".into(),
                reference: Some("v1".into())
            }
        );
        assert_eq!(
            ImageRef::parse("oci-archive:a.tar").unwrap(),
            ImageRef::OciArchive {
                path: "a.tar".into(),
                reference: None
            }
        );
        assert_eq!(
            ImageRef::parse("docker-archive:a.tar:foo:latest").unwrap(),
            ImageRef::DockerArchive {
                path: "a.tar".into(),
                reference: Some("foo:latest".into())
            }
        );
        assert_eq!(
            ImageRef::parse("docker://alpine").unwrap(),
            ImageRef::Docker("alpine".into())
        );
        assert_eq!(
            ImageRef::parse("alpine:3.18").unwrap(),
            ImageRef::Registry("alpine:3.18".into())
        );
        assert!(matches!(
            ImageRef::parse("oci:"),
            Err(RefError::EmptyPath(_))
        ));
        assert!(matches!(
            ImageRef::parse("docker://"),
            Err(RefError::EmptyName(_))
        ));
    }

    #[test]
    fn bare_directory_is_an_oci_layout() {
        let dir = tempfile::tempdir().unwrap();
        let s = dir.path().to_str().unwrap();
        assert_eq!(ImageRef::parse(s).unwrap().transport(), "oci");
    }

    #[test]
    fn bare_file_that_is_not_an_archive_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("junk");
        std::fs::write(&f, b"not a tar").unwrap();
        let err = ImageRef::parse(f.to_str().unwrap()).unwrap_err();
        assert!(err.to_string().contains("invalid image reference"), "{err}");
    }
}
