/*
 * Shim for <machine/pmap.h> and <machine/pte.h> of the three ports modelled
 * (mips, powerpc booke, riscv), as of August 2020.  Facts:
 *  - pt_entry_t is 32 bits on mips (every ABI, n64 included) and booke,
 *    64 bits on riscv64 (SHIM_PTE_BITS);
 *  - NBSEG is the int (1 << SEGSHIFT) on these ports, NBXSEG (1UL << XSEGSHIFT);
 *  - on LP64 NSEGPG, the pointers per segtab page, equals PMAP_SEGTABSIZE;
 *  - PMAP_INVALID_SEGTAB_ADDRESS is NULL on mips, 0xfeeddead on booke and
 *    VM_MIN_KERNEL_ADDRESS - PAGE_SIZE on riscv64 (SHIM_INVALID_SEGTAB);
 *  - the pmap_md_xtab_(de)activate hooks do nothing on these ports; the shim
 *    records that they were called, for the harness to compare;
 *  - pmap_md_direct_mapped_vaddr_p(va) is true in the port's direct-mapped
 *    windows (KSEG0/XKPHYS on mips, outside the kernel VA range on booke),
 *    given as up to two half-open ranges SHIM_DMAP{0,1}_{LO,HI}.
 */
#ifndef _SHIM_MACHINE_PMAP_H_
#define _SHIM_MACHINE_PMAP_H_

#include <sys/types.h>
#include <machine/param.h>	/* PGSHIFT, NBPG */

#if SHIM_PTE_BITS == 64
typedef uint64_t	pt_entry_t;
#define PRIxPTE		"lx"
#else
typedef uint32_t	pt_entry_t;
#define PRIxPTE		"x"
#endif
#define pte_value(pte)	(pte)
/* <machine/pte.h> of every modelled port: a PTE is empty when it is 0
 * (rev 1.21 and earlier test it this way in their DEBUG checks). */
static inline bool
pte_zero_p(pt_entry_t pte)
{
	return pte == 0;
}

#define SEGSHIFT	SHIM_SEGSHIFT
#define NBSEG		(1 << SEGSHIFT)
#define SEGOFSET	(NBSEG - 1)
#define NPTEPG		(NBPG / sizeof(pt_entry_t))
#define PMAP_SEGTABSIZE	SHIM_SEGTABSIZE

/*
 * <machine/pte.h> since 2023 (riscv pte.h 1.13, 2023/05/07): the index of
 * va's PTE within its page of PTEs, the bits just above the page offset.
 * Revisions after 1.31 call it where 1.31 open-codes
 * (va >> PGSHIFT) & (NPTEPG - 1); it means the same on every modelled port.
 */
static inline size_t
pte_index(vaddr_t va)
{
	return (size_t)((va >> PGSHIFT) & (NPTEPG - 1));
}
#ifdef _LP64
#define XSEGSHIFT	SHIM_XSEGSHIFT
#define NBXSEG		(1UL << XSEGSHIFT)
#define XSEGOFSET	(NBXSEG - 1)
#define NSEGPG		PMAP_SEGTABSIZE
#endif

#define PMAP_INVALID_SEGTAB_ADDRESS \
	((union pmap_segtab *)(uintptr_t)SHIM_INVALID_SEGTAB)

#include <uvm/pmap/pmap.h>

struct vm_page *pmap_md_alloc_poolpage(int);
/*
 * On the target PMAP_MAP_POOLPAGE gives a vaddr_t as wide as a pointer, and
 * the file casts it straight to one (lines 366, 550).  On this 64-bit host a
 * 32-bit configuration's pool may lie above 4 GiB (see shim/src/placement.rs),
 * so the KVA comes back at the host's pointer width.  PMAP_UNMAP_POOLPAGE
 * still takes the vaddr_t the file casts its pointer to (lines 301, 566).
 */
/*
 * NetBSD's uvm/pmap headers of 2024 on give the hook the mapping's size as a
 * second argument (pmap_md_map_poolpage(pa, PAGE_SIZE)), and a later revision
 * of the file may call it so directly.  The size is always one page here, so
 * the shim takes an optional second argument and ignores it: both spellings
 * build unedited.
 */
uintptr_t pmap_md_map_poolpage(paddr_t, ...);
paddr_t pmap_md_unmap_poolpage(vaddr_t);
#define PMAP_ALLOC_POOLPAGE(flags)	pmap_md_alloc_poolpage(flags)
#define PMAP_MAP_POOLPAGE(pa)		pmap_md_map_poolpage(pa)
#define PMAP_UNMAP_POOLPAGE(va)		pmap_md_unmap_poolpage(va)
/*
 * The 2022 uvm/pmap/pmap.h maps segtab and PTE pages the way it maps pool
 * pages (pmap_md_map_poolpage(pa, PAGE_SIZE) there; the size is always one
 * page, so the shim's one-argument hook serves).  Rev 1.31 allocates PTE
 * pages with uvm_km_alloc instead when PMAP_MAP_PTEPAGE is not defined;
 * SHIM_NO_MAP_PTEPAGE builds that path.
 */
#define PMAP_MAP_SEGTABPAGE(pa)		pmap_md_map_poolpage(pa)
#ifndef SHIM_NO_MAP_PTEPAGE
#define PMAP_MAP_PTEPAGE(pa)		pmap_md_map_poolpage(pa)
#endif

struct lwp;
void pmap_md_xtab_activate(struct pmap *, struct lwp *);
void pmap_md_xtab_deactivate(struct pmap *);
bool pmap_md_direct_mapped_vaddr_p(vaddr_t);

#endif /* _SHIM_MACHINE_PMAP_H_ */
