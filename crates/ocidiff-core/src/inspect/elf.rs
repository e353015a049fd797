//! ELF files: which sections differ, and whether the headers do.

use object::elf::{FileHeader32, FileHeader64};
use object::pod::{bytes_of, bytes_of_slice};
use object::read::elf::{ElfFile, FileHeader};
use object::{Endianness, FileKind, Object, ObjectSection};
use sha2::{Digest as _, Sha256};

/// What is compared of one ELF file.
struct Summary {
    /// Digest of the ELF header, program headers and section header table.
    headers: [u8; 32],
    /// Each section's name and the digest of its bytes (`None` when they are out of the file).
    sections: Vec<(String, Option<[u8; 32]>)>,
}

/// The names of the sections whose bytes differ (present on one side only included), in file
/// order, then `(headers)` if the headers differ.
pub(super) fn differing_sections(lhs: &[u8], rhs: &[u8]) -> Result<Vec<String>, String> {
    let (l, r) = (summarize(lhs)?, summarize(rhs)?);
    let mut out = Vec::new();
    let mut rhs_sections = r.sections.clone();
    for (name, digest) in &l.sections {
        match rhs_sections.iter().position(|(n, _)| n == name) {
            Some(i) => {
                let (_, other) = rhs_sections.remove(i);
                if other != *digest || digest.is_none() {
                    out.push(name.clone());
                }
            }
            None => out.push(name.clone()),
        }
    }
    out.extend(rhs_sections.into_iter().map(|(n, _)| n));
    if l.headers != r.headers {
        out.push("(headers)".to_owned());
    }
    Ok(out)
}

fn summarize(data: &[u8]) -> Result<Summary, String> {
    let summary = match FileKind::parse(data) {
        Ok(FileKind::Elf32) => summarize_as::<FileHeader32<Endianness>>(data),
        Ok(FileKind::Elf64) => summarize_as::<FileHeader64<Endianness>>(data),
        _ => return Err("not a readable ELF file".to_owned()),
    };
    summary.map_err(|e| format!("not a readable ELF file: {e}"))
}

fn summarize_as<Elf: FileHeader<Endian = Endianness>>(
    data: &[u8],
) -> object::read::Result<Summary> {
    let file = ElfFile::<Elf>::parse(data)?;
    let mut hasher = Sha256::new();
    hasher.update(bytes_of(file.elf_header()));
    hasher.update(bytes_of_slice(file.elf_program_headers()));
    hasher.update(bytes_of_slice(file.elf_section_table().iter().as_slice()));
    let sections = file
        .sections()
        .map(|s| {
            let name = s
                .name()
                .map_or_else(|_| format!("(section {})", s.index().0), str::to_owned);
            let digest = s.data().ok().map(|d| Sha256::digest(d).into());
            (name, digest)
        })
        .collect();
    Ok(Summary {
        headers: hasher.finalize().into(),
        sections,
    })
}
