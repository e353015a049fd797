#!/usr/bin/env bash
# Mutation testing of the comparison rules and engine with cargo-mutants (files and tests in
# .cargo/mutants.toml). Every mutant must be caught, or listed with its reason in exclude_re
# there.
#
#   scripts/mutants.sh            every mutant (an hour or more on two cores); record the
#                                 outcome in docs/mutants.md
#   scripts/mutants.sh --in-diff [BASE]
#                                 only mutants in lines changed since BASE (default: the last
#                                 commit's first parent), at most OCIDIFF_MUTANTS_MAX of them
#                                 (default 8, a deterministic shard when there are more): what
#                                 CI runs
#
# Installs cargo-mutants from crates.io when it is missing. Output: mutants.out/ (or
# $OCIDIFF_MUTANTS_OUT). Exit status: 0 when every mutant tested was caught or unviable.
# A full run builds a copy of the tree with the `mutants` profile (no debug info); with
# OCIDIFF_MUTANTS_IN_PLACE=1 (.ci/run, on a throwaway clone) mutants are applied to the tree
# itself, reusing the test build, and the baseline is not run again.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! cargo mutants --version >/dev/null 2>&1; then
    echo "[mutants] installing cargo-mutants" >&2
    cargo install --locked cargo-mutants
fi

out="${OCIDIFF_MUTANTS_OUT:-mutants.out}"
args=(--no-shuffle --output "$out")
if [[ "${OCIDIFF_MUTANTS_IN_PLACE:-0}" == 1 ]]; then
    # No baseline run to time, so the timeout is given.
    args+=(--in-place --baseline skip --timeout 300)
else
    args+=(--profile mutants --timeout-multiplier 3)
fi

if [[ "${1:-}" == "--in-diff" ]]; then
    base="${2:-HEAD^1}"
    diff_file="$(mktemp)"
    trap 'rm -f "$diff_file"' EXIT
    if ! git rev-parse --verify --quiet "$base" >/dev/null; then
        echo "[mutants] no $base to diff against: nothing to test" >&2
        exit 0
    fi
    git diff "$base" HEAD -- '*.rs' >"$diff_file"
    count="$(cargo mutants --list --in-diff "$diff_file" | grep -c . || true)"
    max="${OCIDIFF_MUTANTS_MAX:-8}"
    echo "[mutants] $count mutant(s) in the lines changed since $base" >&2
    if ((count == 0)); then
        exit 0
    fi
    args+=(--in-diff "$diff_file")
    if ((count > max)); then
        shards=$(((count + max - 1) / max))
        # A shard that changes with the commit: over many commits every mutant gets its turn.
        shard=$(($(git rev-parse HEAD | cut -c1-6 | xargs -I{} printf '%d' 0x{}) % shards))
        echo "[mutants] testing shard $shard/$shards of them" >&2
        args+=(--shard "$shard/$shards")
    fi
elif [[ $# -gt 0 ]]; then
    echo "usage: $0 [--in-diff [BASE]]" >&2
    exit 2
fi

cargo mutants "${args[@]}"
