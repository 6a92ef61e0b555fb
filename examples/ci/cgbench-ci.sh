#!/usr/bin/env bash
# The steps of examples/ci/limit-latency.yml, runnable anywhere cgbench runs (as root, Docker up):
#
#   cgbench-ci.sh install TARBALL          unpack the release tarball, check its sha256, put cgbench on PATH
#   cgbench-ci.sh measure OUT.json [ARGS]  one compare run, written as JSON (ARGS go to compare)
#   cgbench-ci.sh verdict BASE NEW MD      diff the two runs; the Markdown goes to MD; exit 1 on a regression
#
# Kept apart from the workflow so the same lines run in CI and in a test on a real host.
set -euo pipefail

prefix=${CGBENCH_PREFIX:-/usr/local}

case "${1:-}" in
install)
    tarball=$2
    (cd "$(dirname "$tarball")" && sha256sum --check "$(basename "$tarball").sha256")
    dir=$(mktemp -d)
    tar -xzf "$tarball" -C "$dir"
    install -m 0755 "$dir"/cgbench-*/cgbench "$prefix/bin/cgbench"
    rm -rf "$dir"
    cgbench --version
    cgbench doctor
    ;;
measure)
    out=$2
    shift 2
    cgbench compare --quiet --strict --json "$out" "$@"
    ;;
verdict)
    base=$2 new=$3 markdown=$4
    cgbench diff "$base" "$new" --markdown "$markdown"
    ;;
*)
    echo "usage: $0 install TARBALL | measure OUT.json [compare args] | verdict BASE.json NEW.json OUT.md" >&2
    exit 2
    ;;
esac
