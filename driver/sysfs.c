// SPDX-License-Identifier: GPL-2.0-only
/*
 * ivshmem: sysfs attributes of /sys/class/ivshmem/ivshmemN.
 *
 * The attributes are removed before remove() detaches the hardware, and
 * they only read values fixed at probe, so they need no locking.
 */

#include <linux/device.h>
#include <linux/sysfs.h>

#include "ivshmem.h"

static ssize_t size_show(struct device *dev, struct device_attribute *attr,
			 char *buf)
{
	return sysfs_emit(buf, "%llu\n",
			  (unsigned long long)to_ivshmem_dev(dev)->shm_size);
}
static DEVICE_ATTR_RO(size);

static ssize_t peer_id_show(struct device *dev, struct device_attribute *attr,
			    char *buf)
{
	return sysfs_emit(buf, "%u\n", to_ivshmem_dev(dev)->peer_id);
}
static DEVICE_ATTR_RO(peer_id);

static ssize_t vectors_show(struct device *dev, struct device_attribute *attr,
			    char *buf)
{
	return sysfs_emit(buf, "%u\n", to_ivshmem_dev(dev)->nr_vectors);
}
static DEVICE_ATTR_RO(vectors);

static ssize_t revision_show(struct device *dev, struct device_attribute *attr,
			     char *buf)
{
	return sysfs_emit(buf, "%u\n", to_ivshmem_dev(dev)->revision);
}
static DEVICE_ATTR_RO(revision);

/* One line per vector: the number of interrupts it received. */
static ssize_t interrupt_counts_show(struct device *dev,
				     struct device_attribute *attr, char *buf)
{
	struct ivshmem_dev *idev = to_ivshmem_dev(dev);
	unsigned int i;
	int len = 0;

	/* 21 bytes hold any count: stop before the page is full. */
	for (i = 0; i < idev->nr_vectors && len < PAGE_SIZE - 22; i++)
		len += sysfs_emit_at(buf, len, "%lld\n",
				     (long long)atomic64_read(&idev->vectors[i].count));
	return len;
}
static DEVICE_ATTR_RO(interrupt_counts);

static struct attribute *ivshmem_attrs[] = {
	&dev_attr_size.attr,
	&dev_attr_peer_id.attr,
	&dev_attr_vectors.attr,
	&dev_attr_revision.attr,
	&dev_attr_interrupt_counts.attr,
	NULL
};

static const struct attribute_group ivshmem_group = {
	.attrs = ivshmem_attrs,
};

const struct attribute_group *ivshmem_groups[] = {
	&ivshmem_group,
	NULL
};
