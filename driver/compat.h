/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * ivshmem: the one place where kernel differences are handled.
 *
 * Each IVSHMEM_HAVE_* comes from a compile test in driver/probes/, run by
 * Kbuild against the kernel being built for (see scripts/probe.mk); each
 * shim names the kernel change it covers.
 */
#ifndef _IVSHMEM_COMPAT_H
#define _IVSHMEM_COMPAT_H

#include <linux/eventfd.h>
#include <linux/mm.h>

/*
 * v6.3, commit bc292ab00f6c ("mm: introduce vma->vm_flags wrapper
 * functions"): vm_flags became read-only, changed through helpers.
 */
#ifndef IVSHMEM_HAVE_VM_FLAGS_SET
static inline void vm_flags_set(struct vm_area_struct *vma, vm_flags_t flags)
{
	vma->vm_flags |= flags;
}

static inline void vm_flags_clear(struct vm_area_struct *vma, vm_flags_t flags)
{
	vma->vm_flags &= ~flags;
}
#endif

/*
 * v6.8, commit 3652117f8548 ("eventfd: simplify eventfd_signal()"): the
 * count argument was dropped; it always adds one.
 */
static inline void ivshmem_eventfd_signal(struct eventfd_ctx *ctx)
{
#ifdef IVSHMEM_HAVE_EVENTFD_SIGNAL_NO_COUNT
	eventfd_signal(ctx);
#else
	eventfd_signal(ctx, 1);
#endif
}

/*
 * v6.12, commits 868941b14441 ("fs: remove no_llseek") and cb787f4ac0c2
 * ("[tree-wide] finally take no_llseek out"): a NULL .llseek is what marks
 * a file unseekable (-ESPIPE), as it already did since v6.0, where
 * do_dentry_open() clears FMODE_LSEEK for it.
 */
#ifndef IVSHMEM_HAVE_NO_LLSEEK
#define no_llseek NULL
#endif

#endif /* _IVSHMEM_COMPAT_H */
