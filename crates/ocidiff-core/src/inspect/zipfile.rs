//! Reading zip archives (jar, war, whl, Android apk…) into [`Member`]s.

use std::io::{Cursor, Read};

use serde_json::{Value, json};
use zip::ZipArchive;
use zip::read::ZipFile;

use super::members::{self, Data, Member};
use super::{Ctx, Examined, escape, sha256};
use crate::normalize::Aspect;

/// Compares the zip archives `lhs` and `rhs` found at `path`.
pub(super) fn examine(
    ctx: &mut Ctx<'_>,
    path: &str,
    lhs: &[u8],
    rhs: &[u8],
    depth: usize,
) -> Examined {
    let (l, r) = (read(ctx, path, lhs), read(ctx, path, rhs));
    let (Some((lc, lm)), Some((rc, rm))) = (l, r) else {
        return Examined::unexplained();
    };
    let comment = ctx.field(path, "zip.comment", Some(lc), Some(rc), None);
    let mut outcome = members::compare(ctx, path, lm, rm, depth);
    outcome.explained &= comment;
    outcome
}

/// The archive comment and the entries of one archive; `None` (with a note) when it cannot be
/// read to its end, as entries missing from a partial listing would read as removed.
fn read(ctx: &mut Ctx<'_>, path: &str, data: &[u8]) -> Option<(Value, Vec<Member>)> {
    let mut archive = match ZipArchive::new(Cursor::new(data)) {
        Ok(a) => a,
        Err(e) => {
            ctx.note(format!("{path}: not a readable zip archive: {e}"));
            return None;
        }
    };
    let comment = json!(escape(archive.comment()));
    let mut members = Vec::new();
    let mut inflated = 0u64;
    for index in 0..archive.len() {
        if members.len() as u64 >= ctx.opts.max_entries {
            ctx.note(format!(
                "{path}: more than {} entries; not compared",
                ctx.opts.max_entries
            ));
            return None;
        }
        let opened = match archive.by_index(index) {
            Ok(mut file) => {
                let mut m = metadata(&file);
                if m.size.is_some() {
                    let what = format!("entry {:?}", m.name);
                    match ctx.inflate(path, &what, &mut file, inflated) {
                        Ok(bytes) => {
                            inflated += bytes.len() as u64;
                            m.data = Data::Bytes(bytes);
                        }
                        Err(e) => {
                            ctx.note(e);
                            return None;
                        }
                    }
                }
                Ok(m)
            }
            Err(e) => Err(e.to_string()),
        };
        let entry = match opened {
            Ok(m) => m,
            // Encrypted, or compressed in a way this build does not decompress: compare the
            // stored bytes instead.
            Err(e) => {
                if let Some(m) = stored(&mut archive, index) {
                    ctx.note(format!(
                        "{path}!/{}: content not decompressed ({e}); stored bytes compared",
                        m.name
                    ));
                    m
                } else {
                    ctx.note(format!("{path}: entry {index} unreadable: {e}"));
                    return None;
                }
            }
        };
        members.push(entry);
    }
    Some((comment, members))
}

fn stored(archive: &mut ZipArchive<Cursor<&[u8]>>, index: usize) -> Option<Member> {
    let mut file = archive.by_index_raw(index).ok()?;
    let mut m = metadata(&file);
    // Stored bytes are no larger than the archive, which is in memory already.
    let mut raw = Vec::new();
    file.read_to_end(&mut raw).ok()?;
    if m.size.is_some() {
        m.data = Data::Stored(sha256(&raw));
    }
    Some(m)
}

/// Everything but the content of an entry.
fn metadata<R: Read>(file: &ZipFile<'_, R>) -> Member {
    let kind = if file.is_dir() {
        "dir"
    } else if file.is_symlink() {
        "symlink"
    } else {
        "file"
    };
    let mut fields = vec![("type".to_owned(), json!(kind), None)];
    let mut push = |name: &str, value: Value, class: Option<Aspect>| {
        fields.push((name.to_owned(), value, class));
    };
    push(
        "mode",
        json!(file.unix_mode().map(|m| format!("{m:04o}"))),
        None,
    );
    push(
        "mtime",
        json!(file.last_modified().map(|t| t.to_string())),
        Some(Aspect::FileTimestamp),
    );
    push("comment", json!(file.comment()), None);
    for (id, value) in extra_fields(file.extra_data().unwrap_or_default()) {
        let class = match id {
            // Extended timestamp, NTFS times.
            0x5455 | 0x000a => Some(Aspect::FileTimestamp),
            // Zip64 sizes and offsets.
            0x0001 => Some(Aspect::TarFormat),
            _ => None,
        };
        push(
            &format!("extra:0x{id:04x}"),
            json!(hex::encode(value)),
            class,
        );
    }
    push(
        "compression",
        json!(format!("{:?}", file.compression())),
        Some(Aspect::TarFormat),
    );
    push(
        "compressed_size",
        json!(file.compressed_size()),
        Some(Aspect::TarFormat),
    );
    let (host, version) = file.version_made_by();
    push(
        "made_by",
        json!(format!("{host}/{version}")),
        Some(Aspect::TarFormat),
    );
    let has_content = kind != "dir";
    Member {
        name: escape(file.name_raw()),
        fields,
        size: has_content.then(|| file.size()),
        data: Data::None,
    }
}

/// The `(id, data)` records of a zip extra field; a malformed tail is one record of id 0xffff
/// so that it is still compared.
fn extra_fields(mut extra: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while !extra.is_empty() {
        let parsed = extra.get(..4).and_then(|h| {
            let id = u16::from_le_bytes([h[0], h[1]]);
            let len = usize::from(u16::from_le_bytes([h[2], h[3]]));
            extra.get(4..4 + len).map(|d| (id, d, 4 + len))
        });
        if let Some((id, data, used)) = parsed {
            out.push((id, data));
            extra = &extra[used..];
        } else {
            out.push((0xffff, extra));
            break;
        }
    }
    out
}
