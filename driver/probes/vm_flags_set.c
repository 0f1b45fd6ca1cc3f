// SPDX-License-Identifier: GPL-2.0-only
/* v6.3: vm_flags became read-only, changed through vm_flags_set(). */
#include <linux/mm.h>

void ivshmem_probe(struct vm_area_struct *vma);
void ivshmem_probe(struct vm_area_struct *vma)
{
	vm_flags_set(vma, VM_IO);
}
