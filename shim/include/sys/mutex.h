/*
 * Shim for NetBSD <sys/mutex.h>: a spin mutex.  One thread drives a world,
 * so the shim only checks the protocol: entering a held mutex or leaving a
 * free one panics, as LOCKDEBUG would.
 */
#ifndef _SHIM_SYS_MUTEX_H_
#define _SHIM_SYS_MUTEX_H_

typedef struct kmutex {
	volatile unsigned int	mtx_locked;
	unsigned int		mtx_enters;	/* how often it was taken */
} kmutex_t;

void shim_mutex_spin_enter(kmutex_t *);
void shim_mutex_spin_exit(kmutex_t *);
#define mutex_spin_enter(m)	shim_mutex_spin_enter(m)
#define mutex_spin_exit(m)	shim_mutex_spin_exit(m)

#endif /* _SHIM_SYS_MUTEX_H_ */
