/*
 * Shim for NetBSD <sys/systm.h>: panic, printf and the KASSERT family.
 * panic() does not return: the shim formats the message and longjmps back
 * to the harness entry point (shim/csrc/guard.c), which marks the world dead.
 * As in NetBSD, KASSERT/KASSERTMSG check only under DIAGNOSTIC and evaluate
 * nothing otherwise.
 */
#ifndef _SHIM_SYS_SYSTM_H_
#define _SHIM_SYS_SYSTM_H_

#include <sys/types.h>

void panic(const char *, ...) __printflike(1, 2) __dead;
int printf(const char *, ...) __printflike(1, 2);
void kern_assert(const char *, ...) __dead;

#define __KASSERTSTR	"kernel %sassertion \"%s\" failed: file \"%s\", line %d "

#ifdef DIAGNOSTIC
#define KASSERTMSG(e, msg, ...)						\
	(__predict_true((e)) ? (void)0 :				\
	    kern_assert(__KASSERTSTR msg, "diagnostic ", #e,		\
		__FILE__, __LINE__, ## __VA_ARGS__))
#define KASSERT(e)							\
	(__predict_true((e)) ? (void)0 :				\
	    kern_assert(__KASSERTSTR, "diagnostic ", #e,		\
		__FILE__, __LINE__))
#else
#define KASSERTMSG(e, msg, ...)	((void)0)
#define KASSERT(e)		((void)0)
#endif

#endif /* _SHIM_SYS_SYSTM_H_ */
