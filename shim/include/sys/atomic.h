/*
 * Shim for NetBSD <sys/atomic.h>.  atomic_cas_ptr(p, old, new) stores new in
 * *p if *p == old and returns the previous *p.  The shim's version can be
 * armed to lose a race: another "CPU" installs a freshly allocated page
 * first, which is how the MULTIPROCESSOR lose-the-race paths of
 * pmap_pte_reserve (lines 518-523 and 554-570) are exercised without a
 * second simulated CPU.  It is also a scheduling point (hooks.sched), where
 * a real second CPU may run first.
 */
#ifndef _SHIM_SYS_ATOMIC_H_
#define _SHIM_SYS_ATOMIC_H_

void *shim_atomic_cas_ptr(volatile void *, void *, void *);
#define atomic_cas_ptr(p, o, n)	shim_atomic_cas_ptr((p), (o), (n))

#endif /* _SHIM_SYS_ATOMIC_H_ */
