/*
 * Shim for NetBSD <sys/rwlock.h>: the reader/writer lock behind
 * pmap_lock()/pmap_unlock() (rev 1.31 takes it as writer around the
 * per-pmap page lists).  One simulated CPU runs at a time and rev 1.31 calls
 * nothing while holding it (pmap_page_attach/_detach only link a page and
 * count it), so it is not a scheduling point; the shim checks the protocol
 * as LOCKDEBUG would: entering a lock this CPU holds, or leaving one that is
 * not held, panics.
 */
#ifndef _SHIM_SYS_RWLOCK_H_
#define _SHIM_SYS_RWLOCK_H_

typedef struct krwlock {
	volatile unsigned int	rw_locked;
	unsigned int		rw_enters;	/* how often it was taken */
	unsigned int		rw_owner;	/* the CPU holding it (if locked) */
} krwlock_t;

typedef enum krw_t {
	RW_WRITER = 0,
	RW_READER = 1,
} krw_t;

void shim_rw_enter(krwlock_t *, krw_t);
void shim_rw_exit(krwlock_t *);
#define rw_enter(rw, op)	shim_rw_enter((rw), (op))
#define rw_exit(rw)		shim_rw_exit(rw)

#endif /* _SHIM_SYS_RWLOCK_H_ */
