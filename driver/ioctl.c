// SPDX-License-Identifier: GPL-2.0-only
/*
 * ivshmem: ioctl dispatch and argument checking.
 *
 * Everything userspace passes is checked here, before any state changes;
 * the helpers in the other files trust their arguments.
 */

#include <linux/fs.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include <linux/ivshmem.h>

#include "ivshmem.h"

static long ivshmem_ioctl_info(struct ivshmem_dev *idev, void __user *arg)
{
	struct ivshmem_info info;

	memset(&info, 0, sizeof(info));

	down_read(&idev->alive_rwsem);
	if (idev->gone) {
		up_read(&idev->alive_rwsem);
		return -ENODEV;
	}
	info.size = idev->shm_size;
	info.peer_id = idev->peer_id;
	info.nr_vectors = idev->nr_vectors;
	info.revision = idev->revision;
	info.regs_offset = IVSHMEM_MMAP_REGS_OFFSET;
	if (idev->nr_vectors)
		info.flags |= IVSHMEM_INFO_DOORBELL;
	if (idev->regs_mappable)
		info.flags |= IVSHMEM_INFO_REGS_MMAP;
	up_read(&idev->alive_rwsem);

	return copy_to_user(arg, &info, sizeof(info)) ? -EFAULT : 0;
}

static long ivshmem_ioctl_bind(struct ivshmem_file *ifile, void __user *arg)
{
	struct ivshmem_dev *idev = ifile->idev;
	struct ivshmem_bind bind;
	s32 *fds;
	long ret;

	if (copy_from_user(&bind, arg, sizeof(bind)))
		return -EFAULT;
	if (READ_ONCE(idev->gone))
		return -ENODEV;
	if (!idev->nr_vectors)
		return -EOPNOTSUPP;
	if (bind.flags || bind.reserved || !bind.count ||
	    bind.first_vector >= idev->nr_vectors ||
	    bind.count > idev->nr_vectors - bind.first_vector)
		return -EINVAL;

	fds = memdup_user(u64_to_user_ptr(bind.fds),
			  array_size(bind.count, sizeof(*fds)));
	if (IS_ERR(fds))
		return PTR_ERR(fds);

	ret = ivshmem_bind(ifile, bind.first_vector, bind.count, fds);
	kfree(fds);
	return ret;
}

static long ivshmem_ioctl_ring(struct ivshmem_dev *idev, void __user *arg)
{
	struct ivshmem_ring ring;

	if (copy_from_user(&ring, arg, sizeof(ring)))
		return -EFAULT;
	if (READ_ONCE(idev->gone))
		return -ENODEV;
	if (!idev->nr_vectors)
		return -EOPNOTSUPP;
	if (ring.flags || ring.reserved ||
	    ring.peer_id > IVSHMEM_MAX_PEER_ID ||
	    ring.vector > IVSHMEM_MAX_RING_VECTOR)
		return -EINVAL;

	return ivshmem_ring(idev, ring.peer_id, ring.vector);
}

/**
 * ivshmem_ioctl() - dispatch an ioctl on a device file
 * @file: the open device file
 * @cmd: IVSHMEM_IOCTL_*
 * @arg: user pointer to the command's structure
 *
 * Context: process context.
 * Return: 0 or a negative errno; -ENOTTY for an unknown command.
 */
long ivshmem_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct ivshmem_file *ifile = file->private_data;
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case IVSHMEM_IOCTL_INFO:
		return ivshmem_ioctl_info(ifile->idev, uarg);
	case IVSHMEM_IOCTL_BIND:
		return ivshmem_ioctl_bind(ifile, uarg);
	case IVSHMEM_IOCTL_RING:
		/* Ringing acts on other peers: it takes a file open for writing. */
		if (!(file->f_mode & FMODE_WRITE))
			return -EBADF;
		return ivshmem_ioctl_ring(ifile->idev, uarg);
	default:
		return -ENOTTY;
	}
}
