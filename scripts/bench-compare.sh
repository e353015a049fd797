#!/usr/bin/env bash
# Two builds of ocidiff side by side on the benchmark's inputs: did a change make any case
# slower? Interleaved hyperfine runs of both binaries per case and source, so that a busy
# machine slows both alike; prints a Markdown table of medians and the ratio new ÷ old.
#
#   scripts/bench-compare.sh OLD_BIN NEW_BIN
#
# The inputs are those scripts/bench.sh builds (run it once first); the registry rows need its
# registry running (it is started by bench.sh and stopped at its end, so they are skipped
# unless OCIDIFF_BENCH_REGISTRY answers), the docker-warm rows its daemon (DOCKER_HOST).
#
# Environment: OCIDIFF_BENCH_DIR (default /tmp/ocidiff-bench), OCIDIFF_BENCH_RUNS (default 5),
# OCIDIFF_BENCH_CASES (default: all).
set -euo pipefail

if (($# != 2)); then
    echo "usage: $0 OLD_BIN NEW_BIN" >&2
    exit 2
fi
old=$(realpath "$1")
new=$(realpath "$2")
bench_dir=${OCIDIFF_BENCH_DIR:-/tmp/ocidiff-bench}
runs=${OCIDIFF_BENCH_RUNS:-5}
cases=${OCIDIFF_BENCH_CASES:-"a-large-pair b-same-image c-layers-60 c-layers-120 d-files-50k d-files-100k"}
export OCIDIFF_STORE=$bench_dir/store
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

command -v hyperfine >/dev/null || {
    echo "hyperfine is needed (apt-get install hyperfine)" >&2
    exit 2
}

row() { # CASE SOURCE ARGS...
    local case=$1 source=$2
    shift 2
    local json=$out/$case-$source.json
    # Exit 1 ("different") is a result, not a failure.
    if ! hyperfine -N -w 1 -r "$runs" -i --export-json "$json" \
        -n old "$old diff --semantic $*" -n new "$new diff --semantic $*" >/dev/null 2>&1; then
        printf '| %s | %s | failed | | |\n' "$case" "$source"
        return
    fi
    python3 - "$json" "$case" "$source" <<'PY'
import json, statistics, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
old, new = statistics.median(r["old"]["times"]), statistics.median(r["new"]["times"])
print(f"| {sys.argv[2]} | {sys.argv[3]} | {old:.3f} | {new:.3f} | {new / old:.2f} |")
PY
}

echo "| case | source | old median s | new median s | new ÷ old |"
echo "|---|---|---:|---:|---:|"
for case in $cases; do
    name=${case#*-}
    case $case in
    a-large-pair) name=large sides=(lhs rhs) ;;
    b-same-image) name=large sides=(lhs lhs) ;;
    *) sides=(lhs rhs) ;;
    esac
    dir=$bench_dir/$name
    [[ -d $dir/lhs ]] || { echo "no inputs for $case in $dir: run scripts/bench.sh first" >&2; continue; }
    row "$case" oci "oci:$dir/${sides[0]}" "oci:$dir/${sides[1]}"
    row "$case" store --pull never "ocidiff-bench/$name:${sides[0]}" "ocidiff-bench/$name:${sides[1]}"
    if [[ -n ${OCIDIFF_BENCH_REGISTRY:-} ]]; then
        row "$case" registry "$OCIDIFF_BENCH_REGISTRY/ocidiff-bench/$name:${sides[0]}" \
            "$OCIDIFF_BENCH_REGISTRY/ocidiff-bench/$name:${sides[1]}"
    fi
    if docker info >/dev/null 2>&1; then
        row "$case" docker-warm "docker://ocidiff-bench/$name:${sides[0]}" \
            "docker://ocidiff-bench/$name:${sides[1]}"
    fi
done
