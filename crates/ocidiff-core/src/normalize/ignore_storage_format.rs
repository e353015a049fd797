//! `--semantic`'s own rule (diffoci has none such): the same content stored as a Docker or an
//! OCI image, compressed in any way, is the same image. Media types compare by kind, and what
//! a Docker → OCI conversion (skopeo, containerd) drops from the config is not compared.

use serde_json::{Map, Value};

use super::{Aspect, Rule};
use crate::model::media;

pub(super) const RULE: Rule = Rule::new(
    "ignore-storage-format",
    "Ignore Docker or OCI media types of the same kind, layer compression and the \
     Docker-only config fields a conversion to OCI drops.",
    |r| &mut r.ignore_storage_format,
)
.setting_aside(&[Aspect::StorageFormat])
// An OCI document may omit its mediaType; a Docker one always names its own.
.preparing_document(|doc, canonical_type| {
    doc.insert("mediaType".into(), Value::String(canonical_type.into()));
})
.preparing_config(drop_docker_only)
.preparing_manifests(drop_what_docker_cannot_carry);

/// A Docker manifest has no annotations, so `docker save` of an image loses those of its OCI
/// manifest (buildah's `org.opencontainers.image.base.name`, …): against a Docker manifest,
/// the other one's annotations are a loss of the storage format.
fn drop_what_docker_cannot_carry(docs: &mut [Value; 2]) {
    let is_docker =
        |d: &Value| d.get("mediaType").and_then(Value::as_str) == Some(media::DOCKER_MANIFEST);
    let docker = [is_docker(&docs[0]), is_docker(&docs[1])];
    for (doc, other_is_docker) in docs.iter_mut().zip([docker[1], docker[0]]) {
        if other_is_docker {
            if let Value::Object(map) = doc {
                map.remove("annotations");
            }
        }
    }
}

/// What a Docker → OCI conversion drops: Docker-only fields, and members of `config` that
/// hold nothing.
fn drop_docker_only(config: &mut Map<String, Value>) {
    for docker_only in ["container", "container_config", "docker_version"] {
        config.remove(docker_only);
    }
    if let Some(Value::Object(cfg)) = config.get_mut("config") {
        cfg.retain(|_, v| !is_empty_value(v));
        // The classic builder's parent image ID: OCI configs have no such member.
        cfg.remove("Image");
    }
    if config.get("config").is_some_and(is_empty_value) {
        config.remove("config");
    }
}

/// What Go's `omitempty` leaves out, and so what a conversion may drop.
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

    use crate::model::media;
    use crate::normalize::{Rules, document};

    fn only_this() -> Rules {
        Rules {
            ignore_storage_format: true,
            ..Rules::default()
        }
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
        let s = only_this();
        assert_eq!(
            document::config(docker.clone(), &s),
            document::config(oci.clone(), &s)
        );
        assert_ne!(
            document::config(docker, &Rules::default()),
            document::config(oci, &Rules::default())
        );
    }

    #[test]
    fn drops_only_empty_config_members() {
        let doc = json!({
            "config": {
                "Hostname": "", "Tty": false, "Volumes": null, "OnBuild": [], "Labels": {},
                "User": "nobody", "Env": ["A=1"], "Tty2": true, "StopTimeout": 0,
                "Image": "sha256:parent"
            }
        });
        assert_eq!(
            document::config(doc, &only_this()),
            json!({"config": {"User": "nobody", "Env": ["A=1"], "Tty2": true, "StopTimeout": 0}})
        );
        let empty = json!({"config": {"Hostname": "", "Image": ""}});
        assert_eq!(document::config(empty, &only_this()), json!({}));
    }

    #[test]
    fn documents_take_the_oci_media_type() {
        let doc = json!({"schemaVersion": 2, "config": {}, "layers": []});
        assert_eq!(
            document::manifest(doc, &only_this()),
            json!({"schemaVersion": 2, "mediaType": media::OCI_MANIFEST})
        );
    }
}
