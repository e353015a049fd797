//! `--ignore-file-timestamps`: entries' mtime, atime and ctime, in layers and in nested
//! archives, and the time, name and OS a gzip header records.

use super::{Aspect, Rule, Rules};

pub struct IgnoreFileTimestamps;

impl Rule for IgnoreFileTimestamps {
    fn name(&self) -> &'static str {
        "ignore-file-timestamps"
    }
    fn summary(&self) -> &'static str {
        "Ignore mtime, atime and ctime of layer entries."
    }
    fn is_on(&self, rules: &Rules) -> bool {
        rules.ignore_file_timestamps
    }
    fn turn_on(&self, rules: &mut Rules) {
        rules.ignore_file_timestamps = true;
    }
    fn sets_aside(&self) -> &'static [Aspect] {
        &[Aspect::FileTimestamp]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_aside_file_times_not_the_image_created_annotation() {
        let mut rules = Rules::default();
        IgnoreFileTimestamps.turn_on(&mut rules);
        assert!(rules.sets_aside(Aspect::FileTimestamp));
        assert!(!rules.ignores_annotation("org.opencontainers.image.created"));
    }
}
