//! The JSON documents as the rules leave them to be compared: each rule that is on removes
//! what it ignores.

use serde_json::{Map, Value};

use super::{Aspect, Rules};
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

/// Prepares the two manifests of a pair: what a rule ignores because of what the other one is
/// (before anything else), then [`manifest`] for each.
pub fn manifests(mut docs: [Value; 2], rules: &Rules) -> [Value; 2] {
    for rule in rules.on() {
        (rule.prepare_manifests)(&mut docs);
    }
    docs.map(|d| manifest(d, rules))
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
    for rule in rules.on() {
        (rule.prepare_document)(map, canonical_type);
    }
    // Drops the annotations the rules ignore, and the map itself when nothing is left of it.
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
    for rule in rules.on() {
        (rule.prepare_config)(map);
    }
    if rules.sets_aside(Aspect::Derived) || rules.sets_aside(Aspect::Layering) {
        if let Some(Value::Object(rootfs)) = map.get_mut("rootfs") {
            rootfs.remove("diff_ids");
        }
    }
    doc
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::normalize::RULES;

    #[test]
    fn nothing_is_removed_without_rules_but_the_children() {
        let doc = json!({
            "schemaVersion": 2, "config": {}, "layers": [],
            "annotations": {"org.opencontainers.image.created": "x", "keep": "y"}
        });
        assert_eq!(
            manifest(doc, &Rules::default()),
            json!({"schemaVersion": 2, "annotations": {"org.opencontainers.image.created": "x", "keep": "y"}})
        );
        let config_doc = json!({"created": "a", "rootfs": {"diff_ids": ["sha256:x"]}});
        assert_eq!(config(config_doc.clone(), &Rules::default()), config_doc);
    }

    #[test]
    fn semantic_drops_ignored_annotations_and_diff_ids() {
        let doc = json!({
            "schemaVersion": 2, "config": {}, "layers": [],
            "annotations": {"org.opencontainers.image.created": "x", "keep": "y"}
        });
        let s = Rules::semantic();
        assert_eq!(
            manifest(doc, &s),
            json!({"schemaVersion": 2, "annotations": {"keep": "y"}, "mediaType": media::OCI_MANIFEST})
        );
        assert_eq!(
            config(json!({"rootfs": {"diff_ids": []}}), &s),
            json!({"rootfs": {}})
        );
    }

    /// The comparison prepares documents without rules once, then under each rule set:
    /// that must give what preparing under the rule set alone gives.
    #[test]
    fn preparing_without_rules_first_changes_nothing() {
        let manifest_docs = [
            json!({
                "schemaVersion": 2, "mediaType": media::DOCKER_MANIFEST, "config": {},
                "layers": [{"digest": "sha256:x"}]
            }),
            json!({
                "schemaVersion": 2, "config": {}, "layers": [],
                "annotations": {
                    "org.opencontainers.image.created": "x",
                    "org.opencontainers.image.base.name": "y", "keep": "z"
                }
            }),
        ];
        let index_doc = json!({
            "manifests": [], "annotations": {"org.opencontainers.image.ref.name": "a"}
        });
        let config_doc = json!({
            "created": "a", "container": "c", "history": [{"created": "b"}],
            "config": {"Env": [], "Image": "sha256:p", "Labels": {"x": "y"}},
            "rootfs": {"type": "layers", "diff_ids": ["sha256:x"]}
        });
        let mut every = Rules::default();
        let mut sets = vec![Rules::default(), Rules::semantic()];
        for rule in RULES {
            let mut one = Rules::default();
            rule.turn_on(&mut one);
            rule.turn_on(&mut every);
            sets.push(one);
        }
        sets.push(every);
        let raw = Rules::default();
        for rules in &sets {
            assert_eq!(
                manifests(manifests(manifest_docs.clone(), &raw), rules),
                manifests(manifest_docs.clone(), rules),
                "{rules:?}"
            );
            assert_eq!(
                index(index(index_doc.clone(), &raw), rules),
                index(index_doc.clone(), rules)
            );
            assert_eq!(
                config(config(config_doc.clone(), &raw), rules),
                config(config_doc.clone(), rules)
            );
        }
    }
}
