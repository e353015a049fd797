#!/usr/bin/env bash
# Starts or stops distribution registries (Debian's docker-registry) on loopback for tests:
# one anonymous, one with htpasswd basic auth, one anonymous over TLS (a self-signed
# certificate, as a local registry often has), and, when OCIDIFF_TEST_TOKEN_REALM is set, one
# with token auth (`auth: token`). State (config, data, logs, pids, keys) lives in DIR.
#
#   scripts/registry.sh start DIR   # prints KEY=VALUE lines, also written to DIR/env
#   scripts/registry.sh stop DIR
#
# The env lines: OCIDIFF_TEST_REGISTRY (host:port, anonymous), OCIDIFF_TEST_AUTH_REGISTRY
# (host:port, basic auth), OCIDIFF_TEST_AUTH_USER, OCIDIFF_TEST_AUTH_PASS,
# OCIDIFF_TEST_TLS_REGISTRY (host:port, anonymous, HTTPS), OCIDIFF_TEST_TLS_CERT (its
# certificate, PEM).
#
# Token auth: the token issuer is the caller's (the test suite serves one in-process), so it must
# listen before the registry starts; OCIDIFF_TEST_TOKEN_REALM is its URL. This script makes the
# P-256 signing key (DIR/token/key.der, PKCS#8) and its self-signed certificate
# (DIR/token/cert.pem, DER in cert.der), which the registry trusts as `rootcertbundle`; the issuer
# signs ES256 JWTs carrying that certificate in the `x5c` header, which distribution 2.8 checks
# against the bundle. Extra env lines: OCIDIFF_TEST_TOKEN_REGISTRY, OCIDIFF_TEST_TOKEN_SERVICE,
# OCIDIFF_TEST_TOKEN_ISSUER, OCIDIFF_TEST_TOKEN_KEY, OCIDIFF_TEST_TOKEN_CERT.
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

start_one() { # NAME PORT [AUTH-YAML] [TLS-YAML]
    local name=$1 port=$2 auth=${3:-} tls=${4:-} scheme=http
    [[ -n $tls ]] && scheme=https
    mkdir -p "$dir/$name/data"
    cat >"$dir/$name/config.yml" <<YML
version: 0.1
log: { level: warn }
storage:
  filesystem: { rootdirectory: $dir/$name/data }
  delete: { enabled: true }
http: { addr: 127.0.0.1:$port $tls }
$auth
YML
    docker-registry serve "$dir/$name/config.yml" >"$dir/$name/log" 2>&1 &
    echo $! >"$dir/$name/pid"
    for _ in $(seq 1 100); do
        # 200 (anonymous) or 401 (auth) both mean it is up.
        code=$(curl -sk -o /dev/null -w '%{http_code}' "$scheme://127.0.0.1:$port/v2/" || true)
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
    command -v openssl >/dev/null || { echo "openssl is not installed (apt-get install openssl)" >&2; exit 3; }
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    user=ocidiff
    pass=s3cret-$RANDOM
    htpasswd -Bbn "$user" "$pass" >"$dir/htpasswd"
    anon_port=$(free_port)
    auth_port=$(free_port)
    start_one anon "$anon_port"
    start_one auth "$auth_port" "auth: { htpasswd: { realm: basic-realm, path: $dir/htpasswd } }"
    mkdir -p "$dir/tls"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj /CN=127.0.0.1 -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
        -keyout "$dir/tls/key.pem" -out "$dir/tls/cert.pem" 2>/dev/null
    tls_port=$(free_port)
    start_one tls "$tls_port" "" \
        ", tls: { certificate: $dir/tls/cert.pem, key: $dir/tls/key.pem }"
    cat >"$dir/env" <<ENV
OCIDIFF_TEST_REGISTRY=127.0.0.1:$anon_port
OCIDIFF_TEST_AUTH_REGISTRY=127.0.0.1:$auth_port
OCIDIFF_TEST_AUTH_USER=$user
OCIDIFF_TEST_AUTH_PASS=$pass
OCIDIFF_TEST_TLS_REGISTRY=127.0.0.1:$tls_port
OCIDIFF_TEST_TLS_CERT=$dir/tls/cert.pem
ENV
    if [[ -n ${OCIDIFF_TEST_TOKEN_REALM:-} ]]; then
        mkdir -p "$dir/token"
        # PKCS#8 without curve parameters inside the EC key, as ring (the issuer's signer) wants.
        openssl ecparam -genkey -name prime256v1 -noout 2>/dev/null |
            openssl pkcs8 -topk8 -nocrypt -outform DER -out "$dir/token/key.der"
        openssl req -new -x509 -days 2 -subj /CN=ocidiff-test-issuer -keyform DER \
            -key "$dir/token/key.der" -out "$dir/token/cert.pem" 2>/dev/null
        openssl x509 -in "$dir/token/cert.pem" -outform DER -out "$dir/token/cert.der"
        service=ocidiff-test-registry
        issuer=ocidiff-test-issuer
        token_port=$(free_port)
        start_one token "$token_port" "auth:
  token:
    realm: $OCIDIFF_TEST_TOKEN_REALM
    service: $service
    issuer: $issuer
    rootcertbundle: $dir/token/cert.pem"
        cat >>"$dir/env" <<ENV
OCIDIFF_TEST_TOKEN_REGISTRY=127.0.0.1:$token_port
OCIDIFF_TEST_TOKEN_SERVICE=$service
OCIDIFF_TEST_TOKEN_ISSUER=$issuer
OCIDIFF_TEST_TOKEN_KEY=$dir/token/key.der
OCIDIFF_TEST_TOKEN_CERT=$dir/token/cert.der
ENV
    fi
    cat "$dir/env"
    ;;
stop)
    for name in anon auth tls token; do
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
