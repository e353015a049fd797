#!/usr/bin/env bash
# Starts or stops a private containerd for tests: its own root, state dir and socket in DIR, so
# that it never touches a system containerd. Needs root (containerd does).
#
#   scripts/containerd.sh start DIR   # prints CONTAINERD_ADDRESS=DIR/containerd.sock (also DIR/env)
#   scripts/containerd.sh stop DIR
#
# Images go in with `ctr -a DIR/containerd.sock -n NS images import --no-unpack FILE`
# (unpacking would need a snapshotter that works inside the test's sandbox; reading an image
# needs only the content store).
set -euo pipefail

cmd=${1:-}
dir=${2:-}
if [[ -z $cmd || -z $dir ]]; then
    echo "usage: $0 start|stop DIR" >&2
    exit 2
fi

stop() {
    local pid i
    [[ -s $dir/pid ]] || return 0
    pid=$(<"$dir/pid")
    if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/pid"
}

case $cmd in
start)
    command -v containerd >/dev/null || { echo "containerd is not installed (apt-get install containerd)" >&2; exit 3; }
    command -v ctr >/dev/null || { echo "ctr is not installed (apt-get install containerd)" >&2; exit 3; }
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    stop
    sock=$dir/containerd.sock
    # A unix socket path must fit in 108 bytes.
    if ((${#sock} > 100)); then
        echo "socket path too long for a unix socket: $sock" >&2
        exit 3
    fi
    # CRI is for Kubernetes and wants CNI; nothing here needs it.
    cat >"$dir/config.toml" <<TOML
version = 2
root = "$dir/root"
state = "$dir/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$sock"
[ttrpc]
  address = "$sock.ttrpc"
[debug]
  address = ""
TOML
    # setsid: a Ctrl-C in the calling shell must not kill it before it is stopped cleanly.
    setsid containerd --config "$dir/config.toml" >"$dir/log" 2>&1 </dev/null &
    echo $! >"$dir/pid"
    for _ in $(seq 1 200); do
        if ctr -a "$sock" version >/dev/null 2>&1; then
            echo "CONTAINERD_ADDRESS=$sock" | tee "$dir/env"
            exit 0
        fi
        if ! kill -0 "$(<"$dir/pid")" 2>/dev/null; then
            echo "containerd died:" >&2
            tail -n 30 "$dir/log" >&2
            exit 1
        fi
        sleep 0.1
    done
    echo "containerd did not answer on $sock in 20 s:" >&2
    tail -n 30 "$dir/log" >&2
    stop
    exit 1
    ;;
stop)
    stop
    ;;
*)
    echo "usage: $0 start|stop DIR" >&2
    exit 2
    ;;
esac
