#!/usr/bin/env bash
# Applies each port mutant in mutants/port/ (a patch to rust-segtab: a lock
# discipline or ordering bug a Rust port of this file is likely to ship) to a
# scratch copy of the tree, builds it, and runs a campaign against it. Every
# mutant must be flagged (the campaign exits 1).
#
#   scripts/port-mutants.sh [--seconds N] [--config NAME|all] [PATCH...]
#
# Prints one line per mutant: caught or MISSED, and the campaign's summary.
# Exit 0 if every mutant was caught, 1 if one was missed, 2 on a tool error.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
seconds=60
config=all
patches=()
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) seconds=$2; shift 2 ;;
        --config) config=$2; shift 2 ;;
        -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
        *) patches+=("$1"); shift ;;
    esac
done
[ ${#patches[@]} -gt 0 ] || patches=(mutants/port/*.patch)

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# Built separately from the tree's own target/ (shared across mutants, so only
# the port and the engine rebuild).
export CARGO_TARGET_DIR="$root/target/mutants"
missed=0
for p in "${patches[@]}"; do
    name=$(basename "$p" .patch)
    rm -rf "$scratch/tree"
    mkdir -p "$scratch/tree"
    # The tree as it is on disk (committed or not, deleted files left out).
    git ls-files -z --cached --others --exclude-standard \
        | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
        | xargs -0 cp --parents -t "$scratch/tree" || exit 2
    if ! (cd "$scratch/tree" && git apply "$root/$p"); then
        echo "$name: patch does not apply" >&2
        exit 2
    fi
    if ! (cd "$scratch/tree" && cargo build -q --release -p segtab-diff 2>"$scratch/build.log"); then
        echo "$name: does not build" >&2
        tail -20 "$scratch/build.log" >&2
        exit 2
    fi
    out=$(cd "$scratch/tree" && "$CARGO_TARGET_DIR/release/segtab-diff" campaign \
        --seconds "$seconds" --config "$config" --seed 1 2>&1)
    rc=$?
    summary=$(printf '%s\n' "$out" | grep '^campaign:' | tail -1)
    case $rc in
        1) echo "$name: caught ($summary)" ;;
        0) echo "$name: MISSED ($summary)"; missed=$((missed + 1)) ;;
        *) echo "$name: campaign failed (exit $rc)" >&2; printf '%s\n' "$out" | tail -20 >&2; exit 2 ;;
    esac
done
[ $missed -eq 0 ]
