//! `--ignore-file-mode-redundant-bits`: the file-type bits (`0o170000`) some builders write
//! into the tar mode field; only `mode & 0o7777` then counts, which is all a runtime applies.

use super::{Aspect, Rule, Rules};

pub struct IgnoreFileModeRedundantBits;

impl Rule for IgnoreFileModeRedundantBits {
    fn name(&self) -> &'static str {
        "ignore-file-mode-redundant-bits"
    }
    fn summary(&self) -> &'static str {
        "Compare only permission bits of modes (mode & 07777), not file-type bits."
    }
    fn is_on(&self, rules: &Rules) -> bool {
        rules.ignore_file_mode_redundant_bits
    }
    fn turn_on(&self, rules: &mut Rules) {
        rules.ignore_file_mode_redundant_bits = true;
    }
    fn sets_aside(&self) -> &'static [Aspect] {
        &[Aspect::RedundantModeBits]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_aside_redundant_bits_only() {
        let mut rules = Rules::default();
        IgnoreFileModeRedundantBits.turn_on(&mut rules);
        assert!(rules.sets_aside(Aspect::RedundantModeBits));
        assert!(!rules.sets_aside(Aspect::EntryOrder));
    }
}
