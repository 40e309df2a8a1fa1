/*
 * Shim for NetBSD <sys/kernhist.h>.  The kernel is built without KERNHIST,
 * so (as in NetBSD's header when KERNHIST is not defined) every history
 * macro expands to nothing and its arguments, history names included
 * (pmaphist, pmapxtabhist, ...), are never evaluated.  <uvm/uvm_stat.h>'s
 * UVMHIST_* are these.
 *
 * The set is the one sys/kernhist.h has had since KERNHIST_CALLARGS was
 * added (2017) and still has in 2026: declaring and defining a history
 * (KERNHIST_DECL, KERNHIST_DEFINE), setting it up (KERNHIST_INIT,
 * KERNHIST_INITIALIZER for a static initializer, KERNHIST_LINK_STATIC,
 * KERNHIST_INIT_STATIC), logging (KERNHIST_FUNC, KERNHIST_CALLED,
 * KERNHIST_CALLARGS, KERNHIST_LOG) and dumping (KERNHIST_DUMP).  The
 * statement-like ones are ((void)0) here rather than empty, so a use
 * without its semicolon, or as the body of an if, stays a statement.
 */
#ifndef _SHIM_SYS_KERNHIST_H_
#define _SHIM_SYS_KERNHIST_H_

#define KERNHIST_DECL(name)
#define KERNHIST_DEFINE(name)
#define KERNHIST_INIT(name, n)				((void)0)
#define KERNHIST_INITIALIZER(name, buf)
#define KERNHIST_LINK_STATIC(name)			((void)0)
#define KERNHIST_INIT_STATIC(name, buf)			((void)0)
#define KERNHIST_FUNC(fname)
#define KERNHIST_CALLED(name)
#define KERNHIST_CALLARGS(name, fmt, a, b, c, d)	((void)0)
#define KERNHIST_LOG(name, fmt, a, b, c, d)		((void)0)
#define KERNHIST_DUMP(name)				((void)0)

#endif /* _SHIM_SYS_KERNHIST_H_ */
