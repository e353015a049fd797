#!/usr/bin/env bash
# Writes the container image of ocidiff as an OCI image layout: the static executable as
# /ocidiff (the entrypoint), the host's CA certificates, an empty /tmp for the image store, and
# nothing else. Two runs from one commit write the same bytes: every time is the last
# commit's (SOURCE_DATE_EPOCH), the layer tar is sorted with fixed owners and no
# access/change times, gzip stores no name or time, and the JSON documents are fixed.
#
#   scripts/image.sh [--binary PATH] [--tag TAG] [--load [NAME:TAG]] DIR
#
#   --binary PATH  the executable to ship (default: built by scripts/release.sh); it must be
#                  static, since the image holds no libc
#   --tag TAG      its org.opencontainers.image.ref.name in DIR/index.json (default: the version)
#   --load [NAME]  also load it into the Docker daemon (DOCKER_HOST, else the default socket)
#                  as NAME (default ocidiff:TAG), with skopeo
#
# Needs GNU tar, gzip, jq, sha256sum, and the CA bundle of Debian's ca-certificates
# (/etc/ssl/certs/ca-certificates.crt, or CA_BUNDLE).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
binary= tag= load= dir=
usage() {
    echo "usage: $0 [--binary PATH] [--tag TAG] [--load [NAME:TAG]] DIR" >&2
    exit 2
}
while (($#)); do
    case $1 in
    --binary) binary=$2; shift 2 ;;
    --tag) tag=$2; shift 2 ;;
    --load)
        load=default
        if [[ ${2:-} == *:* ]]; then load=$2; shift; fi
        shift
        ;;
    -*) usage ;;
    *)
        [[ -z $dir ]] || usage
        dir=$1
        shift
        ;;
    esac
done
[[ -n $dir ]] || usage

ca_bundle=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
[[ -s $ca_bundle ]] || {
    echo "image: no CA bundle at $ca_bundle (apt-get install ca-certificates)" >&2
    exit 1
}
for tool in jq gzip sha256sum; do
    command -v "$tool" >/dev/null || {
        echo "image: $tool is missing" >&2
        exit 1
    }
done
tar --version 2>/dev/null | grep -q 'GNU tar' || {
    echo "image: GNU tar is needed (--sort, --mtime, --pax-option)" >&2
    exit 1
}
if [[ -z $binary ]]; then
    binary=$("$root/scripts/release.sh")
fi
if ldd "$binary" 2>&1 | grep -q '=>'; then
    echo "image: $binary is not static: the image has no shared libraries" >&2
    exit 1
fi

# The architecture is the executable's own (ELF e_machine), not this machine's.
case $(od -An -tx1 -j18 -N2 "$binary" | tr -d ' \n') in
3e00) arch=amd64 ;;
b700) arch=arm64 ;;
*)
    echo "image: $binary is not an x86_64 or aarch64 ELF executable" >&2
    exit 1
    ;;
esac
# "ocidiff 0.1.0 (abc123456789 2026-12-03)"
read -r _ version commit _ < <("$binary" --version)
commit=${commit#(}
commit=${commit%)}
tag=${tag:-$version}

epoch=${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct)}
created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rootfs=$work/rootfs
mkdir -p "$rootfs/etc/ssl/certs" "$rootfs/tmp"
cp "$binary" "$rootfs/ocidiff"
cp "$ca_bundle" "$rootfs/etc/ssl/certs/ca-certificates.crt"
chmod 0755 "$rootfs/ocidiff" "$rootfs/etc" "$rootfs/etc/ssl" "$rootfs/etc/ssl/certs"
chmod 0644 "$rootfs/etc/ssl/certs/ca-certificates.crt"
chmod 1777 "$rootfs/tmp"

# The names are listed in order, and --sort=name orders what is below them.
tar -C "$rootfs" --sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner \
    --format=posix --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
    -cf "$work/layer.tar" etc ocidiff tmp
gzip -9 -n -c "$work/layer.tar" >"$work/layer.tar.gz"

sha() { sha256sum "$1" | cut -d' ' -f1; }
size() { stat -c %s "$1"; }
blobs=$work/layout/blobs/sha256
mkdir -p "$blobs"
# Moves a file into the blobs and prints its digest.
blob() {
    local digest
    digest=$(sha "$1")
    mv "$1" "$blobs/$digest"
    echo "$digest"
}

diff_id=$(sha "$work/layer.tar")
layer_size=$(size "$work/layer.tar.gz")
layer=$(blob "$work/layer.tar.gz")
ca_version=$(dpkg-query -W -f '${Version}' ca-certificates 2>/dev/null || echo unknown)

jq -cjn --arg arch "$arch" --arg created "$created" --arg diff_id "sha256:$diff_id" \
    --arg version "$version" --arg commit "$commit" --arg ca "$ca_version" '{
    architecture: $arch,
    os: "linux",
    created: $created,
    config: {
        Entrypoint: ["/ocidiff"],
        Env: [
            "PATH=/",
            "OCIDIFF_STORE=/tmp/ocidiff",
            "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"
        ],
        WorkingDir: "/",
        Labels: {
            "org.opencontainers.image.title": "ocidiff",
            "org.opencontainers.image.version": $version,
            "org.opencontainers.image.revision": $commit,
            "org.opencontainers.image.created": $created
        }
    },
    rootfs: { type: "layers", diff_ids: [$diff_id] },
    history: [{
        created: $created,
        created_by: "scripts/image.sh: /ocidiff \($version) (\($commit)), /etc/ssl/certs/ca-certificates.crt (ca-certificates \($ca)), /tmp"
    }]
}' >"$work/config.json"
config_size=$(size "$work/config.json")
config=$(blob "$work/config.json")

jq -cjn --arg config "sha256:$config" --argjson config_size "$config_size" \
    --arg layer "sha256:$layer" --argjson layer_size "$layer_size" \
    --arg version "$version" --arg commit "$commit" --arg created "$created" '{
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: {
        mediaType: "application/vnd.oci.image.config.v1+json",
        digest: $config,
        size: $config_size
    },
    layers: [{
        mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
        digest: $layer,
        size: $layer_size
    }],
    annotations: {
        "org.opencontainers.image.title": "ocidiff",
        "org.opencontainers.image.version": $version,
        "org.opencontainers.image.revision": $commit,
        "org.opencontainers.image.created": $created
    }
}' >"$work/manifest.json"
manifest_size=$(size "$work/manifest.json")
manifest=$(blob "$work/manifest.json")

jq -cjn --arg manifest "sha256:$manifest" --argjson size "$manifest_size" --arg arch "$arch" \
    --arg tag "$tag" '{
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.index.v1+json",
    manifests: [{
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        digest: $manifest,
        size: $size,
        platform: { architecture: $arch, os: "linux" },
        annotations: { "org.opencontainers.image.ref.name": $tag }
    }]
}' >"$work/layout/index.json"
printf '{"imageLayoutVersion":"1.0.0"}' >"$work/layout/oci-layout"

# DIR is replaced only when it is empty or an image layout already (an earlier run).
if [[ -e $dir ]]; then
    if [[ -n $(ls -A "$dir") && ! -f $dir/oci-layout ]]; then
        echo "image: $dir is neither empty nor an OCI image layout; not replacing it" >&2
        exit 1
    fi
    rm -rf "$dir"
fi
mkdir -p "$(dirname "$dir")"
mv "$work/layout" "$dir"
echo "image: $dir: ocidiff $version ($commit), $arch, manifest sha256:$manifest, tag $tag" >&2

if [[ -n $load ]]; then
    [[ $load != default ]] || load=ocidiff:$tag
    command -v skopeo >/dev/null || {
        echo "image: --load needs skopeo" >&2
        exit 1
    }
    daemon=()
    if [[ -n ${DOCKER_HOST:-} ]]; then
        daemon=(--dest-daemon-host "$DOCKER_HOST")
    fi
    skopeo copy --quiet "${daemon[@]}" "oci:$dir:$tag" "docker-daemon:$load"
    echo "image: loaded as $load" >&2
fi
