//! Naming the cause of each difference and saying, in a sentence, why it was counted or set
//! aside. One place for these words, so that every renderer explains findings the same way.

use crate::finding::{Class, FieldDiff, Finding, Kind};

/// A finding from its fields (see [`Finding::new`]).
pub fn finding(kind: Kind, location: &str, name: &str, fields: Vec<FieldDiff>) -> Finding {
    Finding::new(kind, location, name, fields)
}

/// Re-derives class, counted and explanation after fields changed.
pub fn refresh(f: &mut Finding) {
    f.refresh();
}

/// The class of a differing JSON value at `path` of a document of `kind`.
/// `counted` says whether `--semantic` counts it: what it sets aside of the storage format
/// (media types, Docker-only config members, annotations a Docker manifest cannot carry) is
/// classed as such.
pub fn json_class(kind: Kind, path: &str, counted: bool) -> Class {
    let annotation = path.strip_prefix(".annotations");
    if let Some(key) = annotation {
        return match key
            .trim_start_matches(['[', '"', '.'])
            .trim_end_matches([']', '"'])
        {
            "org.opencontainers.image.created" => Class::Timestamp,
            "io.containerd.image.name" | "org.opencontainers.image.ref.name" => Class::ImageName,
            _ if !counted => Class::StorageFormat,
            _ => Class::Annotation,
        };
    }
    if path == ".mediaType" || path == ".schemaVersion" {
        return if counted {
            Class::Other
        } else {
            Class::StorageFormat
        };
    }
    if kind != Kind::Config {
        return Class::Other;
    }
    if path == ".created" || (path.starts_with(".history[") && path.ends_with(".created")) {
        return Class::Timestamp;
    }
    if path.starts_with(".history") {
        // A builder's note on a step (`buildkit.dockerfile.v0`, buildah's `FROM <base>`).
        return if path.ends_with("].comment") {
            Class::BuilderMetadata
        } else {
            Class::History
        };
    }
    if path.starts_with(".rootfs.diff_ids") {
        return Class::Derived;
    }
    if path.starts_with(".container")
        || path.starts_with(".docker_version")
        || (path.starts_with(".config") && !counted)
    {
        return Class::StorageFormat;
    }
    Class::ConfigField
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn most_significant_counted_field_names_the_finding() {
        let f = finding(
            Kind::File,
            "l",
            "a",
            vec![
                FieldDiff::new("mtime", Some(json!(1)), Some(json!(2)), Class::Timestamp)
                    .set_aside(),
                FieldDiff::new(
                    "mode",
                    Some(json!("0644")),
                    Some(json!("0755")),
                    Class::Permission,
                ),
                FieldDiff::new("digest", Some(json!("x")), Some(json!("y")), Class::Content)
                    .set_aside(),
            ],
        );
        assert!(f.counted);
        assert_eq!(f.class, Class::Permission);
        let f = finding(
            Kind::File,
            "l",
            "a",
            vec![FieldDiff::new("mtime", None, None, Class::Timestamp).set_aside()],
        );
        assert!(!f.counted);
        assert_eq!(f.class, Class::Timestamp);
        assert!(f.explanation.contains("set aside"));
    }

    #[test]
    fn json_paths_are_classed() {
        for path in [".container", ".container_config.Cmd", ".docker_version"] {
            assert_eq!(
                json_class(Kind::Config, path, true),
                Class::StorageFormat,
                "{path}"
            );
        }
        assert_eq!(
            json_class(Kind::Config, ".config.Cmd[0]", true),
            Class::ConfigField
        );
        assert_eq!(
            json_class(
                Kind::Manifest,
                ".annotations[\"org.opencontainers.image.created\"]",
                true
            ),
            Class::Timestamp
        );
        assert_eq!(
            json_class(Kind::Index, ".annotations.org.example", true),
            Class::Annotation
        );
        assert_eq!(
            json_class(Kind::Config, ".created", false),
            Class::Timestamp
        );
        assert_eq!(
            json_class(Kind::Config, ".history[2].created", false),
            Class::Timestamp
        );
        assert_eq!(
            json_class(Kind::Config, ".history[2].created_by", true),
            Class::History
        );
        assert_eq!(
            json_class(Kind::Config, ".config.Env[0]", true),
            Class::ConfigField
        );
        assert_eq!(
            json_class(Kind::Config, ".config.Hostname", false),
            Class::StorageFormat
        );
        assert_eq!(
            json_class(
                Kind::Manifest,
                ".annotations[\"io.containerd.image.name\"]",
                false
            ),
            Class::ImageName
        );
        assert_eq!(
            json_class(Kind::Manifest, ".mediaType", false),
            Class::StorageFormat
        );
    }
}
