#!/usr/bin/env bash
# One-command libFuzzer campaign of the `diff` target (C reference vs Rust port).
#
#   scripts/fuzz.sh                      # 600 s, all configurations, fork mode over $(nproc) cores
#   scripts/fuzz.sh --seconds 3600 --config mips32-o32-4k
#   scripts/fuzz.sh --keep-going         # collect findings instead of stopping at the first
#   scripts/fuzz.sh --port ../my-port    # fuzz your own port crate instead of rust-segtab/
#
# It installs what is missing (cargo-fuzz; clang-19 when root and apt-get exist, otherwise it
# prints what to install), then runs
#   cargo +nightly fuzz run diff fuzz/corpus/diff corpus/diff -- -fork=N ...
# (AddressSanitizer), or, without a nightly toolchain, `cargo +stable fuzz run -s none ...`.
# New inputs go to fuzz/corpus/diff (writable, not checked in); corpus/diff (the checked-in
# seeds) is only read. Findings go to fuzz/artifacts/diff/.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

SECS=600
CONFIG=""
JOBS=$(nproc 2>/dev/null || echo 1)
TIMEOUT=10          # s per input; the slowest seed runs in ~10 ms, so 10 s is a hang
RSS_MB=1024         # a child's steady state is ~100-250 MB (7 worlds of 2048 pool pages + ASan)
SANITIZER=""        # "" = address on nightly, none on stable
TOOLCHAIN=""
KEEP_GOING=0
C_COVERAGE=1
TARGET_DIR=""       # cargo's target dir; default fuzz/target
PORT=""             # a port crate to fuzz instead of rust-segtab/ (docs/port-contract.md)
EXTRA=()

usage() {
    sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    cat <<EOF

Options:
  --seconds N          campaign length (default $SECS; 0 = until a finding or Ctrl-C)
  --config NAME        pin one configuration (SEGTAB_FUZZ_CONFIG); default: the first input
                       byte picks one. Names: cargo run -p segtab-diff -- configs
  --jobs N             libFuzzer -fork=N worker processes (default: nproc = $JOBS)
  --timeout S          libFuzzer -timeout (default $TIMEOUT s): slower input = a "timeout-" finding
  --rss-limit-mb M     libFuzzer -rss_limit_mb (default $RSS_MB): bigger = an "oom-" finding
  --sanitizer S        address | none (default: address with nightly, none with stable)
  --toolchain T        nightly | stable (default: nightly if installed)
  --no-c-coverage      build the C without SanitizerCoverage (SEGTAB_FUZZ_C_COVERAGE=0)
  --target-dir DIR     cargo target dir (default fuzz/target)
  --port DIR           fuzz the port crate at DIR instead of rust-segtab/ (as segtab-diff --port;
                       a port lacking part of the contract exits 2 with one line per item)
  --keep-going         do not stop at the first crash/timeout/oom (-ignore_crashes=1 etc.)
  -- ARGS...           more libFuzzer flags, e.g. -- -max_len=2048 -dict=...
EOF
}

while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) SECS=$2; shift 2 ;;
        --seconds=*) SECS=${1#*=}; shift ;;
        --config) CONFIG=$2; shift 2 ;;
        --config=*) CONFIG=${1#*=}; shift ;;
        --jobs) JOBS=$2; shift 2 ;;
        --jobs=*) JOBS=${1#*=}; shift ;;
        --timeout) TIMEOUT=$2; shift 2 ;;
        --timeout=*) TIMEOUT=${1#*=}; shift ;;
        --rss-limit-mb) RSS_MB=$2; shift 2 ;;
        --rss-limit-mb=*) RSS_MB=${1#*=}; shift ;;
        --sanitizer) SANITIZER=$2; shift 2 ;;
        --sanitizer=*) SANITIZER=${1#*=}; shift ;;
        --toolchain) TOOLCHAIN=$2; shift 2 ;;
        --toolchain=*) TOOLCHAIN=${1#*=}; shift ;;
        --target-dir) TARGET_DIR=$2; shift 2 ;;
        --target-dir=*) TARGET_DIR=${1#*=}; shift ;;
        --port) PORT=$2; shift 2 ;;
        --port=*) PORT=${1#*=}; shift ;;
        --no-c-coverage) C_COVERAGE=0; shift ;;
        --keep-going) KEEP_GOING=1; shift ;;
        -h|--help) usage; exit 0 ;;
        --) shift; EXTRA=("$@"); break ;;
        *) echo "fuzz.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
    esac
done

say() { printf '\033[1mfuzz.sh:\033[0m %s\n' "$*" >&2; }
is_root() { [ "$(id -u)" = 0 ]; }

# ---------------------------------------------------------------- prerequisites
command -v cargo >/dev/null || { say "cargo is missing: install Rust with rustup (https://rustup.rs)"; exit 1; }

if [ -z "$TOOLCHAIN" ]; then
    if command -v rustup >/dev/null && rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
        TOOLCHAIN=nightly
    else
        TOOLCHAIN=stable
        say "no nightly toolchain: using stable with -s none (no AddressSanitizer)."
        say "  for ASan: rustup toolchain install nightly"
    fi
fi
if [ -z "$SANITIZER" ]; then
    if [ "$TOOLCHAIN" = nightly ]; then SANITIZER=address; else SANITIZER=none; fi
fi
if [ "$TOOLCHAIN" = stable ] && [ "$SANITIZER" != none ]; then
    say "sanitizer $SANITIZER needs nightly; use --sanitizer none on stable"; exit 2
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    say "cargo-fuzz missing: cargo install cargo-fuzz --locked (about a minute)"
    cargo install cargo-fuzz --locked
fi

# build.rs instruments the C with clang-19, clang, or $SEGTAB_FUZZ_CC.
if [ "$C_COVERAGE" = 1 ] && [ -z "${SEGTAB_FUZZ_CC:-}" ] \
   && ! command -v clang-19 >/dev/null && ! command -v clang >/dev/null; then
    if is_root && command -v apt-get >/dev/null; then
        say "no clang: apt-get update && apt-get install -y clang-19"
        apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y clang-19
    else
        say "clang is needed to instrument the C reference for libFuzzer. Install it, e.g.:"
        say "  sudo apt-get update && sudo apt-get install -y clang-19"
        say "or point SEGTAB_FUZZ_CC at a clang, or run with --no-c-coverage (C side blind to the fuzzer)."
        exit 1
    fi
fi

# ---------------------------------------------------------------- the port
# --port: the tool is built against the port first (its contract checked, one line per
# missing item), then cargo fuzz builds a shadow of fuzz/ whose engine uses the port.
FUZZ_DIR=()
PORT_NAME=""
if [ -n "$PORT" ]; then
    [ -d "$PORT" ] || { say "--port $PORT: no such directory"; exit 2; }
    PORT=$(cd "$PORT" && pwd)
    say "building the tool against the port at $PORT (checks the contract)..."
    set +e
    info=$(cargo run -q --release -p segtab-diff -- --port "$PORT" fuzz-dir)
    rc=$?
    set -e
    [ $rc -eq 0 ] || { say "the port at $PORT cannot be fuzzed (see above)"; exit 2; }
    { read -r fdir; read -r pdir; read -r pman; } <<<"$info"
    export SEGTAB_PORT_DIR="$pdir" SEGTAB_PORT_MANIFEST="$pman"
    FUZZ_DIR=(--fuzz-dir "$fdir")
    PORT_NAME=$(basename "$(dirname "$fdir")")
    say "port: $PORT (fuzz package $fdir)"
else
    unset SEGTAB_PORT_DIR SEGTAB_PORT_MANIFEST || true
fi

# ---------------------------------------------------------------- campaign
SEEDS="$ROOT/corpus/diff"
ART="$ROOT/fuzz/artifacts/diff"
# A port's findings are kept apart, named after it (package-sourcehash).
[ -n "$PORT_NAME" ] && ART="$ROOT/fuzz/artifacts/diff-port-$PORT_NAME"
if [ -n "$CONFIG" ]; then
    # A pinned run decodes bytes differently (no config byte): keep its corpus apart and
    # name its findings after the configuration.
    WORK="$ROOT/fuzz/corpus/diff-$CONFIG"
    PREFIX="$ART/$CONFIG-"
else
    WORK="$ROOT/fuzz/corpus/diff"
    PREFIX="$ART/"
fi
mkdir -p "$WORK" "$ART"
MARK=$(mktemp)
trap 'rm -f "$MARK"' EXIT

if [ -n "$CONFIG" ]; then
    export SEGTAB_FUZZ_CONFIG="$CONFIG"
else
    unset SEGTAB_FUZZ_CONFIG || true
fi
if [ "$C_COVERAGE" = 0 ]; then export SEGTAB_FUZZ_C_COVERAGE=0; else unset SEGTAB_FUZZ_C_COVERAGE || true; fi

IGNORE=0
[ "$KEEP_GOING" = 1 ] && IGNORE=1
LF=(
    -fork="$JOBS"
    -timeout="$TIMEOUT"
    -rss_limit_mb="$RSS_MB"
    # fork mode ignores timeouts and OOMs by default; here they are findings like crashes.
    -ignore_crashes="$IGNORE" -ignore_timeouts="$IGNORE" -ignore_ooms="$IGNORE"
    -artifact_prefix="$PREFIX"
    -print_final_stats=1
)
[ "$SECS" != 0 ] && LF+=(-max_total_time="$SECS")
LF+=("${EXTRA[@]}")

CMD=(cargo "+$TOOLCHAIN" fuzz run "${FUZZ_DIR[@]}" -O -s "$SANITIZER")
if [ -n "$TARGET_DIR" ]; then
    case $TARGET_DIR in /*) ;; *) TARGET_DIR="$PWD/$TARGET_DIR" ;; esac
    CMD+=(--target-dir "$TARGET_DIR")
fi
CMD+=(diff "$WORK" "$SEEDS" -- "${LF[@]}")
say "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//')"
say "config: ${CONFIG:-all (first input byte)}; C coverage: $([ "$C_COVERAGE" = 1 ] && echo on || echo off)"
say "running: ${CMD[*]}"

set +e
# Run from fuzz/ so that fuzz/.cargo/config.toml applies: its rustc wrapper
# (fuzz/coverage-scope) keeps the fuzzer's coverage on the code under test.
(cd "$ROOT/fuzz" && "${CMD[@]}")
rc=$?
set -e

echo >&2
say "exit status $rc ($([ $rc = 0 ] && echo 'no finding' || echo 'finding or error: see above'))"
say "new corpus inputs: $WORK ($(find "$WORK" -type f | wc -l) files)"
say "findings (crash-*, timeout-*, oom-*, leak-*) go to $ART/"
new=$(find "$ART" -type f -newer "$MARK" 2>/dev/null)
if [ -z "$new" ]; then
    say "no new findings in this run"
    exit $rc
fi
say "new findings of this run:"
printf '    %s\n' $new >&2
# Replay instructions only when there is something to replay.
P=""
[ -n "$PORT" ] && P="--port $PORT "
if [ -n "$CONFIG" ]; then
    cat >&2 <<EOF
Replay a finding (pinned: the file has no configuration byte, so name it):
    cargo run --release -p segtab-diff -- ${P}replay --config $CONFIG <file>
Re-run it under the fuzz build:
    SEGTAB_FUZZ_CONFIG=$CONFIG cargo +$TOOLCHAIN fuzz run ${FUZZ_DIR[*]} -O -s $SANITIZER diff <file>
EOF
else
    cat >&2 <<EOF
Replay a finding (raw inputs are accepted; prints the divergence report):
    cargo run --release -p segtab-diff -- ${P}replay <file>
Re-run it under the fuzz build (same sanitizer; shows the panic or ASan report):
    cargo +$TOOLCHAIN fuzz run ${FUZZ_DIR[*]} -O -s $SANITIZER diff <file>
Shrink it:
    cargo +$TOOLCHAIN fuzz tmin ${FUZZ_DIR[*]} -O -s $SANITIZER diff <file>
EOF
fi
exit $rc
