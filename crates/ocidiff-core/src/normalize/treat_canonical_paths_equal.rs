//! `--treat-canonical-paths-equal`: `/a`, `./a` and `a` name the same file (entry names and
//! link targets), as they do once a runtime has unpacked the layer.

use super::{Aspect, Rule};

pub(super) const RULE: Rule = Rule::new(
    "treat-canonical-paths-equal",
    "Treat \"/a\", \"./a\" and \"a\" as the same path.",
    |r| &mut r.treat_canonical_paths_equal,
)
.setting_aside(&[Aspect::PathSpelling]);

/// `name` with leading `/` then `./` removed; the root is `.`.
pub(super) fn canonical(name: &str) -> &str {
    let mut n = name.trim_start_matches('/');
    while let Some(rest) = n.strip_prefix("./") {
        n = rest.trim_start_matches('/');
    }
    if n.is_empty() || n == "." { "." } else { n }
}

#[cfg(test)]
mod tests {
    use crate::normalize::Rules;

    #[test]
    fn canonical_paths() {
        let r = Rules {
            treat_canonical_paths_equal: true,
            ..Rules::default()
        };
        assert_eq!(r.path("/etc/passwd"), "etc/passwd");
        assert_eq!(r.path("./etc/passwd"), "etc/passwd");
        assert_eq!(r.path("/./etc"), "etc");
        assert_eq!(r.path("./"), ".");
        assert_eq!(Rules::default().path("./etc"), "./etc");
    }
}
