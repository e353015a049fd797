#!/usr/bin/env bash
# The logic of the GitHub Action (action.yml), kept here so that it can be run and tested
# outside a runner (crates/ocidiff/tests/ci_action.rs runs it as a runner would).
#
#   scripts/ci-action.sh install   puts an ocidiff on the runner; writes `binary=PATH`
#   scripts/ci-action.sh run       runs it; writes the summary, the reports and the outputs
#
# It reads what a runner sets (GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, RUNNER_TEMP, RUNNER_ARCH,
# GITHUB_ACTION_PATH) and the action's inputs as INPUT_* variables, which action.yml passes.
#
# install:
#   INPUT_INSTALL      release (default): download ocidiff-TRIPLE for this runner's arch
#                        from INPUT_RELEASE_URL and check it against ocidiff-TRIPLE.sha256;
#                      cargo: `cargo install --locked --path` from the action's own checkout;
#                      path: use INPUT_BINARY as it is (already on the runner)
#   INPUT_VERSION      the release tag (default: latest)
#   INPUT_RELEASE_URL  where releases are (default https://github.com/$INPUT_REPOSITORY/releases)
#   INPUT_REPOSITORY   owner/name of the action's repository (github.action_repository)
# run:
#   OCIDIFF            the executable (`binary` from install)
#   INPUT_COMMAND      diff (default) or verify
#   INPUT_IMAGE0       diff: input 0; verify: the published image
#   INPUT_IMAGE1       diff: input 1
#   INPUT_CONTEXT      verify: the build context (a directory or a Git URL)
#   INPUT_ARGS         more options, split on whitespace (e.g. "--semantic --platform linux/arm64")
#   INPUT_REPORT_DIR   where report.json, report.html and summary.md go
#                        (default $RUNNER_TEMP/ocidiff-report)
#   INPUT_FAIL_ON_DIFFERENCE  true (default): the step fails when the images differ; false:
#                        only an error fails it
# Outputs (GITHUB_OUTPUT): exit-code (0 same, 1 different, 2 error), verdict (the report's
# outcome: identical, equivalent or different; error when ocidiff failed), report-dir,
# report-json, report-html, summary.
set -euo pipefail

die() {
    echo "::error::ocidiff action: $*" >&2
    exit 2
}

output() {
    echo "$1=$2" >>"${GITHUB_OUTPUT:?GITHUB_OUTPUT is not set (not on a runner?)}"
}

# The release asset's target triple for this runner (RUNNER_ARCH: X64, ARM64), else this
# machine's.
triple() {
    local arch
    case ${RUNNER_ARCH:-$(uname -m)} in
    X64 | x86_64 | amd64) arch=x86_64 ;;
    ARM64 | aarch64 | arm64) arch=aarch64 ;;
    *) die "no release for the architecture ${RUNNER_ARCH:-$(uname -m)}: use install: cargo" ;;
    esac
    echo "$arch-unknown-linux-musl"
}

install() {
    local dir=${RUNNER_TEMP:?RUNNER_TEMP is not set}/ocidiff-bin
    mkdir -p "$dir"
    case ${INPUT_INSTALL:-release} in
    path)
        [[ -x ${INPUT_BINARY:-} ]] || die "install: path needs binary: an executable (got '${INPUT_BINARY:-}')"
        output binary "$INPUT_BINARY"
        ;;
    cargo)
        local src=${GITHUB_ACTION_PATH:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
        cargo install --locked --path "$src/crates/ocidiff" --root "$dir" >&2
        output binary "$dir/bin/ocidiff"
        ;;
    release)
        local asset base version=${INPUT_VERSION:-latest}
        asset=ocidiff-$(triple)
        base=${INPUT_RELEASE_URL:-https://github.com/${INPUT_REPOSITORY:?INPUT_REPOSITORY is not set}/releases}
        if [[ $version == latest ]]; then
            base=$base/latest/download
        else
            base=$base/download/$version
        fi
        curl -fsSL --retry 3 -o "$dir/$asset" "$base/$asset" || die "cannot download $base/$asset"
        curl -fsSL --retry 3 -o "$dir/$asset.sha256" "$base/$asset.sha256" ||
            die "cannot download $base/$asset.sha256"
        (cd "$dir" && sha256sum --quiet -c "$asset.sha256") || die "$asset does not match $asset.sha256"
        chmod +x "$dir/$asset"
        mv "$dir/$asset" "$dir/ocidiff"
        output binary "$dir/ocidiff"
        ;;
    *) die "install must be release, cargo or path (got '$INPUT_INSTALL')" ;;
    esac
}

run_ocidiff() {
    local ocidiff=${OCIDIFF:?OCIDIFF is not set: run install first} args=() extra=()
    local reports=${INPUT_REPORT_DIR:-${RUNNER_TEMP:?RUNNER_TEMP is not set}/ocidiff-report}
    case ${INPUT_COMMAND:-diff} in
    diff)
        [[ -n ${INPUT_IMAGE0:-} && -n ${INPUT_IMAGE1:-} ]] || die "diff needs image0 and image1"
        args=(diff "$INPUT_IMAGE0" "$INPUT_IMAGE1")
        ;;
    verify)
        [[ -n ${INPUT_IMAGE0:-} && -n ${INPUT_CONTEXT:-} ]] || die "verify needs image0 and context"
        args=(verify "$INPUT_IMAGE0" --context "$INPUT_CONTEXT")
        ;;
    *) die "command must be diff or verify (got '$INPUT_COMMAND')" ;;
    esac
    read -r -a extra <<<"${INPUT_ARGS:-}"
    mkdir -p "$reports"
    local summary=$reports/summary.md json=$reports/report.json html=$reports/report.html code=0
    "$ocidiff" "${args[@]}" "${extra[@]}" --format markdown \
        --report-file "$json" --report-html "$html" >"$summary" || code=$?
    # The report's verdict.outcome (its last member), as ocidiff names it.
    local verdict=error
    if ((code < 2)); then
        verdict=$(grep -o '"outcome": *"[a-z]*"' "$json" | tail -n 1 | sed 's/.*"\([a-z]*\)"$/\1/')
    fi
    if [[ -n ${GITHUB_STEP_SUMMARY:-} ]]; then
        if [[ -s $summary ]]; then
            cat "$summary" >>"$GITHUB_STEP_SUMMARY"
        else
            printf '### ocidiff: error (exit status %s)\n\nSee the step log.\n' "$code" >>"$GITHUB_STEP_SUMMARY"
        fi
    fi
    output exit-code "$code"
    output verdict "$verdict"
    output report-dir "$reports"
    output report-json "$json"
    output report-html "$html"
    output summary "$summary"
    case $verdict in
    identical | equivalent) echo "ocidiff: the images are $verdict" >&2 ;;
    different)
        echo "ocidiff: the images differ (summary: $summary)" >&2
        if [[ ${INPUT_FAIL_ON_DIFFERENCE:-true} == false ]]; then
            return 0
        fi
        ;;
    error) echo "::error::ocidiff failed (exit status $code)" >&2 ;;
    esac
    return "$code"
}

case ${1:-} in
install) install ;;
run) run_ocidiff ;;
*)
    echo "usage: $0 install|run (inputs as INPUT_* variables)" >&2
    exit 2
    ;;
esac
