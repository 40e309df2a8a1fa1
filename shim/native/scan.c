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

size_t segtab_shim_first_word_not(const uint64_t *words, size_t n, uint64_t want);

size_t
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
