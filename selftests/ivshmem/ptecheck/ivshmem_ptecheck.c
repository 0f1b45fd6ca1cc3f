// SPDX-License-Identifier: GPL-2.0-only
/*
 * ivshmem_ptecheck: test-only helper that reports the cache attribute of
 * the calling process's page table entry for an address, so the selftests
 * can prove that shared memory is mapped write-back. Debian's kernels lack
 * PTDUMP_DEBUGFS, and the PAT memtype list does not show mappings that
 * bypass PAT tracking.
 *
 * Protocol on /sys/kernel/debug/ivshmem_ptecheck: write the address in
 * hex, then read one line from the same file descriptor:
 * "pte=<hex> present=<0|1> pwt=<0|1> pcd=<0|1> pat=<0|1> mode=<name>".
 * Not for production kernels: it is a debugging aid only.
 */

#include <linux/debugfs.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/pgtable.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

struct ptecheck_result {
	char line[160];
};

/* Linux's PAT layout: index = PAT << 2 | PCD << 1 | PWT. */
static const char * const ptecheck_modes[8] = {
	"write-back", "write-combining", "uncached-minus", "uncached",
	"write-back", "write-protected", "uncached-minus", "write-through",
};

/*
 * ptecheck_pte() - the page table entry of @addr in @mm, mmap lock held.
 *
 * Until v6.10 follow_pte() took the mm; commit 29ae7d96d166 ("mm: pass VMA
 * instead of MM to follow_pte()") made it take the VMA in v6.10, and v6.12
 * removed it ("mm: remove follow_pte()") for follow_pfnmap_start() (commit
 * 6da8e9634bb7, "mm: new follow_pfnmap API"), which gives the pfn and the
 * protection bits of a VM_IO/VM_PFNMAP mapping, such as the driver's, rather
 * than the entry. For the 4 KiB entries the driver installs, pfn and
 * protection are the whole entry.
 */
#if defined(IVSHMEM_HAVE_FOLLOW_PFNMAP)
static int ptecheck_pte(struct mm_struct *mm, unsigned long addr,
			unsigned long *val)
{
	struct follow_pfnmap_args args = { .address = addr };
	int ret;

	args.vma = vma_lookup(mm, addr);
	if (!args.vma)
		return -EFAULT;
	ret = follow_pfnmap_start(&args);
	if (ret)
		return ret;
	*val = (args.pfn << PAGE_SHIFT) | pgprot_val(args.pgprot);
	follow_pfnmap_end(&args);
	return 0;
}
#elif defined(IVSHMEM_HAVE_FOLLOW_PTE_VMA) || defined(IVSHMEM_HAVE_FOLLOW_PTE_MM)
static int ptecheck_pte(struct mm_struct *mm, unsigned long addr,
			unsigned long *val)
{
	spinlock_t *ptl;	/* page table lock held by follow_pte() */
	pte_t *ptep;
	int ret;

#ifdef IVSHMEM_HAVE_FOLLOW_PTE_VMA
	struct vm_area_struct *vma = vma_lookup(mm, addr);

	if (!vma)
		return -EFAULT;
	ret = follow_pte(vma, addr, &ptep, &ptl);
#else
	ret = follow_pte(mm, addr, &ptep, &ptl);
#endif
	if (ret)
		return ret;
	__acquire(ptl);	/* for sparse: follow_pte() returned it locked */
	*val = pte_val(ptep_get(ptep));
	pte_unmap_unlock(ptep, ptl);
	return 0;
}
#else
static int ptecheck_pte(struct mm_struct *mm, unsigned long addr,
			unsigned long *val)
{
	return -EOPNOTSUPP;
}
#endif

static int ptecheck_lookup(unsigned long addr, struct ptecheck_result *res)
{
	struct mm_struct *mm = current->mm;
	unsigned long v = 0;
	int idx, ret;

	mmap_read_lock(mm);
	ret = ptecheck_pte(mm, addr, &v);
	mmap_read_unlock(mm);
	if (ret)
		return ret;

	idx = (v & _PAGE_PAT ? 4 : 0) | (v & _PAGE_PCD ? 2 : 0) |
	      (v & _PAGE_PWT ? 1 : 0);
	snprintf(res->line, sizeof(res->line),
		 "pte=%#lx present=%d pwt=%d pcd=%d pat=%d mode=%s\n",
		 v, !!(v & _PAGE_PRESENT), !!(v & _PAGE_PWT),
		 !!(v & _PAGE_PCD), !!(v & _PAGE_PAT), ptecheck_modes[idx]);
	return 0;
}

static int ptecheck_open(struct inode *inode, struct file *file)
{
	struct ptecheck_result *res = kzalloc(sizeof(*res), GFP_KERNEL);

	file->private_data = res;
	return res ? 0 : -ENOMEM;
}

static int ptecheck_release(struct inode *inode, struct file *file)
{
	kfree(file->private_data);
	return 0;
}

static ssize_t ptecheck_write(struct file *file, const char __user *buf,
			      size_t len, loff_t *ppos)
{
	unsigned long addr;
	int ret;

	ret = kstrtoul_from_user(buf, len, 16, &addr);
	if (ret)
		return ret;
	ret = ptecheck_lookup(addr, file->private_data);
	return ret ? ret : len;
}

static ssize_t ptecheck_read(struct file *file, char __user *buf, size_t len,
			     loff_t *ppos)
{
	struct ptecheck_result *res = file->private_data;

	return simple_read_from_buffer(buf, len, ppos, res->line,
				       strlen(res->line));
}

static const struct file_operations ptecheck_fops = {
	.owner = THIS_MODULE,
	.open = ptecheck_open,
	.release = ptecheck_release,
	.write = ptecheck_write,
	.read = ptecheck_read,
	/* no .llseek: unseekable since v6.0; no_llseek is gone in v6.12 */
};

static struct dentry *ptecheck_dentry;

static int __init ptecheck_init(void)
{
	ptecheck_dentry = debugfs_create_file("ivshmem_ptecheck", 0600, NULL,
					      NULL, &ptecheck_fops);
	return 0;
}
module_init(ptecheck_init);

static void __exit ptecheck_exit(void)
{
	debugfs_remove(ptecheck_dentry);
}
module_exit(ptecheck_exit);

MODULE_DESCRIPTION("ivshmem selftest helper: cache attribute of a user PTE");
MODULE_LICENSE("GPL");
