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
    /// A name that can only be meant as a path (`./x`, `/x`, `x/`, `x.tar`…) and names
    /// nothing on disk.
    #[error("{0:?}: no such file or directory")]
    NoSuchPath(String),
    /// `SCHEME://…` with a scheme ocidiff does not know.
    #[error(
        "{input:?}: unknown transport {scheme}://; ocidiff reads oci:, oci-archive:, \
         docker-archive:, docker:// (the Docker daemon), docker-daemon:, podman://, \
         containerd:// and registry names"
    )]
    UnknownTransport {
        /// The input as typed.
        input: String,
        /// What stands before `://`.
        scheme: String,
    },
    /// Neither a path on disk nor a valid registry name.
    #[error("{input:?} is no file or directory here, nor an image name: {reason}")]
    NotAName {
        /// The input as typed.
        input: String,
        /// Why it is not an image name.
        reason: String,
    },
    /// An existing file that is not a tar archive (the input quoted; its bytes never are).
    #[error(
        "{0:?} is not an image: neither a tar archive (docker save, OCI archive) nor an OCI \
         layout directory"
    )]
    NotAnImage(String),
    /// An archive compressed as a whole, which `docker save` and OCI archives are not.
    #[error(
        "{input:?} is {compression}-compressed: ocidiff reads docker save and OCI archives as tar (decompress it first)"
    )]
    Compressed {
        /// The input as typed.
        input: String,
        /// `gzip` or `zstd`.
        compression: &'static str,
    },
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
        if let Some((scheme, _)) = input.split_once("://") {
            return Err(RefError::UnknownTransport {
                input: input.to_owned(),
                scheme: scheme.to_owned(),
            });
        }
        if looks_like_path(input) {
            return Err(RefError::NoSuchPath(input.to_owned()));
        }
        if let Err(e) = DockerRef::parse(input) {
            return Err(RefError::NotAName {
                input: input.to_owned(),
                reason: e.reason,
            });
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
/// Whether a name that names nothing on disk was meant as a path: no image name starts or
/// ends like this, or names an archive's extension.
fn looks_like_path(input: &str) -> bool {
    let archive = [".tar", ".tar.gz", ".tgz", ".tar.zst", ".oci"];
    input.starts_with(['/', '.', '~'])
        || input.ends_with('/')
        || input.contains('\\')
        || archive.iter().any(|ext| input.ends_with(ext))
}

/// What an existing file holds: `docker save` output or an OCI archive. What the tar parser
/// says of anything else is not quoted, since it quotes the file's bytes.
fn classify_archive(input: &str, path: &Path) -> Result<ImageRef, RefError> {
    let unreadable = |e: std::io::Error| RefError::Unreadable(input.to_owned(), e.to_string());
    let mut file = std::fs::File::open(path).map_err(unreadable)?;
    let mut magic = [0u8; 4];
    let n = std::io::Read::read(&mut file, &mut magic).map_err(unreadable)?;
    let compression = match magic[..n] {
        [0x1f, 0x8b, ..] => Some("gzip"),
        [0x28, 0xb5, 0x2f, 0xfd] => Some("zstd"),
        _ => None,
    };
    if let Some(compression) = compression {
        return Err(RefError::Compressed {
            input: input.to_owned(),
            compression,
        });
    }
    std::io::Seek::rewind(&mut file).map_err(unreadable)?;
    let mut archive = tar::Archive::new(file);
    let mut has_oci_layout = false;
    for entry in archive.entries().map_err(unreadable)? {
        let entry = entry.map_err(|_| RefError::NotAnImage(input.to_owned()))?;
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
    fn common_mistakes_say_what_they_are() {
        let err = |s: &str| ImageRef::parse(s).unwrap_err();
        for path in [
            "./no-such",
            "/no/such",
            "no-such/",
            "~/img",
            "app.tar",
            "x.tgz",
        ] {
            assert_eq!(err(path), RefError::NoSuchPath(path.into()), "{path}");
        }
        assert!(matches!(
            err("foo://x"),
            RefError::UnknownTransport { scheme, .. } if scheme == "foo"
        ));
        assert!(matches!(err("Dockerfile"), RefError::NotAName { .. }));
        assert!(ImageRef::parse("ghcr.io/o/app:1").is_ok());

        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("passwd");
        std::fs::write(&text, "root:x:0:0:root:/root:/bin/bash\n".repeat(40)).unwrap();
        let text = text.to_str().unwrap();
        let e = err(text);
        assert_eq!(e, RefError::NotAnImage(text.into()));
        assert!(!e.to_string().contains("root:x"), "{e}");
        let gz = dir.path().join("image.tar.gz");
        std::fs::write(&gz, [0x1f, 0x8b, 8, 0, 0, 0]).unwrap();
        assert!(matches!(
            err(gz.to_str().unwrap()),
            RefError::Compressed {
                compression: "gzip",
                ..
            }
        ));
    }

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
        assert!(err.to_string().contains("is not an image"), "{err}");
    }
}
