/*
 * Shim for <machine/param.h>: page geometry.  NetBSD: NBPG is 1 << PGSHIFT,
 * PAGE_SIZE is NBPG, PAGE_MASK is PAGE_SIZE - 1.
 */
#ifndef _SHIM_MACHINE_PARAM_H_
#define _SHIM_MACHINE_PARAM_H_

#define PGSHIFT		SHIM_PGSHIFT
#define NBPG		(1 << PGSHIFT)
#define PGOFSET		(NBPG - 1)
#define PAGE_SHIFT	PGSHIFT
#define PAGE_SIZE	NBPG
#define PAGE_MASK	(PAGE_SIZE - 1)

#endif /* _SHIM_MACHINE_PARAM_H_ */
