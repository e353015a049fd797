//! One Dockerfile through every builder here — Docker's classic builder, BuildKit (the one
//! built into dockerd), buildah (`--isolation chroot`) and Podman — compared pair by pair. A
//! container sees their images alike, so `--semantic` must call every pair equivalent, with
//! the builders' traces (`mount-point`, `owner-name`, `builder-metadata`) set aside and named,
//! and counted in a strict run; and a Dockerfile that differs in one file must still be called
//! different whatever builds each side.
//!
//! Needs a docker daemon (`DOCKER_HOST`, as `scripts/services.sh` exports it); buildah and
//! Podman where installed. Without them the tests skip (`ocidiff_testkit::skip`), a failure
//! under `OCIDIFF_REQUIRE_SERVICES=1`; a builder that is there and fails is always a failure.

mod common;

use common::{State, busybox_rootfs, docker, have, ready, run, skip, tool_works};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use assert_cmd::Command as BinCommand;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Builder {
    Classic,
    BuildKit,
    Buildah,
    Podman,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Recipe {
    /// LABEL, COPY, RUN, WORKDIR (BuildKit writes an empty layer for it), ENV, CMD.
    Plain,
    /// The same steps, with `ARG SOURCE_DATE_EPOCH` and the mtimes of what they write fixed.
    FixedTimes,
    /// `Plain` with one copied file's content changed.
    OneFileChanged,
}

const PLAIN: &str = "\
LABEL org.example.purpose=test
COPY hello.txt /app/hello.txt
RUN mkdir -p /app/data && echo built > /app/data/out.txt && chmod 600 /app/data/out.txt \
 && echo configured > /etc/app.d/conf
WORKDIR /app
ENV APP=1
CMD [\"/bin/sh\"]
";

const FIXED_TIMES: &str = "\
ARG SOURCE_DATE_EPOCH
COPY hello.txt /app/hello.txt
RUN mkdir -p /app/data && echo built > /app/data/out.txt && chmod 600 /app/data/out.txt \
 && touch -d @0 /app /app/hello.txt /app/data /app/data/out.txt
CMD [\"/bin/sh\"]
";

impl Recipe {
    const ALL: [Recipe; 3] = [Recipe::Plain, Recipe::FixedTimes, Recipe::OneFileChanged];

    fn steps(self) -> &'static str {
        match self {
            Recipe::Plain | Recipe::OneFileChanged => PLAIN,
            Recipe::FixedTimes => FIXED_TIMES,
        }
    }

    fn hello(self) -> &'static str {
        match self {
            Recipe::OneFileChanged => "hello, changed\n",
            _ => "hello\n",
        }
    }
}

/// Each build as a `docker-archive:` or `oci-archive:` argument.
struct Fixtures {
    built: BTreeMap<(Builder, Recipe), String>,
    /// buildah without `--layers`: every step in one layer.
    buildah_squashed: Option<String>,
    /// Two buildah builds of `FixedTimes` with `--timestamp 0`.
    buildah_timestamp: Option<[String; 2]>,
}

fn fixtures() -> Option<&'static Fixtures> {
    static STATE: OnceLock<State<Fixtures>> = OnceLock::new();
    ready(STATE.get_or_init(build_all))
}

fn build_all() -> State<Fixtures> {
    if !tool_works(docker().arg("info")) {
        return State::Unavailable(format!(
            "no docker daemon answers (DOCKER_HOST={:?}); start one with scripts/services.sh \
             start and source its env file",
            std::env::var("DOCKER_HOST").unwrap_or_default()
        ));
    }
    let tag = format!("ocidiff-builders-{}", std::process::id());
    let result = Build::new(&tag).and_then(|b| b.everything());
    // Twice: the base goes only once the images built on it are gone.
    for _ in 0..2 {
        let _ = run(Command::new("sh").arg("-c").arg(format!(
            "docker images -q --filter reference='{tag}*' | sort -u | xargs -r docker rmi -f"
        )));
    }
    match result {
        Ok(fx) => State::Ready(fx),
        Err(why) => State::Broken(why),
    }
}

struct Build {
    dir: PathBuf,
    tag: String,
    base: String,
    /// `docker save` of the base, for buildah and Podman.
    base_tar: PathBuf,
}

impl Build {
    fn new(tag: &str) -> Result<Build, String> {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("builders");
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .map_err(|e| format!("cannot empty {}: {e}", dir.display()))?;
        }
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        base_files(&dir.join("rootfs"))?;
        let rootfs = busybox_rootfs(&dir, &["sh", "mkdir", "echo", "chmod", "touch", "cat"])?;
        let base = format!("{tag}-base:1");
        run(docker().arg("import").arg(&rootfs).arg(&base))?;
        let base_tar = dir.join("base.tar");
        run(docker().args(["save", "-o"]).arg(&base_tar).arg(&base))?;
        Ok(Build {
            dir,
            tag: tag.to_owned(),
            base,
            base_tar,
        })
    }

    fn context(&self, recipe: Recipe) -> Result<PathBuf, String> {
        let ctx = self.dir.join(format!("{recipe:?}"));
        std::fs::create_dir_all(&ctx).map_err(|e| format!("{}: {e}", ctx.display()))?;
        let write = |name: &str, text: &str| {
            std::fs::write(ctx.join(name), text).map_err(|e| format!("{name}: {e}"))
        };
        write(
            "Dockerfile",
            &format!("FROM {}\n{}", self.base, recipe.steps()),
        )?;
        write("hello.txt", recipe.hello())?;
        Ok(ctx)
    }

    fn everything(&self) -> Result<Fixtures, String> {
        let mut built = BTreeMap::new();
        let buildah = have("buildah")
            .then(|| self.containers("buildah"))
            .transpose()?;
        let podman = have("podman")
            .then(|| self.containers("podman"))
            .transpose()?;
        let buildkit = self.buildkit_cli()?;
        for recipe in Recipe::ALL {
            let ctx = self.context(recipe)?;
            built.insert((Builder::Classic, recipe), self.docker(&ctx, recipe, None)?);
            if let Some(cli) = &buildkit {
                let image = self.docker(&ctx, recipe, Some(cli))?;
                built.insert((Builder::BuildKit, recipe), image);
            }
            if let Some(buildah) = &buildah {
                let image = buildah.build(&ctx, &format!("{recipe:?}"), &["--layers"])?;
                built.insert((Builder::Buildah, recipe), image);
            }
            if let Some(podman) = &podman {
                let image = podman.build(&ctx, &format!("{recipe:?}"), &[])?;
                built.insert((Builder::Podman, recipe), image);
            }
        }
        let (mut buildah_squashed, mut buildah_timestamp) = (None, None);
        if let Some(buildah) = &buildah {
            buildah_squashed =
                Some(buildah.build(&self.context(Recipe::Plain)?, "squashed", &[])?);
            let fixed = self.context(Recipe::FixedTimes)?;
            let stamped = |name| buildah.build(&fixed, name, &["--layers", "--timestamp", "0"]);
            buildah_timestamp = Some([stamped("stamped-a")?, stamped("stamped-b")?]);
        }
        Ok(Fixtures {
            built,
            buildah_squashed,
            buildah_timestamp,
        })
    }

    /// Builds with the classic builder, or with BuildKit through `buildkit_cli`.
    fn docker(
        &self,
        ctx: &Path,
        recipe: Recipe,
        buildkit_cli: Option<&str>,
    ) -> Result<String, String> {
        let kind = if buildkit_cli.is_some() {
            "buildkit"
        } else {
            "classic"
        };
        let image = format!("{}:{kind}-{recipe:?}", self.tag).to_lowercase();
        let mut cmd = docker();
        if let Some(cli) = buildkit_cli {
            cmd = Command::new(cli);
            cmd.env("DOCKER_BUILDKIT", "1");
        }
        run(cmd
            .args(["build", "-q", "--network", "host", "--no-cache"])
            .args(["--build-arg", "SOURCE_DATE_EPOCH=0", "-t", &image])
            .arg(ctx))?;
        let tar = self.dir.join(format!("{kind}-{recipe:?}.tar"));
        run(docker().args(["save", "-o"]).arg(&tar).arg(&image))?;
        Ok(format!("docker-archive:{}", tar.display()))
    }

    /// A docker CLI that builds with the daemon's BuildKit: Debian's (20.10) has it built in,
    /// newer ones need the buildx plugin, which another `docker` on `PATH` may lack.
    fn buildkit_cli(&self) -> Result<Option<String>, String> {
        let ctx = self.context(Recipe::Plain)?;
        let mut refusals = Vec::new();
        for cli in ["docker", "/usr/bin/docker"] {
            let probe = Command::new(cli)
                .env("DOCKER_BUILDKIT", "1")
                .args(["build", "-q", "--network", "host", "-t"])
                .arg(format!("{}:probe", self.tag))
                .arg(&ctx)
                .output();
            match probe {
                Ok(out) if out.status.success() => return Ok(Some(cli.to_owned())),
                Ok(out) if String::from_utf8_lossy(&out.stderr).contains("buildx") => {}
                Ok(out) => {
                    refusals.push(format!("{cli}: {}", String::from_utf8_lossy(&out.stderr)));
                }
                Err(_) => {}
            }
        }
        if refusals.is_empty() {
            Ok(None)
        } else {
            Err(format!(
                "DOCKER_BUILDKIT=1 docker build failed: {}",
                refusals.join("; ")
            ))
        }
    }

    /// buildah or Podman with private vfs storage holding the base.
    fn containers(&self, tool: &'static str) -> Result<Containers, String> {
        let storage = self.dir.join(tool);
        let builder = Containers {
            tool,
            storage,
            dir: self.dir.clone(),
        };
        let loaded = run(builder
            .command()
            .args(["pull", "-q"])
            .arg(format!("docker-archive:{}", self.base_tar.display())))?;
        // `FROM name:1` resolves to `localhost/name:1` in local storage.
        run(builder
            .command()
            .arg("tag")
            .arg(loaded.trim())
            .arg(format!("localhost/{}", self.base)))?;
        Ok(builder)
    }
}

/// What the base holds besides busybox: `/etc` with a directory a step writes into, owned by a
/// package of a dpkg database (so that `--packages` has an owner for it).
fn base_files(rootfs: &Path) -> Result<(), String> {
    for (path, text) in [
        ("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"),
        ("etc/group", "root:x:0:\n"),
        ("etc/app.d/defaults", "a=1\n"),
        (
            "var/lib/dpkg/status",
            "Package: app-conf\nStatus: install ok installed\nVersion: 1.0\nArchitecture: all\n\n",
        ),
        (
            "var/lib/dpkg/info/app-conf.list",
            "/etc\n/etc/app.d\n/etc/app.d/defaults\n",
        ),
    ] {
        let path = rootfs.join(path);
        let parent = path.parent().expect("a path in the root");
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

struct Containers {
    tool: &'static str,
    storage: PathBuf,
    dir: PathBuf,
}

impl Containers {
    fn command(&self) -> Command {
        let mut cmd = Command::new(self.tool);
        cmd.arg("--root")
            .arg(self.storage.join("root"))
            .arg("--runroot")
            .arg(self.storage.join("run"))
            .args(["--storage-driver", "vfs"]);
        cmd
    }

    /// Builds `ctx` and writes it out: buildah's as an OCI archive (its manifest annotations
    /// are builder metadata too), Podman's as `podman save` writes it.
    fn build(&self, ctx: &Path, name: &str, extra: &[&str]) -> Result<String, String> {
        let image = format!("localhost/ocidiff-{}:{name}", self.tool).to_lowercase();
        run(self
            .command()
            .args(["build", "-q", "--isolation", "chroot", "--no-cache"])
            .arg(if self.tool == "buildah" {
                "--pull-never"
            } else {
                "--pull=never"
            })
            .args(extra)
            .args(["-t", &image])
            .arg(ctx))?;
        let tar = self.dir.join(format!("{}-{name}.tar", self.tool));
        if self.tool == "buildah" {
            run(self
                .command()
                .args(["push", "-q", &image])
                .arg(format!("oci-archive:{}", tar.display())))?;
            Ok(format!("oci-archive:{}", tar.display()))
        } else {
            run(self
                .command()
                .args(["save", "-q", "-o"])
                .arg(&tar)
                .arg(&image))?;
            Ok(format!("docker-archive:{}", tar.display()))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Running ocidiff

struct Outcome {
    code: i32,
    report: Value,
    stderr: String,
}

/// `ocidiff diff ARGS` with the JSON report on stdout.
fn diff(args: &[&str]) -> Outcome {
    let out = BinCommand::cargo_bin("ocidiff")
        .expect("the ocidiff binary is built")
        .args(["diff", "--report-file", "-"])
        .args(args)
        .output()
        .expect("ocidiff runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: no JSON report ({e}); stderr:\n{stderr}"));
    Outcome {
        code: out.status.code().expect("ocidiff exits"),
        report,
        stderr,
    }
}

impl Outcome {
    fn classes(&self, which: &str) -> Vec<String> {
        self.report["verdict"][which]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// `name (class)` of each counted finding.
    fn counted(&self) -> Vec<String> {
        self.report["findings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|f| f["counted"] == true)
            .map(|f| format!("{} ({})", f["name"].as_str().unwrap_or(""), f["class"]))
            .collect()
    }
}

/// A builder and its image, as an argument of `ocidiff diff`.
type Built<'a> = (Builder, &'a str);

fn pairs(fx: &Fixtures, recipe: Recipe) -> Vec<(Built<'_>, Built<'_>)> {
    let images: Vec<Built<'_>> = fx
        .built
        .iter()
        .filter(|((_, r), _)| *r == recipe)
        .map(|((b, _), image)| (*b, image.as_str()))
        .collect();
    let mut pairs = Vec::new();
    for (i, l) in images.iter().enumerate() {
        for r in &images[i + 1..] {
            pairs.push((*l, *r));
        }
    }
    pairs
}

/// The traces a builder leaves where the classic builder leaves none, as this machine's
/// builders leave them (a busybox base has no `/dev`, `/proc`, `/sys` or `/run`).
fn traces(builder: Builder) -> &'static [&'static str] {
    match builder {
        Builder::Classic => &[],
        Builder::BuildKit => &["mount-point", "builder-metadata"],
        Builder::Buildah | Builder::Podman => &["mount-point", "owner-name", "builder-metadata"],
    }
}

// ---------------------------------------------------------------------------------------------
// Tests

#[test]
fn every_builder_builds() {
    let Some(fx) = fixtures() else {
        return;
    };
    for (builder, how) in [
        (
            Builder::BuildKit,
            "a docker CLI with BuildKit built in (Debian's docker.io)",
        ),
        (Builder::Buildah, "buildah (apt-get install buildah)"),
        (Builder::Podman, "podman (apt-get install podman)"),
    ] {
        if !fx.built.contains_key(&(builder, Recipe::Plain)) {
            skip(&format!("{builder:?} is not tested: it needs {how}"));
        }
    }
}

#[test]
fn every_builder_pair_is_equivalent_under_semantic() {
    let Some(fx) = fixtures() else {
        return;
    };
    for recipe in [Recipe::Plain, Recipe::FixedTimes] {
        let pairs = pairs(fx, recipe);
        assert!(
            !pairs.is_empty(),
            "at least the classic builder and one other"
        );
        for ((lb, l), (rb, r)) in pairs {
            let what = format!("{recipe:?}: {lb:?} vs {rb:?}");
            let out = diff(&["--semantic", l, r]);
            assert_eq!(out.code, 0, "{what}: {:?}\n{}", out.counted(), out.stderr);
            let set_aside = out.classes("set_aside_by_class");
            if lb == Builder::Classic {
                for class in traces(rb) {
                    assert!(
                        set_aside.iter().any(|c| c == class),
                        "{what}: {class} not among {set_aside:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn builder_traces_count_in_a_strict_run() {
    let Some(fx) = fixtures() else {
        return;
    };
    let classic = &fx.built[&(Builder::Classic, Recipe::Plain)];
    for builder in [Builder::BuildKit, Builder::Buildah, Builder::Podman] {
        let Some(other) = fx.built.get(&(builder, Recipe::Plain)) else {
            continue;
        };
        let out = diff(&[classic, other]);
        assert_eq!(out.code, 1, "strict classic vs {builder:?}\n{}", out.stderr);
        let counted = out.classes("counted_by_class");
        for class in traces(builder) {
            assert!(
                counted.iter().any(|c| c == class),
                "classic vs {builder:?}: {class} not among {counted:?}"
            );
        }
        // Where entries moved, whether their order matters is only known once looked for; the
        // verdict says nothing of `--semantic` then.
        let moved = out.report["findings"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|f| f["fields"].as_array().into_iter().flatten())
            .any(|d| d["class"] == "order" && d["counted"] == true);
        // An empty layer (BuildKit's WORKDIR) is `layering` too, whatever made it.
        let moved = moved || counted.iter().any(|c| c == "layering");
        if !moved {
            assert!(
                out.stderr.contains("equivalent under --semantic"),
                "{builder:?}: {}",
                out.stderr
            );
        }
    }
}

#[test]
fn a_directory_written_again_is_no_package_content() {
    let Some(fx) = fixtures() else {
        return;
    };
    let classic = &fx.built[&(Builder::Classic, Recipe::Plain)];
    for builder in [Builder::Buildah, Builder::Podman] {
        let Some(other) = fx.built.get(&(builder, Recipe::Plain)) else {
            continue;
        };
        let out = diff(&["--packages", classic, other]);
        assert_eq!(out.code, 1, "{builder:?}\n{}", out.stderr);
        let class_of = |name: &str| -> Vec<String> {
            out.report["findings"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|f| f["name"] == name)
                .map(|f| f["class"].as_str().unwrap_or("").to_owned())
                .collect()
        };
        // The step re-emits `/etc/app.d` as the base left it, with empty owner names; the
        // classic builder re-emits it too, with `root`.
        let rewritten = class_of("etc/app.d/");
        assert!(
            matches!(
                rewritten.as_slice(),
                [c] if c == "owner-name" || c == "unchanged-rewrite"
            ),
            "{builder:?}: {rewritten:?}"
        );
        let counted = out.classes("counted_by_class");
        assert!(
            !counted.iter().any(|c| c == "same-package-content"),
            "{builder:?}: {counted:?}"
        );
        let out = diff(&["--packages", "--semantic", classic, other]);
        assert_eq!(
            out.code,
            0,
            "{builder:?}: {:?}\n{}",
            out.counted(),
            out.stderr
        );
    }
}

#[test]
fn a_changed_file_is_different_whatever_builds_each_side() {
    let Some(fx) = fixtures() else {
        return;
    };
    for ((lb, _), l) in fx.built.iter().filter(|((_, r), _)| *r == Recipe::Plain) {
        for ((rb, _), r) in fx
            .built
            .iter()
            .filter(|((_, r), _)| *r == Recipe::OneFileChanged)
        {
            let out = diff(&["--semantic", "--flatten", l, r]);
            assert_eq!(out.code, 1, "{lb:?} vs changed by {rb:?}\n{}", out.stderr);
            assert_eq!(
                out.counted(),
                ["app/hello.txt (\"content\")"],
                "{lb:?} vs changed by {rb:?}"
            );
        }
    }
}

#[test]
fn one_layer_for_all_steps_is_layering_which_flatten_sets_aside() {
    let Some(fx) = fixtures() else {
        return;
    };
    let Some(squashed) = &fx.buildah_squashed else {
        return skip("buildah is not installed (apt-get install buildah)");
    };
    let classic = &fx.built[&(Builder::Classic, Recipe::Plain)];
    let out = diff(&["--semantic", classic, squashed]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(out.classes("counted_by_class"), ["layering"]);
    let out = diff(&["--semantic", "--flatten", classic, squashed]);
    assert_eq!(out.code, 0, "{:?}\n{}", out.counted(), out.stderr);
}

#[test]
fn buildah_with_a_fixed_timestamp_rebuilds_identically() {
    let Some(fx) = fixtures() else {
        return;
    };
    let Some([a, b]) = &fx.buildah_timestamp else {
        return skip("buildah is not installed (apt-get install buildah)");
    };
    let out = diff(&[a, b]);
    assert_eq!(out.code, 0, "{:?}\n{}", out.counted(), out.stderr);
    assert!(out.stderr.contains("identical"), "{}", out.stderr);
}
