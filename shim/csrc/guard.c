/*
 * The hosted half of the shim: where panic() lands.  The oracle unit is
 * freestanding and cannot include <setjmp.h>; it keeps an opaque, suitably
 * aligned buffer per configuration and calls these functions.
 *
 * Control only ever jumps between C frames: the Rust hooks called from the
 * C (allocation, callbacks) always return normally before any panic.
 */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>

#include "segtab_shim_guard.h"

struct guard {
	jmp_buf jb;
	int armed;
};

_Static_assert(sizeof(struct guard) <= SEGTAB_SHIM_GUARD_BYTES,
    "SEGTAB_SHIM_GUARD_BYTES too small for this libc's jmp_buf");

int32_t
segtab_shim_guarded(void *gp, segtab_shim_body_t body, void *arg)
{
	struct guard *g = gp;

	if (setjmp(g->jb) != 0) {
		g->armed = 0;
		return 1;
	}
	g->armed = 1;
	body(arg);
	g->armed = 0;
	return 0;
}

void
segtab_shim_unwind(void *gp)
{
	struct guard *g = gp;

	if (!g->armed) {
		/* A panic outside any harness call: nowhere to go back to. */
		fputs("segtab shim: panic outside a guarded call\n", stderr);
		abort();
	}
	longjmp(g->jb, 1);
}

int32_t
segtab_shim_vformat(char *buf, size_t len, const char *fmt, va_list ap)
{
	return vsnprintf(buf, len, fmt, ap);
}
