#!/usr/bin/env bash
# The whole test suite: tools, formatting, lints, tests against real docker/skopeo/buildah.
#
#   ./scripts/test.sh
#
# As root on Debian it installs the tools the tests need when they are missing (cargo-deny, and
# cargo-fuzz where a nightly toolchain is installed); otherwise tests that need a missing tool or service
# skip. Every skip is recorded in $OCIDIFF_SKIP_LOG (see ocidiff_testkit::skip) and the count
# and list are printed at the end. With OCIDIFF_REQUIRE_SERVICES=1 (set by .ci/run) a service
# that cannot start fails the run, and so does every test that would have skipped.
#
# The fuzz targets (fuzz/) always run as bounded property tests in `cargo test`; with nightly
# and cargo-fuzz they are also built and each fuzzed for OCIDIFF_FUZZ_SECONDS (default 15).
#
# Environment: OCIDIFF_TEST_STATE (service state dir, default a new /tmp/ocidiff-test.XXXXXX),
# OCIDIFF_REQUIRE_SERVICES, OCIDIFF_SKIP_INSTALL=1 (never run apt-get or cargo install),
# OCIDIFF_FUZZ_SECONDS, OCIDIFF_RELEASE_PROFILE (the static build's profile, default
# dist-quick), CARGO_TARGET_DIR; OCIDIFF_MUTANTS_BASE, OCIDIFF_MUTANTS_MAX and
# OCIDIFF_MUTANTS_IN_PLACE for the mutation testing of changed lines (scripts/mutants.sh).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Each run gets services of its own unless OCIDIFF_TEST_STATE names a state dir: two runs on
# one host must not share a daemon or stop each other's. The dir is removed after a run that
# passed and kept (with the service logs) after one that failed.
if [[ -z "${OCIDIFF_TEST_STATE:-}" ]]; then
    OCIDIFF_TEST_STATE="$(mktemp -d /tmp/ocidiff-test.XXXXXX)"
    own_state=1
fi
export OCIDIFF_TEST_STATE

section() { printf '\n========== %s ==========\n' "$*"; }

warn() {
    printf '\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n' >&2
    printf '!!! %s\n' "$@" >&2
    printf '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\n' >&2
}

# The docker build fixtures copy busybox into an image, so it must not need a dynamic loader.
busybox_is_static() {
    local bb
    bb="$(command -v busybox)" || return 1
    ! ldd "$bb" >/dev/null 2>&1
}

# binary:package pairs; a missing binary means its package is installed.
# Go's own installer puts the toolchain here, off the default PATH.
if [[ -x /usr/local/go/bin/go ]]; then
    PATH=/usr/local/go/bin:$PATH
fi

TOOLS=(
    go:golang-go
    cc:gcc
    curl:curl
    dockerd:docker.io
    docker:docker.io
    skopeo:skopeo
    umoci:umoci
    docker-registry:docker-registry
    htpasswd:apache2-utils
    openssl:openssl
    jq:jq
    buildah:buildah
    containerd:containerd
    ctr:containerd
    chromium:chromium
    podman:podman
    rpm:rpm
    rpmbuild:rpm
    dpkg-deb:dpkg
    flock:util-linux
    setpriv:util-linux
    debootstrap:debootstrap
    hyperfine:hyperfine
    /usr/bin/time:time
    musl-gcc:musl-tools
    update-ca-certificates:ca-certificates
)

install_tools() {
    local missing=() pkgs=() pair
    for pair in "${TOOLS[@]}"; do
        command -v "${pair%%:*}" >/dev/null || {
            missing+=("${pair%%:*}")
            pkgs+=("${pair#*:}")
        }
    done
    busybox_is_static || {
        missing+=("busybox (static)")
        pkgs+=(busybox-static)
    }
    if ((${#missing[@]} == 0)); then
        echo "all tools present"
        return
    fi
    # One package can provide several binaries.
    mapfile -t pkgs < <(printf '%s\n' "${pkgs[@]}" | sort -u)
    if [[ "${OCIDIFF_SKIP_INSTALL:-0}" == 1 ]]; then
        warn "Missing: ${missing[*]}; OCIDIFF_SKIP_INSTALL=1, not installing." \
            "Tests that need them will be SKIPPED."
        return
    fi
    if [[ $EUID -ne 0 ]] || ! command -v apt-get >/dev/null; then
        warn "Missing: ${missing[*]}; cannot install (not root or no apt-get)." \
            "Install packages: ${pkgs[*]}" "Tests that need them will be SKIPPED."
        return
    fi
    echo "installing: ${pkgs[*]} (for: ${missing[*]})"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get update -qq || ! apt-get install -y -qq "${pkgs[@]}" >/dev/null; then
        warn "apt-get failed to install: ${pkgs[*]}" "Tests that need them will be SKIPPED."
    fi
}

# cargo-fuzz, where a nightly toolchain can use it.
install_cargo_fuzz() {
    cargo +nightly --version >/dev/null 2>&1 || return 0
    cargo +nightly fuzz --version >/dev/null 2>&1 && return 0
    if [[ "${OCIDIFF_SKIP_INSTALL:-0}" == 1 ]]; then
        warn "cargo-fuzz is missing; OCIDIFF_SKIP_INSTALL=1, not installing."
        return
    fi
    echo "installing cargo-fuzz (cargo install --locked)"
    cargo install --locked cargo-fuzz >/dev/null 2>&1 || warn "cargo install cargo-fuzz failed"
}

# cargo-deny, for the dependency policy in deny.toml. Built from source (minutes), so only
# when missing.
install_cargo_deny() {
    cargo deny --version >/dev/null 2>&1 && return 0
    if [[ "${OCIDIFF_SKIP_INSTALL:-0}" == 1 ]]; then
        warn "cargo-deny is missing; OCIDIFF_SKIP_INSTALL=1, not installing."
        return
    fi
    echo "installing cargo-deny (cargo install --locked)"
    cargo install --locked --quiet cargo-deny || warn "cargo install cargo-deny failed"
}

# The musl target, for the static release (scripts/release.sh) that tests/image.rs ships.
musl_target="$(uname -m)-unknown-linux-musl"
install_musl_target() {
    rustup target list --installed 2>/dev/null | grep -qx "$musl_target" && return 0
    if [[ "${OCIDIFF_SKIP_INSTALL:-0}" == 1 ]]; then
        warn "rustup target $musl_target is missing; OCIDIFF_SKIP_INSTALL=1, not installing."
        return
    fi
    echo "installing rustup target $musl_target"
    rustup target add "$musl_target" || warn "rustup target add $musl_target failed"
}

section "Tools"
install_tools
install_cargo_fuzz
install_cargo_deny
install_musl_target
printf '%-8s %s\n' go "$( (command -v go >/dev/null && go version) || echo MISSING)"
printf '%-8s %s\n' fuzz "$( (cargo +nightly fuzz --version 2>/dev/null) || echo 'MISSING (nightly or cargo-fuzz)')"
printf '%-8s %s\n' deny "$( (cargo deny --version 2>/dev/null) || echo MISSING)"
for t in cargo rustc dockerd docker skopeo umoci buildah containerd chromium podman; do
    printf '%-8s %s\n' "$t" "$( (command -v "$t" >/dev/null && "$t" --version 2>/dev/null | head -n 1) || echo MISSING)"
done
printf '%-8s %s\n' busybox "$(busybox_is_static && echo static || echo 'MISSING or not static')"

# A run from a clean clone writes about 5.8 GB at its peak: the builds under target/ (4.2 GB),
# the fuzz build (1.3 GB) and the services' state (0.3 GB), measured in a CI run of ec3662c.
# Out of disk, a run fails in a dozen tests with "No space left on device"; said here first,
# and again at the end of a run that failed.
need_gb=7
mkdir -p "$OCIDIFF_TEST_STATE"
disk_free_gb() { df -Pk "$1" | awk 'NR == 2 { printf "%d", $4 / 1048576 }'; }
disk_report() {
    local dir free
    for dir in "$PWD" "$OCIDIFF_TEST_STATE"; do
        free="$(disk_free_gb "$dir")"
        printf '%-8s %s GB free in %s\n' disk "$free" "$dir"
        if ((free < need_gb)); then
            warn "Only $free GB free in $dir (less than $need_gb GB); a whole run writes about" \
                "6 GB (target/, fuzz/target/, $OCIDIFF_TEST_STATE). Tests may fail with" \
                "\"No space left on device\"."
        fi
    done
}
disk_report

LOCKED=()
if git ls-files --error-unmatch Cargo.lock >/dev/null 2>&1; then
    LOCKED=(--locked)
fi

section "cargo fmt --check"
cargo fmt --all --check

section "cargo clippy"
cargo clippy --all-targets "${LOCKED[@]}" -- -D warnings

section "Lean core: ocidiff-core --no-default-features"
# Local sources only: it must build, lint clean, pass its unit tests and pull in none of the
# network, daemon and sqlite crates (crates/ocidiff-core/src/lib.rs, "Features").
cargo clippy -p ocidiff-core --no-default-features --all-targets "${LOCKED[@]}" -- -D warnings
cargo test -p ocidiff-core --no-default-features --lib "${LOCKED[@]}"
heavy="$(cargo tree -p ocidiff-core -e normal --no-default-features "${LOCKED[@]}" \
    --prefix none --format '{p}' |
    grep -E '^(tokio|reqwest|hyper|hyper-util|tonic|tonic-prost|prost|rusqlite|libsqlite3-sys) ' |
    sort -u || true)"
if [[ -n "$heavy" ]]; then
    echo "ocidiff-core without default features still depends on:" >&2
    echo "$heavy" >&2
    exit 1
fi
echo "lean core: none of tokio, reqwest, hyper, tonic, prost, rusqlite"

section "cargo doc"
# Broken intra-doc links, links to private items, bare URLs and unclosed HTML tags fail the
# run, as the lints in `cargo clippy` do.
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --workspace --quiet "${LOCKED[@]}"
# Links to items behind a feature must not break when it is off.
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps -p ocidiff-core --no-default-features --quiet \
    "${LOCKED[@]}"

section "Build tests"
cargo test --all "${LOCKED[@]}" --no-run

# One line per skipped test (ocidiff_testkit::skip); the run's own, counted at the end.
export OCIDIFF_SKIP_LOG="$OCIDIFF_TEST_STATE/skips.log"
mkdir -p "$(dirname "$OCIDIFF_SKIP_LOG")"
: >"$OCIDIFF_SKIP_LOG"

# Adds a skip of the script's own to the log (a failure under OCIDIFF_REQUIRE_SERVICES=1,
# counted with the rest at the end).
skip() {
    echo "SKIP: scripts/test.sh: $*" | tee -a "$OCIDIFF_SKIP_LOG" >&2
}

# Prints every skip; under OCIDIFF_REQUIRE_SERVICES=1 any skip fails the run.
report_skips() {
    local skips
    skips="$(sort -u "$OCIDIFF_SKIP_LOG" | grep -c . || true)"
    section "Skipped: $skips"
    if ((skips > 0)); then
        warn "$skips check(s) were SKIPPED:" "$(sort -u "$OCIDIFF_SKIP_LOG")"
        if [[ "${OCIDIFF_REQUIRE_SERVICES:-0}" == 1 ]]; then
            echo "OCIDIFF_REQUIRE_SERVICES=1: a skip is a failure" >&2
            return 1
        fi
    fi
}

section "cargo deny"
# Licenses, duplicate versions and sources of the dependency tree, as deny.toml allows them.
# The RustSec advisory database is a git repository on GitHub: where it cannot be fetched
# the advisories are not checked, and a warning says so rather than a skip, since a machine
# without that host would otherwise fail every run (docs/testing.md).
if cargo deny --version >/dev/null 2>&1; then
    cargo deny "${LOCKED[@]}" check licenses bans sources
    if timeout 300 cargo deny fetch db; then
        cargo deny "${LOCKED[@]}" --offline check advisories
    else
        warn "cargo deny: the RustSec advisory database could not be fetched;" \
            "security advisories were NOT checked in this run."
    fi
else
    skip "cargo deny: cargo-deny is missing"
fi

section "Start services"
# shellcheck source=scripts/services.sh
source scripts/services.sh
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    section "Stop services"
    services_stop || true
    report_skips || rc=$((rc == 0 ? 1 : rc))
    ((rc == 0)) || disk_report
    if [[ "${own_state:-0}" == 1 ]]; then
        if ((rc == 0)); then
            rm -rf "$OCIDIFF_TEST_STATE"
        else
            echo "service logs and state kept in $OCIDIFF_TEST_STATE" >&2
        fi
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
services_start
# shellcheck disable=SC1091
source "$OCIDIFF_TEST_STATE/env"
echo "DOCKER_HOST=${DOCKER_HOST:-<unset: docker tests will be skipped>}"

section "Release build"
# The static executable (musl), built here once so that its minutes show apart: tests/image.rs
# runs the same script, finds it built, and ships it in the container image. The `dist-quick`
# profile is `dist` without whole-program LTO, at opt-level 1: 4 minutes cold on 2 cores, where
# `dist` took 9.5 of a CI run that went over its 30 (docs/testing.md).
# OCIDIFF_RELEASE_PROFILE=dist tests the shipped profile itself.
export OCIDIFF_RELEASE_PROFILE="${OCIDIFF_RELEASE_PROFILE:-dist-quick}"
if rustup target list --installed 2>/dev/null | grep -qx "$musl_target" && command -v musl-gcc >/dev/null; then
    scripts/release.sh --out "$OCIDIFF_TEST_STATE/dist"
else
    echo "the $musl_target target or musl-gcc is missing: tests/image.rs will skip"
fi

section "cargo test"
log="$OCIDIFF_TEST_STATE/cargo-test.log"
set +e
cargo test --all "${LOCKED[@]}" --no-fail-fast 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e

if ((rc != 0)); then
    echo "cargo test failed (exit $rc)" >&2
    exit "$rc"
fi

section "Fuzz targets"
# Built with cargo-fuzz and each run for a fixed time; a crash fails the run and leaves its
# input in fuzz/artifacts/<target>/, to be committed under fuzz/regressions/<target>/ with
# the fix. Without nightly or cargo-fuzz the bodies ran only in `cargo test` (fuzz_targets).
if cargo +nightly fuzz --version >/dev/null 2>&1; then
    fuzz_seconds=${OCIDIFF_FUZZ_SECONDS:-15}
    (
        cd fuzz
        # Unoptimised: it builds in half the time, and a short run needs no speed.
        cargo +nightly fuzz build --dev
        for target in $(cargo +nightly fuzz list); do
            flog="$OCIDIFF_TEST_STATE/fuzz-$target.log"
            corpora=("corpus/$target")
            mkdir -p "corpus/$target"
            if [[ -d regressions/$target ]]; then
                corpora+=("regressions/$target")
            fi
            if ! cargo +nightly fuzz run --dev "$target" "${corpora[@]}" -- \
                -max_total_time="$fuzz_seconds" -rss_limit_mb=2048 -print_final_stats=1 \
                >"$flog" 2>&1; then
                tail -n 60 "$flog" >&2
                echo "fuzz target $target failed: commit its input from fuzz/artifacts/$target/" \
                    "under fuzz/regressions/$target/ with the fix" >&2
                exit 1
            fi
            echo "$target: $(grep -m1 '^stat::number_of_executed_units' "$flog") in ${fuzz_seconds}s"
        done
    )
else
    skip "fuzz: nightly or cargo-fuzz is missing; the targets ran only as bounded property tests"
fi
section "Mutation testing of the lines this change touches"
# cargo-mutants on the comparison rules and engine (.cargo/mutants.toml), limited to the lines
# changed since the last commit's first parent and to OCIDIFF_MUTANTS_MAX mutants; a mutant
# the tests do not catch fails the run. The full run and its record: docs/mutants.md.
if cargo mutants --version >/dev/null 2>&1 || [[ "${OCIDIFF_SKIP_INSTALL:-0}" != 1 ]]; then
    scripts/mutants.sh --in-diff "${OCIDIFF_MUTANTS_BASE:-HEAD^1}"
else
    skip "mutants: cargo-mutants is missing and OCIDIFF_SKIP_INSTALL=1"
fi
section "Benchmark smoke check"
# Tiny inputs, each tool once: proves the benchmark still runs. Never a timing assertion; the
# full run (scripts/bench.sh) is documented in BENCHMARKS.md.
OCIDIFF_BENCH_DIR="$OCIDIFF_TEST_STATE/bench" scripts/bench.sh --quick

section "All checks passed"
