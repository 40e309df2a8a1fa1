/*
 * The page pool's poison check (shim/src/pool.rs, PagePool::check_frame):
 * the index of the first 64-bit word of a frame that is not `want`.
 *
 * It is C, compiled by shim/build.rs without any -fsanitize flag, because
 * under `cargo fuzz` every Rust function is built with SanitizerCoverage:
 * a Rust loop here cost a __sanitizer_cov_trace_cmp callback per compare,
 * and fed libFuzzer "coverage" that is the harness's, not the code under
 * test's. It also reads free frames that AddressSanitizer has poisoned
 * without tripping ASan (this file is not ASan-instrumented), so the pool
 * need not unpoison a frame to check it.
 *
 * Blocks of eight words are OR-reduced so the compiler can vectorise the
 * common case (every word equal) with one branch per block.
 */
#include <stddef.h>
#include <stdint.h>

/*
 * Not instrumented whatever the flags: shim/build.rs passes
 * -fno-sanitize=all, but the cc crate also appends $CFLAGS, and OSS-Fuzz's
 * (ClusterFuzzLite's) build exports -fsanitize=address,fuzzer-no-link there.
 * An ASan-instrumented check then reports its own read of a poisoned free
 * frame as use-after-poison (found by scripts/cflite-check.sh). The
 * attributes win over any command line.
 */
#if defined(__clang__)
#define HARNESS_ONLY __attribute__((no_sanitize("address", "hwaddress", "coverage")))
#elif defined(__GNUC__) && __GNUC__ >= 12
#define HARNESS_ONLY __attribute__((no_sanitize_address, no_sanitize_coverage))
#elif defined(__GNUC__)
#define HARNESS_ONLY __attribute__((no_sanitize_address))
#else
#define HARNESS_ONLY
#endif

size_t segtab_shim_first_word_not(const uint64_t *words, size_t n, uint64_t want);

HARNESS_ONLY size_t
segtab_shim_first_word_not(const uint64_t *words, size_t n, uint64_t want)
{
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t acc = 0;
		for (size_t j = 0; j < 8; j++)
			acc |= words[i + j] ^ want;
		if (acc != 0)
			break;
	}
	for (; i < n; i++)
		if (words[i] != want)
			return i;
	return n;
}

size_t segtab_shim_next_nonzero(const uint64_t *a, const uint64_t *b, size_t from, size_t n);

/*
 * The first index in [from, n) at which a[i] or b[i] is not zero, or n.
 * The deep pass's table walks (shim/src/inspect.rs) visit only non-empty
 * slots: most of a segtab is NULL, and under `cargo fuzz` a Rust loop over
 * it cost a coverage callback per slot of every table at every deep pass.
 */
HARNESS_ONLY size_t
segtab_shim_next_nonzero(const uint64_t *a, const uint64_t *b, size_t from, size_t n)
{
	size_t i = from;

	for (; i + 8 <= n; i += 8) {
		uint64_t acc = 0;
		for (size_t j = 0; j < 8; j++)
			acc |= a[i + j] | b[i + j];
		if (acc != 0)
			break;
	}
	for (; i < n; i++)
		if ((a[i] | b[i]) != 0)
			return i;
	return n;
}
