//! Sparse files: validating a map of data fragments, turning it into holes, and reading the
//! logical file (holes as zeros) from the packed data section, with Go's errors when the two
//! disagree.

use std::io::Read;

use super::{Counting, TarError, read_section};

/// Go's `maxSparseFileEntries`.
pub(super) const MAX_ENTRIES: usize = 1 << 20;

/// A fragment of `length` bytes at `offset` in the logical file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct SparseEntry {
    pub offset: i64,
    pub length: i64,
}

impl SparseEntry {
    fn end(self) -> i64 {
        self.offset + self.length
    }
}

/// Whether fragments are non-negative, in order, not overlapping and within `size`.
pub(super) fn valid(entries: &[SparseEntry], size: i64) -> bool {
    if size < 0 {
        return false;
    }
    let mut prev = SparseEntry {
        offset: 0,
        length: 0,
    };
    for &cur in entries {
        if cur.offset < 0
            || cur.length < 0
            || cur.offset > i64::MAX - cur.length
            || cur.end() > size
            || prev.end() > cur.offset
        {
            return false;
        }
        prev = cur;
    }
    true
}

/// The holes between data fragments; the last one, possibly empty, ends at `size`.
pub(super) fn holes(datas: Vec<SparseEntry>, size: i64) -> Vec<SparseEntry> {
    let mut out = Vec::with_capacity(datas.len() + 1);
    let mut prev = SparseEntry {
        offset: 0,
        length: 0,
    };
    for cur in datas {
        if cur.length == 0 {
            continue;
        }
        prev.length = cur.offset - prev.offset;
        if prev.length > 0 {
            out.push(prev);
        }
        prev.offset = cur.end();
    }
    prev.length = size - prev.offset;
    out.push(prev);
    out
}

/// Reads the logical file at `pos`: data from the section (`left` bytes of it to go), zeros in
/// holes; 0 at the end. As in Go, an error can come with bytes read before it.
// The casts mix buffer lengths (at most isize::MAX, so no wrap) with Go's int64 offsets; each
// `want` lies between 0 and the room left in the buffer.
#[allow(
    clippy::too_many_arguments,
    clippy::cast_possible_wrap,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]
pub(super) fn read<R: Read>(
    r: &mut Counting<R>,
    left: &mut u64,
    holes: &[SparseEntry],
    hole: &mut usize,
    pos: &mut i64,
    buf: &mut [u8],
    offset: u64,
) -> (usize, Option<TarError>) {
    let logical_left = holes[holes.len() - 1].end() - *pos;
    let finished = buf.len() as i64 >= logical_left;
    let buf = if finished {
        &mut buf[..usize::try_from(logical_left).expect("fits the buffer")]
    } else {
        buf
    };
    let mut done = 0;
    let mut data_ended = false;
    while done < buf.len() && !data_ended {
        let h = holes[*hole];
        let room = (buf.len() - done) as i64;
        let n = if *pos < h.offset {
            let want = room.min(h.offset - *pos) as usize;
            let chunk = &mut buf[done..done + want];
            let mut got = 0;
            while got < want {
                match read_section(r, left, &mut chunk[got..], offset) {
                    Ok(0) => {
                        data_ended = true;
                        break;
                    }
                    Ok(k) => got += k,
                    Err(e) => return (done + got, Some(e)),
                }
            }
            got
        } else {
            let want = room.min(h.end() - *pos) as usize;
            buf[done..done + want].fill(0);
            want
        };
        done += n;
        *pos += n as i64;
        if *pos >= h.end() && *hole + 1 < holes.len() {
            *hole += 1;
        }
    }
    if data_ended {
        return (done, Some(TarError::MissData { offset }));
    }
    if holes[holes.len() - 1].end() == *pos && *left > 0 {
        return (done, Some(TarError::UnrefData { offset }));
    }
    (done, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(offset: i64, length: i64) -> SparseEntry {
        SparseEntry { offset, length }
    }

    /// Go's `validateSparseEntries`, one refusal at a time, and the edges it accepts.
    #[test]
    fn maps_as_go_validates_them() {
        assert!(valid(&[], 0));
        assert!(!valid(&[], -1), "a negative size");
        assert!(valid(&[e(0, 2)], 2), "from the start to the end");
        assert!(valid(&[e(2, 0)], 2), "an empty fragment");
        assert!(valid(&[e(2, 3), e(5, 2)], 7), "fragments that touch");
        assert!(!valid(&[e(5, -1)], 10), "a negative length");
        assert!(!valid(&[e(8, 3)], 10), "past the size");
        assert!(!valid(&[e(2, 3), e(4, 2)], 10), "overlapping");
        assert!(!valid(&[e(8, 2), e(2, 3)], 10), "out of order");
        assert!(valid(&[e(i64::MAX - 1, 1)], i64::MAX), "ends at i64::MAX");
        assert!(!valid(&[e(i64::MAX, 1)], i64::MAX), "ends past i64::MAX");
    }

    /// Go's `invertSparseEntries`: empty fragments are skipped, holes are never empty but the
    /// last, which ends at the size.
    #[test]
    fn holes_between_fragments() {
        assert_eq!(holes(vec![e(0, 3), e(5, 1)], 8), [e(3, 2), e(6, 2)]);
        assert_eq!(holes(vec![e(2, 0), e(2, 2)], 4), [e(0, 2), e(4, 0)]);
        assert_eq!(holes(vec![], 3), [e(0, 3)]);
    }
}
