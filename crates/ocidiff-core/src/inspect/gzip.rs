//! gzip streams, including the concatenated members of apk packages: header fields member by
//! member, then the decompressed payload, which may be anything (a tar, text…).

use std::io::Read;

use flate2::bufread::GzDecoder;
use serde_json::{Value, json};

use super::{Ctx, Examined, escape, sha256};
use crate::normalize::Aspect;

/// One side of a gzip stream.
struct Stream<'a> {
    /// Header fields of each member: (field, value, class).
    headers: Vec<Vec<(&'static str, Value, Option<Aspect>)>>,
    payload: Vec<u8>,
    /// Bytes after the last member that are not another member.
    trailing: &'a [u8],
}

/// Compares the gzip streams `lhs` and `rhs` found at `path`.
pub(super) fn examine(
    ctx: &mut Ctx<'_>,
    path: &str,
    lhs: &[u8],
    rhs: &[u8],
    depth: usize,
) -> Examined {
    let (l, r) = (read(ctx, path, lhs), read(ctx, path, rhs));
    let (Some(l), Some(r)) = (l, r) else {
        return Examined::unexplained();
    };
    let mut explained = true;
    for (i, (lh, rh)) in l.headers.iter().zip(&r.headers).enumerate() {
        for ((name, lv, class), (_, rv, _)) in lh.iter().zip(rh) {
            let field = if i == 0 {
                format!("gzip.{name}")
            } else {
                format!("gzip[{i}].{name}")
            };
            explained &= ctx.field(path, &field, Some(lv.clone()), Some(rv.clone()), *class);
        }
    }
    explained &= ctx.field(
        path,
        "gzip.members",
        Some(json!(l.headers.len())),
        Some(json!(r.headers.len())),
        Some(Aspect::TarFormat),
    );
    let trailing =
        |t: &[u8]| (!t.is_empty()).then(|| json!({"bytes": t.len(), "digest": sha256(t)}));
    explained &= ctx.field(
        path,
        "gzip.trailing",
        trailing(l.trailing),
        trailing(r.trailing),
        None,
    );
    if l.payload == r.payload {
        return Examined {
            explained,
            ..Examined::default()
        };
    }
    let side = |s: &Stream<'_>| (Some(s.payload.len() as u64), Some(sha256(&s.payload)));
    let ((ls, ld), (rs, rd)) = (side(&l), side(&r));
    let mut payload = ctx.content(
        path,
        "payload.",
        (ls, ld, Some(&l.payload)),
        (rs, rd, Some(&r.payload)),
        depth,
    );
    payload.explained &= explained;
    payload
}

/// Decompresses every member of a gzip stream; `None` (with a note) when that fails or a limit
/// is hit.
fn read<'a>(ctx: &mut Ctx<'_>, path: &str, data: &'a [u8]) -> Option<Stream<'a>> {
    let mut stream = Stream {
        headers: Vec::new(),
        payload: Vec::new(),
        trailing: &[],
    };
    let mut rest = data;
    loop {
        if stream.headers.len() as u64 >= ctx.opts.max_entries {
            ctx.note(format!(
                "{path}: more than {} gzip members; not inspected further",
                ctx.opts.max_entries
            ));
            return None;
        }
        let mut decoder = GzDecoder::new(rest);
        let Some(header) = decoder.header() else {
            ctx.note(format!(
                "{path}: gzip member {} has no valid header",
                stream.headers.len()
            ));
            return None;
        };
        stream.headers.push(vec![
            ("mtime", json!(header.mtime()), Some(Aspect::FileTimestamp)),
            (
                "filename",
                json!(header.filename().map(escape)),
                Some(Aspect::FileTimestamp),
            ),
            (
                "os",
                json!(header.operating_system()),
                Some(Aspect::FileTimestamp),
            ),
            (
                "extra",
                json!(header.extra().map(hex::encode)),
                Some(Aspect::FileTimestamp),
            ),
            ("comment", json!(header.comment().map(escape)), None),
        ]);
        let used = stream.payload.len() as u64;
        let what = format!("gzip member {}", stream.headers.len() - 1);
        match ctx.inflate(path, &what, decoder.by_ref(), used) {
            Ok(bytes) => stream.payload.extend_from_slice(&bytes),
            Err(e) => {
                ctx.note(e);
                return None;
            }
        }
        rest = decoder.into_inner();
        if !rest.starts_with(&[0x1f, 0x8b]) {
            stream.trailing = rest;
            return Some(stream);
        }
    }
}
