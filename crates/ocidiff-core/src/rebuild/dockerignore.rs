//! `.dockerignore`, as the docker CLI reads it (moby's `patternmatcher` and `ignorefile`):
//! one pattern per line, `#` comments, `!` exceptions, the last matching pattern deciding;
//! a pattern matches a path or any directory above it. Globs are Go's `filepath.Match` plus
//! `**` for any number of directories; `globset` with `*` kept within a directory reads them
//! alike.

use std::path::Path;

use globset::{GlobBuilder, GlobMatcher};

use super::RebuildError;

/// The patterns of one `.dockerignore`.
#[derive(Debug, Default)]
pub(super) struct Ignore {
    patterns: Vec<(GlobMatcher, bool)>,
}

impl Ignore {
    /// Reads `path`; a context without one excludes nothing.
    pub fn read(path: &Path) -> Result<Ignore, RebuildError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ignore::parse(&text).map_err(|(pattern, reason)| RebuildError::Ignore {
                path: path.to_owned(),
                pattern,
                reason,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Ignore::default()),
            Err(source) => Err(RebuildError::Io {
                what: path.display().to_string(),
                source,
            }),
        }
    }

    fn parse(text: &str) -> Result<Ignore, (String, String)> {
        let mut patterns = Vec::new();
        for line in text.trim_start_matches('\u{feff}').lines() {
            if line.starts_with('#') {
                continue;
            }
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let (exception, pattern) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            let mut pattern = clean(pattern);
            if pattern.len() > 1 && pattern.starts_with('/') {
                pattern.remove(0);
            }
            let glob = GlobBuilder::new(&pattern)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map_err(|e| (line.to_owned(), e.kind().to_string()))?;
            patterns.push((glob.compile_matcher(), exception));
        }
        Ok(Ignore { patterns })
    }

    /// Whether `rel` (slash-separated, relative to the context) is left out.
    pub fn excludes(&self, rel: &str) -> bool {
        let mut excluded = false;
        for (glob, exception) in &self.patterns {
            if excluded != *exception {
                continue;
            }
            let mut prefixes = rel.match_indices('/').map(|(i, _)| &rel[..i]);
            if glob.is_match(rel) || prefixes.any(|p| glob.is_match(p)) {
                excluded = !*exception;
            }
        }
        excluded
    }

    /// Whether any pattern is an exception: then an excluded directory is still walked.
    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|(_, exception)| *exception)
    }
}

/// Go's `filepath.Clean`: one slash between names, no `.`, `..` resolved lexically.
fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ignore(text: &str) -> Ignore {
        Ignore::parse(text).unwrap()
    }

    #[test]
    fn patterns_match_paths_and_what_is_below_them() {
        let i = ignore("node_modules\n/build/\n*.log\n# not/a/pattern\n");
        assert!(i.excludes("node_modules"));
        assert!(i.excludes("node_modules/x/y.js"));
        assert!(i.excludes("build/out.bin"));
        assert!(i.excludes("app.log"));
        // `*` stays within a directory, as in Go's filepath.Match.
        assert!(!i.excludes("src/app.log"));
        assert!(!i.excludes("# not/a/pattern"));
        assert!(!i.excludes("src/node_modules"));
        assert!(!i.has_exceptions());
    }

    #[test]
    fn double_star_crosses_directories_and_the_last_match_decides() {
        let i = ignore("**/*.log\n!keep/**\nkeep/secret.log\n");
        assert!(i.excludes("a/b/c.log"));
        assert!(i.excludes("top.log"));
        assert!(!i.excludes("keep/x.log"));
        assert!(i.excludes("keep/secret.log"));
        assert!(i.has_exceptions());
    }

    #[test]
    fn patterns_are_cleaned_like_go() {
        assert_eq!(clean("./a//b/../c/"), "a/c");
        assert_eq!(clean("/a/./b"), "/a/b");
        assert_eq!(clean("../x"), "../x");
        assert_eq!(clean("/.."), "/");
        assert_eq!(clean(""), ".");
        let i = ignore("./docs/../tmp\n");
        assert!(i.excludes("tmp/file"));
    }

    #[test]
    fn a_missing_file_excludes_nothing_and_an_unreadable_one_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            !Ignore::read(&dir.path().join("none"))
                .unwrap()
                .excludes("x")
        );
        // A directory where the file should be cannot be read.
        let err = Ignore::read(dir.path()).unwrap_err();
        assert!(matches!(err, RebuildError::Io { .. }), "{err}");
    }

    #[test]
    fn a_bad_glob_names_its_line() {
        let err = Ignore::parse("ok\n[unclosed\n").unwrap_err();
        assert_eq!(err.0, "[unclosed");
    }
}
