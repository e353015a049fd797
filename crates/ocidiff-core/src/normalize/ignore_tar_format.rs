//! `--ignore-tar-format`: how the same entry is written — USTAR, PAX or GNU headers, a PAX
//! global header, and inside nested archives zip compression methods and gzip member splits.

use super::{Aspect, Rule};

pub(super) const RULE: Rule = Rule::new(
    "ignore-tar-format",
    "Ignore whether entries are written as USTAR, PAX or GNU tar.",
    |r| &mut r.ignore_tar_format,
)
.setting_aside(&[Aspect::TarFormat]);
