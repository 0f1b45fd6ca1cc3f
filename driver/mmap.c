// SPDX-License-Identifier: GPL-2.0-only
/*
 * ivshmem: mapping the shared memory (BAR2) and the register page (BAR0).
 *
 * Caching. BAR2 is ordinary host RAM, so it is mapped write-back: an
 * uncached mapping is many times slower under KVM. The usual helpers
 * (remap_pfn_range(), vmf_insert_pfn()) ask x86 PAT for the cache mode,
 * and PAT downgrades a write-back request to uncached-minus whenever the
 * firmware's MTRRs mark the range uncachable, which SeaBIOS does for the
 * whole 32-bit PCI hole. The page table entries are therefore written here
 * with apply_to_page_range(), like i915 does for its aperture, with the
 * VMA's own (write-back) protection. No kernel mapping of BAR2 exists, so
 * no conflicting alias is created. On bare metal the MTRR would still make
 * the access uncached; in a guest the hypervisor decides from the guest
 * page table's PAT bits, which is what matters for speed.
 *
 * Revocation. Entries are only ever installed from the fault handler, under
 * alive_rwsem and after the VMA is linked into the file's address space, so
 * that the zap in remove() reaches every one of them; a later fault sees
 * the device gone and raises SIGBUS.
 *
 * The register page is offered only when BAR0 is the sole resource in its
 * page: the rest of the page is reserved at probe so nothing can be placed
 * there later. Userspace can then reach IntrMask and IntrStatus (unused on
 * revision 1), IVPosition (read-only) and Doorbell (which the RING ioctl
 * writes anyway): nothing that lets it affect anything but its own
 * doorbells.
 */

#include <linux/ioport.h>
#include <linux/mm.h>
#include <linux/module.h>

#include <linux/ivshmem.h>

#include "ivshmem.h"

static bool allow_exec;
module_param(allow_exec, bool, 0444);
MODULE_PARM_DESC(allow_exec,
		 "Allow executable mappings of the shared memory, which other VMs can write (default: no)");

/* Entries written per fault: 2 MiB worth, clipped to the VMA. */
#define IVSHMEM_FAULT_CHUNK	SZ_2M

#define IVSHMEM_REGS_PGOFF	(IVSHMEM_MMAP_REGS_OFFSET >> PAGE_SHIFT)

struct ivshmem_fill {
	struct mm_struct *mm;
	unsigned long pfn;
	pgprot_t prot;
};

static int ivshmem_fill_pte(pte_t *pte, unsigned long addr, void *data)
{
	struct ivshmem_fill *fill = data;

	if (pte_none(ptep_get(pte)))
		set_pte_at(fill->mm, addr, pte,
			   pte_mkspecial(pfn_pte(fill->pfn, fill->prot)));
	fill->pfn++;
	return 0;
}

static vm_fault_t ivshmem_shm_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct ivshmem_file *ifile = vma->vm_file->private_data;
	struct ivshmem_dev *idev = ifile->idev;
	unsigned long start, end;
	struct ivshmem_fill fill;
	vm_fault_t ret = VM_FAULT_NOPAGE;

	start = max(vma->vm_start,
		    ALIGN_DOWN(vmf->address, IVSHMEM_FAULT_CHUNK));
	end = min(vma->vm_end, start + IVSHMEM_FAULT_CHUNK);

	fill.mm = vma->vm_mm;
	fill.pfn = PHYS_PFN(idev->shm_phys) + vma->vm_pgoff +
		   ((start - vma->vm_start) >> PAGE_SHIFT);
	fill.prot = pgprot_decrypted(vma->vm_page_prot);

	down_read(&idev->alive_rwsem);
	if (idev->gone)
		ret = VM_FAULT_SIGBUS;
	else if (apply_to_page_range(vma->vm_mm, start, end - start,
				     ivshmem_fill_pte, &fill))
		ret = VM_FAULT_OOM;
	up_read(&idev->alive_rwsem);
	return ret;
}

static const struct vm_operations_struct ivshmem_shm_vm_ops = {
	.fault = ivshmem_shm_fault,
};

static vm_fault_t ivshmem_regs_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct ivshmem_file *ifile = vma->vm_file->private_data;
	struct ivshmem_dev *idev = ifile->idev;
	vm_fault_t ret;

	down_read(&idev->alive_rwsem);
	if (idev->gone)
		ret = VM_FAULT_SIGBUS;
	else
		ret = vmf_insert_pfn(vma, vmf->address,
				     PHYS_PFN(idev->regs_phys));
	up_read(&idev->alive_rwsem);
	return ret;
}

static const struct vm_operations_struct ivshmem_regs_vm_ops = {
	.fault = ivshmem_regs_fault,
};

/**
 * ivshmem_mmap() - map the shared memory or the register page
 * @file: an open device file
 * @vma: the new mapping
 *
 * Offsets below the BAR2 size map shared memory; IVSHMEM_MMAP_REGS_OFFSET
 * maps the register page (exactly one page). Nothing is mapped here: the
 * fault handlers fill the page tables.
 *
 * Context: process context, mmap_lock held for writing.
 * Return: 0, -EINVAL for a private mapping or a range outside the device,
 * -EPERM for an executable mapping, -ENODEV once the device was removed.
 */
int ivshmem_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct ivshmem_file *ifile = file->private_data;
	struct ivshmem_dev *idev = ifile->idev;
	unsigned long pages = vma_pages(vma);
	unsigned long shm_pages = idev->shm_size >> PAGE_SHIFT;
	int ret = 0;

	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;

	down_read(&idev->alive_rwsem);
	if (idev->gone) {
		ret = -ENODEV;
	} else if (vma->vm_pgoff < shm_pages) {
		if (pages > shm_pages - vma->vm_pgoff) {
			ret = -EINVAL;
		} else if ((vma->vm_flags & VM_EXEC) && !allow_exec) {
			ret = -EPERM;
		} else {
			if (!allow_exec)
				vm_flags_clear(vma, VM_MAYEXEC);
			vma->vm_ops = &ivshmem_shm_vm_ops;
		}
	} else if (vma->vm_pgoff == IVSHMEM_REGS_PGOFF && pages == 1 &&
		   idev->regs_mappable) {
		if (vma->vm_flags & VM_EXEC) {
			ret = -EPERM;
		} else {
			vm_flags_clear(vma, VM_MAYEXEC);
			vma->vm_page_prot =
				pgprot_noncached(vma->vm_page_prot);
			vma->vm_ops = &ivshmem_regs_vm_ops;
		}
	} else {
		ret = -EINVAL;
	}
	up_read(&idev->alive_rwsem);
	if (ret)
		return ret;

	vm_flags_set(vma, VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP);
	return 0;
}

/**
 * ivshmem_zap_mappings() - revoke every user mapping of a device
 * @idev: the device, already marked gone
 *
 * Each open file may have its own inode (a device node made elsewhere with
 * mknod), so each file's address space is zapped.
 */
void ivshmem_zap_mappings(struct ivshmem_dev *idev)
{
	struct ivshmem_file *ifile;

	mutex_lock(&idev->files_lock);
	list_for_each_entry(ifile, &idev->files, node)
		unmap_mapping_range(ifile->file->f_mapping, 0, 0, 1);
	mutex_unlock(&idev->files_lock);
}

/*
 * Reserve the parts of BAR0's page that BAR0 does not cover, so that the
 * page can be mapped without exposing another resource. If anything is
 * there already, the register page is simply not offered.
 */
void ivshmem_mmap_probe(struct ivshmem_dev *idev)
{
	struct pci_dev *pdev = idev->pdev;
	resource_size_t start = pci_resource_start(pdev, IVSHMEM_BAR_REGS);
	resource_size_t end = pci_resource_end(pdev, IVSHMEM_BAR_REGS);
	resource_size_t page = ALIGN_DOWN(start, PAGE_SIZE);
	resource_size_t page_end = page + PAGE_SIZE - 1;

	/* Shared memory reaching the register offset would hide the page. */
	if (!(pci_resource_flags(pdev, IVSHMEM_BAR_REGS) & IORESOURCE_MEM) ||
	    end > page_end || idev->shm_size > IVSHMEM_MMAP_REGS_OFFSET)
		return;

	if (start > page) {
		idev->regs_guard[0] = request_mem_region(page, start - page,
							 "ivshmem-regs-page");
		if (!idev->regs_guard[0])
			goto busy;
	}
	if (end < page_end) {
		idev->regs_guard[1] = request_mem_region(end + 1, page_end - end,
							 "ivshmem-regs-page");
		if (!idev->regs_guard[1])
			goto busy;
	}
	idev->regs_phys = page;
	idev->regs_mappable = true;
	return;

busy:
	dev_info(&pdev->dev, "BAR0 shares its page with another resource: no register mapping\n");
	ivshmem_mmap_remove(idev);
}

void ivshmem_mmap_remove(struct ivshmem_dev *idev)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(idev->regs_guard); i++) {
		if (idev->regs_guard[i])
			release_mem_region(idev->regs_guard[i]->start,
					   resource_size(idev->regs_guard[i]));
		idev->regs_guard[i] = NULL;
	}
	idev->regs_mappable = false;
}
