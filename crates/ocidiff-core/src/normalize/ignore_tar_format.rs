//! `--ignore-tar-format`: how the same entry is written — USTAR, PAX or GNU headers, a PAX
//! global header, and inside nested archives zip compression methods and gzip member splits.

use super::{Aspect, Rule, Rules};

pub struct IgnoreTarFormat;

impl Rule for IgnoreTarFormat {
    fn name(&self) -> &'static str {
        "ignore-tar-format"
    }
    fn summary(&self) -> &'static str {
        "Ignore whether entries are written as USTAR, PAX or GNU tar."
    }
    fn is_on(&self, rules: &Rules) -> bool {
        rules.ignore_tar_format
    }
    fn turn_on(&self, rules: &mut Rules) {
        rules.ignore_tar_format = true;
    }
    fn sets_aside(&self) -> &'static [Aspect] {
        &[Aspect::TarFormat]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_aside_the_format_only() {
        let mut rules = Rules::default();
        IgnoreTarFormat.turn_on(&mut rules);
        assert!(rules.sets_aside(Aspect::TarFormat));
        assert!(!rules.sets_aside(Aspect::StorageFormat));
    }
}
