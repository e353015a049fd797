//! `--ignore-image-name`: the annotations that name the image, which tools write when they
//! store or export it under a name.

use super::Rule;

pub(super) const RULE: Rule = Rule::new(
    "ignore-image-name",
    "Ignore the annotations that name the image (ref.name, io.containerd.image.name).",
    |r| &mut r.ignore_image_name,
)
.ignoring_annotations(|key| {
    matches!(
        key,
        "io.containerd.image.name" | "org.opencontainers.image.ref.name"
    )
});

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::normalize::{Rules, document};

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
