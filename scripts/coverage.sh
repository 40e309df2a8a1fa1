#!/usr/bin/env bash
# Line coverage of pmap_segtab.c, per machine configuration, reached by replaying a corpus
# (default: the checked-in seeds, corpus/diff).
#
#   scripts/coverage.sh                    # corpus/diff -> target/coverage/report.txt
#   scripts/coverage.sh fuzz/corpus/diff corpus/diff   # any files/dirs `segtab-diff replay` takes
#
# How: the engine is built (own target dir: target/coverage/build) with gcc --coverage on the
# C side only. Every configuration compiles shim/csrc/world.c (which #includes pmap_segtab.c)
# to the same object path in c-reference's OUT_DIR, so plain --coverage would make the seven
# copies overwrite each other's .gcno/.gcda. A compiler wrapper (CC=target/coverage/cc-wrap)
# gives each copy its own notes file and data directory, keyed by its -DSEGTAB_PREFIX.
# Then `segtab-diff replay` runs the corpus and gcov is run once per configuration.
#
# Lines a configuration does not compile (#ifdef DEBUG, _LP64, PMAP_PTP_CACHE,
# MULTIPROCESSOR ...) are not executable there, so they are neither counted nor listed.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
[ $# -gt 0 ] || set -- corpus/diff

OUT="$ROOT/target/coverage"
BUILD="$OUT/build"
DATA="$OUT/data"
REPORT="$OUT/report.txt"
GCC=${SEGTAB_COV_GCC:-gcc}
GCOV=${SEGTAB_COV_GCOV:-gcov}
command -v "$GCC" >/dev/null || { echo "coverage.sh: needs gcc (apt-get install -y gcc)" >&2; exit 1; }
command -v "$GCOV" >/dev/null || { echo "coverage.sh: needs gcov (comes with gcc)" >&2; exit 1; }
mkdir -p "$OUT" "$DATA"

# The wrapper: world.c compiles get per-configuration coverage files, everything else
# (guard.c, cc's flag probes) is compiled as usual.
cat > "$OUT/cc-wrap" <<EOF
#!/bin/sh
ident=
for a in "\$@"; do
    case "\$a" in -DSEGTAB_PREFIX=*) ident=\${a#-DSEGTAB_PREFIX=}; ident=\${ident%_} ;; esac
done
if [ -n "\$ident" ]; then
    mkdir -p "$DATA/\$ident"
    exec $GCC "\$@" -O0 --coverage -fprofile-update=atomic \\
        -fprofile-note="$DATA/\$ident/world.gcno" -fprofile-dir="$DATA/\$ident"
fi
exec $GCC "\$@"
EOF
chmod +x "$OUT/cc-wrap"

HOST=$(rustc -vV | sed -n 's/^host: //p')
HOSTVAR=$(echo "$HOST" | tr 'a-z-' 'A-Z_')
mapfile -t IDENTS < <(sed -n 's/^ *ident: "\(.*\)",/\1/p' c-reference/src/configs.rs)
mapfile -t NAMES < <(sed -n 's/^ *name: "\(.*\)",/\1/p' c-reference/src/configs.rs)

# A cached build does not rewrite the notes files: rebuild the C if any is missing.
for id in "${IDENTS[@]}"; do
    if [ ! -f "$DATA/$id/world.gcno" ]; then
        cargo clean -q -p c-reference --release --target "$HOST" --target-dir "$BUILD" 2>/dev/null || true
        break
    fi
done

echo "coverage.sh: building the engine with C coverage (target dir $BUILD)" >&2
# --target keeps the link flag off build scripts and proc macros.
env CC="$OUT/cc-wrap" "CC_$HOSTVAR=$OUT/cc-wrap" \
    "CARGO_TARGET_${HOSTVAR}_RUSTFLAGS=-C link-arg=--coverage" \
    cargo build -q --release -p segtab-diff --bin segtab-diff --target "$HOST" --target-dir "$BUILD"
BIN="$BUILD/$HOST/release/segtab-diff"

find "$DATA" -name '*.gcda' -delete
echo "coverage.sh: replaying $*" >&2
set +e
"$BIN" replay "$@" > "$OUT/replay.log" 2>&1
rc=$?
set -e
nin=$(grep -c ': agree\|: known divergence' "$OUT/replay.log" || true)
echo "coverage.sh: replay exit $rc; $nin inputs agree or are known (log: $OUT/replay.log)" >&2

{
    echo "Line coverage of c-reference/pmap_segtab.c per configuration"
    echo "corpus: $*   ($nin inputs agree/known; replay exit $rc)"
    echo "date: $(date -u +%FT%TZ)   commit: $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- 2>/dev/null || echo ' (+ uncommitted changes)')"
    echo "compiler: $($GCC --version | head -1)"
    echo "Only lines compiled in a configuration are counted (gcov: '#####' = never executed)."
    echo
} > "$REPORT"
SUMMARY=""
for i in "${!IDENTS[@]}"; do
    id=${IDENTS[$i]}; name=${NAMES[$i]}
    d="$DATA/$id"
    gcda=$(find "$d" -name '*.gcda' | head -1)
    w="$d/gcov"
    rm -rf "$w"; mkdir -p "$w"
    if [ -z "$gcda" ]; then
        line="$(printf '%-20s no data (no input of this configuration ran)' "$name")"
        SUMMARY+="$line"$'\n'; echo "$line" >> "$REPORT"; continue
    fi
    cp "$gcda" "$w/world.gcda"
    cp "$d/world.gcno" "$w/world.gcno"
    (cd "$w" && "$GCOV" -o . world.gcda > gcov.log 2>&1) || { echo "gcov failed for $name: $(cat "$w/gcov.log")" >&2; exit 1; }
    g="$w/pmap_segtab.c.gcov"
    [ -f "$g" ] || { echo "coverage.sh: gcov wrote no pmap_segtab.c.gcov for $name" >&2; exit 1; }
    # "  count:  line:source"; count "-" = not executable, "#####"/"=====" = not executed.
    stats=$(awk -F: '{c=$1; gsub(/ /,"",c); if (c=="-") next; n++; if (c ~ /^#+$/ || c ~ /^=+$/) u++} END {printf "%d %d", n-u, n}' "$g")
    exe=${stats% *}; tot=${stats#* }
    unreached=$(awk -F: '{c=$1; gsub(/ /,"",c); if (c ~ /^#+$/ || c ~ /^=+$/) {l=$2; gsub(/ /,"",l); s=$0; sub(/^[^:]*:[^:]*:/,"",s); gsub(/\t/,"    ",s); printf "    %4d  %s\n", l, s}}' "$g")
    nun=$(printf '%s' "$unreached" | grep -c . || true)
    pct=$(awk -v a="$exe" -v b="$tot" 'BEGIN{printf "%.1f", b ? 100*a/b : 0}')
    line=$(printf '%-20s %3d/%3d lines executed (%5s%%), %d unreached: %s' "$name" "$exe" "$tot" "$pct" "$nun" \
        "$(printf '%s\n' "$unreached" | awk 'NF{printf "%s%s", sep, $1; sep=","}')")
    SUMMARY+="$line"$'\n'
    {
        echo "== $name ($id): $exe/$tot executable lines executed ($pct%)"
        if [ "$nun" -gt 0 ]; then echo "   not reached:"; printf '%s\n' "$unreached"; fi
        echo
    } >> "$REPORT"
    cp "$g" "$OUT/pmap_segtab.c.$name.gcov"
done
{ echo "Summary:"; printf '%s' "$SUMMARY"; } >> "$REPORT"
echo
printf '%s' "$SUMMARY"
echo
echo "Report: $REPORT   (annotated sources: $OUT/pmap_segtab.c.<config>.gcov)"
