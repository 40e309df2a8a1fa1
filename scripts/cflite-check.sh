#!/usr/bin/env bash
# ClusterFuzzLite's build, run here the way OSS-Fuzz's base-builder image runs
# it, and the fuzzer it produced run the way the base-runner image runs it.
#
#   scripts/cflite-check.sh [--runs N]     (default 20000 inputs)
#
# What it emulates (facts from google/oss-fuzz infra/base-images/base-builder:
# Dockerfile, `compile`, the `cargo` wrapper):
#   * a source tree at $SRC/segtab-diff that is a copy of this checkout's
#     tracked files (the Dockerfile's `COPY .`), build.sh copied to $SRC/,
#     run as `bash -eux $SRC/build.sh` from $SRC/segtab-diff (WORKDIR);
#   * the environment `compile` exports for SANITIZER=address,
#     FUZZING_ENGINE=libfuzzer, FUZZING_LANGUAGE=rust: SRC OUT WORK, CC=clang,
#     CXX=clang++, CFLAGS/CXXFLAGS with -fsanitize=address
#     -fsanitize-address-use-after-scope -fsanitize=fuzzer-no-link,
#     RUSTFLAGS="--cfg fuzzing -Zsanitizer=address -Cdebuginfo=1
#     -Cforce-frame-pointers", nightly as the default toolchain;
#   * for an address build the image's `cargo` wrapper only calls cargo.
# What it cannot emulate: the image's own clang and libFuzzer
# (CUSTOM_LIBFUZZER_PATH=libFuzzingEngine.a; here libfuzzer-sys builds its
# own), libc++ (-stdlib=libc++ is left out of CXXFLAGS: no C++ is compiled),
# Docker itself, and ClusterFuzzLite's GitHub actions (corpus pruning,
# crash upload, SARIF): those only run in a real ClusterFuzzLite job.
#
# Then it checks what ClusterFuzzLite expects in $OUT (an instrumented
# libFuzzer binary per target, `<target>_seed_corpus.zip`, `<target>.options`
# with a [libfuzzer] section) and runs $OUT/diff with the options file's
# flags on the unzipped seeds for --runs inputs, with the source tree moved
# away, as the runner image has only $OUT.
#
# Its build lives in target/cflite/ (kept, so a rerun rebuilds only what
# changed); the runner's scratch directory is removed on exit.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=20000
while [ $# -gt 0 ]; do
    case "$1" in
    --runs) RUNS=$2; shift 2 ;;
    -h | --help) sed -n '2,30p' "$0"; exit 0 ;;
    *) echo "cflite-check: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
say() { printf 'cflite-check: %s\n' "$*"; }

# What the base image brings: nightly, cargo-fuzz, clang named `clang`, zip.
rustup toolchain list 2>/dev/null | grep -q '^nightly' \
    || { say "needs a nightly toolchain (rustup toolchain install nightly)"; exit 2; }
cargo fuzz --version >/dev/null 2>&1 || cargo install cargo-fuzz --locked
BASE=$ROOT/target/cflite
mkdir -p "$BASE/bin"
if ! command -v clang >/dev/null; then
    if ! command -v clang-19 >/dev/null && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang-19) >/dev/null
    fi
    command -v clang-19 >/dev/null || { say "needs clang (clang-19)"; exit 2; }
    ln -sf "$(command -v clang-19)" "$BASE/bin/clang"
    ln -sf "$(command -v clang++-19)" "$BASE/bin/clang++"
fi
if ! command -v zip >/dev/null; then
    # The Dockerfile installs zip; a stand-in with zip's `-q -j ARCHIVE FILES` form.
    cat >"$BASE/bin/zip" <<'PY'
#!/usr/bin/env python3
import os, sys, zipfile
args = [a for a in sys.argv[1:] if a not in ("-q", "-j")]
with zipfile.ZipFile(args[0], "a", zipfile.ZIP_DEFLATED) as z:
    for f in args[1:]:
        z.write(f, os.path.basename(f))
PY
    chmod +x "$BASE/bin/zip"
fi

SRC=$BASE/src OUT=$BASE/out WORK=$BASE/work
mkdir -p "$SRC/segtab-diff" "$OUT" "$WORK"
rm -rf "${OUT:?}"/*
# COPY . $SRC/segtab-diff: the tracked files (a clone's content), over the
# last copy so cargo rebuilds only what changed; files gone from the index
# are removed.
(cd "$ROOT" && git ls-files -z | tar --null -T - -cf -) | (cd "$SRC/segtab-diff" && tar -xf -)
(cd "$SRC/segtab-diff" && find . -path ./fuzz/target -prune -o -path ./target -prune -o -type f -print \
    | sed 's|^\./||' | sort) >"$BASE/copied.txt"
(cd "$ROOT" && git ls-files | sort) >"$BASE/tracked.txt"
comm -23 "$BASE/copied.txt" "$BASE/tracked.txt" | (cd "$SRC/segtab-diff" && xargs -r -d '\n' rm -f --)
cp "$ROOT/.clusterfuzzlite/build.sh" "$SRC/build.sh"

flags="-O1 -fno-omit-frame-pointer -gline-tables-only -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION"
flags="$flags -fsanitize=address -fsanitize-address-use-after-scope -fsanitize=fuzzer-no-link"
say "building as base-builder-rust does (SANITIZER=address, FUZZING_ENGINE=libfuzzer)..."
start=$SECONDS
(
    cd "$SRC/segtab-diff"
    env PATH="$BASE/bin:$PATH" SRC="$SRC" OUT="$OUT" WORK="$WORK" \
        CC=clang CXX=clang++ CFLAGS="$flags" CXXFLAGS="$flags" \
        RUSTFLAGS="--cfg fuzzing -Zsanitizer=address -Cdebuginfo=1 -Cforce-frame-pointers" \
        SANITIZER=address FUZZING_ENGINE=libfuzzer FUZZING_LANGUAGE=rust ARCHITECTURE=x86_64 \
        LIB_FUZZING_ENGINE=-fsanitize=fuzzer RUSTUP_TOOLCHAIN=nightly \
        bash -eux "$SRC/build.sh"
) >"$BASE/build.log" 2>&1 || { tail -40 "$BASE/build.log"; say "build.sh failed (log: $BASE/build.log)"; exit 1; }
say "build.sh took $((SECONDS - start)) s"

# What ClusterFuzzLite looks for in $OUT.
fail() { say "$*"; exit 1; }
[ -x "$OUT/diff" ] || fail "\$OUT/diff is missing or not executable"
head -c 4 "$OUT/diff" | grep -q ELF || fail "\$OUT/diff is not an ELF binary"
grep -q LLVMFuzzerTestOneInput "$OUT/diff" || fail "\$OUT/diff has no LLVMFuzzerTestOneInput: not a libFuzzer target"
grep -q __asan_init "$OUT/diff" || fail "\$OUT/diff is not built with AddressSanitizer"
grep -q __sanitizer_cov_8bit_counters_init "$OUT/diff" || fail "\$OUT/diff has no SanitizerCoverage counters"
[ -s "$OUT/diff_seed_corpus.zip" ] || fail "no \$OUT/diff_seed_corpus.zip"
seeds=$(python3 -c 'import sys, zipfile; print(len(zipfile.ZipFile(sys.argv[1]).namelist()))' "$OUT/diff_seed_corpus.zip")
want=$(cd "$ROOT" && git ls-files corpus/diff | wc -l)
[ "$seeds" -eq "$want" ] || fail "the seed zip holds $seeds files, corpus/diff $want"
# .options: an INI file whose [libfuzzer] keys become -key=value flags.
mapfile -t opts < <(python3 - "$OUT/diff.options" <<'PY'
import configparser, sys
c = configparser.ConfigParser()
if not c.read(sys.argv[1]) or not c.has_section("libfuzzer"):
    sys.exit("no [libfuzzer] section")
for k, v in c.items("libfuzzer"):
    print(f"-{k}={v}")
PY
) || fail "\$OUT/diff.options is not a valid options file"
say "\$OUT: diff ($(du -h "$OUT/diff" | cut -f1)), diff_seed_corpus.zip ($seeds seeds), diff.options (${opts[*]})"

# The runner: only $OUT, the seeds unzipped into a corpus directory.
RUN=$(mktemp -d "${TMPDIR:-/tmp}/cflite-run.XXXXXX")
AWAY="$SRC.away"
cleanup() {
    [ -d "$AWAY" ] && mv "$AWAY" "$SRC"
    rm -rf "$RUN"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$RUN/corpus"
python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' \
    "$OUT/diff_seed_corpus.zip" "$RUN/corpus"
mv "$SRC" "$AWAY"
say "running \$OUT/diff for $RUNS inputs with the source tree moved away..."
set +e
(cd "$RUN" && "$OUT/diff" "${opts[@]}" -runs="$RUNS" -seed=1 -artifact_prefix="$RUN/" corpus) >"$RUN/run.log" 2>&1
rc=$?
set -e
mv "$AWAY" "$SRC"
grep -E '^#[0-9]+.*(INITED|DONE)' "$RUN/run.log" | sed 's/^/  /' || true
if [ "$rc" -ne 0 ]; then
    tail -30 "$RUN/run.log"
    fail "the fuzzer exited $rc"
fi
grep -q "^Done $RUNS runs" "$RUN/run.log" || { tail -5 "$RUN/run.log"; fail "the fuzzer did not run $RUNS inputs"; }
say "ok: ClusterFuzzLite's layout built and its fuzzer ran $RUNS inputs with no finding"
