#!/usr/bin/env bash
# Build the C reference from another NetBSD revision of pmap_segtab.c and run
# the C-only tests of c-reference that are meaningful for it.
#
#   scripts/revision-check.sh 1.21              # c-reference/revisions/pmap_segtab-1.21.c
#   scripts/revision-check.sh 1.31
#   scripts/revision-check.sh path/to/pmap_segtab.c
#   scripts/revision-check.sh all               # every vendored revision
#
# Each revision builds into its own target directory (<target>/rev/<name>),
# so the default build (rev 1.23) is never invalidated and switching back and
# forth costs nothing after the first build.  Fails if the C build prints any
# warning (the build must be quiet for every revision), if a missing shim
# interface stops the build (its lines are `missing interface ...`; exit 2),
# or if a test fails.  Tests about state a revision lacks are skipped by the
# tests themselves and say so ("...: skipped, segtab carving: not in rev 1.31");
# the script lists those lines.
#
# Then the differential run against the rev 1.23 port (SEGTAB_REVISION_SECS,
# default 30; 0 skips it): a revision listed as `agrees` in
# c-reference/revisions/expected-census.txt must run a campaign without a
# divergence; for any other, a census runs and every class listed there for
# it must be among the classes found.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

usage() { sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[ $# -eq 1 ] || usage
case "$1" in -h|--help) usage ;; esac

if [ "$1" = all ]; then
    rc=0
    for f in c-reference/revisions/pmap_segtab-*.c; do
        r=${f##*/pmap_segtab-}; r=${r%.c}
        "$0" "$r" || rc=$?
    done
    exit $rc
fi

if [ -f "$1" ]; then
    src=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
    name=$(basename "$1" .c)
else
    src=$root/c-reference/revisions/pmap_segtab-$1.c
    name=$1
    [ -f "$src" ] || { echo "revision-check: no $src" >&2; exit 2; }
fi

target=${CARGO_TARGET_DIR:-$root/target}/rev/$name
log=$(mktemp)
trap 'rm -f "$log"' EXIT

echo "== revision $name ($src) into $target"
export SEGTAB_C_SOURCE=$src
if ! CARGO_TARGET_DIR=$target cargo build -p c-reference -vv >"$log" 2>&1; then
    # cargo indents a failed build script's stderr
    if grep -Eq '^ *(missing interface|missing entry point|unknown layout) ' "$log"; then
        grep -E '^ *(missing interface|missing entry point|unknown layout|segtab-diff: the shim cannot) ' "$log" \
            | sed 's/^ *//' >&2
        exit 2
    fi
    tail -n 40 "$log" >&2
    exit 1
fi
# The C build is quiet: cc relays the compiler's warnings as cargo:warning.
if grep 'cargo:warning=' "$log" | grep -v 'segtab-diff: C reference compiled from' | grep -qi warning; then
    echo "revision-check: the C build of $name printed warnings:" >&2
    grep 'cargo:warning=' "$log" | grep -v 'segtab-diff: C reference compiled from' >&2
    exit 1
fi
echo "C build: quiet"

CARGO_TARGET_DIR=$target cargo test -p c-reference -- --nocapture >"$log" 2>&1 || {
    grep -E '^test .*FAILED|panicked at|^error' -A3 "$log" >&2 || tail -n 40 "$log" >&2
    exit 1
}
grep -E '^test result' "$log" | awk '{p+=$4; f+=$6} END {printf "tests: %d passed, %d failed\n", p, f}'
if grep -q 'skipped, ' "$log"; then
    echo "skipped (not in this revision):"
    grep -o '[a-z0-9-]*: skipped, .*' "$log" | sort -u | sed 's/^/  /'
fi

secs=${SEGTAB_REVISION_SECS:-30}
[ "$secs" != 0 ] || exit 0
expect=$root/c-reference/revisions/expected-census.txt
CARGO_TARGET_DIR=$target cargo build -q --release -p segtab-diff
tool=$target/release/segtab-diff
out=$(mktemp -d)
trap 'rm -f "$log"; rm -rf "$out"' EXIT
if grep -qx "$name	agrees" "$expect" 2>/dev/null; then
    if "$tool" campaign --seconds "$secs" --seed 1 --out "$out" >"$log" 2>&1; then
        echo "campaign against the rev 1.23 port: $(grep '^campaign:' "$log" | tail -1)"
    else
        echo "revision-check: rev $name should agree with the rev 1.23 port, but:" >&2
        tail -n 40 "$log" >&2
        exit 1
    fi
    exit 0
fi
set +e
"$tool" campaign --census --seconds "$secs" --seed 1 --out "$out" --json "$out/census.json" >"$log" 2>&1
rc=$?
set -e
[ $rc -le 1 ] || { tail -n 40 "$log" >&2; exit 1; }
grep -E '^census: [0-9]+ class' "$log" || echo "census: no divergence"
missing=0
while IFS=$'\t' read -r rev class; do
    [ "$rev" = "$name" ] || continue
    if grep -qF -- "$class" "$log"; then
        echo "  found: $class"
    else
        echo "  MISSING: $class" >&2
        missing=$((missing + 1))
    fi
done < <(grep -v '^#' "$expect" 2>/dev/null)
[ $missing -eq 0 ] || { echo "revision-check: $missing known class(es) of rev $name not found" >&2; exit 1; }
