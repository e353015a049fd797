//! `--ignore-history`: the config's `history`, which records how the image was built rather
//! than what it holds.

use serde_json::{Map, Value};

use super::{Rule, Rules};

pub struct IgnoreHistory;

impl Rule for IgnoreHistory {
    fn name(&self) -> &'static str {
        "ignore-history"
    }
    fn summary(&self) -> &'static str {
        "Ignore the config's history."
    }
    fn is_on(&self, rules: &Rules) -> bool {
        rules.ignore_history
    }
    fn turn_on(&self, rules: &mut Rules) {
        rules.ignore_history = true;
    }
    fn prepare_config(&self, config: &mut Map<String, Value>) {
        config.remove("history");
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::normalize::document;

    #[test]
    fn drops_history_and_nothing_else() {
        let doc = json!({"created": "a", "history": [{"created": "b", "created_by": "RUN x"}]});
        let rules = Rules {
            ignore_history: true,
            ..Rules::default()
        };
        assert_eq!(document::config(doc, &rules), json!({"created": "a"}));
    }
}
