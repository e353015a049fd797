//! The package view (`--packages`): which packages the images' databases list, which changed,
//! and, for each differing file, whether its package changed (expected in a later rebuild), did
//! not (a reproducibility problem), or there is none.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use super::{CompareError, Walk};
use crate::finding::{Class, FieldDiff, Finding, Kind, Owner};
use crate::layer::{EntryType, Tree, clean};
use crate::model::{Descriptor, Side, Unit};
use crate::packages::{self, Change, Ownership, PackageSet};

/// Package databases are small, but an rpmdb can be tens of megabytes.
const MAX_DATABASE_BYTES: u64 = 256 << 20;

impl Walk<'_> {
    /// Adds package findings for the pair at `location` and classes its file findings by owner.
    pub(super) fn packages(
        &self,
        location: &str,
        trees: [&Tree; 2],
        layers: [&[Descriptor]; 2],
        findings: &mut Vec<Finding>,
    ) -> Result<(), CompareError> {
        const TASK: &str = "reading package databases";
        let progress = &self.opts.progress;
        progress.update(TASK, 0, Some(2), Unit::Items);
        let lhs = self.package_set(Side::Lhs, trees[0], layers[0])?;
        progress.update(TASK, 1, Some(2), Unit::Items);
        let rhs = self.package_set(Side::Rhs, trees[1], layers[1])?;
        progress.update(TASK, 2, Some(2), Unit::Items);
        progress.finish(TASK);
        let sets = [lhs, rhs];
        let here = format!("{location}/packages");
        let diffs = packages::compare(&sets[0], &sets[1]);
        let packages_changed = !diffs.is_empty();
        for diff in diffs {
            let version =
                |v: &Option<packages::PackageVersion>| v.as_ref().map(|v| json!(v.to_string()));
            let field = match diff.change() {
                Change::Added | Change::Removed => FieldDiff::new(
                    "entry",
                    version(&diff.lhs),
                    version(&diff.rhs),
                    if diff.lhs.is_some() {
                        Class::Removed
                    } else {
                        Class::Added
                    },
                ),
                Change::Version | Change::Arch => FieldDiff::new(
                    "version",
                    version(&diff.lhs),
                    version(&diff.rhs),
                    Class::PackageVersion,
                ),
            };
            let name = format!("{}:{}", diff.ecosystem, diff.name);
            findings.push(Finding::new(Kind::Package, &here, &name, vec![field]));
        }
        for (side, set) in Side::BOTH.into_iter().zip(&sets) {
            for note in &set.notes {
                tracing::warn!(input = side.i(), "package view: {note}");
            }
        }
        let owners = packages::Owners::new(&sets[0], &sets[1]);
        let prefix = format!("{location}/");
        for f in findings
            .iter_mut()
            .filter(|f| f.kind == Kind::File && f.counted && f.location.starts_with(&prefix))
        {
            let (class, owner) = match owners.attribute(&clean(&f.name)) {
                Ownership::PackageChanged {
                    ecosystem,
                    name,
                    lhs,
                    rhs,
                } => (
                    Class::PackageChanged,
                    Some(Owner {
                        ecosystem: ecosystem.to_string(),
                        name,
                        lhs_version: lhs.map(|v| v.to_string()),
                        rhs_version: rhs.map(|v| v.to_string()),
                    }),
                ),
                Ownership::SameVersion {
                    ecosystem,
                    name,
                    version,
                } => (
                    Class::SamePackageContent,
                    Some(Owner {
                        ecosystem: ecosystem.to_string(),
                        name,
                        lhs_version: Some(version.to_string()),
                        rhs_version: Some(version.to_string()),
                    }),
                ),
                // The databases themselves change whenever a package does.
                Ownership::Unowned if packages_changed && packages::wants(&clean(&f.name)) => {
                    (Class::PackageChanged, None)
                }
                Ownership::Unowned => (Class::Unowned, None),
            };
            f.owner = owner;
            if explained_by_package(f.class) {
                f.class = class;
                f.explanation = class.explain(true);
            }
        }
        Ok(())
    }

    /// Reads the package databases in one side's root file system.
    fn package_set(
        &self,
        side: Side,
        tree: &Tree,
        layers: &[Descriptor],
    ) -> Result<PackageSet, CompareError> {
        let mut wanted: BTreeMap<usize, BTreeSet<String>> = BTreeMap::new();
        // (layer, name there) → path in the file system, for the files the databases are in.
        let mut at: BTreeMap<(usize, String), String> = BTreeMap::new();
        let mut notes = Vec::new();
        for (path, entry) in tree.sources() {
            if let Some(note) = packages::unsupported(&path) {
                notes.push(note);
            }
            if entry.kind == EntryType::File && packages::wants(&path) {
                let name = clean(&entry.name);
                wanted.entry(entry.layer).or_default().insert(name.clone());
                at.insert((entry.layer, name), path);
            }
        }
        let captured = self.capture(side, layers, &wanted, MAX_DATABASE_BYTES)?;
        let mut files = BTreeMap::new();
        for (key, c) in captured {
            // Only the copy the file system ends up with, from the entry that wrote it last.
            let Some(path) = at.get(&key) else { continue };
            if c.truncated {
                notes.push(format!(
                    "{path} is larger than {MAX_DATABASE_BYTES} bytes and was not read"
                ));
            } else {
                files.insert(path.clone(), c.bytes);
            }
        }
        let mut set = packages::read(&files);
        set.notes.extend(notes);
        Ok(set)
    }
}

/// Whether a file's package tells why it differs: it does for what the file holds or is. The
/// other classes already name a cause the package does not change (a rewrite without effect,
/// a mount point, an owner's name, a timestamp, …), and what a runtime-dependent entry unpacks
/// to depends on the runtime whatever its package.
fn explained_by_package(class: Class) -> bool {
    matches!(
        class,
        Class::Content
            | Class::Added
            | Class::Removed
            | Class::Permission
            | Class::Ownership
            | Class::Metadata
    )
}
