//! Unified diffs of text files, bounded in size and in time.

use std::time::Duration;

use similar::{ChangeTag, TextDiff};

/// Texts larger than this are not diffed: the diff would be too slow and too long to read.
const MAX_TEXT: usize = 16 << 20;

/// Valid UTF-8 without NUL bytes.
pub(super) fn is_text(data: &[u8]) -> bool {
    !data.contains(&0) && std::str::from_utf8(data).is_ok()
}

/// A unified diff with three lines of context, labelled `a/<path>` and `b/<path>`, cut at a
/// line boundary to at most `budget` bytes; the flag says whether it was cut. `None` when the
/// texts are too large to diff.
pub(super) fn unified(path: &str, lhs: &str, rhs: &str, budget: usize) -> Option<(String, bool)> {
    if lhs.len() > MAX_TEXT || rhs.len() > MAX_TEXT {
        return None;
    }
    // Past the deadline similar falls back to a coarser (still correct) diff.
    let diff = TextDiff::configure()
        .timeout(Duration::from_secs(2))
        .diff_lines(lhs, rhs);
    let mut out = String::new();
    let mut push = |s: &str| -> bool {
        if out.len() + s.len() <= budget {
            out.push_str(s);
            true
        } else {
            false
        }
    };
    if !push(&format!("--- a/{path}\n+++ b/{path}\n")) {
        return Some((String::new(), true));
    }
    let mut udiff = diff.unified_diff();
    udiff.context_radius(3);
    for hunk in udiff.iter_hunks() {
        if !push(&format!("{}\n", hunk.header())) {
            return Some((out, true));
        }
        for change in hunk.iter_changes() {
            let sign = match change.tag() {
                ChangeTag::Delete => '-',
                ChangeTag::Insert => '+',
                ChangeTag::Equal => ' ',
            };
            let mut line = format!("{sign}{}", change.value());
            if change.missing_newline() {
                line.push_str("\n\\ No newline at end of file\n");
            }
            if !push(&line) {
                return Some((out, true));
            }
        }
    }
    Some((out, false))
}
