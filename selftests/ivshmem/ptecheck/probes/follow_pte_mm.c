// SPDX-License-Identifier: GPL-2.0-only
/* Until v6.10, follow_pte() took the mm rather than the VMA. */
#include <linux/mm.h>

int ivshmem_probe(struct mm_struct *mm, unsigned long addr);
int ivshmem_probe(struct mm_struct *mm, unsigned long addr)
{
	spinlock_t *ptl;	/* unused: the probe only compiles */
	pte_t *ptep;

	return follow_pte(mm, addr, &ptep, &ptl);
}
