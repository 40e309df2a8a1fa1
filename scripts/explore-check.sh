#!/usr/bin/env bash
# explore against a C with a planted race bug must exit 1, against the
# vendored C 0. The C side can only be swapped at build time
# (SEGTAB_C_SOURCE), a rebuild of minutes here, too slow for `cargo test`;
# engine/tests/explore.rs checks the agreeing half in process.
#
#   scripts/explore-check.sh [PATCH]   (default mutants/c/race-loser-leaks-page.patch)
#
# The reproducers are corpus/explore/same-va-reserve-race.json (two CPUs
# reserve the same VA in mips64-n64-4k: MULTIPROCESSOR, no PTP cache, so
# some schedule makes one CPU lose the PTE-page race, C lines 554-570) and
# race-loser-window-mips64-n64-4k.json (the same race with two calls on
# each CPU: each then creates a pmap inside the other's window), each
# explored within 2 preemptions.
# Then a PCT campaign against the same bug must find it, and its reproducer
# (the bits PCT took) must diverge again under plain replay.
# Exit 0 if both verdicts are as expected, 1 if not, 2 on a tool error.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
patch=${1:-mutants/c/race-loser-leaks-page.patch}
repros=(corpus/explore/same-va-reserve-race.json corpus/explore/race-loser-window-mips64-n64-4k.json)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export CARGO_TARGET_DIR="$root/target/c-mutants"

cargo build -q --release -p segtab-diff 2>"$scratch/build.log" || { tail -20 "$scratch/build.log" >&2; exit 2; }
# The vendored C: every schedule within 2 preemptions agrees.
for repro in "${repros[@]}"; do
    "$CARGO_TARGET_DIR/release/segtab-diff" explore --preemptions 2 --out "$scratch/out0" "$repro"
    rc=$?
    [ $rc -eq 0 ] || { echo "explore-check: vendored C, $repro: exit $rc, expected 0" >&2; exit 1; }
done

mkdir -p "$scratch/c"
cp c-reference/pmap_segtab.c "$scratch/c/pmap_segtab.c"
(cd "$scratch/c" && git apply "$root/$patch") || { echo "$patch does not apply" >&2; exit 2; }
# Only the reproducer's configuration: one C build instead of eight.
SEGTAB_CONFIGS=mips64-n64-4k SEGTAB_C_SOURCE="$scratch/c/pmap_segtab.c" \
    cargo build -q --release -p segtab-diff 2>"$scratch/build.log" || { tail -20 "$scratch/build.log" >&2; exit 2; }
for repro in "${repros[@]}"; do
    rm -rf "$scratch/out1"
    "$CARGO_TARGET_DIR/release/segtab-diff" explore --preemptions 2 --out "$scratch/out1" "$repro" >"$scratch/explore.log"
    rc=$?
    grep '^explore:' "$scratch/explore.log"
    [ $rc -eq 1 ] || { echo "explore-check: $(basename "$patch" .patch), $repro: exit $rc, expected 1" >&2; cat "$scratch/explore.log" >&2; exit 1; }
    ls "$scratch/out1"/*.json >/dev/null 2>&1 || { echo "explore-check: no reproducer written" >&2; exit 1; }
done
# The same bug through a PCT campaign: its reproducer carries the bits PCT
# took and must diverge again when replayed without PCT.
"$CARGO_TARGET_DIR/release/segtab-diff" campaign --scheduler pct --pct-depth 2 --seed 1 --jobs 1 \
    --seconds 20 --config mips64-n64-4k --out "$scratch/out2" >"$scratch/pct.log" 2>&1
rc=$?
grep '^campaign:' "$scratch/pct.log"
[ $rc -eq 1 ] || { echo "explore-check: PCT campaign: exit $rc, expected 1" >&2; tail -20 "$scratch/pct.log" >&2; exit 1; }
"$CARGO_TARGET_DIR/release/segtab-diff" replay "$scratch/out2"/*.json >"$scratch/replay.log" 2>&1
rc=$?
[ $rc -eq 1 ] || { echo "explore-check: the PCT reproducer replayed with exit $rc, expected 1" >&2; cat "$scratch/replay.log" >&2; exit 1; }
echo "explore-check: vendored C agrees; $(basename "$patch" .patch) caught by explore and by a PCT campaign (reproducer replays)"
