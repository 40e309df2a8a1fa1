#!/usr/bin/env bash
# Applies each port mutant in mutants/port/ (a patch to rust-segtab: a lock
# discipline or ordering bug a Rust port of this file is likely to ship) to a
# scratch copy of the tree, builds it, and runs the three mechanisms that
# look for races against it: explore (every schedule within its bound of
# each reproducer in corpus/explore/, the race scenarios), a campaign
# scheduled by input bits and a campaign scheduled by PCT (each stops at its
# first divergence). Every mutant must be flagged by at least one.
#
#   scripts/port-mutants.sh [--seconds N] [--config NAME|all] [PATCH...]
#
# Prints one line per mutant: caught or MISSED, then per mechanism whether
# it caught the mutant and in how long (wall seconds; explore: which
# scenario, after how many schedules). Exit 0 if every mutant was caught,
# 1 if one was missed, 2 on a tool error.
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
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
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
    exe="$CARGO_TARGET_DIR/release/segtab-diff"
    caught=()
    report=()
    # 1. explore: each race scenario under every schedule within its bound
    # (the bound is in the file's "found" note; 2 otherwise).
    hit=""
    t0=$(date +%s.%N)
    for f in "$scratch"/tree/corpus/explore/*.json; do
        case "$config" in all) ;; *) grep -q "\"config\": \"$config\"" "$f" || continue ;; esac
        bound=$(grep -o 'preemptions [0-9]*' "$f" | head -1 | awk '{print $2}')
        out=$(cd "$scratch/tree" && timeout 300 "$exe" explore --preemptions "${bound:-2}" \
            --out "$scratch/explore-out" "$f" 2>&1)
        rc=$?
        case $rc in
            0) ;;
            1) hit="$(basename "$f" .json), C = ${bound:-2}: $(printf '%s\n' "$out" | head -1 | sed 's/^explore: //; s/;.*//')"; break ;;
            *) echo "$name: explore $(basename "$f") failed (exit $rc)" >&2; printf '%s\n' "$out" | tail -5 >&2; exit 2 ;;
        esac
    done
    t=$(echo "$(date +%s.%N) - $t0" | bc)
    if [ -n "$hit" ]; then caught+=(explore); report+=("explore: caught ($hit; $(printf '%.2f' "$t") s)"); else report+=("explore: missed"); fi
    # 2. and 3. campaigns, scheduled by the input's bits, then by PCT.
    for sched in bits pct; do
        t0=$(date +%s.%N)
        out=$(cd "$scratch/tree" && "$exe" campaign --scheduler "$sched" \
            --seconds "$seconds" --config "$config" --seed 1 --out "$scratch/campaign-out" 2>&1)
        rc=$?
        t=$(echo "$(date +%s.%N) - $t0" | bc)
        summary=$(printf '%s\n' "$out" | grep '^campaign:' | grep -v 'scheduler PCT' | tail -1)
        case $rc in
            1) caught+=("campaign-$sched"); report+=("campaign --scheduler $sched: caught in $(printf '%.1f' "$t") s ($summary)") ;;
            0) report+=("campaign --scheduler $sched: missed ($summary)") ;;
            *) echo "$name: campaign failed (exit $rc)" >&2; printf '%s\n' "$out" | tail -20 >&2; exit 2 ;;
        esac
    done
    if [ ${#caught[@]} -gt 0 ]; then
        echo "$name: caught (by ${caught[*]})"
    else
        echo "$name: MISSED"; missed=$((missed + 1))
    fi
    for r in "${report[@]}"; do echo "    $r"; done
done
[ $missed -eq 0 ]
