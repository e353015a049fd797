#!/usr/bin/env bash
# The whole test suite: tools, formatting, lints, tests against real docker/skopeo/buildah.
#
#   ./scripts/test.sh
#
# As root on Debian it installs the tools the tests need when they are missing; otherwise tests
# that need a missing tool or service are skipped with a loud message. With
# OCIDIFF_REQUIRE_SERVICES=1 (set by .ci/run) a service that cannot start fails the run, and so
# does every test that would have been skipped for want of it.
#
# Environment: OCIDIFF_TEST_STATE (service state dir, default /tmp/ocidiff-test),
# OCIDIFF_REQUIRE_SERVICES, OCIDIFF_SKIP_INSTALL=1 (never run apt-get), CARGO_TARGET_DIR.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

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
    dockerd:docker.io
    docker:docker.io
    skopeo:skopeo
    umoci:umoci
    docker-registry:docker-registry
    htpasswd:apache2-utils
    openssl:openssl
    buildah:buildah
    containerd:containerd
    ctr:containerd
    chromium:chromium
    podman:podman
    rpm:rpm
    debootstrap:debootstrap
    hyperfine:hyperfine
    /usr/bin/time:time
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

section "Tools"
install_tools
printf '%-8s %s\n' go "$( (command -v go >/dev/null && go version) || echo MISSING)"
for t in cargo rustc dockerd docker skopeo umoci buildah containerd chromium podman; do
    printf '%-8s %s\n' "$t" "$( (command -v "$t" >/dev/null && "$t" --version 2>/dev/null | head -n 1) || echo MISSING)"
done
printf '%-8s %s\n' busybox "$(busybox_is_static && echo static || echo 'MISSING or not static')"

LOCKED=()
if git ls-files --error-unmatch Cargo.lock >/dev/null 2>&1; then
    LOCKED=(--locked)
fi

section "cargo fmt --check"
cargo fmt --all --check

section "cargo clippy"
cargo clippy --all-targets "${LOCKED[@]}" -- -D warnings

section "Build tests"
cargo test --all "${LOCKED[@]}" --no-run

section "Start services"
# shellcheck source=scripts/services.sh
source scripts/services.sh
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    section "Stop services"
    services_stop || true
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
services_start
# shellcheck disable=SC1091
source "$OCIDIFF_TEST_STATE/env"
echo "DOCKER_HOST=${DOCKER_HOST:-<unset: docker tests will be skipped>}"

section "cargo test"
log="$OCIDIFF_TEST_STATE/cargo-test.log"
set +e
cargo test --all "${LOCKED[@]}" --no-fail-fast 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e

skips="$(grep -c '^SKIP:' "$log" || true)"
if ((skips > 0)); then
    warn "$skips real-tool check(s) were SKIPPED:" "$(grep '^SKIP:' "$log" | sort -u)"
fi
if ((rc != 0)); then
    echo "cargo test failed (exit $rc)" >&2
    exit "$rc"
fi
section "Benchmark smoke check"
# Tiny inputs, each tool once: proves the benchmark still runs. Never a timing assertion; the
# full run (scripts/bench.sh) is documented in BENCHMARKS.md.
OCIDIFF_BENCH_DIR="$OCIDIFF_TEST_STATE/bench" scripts/bench.sh --quick

section "All checks passed"
