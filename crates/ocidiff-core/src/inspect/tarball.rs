//! Reading a tar archive (or several concatenated ones, as in apk packages) into [`Member`]s,
//! with the reader that reads layers: Go's semantics.

use std::io::Read;

use serde_json::json;

use super::Ctx;
use super::members::{Data, Member};
use crate::layer::tar::{self, Reader, TarError};
use crate::layer::{EntryMeta, EntryType};
use crate::normalize::{Aspect, Rules};

/// Whether `data` starts with a tar header: USTAR/GNU magic, or a pre-POSIX header whose
/// checksum is right.
pub(super) fn looks_like_tar(data: &[u8]) -> bool {
    let Some(block) = data.get(..512) else {
        return false;
    };
    if block[257..262] == *b"ustar" {
        return true;
    }
    block[0] != 0 && tar::is_header(block.try_into().expect("512 bytes"))
}

/// Reads the entries of the tar archive at `path`; `None` (with a note) when it cannot be read
/// to its end, as entries missing from a partial listing would read as removed.
pub(super) fn read(ctx: &mut Ctx<'_>, path: &str, data: &[u8]) -> Option<Vec<Member>> {
    let canonical = ctx.opts.rules;
    let mut members = Vec::new();
    let mut at = 0;
    // apk packages and `tar --concatenate` leave end-of-archive blocks between archives: read
    // on after them, as `tar --ignore-zeros` does.
    while at < data.len() {
        let mut reader = Reader::new(&data[at..]);
        loop {
            let header = match reader.next_header() {
                Ok(Some(h)) => h,
                Ok(None) => break,
                Err(e) => {
                    ctx.note(format!(
                        "{path}: tar archive unreadable after {} entries: {e}",
                        members.len()
                    ));
                    return None;
                }
            };
            if members.len() as u64 >= ctx.opts.max_entries {
                ctx.note(format!(
                    "{path}: more than {} entries; not compared",
                    ctx.opts.max_entries
                ));
                return None;
            }
            match member(header, &mut reader, &canonical) {
                Ok(m) => members.push(m),
                Err(e) => {
                    ctx.note(format!(
                        "{path}: tar archive unreadable after {} entries: {e}",
                        members.len()
                    ));
                    return None;
                }
            }
        }
        at += usize::try_from(reader.position()).expect("within the archive");
        while data
            .get(at..at + 512)
            .is_some_and(|b| b.iter().all(|&c| c == 0))
        {
            at += 512;
        }
        if data.len() - at < 512 {
            break;
        }
    }
    Some(members)
}

fn member<R: Read>(
    header: tar::Header,
    reader: &mut Reader<R>,
    canonical: &Rules,
) -> Result<Member, TarError> {
    let header_only = tar::is_header_only(header.typeflag);
    let e = EntryMeta::from_header(header, 0, 0);
    let kind_name = match e.kind {
        EntryType::File => "file".to_owned(),
        EntryType::Dir => "dir".to_owned(),
        EntryType::Symlink => "symlink".to_owned(),
        EntryType::Hardlink => "hardlink".to_owned(),
        EntryType::Char => "char".to_owned(),
        EntryType::Block => "block".to_owned(),
        EntryType::Fifo => "fifo".to_owned(),
        EntryType::GlobalHeader => "pax global header".to_owned(),
        EntryType::Other(flag) => format!("type {:?}", flag as char),
    };
    let mut fields = vec![("type".to_owned(), json!(kind_name), None)];
    let mut push = |name: &str, value: serde_json::Value, class: Option<Aspect>| {
        fields.push((name.to_owned(), value, class));
    };
    if let Some(link) = &e.link {
        push("link", json!(canonical.path(link)), None);
    }
    push("mode", json!(format!("{:04o}", e.mode)), None);
    push("uid", json!(e.uid), None);
    push("gid", json!(e.gid), None);
    push("uname", json!(e.uname), None);
    push("gname", json!(e.gname), None);
    if let Some((major, minor)) = e.device {
        push("device", json!(format!("{major},{minor}")), None);
    }
    push(
        "mtime",
        json!(e.mtime.render()),
        Some(Aspect::FileTimestamp),
    );
    for (key, value) in [("atime", e.atime), ("ctime", e.ctime)] {
        if let Some(t) = value {
            push(key, json!(t.render()), Some(Aspect::FileTimestamp));
        }
    }
    for (key, value) in &e.xattrs {
        push(&format!("xattr:{key}"), json!(value), None);
    }
    for (key, value) in &e.pax {
        push(&format!("pax:{key}"), json!(value), None);
    }
    push("format", json!(e.format), Some(Aspect::TarFormat));
    let (size, data) = if header_only {
        (None, Data::None)
    } else {
        // The archive is in memory already: an entry's content is at most its size.
        let mut bytes = Vec::new();
        reader.read_to_end(&mut bytes).map_err(TarError::from_io)?;
        (Some(bytes.len() as u64), Data::Bytes(bytes))
    };
    Ok(Member {
        name: e.name,
        fields,
        size,
        data,
    })
}
