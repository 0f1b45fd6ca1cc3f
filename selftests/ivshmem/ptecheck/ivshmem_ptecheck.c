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

static int ptecheck_lookup(unsigned long addr, struct ptecheck_result *res)
{
	struct mm_struct *mm = current->mm;
	unsigned long v;
#ifdef IVSHMEM_HAVE_FOLLOW_PTE_MM
	spinlock_t *ptl;	/* page table lock held by follow_pte() */
	pte_t *ptep;
#endif
	int idx, ret;

	mmap_read_lock(mm);
#ifdef IVSHMEM_HAVE_FOLLOW_PTE_MM
	ret = follow_pte(mm, addr, &ptep, &ptl);
	if (!ret) {
		v = pte_val(*ptep);
		pte_unmap_unlock(ptep, ptl);
	}
#else
	/* Kernels from v6.10 on: not supported yet. */
	ret = -EOPNOTSUPP;
	v = 0;
#endif
	mmap_read_unlock(mm);
	if (ret)
		return ret;

	idx = (!!(v & _PAGE_PAT) << 2) | (!!(v & _PAGE_PCD) << 1) |
	      !!(v & _PAGE_PWT);
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
	.llseek = no_llseek,
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
