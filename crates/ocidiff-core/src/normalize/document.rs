//! What each rule removes from the JSON documents before they are compared.

use serde_json::{Map, Value};

use super::Rules;
use crate::model::media;

/// Prepares a manifest: `config` and `layers` are compared as descriptors, not here.
pub fn manifest(mut doc: Value, rules: &Rules) -> Value {
    if let Value::Object(map) = &mut doc {
        map.remove("config");
        map.remove("layers");
        common(map, rules, media::OCI_MANIFEST);
    }
    doc
}

/// Prepares an index: its `manifests` are compared platform by platform, not here.
pub fn index(mut doc: Value, rules: &Rules) -> Value {
    if let Value::Object(map) = &mut doc {
        map.remove("manifests");
        common(map, rules, media::OCI_INDEX);
    }
    doc
}

fn common(map: &mut Map<String, Value>, rules: &Rules, canonical_type: &str) {
    if rules.ignore_storage_format {
        // An OCI document may omit its mediaType; a Docker one always names its own.
        map.insert("mediaType".into(), Value::String(canonical_type.into()));
    }
    annotations(map, rules);
}

/// Drops the annotations the rules ignore, and the map itself when nothing is left of it.
fn annotations(map: &mut Map<String, Value>, rules: &Rules) {
    if let Some(Value::Object(ann)) = map.get_mut("annotations") {
        ann.retain(|k, _| !rules.ignores_annotation(k));
        if ann.is_empty() {
            map.remove("annotations");
        }
    }
}

/// Prepares an image config.
pub fn config(mut doc: Value, rules: &Rules) -> Value {
    let Value::Object(map) = &mut doc else {
        return doc;
    };
    if rules.ignore_history {
        map.remove("history");
    }
    if rules.ignore_image_timestamps {
        map.remove("created");
        if let Some(Value::Array(history)) = map.get_mut("history") {
            for h in history {
                if let Value::Object(h) = h {
                    h.remove("created");
                }
            }
        }
    }
    if rules.any() || rules.flatten {
        if let Some(Value::Object(rootfs)) = map.get_mut("rootfs") {
            rootfs.remove("diff_ids");
        }
    }
    if rules.ignore_storage_format {
        // What a Docker → OCI conversion (skopeo, containerd) drops: Docker-only fields, and
        // members of `config` that hold nothing.
        for docker_only in ["container", "container_config", "docker_version"] {
            map.remove(docker_only);
        }
        if let Some(Value::Object(cfg)) = map.get_mut("config") {
            cfg.retain(|_, v| !is_empty_value(v));
            // The classic builder's parent image ID: OCI configs have no such member.
            cfg.remove("Image");
        }
        if map.get("config").is_some_and(is_empty_value) {
            map.remove("config");
        }
    }
    doc
}

fn is_empty_value(v: &Value) -> bool {
    match v {
        Value::Null | Value::Bool(false) => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Number(_) | Value::Bool(true) => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn history_and_timestamps() {
        let doc = json!({"created": "a", "history": [{"created": "b", "created_by": "RUN x"}]});
        let only_ts = Rules {
            ignore_image_timestamps: true,
            ..Rules::default()
        };
        assert_eq!(
            config(doc.clone(), &only_ts),
            json!({"history": [{"created_by": "RUN x"}]})
        );
        let only_history = Rules {
            ignore_history: true,
            ..Rules::default()
        };
        assert_eq!(config(doc.clone(), &only_history), json!({"created": "a"}));
        assert_eq!(config(doc.clone(), &Rules::default()), doc);
    }

    #[test]
    fn docker_config_equals_its_oci_conversion() {
        let docker = json!({
            "architecture": "amd64", "os": "linux", "docker_version": "20.10",
            "container": "abc", "container_config": {"Cmd": ["sh"]},
            "config": {"Hostname": "", "AttachStdin": false, "Env": ["PATH=/bin"], "Cmd": ["sh"],
                       "Volumes": null, "OnBuild": null, "Labels": {}},
            "rootfs": {"type": "layers", "diff_ids": ["sha256:x"]}
        });
        let oci = json!({
            "architecture": "amd64", "os": "linux",
            "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"]},
            "rootfs": {"type": "layers", "diff_ids": ["sha256:x"]}
        });
        let s = Rules::semantic();
        assert_eq!(config(docker.clone(), &s), config(oci.clone(), &s));
        assert_ne!(
            config(docker, &Rules::default()),
            config(oci, &Rules::default())
        );
    }

    #[test]
    fn manifest_drops_children_and_ignored_annotations() {
        let doc = json!({
            "schemaVersion": 2, "config": {}, "layers": [],
            "annotations": {"org.opencontainers.image.created": "x", "keep": "y"}
        });
        let s = Rules::semantic();
        assert_eq!(
            manifest(doc, &s),
            json!({"schemaVersion": 2, "annotations": {"keep": "y"}, "mediaType": media::OCI_MANIFEST})
        );
    }

    #[test]
    fn index_drops_its_entries_and_ignored_annotations() {
        let doc = json!({
            "schemaVersion": 2, "manifests": [{}],
            "annotations": {"io.containerd.image.name": "x", "keep": "y"}
        });
        assert_eq!(
            index(doc.clone(), &Rules::default()),
            json!({"schemaVersion": 2, "annotations": {"io.containerd.image.name": "x", "keep": "y"}})
        );
        assert_eq!(
            index(doc, &Rules::semantic()),
            json!({"schemaVersion": 2, "annotations": {"keep": "y"}, "mediaType": media::OCI_INDEX})
        );
    }

    #[test]
    fn storage_format_drops_only_empty_config_members() {
        let doc = json!({
            "config": {
                "Hostname": "", "Tty": false, "Volumes": null, "OnBuild": [], "Labels": {},
                "User": "nobody", "Env": ["A=1"], "Tty2": true, "StopTimeout": 0,
                "Image": "sha256:parent"
            }
        });
        assert_eq!(
            config(doc, &Rules::semantic()),
            json!({"config": {"User": "nobody", "Env": ["A=1"], "Tty2": true, "StopTimeout": 0}})
        );
        let empty = json!({"config": {"Hostname": "", "Image": ""}});
        assert_eq!(config(empty, &Rules::semantic()), json!({}));
    }
}
