#!/usr/bin/env bash
# libFuzzer throughput of the `diff` target at two commits, side by side.
#
#   scripts/fuzz-speed.sh OLD NEW            # e.g. scripts/fuzz-speed.sh 6c5e9fb HEAD
#   FUZZ_SPEED_SECONDS=60 scripts/fuzz-speed.sh OLD NEW
#
# For each commit it makes a git worktree in a temporary directory and runs, there,
#   cargo +stable fuzz build -s none -O diff
# then, once both are built (so the two runs are back to back, in one sitting),
#   cargo +stable fuzz run -s none -O diff $(mktemp -d) -- -max_total_time=30 -print_final_stats=1
# in each, from an empty corpus, and prints each run's stat::average_exec_per_sec and the ratio
# NEW / OLD. It installs cargo-fuzz if it is missing and removes its worktrees and corpora on
# exit. The figures are only comparable on a machine that is otherwise idle: the script prints
# the load average before each run so a loaded machine shows.
set -euo pipefail

say() { printf 'fuzz-speed: %s\n' "$*" >&2; }

if [ $# -ne 2 ]; then
    sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
fi
SECS=${FUZZ_SPEED_SECONDS:-30}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
OLD=$(git rev-parse --verify --quiet "$1^{commit}") || { say "not a commit: $1"; exit 2; }
NEW=$(git rev-parse --verify --quiet "$2^{commit}") || { say "not a commit: $2"; exit 2; }

if ! cargo +stable fuzz --version >/dev/null 2>&1; then
    say "cargo-fuzz missing: cargo install cargo-fuzz --locked (about a minute)"
    cargo install cargo-fuzz --locked
fi
# c-reference/build.rs instruments the C with clang under cargo fuzz.
if [ -z "${SEGTAB_FUZZ_CC:-}" ] && ! command -v clang-19 >/dev/null && ! command -v clang >/dev/null; then
    say "clang is needed to build the fuzz target: apt-get install -y clang-19 (or set SEGTAB_FUZZ_CC)"
    exit 1
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/fuzz-speed.XXXXXX")
WORKTREES=()
cleanup() {
    for wt in "${WORKTREES[@]}"; do
        git -C "$ROOT" worktree remove --force "$wt" >/dev/null 2>&1 || true
    done
    rm -rf "$TMP"
    git -C "$ROOT" worktree prune >/dev/null 2>&1 || true
}
trap cleanup EXIT

# Build both first: a build running next to a measured run would slow it.
for which in old new; do
    rev=$OLD
    [ "$which" = new ] && rev=$NEW
    wt="$TMP/$which"
    git worktree add --detach "$wt" "$rev" >/dev/null 2>&1 || { say "git worktree add $rev failed"; exit 1; }
    WORKTREES+=("$wt")
    say "$which = $(git log -1 --format='%h %s' "$rev")"
    say "building $which (cargo +stable fuzz build -s none -O diff) ..."
    # From fuzz/: a commit's fuzz/.cargo/config.toml (the coverage scope) applies there.
    (cd "$wt/fuzz" && cargo +stable fuzz build -s none -O diff) >"$TMP/build-$which.log" 2>&1 || {
        tail -30 "$TMP/build-$which.log" >&2
        say "build of $which failed"
        exit 1
    }
done

declare -A RATE
for which in old new; do
    wt="$TMP/$which"
    corpus=$(mktemp -d "$TMP/corpus-$which.XXXXXX")
    say "running $which for ${SECS}s; load average before: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"
    (cd "$wt/fuzz" && cargo +stable fuzz run -s none -O diff "$corpus" -- \
        -max_total_time="$SECS" -print_final_stats=1) >"$TMP/run-$which.log" 2>&1 || {
        tail -30 "$TMP/run-$which.log" >&2
        say "the $which run failed (a finding?); its log is above"
        exit 1
    }
    RATE[$which]=$(awk '/stat::average_exec_per_sec:/ {print $2}' "$TMP/run-$which.log")
    execs=$(awk '/stat::number_of_executed_units:/ {print $2}' "$TMP/run-$which.log")
    printf '%-3s %s  stat::average_exec_per_sec: %s  (%s executions)\n' \
        "$which" "$(git rev-parse --short "$([ "$which" = old ] && echo "$OLD" || echo "$NEW")")" \
        "${RATE[$which]}" "$execs"
done
awk -v o="${RATE[old]}" -v n="${RATE[new]}" \
    'BEGIN { if (o > 0) printf "ratio new/old: %.2f\n", n / o; else print "ratio new/old: n/a" }'
