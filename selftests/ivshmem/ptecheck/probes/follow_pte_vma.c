// SPDX-License-Identifier: GPL-2.0-only
/* v6.10 and v6.11: follow_pte() took the VMA; v6.12 removed it. */
#include <linux/mm.h>

int ivshmem_probe(struct vm_area_struct *vma, unsigned long addr);
int ivshmem_probe(struct vm_area_struct *vma, unsigned long addr)
{
	spinlock_t *ptl;	/* unused: the probe only compiles */
	pte_t *ptep;

	return follow_pte(vma, addr, &ptep, &ptl);
}
