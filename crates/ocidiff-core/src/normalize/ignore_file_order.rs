//! `--ignore-file-order`: where an entry stands in its layer (or in a nested archive). The
//! engine still counts the order of entries whose order changes what the layer unpacks to.

use super::{Aspect, Rule, Rules};

pub struct IgnoreFileOrder;

impl Rule for IgnoreFileOrder {
    fn name(&self) -> &'static str {
        "ignore-file-order"
    }
    fn summary(&self) -> &'static str {
        "Ignore the order of entries in a layer."
    }
    fn is_on(&self, rules: &Rules) -> bool {
        rules.ignore_file_order
    }
    fn turn_on(&self, rules: &mut Rules) {
        rules.ignore_file_order = true;
    }
    fn sets_aside(&self) -> &'static [Aspect] {
        &[Aspect::EntryOrder]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_aside_order_only() {
        let mut rules = Rules::default();
        IgnoreFileOrder.turn_on(&mut rules);
        assert!(rules.sets_aside(Aspect::EntryOrder));
        assert!(!rules.sets_aside(Aspect::FileTimestamp));
    }
}
