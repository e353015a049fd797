//! `--ignore-file-order`: where an entry stands in its layer (or in a nested archive). The
//! engine still counts the order of entries whose order changes what the layer unpacks to.

use super::{Aspect, Rule};

pub(super) const RULE: Rule = Rule::new(
    "ignore-file-order",
    "Ignore the order of entries in a layer.",
    |r| &mut r.ignore_file_order,
)
.setting_aside(&[Aspect::EntryOrder]);
