//! `--ignore-owner-names`: an entry's user and group name where its numeric uid and gid are
//! equal. Runtimes apply the numbers (Go's `archive/tar` reads the names, appliers never use
//! them); buildah writes empty names where Docker writes `root`.

use super::{Aspect, Rule};

pub(super) const RULE: Rule = Rule::new(
    "ignore-owner-names",
    "Ignore user and group names of entries whose uid and gid are equal.",
    |r| &mut r.ignore_owner_names,
)
.setting_aside(&[Aspect::OwnerName]);
