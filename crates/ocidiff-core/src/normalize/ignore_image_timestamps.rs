//! `--ignore-image-timestamps`: when the image says it was made: `created` of the config and
//! of each history entry, and the `org.opencontainers.image.created` annotation.

use serde_json::{Map, Value};

use super::{Rule, Rules};

pub struct IgnoreImageTimestamps;

impl Rule for IgnoreImageTimestamps {
    fn name(&self) -> &'static str {
        "ignore-image-timestamps"
    }
    fn summary(&self) -> &'static str {
        "Ignore `created` in config and history and the created annotation."
    }
    fn is_on(&self, rules: &Rules) -> bool {
        rules.ignore_image_timestamps
    }
    fn turn_on(&self, rules: &mut Rules) {
        rules.ignore_image_timestamps = true;
    }
    fn ignores_annotation(&self, key: &str) -> bool {
        key == "org.opencontainers.image.created"
    }
    fn prepare_config(&self, config: &mut Map<String, Value>) {
        config.remove("created");
        if let Some(Value::Array(history)) = config.get_mut("history") {
            for h in history {
                if let Value::Object(h) = h {
                    h.remove("created");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::normalize::document;

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
