// SPDX-License-Identifier: MIT
/*
 * dev.c - opening a device, describing it, mapping its memory and ringing
 * doorbells.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <libudev.h>

#include "internal.h"

/* Open @path, check that it is the device expected, and build a handle. */
static int open_node(const char *path, dev_t rdev, bool known,
		     struct ivshmem_dev **out)
{
	struct ivshmem_dev *dev;
	struct stat st;
	long page;
	int fd, ret;

	fd = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	/* the node may have been replaced since it was looked up */
	if (fstat(fd, &st)) {
		ret = -errno;
		goto err_close;
	}
	if (!S_ISCHR(st.st_mode) || st.st_rdev != rdev) {
		ret = -ENODEV;
		goto err_close;
	}

	dev = calloc(1, sizeof(*dev));
	if (!dev) {
		ret = -ENOMEM;
		goto err_close;
	}
	dev->fd = fd;
	dev->rdev = rdev;
	page = sysconf(_SC_PAGESIZE);
	dev->page_size = page > 0 ? (size_t)page : 4096;
	if (ioctl(fd, IVSHMEM_IOCTL_INFO, &dev->info)) {
		/* a device udev did not vouch for and that is not ours */
		ret = errno == ENOTTY || (!known && errno == EINVAL) ?
			-ENODEV : -errno;
		goto err_free;
	}
	ivshmem__events_init(dev);
	if (dev->epfd < 0) {
		ret = dev->epfd;
		goto err_free;
	}
	*out = dev;
	return 0;

err_free:
	free(dev);
err_close:
	close(fd);
	return ret;
}

static int open_name(const char *name, int want, struct ivshmem_dev **out)
{
	char path[PATH_MAX];
	bool known;
	dev_t rdev;
	int ret;

	if (!out)
		return -EINVAL;
	*out = NULL;
	ret = ivshmem__resolve(name, want, path, sizeof(path), &rdev, &known);
	if (ret < 0)
		return ret;
	return open_node(path, rdev, known, out);
}

IVSHMEM_EXPORT int ivshmem_open(const char *name, struct ivshmem_dev **dev)
{
	return open_name(name, IVS_NAME_ANY, dev);
}

IVSHMEM_EXPORT int ivshmem_open_index(unsigned int index, struct ivshmem_dev **dev)
{
	char name[16];

	if (index > INT_MAX)
		return -EINVAL;
	snprintf(name, sizeof(name), "%u", index);
	return open_name(name, IVS_NAME_INDEX, dev);
}

IVSHMEM_EXPORT int ivshmem_open_path(const char *path, struct ivshmem_dev **dev)
{
	char rel[PATH_MAX];

	if (path && *path && !strchr(path, '/')) {
		/* a bare file name is a path here, not an index */
		if (snprintf(rel, sizeof(rel), "./%s", path) >= (int)sizeof(rel))
			return -ENAMETOOLONG;
		path = rel;
	}
	return open_name(path, IVS_NAME_PATH, dev);
}

IVSHMEM_EXPORT int ivshmem_open_pci(const char *pci_address, struct ivshmem_dev **dev)
{
	return open_name(pci_address, IVS_NAME_PCI, dev);
}

IVSHMEM_EXPORT void ivshmem_close(struct ivshmem_dev *dev)
{
	size_t i;

	if (!dev)
		return;
	for (i = 0; i < dev->nmaps; i++)
		munmap(dev->maps[i].addr, dev->maps[i].len);
	free(dev->maps);
	if (dev->regs)
		munmap((void *)dev->regs, dev->page_size);
	/* closing the device file drops its bindings */
	close(dev->fd);
	ivshmem__events_release(dev);
	free(dev);
}

IVSHMEM_EXPORT int ivshmem_fd(const struct ivshmem_dev *dev)
{
	return dev ? dev->fd : -EINVAL;
}

IVSHMEM_EXPORT uint64_t ivshmem_size(const struct ivshmem_dev *dev)
{
	return dev ? dev->info.size : 0;
}

IVSHMEM_EXPORT int ivshmem_get_info(struct ivshmem_dev *dev, struct ivshmem_info *info)
{
	if (!dev || !info)
		return -EINVAL;
	if (ioctl(dev->fd, IVSHMEM_IOCTL_INFO, info))
		return -errno;
	return 0;
}

IVSHMEM_EXPORT int ivshmem_describe(struct ivshmem_dev *dev, struct ivshmem_devinfo *out)
{
	struct ivshmem_info info;
	int ret;

	if (!dev || !out)
		return -EINVAL;
	ret = ivshmem_get_info(dev, &info);
	if (ret)
		return ret;
	ret = ivshmem__describe_rdev(dev->rdev, out);
	if (ret == -ENOENT || ret == -EIO) {
		/* udev does not know it (no sysfs), or it is going away */
		memset(out, 0, sizeof(*out));
		out->index = -1;
	} else if (ret) {
		return ret;
	}
	/* the driver's word is the authoritative one */
	out->size = info.size;
	out->peer_id = info.peer_id;
	out->vectors = info.nr_vectors;
	out->revision = info.revision;
	return 0;
}

IVSHMEM_EXPORT int ivshmem_interrupt_counts(struct ivshmem_dev *dev, uint64_t *counts,
					    size_t max, size_t *n)
{
	struct udev_device *d = NULL;
	struct udev *udev;
	const char *v;
	char *end;
	size_t i;
	int ret = 0;

	if (!dev || !n || (max && !counts))
		return -EINVAL;
	*n = 0;
	if (ivshmem__device_gone(dev))
		return -ENODEV;
	if (!dev->info.nr_vectors)
		return 0;

	udev = udev_new();
	if (!udev)
		return -ENOMEM;
	d = udev_device_new_from_devnum(udev, 'c', dev->rdev);
	v = d ? udev_device_get_sysattr_value(d, "interrupt_counts") : NULL;
	if (!v) {
		ret = ivshmem__device_gone(dev) ? -ENODEV : -EIO;
		goto out;
	}
	/* one decimal count per line, one line per vector */
	for (i = 0; *v; i++) {
		unsigned long long c;

		errno = 0;
		c = strtoull(v, &end, 10);
		if (errno || end == v || (*end && *end != '\n')) {
			ret = -EIO;
			goto out;
		}
		if (i < max)
			counts[i] = c;
		v = *end ? end + 1 : end;
	}
	*n = i;
out:
	if (d)
		udev_device_unref(d);
	udev_unref(udev);
	return ret;
}

IVSHMEM_EXPORT int ivshmem_map(struct ivshmem_dev *dev, uint64_t offset, uint64_t length,
			       unsigned int flags, void **addr)
{
	uint64_t size, maplen;
	void *p;
	int prot = PROT_READ;

	if (!dev || !addr || (flags & ~IVSHMEM_MAP_READONLY))
		return -EINVAL;
	size = dev->info.size;
	if (offset % dev->page_size || offset >= size)
		return -EINVAL;
	if (!length)
		length = size - offset;
	if (length > size - offset)
		return -EINVAL;
	/* the size is page aligned (the driver insists), so this stays inside */
	maplen = (length + dev->page_size - 1) / dev->page_size * dev->page_size;
	if (maplen > SIZE_MAX || offset > (uint64_t)INT64_MAX)
		return -EFBIG;
	if (!(flags & IVSHMEM_MAP_READONLY))
		prot |= PROT_WRITE;

	/* make room first, so that a mapping is never made and then lost */
	if (dev->nmaps == dev->maps_cap) {
		size_t cap = dev->maps_cap ? dev->maps_cap * 2 : 4;
		struct ivshmem_mapping *m = realloc(dev->maps, cap * sizeof(*m));

		if (!m)
			return -ENOMEM;
		dev->maps = m;
		dev->maps_cap = cap;
	}
	p = mmap(NULL, maplen, prot, MAP_SHARED, dev->fd, (off_t)offset);
	if (p == MAP_FAILED)
		return -errno;
	dev->maps[dev->nmaps].addr = p;
	dev->maps[dev->nmaps].len = maplen;
	dev->nmaps++;
	*addr = p;
	return 0;
}

IVSHMEM_EXPORT int ivshmem_unmap(struct ivshmem_dev *dev, void *addr)
{
	size_t i;

	if (!dev || !addr)
		return -EINVAL;
	for (i = 0; i < dev->nmaps; i++) {
		if (dev->maps[i].addr != addr)
			continue;
		if (munmap(addr, dev->maps[i].len))
			return -errno;
		dev->maps[i] = dev->maps[--dev->nmaps];
		return 0;
	}
	return -EINVAL;
}

IVSHMEM_EXPORT int ivshmem_ring(struct ivshmem_dev *dev, uint32_t peer_id, uint32_t vector)
{
	struct ivshmem_ring ring = { .peer_id = peer_id, .vector = vector };

	if (!dev)
		return -EINVAL;
	if (ioctl(dev->fd, IVSHMEM_IOCTL_RING, &ring))
		return -errno;
	return 0;
}

IVSHMEM_EXPORT int ivshmem_ring_mmio(struct ivshmem_dev *dev, uint32_t peer_id,
				     uint32_t vector)
{
	void *p;

	if (!dev)
		return -EINVAL;
	if (!(dev->info.flags & IVSHMEM_INFO_DOORBELL) ||
	    !(dev->info.flags & IVSHMEM_INFO_REGS_MMAP))
		return -EOPNOTSUPP;
	if (peer_id > IVSHMEM_MAX_PEER_ID || vector > IVSHMEM_MAX_RING_VECTOR)
		return -EINVAL;
	if (!dev->regs) {
		p = mmap(NULL, dev->page_size, PROT_READ | PROT_WRITE, MAP_SHARED,
			 dev->fd, (off_t)dev->info.regs_offset);
		if (p == MAP_FAILED)
			return -errno;
		dev->regs = p;
	}
	/*
	 * Stores to the shared memory must be visible before the peer can
	 * see the interrupt: order them before the (uncached) register store,
	 * as the ioctl's system call does implicitly.
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	dev->regs[IVSHMEM_REG_DOORBELL / sizeof(uint32_t)] = peer_id << 16 | vector;
	return 0;
}
