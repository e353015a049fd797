//! Entry names as appliers see them: cleaned and kept inside the root, and as the duplicate
//! check of Docker's and Podman's layer stores sees them.

use std::hash::{BuildHasher, Hasher};

/// A path reduced to its components: no leading `/` or `./`, no trailing `/`, no `.`, and
/// `..` resolved without ever climbing above the root (a hostile layer cannot name a path
/// outside it).
pub fn clean(name: &str) -> String {
    components(name).0.join("/")
}

/// The components of `name` as an applier joins it to the root, and whether a `..` tried to
/// climb above the root.
pub(super) fn components(name: &str) -> (Vec<&str>, bool) {
    let mut parts: Vec<&str> = Vec::new();
    let mut escaped = false;
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => escaped |= parts.pop().is_none(),
            c => parts.push(c),
        }
    }
    (parts, escaped)
}

/// Go's `path.Clean`, which names entries in the duplicate check of Docker's and Podman's
/// layer stores: a leading `/` is kept, so `a` and `/a` are two names there.
pub(super) fn go_clean(name: &str) -> String {
    let rooted = name.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&p) if p != ".." => {
                    parts.pop();
                }
                _ if rooted => {}
                _ => parts.push(".."),
            },
            c => parts.push(c),
        }
    }
    match (rooted, parts.is_empty()) {
        (true, _) => format!("/{}", parts.join("/")),
        (false, true) => ".".to_owned(),
        (false, false) => parts.join("/"),
    }
}

/// A hash of [`go_clean`]`(name)`, built in `buf` without allocating when no component is `.`
/// or `..` (the common case). Two names that hash alike are taken for a duplicate: at worst an
/// entry is reported as runtime-dependent that is not.
pub(super) fn go_clean_hash(
    name: &str,
    seed: &foldhash::fast::FixedState,
    buf: &mut String,
) -> u64 {
    buf.clear();
    if name.split('/').any(|c| c == "." || c == "..") {
        buf.push_str(&go_clean(name));
    } else {
        if name.starts_with('/') {
            buf.push('/');
        }
        for c in name.split('/').filter(|c| !c.is_empty()) {
            if !buf.is_empty() && !buf.ends_with('/') {
                buf.push('/');
            }
            buf.push_str(c);
        }
        if buf.is_empty() {
            buf.push('.');
        }
    }
    let mut h = seed.build_hasher();
    h.write(buf.as_bytes());
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_hostile_paths() {
        assert_eq!(clean("./a//b/"), "a/b");
        assert_eq!(clean("/../../etc/passwd"), "etc/passwd");
        assert_eq!(clean("a/../b"), "b");
        assert_eq!(clean("./"), "");
        assert_eq!(go_clean("./a/"), "a");
        assert_eq!(go_clean("/a/../../b"), "/b");
        assert_eq!(go_clean("../a"), "../a");
        // Go keeps climbing above a relative start: a `..` only cancels a name.
        assert_eq!(go_clean("../../a"), "../../a");
        assert_eq!(go_clean("a/../../b"), "../b");
        assert_eq!(go_clean(".././x/.."), "..");
        assert_eq!(go_clean("/..//../a"), "/a");
        assert_eq!(go_clean("./"), ".");
    }

    #[test]
    fn hashes_as_go_clean_names() {
        let seed = foldhash::fast::FixedState::with_seed(7);
        let mut buf = String::new();
        let mut h = |n: &str| go_clean_hash(n, &seed, &mut buf);
        for (a, b) in [
            ("a", "a/"),
            ("a//b", "a/b"),
            ("./a", "a"),
            ("x/../a", "a"),
            ("", "./"),
        ] {
            assert_eq!(h(a), h(b), "{a} {b}");
        }
        assert_ne!(h("a"), h("/a"));
        assert_ne!(h("a/b"), h("ab"));
        assert_ne!(h("/"), h("."));
    }
}
