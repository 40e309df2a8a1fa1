/*
 * shim/csrc/guard.c: setjmp/longjmp and message formatting.  They need libc,
 * so they live in their own hosted translation unit, compiled once; the
 * freestanding oracle unit reaches them only through these three functions.
 */
#ifndef _SEGTAB_SHIM_GUARD_H_
#define _SEGTAB_SHIM_GUARD_H_

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define SEGTAB_SHIM_GUARD_BYTES	512

typedef void (*segtab_shim_body_t)(void *);

/* Why a guarded call left early (segtab_shim_unwind's code, never 0). */
#define SEGTAB_SHIM_UNWIND_PANIC	1
#define SEGTAB_SHIM_UNWIND_ABANDON	2

/*
 * Run body(arg); 0 if it returned, the code given to segtab_shim_unwind if it
 * left through it.  A guard belongs to one simulated CPU: it is only ever
 * unwound by that CPU, on the stack (coroutine or thread) that armed it.
 */
int32_t segtab_shim_guarded(void *guard, segtab_shim_body_t body, void *arg);
/* Leave the innermost segtab_shim_guarded of this guard (a longjmp); code
 * is nonzero. */
void segtab_shim_unwind(void *guard, int32_t code) __attribute__((__noreturn__));
/* vsnprintf */
int32_t segtab_shim_vformat(char *buf, size_t len, const char *fmt, va_list ap);

#endif /* _SEGTAB_SHIM_GUARD_H_ */
