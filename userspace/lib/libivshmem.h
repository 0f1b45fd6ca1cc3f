/* SPDX-License-Identifier: MIT */
/*
 * libivshmem.h - use QEMU's Inter-VM Shared Memory devices from a Linux guest.
 *
 * The library wraps the character devices /dev/ivshmemN of the ivshmem
 * guest driver (ABI: <linux/ivshmem.h>): finding devices (through libudev),
 * mapping the shared memory, ringing peers' doorbells, and waiting for the
 * own doorbell vectors, with eventfds or by spinning on a word of the
 * shared memory first.
 *
 * Conventions
 *  - Every function returning int returns 0 (or a documented non-negative
 *    value) on success and a negative errno on failure. Nothing is printed,
 *    nothing is kept in global state, and the process is never exited.
 *  - A handle (struct ivshmem_dev) may be used by one thread at a time;
 *    distinct handles, even of the same device, are independent. Every
 *    file descriptor the library creates is close-on-exec.
 *  - Device names: every function taking a name accepts
 *      an index             "0"  or "ivshmem0"       (N of /dev/ivshmemN)
 *      a path               "/dev/ivshmem0", "/dev/ivshmem/by-path/pci-..."
 *                           (anything containing a '/')
 *      a PCI address        "0000:00:04.0" or "00:04.0" (domain 0)
 *    A malformed name gives -EINVAL, a well-formed one naming nothing
 *    -ENOENT, a path or PCI address of something that is not an ivshmem
 *    device (or has no driver bound) -ENODEV.
 *  - Once the device is removed (hot-unplug, driver unbind), calls on an
 *    existing handle fail with -ENODEV and its mappings are revoked: touching
 *    them raises SIGBUS. ivshmem_close() still releases everything.
 *
 * License: MIT. Link with `pkg-config --cflags --libs libivshmem`.
 */
#ifndef LIBIVSHMEM_H
#define LIBIVSHMEM_H

#include <stddef.h>
#include <stdint.h>

#include <linux/ivshmem.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LIBIVSHMEM_VERSION_MAJOR	0
#define LIBIVSHMEM_VERSION_MINOR	1

/* Sizes of the string fields of struct ivshmem_devinfo, NUL included. */
#define IVSHMEM_NODE_MAX		64
#define IVSHMEM_PCI_ADDRESS_MAX		32

/**
 * struct ivshmem_devinfo - a device as the system describes it
 * @index: N of /dev/ivshmemN, -1 when unknown
 * @peer_id: this guest's peer id (0 on ivshmem-plain)
 * @vectors: number of doorbell vectors (0 on ivshmem-plain)
 * @revision: PCI revision
 * @size: size in bytes of the shared memory
 * @node: device node as udev names it, e.g. "/dev/ivshmem0" ("" if none)
 * @pci_address: e.g. "0000:00:04.0" ("" if the device is not on PCI)
 */
struct ivshmem_devinfo {
	int index;
	uint32_t peer_id;
	uint32_t vectors;
	uint32_t revision;
	uint64_t size;
	char node[IVSHMEM_NODE_MAX];
	char pci_address[IVSHMEM_PCI_ADDRESS_MAX];
};

struct ivshmem_dev;

/* ---------------------------------------------------------------------- */
/* Finding devices                                                         */

/**
 * ivshmem_list() - every ivshmem device present, ordered by index
 * @devs: receives a malloc'ed array (NULL when there is none); release it
 *	with ivshmem_list_free()
 * @count: receives the number of entries
 *
 * A device that disappears while it is being listed is left out.
 *
 * Return: 0 (also when there is no device), -ENOMEM, or an errno of libudev.
 */
int ivshmem_list(struct ivshmem_devinfo **devs, size_t *count);

/** ivshmem_list_free() - release what ivshmem_list() returned (NULL is fine) */
void ivshmem_list_free(struct ivshmem_devinfo *devs);

/**
 * ivshmem_lookup() - describe one device by name, without opening it
 * @name: index, path or PCI address (see the conventions above)
 * @info: receives the description
 *
 * Return: 0, -EINVAL, -ENOENT, -ENODEV (a path or PCI address of
 * something else, or a node udev cannot describe).
 */
int ivshmem_lookup(const char *name, struct ivshmem_devinfo *info);

/* ---------------------------------------------------------------------- */
/* Opening                                                                 */

/**
 * ivshmem_open() - open a device given by any form of name
 * @name: index, path or PCI address (see the conventions above)
 * @dev: receives the handle
 *
 * The device file is opened read-write.
 *
 * Return: 0; -EINVAL, -ENOENT, -ENODEV as for ivshmem_lookup(); -EACCES
 * when the caller may not open the node; -ENOMEM; another errno of open().
 */
int ivshmem_open(const char *name, struct ivshmem_dev **dev);

/** ivshmem_open_index() - open /dev/ivshmem@index (found through udev) */
int ivshmem_open_index(unsigned int index, struct ivshmem_dev **dev);

/** ivshmem_open_path() - open a device node, which must be an ivshmem device */
int ivshmem_open_path(const char *path, struct ivshmem_dev **dev);

/** ivshmem_open_pci() - open the device at a PCI address ("0000:00:04.0") */
int ivshmem_open_pci(const char *pci_address, struct ivshmem_dev **dev);

/**
 * ivshmem_close() - unmap every mapping of the handle, unbind and close
 *	its eventfds, close the device
 * @dev: handle, may be NULL
 */
void ivshmem_close(struct ivshmem_dev *dev);

/* ---------------------------------------------------------------------- */
/* Describing                                                              */

/** ivshmem_fd() - the device file descriptor, owned by the handle */
int ivshmem_fd(const struct ivshmem_dev *dev);

/** ivshmem_size() - size of the shared memory in bytes, as read at open */
uint64_t ivshmem_size(const struct ivshmem_dev *dev);

/**
 * ivshmem_get_info() - IVSHMEM_IOCTL_INFO, asked again now
 * @info: receives size, peer id, vectors, flags (IVSHMEM_INFO_*), revision
 *
 * Return: 0, -ENODEV once the device was removed.
 */
int ivshmem_get_info(struct ivshmem_dev *dev, struct ivshmem_info *info);

/**
 * ivshmem_describe() - what ivshmem_lookup() says about an open device
 *
 * Where udev does not know the device (a node made with mknod without
 * sysfs), @node and @pci_address are empty and @index is -1; the numbers
 * still come from the driver.
 *
 * Return: 0, -ENODEV once the device was removed.
 */
int ivshmem_describe(struct ivshmem_dev *dev, struct ivshmem_devinfo *info);

/**
 * ivshmem_interrupt_counts() - interrupts received per vector since probe
 * @counts: array of @max entries (may be NULL if @max is 0)
 * @n: receives the number of vectors of the device, which may exceed @max
 *
 * Counts interrupts on all files of the device (sysfs interrupt_counts).
 *
 * Return: 0, -ENODEV, -EIO when the attribute cannot be read.
 */
int ivshmem_interrupt_counts(struct ivshmem_dev *dev, uint64_t *counts,
			     size_t max, size_t *n);

/* ---------------------------------------------------------------------- */
/* Mapping the shared memory                                               */

/* ivshmem_map() flags */
#define IVSHMEM_MAP_READONLY	0x1U	/* PROT_READ only */

/**
 * ivshmem_map() - map (part of) the shared memory, write-back cached
 * @offset: start, a multiple of the page size, below the size
 * @length: bytes, rounded up to whole pages; 0 maps up to the end
 * @flags: 0 or IVSHMEM_MAP_READONLY
 * @addr: receives the address of byte @offset
 *
 * The mapping is MAP_SHARED: what another mapping (of any handle, any
 * process, any guest, the host) writes is visible here; the memory is
 * coherent, no msync() is needed. The handle remembers the mapping;
 * ivshmem_close() unmaps what was not unmapped. Pages are populated on
 * first touch, so mapping a large region is cheap.
 *
 * Return: 0; -EINVAL (unaligned offset, range beyond the memory, unknown
 * flags); -EFBIG (does not fit the address space); -ENOMEM; -ENODEV.
 */
int ivshmem_map(struct ivshmem_dev *dev, uint64_t offset, uint64_t length,
		unsigned int flags, void **addr);

/**
 * ivshmem_unmap() - unmap one mapping made by ivshmem_map()
 * @addr: exactly what ivshmem_map() returned
 *
 * Return: 0, -EINVAL if @addr is not a mapping of this handle.
 */
int ivshmem_unmap(struct ivshmem_dev *dev, void *addr);

/* ---------------------------------------------------------------------- */
/* Doorbells                                                               */

/**
 * ivshmem_ring() - interrupt @peer_id on @vector (IVSHMEM_IOCTL_RING)
 * @peer_id: 0..IVSHMEM_MAX_PEER_ID; the own peer id interrupts oneself
 * @vector: 0..IVSHMEM_MAX_RING_VECTOR
 *
 * Stores made to the shared memory before the call are visible to the
 * peer when it sees the interrupt. Ringing a peer or vector that does not
 * exist is silently dropped by the host.
 *
 * Return: 0; -EOPNOTSUPP (ivshmem-plain: no doorbell); -EINVAL; -ENODEV.
 */
int ivshmem_ring(struct ivshmem_dev *dev, uint32_t peer_id, uint32_t vector);

/**
 * ivshmem_ring_mmio() - ring through the mapped register page, no syscall
 *
 * Same effect as ivshmem_ring(), by a 32-bit store of (peer << 16) | vector
 * to IVSHMEM_REG_DOORBELL of the page mapped at IVSHMEM_MMAP_REGS_OFFSET
 * (mapped on first use, kept until ivshmem_close()). A full memory barrier
 * precedes the store, so earlier stores to the shared memory are visible
 * before the doorbell. After the device was removed the store raises
 * SIGBUS rather than returning -ENODEV.
 *
 * Return: 0; -EOPNOTSUPP when the device has no doorbell or the driver
 * does not offer the register page (IVSHMEM_INFO_REGS_MMAP clear);
 * -EINVAL; -ENODEV or an errno of mmap() on first use.
 */
int ivshmem_ring_mmio(struct ivshmem_dev *dev, uint32_t peer_id,
		      uint32_t vector);

/*
 * Vector masks: bit n selects vector n. Vectors 0..63 can be listened to
 * (QEMU's ivshmem-server gives a peer at most 64). IVSHMEM_VECTORS_ALL
 * means every vector of the device for ivshmem_listen(), every vector
 * listened to for the other calls.
 */
#define IVSHMEM_MAX_LISTEN_VECTORS	64
#define IVSHMEM_VECTORS_ALL		(~(uint64_t)0)

/**
 * ivshmem_listen() - start receiving doorbell vectors
 * @vector_mask: vectors to add to those the handle listens to
 *
 * Creates one eventfd per new vector and binds each run of consecutive
 * vectors with one IVSHMEM_IOCTL_BIND; on failure nothing changes.
 * Vectors already listened to are left as they are.
 *
 * Return: 0; -EOPNOTSUPP (no doorbell); -EINVAL (a vector the device
 * does not have, or above 63); -EMFILE, -ENOMEM; -ENODEV.
 */
int ivshmem_listen(struct ivshmem_dev *dev, uint64_t vector_mask);

/**
 * ivshmem_unlisten() - stop receiving vectors: unbind and close their
 *	eventfds, dropping pending interrupts
 *
 * Vectors not listened to are ignored.
 *
 * Return: 0, -ENODEV (the eventfds are closed anyway).
 */
int ivshmem_unlisten(struct ivshmem_dev *dev, uint64_t vector_mask);

/** ivshmem_listening() - Return: the mask of vectors listened to */
uint64_t ivshmem_listening(const struct ivshmem_dev *dev);

/**
 * ivshmem_event_fd() - an epoll descriptor for the caller's event loop
 *
 * Readable (level-triggered) while a vector listened to has a pending
 * interrupt or the device was removed. When it is, call ivshmem_drain()
 * or ivshmem_wait() with a timeout of 0. Owned by the handle.
 */
int ivshmem_event_fd(const struct ivshmem_dev *dev);

/**
 * ivshmem_wait() - wait until a selected vector fires
 * @vector_mask: vectors listened to, IVSHMEM_VECTORS_ALL, or 0 to wait
 *	only for the device's removal (or the timeout)
 * @timeout_ms: 0 polls, negative waits forever
 * @fired: receives the vectors that fired (may be NULL)
 *
 * Consumes the pending interrupts of the vectors that fired; vectors
 * outside the mask keep theirs. Interrupts arriving close together may be
 * merged: one wakeup is guaranteed after the last ring, not one per ring.
 *
 * Return: 0 when at least one vector fired; -ETIMEDOUT; -ENODEV when the
 * device was removed; -EINTR when a signal arrived; -EINVAL when the mask
 * selects a vector not listened to.
 */
int ivshmem_wait(struct ivshmem_dev *dev, uint64_t vector_mask, int timeout_ms,
		 uint64_t *fired);

/**
 * ivshmem_drain() - consume pending interrupts without blocking
 * @vector_mask: vectors listened to, or IVSHMEM_VECTORS_ALL
 * @fired: receives the vectors that had interrupts pending (may be NULL)
 * @counts: NULL, or an array of IVSHMEM_MAX_LISTEN_VECTORS entries;
 *	counts[n] receives the number of interrupts delivered to vector n
 *	since it was last drained (0 for vectors that did not fire)
 *
 * Return: 0 (also when nothing was pending); -ENODEV when the device was
 * removed; -EINVAL as for ivshmem_wait().
 */
int ivshmem_drain(struct ivshmem_dev *dev, uint64_t vector_mask,
		  uint64_t *fired, uint64_t *counts);

/**
 * ivshmem_wait_u32() - spin on a word of the shared memory, then sleep
 * @dev: handle (may be NULL when @vector_mask is 0)
 * @word: 4-byte aligned, normally in a mapping of @dev
 * @expected: return as soon as *@word differs from this
 * @spin_ns: how long to spin before sleeping (0: sleep at once)
 * @vector_mask: vectors to sleep on once the budget is spent (the writer
 *	rings one after changing the word), or 0 to sleep-poll the word
 *	instead (backing off from 10 us to 1 ms between looks)
 * @timeout_ms: overall limit including the spin; negative waits forever
 * @value: receives the value that differed (may be NULL)
 *
 * Memory ordering: each look at @word is an acquire load, so once the
 * call returns 0, everything the writer stored before its (release) store
 * to @word is visible to the caller. Writers should store with release
 * semantics (__atomic_store_n(word, v, __ATOMIC_RELEASE)) and ring after
 * the store. The word is checked again after every wakeup, so interrupts
 * left over from earlier rings cause no false return; the wait consumes
 * the pending interrupts of @vector_mask.
 *
 * Return: 0 when the word changed; -ETIMEDOUT; -ENODEV; -EINTR; -EINVAL
 * (NULL or misaligned @word, @dev NULL with vectors, a vector not
 * listened to).
 */
int ivshmem_wait_u32(struct ivshmem_dev *dev, const uint32_t *word,
		     uint32_t expected, uint64_t spin_ns, uint64_t vector_mask,
		     int timeout_ms, uint32_t *value);

/** ivshmem_wait_u64() - ivshmem_wait_u32() on an 8-byte aligned word */
int ivshmem_wait_u64(struct ivshmem_dev *dev, const uint64_t *word,
		     uint64_t expected, uint64_t spin_ns, uint64_t vector_mask,
		     int timeout_ms, uint64_t *value);

#ifdef __cplusplus
}
#endif

/* The host side: join an ivshmem-server as a peer (ivshmem_peer_*). */
#include "ivshmem-peer.h"
/* Channels over either: messages, presence (ivshmem_chan_*, 0.2). */
#include "ivshmem-channel.h"

#endif /* LIBIVSHMEM_H */
