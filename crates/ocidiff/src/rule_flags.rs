//! The comparison switches of `ocidiff diff` and of `[diff]` in `ocidiff.toml`, from one
//! list: diffoci's two switches that turn several rules on (`--semantic`,
//! `--ignore-timestamps`), then every rule of [`RULES`] under its own name. A new rule in
//! `normalize` is a new flag and a new key here without a line changed.

use clap::{Arg, ArgAction, ArgMatches, Args, Command, FromArgMatches};
use ocidiff_core::normalize::{RULES, Rules};

const SEMANTIC: &str = "semantic";
const TIMESTAMPS: &str = "ignore-timestamps";
const HEADING: &str = "Comparison";

/// The rules the switches turned on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RuleFlags {
    pub rules: Rules,
}

impl RuleFlags {
    /// Every switch's name, as the long flag and the `ocidiff.toml` key.
    pub fn names() -> impl Iterator<Item = &'static str> {
        [SEMANTIC, TIMESTAMPS]
            .into_iter()
            .chain(RULES.iter().map(ocidiff_core::normalize::Rule::name))
    }

    /// Turns on the switch called `name`; false when there is no such switch.
    pub fn turn_on(&mut self, name: &str) -> bool {
        match name {
            SEMANTIC => self.rules = self.rules | Rules::semantic(),
            TIMESTAMPS => {
                self.turn_on("ignore-file-timestamps");
                self.turn_on("ignore-image-timestamps");
            }
            _ => match RULES.iter().find(|r| r.name() == name) {
                Some(rule) => rule.turn_on(&mut self.rules),
                None => return false,
            },
        }
        true
    }

    fn help(name: &str) -> &'static str {
        match name {
            SEMANTIC => {
                "Ignore what does not change what the image does: every --ignore-* option and \
                 --treat-canonical-paths-equal (also the storage format and the traces \
                 builders leave: mount targets, owner names, their own metadata)."
            }
            TIMESTAMPS => "Ignore file and image timestamps.",
            _ => RULES
                .iter()
                .find(|r| r.name() == name)
                .map_or("", |r| r.summary()),
        }
    }
}

impl Args for RuleFlags {
    fn augment_args(mut cmd: Command) -> Command {
        for name in Self::names() {
            cmd = cmd.arg(
                Arg::new(name)
                    .long(name)
                    .action(ArgAction::SetTrue)
                    .help(Self::help(name).trim_end_matches('.'))
                    .help_heading(HEADING),
            );
        }
        cmd
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

impl FromArgMatches for RuleFlags {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut flags = RuleFlags::default();
        flags.update_from_arg_matches(matches)?;
        Ok(flags)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        for name in Self::names() {
            if matches.get_flag(name) {
                self.turn_on(name);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        flags: RuleFlags,
    }

    fn parse(args: &[&str]) -> Rules {
        use clap::Parser;
        Cli::try_parse_from(std::iter::once("x").chain(args.iter().copied()))
            .unwrap()
            .flags
            .rules
    }

    #[test]
    fn every_rule_is_a_flag_of_its_name() {
        assert_eq!(parse(&[]), Rules::default());
        for rule in RULES {
            let rules = parse(&[&format!("--{}", rule.name())]);
            assert!(rule.is_on(&rules), "{}", rule.name());
            assert_eq!(rules.on().count(), 1, "{}", rule.name());
        }
    }

    #[test]
    fn the_switches_of_several_rules() {
        assert_eq!(parse(&["--semantic"]), Rules::semantic());
        let both = parse(&["--ignore-timestamps"]);
        assert!(both.ignore_file_timestamps && both.ignore_image_timestamps);
        assert_eq!(both.on().count(), 2);
        let mut flags = RuleFlags::default();
        assert!(!flags.turn_on("semantik"));
        assert!(flags.turn_on("flatten") && flags.rules.flatten);
    }
}
