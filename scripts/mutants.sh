#!/usr/bin/env bash
# cargo-mutants over the port and over the comparison itself.
#
#   scripts/mutants.sh [--target port|engine|inspect|all] [--seconds N] [--jobs J]
#                      [--shard K/N] [--re REGEX] [--timeout S] [-- CARGO-MUTANTS-ARGS...]
#
# Targets (default: all, in this order):
#   port     rust-segtab/src: each mutant is judged by the port's own tests,
#            the engine's tests and a differential campaign of N seconds
#            (engine/tests/mutant_campaign.rs, SEGTAB_CAMPAIGN_SECS=N; default 10)
#   engine   engine/src/compare.rs, engine/src/run.rs and engine/src/census.rs,
#            judged by cargo test --workspace
#   inspect  shim/src/inspect.rs, judged by cargo test --workspace
#
# Mutants listed in mutants/equivalent.txt are excluded. Prints, per target,
# the score caught / (caught + missed) (a timeout counts as caught: the
# campaign reports a hang as a finding; unviable mutants and listed
# equivalents are not counted), the missed mutants and the time taken.
# Exit 0: no mutant missed; 1: a mutant not listed as equivalent was missed;
# 2: a tool error (cargo-mutants missing or failing, the unmutated tree's
# tests failing, a bad argument).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD

targets=()
seconds=10
jobs=2
shard=
re=
timeout=
extra=()
while [ $# -gt 0 ]; do
    case "$1" in
        --target) targets+=("$2"); shift 2 ;;
        --seconds) seconds=$2; shift 2 ;;
        --jobs|-j) jobs=$2; shift 2 ;;
        --shard) shard=$2; shift 2 ;;
        --re) re=$2; shift 2 ;;
        --timeout) timeout=$2; shift 2 ;;
        --) shift; extra=("$@"); break ;;
        -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
        *) echo "mutants.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[ ${#targets[@]} -gt 0 ] || targets=(all)
if [ "${targets[0]}" = all ]; then targets=(port engine inspect); fi
if [ "$jobs" -gt 2 ]; then
    echo "mutants.sh: at most 2 jobs (the machine is shared)" >&2
    jobs=2
fi

if ! command -v cargo-mutants >/dev/null; then
    echo "mutants.sh: needs cargo-mutants: cargo install cargo-mutants --locked" >&2
    exit 2
fi

# mutants/equivalent.txt: one mutant per line as cargo-mutants names it,
# then ` # reason`. A name without `:line:col` after the file excludes
# every mutant of that description in that file (stable when lines move);
# with them, only that one.
exclude=()
while IFS= read -r line; do
    line=${line%%#*}
    line=$(printf '%s' "$line" | sed 's/[[:space:]]*$//')
    [ -n "$line" ] || continue
    file=${line%%: *}
    desc=${line#*: }
    quote() { printf '%s' "$1" | sed 's/[][\\.^$*+?(){}|]/\\&/g'; }
    if [[ $file =~ ^(.*):([0-9]+):([0-9]+)$ ]]; then
        exclude+=(--exclude-re "^$(quote "${BASH_REMATCH[1]}"):${BASH_REMATCH[2]}:${BASH_REMATCH[3]}: $(quote "$desc")\$")
    else
        exclude+=(--exclude-re "^$(quote "$file"):[0-9]+:[0-9]+: $(quote "$desc")\$")
    fi
done < <(grep -v '^[[:space:]]*#' mutants/equivalent.txt 2>/dev/null)

common=(--no-shuffle -j "$jobs" --jobserver-tasks "$jobs")
# cargo-mutants sets the test timeout from the unmutated tree's tests, but
# runs only the mutated package's tests there, not --test-package's nor the
# campaign: a floor keeps a slow but passing test run from counting as a hang.
min_timeout=$((3 * seconds + 60))
[ -n "$shard" ] && common+=(--shard "$shard")
[ -n "$re" ] && common+=(--re "$re")
if [ -n "$timeout" ]; then
    common+=(--timeout "$timeout")
else
    common+=(--minimum-test-timeout "$min_timeout")
fi

outdir="$root/target/mutants-report"
mkdir -p "$outdir"
summary="$outdir/summary.txt"
: >"$summary"
any_missed=0

count() { if [ -f "$1" ]; then grep -c . "$1" || true; else echo 0; fi; }

# run_target NAME CAMPAIGN-SECONDS (empty: none) CARGO-MUTANTS-ARGS...
run_target() {
    local name=$1 campaign=$2
    shift 2
    local out="$outdir/$name"
    rm -rf "$out"
    mkdir -p "$out"
    local start=$SECONDS
    echo "== $name: cargo mutants $* (log: $out/log.txt)"
    local envset=(env -u SEGTAB_CAMPAIGN_SECS)
    [ -n "$campaign" ] && envset=(env "SEGTAB_CAMPAIGN_SECS=$campaign")
    "${envset[@]}" cargo mutants "${common[@]}" "${exclude[@]}" -o "$out" "$@" "${extra[@]}" \
        >"$out/log.txt" 2>&1
    local rc=$?
    local took=$((SECONDS - start))
    # 0: all caught; 2: some missed; 3: some timed out.
    case $rc in
        0|2|3) ;;
        *)
            echo "mutants.sh: cargo mutants failed for $name (exit $rc)" >&2
            tail -30 "$out/log.txt" >&2
            exit 2
            ;;
    esac
    local m="$out/mutants.out"
    local caught missed timeouts unviable
    caught=$(count "$m/caught.txt")
    missed=$(count "$m/missed.txt")
    timeouts=$(count "$m/timeout.txt")
    unviable=$(count "$m/unviable.txt")
    local judged=$((caught + timeouts + missed))
    local score="n/a"
    [ "$judged" -gt 0 ] && score=$(awk -v a=$((caught + timeouts)) -v b="$judged" 'BEGIN { printf "%.1f%%", 100 * a / b }')
    {
        echo "$name: $((caught + timeouts))/$judged caught ($score; $caught caught, $timeouts timeouts, $missed missed, $unviable unviable; ${took}s)"
        if [ "$missed" -gt 0 ]; then
            sed 's/^/    MISSED /' "$m/missed.txt"
        fi
    } | tee -a "$summary"
    [ "$missed" -eq 0 ] || any_missed=1
}

for t in "${targets[@]}"; do
    case $t in
        port)
            run_target port "$seconds" \
                --package rust-segtab --test-package rust-segtab,segtab-diff
            ;;
        engine)
            run_target engine "" \
                --file engine/src/compare.rs --file engine/src/run.rs --file engine/src/census.rs \
                --test-workspace true
            ;;
        inspect)
            run_target inspect "" --file shim/src/inspect.rs --test-workspace true
            ;;
        *) echo "mutants.sh: unknown target $t (port, engine, inspect, all)" >&2; exit 2 ;;
    esac
done

echo "== summary (also in $summary)"
cat "$summary"
exit $any_missed
