//! `--packages`, a comparison mode: the package databases are read and each differing file is
//! classed by its package. It sets nothing aside and is not part of `--semantic`.

use super::Rule;

pub(super) const RULE: Rule = Rule::new(
    "packages",
    "Read the images' package databases (dpkg, apk, rpm, Python): report packages added, \
     removed or changed (Pkg rows), and class each differing file by its package: changed \
     (expected in a later rebuild), same version (a reproducibility problem), or unowned.",
    |r| &mut r.packages,
)
.mode();
