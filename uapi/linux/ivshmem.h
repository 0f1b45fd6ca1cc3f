/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * ivshmem: userspace ABI of the guest driver for QEMU's Inter-VM Shared
 * Memory PCI device (1af4:1110, ivshmem-plain and ivshmem-doorbell).
 *
 * Each device is a character device /dev/ivshmemN. Its file offers:
 *
 *  - mmap() at offset 0: the shared memory (BAR2), write-back cached,
 *    MAP_SHARED only, any page-aligned sub-range of [0, size).
 *  - mmap() at IVSHMEM_MMAP_REGS_OFFSET: one page holding the device's
 *    registers (BAR0), uncached, MAP_SHARED only, never executable, for
 *    ringing doorbells without a system call. Offered only when the info
 *    flags carry IVSHMEM_INFO_REGS_MMAP.
 *  - the ioctls below. Unknown commands fail with ENOTTY. Every structure
 *    has fixed-width fields; fields named flags, pad or reserved must be
 *    zero on input (EINVAL otherwise) and are zero on output, so that
 *    later versions can give them a meaning.
 *  - poll(): EPOLLHUP | EPOLLERR once the device was removed; after that
 *    every call on the file fails with ENODEV.
 *
 * The ioctl magic 0xB9 was unassigned in
 * Documentation/userspace-api/ioctl/ioctl-number.rst when this ABI was
 * defined; this driver uses command numbers 0x00-0x1F.
 */
#ifndef _UAPI_LINUX_IVSHMEM_H
#define _UAPI_LINUX_IVSHMEM_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define IVSHMEM_IOCTL_MAGIC		0xB9

/* Offset of the register page in the device file's mmap space (1 TiB). */
#define IVSHMEM_MMAP_REGS_OFFSET	0x10000000000ULL

/* Register layout of the page mapped at IVSHMEM_MMAP_REGS_OFFSET. */
#define IVSHMEM_REG_IVPOSITION		0x08	/* read-only: own peer id */
#define IVSHMEM_REG_DOORBELL		0x0c	/* write-only: (peer << 16) | vector */

/* Highest peer id the device can address. */
#define IVSHMEM_MAX_PEER_ID		0xffff
/* Highest vector QEMU decodes in a doorbell write (8 bits). */
#define IVSHMEM_MAX_RING_VECTOR		0xff

/* struct ivshmem_info flags */
#define IVSHMEM_INFO_DOORBELL		0x00000001U /* has MSI-X vectors, rings peers */
#define IVSHMEM_INFO_REGS_MMAP		0x00000002U /* register page can be mmapped */

/**
 * struct ivshmem_info - what IVSHMEM_IOCTL_INFO returns
 * @size: size in bytes of the shared memory (BAR2)
 * @peer_id: this guest's peer id (IVPosition), 0 on ivshmem-plain
 * @nr_vectors: number of MSI-X doorbell vectors, 0 on ivshmem-plain
 * @flags: IVSHMEM_INFO_* bits
 * @revision: PCI revision of the device
 * @regs_offset: mmap offset of the register page (IVSHMEM_MMAP_REGS_OFFSET)
 * @reserved: zero
 */
struct ivshmem_info {
	__u64 size;
	__u32 peer_id;
	__u32 nr_vectors;
	__u32 flags;
	__u32 revision;
	__u64 regs_offset;
	__u64 reserved[4];
};

/**
 * IVSHMEM_IOCTL_INFO - describe the device
 *
 * Fills a struct ivshmem_info. Every byte of the structure is written.
 *
 * Return: 0, or -1 with errno ENODEV (device removed) or EFAULT.
 */
#define IVSHMEM_IOCTL_INFO	_IOR(IVSHMEM_IOCTL_MAGIC, 0x00, struct ivshmem_info)

/**
 * struct ivshmem_bind - attach eventfds to doorbell vectors
 * @first_vector: first vector to change
 * @count: number of vectors to change, 1 or more
 * @fds: user pointer to an array of @count __s32 file descriptors; entry i
 *	is bound to vector @first_vector + i. An eventfd binds it, -1 unbinds
 *	whatever this file had bound to that vector.
 * @flags: zero
 * @reserved: zero
 */
struct ivshmem_bind {
	__u32 first_vector;
	__u32 count;
	__u64 fds;
	__u32 flags;
	__u32 reserved;
};

/**
 * IVSHMEM_IOCTL_BIND - deliver doorbell vectors to eventfds
 *
 * When an interrupt arrives on a vector, every eventfd bound to that vector
 * by any open file of the device is signalled (its counter grows by one).
 * Bindings belong to the open file that made them: one eventfd per vector
 * per file, replaced by a later bind, dropped when the file is closed.
 * The whole batch is applied, or nothing is (on any error).
 *
 * Return: 0, or -1 with errno: EOPNOTSUPP (no vectors), EINVAL (nonzero
 * flags or reserved, count 0, a vector out of range, an fd that is not an
 * eventfd), EBADF (a closed fd), EFAULT, ENOMEM, ENODEV (device removed).
 */
#define IVSHMEM_IOCTL_BIND	_IOW(IVSHMEM_IOCTL_MAGIC, 0x01, struct ivshmem_bind)

/**
 * struct ivshmem_ring - ring a peer's doorbell
 * @peer_id: peer to interrupt, 0..IVSHMEM_MAX_PEER_ID (own id rings itself)
 * @vector: its vector, 0..IVSHMEM_MAX_RING_VECTOR
 * @flags: zero
 * @reserved: zero
 */
struct ivshmem_ring {
	__u32 peer_id;
	__u32 vector;
	__u32 flags;
	__u32 reserved;
};

/**
 * IVSHMEM_IOCTL_RING - write the doorbell register
 *
 * Ringing a peer that does not exist, or a vector the peer lacks, is
 * silently dropped by the host, as on the hardware.
 *
 * Ringing acts on other peers, so it needs a file opened for writing, as
 * does a writable mapping of the register page.
 *
 * Return: 0, or -1 with errno: EBADF (file not open for writing),
 * EOPNOTSUPP (no vectors), EINVAL (peer or vector out of range, nonzero
 * flags or reserved), EFAULT, ENODEV.
 */
#define IVSHMEM_IOCTL_RING	_IOW(IVSHMEM_IOCTL_MAGIC, 0x02, struct ivshmem_ring)

#endif /* _UAPI_LINUX_IVSHMEM_H */
