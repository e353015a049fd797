//! `--ignore-file-mode-redundant-bits`: the file-type bits (`0o170000`) some builders write
//! into the tar mode field; only `mode & 0o7777` then counts, which is all a runtime applies.

use super::{Aspect, Rule};

pub(super) const RULE: Rule = Rule::new(
    "ignore-file-mode-redundant-bits",
    "Compare only permission bits of modes (mode & 07777), not file-type bits.",
    |r| &mut r.ignore_file_mode_redundant_bits,
)
.setting_aside(&[Aspect::RedundantModeBits]);
