//! `--flatten`, a comparison mode: the file systems the layers produce are compared instead of
//! the layers one by one, so how files are split into layers is set aside.

use super::{Aspect, Rule};

pub(super) const RULE: Rule = Rule::new(
    "flatten",
    "Compare the root file systems the layers produce (whiteouts applied, as a container \
     runtime would) instead of the layers one by one: how files are split into layers, and \
     whiteouts or rewrites without effect, then do not count.",
    |r| &mut r.flatten,
)
.mode()
.setting_aside(&[Aspect::Layering]);

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::normalize::{Rules, document};

    #[test]
    fn drops_diff_ids_and_is_no_ignore_rule() {
        let rules = Rules {
            flatten: true,
            ..Rules::default()
        };
        assert!(!rules.any());
        let doc = json!({"rootfs": {"type": "layers", "diff_ids": ["sha256:x"]}, "history": []});
        assert_eq!(
            document::config(doc, &rules),
            json!({"rootfs": {"type": "layers"}, "history": []})
        );
    }
}
