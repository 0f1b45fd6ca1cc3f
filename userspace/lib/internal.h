/* SPDX-License-Identifier: MIT */
/*
 * internal.h - libivshmem's private definitions, shared by its files.
 */
#ifndef LIBIVSHMEM_INTERNAL_H
#define LIBIVSHMEM_INTERNAL_H

#include <stdbool.h>
#include <sys/types.h>

#include "libivshmem.h"

/* Everything else is hidden by -fvisibility=hidden and the version script. */
#define IVSHMEM_EXPORT	__attribute__((visibility("default")))

struct ivshmem_mapping {
	void *addr;
	size_t len;
};

/**
 * struct ivshmem_dev - an open device
 * @fd: the device file
 * @rdev: its device number
 * @info: IVSHMEM_IOCTL_INFO as read at open
 * @page_size: sysconf(_SC_PAGESIZE)
 * @maps: mappings made by ivshmem_map(), @nmaps of @maps_cap used
 * @regs: the register page, NULL until the first ivshmem_ring_mmio()
 * @epfd: epoll set: the device file (data IVS_EP_DEVICE) and every eventfd
 *	(data: its vector)
 * @listening: vectors with an eventfd in @efd
 * @efd: eventfd per vector, -1 when not listened to
 */
struct ivshmem_dev {
	int fd;
	dev_t rdev;
	struct ivshmem_info info;
	size_t page_size;
	struct ivshmem_mapping *maps;
	size_t nmaps, maps_cap;
	volatile uint32_t *regs;
	int epfd;
	uint64_t listening;
	int efd[IVSHMEM_MAX_LISTEN_VECTORS];
};

#define IVS_EP_DEVICE	UINT64_MAX

/* enum.c: a udev view of the device with device number @rdev */
int ivshmem__describe_rdev(dev_t rdev, struct ivshmem_devinfo *info);
/* kinds of device names */
enum ivs_name_kind { IVS_NAME_ANY = -1, IVS_NAME_INDEX, IVS_NAME_PATH, IVS_NAME_PCI };
/*
 * enum.c: resolve a name of kind @want (or any) to the node to open and
 * the device number it must have. *@known is false for a path to a node
 * that udev cannot describe (no sysfs): only the driver can tell then.
 * Return: the kind of the name, or a negative errno.
 */
int ivshmem__resolve(const char *name, int want, char *path, size_t path_len,
		dev_t *rdev, bool *known);

/* event.c */
void ivshmem__events_init(struct ivshmem_dev *dev);
void ivshmem__events_release(struct ivshmem_dev *dev);
/* is the device gone? (POLLHUP on its file) */
bool ivshmem__device_gone(const struct ivshmem_dev *dev);

#endif /* LIBIVSHMEM_INTERNAL_H */
