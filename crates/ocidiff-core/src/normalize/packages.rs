//! `--packages`, a comparison mode: the package databases are read and each differing file is
//! classed by its package. It sets nothing aside and is not part of `--semantic`.

use super::{Rule, Rules};

pub struct Packages;

impl Rule for Packages {
    fn name(&self) -> &'static str {
        "packages"
    }
    fn summary(&self) -> &'static str {
        "Read the images' package databases (dpkg, apk, rpm, Python): report packages added, \
         removed or changed (Pkg rows), and class each differing file by its package: changed \
         (expected in a later rebuild), same version (a reproducibility problem), or unowned."
    }
    fn is_on(&self, rules: &Rules) -> bool {
        rules.packages
    }
    fn turn_on(&self, rules: &mut Rules) {
        rules.packages = true;
    }
    fn in_semantic(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::RULES;

    #[test]
    fn sets_nothing_aside() {
        let mut rules = Rules::default();
        Packages.turn_on(&mut rules);
        assert!(!rules.any());
        assert!(rules.on().all(|r| r.sets_aside().is_empty()));
        assert!(RULES.iter().any(|r| r.name() == "packages"));
    }
}
