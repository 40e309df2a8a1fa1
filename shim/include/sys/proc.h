/*
 * Shim for NetBSD <sys/proc.h> (and the parts of <machine/cpu.h> and
 * <uvm/uvm_extern.h> it drags in): lwp, proc, vmspace, cpu_info, curlwp and
 * curcpu().  The harness owns a small fixed set of each (shim/csrc/world.c).
 * curlwp is the lwp the calling simulated CPU runs as; curcpu() is that
 * lwp's l_cpu, as in NetBSD.
 */
#ifndef _SHIM_SYS_PROC_H_
#define _SHIM_SYS_PROC_H_

#include <sys/types.h>

struct pmap;
union pmap_segtab;

/* <machine/cpu.h>: the two fields the segtab code maintains. */
struct cpu_info {
	union pmap_segtab	*ci_pmap_user_segtab;
#ifdef _LP64
	union pmap_segtab	*ci_pmap_user_seg0tab;
#endif
	unsigned int		ci_index;
};

struct vm_map {
	struct pmap		*pmap;
};

struct vmspace {
	struct vm_map		vm_map;
};

struct proc {
	struct vmspace		*p_vmspace;
};

struct lwp {
	struct cpu_info		*l_cpu;
	struct proc		*l_proc;
	unsigned int		l_index;
};

struct lwp *shim_curlwp(void);
#define curlwp		(shim_curlwp())
#define curcpu()	(curlwp->l_cpu)

#endif /* _SHIM_SYS_PROC_H_ */
