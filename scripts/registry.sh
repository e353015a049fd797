#!/usr/bin/env bash
# Starts or stops two distribution registries (Debian's docker-registry) on loopback for tests:
# one anonymous, one with htpasswd basic auth. State (config, data, logs, pids) lives in DIR.
#
#   scripts/registry.sh start DIR   # prints KEY=VALUE lines, also written to DIR/env
#   scripts/registry.sh stop DIR
#
# The env lines: OCIDIFF_TEST_REGISTRY (host:port, anonymous), OCIDIFF_TEST_AUTH_REGISTRY
# (host:port, basic auth), OCIDIFF_TEST_AUTH_USER, OCIDIFF_TEST_AUTH_PASS.
set -euo pipefail

cmd=${1:-}
dir=${2:-}
if [[ -z $cmd || -z $dir ]]; then
    echo "usage: $0 start|stop DIR" >&2
    exit 2
fi

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

start_one() { # NAME PORT [AUTH-YAML]
    local name=$1 port=$2 auth=${3:-}
    mkdir -p "$dir/$name/data"
    cat >"$dir/$name/config.yml" <<YML
version: 0.1
log: { level: warn }
storage:
  filesystem: { rootdirectory: $dir/$name/data }
  delete: { enabled: true }
http: { addr: 127.0.0.1:$port }
$auth
YML
    docker-registry serve "$dir/$name/config.yml" >"$dir/$name/log" 2>&1 &
    echo $! >"$dir/$name/pid"
    for _ in $(seq 1 100); do
        # 200 (anonymous) or 401 (auth) both mean it is up.
        code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v2/" || true)
        if [[ $code == 200 || $code == 401 ]]; then
            return 0
        fi
        if ! kill -0 "$(cat "$dir/$name/pid")" 2>/dev/null; then
            echo "registry $name died:" >&2
            cat "$dir/$name/log" >&2
            return 1
        fi
        sleep 0.1
    done
    echo "registry $name did not answer on 127.0.0.1:$port" >&2
    return 1
}

case $cmd in
start)
    command -v docker-registry >/dev/null || { echo "docker-registry is not installed (apt-get install docker-registry)" >&2; exit 3; }
    command -v htpasswd >/dev/null || { echo "htpasswd is not installed (apt-get install apache2-utils)" >&2; exit 3; }
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    user=ocidiff
    pass=s3cret-$RANDOM
    htpasswd -Bbn "$user" "$pass" >"$dir/htpasswd"
    anon_port=$(free_port)
    auth_port=$(free_port)
    start_one anon "$anon_port"
    start_one auth "$auth_port" "auth: { htpasswd: { realm: basic-realm, path: $dir/htpasswd } }"
    cat >"$dir/env" <<ENV
OCIDIFF_TEST_REGISTRY=127.0.0.1:$anon_port
OCIDIFF_TEST_AUTH_REGISTRY=127.0.0.1:$auth_port
OCIDIFF_TEST_AUTH_USER=$user
OCIDIFF_TEST_AUTH_PASS=$pass
ENV
    cat "$dir/env"
    ;;
stop)
    for name in anon auth; do
        if [[ -f $dir/$name/pid ]]; then
            kill "$(cat "$dir/$name/pid")" 2>/dev/null || true
            rm -f "$dir/$name/pid"
        fi
    done
    ;;
*)
    echo "usage: $0 start|stop DIR" >&2
    exit 2
    ;;
esac
