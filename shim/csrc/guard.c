/*
 * The hosted half of the shim: where panic() lands.  The oracle unit is
 * freestanding and cannot include <setjmp.h>; it keeps an opaque, suitably
 * aligned buffer per configuration and calls these functions.
 *
 * Control only ever jumps between C frames: the Rust hooks called from the
 * C (allocation, callbacks, the scheduler) always return normally before any
 * panic or abandon.  Each simulated CPU has its own guard, armed by the
 * setjmp below on that CPU's own stack (its coroutine's, or its thread's),
 * and only that CPU unwinds it, so a longjmp never leaves the stack it was
 * armed on: another CPU may run while this one is suspended in the scheduler
 * hook, but this CPU jumps only once it runs again, on its own stack.
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
	int code;

	if ((code = setjmp(g->jb)) != 0) {
		g->armed = 0;
		return code;
	}
	g->armed = 1;
	body(arg);
	g->armed = 0;
	return 0;
}

void
segtab_shim_unwind(void *gp, int32_t code)
{
	struct guard *g = gp;

	if (!g->armed) {
		/* A panic outside any harness call: nowhere to go back to. */
		fputs("segtab shim: panic outside a guarded call\n", stderr);
		abort();
	}
	longjmp(g->jb, code != 0 ? code : SEGTAB_SHIM_UNWIND_PANIC);
}

int32_t
segtab_shim_vformat(char *buf, size_t len, const char *fmt, va_list ap)
{
	return vsnprintf(buf, len, fmt, ap);
}

/*
 * The mutant a mutant schema runs (certify's mutation switching: every
 * mutant of the file is compiled in behind a test of this number, 0 the
 * original).  One variable for every configuration: the schema declares it
 * under this name, which the per-configuration renaming of
 * shim/include/sys/cdefs.h leaves alone.  The unmodified file never reads it.
 */
unsigned int segtab_mutant;
