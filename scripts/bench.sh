#!/usr/bin/env bash
# Whole-run benchmarks of ocidiff against diffoci, diffoscope and the hardware floor
# (see BENCHMARKS.md for what each case means and the latest results).
#
#   scripts/bench.sh            full run: builds (once, cached) and measures every case
#   scripts/bench.sh --quick    smoke check: tiny generated inputs, each tool run once (no
#                               docker or registry rows, diffoscope on one case), no network,
#                               no timing assertions (scripts/test.sh calls it)
#
# Exits 1 when any run of ocidiff or of the floor fails or times out, or `ocidiff load` fails
# (after writing the table): a benchmark of runs that did not work measures nothing. Peers'
# failures and timeouts are rows of the table, not failures of the script.
#
# Environment:
#   OCIDIFF_BENCH_DIR      inputs, services and results (default /tmp/ocidiff-bench); reruns
#                          reuse the inputs built there
#   OCIDIFF_BENCH_RUNS     timed runs per command (default 5; the median is reported)
#   OCIDIFF_BENCH_TIMEOUT  seconds before a slow peer (diffoscope) is stopped (default 600)
#   OCIDIFF_BENCH_MIRROR   Debian mirror for the large case (default http://deb.debian.org/debian)
#   OCIDIFF_BENCH_REGISTRY_PORT  loopback port of the bench registry, HTTPS with a self-signed
#                          certificate that both differs are given (default 5077)
#   OCIDIFF_BENCH_CASES    only these cases, and only their inputs made, e.g.
#                          "c-layers-60 d-files-100k" (default: all)
#   CARGO_TARGET_DIR       where the binaries are built, as cargo uses it
#
# Cases: (a) two builds of a Debian bookworm root filesystem plus gcc, g++, make, gfortran,
# gdb and python3 (about 900 MB uncompressed; each from its own debootstrap run, so every layer
# differs); (b) one of them against itself; (c) 60 and 120 small layers (dockerd refuses more
# than 125); (d) one layer of
# 50 000 and of 100 000 small files; (e) one layer of 300 000 and of 1 000 000 small files,
# in the same order and shuffled on the right; (f) 5 GiB of uncompressed layers per image.
# Quick mode replaces (a) by a generated 4 MiB pair and shrinks (c) to (f).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
quick=0
case ${1:-} in
--quick) quick=1 ;;
"") ;;
*)
    echo "usage: $0 [--quick]" >&2
    exit 2
    ;;
esac

# The inputs each case reads: only those of the cases asked for are made (a fresh machine
# takes minutes for the million-file layouts and the 5 GB pair).
declare -A case_input=(
    [a-large-pair]=large [b-same-image]=large [c-layers-60]=layers-60 [c-layers-120]=layers-120
    [d-files-50k]=files-50k [d-files-100k]=files-100k [e-files-300k]=files-300k
    [e-files-300k-shuffled]=files-300k-shuffled [e-files-1m]=files-1m
    [e-files-1m-shuffled]=files-1m-shuffled [f-big-pair]=big-pair
)
for c in ${OCIDIFF_BENCH_CASES:-}; do
    if [[ -z ${case_input[$c]:-} ]]; then
        cases=$(printf '%s\n' "${!case_input[@]}" | sort | paste -sd ' ')
        echo "bench: unknown case $c (the cases: $cases)" >&2
        exit 2
    fi
done
selected() { # CASE
    [[ -z ${OCIDIFF_BENCH_CASES:-} || " $OCIDIFF_BENCH_CASES " == *" $1 "* ]]
}
needed() { # INPUT
    local c
    for c in "${!case_input[@]}"; do
        if [[ ${case_input[$c]} == "$1" ]] && selected "$c"; then
            return 0
        fi
    done
    return 1
}

bench_dir=${OCIDIFF_BENCH_DIR:-/tmp/ocidiff-bench}
runs=${OCIDIFF_BENCH_RUNS:-5}
timeout_s=${OCIDIFF_BENCH_TIMEOUT:-600}
mirror=${OCIDIFF_BENCH_MIRROR:-http://deb.debian.org/debian}
reg_port=${OCIDIFF_BENCH_REGISTRY_PORT:-5077}
# Image names in the daemon, the registry and the stores; the quick check's own, so that its
# tiny images never shadow the full run's.
prefix="ocidiff-bench"
if ((quick)); then
    prefix="ocidiff-bench-quick"
    bench_dir=$bench_dir/quick
    runs=1
    timeout_s=30
fi
mkdir -p "$bench_dir"
bench_dir=$(cd "$bench_dir" && pwd)
stamp=$(date +%Y%m%d-%H%M%S)
results=$bench_dir/results/$stamp
mkdir -p "$results"
export OCIDIFF_STORE=$bench_dir/store

log() { printf '[bench] %s\n' "$*" >&2; }
have() { command -v "$1" >/dev/null 2>&1; }

# ---------------------------------------------------------------------------------------------
# Binaries: release for measurements; the quick check reuses the debug build scripts/test.sh
# already made.
target=${CARGO_TARGET_DIR:-$root/target}
if ((quick)); then
    profile=debug
    (cd "$root" && cargo build -q -p ocidiff -p ocidiff-bench --bins)
else
    profile=release
    (cd "$root" && cargo build -q --release -p ocidiff -p ocidiff-bench --bins)
fi
bin=$target/$profile
ocidiff=$bin/ocidiff

# ---------------------------------------------------------------------------------------------
# Services. dockerd: the caller's (DOCKER_HOST) if it answers, else a private one under
# $bench_dir/svc; without it the docker:// rows and the large case are skipped. The registry
# is ours, on a fixed port, so that peers' stores keep their pulled copies between runs.
# The quick check leaves docker out: `docker save` through the vfs driver alone would take
# longer than the whole check may.
docker_ok=0
if ((quick)); then
    :
elif have docker && docker info >/dev/null 2>&1; then
    docker_ok=1
elif ! ((quick)) && [[ -x $root/scripts/services.sh ]]; then
    OCIDIFF_TEST_STATE=$bench_dir/svc "$root/scripts/services.sh" start >&2 || true
    if [[ -f $bench_dir/svc/env ]]; then
        # shellcheck disable=SC1091
        source "$bench_dir/svc/env"
        docker info >/dev/null 2>&1 && docker_ok=1
    fi
fi
((docker_ok)) || log "no docker daemon: docker:// rows are skipped"
# skopeo does not read DOCKER_HOST by itself.
src_daemon=() dest_daemon=()
if [[ -n ${DOCKER_HOST:-} ]]; then
    src_daemon=(--src-daemon-host "$DOCKER_HOST")
    dest_daemon=(--dest-daemon-host "$DOCKER_HOST")
fi

# diffoci v0.1.8 runs `docker save --platform P`, which a Docker 20.10 daemon (API 1.41)
# refuses; the shim drops the flag (such a daemon holds one platform per image anyway).
mkdir -p "$bench_dir/shim"
cat >"$bench_dir/shim/docker" <<'SH'
#!/usr/bin/env bash
# Every shim directory off PATH: the script's own, and one a caller put there too.
real=$(PATH=$(tr : '\n' <<<"$PATH" | grep -vx '.*/shim' | paste -sd :) command -v docker)
args=()
while (($#)); do
    case $1 in
    --platform) shift 2 ;;
    --platform=*) shift ;;
    *) args+=("$1"); shift ;;
    esac
done
exec "$real" "${args[@]}"
SH
chmod +x "$bench_dir/shim/docker"
export PATH=$bench_dir/shim:$PATH

# The registry serves HTTPS, as registries do, with a self-signed certificate: diffoci (Go)
# trusts it through SSL_CERT_FILE; ocidiff reaches loopback registries as Docker does (TLS
# first, unverified).
reg=127.0.0.1:$reg_port
reg_cert=$bench_dir/registry/tls/cert.pem
reg_pid=
stop_registry() { if [[ -n $reg_pid ]]; then kill "$reg_pid" 2>/dev/null || true; fi; }
trap stop_registry EXIT
reg_ok=0
if ((quick)); then
    :
elif [[ -s $reg_cert ]] && curl -fs --cacert "$reg_cert" "https://$reg/v2/" >/dev/null 2>&1; then
    reg_ok=1
elif have docker-registry; then
    mkdir -p "$bench_dir/registry/tls"
    if [[ ! -s $reg_cert ]]; then
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
            -subj /CN=127.0.0.1 -addext "subjectAltName=IP:127.0.0.1" \
            -keyout "$bench_dir/registry/tls/key.pem" -out "$reg_cert" 2>/dev/null
    fi
    cat >"$bench_dir/registry/config.yml" <<YML
version: 0.1
log: { level: error }
storage: { filesystem: { rootdirectory: $bench_dir/registry/data } }
http:
  addr: $reg
  tls: { certificate: $reg_cert, key: $bench_dir/registry/tls/key.pem }
YML
    docker-registry serve "$bench_dir/registry/config.yml" >"$bench_dir/registry/log" 2>&1 &
    reg_pid=$!
    for _ in $(seq 1 100); do
        curl -fs --cacert "$reg_cert" "https://$reg/v2/" >/dev/null 2>&1 && { reg_ok=1; break; }
        sleep 0.1
    done
fi
((reg_ok)) || log "no registry on $reg: registry rows are skipped"

# ---------------------------------------------------------------------------------------------
# Inputs. Every case is a directory holding lhs/ and rhs/ (OCI layouts, gzip layers), made
# once; the other forms are derived from them on demand and cached too.

# Two debootstrap runs minutes apart, each imported into docker and built on with the classic
# builder: a real rebuild pair whose every layer differs.
build_large() {
    local dir=$bench_dir/large n
    [[ -f $dir/lhs/index.json && -f $dir/rhs/index.json ]] && return 0
    ((docker_ok)) || { log "the large case needs dockerd"; return 1; }
    have debootstrap || apt-get install -y debootstrap >&2
    mkdir -p "$dir"
    for n in 0 1; do
        if ! docker image inspect "ocidiff-bench/large:$n" >/dev/null 2>&1; then
            if ! docker image inspect "ocidiff-bench/base:$n" >/dev/null 2>&1; then
                if [[ ! -s $dir/base$n.tar ]]; then
                    log "debootstrap run $n (a few minutes)"
                    rm -rf "$dir/rootfs$n"
                    debootstrap --variant=minbase bookworm "$dir/rootfs$n" "$mirror" \
                        >"$dir/debootstrap$n.log" 2>&1
                    tar -C "$dir/rootfs$n" -c . >"$dir/base$n.tar.part"
                    mv "$dir/base$n.tar.part" "$dir/base$n.tar"
                    rm -rf "$dir/rootfs$n"
                fi
                docker import "$dir/base$n.tar" "ocidiff-bench/base:$n" >/dev/null
            fi
            mkdir -p "$dir/ctx$n"
            cat >"$dir/ctx$n/Dockerfile" <<DF
FROM ocidiff-bench/base:$n
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update && apt-get install -y gcc g++ make gfortran gdb python3 && rm -rf /var/lib/apt/lists/*
DF
            log "docker build $n (a few minutes)"
            DOCKER_BUILDKIT=0 docker build --network host -q -t "ocidiff-bench/large:$n" \
                "$dir/ctx$n" >"$dir/build$n.log" 2>&1
        fi
    done
    for n in 0 1; do
        local side=lhs
        ((n)) && side=rhs
        docker tag "ocidiff-bench/large:$n" "ocidiff-bench/large:$side"
        rm -rf "${dir:?}/$side"
        skopeo copy -q "${src_daemon[@]}" "docker-daemon:ocidiff-bench/large:$side" "oci:$dir/$side:latest" >&2
        docker save -o "$dir/$side.docker.tar" "ocidiff-bench/large:$side"
    done
}

build_generated() { # NAME SHAPE N
    local dir=$bench_dir/$1
    [[ -f $dir/lhs/index.json && -f $dir/rhs/index.json ]] && return 0
    log "generating $1"
    rm -rf "$dir"
    "$bin/gen-bench" "$2" "$3" "$dir"
}

# docker-daemon and registry copies, and docker-archive tarballs for diffoscope.
derive() { # NAME
    local name=$1 dir=$bench_dir/$1 side
    for side in lhs rhs; do
        if ((docker_ok)) && ! docker image inspect "$prefix/$name:$side" >/dev/null 2>&1; then
            if [[ -s $dir/$side.docker.tar ]]; then
                docker load -q -i "$dir/$side.docker.tar" >/dev/null
                local loaded
                loaded=$(tar -xOf "$dir/$side.docker.tar" manifest.json |
                    python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["RepoTags"][0])')
                [[ $loaded == "$prefix/$name:$side" ]] ||
                    docker tag "$loaded" "$prefix/$name:$side"
            else
                skopeo copy -q "${dest_daemon[@]}" "oci:$dir/$side:latest" \
                    "docker-daemon:$prefix/$name:$side" >&2
            fi
        fi
        if [[ ! -s $dir/$side.docker.tar ]]; then
            skopeo copy -q "oci:$dir/$side:latest" \
                "docker-archive:$dir/$side.docker.tar:$prefix/$name:$side" >&2
        fi
        if ((reg_ok)) && ! curl -fs --cacert "$reg_cert" -o /dev/null \
            -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
            -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
            "https://$reg/v2/$prefix/$name/manifests/$side"; then
            skopeo copy -q --dest-tls-verify=false "oci:$dir/$side:latest" \
                "docker://$reg/$prefix/$name:$side" >&2
        fi
        # Both differs' own stores, from the same docker save output.
        if ! "$ocidiff" load -i "$dir/$side.docker.tar" >"$results/load-$name-$side.err" 2>&1; then
            log "ocidiff load $name:$side failed (see $results/load-$name-$side.err)"
            echo "ocidiff load $name:$side" >>"$failures"
        fi
        if have diffoci; then
            diffoci load --input "$dir/$side.docker.tar" >/dev/null 2>&1 ||
                log "diffoci load $name:$side failed"
        fi
    done
}

# ---------------------------------------------------------------------------------------------
# Measuring. Each command: hyperfine (full mode; median of $runs after one warm-up run, which
# also lets the tools' stores pull registry images before timing), or in turns with its floor
# (measure_pair), or one plain run (quick mode); then one more run under /usr/bin/time for the
# peak RSS. Exit status 1 means
# "differences found" for both differs and is not a failure. With $cold set, that directory
# (the tool's store for the row) is removed before every run, warm-up included.
rows=$results/rows.tsv
: >"$rows"
# Runs of ours that failed, one line each; the script's exit status.
failures=$results/failures
: >"$failures"
cold=
wipe_cold() { if [[ -n $cold ]]; then rm -rf "$cold"; fi; }

measure() { # CASE TOOL SOURCE CMD...
    local case=$1 tool=$2 src=$3
    shift 3
    local id=${case}_${tool}_${src} status=ok median min max cpu
    if ((quick)) || ! have hyperfine; then
        local start end
        wipe_cold
        start=$(date +%s.%N)
        timeout "$timeout_s" "$@" >"$results/$id.out" 2>"$results/$id.err" || {
            local rc=$?
            ((rc == 124)) && status=timeout
            ((rc != 1 && rc != 124)) && status=failed:$rc
        }
        end=$(date +%s.%N)
        median=$(python3 -c "print(f'{$end-$start:.3f}')")
        min=$median max=$median cpu=-
    else
        local prepare=()
        [[ -n $cold ]] && prepare=(--prepare "rm -rf ${cold@Q}")
        if ! hyperfine -N -i --style none --warmup 1 --runs "$runs" "${prepare[@]}" \
            --export-json "$results/$id.json" -n "$tool" -- "${*@Q}" \
            >"$results/$id.hyperfine" 2>&1; then
            status=failed
        fi
        local t
        t=$(timings "$id") || status=failed
        read -r median min max cpu <<<"$t"
    fi
    record "$case" "$tool" "$src" "$status" "$median" "$min" "$max" "$cpu" "$@"
}

# The median, min, max and CPU time (user + system) of the runs in $results/ID.json
# (hyperfine's export, or measure_pair's in its format); fails on an exit status other than
# 0 and 1.
timings() { # ID
    python3 -c "
import json,sys
r=json.load(open('$results/$1.json'))['results'][0]
codes=set(r.get('exit_codes') or [])
print(f\"{r['median']:.3f} {r['min']:.3f} {r['max']:.3f} {r['user']+r['system']:.3f}\")
sys.exit(3 if codes-{0,1} else 0)"
}

# One row of the table, after one more run of CMD under /usr/bin/time for the peak RSS.
record() { # CASE TOOL SOURCE STATUS MEDIAN MIN MAX CPU CMD...
    local case=$1 tool=$2 src=$3 status=$4 median=$5 min=$6 max=$7 cpu=$8
    shift 8
    local id=${case}_${tool}_${src} rss=0
    local rssfile=$results/$id.rss
    if [[ $status == ok && -x /usr/bin/time ]]; then
        wipe_cold
        timeout "$timeout_s" /usr/bin/time -f '%M' -o "$rssfile" "$@" >/dev/null \
            2>"$results/$id.err" || true
        rss=$(tail -n1 "$rssfile" 2>/dev/null | tr -dc 0-9)
        rss=$((${rss:-0} / 1024))
        # diffoci exits 1 both for "differences" and for errors; its errors are fatal logs.
        grep -q 'level=fatal' "$results/$id.err" && status=failed
    fi
    [[ $status == ok ]] || log "$case: $tool ($src) $status (see $results/$id.*)"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$case" "$tool" "$src" "$median" "$min" "$max" \
        "$cpu" "$rss" "$status" >>"$rows"
}

# Two commands in turns (a, b, a, b, …, after one warm-up run each) for the rows whose ratio
# is a target — ocidiff against the hash floor, against the daemon's own export. Measured
# one after the other, minutes apart, such ratios moved by 10 % and more with the load of this
# shared machine (BENCHMARKS.md); in turns, the load weighs on both alike. COLD is emptied
# before each run of A (its store), as $cold is for measure.
measure_pair() { # CASE COLD TOOL_A SRC_A TOOL_B SRC_B CMD_A... -- CMD_B...
    local case=$1 cold_a=$2 tool_a=$3 src_a=$4 tool_b=$5 src_b=$6
    shift 6
    local cmd_a=() cmd_b=()
    while (($#)) && [[ $1 != -- ]]; do
        cmd_a+=("$1")
        shift
    done
    shift
    cmd_b=("$@")
    if ((quick)) || ! have hyperfine; then
        cold=$cold_a measure "$case" "$tool_a" "$src_a" "${cmd_a[@]}"
        measure "$case" "$tool_b" "$src_b" "${cmd_b[@]}"
        return
    fi
    local id_a=${case}_${tool_a}_${src_a} id_b=${case}_${tool_b}_${src_b} status=ok
    python3 - "$runs" "$timeout_s" "$cold_a" "$results/$id_a.json" "$results/$id_b.json" \
        "${#cmd_a[@]}" "${cmd_a[@]}" "${cmd_b[@]}" <<'PY' || status=failed
import json, resource, shutil, statistics, subprocess, sys, time

runs, timeout, cold, out_a, out_b, n = sys.argv[1:7]
argv = sys.argv[7:]
cmds = [(argv[: int(n)], out_a, cold), (argv[int(n):], out_b, "")]
times = {out: [] for _, out, _ in cmds}
codes = {out: set() for _, out, _ in cmds}
for turn in range(int(runs) + 1):
    for cmd, out, wipe in cmds:
        if wipe:
            shutil.rmtree(wipe, ignore_errors=True)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        code = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              timeout=float(timeout)).returncode
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        # getrusage counts microseconds; os.times only 10 ms ticks.
        cpu = [after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime]
        if turn:  # the first turn warms caches (and stores)
            times[out].append((wall, *cpu))
            codes[out].add(code)
for _, out, _ in cmds:
    t = times[out]
    json.dump({"results": [{
        "median": statistics.median(w for w, _, _ in t),
        "min": min(w for w, _, _ in t), "max": max(w for w, _, _ in t),
        "user": statistics.median(u for _, u, _ in t),
        "system": statistics.median(s for _, _, s in t),
        "exit_codes": sorted(codes[out]),
    }]}, open(out, "w"))
PY
    local id tool src median min max cpu st
    for which in a b; do
        if [[ $which == a ]]; then
            id=$id_a tool=$tool_a src=$src_a cold=$cold_a
        else
            id=$id_b tool=$tool_b src=$src_b cold=
        fi
        st=$status
        median=0 min=0 max=0 cpu=-
        if [[ $st == ok ]]; then
            local t
            t=$(timings "$id") || st=failed
            read -r median min max cpu <<<"$t"
        fi
        if [[ $which == a ]]; then
            record "$case" "$tool" "$src" "$st" "$median" "$min" "$max" "$cpu" "${cmd_a[@]}"
        else
            record "$case" "$tool" "$src" "$st" "$median" "$min" "$max" "$cpu" "${cmd_b[@]}"
        fi
    done
    cold=
}

# diffoscope runs once (it is far too slow to repeat); stopped after $timeout_s.
measure_once() { # CASE TOOL SOURCE CMD...
    local case=$1 tool=$2 src=$3
    shift 3
    local id=${case}_${tool}_${src} status=ok start end rc=0 rss
    start=$(date +%s.%N)
    timeout "$timeout_s" /usr/bin/time -f '%M' -o "$results/$id.rss" "$@" \
        >"$results/$id.out" 2>"$results/$id.err" || rc=$?
    end=$(date +%s.%N)
    ((rc == 124)) && status=timeout
    ((rc != 0 && rc != 1 && rc != 124)) && status=failed:$rc
    local t
    t=$(python3 -c "print(f'{$end-$start:.3f}')")
    rss=$(tail -n1 "$results/$id.rss" 2>/dev/null | tr -dc 0-9)
    rss=$((${rss:-0} / 1024))
    [[ $status == ok ]] || log "$case: $tool ($src) $status"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t-\t%s\t%s\n' "$case" "$tool" "$src" "$t" "$t" "$t" "$rss" \
        "$status" >>"$rows"
}

# Hashing FILES with openssl, two at a time in parallel (2 cores): the hash floor of a source.
# shellcheck disable=SC2016 # expanded by the inner bash
sha256_both='printf "%s\0" "$@" | xargs -0 -r -n 1 -P 2 openssl dgst -sha256 >/dev/null'
measure_sha256() { # CASE SOURCE FILE...
    local case=$1 source=$2
    shift 2
    measure "$case" sha256 "$source" bash -c "$sha256_both" - "$@"
}

# Scale: ocidiff from the OCI layouts against the floor, for time and peak memory as the
# number of files (or bytes) grows; nothing else reads these (a daemon with the vfs driver
# would take minutes to load a million files).
run_scale_case() { # CASE
    local case=$1 dir=$bench_dir/${case_input[$1]}
    selected "$case" || return 0
    log "measuring $case"
    measure "$case" ocidiff oci "$ocidiff" diff --semantic "oci:$dir/lhs" "oci:$dir/rhs"
    measure "$case" floor oci "$bin/floor" "$dir/lhs" "$dir/rhs"
    local blobs=()
    mapfile -t blobs < <(find "$dir/lhs/blobs" "$dir/rhs/blobs" -type f)
    measure_sha256 "$case" oci "${blobs[@]}"
}

run_case() { # CASE LHS-SIDE RHS-SIDE
    local case=$1 name=${case_input[$1]} ls=$2 rs=$3
    local dir=$bench_dir/$name
    selected "$case" || return 0
    local n0=$prefix/$name:$ls n1=$prefix/$name:$rs
    log "measuring $case"
    measure "$case" ocidiff oci "$ocidiff" diff --semantic "oci:$dir/$ls" "oci:$dir/$rs"
    # Each tool's own store, holding the same `docker save` output.
    measure "$case" ocidiff store "$ocidiff" diff --semantic --pull never "$n0" "$n1"
    if have diffoci; then
        measure "$case" diffoci store diffoci diff --semantic --pull never "$n0" "$n1"
    fi
    local cold_o=$bench_dir/cold/ocidiff cold_d=$bench_dir/cold/diffoci
    if ((docker_ok)); then
        # diffoci exports both images every time; ocidiff does when its store starts empty
        # (docker), and reuses its exports by image ID when not (docker-warm). docker-save is
        # the daemon exporting both images in parallel, read by nothing: the least any
        # docker:// reader can take.
        # shellcheck disable=SC2016 # expanded by the inner bash
        measure_pair "$case" "$cold_o" ocidiff docker docker-save docker \
            env OCIDIFF_STORE="$cold_o" "$ocidiff" diff --semantic "docker://$n0" "docker://$n1" \
            -- bash -c 'docker save "$1" >/dev/null & p=$!; docker save "$2" >/dev/null && wait $p' \
            - "$n0" "$n1"
        if have diffoci; then
            measure "$case" diffoci docker diffoci diff --semantic "docker://$n0" "docker://$n1"
        fi
        measure "$case" ocidiff docker-warm \
            "$ocidiff" diff --semantic "docker://$n0" "docker://$n1"
    fi
    if ((reg_ok)); then
        # Warm: each tool's store kept what the warm-up run pulled. Cold: emptied every run.
        local r0=$reg/$prefix/$name:$ls r1=$reg/$prefix/$name:$rs
        measure "$case" ocidiff registry "$ocidiff" diff --semantic "$r0" "$r1"
        cold=$cold_o measure "$case" ocidiff registry-cold \
            env OCIDIFF_STORE="$cold_o" "$ocidiff" diff --semantic "$r0" "$r1"
        if have diffoci; then
            measure "$case" diffoci registry \
                env SSL_CERT_FILE="$reg_cert" diffoci diff --semantic "$r0" "$r1"
            cold=$cold_d measure "$case" diffoci registry-cold \
                env SSL_CERT_FILE="$reg_cert" DIFFOCI_LOCAL_CACHE="$cold_d" \
                diffoci diff --semantic "$r0" "$r1"
        fi
    fi
    measure "$case" floor oci "$bin/floor" "$dir/$ls" "$dir/$rs"
    # The docker save tarballs read in place, against hashing both once with openssl (SHA-NI),
    # in parallel: the least any reader that checks layer digests can do with them.
    measure_pair "$case" "" ocidiff docker-archive sha256 docker-archive "$ocidiff" diff \
        --semantic "docker-archive:$dir/$ls.docker.tar" "docker-archive:$dir/$rs.docker.tar" \
        -- bash -c "$sha256_both" - "$dir/$ls.docker.tar" "$dir/$rs.docker.tar"
    # diffoscope takes seconds even on the quick check's tiny layers: once there is enough.
    if have diffoscope && { ! ((quick)) || [[ $case == c-layers-60 ]]; }; then
        measure_once "$case" diffoscope docker-archive diffoscope --no-progress \
            "$dir/$ls.docker.tar" "$dir/$rs.docker.tar"
    fi
}

generate() { # NAME SHAPE N
    needed "$1" && build_generated "$@"
    return 0
}

if ((quick)); then
    generate large pair 4
    generate layers-60 layers 6
    generate layers-120 layers 12
    generate files-50k files 1000
    generate files-100k files 2000
    generate files-300k files 3000
    generate files-300k-shuffled files-shuffled 3000
    generate big-pair big 8
else
    if needed large; then build_large; fi
    generate layers-60 layers 60
    generate layers-120 layers 120
    generate files-50k files 50000
    generate files-100k files 100000
    generate files-300k files 300000
    generate files-300k-shuffled files-shuffled 300000
    generate files-1m files 1000000
    generate files-1m-shuffled files-shuffled 1000000
    generate big-pair big 5120
fi
for n in large layers-60 layers-120 files-50k files-100k; do
    if needed "$n"; then derive "$n"; fi
done

run_case a-large-pair lhs rhs
run_case b-same-image lhs lhs
run_case c-layers-60 lhs rhs
run_case c-layers-120 lhs rhs
run_case d-files-50k lhs rhs
run_case d-files-100k lhs rhs
run_scale_case e-files-300k
run_scale_case e-files-300k-shuffled
if ! ((quick)); then
    run_scale_case e-files-1m
    run_scale_case e-files-1m-shuffled
fi
run_scale_case f-big-pair

# ---------------------------------------------------------------------------------------------
# The table: each row's ratio is ocidiff's median from the same source divided by the row's
# (ocidiff from an OCI layout stands in where it cannot read that source).
python3 - "$rows" "$results/results.md" <<'PY'
import sys, collections
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
by_case = collections.OrderedDict()
for case, tool, src, med, mn, mx, cpu, rss, status in rows:
    cpu = None if cpu == "-" else float(cpu)
    by_case.setdefault(case, []).append((tool, src, float(med), float(mn), float(mx), cpu, int(rss), status))
out = ["| case | tool | source | median s | min–max s | CPU s | peak RSS MB | ocidiff ÷ this, wall | ocidiff ÷ this, CPU |",
       "|---|---|---|---:|---:|---:|---:|---:|---:|"]
for case, rs in by_case.items():
    ours = {src: (med, cpu) for tool, src, med, _, _, cpu, _, status in rs
            if tool == "ocidiff" and status == "ok"}
    for tool, src, med, mn, mx, cpu, rss, status in rs:
        if status == "timeout":
            t = f"did not finish in {med:.0f} s"
        elif status != "ok":
            t = status
        else:
            t = f"{med:.3f}"
        base = src if src in ours else "oci"
        note = "" if base == src else " (vs oci)"
        wall = cpur = ""
        if tool != "ocidiff" and base in ours:
            om, oc = ours[base]
            if status == "ok" and med > 0:
                wall = f"{om / med:.3g}{note}"
                if cpu and oc is not None:
                    cpur = f"{oc / cpu:.3g}{note}"
            elif status == "timeout":
                wall = f"< {om / med:.2g}{note}"
        cpus = "-" if cpu is None else f"{cpu:.3f}"
        out.append(f"| {case} | {tool} | {src} | {t} | {mn:.3f}–{mx:.3f} | {cpus} | {rss or '-'} | {wall} | {cpur} |")
open(sys.argv[2], "w").write("\n".join(out) + "\n")
print("\n".join(out))
PY
log "results in $results (rows.tsv, results.md, per-command logs)"
awk -F'\t' '($2 == "ocidiff" || $2 == "floor") && $9 != "ok" { print $1 ": " $2 " (" $3 ") " $9 }' \
    "$rows" >>"$failures"
if [[ -s $failures ]]; then
    log "FAILED: $(wc -l <"$failures") run(s) of ours did not work:"
    sed 's/^/[bench]   /' "$failures" >&2
    exit 1
fi
