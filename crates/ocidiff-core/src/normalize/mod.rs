//! What the comparison ignores: diffoci's `--ignore-*` options with the same names and
//! meanings, and what `--semantic` adds on top of them.
//!
//! Each rule lives in a file of its own and says there what it sets aside: [`Aspect`]s of the
//! differences the engine and the closer look find, annotations, and members of the JSON
//! documents ([`document`]). The engine asks [`Rules::sets_aside`]; it never names a rule. The
//! command line and `ocidiff.toml` take their switches from [`RULES`], so a new rule is its
//! file (a `const RULE: Rule`), its switch in [`Rules`] and its line in [`RULES`].

pub mod document;
mod flatten;
mod ignore_builder_metadata;
mod ignore_file_mode_redundant_bits;
mod ignore_file_order;
mod ignore_file_timestamps;
mod ignore_history;
mod ignore_image_name;
mod ignore_image_timestamps;
mod ignore_mount_points;
mod ignore_owner_names;
mod ignore_path;
mod ignore_storage_format;
mod ignore_tar_format;
mod packages;
mod treat_canonical_paths_equal;

pub use ignore_mount_points::{made_for_mounts, mounted_over};
pub use ignore_path::{PathFilter, PatternError};

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Map, Value};

/// What a difference is about, as far as a rule may set it aside. The engine and the closer
/// look tag what they find with an aspect and ask [`Rules::sets_aside`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Aspect {
    /// An entry's mtime, atime or ctime; inside nested archives also the gzip header's time,
    /// name and OS.
    FileTimestamp,
    /// Where an entry stands in its layer or archive.
    EntryOrder,
    /// How the same entry is encoded: tar header format, zip method, gzip member splits.
    TarFormat,
    /// The file-type bits of a mode whose permission bits are equal.
    RedundantModeBits,
    /// `/a`, `./a` and `a` spelling the same path.
    PathSpelling,
    /// An entry's user or group name where the numeric ids are equal.
    OwnerName,
    /// An empty directory or file at a path runtimes mount over.
    MountPoint,
    /// Docker or OCI media types of the same kind, and how a layer is compressed.
    StorageFormat,
    /// How files are split into layers: their number and the config's `rootfs.diff_ids`.
    Layering,
    /// Digests, sizes and `rootfs.diff_ids`: they change with anything set aside below them,
    /// and the content they address is compared on its own. Set aside when any rule is on, as
    /// diffoci does.
    Derived,
    /// Entries that change nothing in the file system (a rewrite of what is there, a whiteout
    /// of nothing): real differences between layers, set aside when any rule is on.
    NoEffect,
}

/// One ignore rule (or comparison mode) of [`Rules`]: its switch and what it sets aside. Each
/// rule's file holds its `RULE`, built with the `const` methods below.
pub struct Rule {
    name: &'static str,
    summary: &'static str,
    switch: fn(&mut Rules) -> &mut bool,
    in_semantic: bool,
    sets_aside: &'static [Aspect],
    ignores_annotation: fn(&str) -> bool,
    prepare_config: fn(&mut Map<String, Value>),
    prepare_document: fn(&mut Map<String, Value>, &str),
    prepare_manifests: fn(&mut [Value; 2]),
}

impl Rule {
    /// A rule `--semantic` turns on that sets nothing aside yet; `switch` is its member of
    /// [`Rules`].
    const fn new(
        name: &'static str,
        summary: &'static str,
        switch: fn(&mut Rules) -> &mut bool,
    ) -> Rule {
        Rule {
            name,
            summary,
            switch,
            in_semantic: true,
            sets_aside: &[],
            ignores_annotation: |_| false,
            prepare_config: |_| {},
            prepare_document: |_, _| {},
            prepare_manifests: |_| {},
        }
    }

    /// A mode that reads more or compares differently (`--flatten`, `--packages`): not part
    /// of `--semantic`, and not counted by [`Rules::any`].
    const fn mode(self) -> Rule {
        Rule {
            in_semantic: false,
            ..self
        }
    }

    const fn setting_aside(self, aspects: &'static [Aspect]) -> Rule {
        Rule {
            sets_aside: aspects,
            ..self
        }
    }

    const fn ignoring_annotations(self, ignores: fn(&str) -> bool) -> Rule {
        Rule {
            ignores_annotation: ignores,
            ..self
        }
    }

    /// What it removes from an image config.
    const fn preparing_config(self, prepare: fn(&mut Map<String, Value>)) -> Rule {
        Rule {
            prepare_config: prepare,
            ..self
        }
    }

    /// What it removes from a manifest or an index, given the OCI media type of its kind.
    const fn preparing_document(self, prepare: fn(&mut Map<String, Value>, &str)) -> Rule {
        Rule {
            prepare_document: prepare,
            ..self
        }
    }

    /// What it removes from the two manifests of a pair, as stored, because of what the other
    /// one is.
    const fn preparing_manifests(self, prepare: fn(&mut [Value; 2])) -> Rule {
        Rule {
            prepare_manifests: prepare,
            ..self
        }
    }

    /// The switch's name: the long flag of `ocidiff diff` and the key in `ocidiff.toml`; with
    /// `_` for `-`, the member of [`Rules`].
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// One line for `--help`.
    pub fn summary(&self) -> &'static str {
        self.summary
    }

    /// Whether `rules` has this rule on.
    pub fn is_on(&self, rules: &Rules) -> bool {
        let mut copy = *rules;
        *(self.switch)(&mut copy)
    }

    /// Turns the rule on in `rules`.
    pub fn turn_on(&self, rules: &mut Rules) {
        *(self.switch)(rules) = true;
    }

    /// Whether `--semantic` turns it on.
    pub fn in_semantic(&self) -> bool {
        self.in_semantic
    }

    /// The aspects of a difference it sets aside.
    pub fn sets_aside(&self) -> &'static [Aspect] {
        self.sets_aside
    }
}

/// Every rule, in the order `--help` lists them.
pub static RULES: &[Rule] = &[
    ignore_history::RULE,
    ignore_file_order::RULE,
    ignore_file_mode_redundant_bits::RULE,
    ignore_file_timestamps::RULE,
    ignore_image_timestamps::RULE,
    ignore_image_name::RULE,
    ignore_tar_format::RULE,
    treat_canonical_paths_equal::RULE,
    ignore_owner_names::RULE,
    ignore_mount_points::RULE,
    ignore_builder_metadata::RULE,
    ignore_storage_format::RULE,
    flatten::RULE,
    packages::RULE,
];

/// The ignore rules of one run. Everything is compared unless a rule says otherwise.
// One independent switch per rule, as the flags, ocidiff.toml and the report's schema name them.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Rules {
    /// Config `history` is not compared.
    pub ignore_history: bool,
    /// An entry's position in its layer is not compared.
    pub ignore_file_order: bool,
    /// Only `mode & 0o7777` is compared: the file-type bits some builders set are not.
    pub ignore_file_mode_redundant_bits: bool,
    /// Entries' mtime, atime and ctime (and their PAX records) are not compared.
    pub ignore_file_timestamps: bool,
    /// `created` of config and history and the `org.opencontainers.image.created` annotation
    /// are not compared.
    pub ignore_image_timestamps: bool,
    /// The annotations naming the image (`io.containerd.image.name`,
    /// `org.opencontainers.image.ref.name`) are not compared.
    pub ignore_image_name: bool,
    /// USTAR, PAX and GNU headers holding the same data are equal.
    pub ignore_tar_format: bool,
    /// `/a`, `./a` and `a` are the same path (names and link targets).
    pub treat_canonical_paths_equal: bool,
    /// `uname` and `gname` are not compared where `uid` and `gid` are equal: runtimes apply
    /// the numbers. On with `--semantic`; diffoci has no such rule.
    #[serde(default)]
    pub ignore_owner_names: bool,
    /// Empty directories and empty files at paths runtimes mount over (`/proc`, `/sys`,
    /// `/dev`, `/etc/hosts`, `/etc/hostname`, `/etc/resolv.conf`), and an `/etc` or `/run`
    /// directory as runtimes create it where the other image has none, are not compared. On
    /// with `--semantic`; diffoci has no such rule.
    #[serde(default)]
    pub ignore_mount_points: bool,
    /// What builders write about themselves (`io.buildah.version`, `moby.buildkit.*`,
    /// base-image annotations, history comments, `ArgsEscaped` outside Windows) is not
    /// compared. On with `--semantic`; diffoci has no such rule.
    #[serde(default)]
    pub ignore_builder_metadata: bool,
    /// The same content under Docker or OCI media types, compressed in any way, is the same
    /// image: media types are compared by kind, and the Docker-only config fields a
    /// Docker→OCI conversion drops (`container`, `container_config`, `docker_version`, empty
    /// `config` members) are not compared. On with `--semantic`; diffoci has no such rule.
    pub ignore_storage_format: bool,
    /// Compare the file systems the layers produce (whiteouts applied) instead of the layers
    /// one by one: how the files are split into layers is then not compared. Not part of
    /// `--semantic`, since a rebuild that reproduces the layers is the stronger result.
    pub flatten: bool,
    /// Read the images' package databases: report packages added, removed or changed, and
    /// attribute each differing file to its package. Not part of `--semantic`: it reads more
    /// and changes what a difference is classed as, not whether it counts.
    pub packages: bool,
}

impl Rules {
    /// `--semantic`: every ignore rule on.
    pub fn semantic() -> Rules {
        let mut rules = Rules::default();
        for rule in RULES.iter().filter(|r| r.in_semantic()) {
            rule.turn_on(&mut rules);
        }
        rules
    }

    /// Whether any ignore rule is on (the modes do not count).
    pub fn any(&self) -> bool {
        RULES.iter().any(|r| r.in_semantic() && r.is_on(self))
    }

    /// The rules that are on.
    pub fn on(&self) -> impl Iterator<Item = &'static Rule> + '_ {
        RULES.iter().filter(|r| r.is_on(self))
    }

    /// Whether differences in `aspect` are set aside.
    pub fn sets_aside(&self, aspect: Aspect) -> bool {
        match aspect {
            Aspect::Derived | Aspect::NoEffect => self.any(),
            // The static list first: this is asked per entry, and few rules set anything aside.
            _ => RULES
                .iter()
                .any(|r| r.sets_aside.contains(&aspect) && r.is_on(self)),
        }
    }

    /// A path as the comparison matches it: with [`Aspect::PathSpelling`] set aside, leading
    /// `/` then `./` removed.
    pub fn path<'a>(&self, name: &'a str) -> &'a str {
        if self.sets_aside(Aspect::PathSpelling) {
            treat_canonical_paths_equal::canonical(name)
        } else {
            name
        }
    }

    /// Whether an annotation key is left out of the comparison.
    pub fn ignores_annotation(&self, key: &str) -> bool {
        self.on().any(|r| (r.ignores_annotation)(key))
    }
}

impl std::ops::BitOr for Rules {
    type Output = Rules;

    /// Every rule on in either.
    fn bitor(self, other: Rules) -> Rules {
        let mut rules = self;
        for rule in RULES.iter().filter(|r| r.is_on(&other)) {
            rule.turn_on(&mut rules);
        }
        rules
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semantic_is_every_ignore_rule_and_no_mode() {
        let s = Rules::semantic();
        assert!(s.any());
        assert!(!Rules::default().any());
        assert!(!s.flatten && !s.packages);
        for rule in RULES {
            assert_eq!(rule.is_on(&s), rule.in_semantic(), "{}", rule.name());
        }
        assert!(s.ignores_annotation("org.opencontainers.image.created"));
        assert!(!s.ignores_annotation("org.opencontainers.image.source"));
    }

    #[test]
    fn each_switch_is_its_own_member_and_names_it() {
        let json = |r: &Rules| serde_json::to_value(r).unwrap();
        let none = json(&Rules::default());
        assert_eq!(none.as_object().unwrap().len(), RULES.len());
        for rule in RULES {
            let mut rules = Rules::default();
            rule.turn_on(&mut rules);
            assert!(rule.is_on(&rules));
            let on: Vec<_> = json(&rules)
                .as_object()
                .unwrap()
                .iter()
                .filter(|(_, v)| **v == true)
                .map(|(k, _)| k.clone())
                .collect();
            assert_eq!(on, [rule.name().replace('-', "_")]);
            assert_eq!(Rules::default() | rules, rules);
        }
    }

    #[test]
    fn each_rule_sets_aside_its_aspects() {
        let aspects = |name: &str| {
            RULES
                .iter()
                .find(|r| r.name() == name)
                .map(Rule::sets_aside)
                .unwrap()
        };
        assert_eq!(aspects("ignore-file-order"), [Aspect::EntryOrder]);
        assert_eq!(
            aspects("ignore-file-mode-redundant-bits"),
            [Aspect::RedundantModeBits]
        );
        assert_eq!(aspects("ignore-file-timestamps"), [Aspect::FileTimestamp]);
        assert_eq!(aspects("ignore-tar-format"), [Aspect::TarFormat]);
        assert_eq!(aspects("ignore-history"), []);
        assert_eq!(aspects("packages"), []);
        let order = Rules {
            ignore_file_order: true,
            ..Rules::default()
        };
        assert!(order.sets_aside(Aspect::EntryOrder) && !order.sets_aside(Aspect::TarFormat));
    }

    #[test]
    fn derived_aspects_follow_any_ignore_rule() {
        let order = Rules {
            ignore_file_order: true,
            ..Rules::default()
        };
        assert!(order.sets_aside(Aspect::Derived) && order.sets_aside(Aspect::NoEffect));
        assert!(!order.sets_aside(Aspect::TarFormat));
        let flatten = Rules {
            flatten: true,
            ..Rules::default()
        };
        assert!(!flatten.sets_aside(Aspect::Derived));
        assert!(flatten.sets_aside(Aspect::Layering));
    }
}
