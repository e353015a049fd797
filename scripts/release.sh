#!/usr/bin/env bash
# Builds the ocidiff that is shipped: one static executable that runs on any Linux of its
# architecture with no shared library, from the `dist` profile (docs/release.md says why those
# settings, with the measurements).
#
#   scripts/release.sh [--target TRIPLE] [--out DIR] [--profile NAME]
#
# Writes DIR/ocidiff-TRIPLE and DIR/ocidiff-TRIPLE.sha256 (DIR defaults to dist/) and prints the
# executable's path on stdout. TRIPLE defaults to ARCH-unknown-linux-musl for this machine's
# ARCH (x86_64, aarch64), which needs `rustup target add TRIPLE` and musl-gcc (Debian's
# musl-tools) for the C code in zstd, sqlite and ring. ARCH-unknown-linux-gnu links glibc
# statically instead (`+crt-static`; needs libc6-dev): see docs/release.md for what that means
# for DNS. Either way the script fails unless the result is static. NAME (default
# $OCIDIFF_RELEASE_PROFILE, else `dist`) is the cargo profile: scripts/test.sh builds
# `dist-quick`, the same static executable built in half the time (docs/testing.md).
#
# The bytes depend only on the commit, the toolchain and the profile: paths are remapped and the version's
# date is the commit's (crates/ocidiff/build.rs).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
target=$(uname -m)-unknown-linux-musl
out=$root/dist
profile=${OCIDIFF_RELEASE_PROFILE:-dist}
while (($#)); do
    case $1 in
    --target) target=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --profile) profile=$2; shift 2 ;;
    *)
        echo "usage: $0 [--target TRIPLE] [--out DIR] [--profile NAME]" >&2
        exit 2
        ;;
    esac
done

case $target in
*-linux-musl)
    if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
        echo "release: target $target is not installed: rustup target add $target" >&2
        echo "release: or --target $(uname -m)-unknown-linux-gnu for static glibc" >&2
        exit 1
    fi
    # cc picks musl-gcc for the C dependencies of the native musl target.
    if [[ $target == "$(uname -m)-unknown-linux-musl" ]] && ! command -v musl-gcc >/dev/null; then
        echo "release: musl-gcc is missing (apt-get install musl-tools)" >&2
        exit 1
    fi
    flags=()
    ;;
*-linux-gnu)
    flags=(-C target-feature=+crt-static)
    ;;
*)
    echo "release: unsupported target $target (a *-linux-musl or *-linux-gnu triple)" >&2
    exit 2
    ;;
esac

# Only the target's code gets RUSTFLAGS when --target is given: build scripts and proc macros
# stay dynamic, as they must. The remapping keeps this checkout's and cargo's paths out of the
# executable (panic messages name source files).
cargo_home=${CARGO_HOME:-$HOME/.cargo}
flags+=(--remap-path-prefix "$root=/ocidiff" --remap-path-prefix "$cargo_home=/cargo")
export RUSTFLAGS="${flags[*]}"
locked=()
if git -C "$root" ls-files --error-unmatch Cargo.lock >/dev/null 2>&1; then
    locked=(--locked)
fi
(cd "$root" && cargo build "${locked[@]}" --profile "$profile" --target "$target" -p ocidiff --bin ocidiff >&2)

target_dir=${CARGO_TARGET_DIR:-$root/target}
# cargo puts the `dev` profile's output in debug/, every other profile's under its own name.
profile_dir=$profile
[[ $profile == dev ]] && profile_dir=debug
bin=$target_dir/$target/$profile_dir/ocidiff
# A static executable has no NEEDED entry (ldd says "not a dynamic executable" or "statically
# linked"); anything ldd can resolve is a shared library it would need at run time.
if ldd "$bin" 2>&1 | grep -q '=>'; then
    echo "release: $bin is not static:" >&2
    ldd "$bin" >&2
    exit 1
fi
mkdir -p "$out"
dest=$out/ocidiff-$target
cp "$bin" "$dest.tmp"
mv "$dest.tmp" "$dest"
(cd "$out" && sha256sum "ocidiff-$target" >"ocidiff-$target.sha256")
echo "release: $("$dest" --version), $(stat -c %s "$dest") bytes, $(ldd "$dest" 2>&1 | head -n 1 | sed 's/^[[:space:]]*//')" >&2
echo "$dest"
