/*
 * Shim for NetBSD <uvm/uvm_stat.h>: since the move to KERNHIST (2012) it
 * maps each UVMHIST_* spelling to the KERNHIST_* macro of the same name
 * when UVMHIST is defined, and to nothing otherwise.  The kernel here is
 * built without UVMHIST, so the shim maps them to <sys/kernhist.h>'s
 * no-KERNHIST forms, which expand to nothing and never evaluate their
 * arguments.
 *
 * Spellings, as uvm_stat.h gives them through 2026: UVMHIST_DECL,
 * UVMHIST_DEFINE, UVMHIST_INIT, UVMHIST_INITIALIZER, UVMHIST_LINK_STATIC,
 * UVMHIST_FUNC, UVMHIST_CALLED, UVMHIST_CALLARGS (2017 on) and UVMHIST_LOG;
 * UVMHIST_INIT_STATIC is the older headers' (before the static
 * initializer), kept for revisions of that era.
 */
#ifndef _SHIM_UVM_UVM_STAT_H_
#define _SHIM_UVM_UVM_STAT_H_

#include <sys/kernhist.h>

#define UVMHIST_DECL(name)			KERNHIST_DECL(name)
#define UVMHIST_DEFINE(name)			KERNHIST_DEFINE(name)
#define UVMHIST_INIT(name, n)			KERNHIST_INIT(name, n)
#define UVMHIST_INITIALIZER(name, buf)		KERNHIST_INITIALIZER(name, buf)
#define UVMHIST_LINK_STATIC(name)		KERNHIST_LINK_STATIC(name)
#define UVMHIST_INIT_STATIC(name, buf)		KERNHIST_INIT_STATIC(name, buf)
#define UVMHIST_FUNC(fname)			KERNHIST_FUNC(fname)
#define UVMHIST_CALLED(name)			KERNHIST_CALLED(name)
#define UVMHIST_CALLARGS(name, fmt, a, b, c, d)	KERNHIST_CALLARGS(name, fmt, a, b, c, d)
#define UVMHIST_LOG(name, fmt, a, b, c, d)	KERNHIST_LOG(name, fmt, a, b, c, d)

#endif /* _SHIM_UVM_UVM_STAT_H_ */
