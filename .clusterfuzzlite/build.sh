#!/bin/bash -eu
# ClusterFuzzLite / OSS-Fuzz build: the `diff` libFuzzer target plus its seed corpus.
# Expects the OSS-Fuzz variables: SRC, OUT (WORK, CC, CFLAGS, SANITIZER are used if set).
cd "$SRC/segtab-diff"

# build.rs compiles the C reference with this clang and SanitizerCoverage (+ ASan when the
# Rust side has it). The cc crate also appends $CFLAGS, i.e. OSS-Fuzz's
# -fsanitize=address,fuzzer-no-link (or the coverage build's -fprofile-instr-generate).
export SEGTAB_FUZZ_CC="${CC:-clang}"

# base-builder-rust's cargo wrapper adds the coverage flags for SANITIZER=coverage builds.
# From fuzz/, where fuzz/.cargo/config.toml names the rustc wrapper that keeps
# SanitizerCoverage on the code under test only (fuzz/coverage-scope).
(cd fuzz && cargo fuzz build -O)

TRIPLE=$(rustc -vV | sed -n 's/^host: //p')
cp "fuzz/target/$TRIPLE/release/diff" "$OUT/diff"

# Seeds: corpus/diff (raw inputs; the first byte picks the configuration).
rm -f "$OUT/diff_seed_corpus.zip"
zip -q -j "$OUT/diff_seed_corpus.zip" corpus/diff/*

# libFuzzer options used by ClusterFuzz(Lite) for this target (see fuzz/README.md).
cat > "$OUT/diff.options" <<OPTS
[libfuzzer]
timeout = 10
rss_limit_mb = 2048
OPTS
