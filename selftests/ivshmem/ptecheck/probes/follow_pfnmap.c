// SPDX-License-Identifier: GPL-2.0-only
/* From v6.12: follow_pfnmap_start() reports pfn and pgprot of a PFN map. */
#include <linux/mm.h>

pgprot_t ivshmem_probe(struct vm_area_struct *vma, unsigned long addr);
pgprot_t ivshmem_probe(struct vm_area_struct *vma, unsigned long addr)
{
	struct follow_pfnmap_args args = { .vma = vma, .address = addr };
	pgprot_t prot = __pgprot(0);

	if (!follow_pfnmap_start(&args)) {
		prot = args.pgprot;
		follow_pfnmap_end(&args);
	}
	return prot;
}
