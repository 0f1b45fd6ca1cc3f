// SPDX-License-Identifier: GPL-2.0-only
/* Until v6.12, no_llseek() existed for files that cannot seek. */
#include <linux/fs.h>

static const struct file_operations ivshmem_probe_fops = {
	.llseek = no_llseek,
};

const struct file_operations *ivshmem_probe(void);
const struct file_operations *ivshmem_probe(void)
{
	return &ivshmem_probe_fops;
}
