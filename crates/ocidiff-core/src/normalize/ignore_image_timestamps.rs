//! `--ignore-image-timestamps`: when the image says it was made: `created` of the config and
//! of each history entry, and the `org.opencontainers.image.created` annotation.

use serde_json::Value;

use super::Rule;

pub(super) const RULE: Rule = Rule::new(
    "ignore-image-timestamps",
    "Ignore `created` in config and history and the created annotation.",
    |r| &mut r.ignore_image_timestamps,
)
.ignoring_annotations(|key| key == "org.opencontainers.image.created")
.preparing_config(|config| {
    config.remove("created");
    if let Some(Value::Array(history)) = config.get_mut("history") {
        for h in history {
            if let Value::Object(h) = h {
                h.remove("created");
            }
        }
    }
});

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::normalize::{Rules, document};

    #[test]
    fn drops_created_everywhere_and_keeps_history() {
        let doc = json!({"created": "a", "history": [{"created": "b", "created_by": "RUN x"}]});
        let rules = Rules {
            ignore_image_timestamps: true,
            ..Rules::default()
        };
        assert_eq!(
            document::config(doc.clone(), &rules),
            json!({"history": [{"created_by": "RUN x"}]})
        );
        assert_eq!(document::config(doc.clone(), &Rules::default()), doc);
        assert!(rules.ignores_annotation("org.opencontainers.image.created"));
    }
}
