#!/usr/bin/env bash
# Two builds of ocidiff side by side on the benchmark's inputs: did a change make any case
# slower? The two binaries run in turns (old, new, old, new, …), so that a busy machine slows
# both alike; prints a Markdown table of the median wall and CPU (user + system) times and
# the ratios new ÷ old.
#
#   scripts/bench-compare.sh OLD_BIN NEW_BIN
#
# The inputs are those scripts/bench.sh builds (run it once first); the docker-warm and
# docker-cold rows (the latter from an empty store each run) need its daemon (DOCKER_HOST),
# the registry rows a registry holding the inputs
# (OCIDIFF_BENCH_REGISTRY=127.0.0.1:5077 while bench.sh's registry runs).
#
# Environment: OCIDIFF_BENCH_DIR (default /tmp/ocidiff-bench), OCIDIFF_BENCH_RUNS (turns per
# binary, default 9), OCIDIFF_BENCH_CASES (default: all).
set -euo pipefail

if (($# != 2)); then
    echo "usage: $0 OLD_BIN NEW_BIN" >&2
    exit 2
fi
old=$(realpath "$1")
new=$(realpath "$2")
bench_dir=${OCIDIFF_BENCH_DIR:-/tmp/ocidiff-bench}
runs=${OCIDIFF_BENCH_RUNS:-9}
cases=${OCIDIFF_BENCH_CASES:-"a-large-pair b-same-image c-layers-60 c-layers-120 d-files-50k d-files-100k e-files-300k e-files-300k-shuffled e-files-1m e-files-1m-shuffled f-big-pair"}
export OCIDIFF_STORE=$bench_dir/store

# COLD, when set, is a store emptied before every run and used instead of $OCIDIFF_STORE.
row() { # CASE SOURCE ARGS...
    local case=$1 source=$2
    shift 2
    python3 - "$old" "$new" "$runs" "$case" "$source" "${COLD:-}" "$@" <<'PY'
import os, resource, shutil, statistics, subprocess, sys, time

old, new, runs, case, source, cold, *args = sys.argv[1:]
env = dict(os.environ, OCIDIFF_STORE=cold) if cold else None
times = {old: [], new: []}
for turn in range(int(runs) + 1):
    for binary in (old, new):
        if cold:
            shutil.rmtree(cold, ignore_errors=True)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        # Exit 1 ("different") is a result; 2 is a failure.
        code = subprocess.run([binary, "diff", "--semantic", *args], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if code not in (0, 1):
            print(f"| {case} | {source} | failed (exit {code}) | | | | | |")
            sys.exit(0)
        # getrusage counts microseconds; os.times only 10 ms ticks.
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        if turn:  # the first turn warms caches
            times[binary].append((wall, cpu))
med = lambda b, i: statistics.median(t[i] for t in times[b])
ow, nw, oc, nc = med(old, 0), med(new, 0), med(old, 1), med(new, 1)
ratio = lambda n, o: f"{n / o:.2f}" if o else "-"
print(f"| {case} | {source} | {ow:.3f} | {nw:.3f} | {ratio(nw, ow)} | {oc:.3f} | {nc:.3f} | {ratio(nc, oc)} |")
PY
}

echo "| case | source | old wall s | new wall s | new ÷ old | old CPU s | new CPU s | new ÷ old |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
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
    if [[ -s $dir/${sides[0]}.docker.tar ]]; then
        row "$case" docker-archive "docker-archive:$dir/${sides[0]}.docker.tar" \
            "docker-archive:$dir/${sides[1]}.docker.tar"
    fi
    # The scale cases (e, f) exist as OCI layouts only.
    [[ $case == [a-d]-* ]] || continue
    row "$case" store --pull never "ocidiff-bench/$name:${sides[0]}" "ocidiff-bench/$name:${sides[1]}"
    if [[ -n ${OCIDIFF_BENCH_REGISTRY:-} ]]; then
        row "$case" registry "$OCIDIFF_BENCH_REGISTRY/ocidiff-bench/$name:${sides[0]}" \
            "$OCIDIFF_BENCH_REGISTRY/ocidiff-bench/$name:${sides[1]}"
    fi
    if docker info >/dev/null 2>&1; then
        row "$case" docker-warm "docker://ocidiff-bench/$name:${sides[0]}" \
            "docker://ocidiff-bench/$name:${sides[1]}"
        COLD=$bench_dir/cold/compare row "$case" docker-cold \
            "docker://ocidiff-bench/$name:${sides[0]}" "docker://ocidiff-bench/$name:${sides[1]}"
    fi
done
