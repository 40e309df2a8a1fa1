/*
 * Shim for NetBSD <uvm/uvm_stat.h>.  The kernel is built without UVMHIST, so
 * (as in NetBSD) the history macros expand to nothing and their arguments
 * are never evaluated.
 */
#ifndef _SHIM_UVM_UVM_STAT_H_
#define _SHIM_UVM_UVM_STAT_H_

#define UVMHIST_FUNC(fname)
#define UVMHIST_CALLED(name)
#define UVMHIST_CALLARGS(name, fmt, a, b, c, d)	((void)0)
#define UVMHIST_LOG(name, fmt, a, b, c, d)	((void)0)

#endif /* _SHIM_UVM_UVM_STAT_H_ */
