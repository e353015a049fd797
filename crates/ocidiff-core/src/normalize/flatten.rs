//! `--flatten`, a comparison mode: the file systems the layers produce are compared instead of
//! the layers one by one, so how files are split into layers is set aside.

use super::{Aspect, Rule, Rules};

pub struct Flatten;

impl Rule for Flatten {
    fn name(&self) -> &'static str {
        "flatten"
    }
    fn summary(&self) -> &'static str {
        "Compare the root file systems the layers produce (whiteouts applied, as a container \
         runtime would) instead of the layers one by one: how files are split into layers, and \
         whiteouts or rewrites without effect, then do not count."
    }
    fn is_on(&self, rules: &Rules) -> bool {
        rules.flatten
    }
    fn turn_on(&self, rules: &mut Rules) {
        rules.flatten = true;
    }
    fn in_semantic(&self) -> bool {
        false
    }
    fn sets_aside(&self) -> &'static [Aspect] {
        &[Aspect::Layering]
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::normalize::document;

    #[test]
    fn sets_aside_layering_not_digests() {
        let mut rules = Rules::default();
        Flatten.turn_on(&mut rules);
        assert!(!rules.any());
        let doc = json!({"rootfs": {"type": "layers", "diff_ids": ["sha256:x"]}, "history": []});
        assert_eq!(
            document::config(doc, &rules),
            json!({"rootfs": {"type": "layers"}, "history": []})
        );
    }
}
