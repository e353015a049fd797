//! `--ignore-history`: the config's `history`, which records how the image was built rather
//! than what it holds.

use super::Rule;

pub(super) const RULE: Rule = Rule::new("ignore-history", "Ignore the config's history.", |r| {
    &mut r.ignore_history
})
.preparing_config(|config| {
    config.remove("history");
});

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::normalize::{Rules, document};

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
