//! `--ignore-builder-metadata`: what builders write about themselves into the documents, as
//! found in their sources and outputs (`docs/builders.md` lists them with the builders that
//! write them). None of it reaches the container a runtime starts.

use serde_json::{Map, Value};

use super::Rule;

pub(super) const RULE: Rule = Rule::new(
    "ignore-builder-metadata",
    "Ignore labels, annotations, history comments and config fields builders add about \
     themselves (io.buildah.version, moby.buildkit.*, base-image annotations, …).",
    |r| &mut r.ignore_builder_metadata,
)
.ignoring_annotations(is_builder_annotation)
.preparing_config(drop_builder_fields);

/// Config labels: buildah and `podman build` add their version (unless told
/// `--identity-label=false`).
const LABELS: [&str; 1] = ["io.buildah.version"];

/// Manifest and index annotations: buildah (and BuildKit, asked to) name the base image a
/// build started from.
const ANNOTATIONS: [&str; 2] = [
    "org.opencontainers.image.base.name",
    "org.opencontainers.image.base.digest",
];

/// Top-level config members: BuildKit's build record (0.10) and inline cache metadata
/// (`BUILDKIT_INLINE_CACHE=1`, `--cache-to type=inline`).
const CONFIG_MEMBERS: [&str; 2] = ["moby.buildkit.buildinfo.v1", "moby.buildkit.cache.v0"];

fn is_builder_annotation(key: &str) -> bool {
    ANNOTATIONS.contains(&key) || key.starts_with("moby.buildkit.")
}

fn drop_builder_fields(config: &mut Map<String, Value>) {
    for member in CONFIG_MEMBERS {
        config.remove(member);
    }
    config.retain(|k, _| !k.starts_with("moby.buildkit."));
    let windows = config.get("os").and_then(Value::as_str) == Some("windows");
    if let Some(Value::Object(cfg)) = config.get_mut("config") {
        // BuildKit sets it on every CMD and ENTRYPOINT; only Windows runtimes read it (it says
        // how to join the arguments into one command line).
        if !windows {
            cfg.remove("ArgsEscaped");
        }
        if let Some(Value::Object(labels)) = cfg.get_mut("Labels") {
            labels.retain(|k, _| !LABELS.contains(&k.as_str()));
            // No labels and an empty map are the same to every reader.
            if labels.is_empty() {
                cfg.remove("Labels");
            }
        }
    }
    // The builder's note on each step: `buildkit.dockerfile.v0`, buildah's `FROM <base>`,
    // `docker import`'s `Imported from -`.
    if let Some(Value::Array(history)) = config.get_mut("history") {
        for step in history.iter_mut().filter_map(Value::as_object_mut) {
            step.remove("comment");
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::normalize::{Rules, document};

    fn only_this() -> Rules {
        Rules {
            ignore_builder_metadata: true,
            ..Rules::default()
        }
    }

    #[test]
    fn drops_what_builders_say_about_themselves() {
        let config = json!({
            "os": "linux",
            "moby.buildkit.buildinfo.v1": "e30=",
            "config": {
                "ArgsEscaped": true,
                "Cmd": ["/bin/sh"],
                "Labels": {"io.buildah.version": "1.28.2", "org.example": "kept"}
            },
            "history": [{"created_by": "RUN x", "comment": "buildkit.dockerfile.v0"}]
        });
        assert_eq!(
            document::config(config, &only_this()),
            json!({
                "os": "linux",
                "config": {"Cmd": ["/bin/sh"], "Labels": {"org.example": "kept"}},
                "history": [{"created_by": "RUN x"}]
            })
        );
        let manifest = json!({"schemaVersion": 2, "annotations": {
            "org.opencontainers.image.base.name": "docker.io/library/busybox:1",
            "org.opencontainers.image.base.digest": "sha256:00",
            "org.opencontainers.image.source": "kept"
        }});
        assert_eq!(
            document::manifest(manifest, &only_this()),
            json!({"schemaVersion": 2, "annotations": {"org.opencontainers.image.source": "kept"}})
        );
    }

    #[test]
    fn windows_reads_args_escaped() {
        let config = json!({"os": "windows", "config": {"ArgsEscaped": true}});
        assert_eq!(document::config(config.clone(), &only_this()), config);
        let labelled = json!({"config": {"Labels": {"io.buildah.version": "1"}}});
        assert_eq!(
            document::config(labelled, &only_this()),
            json!({"config": {}})
        );
    }
}
