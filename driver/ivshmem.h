/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * ivshmem: internal definitions shared by the driver's files.
 */
#ifndef _IVSHMEM_H
#define _IVSHMEM_H

#include <linux/cdev.h>
#include <linux/device.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/rwsem.h>
#include <linux/types.h>
#include <linux/wait.h>

#include "compat.h"

/* BAR numbers */
#define IVSHMEM_BAR_REGS	0
#define IVSHMEM_BAR_SHM		2

/* BAR0 registers: 32-bit accesses only */
#define IVSHMEM_REG_INTRMASK	0x00	/* reserved on revision 1 */
#define IVSHMEM_REG_INTRSTATUS	0x04	/* reserved on revision 1 */
#define IVSHMEM_IVPOSITION	0x08
#define IVSHMEM_DOORBELL	0x0c
#define IVSHMEM_DOORBELL_PEER	GENMASK(31, 16)
#define IVSHMEM_DOORBELL_VECTOR	GENMASK(15, 0)

struct ivshmem_dev;
struct ivshmem_file;

/**
 * struct ivshmem_vector - one MSI-X doorbell vector
 * @idev: device the vector belongs to
 * @index: vector number
 * @irq: Linux interrupt number, valid while @requested
 * @requested: the interrupt handler is installed
 * @count: interrupts received
 * @bindings: eventfds to signal, RCU list of struct ivshmem_binding,
 *	written under &ivshmem_dev.files_lock
 * @name: interrupt name shown in /proc/interrupts
 */
struct ivshmem_vector {
	struct ivshmem_dev *idev;
	unsigned int index;
	int irq;
	bool requested;
	atomic64_t count;
	struct list_head bindings;
	char name[32];
};

/**
 * struct ivshmem_dev - one ivshmem PCI device
 * @dev: class device; its reference count keeps this structure alive for
 *	open files and mappings after the PCI device is gone
 * @cdev: character device, /dev/ivshmemN
 * @pdev: PCI device, NULL once removed
 * @index: N in ivshmemN
 * @regs: mapping of BAR0, NULL once removed
 * @regs_phys: bus address of the page holding BAR0
 * @regs_mappable: no other resource shares the page holding BAR0
 * @regs_guard: resources reserving the rest of that page
 * @shm_phys: bus address of BAR2
 * @shm_size: size of BAR2
 * @peer_id: IVPosition read at probe
 * @revision: PCI revision
 * @nr_vectors: number of MSI-X vectors in @vectors
 * @vectors: per-vector state
 * @alive_rwsem: held for read around every use of @regs, the PCI device
 *	and new user mappings; held for write while @gone is set
 * @gone: the PCI device was removed
 * @files_lock: protects @files and every binding
 * @files: open files (struct ivshmem_file)
 * @gone_wq: woken when @gone becomes true (poll)
 */
struct ivshmem_dev {
	struct device dev;
	struct cdev cdev;
	struct pci_dev *pdev;
	int index;
	void __iomem *regs;
	phys_addr_t regs_phys;
	bool regs_mappable;
	struct resource *regs_guard[2];
	phys_addr_t shm_phys;
	resource_size_t shm_size;
	u32 peer_id;
	u8 revision;
	unsigned int nr_vectors;
	struct ivshmem_vector *vectors;
	struct rw_semaphore alive_rwsem;
	bool gone;
	struct mutex files_lock;	/* see above */
	struct list_head files;
	wait_queue_head_t gone_wq;
};

/**
 * struct ivshmem_file - state of one open file of a device
 * @idev: the device
 * @file: the file
 * @node: entry in &ivshmem_dev.files
 * @bindings: per vector, this file's binding or NULL
 */
struct ivshmem_file {
	struct ivshmem_dev *idev;
	struct file *file;
	struct list_head node;
	struct ivshmem_binding **bindings;
};

static inline struct ivshmem_dev *to_ivshmem_dev(struct device *dev)
{
	return container_of(dev, struct ivshmem_dev, dev);
}

/* mmap.c */
int ivshmem_mmap(struct file *file, struct vm_area_struct *vma);
void ivshmem_mmap_probe(struct ivshmem_dev *idev);
void ivshmem_mmap_remove(struct ivshmem_dev *idev);
void ivshmem_zap_mappings(struct ivshmem_dev *idev);

/* irq.c */
int ivshmem_irq_probe(struct ivshmem_dev *idev);
void ivshmem_irq_remove(struct ivshmem_dev *idev);
int ivshmem_file_irq_init(struct ivshmem_file *ifile);
void ivshmem_file_irq_release(struct ivshmem_file *ifile);
int ivshmem_bind(struct ivshmem_file *ifile, u32 first, u32 count,
		 const s32 *fds);
int ivshmem_ring(struct ivshmem_dev *idev, u32 peer_id, u32 vector);

/* ioctl.c */
long ivshmem_ioctl(struct file *file, unsigned int cmd, unsigned long arg);

/* sysfs.c */
extern const struct attribute_group *ivshmem_groups[];

#endif /* _IVSHMEM_H */
