/*
 * Shim for NetBSD <uvm/uvm_stat.h>.  The kernel is built without UVMHIST,
 * so (as in NetBSD) the history macros are the KERNHIST ones of
 * <sys/kernhist.h>, which expand to nothing and never evaluate their
 * arguments.
 */
#ifndef _SHIM_UVM_UVM_STAT_H_
#define _SHIM_UVM_UVM_STAT_H_

#include <sys/kernhist.h>

#define UVMHIST_FUNC(fname)			KERNHIST_FUNC(fname)
#define UVMHIST_CALLED(name)			KERNHIST_CALLED(name)
#define UVMHIST_CALLARGS(name, fmt, a, b, c, d)	KERNHIST_CALLARGS(name, fmt, a, b, c, d)
#define UVMHIST_LOG(name, fmt, a, b, c, d)	KERNHIST_LOG(name, fmt, a, b, c, d)

#endif /* _SHIM_UVM_UVM_STAT_H_ */
