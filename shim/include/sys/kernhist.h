/*
 * Shim for NetBSD <sys/kernhist.h>.  The kernel is built without KERNHIST,
 * so (as in NetBSD) the history macros expand to nothing and their
 * arguments, history names included (pmaphist, pmapxtabhist, ...), are
 * never evaluated.  <uvm/uvm_stat.h>'s UVMHIST_* are these.
 */
#ifndef _SHIM_SYS_KERNHIST_H_
#define _SHIM_SYS_KERNHIST_H_

#define KERNHIST_FUNC(fname)
#define KERNHIST_CALLED(name)
#define KERNHIST_CALLARGS(name, fmt, a, b, c, d)	((void)0)
#define KERNHIST_LOG(name, fmt, a, b, c, d)		((void)0)

#endif /* _SHIM_SYS_KERNHIST_H_ */
