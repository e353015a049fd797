//! `--ignore-path`: differences of the files the patterns name are set aside (reported as
//! `ignored-path`, never dropped).

use crate::layer;

/// A pattern that is not a glob.
#[derive(Debug, thiserror::Error)]
#[error("invalid path pattern {pattern:?}: {kind}")]
pub struct PatternError {
    /// The pattern as given.
    pub pattern: String,
    /// What globset finds wrong with it.
    pub kind: globset::ErrorKind,
}

/// `--ignore-path` patterns, compiled: globs over entry paths, a leading `/` optional, `*`
/// within one directory and `**` across them; a pattern matching a directory covers what is
/// below it.
#[derive(Debug, Clone, Default)]
pub struct PathFilter {
    patterns: Vec<String>,
    set: Option<globset::GlobSet>,
}

impl PathFilter {
    /// Compiles `patterns`; none at all gives a filter that matches nothing.
    pub fn new(patterns: &[String]) -> Result<PathFilter, PatternError> {
        if patterns.is_empty() {
            return Ok(PathFilter::default());
        }
        let mut set = globset::GlobSetBuilder::new();
        for p in patterns {
            let glob = globset::GlobBuilder::new(p.trim_start_matches('/').trim_end_matches('/'))
                .literal_separator(true)
                .build()
                .map_err(|e| PatternError {
                    pattern: p.clone(),
                    kind: e.kind().clone(),
                })?;
            set.add(glob);
        }
        let set = set.build().map_err(|e| PatternError {
            pattern: patterns.join(" "),
            kind: e.kind().clone(),
        })?;
        Ok(PathFilter {
            patterns: patterns.to_vec(),
            set: Some(set),
        })
    }

    /// The patterns as given.
    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }

    /// Whether `path` or one of its parent directories matches.
    pub fn matches(&self, path: &str) -> bool {
        let Some(set) = &self.set else { return false };
        let clean = layer::clean(path);
        let mut p = clean.as_str();
        loop {
            if set.is_match(p) {
                return true;
            }
            match p.rsplit_once('/') {
                Some((parent, _)) => p = parent,
                None => return false,
            }
        }
    }
}
