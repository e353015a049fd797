//! `--ignore-image-name`: the annotations that name the image, which tools write when they
//! store or export it under a name.

use super::{Rule, Rules};

pub struct IgnoreImageName;

impl Rule for IgnoreImageName {
    fn name(&self) -> &'static str {
        "ignore-image-name"
    }
    fn summary(&self) -> &'static str {
        "Ignore the annotations that name the image (ref.name, io.containerd.image.name)."
    }
    fn is_on(&self, rules: &Rules) -> bool {
        rules.ignore_image_name
    }
    fn turn_on(&self, rules: &mut Rules) {
        rules.ignore_image_name = true;
    }
    fn ignores_annotation(&self, key: &str) -> bool {
        matches!(
            key,
            "io.containerd.image.name" | "org.opencontainers.image.ref.name"
        )
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::normalize::document;

    #[test]
    fn drops_name_annotations_only() {
        let doc = json!({
            "schemaVersion": 2, "manifests": [{}],
            "annotations": {"io.containerd.image.name": "x", "keep": "y"}
        });
        let rules = Rules {
            ignore_image_name: true,
            ..Rules::default()
        };
        assert_eq!(
            document::index(doc.clone(), &Rules::default()),
            json!({"schemaVersion": 2, "annotations": {"io.containerd.image.name": "x", "keep": "y"}})
        );
        assert_eq!(
            document::index(doc, &rules),
            json!({"schemaVersion": 2, "annotations": {"keep": "y"}})
        );
        let named =
            json!({"schemaVersion": 2, "annotations": {"org.opencontainers.image.ref.name": "1"}});
        assert_eq!(
            document::manifest(named, &rules),
            json!({"schemaVersion": 2})
        );
    }
}
