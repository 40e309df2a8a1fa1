#!/usr/bin/env bash
# certify against a broken C (a C-mutant fixture of mutants/c/) must exit 1
# and name the divergence in its report.json; the report must render.
#
#   scripts/certify-check.sh [--seconds N] [--config NAME] [PATCH]
#
# SEGTAB_C_SOURCE is read at build time, so this runs certify (which builds
# the C it is given) rather than `cargo test`. Exit 0: as expected; 1: not;
# 2: a tool error.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
seconds=600
config=mips64-n64-4k
patch=mutants/c/lookup-index-mask.patch
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) seconds=$2; shift 2 ;;
        --config) config=$2; shift 2 ;;
        -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
        *) patch=$1; shift ;;
    esac
done
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/c"
cp c-reference/pmap_segtab.c "$scratch/c/pmap_segtab.c"
(cd "$scratch/c" && git apply "$root/$patch") || { echo "certify-check: $patch does not apply" >&2; exit 2; }
cargo build -q --release -p segtab-diff || exit 2
set +e
target/release/segtab-diff certify --c-source "$scratch/c/pmap_segtab.c" \
    --seconds "$seconds" --mutant-seconds 2 --config "$config" --seed 1 --out "$scratch/report" >"$scratch/out.txt" 2>"$scratch/err.txt"
rc=$?
cat "$scratch/out.txt"
json="$scratch/report/report.json"
fail=0
[ $rc -eq 1 ] || { echo "FAILED: certify on $(basename "$patch") exited $rc, not 1"; tail -20 "$scratch/err.txt"; fail=1; }
if [ -f "$json" ]; then
    grep -q '"verdict": "divergent"' "$json" || { echo "FAILED: verdict is not divergent"; fail=1; }
    class=$(grep -m1 '"class": ' "$json" | sed 's/.*"class": "\(.*\)",*/\1/')
    [ -n "$class" ] || { echo "FAILED: report.json names no divergence"; fail=1; }
    grep -q 'DIVERGENT' "$scratch/out.txt" || { echo "FAILED: no DIVERGENT verdict line"; fail=1; }
    scripts/check-report-html.sh "$scratch/report" || fail=1
    [ $fail -eq 0 ] && echo "certify-check: $(basename "$patch") -> exit 1, divergence named: $class"
else
    echo "FAILED: no report.json"; fail=1
fi
exit $fail
