//! `--ignore-file-timestamps`: entries' mtime, atime and ctime, in layers and in nested
//! archives, and the time, name and OS a gzip header records.

use super::{Aspect, Rule};

pub(super) const RULE: Rule = Rule::new(
    "ignore-file-timestamps",
    "Ignore mtime, atime and ctime of layer entries.",
    |r| &mut r.ignore_file_timestamps,
)
.setting_aside(&[Aspect::FileTimestamp]);
