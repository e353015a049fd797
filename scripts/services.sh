#!/usr/bin/env bash
# Services the test suite needs, started under a private state dir so that they never touch a
# system docker (or registry) and can be thrown away whole.
#
#   scripts/services.sh start   start every service, write $STATE/env
#   scripts/services.sh stop    stop what `start` started
#   scripts/services.sh env     print the env file (`eval "$(scripts/services.sh env)"`)
#   scripts/services.sh status  say what runs
#
# Sourcing this file only defines the functions (scripts/test.sh does that).
#
# Environment:
#   OCIDIFF_TEST_STATE        state dir (default /tmp/ocidiff-test)
#   OCIDIFF_REQUIRE_SERVICES  1 = a service that cannot start is an error (CI); otherwise the
#                             tests that need it are skipped, with a loud message.
#   OCIDIFF_START_TIMEOUT     seconds to wait for a service to answer (default 60)
#
# Tests find the services through the env file: it exports DOCKER_HOST=unix://$STATE/docker.sock
# when dockerd runs, and OCIDIFF_TEST_STATE always. A service that did not start leaves its
# variable unset, which is how the tests know to skip.

OCIDIFF_TEST_STATE="${OCIDIFF_TEST_STATE:-/tmp/ocidiff-test}"
OCIDIFF_START_TIMEOUT="${OCIDIFF_START_TIMEOUT:-60}"

svc_log() { printf '[services] %s\n' "$*" >&2; }

# Loud, so that a skipped real-tool test is never mistaken for a passing one.
svc_warn() {
    printf '\n[services] !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n' >&2
    printf '[services] !!! %s\n' "$@" >&2
    printf '[services] !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\n' >&2
}

# A service that cannot start: fatal under OCIDIFF_REQUIRE_SERVICES=1, a warning otherwise.
svc_unavailable() {
    if [[ "${OCIDIFF_REQUIRE_SERVICES:-0}" == 1 ]]; then
        svc_warn "$@" "OCIDIFF_REQUIRE_SERVICES=1: failing."
        return 1
    fi
    svc_warn "$@" "Tests that need it will be SKIPPED (set OCIDIFF_REQUIRE_SERVICES=1 to fail instead)."
    return 0
}

svc_pid_alive() {
    local pidfile="$1" pid
    [[ -s "$pidfile" ]] || return 1
    pid="$(<"$pidfile")"
    [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null
}

# Stops the process named in a pidfile: TERM, then KILL after 20 s.
svc_stop_pidfile() {
    local name="$1" pidfile="$2" pid i
    svc_pid_alive "$pidfile" || { rm -f "$pidfile"; return 0; }
    pid="$(<"$pidfile")"
    svc_log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 200; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        svc_log "$name did not stop in 20 s, killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
}

# Unmounts anything left mounted under a dir (a dockerd that died leaves its mounts), deepest
# first, and the dir itself (dockerd mounts its root on itself), so the dir can be removed.
svc_unmount_under() {
    local dir="$1"
    command -v findmnt >/dev/null || return 0
    findmnt -rn -o TARGET | awk -v d="$dir" '$0 == d || index($0, d "/") == 1' | sort -r |
        while read -r m; do umount -l "$m" 2>/dev/null || true; done || true
}

# ---------------------------------------------------------------------------------------------
# dockerd

docker_sock() { printf 'unix://%s/docker.sock' "$OCIDIFF_TEST_STATE"; }

docker_answers() { DOCKER_HOST="$(docker_sock)" timeout 10 docker info >/dev/null 2>&1; }

start_dockerd() {
    local state="$OCIDIFF_TEST_STATE" pidfile="$OCIDIFF_TEST_STATE/docker.pid"
    local log="$OCIDIFF_TEST_STATE/dockerd.log" i
    if ! command -v dockerd >/dev/null || ! command -v docker >/dev/null; then
        svc_unavailable "dockerd/docker not installed (apt-get install docker.io)."
        return
    fi
    if [[ $EUID -ne 0 ]]; then
        svc_unavailable "dockerd needs root; running as uid $EUID."
        return
    fi
    if svc_pid_alive "$pidfile" && docker_answers; then
        svc_log "dockerd already running at $(docker_sock)"
        DOCKER_HOST="$(docker_sock)"
        return
    fi
    svc_stop_pidfile dockerd "$pidfile"
    # Fresh data every start: old images would hide build problems and fill the disk (vfs).
    svc_unmount_under "$state/dockerd"
    svc_unmount_under "$state/exec"
    rm -rf "$state/dockerd" "$state/exec" "$state/docker.sock"
    mkdir -p "$state"
    svc_log "starting dockerd at $(docker_sock) (log: $log)"
    # setsid: a Ctrl-C in the calling shell must not kill it before our trap stops it cleanly.
    setsid dockerd --storage-driver=vfs --iptables=false --bridge=none \
        --data-root "$state/dockerd" --exec-root "$state/exec" \
        --pidfile "$pidfile" -H "$(docker_sock)" >"$log" 2>&1 </dev/null &
    local pid=$! started=$SECONDS
    for ((i = 0; i < OCIDIFF_START_TIMEOUT * 2; i++)); do
        if docker_answers; then
            svc_log "dockerd answers after $((SECONDS - started)) s"
            DOCKER_HOST="$(docker_sock)"
            return
        fi
        # It exited: no point waiting for the timeout.
        if ((i > 4)) && ! kill -0 "$pid" 2>/dev/null && ! svc_pid_alive "$pidfile"; then
            break
        fi
        sleep 0.5
    done
    svc_log "dockerd did not answer; last lines of $log:"
    tail -n 30 "$log" >&2 || true
    svc_stop_pidfile dockerd "$pidfile"
    svc_unavailable "dockerd could not start (see $log)."
}

stop_dockerd() {
    svc_stop_pidfile dockerd "$OCIDIFF_TEST_STATE/docker.pid"
    svc_unmount_under "$OCIDIFF_TEST_STATE/exec"
    svc_unmount_under "$OCIDIFF_TEST_STATE/dockerd"
    # Its images are throwaway; the log stays for whoever looks into a failure.
    rm -rf "$OCIDIFF_TEST_STATE/dockerd" "$OCIDIFF_TEST_STATE/exec"
}

# ---------------------------------------------------------------------------------------------
# All services. To add one: write start_X / stop_X that set its variable on success (like
# start_dockerd sets DOCKER_HOST), call them below, and add the variable to write_env.

write_env() {
    local env="$OCIDIFF_TEST_STATE/env"
    mkdir -p "$OCIDIFF_TEST_STATE"
    {
        printf '# Written by scripts/services.sh; source it to reach the test services.\n'
        printf 'export OCIDIFF_TEST_STATE=%q\n' "$OCIDIFF_TEST_STATE"
        if [[ -n "${DOCKER_HOST:-}" ]]; then
            printf 'export DOCKER_HOST=%q\n' "$DOCKER_HOST"
        else
            printf 'unset DOCKER_HOST\n'
        fi
    } >"$env"
}

services_start() {
    # Only what we start counts: a DOCKER_HOST from the caller's shell must not leak into tests.
    unset DOCKER_HOST
    start_dockerd || return 1
    write_env
    svc_log "env file: $OCIDIFF_TEST_STATE/env"
}

services_stop() {
    stop_dockerd
    rm -f "$OCIDIFF_TEST_STATE/env"
}

services_status() {
    if svc_pid_alive "$OCIDIFF_TEST_STATE/docker.pid" && docker_answers; then
        echo "dockerd: running at $(docker_sock)"
    else
        echo "dockerd: not running"
    fi
}

services_main() {
    case "${1:-}" in
    start) services_start ;;
    stop) services_stop ;;
    env)
        if [[ -f "$OCIDIFF_TEST_STATE/env" ]]; then
            cat "$OCIDIFF_TEST_STATE/env"
        else
            svc_log "no env file; run: $0 start"
            return 1
        fi
        ;;
    status) services_status ;;
    *)
        echo "usage: $0 start|stop|env|status" >&2
        return 2
        ;;
    esac
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    set -euo pipefail
    services_main "$@"
fi
