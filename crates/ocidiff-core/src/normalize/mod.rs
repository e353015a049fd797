//! What the comparison ignores: diffoci's `--ignore-*` options with the same names and
//! meanings, and what `--semantic` adds on top of them.

pub mod document;
mod ignore_path;

pub use ignore_path::{PathFilter, PatternError};

use schemars::JsonSchema;
use serde::Serialize;

/// The ignore rules of one run. Everything is compared unless a rule says otherwise.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Rules {
    /// Config `history` is not compared.
    pub ignore_history: bool,
    /// An entry's position in its layer is not compared.
    pub ignore_file_order: bool,
    /// Only `mode & 0o7777` is compared: the file-type bits some builders set are not.
    pub ignore_file_mode_redundant_bits: bool,
    /// Entries' mtime, atime and ctime (and their PAX records) are not compared.
    pub ignore_file_timestamps: bool,
    /// `created` of config and history and the `org.opencontainers.image.created` annotation
    /// are not compared.
    pub ignore_image_timestamps: bool,
    /// The annotations naming the image (`io.containerd.image.name`,
    /// `org.opencontainers.image.ref.name`) are not compared.
    pub ignore_image_name: bool,
    /// USTAR, PAX and GNU headers holding the same data are equal.
    pub ignore_tar_format: bool,
    /// `/a`, `./a` and `a` are the same path (names and link targets).
    pub treat_canonical_paths_equal: bool,
    /// The same content under Docker or OCI media types, compressed in any way, is the same
    /// image: media types are compared by kind, and the Docker-only config fields a
    /// Docker→OCI conversion drops (`container`, `container_config`, `docker_version`, empty
    /// `config` members) are not compared. On with `--semantic`; diffoci has no such rule.
    pub ignore_storage_format: bool,
    /// Compare the file systems the layers produce (whiteouts applied) instead of the layers
    /// one by one: how the files are split into layers is then not compared. Not part of
    /// `--semantic`, since a rebuild that reproduces the layers is the stronger result.
    pub flatten: bool,
    /// Read the images' package databases: report packages added, removed or changed, and
    /// attribute each differing file to its package. Not part of `--semantic`: it reads more
    /// and changes what a difference is classed as, not whether it counts.
    pub packages: bool,
}

impl Rules {
    /// `--semantic`: every rule on.
    pub fn semantic() -> Rules {
        Rules {
            ignore_history: true,
            ignore_file_order: true,
            ignore_file_mode_redundant_bits: true,
            ignore_file_timestamps: true,
            ignore_image_timestamps: true,
            ignore_image_name: true,
            ignore_tar_format: true,
            treat_canonical_paths_equal: true,
            ignore_storage_format: true,
            flatten: false,
            packages: false,
        }
    }

    /// Whether any rule is on. Then, as in diffoci, descriptors' digests and sizes and the
    /// config's `rootfs.diff_ids` are not compared: they change with anything ignored below
    /// them, and the content they address is compared on its own.
    pub fn any(&self) -> bool {
        let ignores = Rules {
            flatten: false,
            packages: false,
            ..*self
        };
        ignores != Rules::default()
    }

    /// A path as `--treat-canonical-paths-equal` sees it: leading `/` then `./` removed.
    pub fn path<'a>(&self, name: &'a str) -> &'a str {
        if !self.treat_canonical_paths_equal {
            return name;
        }
        let mut n = name.trim_start_matches('/');
        while let Some(rest) = n.strip_prefix("./") {
            n = rest.trim_start_matches('/');
        }
        if n.is_empty() || n == "." { "." } else { n }
    }

    /// Whether an annotation key is left out of the comparison.
    pub fn ignores_annotation(&self, key: &str) -> bool {
        (self.ignore_image_timestamps && key == "org.opencontainers.image.created")
            || (self.ignore_image_name
                && matches!(
                    key,
                    "io.containerd.image.name" | "org.opencontainers.image.ref.name"
                ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_paths() {
        let r = Rules {
            treat_canonical_paths_equal: true,
            ..Rules::default()
        };
        assert_eq!(r.path("/etc/passwd"), "etc/passwd");
        assert_eq!(r.path("./etc/passwd"), "etc/passwd");
        assert_eq!(r.path("/./etc"), "etc");
        assert_eq!(r.path("./"), ".");
        assert_eq!(Rules::default().path("./etc"), "./etc");
    }

    #[test]
    fn semantic_is_everything() {
        assert!(Rules::semantic().any());
        assert!(!Rules::default().any());
        assert!(Rules::semantic().ignores_annotation("org.opencontainers.image.created"));
        assert!(!Rules::semantic().ignores_annotation("org.opencontainers.image.source"));
    }
}
