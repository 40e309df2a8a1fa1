/*
 * Shim for NetBSD <sys/types.h>: the integer types of the target.
 * vaddr_t/vsize_t are 32 bits on a 32-bit target, so address arithmetic in
 * pmap_segtab.c wraps where it would on the machine.  The compiler's
 * freestanding headers supply the fixed-width types.
 */
#ifndef _SHIM_SYS_TYPES_H_
#define _SHIM_SYS_TYPES_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef _LP64
typedef uint64_t	vaddr_t;
typedef uint64_t	vsize_t;
#define PRIxVADDR	"lx"
#else
typedef uint32_t	vaddr_t;
typedef uint32_t	vsize_t;
#define PRIxVADDR	"x"
#endif
/*
 * Physical addresses are kept 64 bits wide in every configuration so the
 * pool can hand out the host address itself where a port maps pool pages
 * one-to-one (booke).
 */
typedef uint64_t	paddr_t;
typedef uint64_t	psize_t;
/* Offsets in a uvm_object (rev 1.31's pmap_page_attach): 64-bit signed. */
typedef int64_t		voff_t;
typedef unsigned int	u_int;
typedef unsigned long	u_long;

#endif /* _SHIM_SYS_TYPES_H_ */
