/*
 * Shim for NetBSD <sys/mutex.h>: a spin mutex.  One simulated CPU runs at a
 * time; the scheduler (shim/src/sched.rs, reached through hooks.sched)
 * keeps a CPU from entering while another one holds the mutex.  The shim
 * checks the protocol: entering a mutex this CPU holds, or leaving one it
 * does not hold, panics, as LOCKDEBUG would.
 */
#ifndef _SHIM_SYS_MUTEX_H_
#define _SHIM_SYS_MUTEX_H_

typedef struct kmutex {
	volatile unsigned int	mtx_locked;
	unsigned int		mtx_enters;	/* how often it was taken */
	unsigned int		mtx_owner;	/* the CPU holding it (if locked) */
} kmutex_t;

void shim_mutex_spin_enter(kmutex_t *);
void shim_mutex_spin_exit(kmutex_t *);
#define mutex_spin_enter(m)	shim_mutex_spin_enter(m)
#define mutex_spin_exit(m)	shim_mutex_spin_exit(m)

#endif /* _SHIM_SYS_MUTEX_H_ */
