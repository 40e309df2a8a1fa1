#!/usr/bin/env bash
# Applies each C mutant in mutants/c/ (a one-line bug in pmap_segtab.c that
# only one layer of the comparison sees: panic texts, outcomes, memory,
# DEBUG counters, interleavings) to a scratch copy of the vendored file,
# builds the tool against it with SEGTAB_C_SOURCE, and runs a campaign.
# The port is the reference here: every mutant must be flagged (the
# campaign exits 1).
#
#   scripts/c-mutants.sh [--seconds N] [--config NAME|all] [PATCH...]
#
# Prints one line per mutant: caught or MISSED, and the campaign's summary.
# Exit 0 if every mutant was caught, 1 if one was missed, 2 on a tool error.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
seconds=30
config=all
patches=()
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) seconds=$2; shift 2 ;;
        --config) config=$2; shift 2 ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) patches+=("$1"); shift ;;
    esac
done
[ ${#patches[@]} -gt 0 ] || patches=(mutants/c/*.patch)

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# Its own target directory: switching SEGTAB_C_SOURCE rebuilds the C, and the
# tree's own build must not be the one rebuilt. Only c-reference and the
# engine rebuild from one mutant to the next.
export CARGO_TARGET_DIR="$root/target/c-mutants"
mkdir -p "$scratch/c"
missed=0
for p in "${patches[@]}"; do
    name=$(basename "$p" .patch)
    cp c-reference/pmap_segtab.c "$scratch/c/pmap_segtab.c"
    if ! (cd "$scratch/c" && git apply "$root/$p"); then
        echo "$name: patch does not apply" >&2
        exit 2
    fi
    if ! SEGTAB_C_SOURCE="$scratch/c/pmap_segtab.c" \
        cargo build -q --release -p segtab-diff 2>"$scratch/build.log"; then
        echo "$name: does not build" >&2
        tail -20 "$scratch/build.log" >&2
        exit 2
    fi
    rm -rf "$scratch/out"
    out=$("$CARGO_TARGET_DIR/release/segtab-diff" campaign --seed 1 \
        --seconds "$seconds" --config "$config" --out "$scratch/out" 2>&1)
    rc=$?
    summary=$(printf '%s\n' "$out" | grep '^campaign:' | tail -1)
    case $rc in
        1) echo "$name: caught ($summary)" ;;
        0) echo "$name: MISSED ($summary)"; missed=$((missed + 1)) ;;
        *) echo "$name: campaign failed (exit $rc)" >&2; printf '%s\n' "$out" | tail -20 >&2; exit 2 ;;
    esac
done
[ $missed -eq 0 ]
