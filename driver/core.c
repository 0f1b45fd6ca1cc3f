// SPDX-License-Identifier: GPL-2.0-only
/*
 * ivshmem: guest driver for QEMU's Inter-VM Shared Memory device.
 *
 * This file binds the PCI device and owns the lifetime of everything the
 * other files use: the per-device object, its character device and the
 * open files.
 *
 * Lifetime: struct ivshmem_dev embeds the class device, and the character
 * device holds a reference to it for as long as any file is open (and a
 * mapping keeps its file open). remove() therefore only detaches the
 * hardware: it marks the device gone, revokes user mappings, detaches
 * interrupts and eventfds and releases the PCI resources. The memory is
 * freed by the class device's release callback once the last file closes.
 */

#include <linux/delay.h>
#include <linux/idr.h>
#include <linux/module.h>
#include <linux/poll.h>
#include <linux/slab.h>

#include <linux/ivshmem.h>

#include "ivshmem.h"

#define IVSHMEM_MAX_DEVICES	256
/* How long a revision 0 device may take to learn its peer id. */
#define IVSHMEM_REV0_WAIT_MS	5000

static dev_t ivshmem_devt;
static DEFINE_IDA(ivshmem_ida);

static struct class ivshmem_class = {
	.name = "ivshmem",
};

/**
 * ivshmem_open() - open /dev/ivshmemN
 * @inode: the device node
 * @file: the new file
 *
 * Each open file has its own doorbell bindings. The file keeps the device
 * structure alive (through the character device) until it is released.
 *
 * Context: process context.
 * Return: 0, -ENOMEM, or -ENODEV when the device is being removed.
 */
static int ivshmem_open(struct inode *inode, struct file *file)
{
	struct ivshmem_dev *idev = container_of(inode->i_cdev,
						struct ivshmem_dev, cdev);
	struct ivshmem_file *ifile;
	int ret;

	ifile = kzalloc(sizeof(*ifile), GFP_KERNEL);
	if (!ifile)
		return -ENOMEM;
	ifile->idev = idev;
	ifile->file = file;

	ret = ivshmem_file_irq_init(ifile);
	if (ret)
		goto err_free;

	mutex_lock(&idev->files_lock);
	if (idev->gone) {
		mutex_unlock(&idev->files_lock);
		ret = -ENODEV;
		goto err_irq;
	}
	list_add(&ifile->node, &idev->files);
	mutex_unlock(&idev->files_lock);

	file->private_data = ifile;
	return stream_open(inode, file);

err_irq:
	ivshmem_file_irq_release(ifile);
err_free:
	kfree(ifile);
	return ret;
}

/**
 * ivshmem_release() - last close of an open file
 * @inode: the device node
 * @file: the file; no mapping of it is left
 *
 * Drops the file's doorbell bindings; works after the device was removed.
 *
 * Context: process context.
 * Return: 0.
 */
static int ivshmem_release(struct inode *inode, struct file *file)
{
	struct ivshmem_file *ifile = file->private_data;
	struct ivshmem_dev *idev = ifile->idev;

	mutex_lock(&idev->files_lock);
	list_del(&ifile->node);
	mutex_unlock(&idev->files_lock);

	ivshmem_file_irq_release(ifile);
	kfree(ifile);
	return 0;
}

/**
 * ivshmem_poll() - report the removal of the device
 * @file: an open device file
 * @wait: poll table
 *
 * Doorbells are delivered to eventfds, not to the device file: the file
 * only becomes ready, with EPOLLHUP | EPOLLERR, once the device is gone.
 *
 * Return: the event mask.
 */
static __poll_t ivshmem_poll(struct file *file, poll_table *wait)
{
	struct ivshmem_file *ifile = file->private_data;
	struct ivshmem_dev *idev = ifile->idev;

	poll_wait(file, &idev->gone_wq, wait);
	return READ_ONCE(idev->gone) ? EPOLLHUP | EPOLLERR : 0;
}

static const struct file_operations ivshmem_fops = {
	.owner = THIS_MODULE,
	.open = ivshmem_open,
	.release = ivshmem_release,
	.poll = ivshmem_poll,
	.mmap = ivshmem_mmap,
	/* The memory is coherent: msync() has nothing to write back. */
	.fsync = noop_fsync,
	.unlocked_ioctl = ivshmem_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = no_llseek,
};

static void ivshmem_dev_release(struct device *dev)
{
	struct ivshmem_dev *idev = to_ivshmem_dev(dev);

	kfree(idev->vectors);
	kfree(idev);
}

/*
 * Revision 0 devices (QEMU before 2.6) expose BAR2 and a valid IVPosition
 * only once the server handshake is done: give it a bounded time.
 */
static int ivshmem_read_peer_id(struct ivshmem_dev *idev)
{
	struct pci_dev *pdev = idev->pdev;
	unsigned int waited = 0;
	s32 pos;

	for (;;) {
		pos = (s32)readl(idev->regs + IVSHMEM_IVPOSITION);
		if (pos >= 0 || idev->revision != 0 ||
		    waited >= IVSHMEM_REV0_WAIT_MS)
			break;
		msleep(20);
		waited += 20;
	}
	if (pos < 0 || pos > IVSHMEM_MAX_PEER_ID) {
		dev_err(&pdev->dev, "invalid peer id %d (IVPosition), refusing the device\n",
			pos);
		return -ENODEV;
	}
	idev->peer_id = pos;
	return 0;
}

static int ivshmem_check_shm(struct ivshmem_dev *idev)
{
	struct pci_dev *pdev = idev->pdev;

	if (!(pci_resource_flags(pdev, IVSHMEM_BAR_SHM) & IORESOURCE_MEM) ||
	    !pci_resource_len(pdev, IVSHMEM_BAR_SHM)) {
		dev_err(&pdev->dev, "BAR2 (shared memory) is missing\n");
		return -ENODEV;
	}
	idev->shm_phys = pci_resource_start(pdev, IVSHMEM_BAR_SHM);
	idev->shm_size = pci_resource_len(pdev, IVSHMEM_BAR_SHM);
	/* A mapping must never reach memory beyond the BAR. */
	if (!PAGE_ALIGNED(idev->shm_phys) || !PAGE_ALIGNED(idev->shm_size)) {
		dev_err(&pdev->dev, "BAR2 %pR is not page aligned, refusing the device\n",
			&pdev->resource[IVSHMEM_BAR_SHM]);
		return -ENODEV;
	}
	return 0;
}

static int ivshmem_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct ivshmem_dev *idev;
	int ret;

	idev = kzalloc(sizeof(*idev), GFP_KERNEL);
	if (!idev)
		return -ENOMEM;
	idev->pdev = pdev;
	idev->revision = pdev->revision;
	init_rwsem(&idev->alive_rwsem);
	mutex_init(&idev->files_lock);
	INIT_LIST_HEAD(&idev->files);
	init_waitqueue_head(&idev->gone_wq);

	ret = ida_alloc_max(&ivshmem_ida, IVSHMEM_MAX_DEVICES - 1, GFP_KERNEL);
	if (ret < 0)
		goto err_free_idev;
	idev->index = ret;

	/* From here on the class device's release frees idev. */
	device_initialize(&idev->dev);
	idev->dev.class = &ivshmem_class;
	idev->dev.parent = &pdev->dev;
	idev->dev.devt = MKDEV(MAJOR(ivshmem_devt), idev->index);
	idev->dev.groups = ivshmem_groups;
	idev->dev.release = ivshmem_dev_release;
	dev_set_drvdata(&idev->dev, idev);
	ret = dev_set_name(&idev->dev, "ivshmem%d", idev->index);
	if (ret)
		goto err_put_dev;

	ret = pci_enable_device_mem(pdev);
	if (ret) {
		dev_err(&pdev->dev, "cannot enable the device: %d\n", ret);
		goto err_put_dev;
	}

	ret = pci_request_regions(pdev, KBUILD_MODNAME);
	if (ret) {
		dev_err(&pdev->dev, "cannot claim the BARs: %d\n", ret);
		goto err_disable;
	}

	ret = ivshmem_check_shm(idev);
	if (ret)
		goto err_release_regions;

	idev->regs = pci_iomap(pdev, IVSHMEM_BAR_REGS, 0);
	if (!idev->regs) {
		dev_err(&pdev->dev, "cannot map BAR0 (registers)\n");
		ret = -ENOMEM;
		goto err_release_regions;
	}

	ret = ivshmem_read_peer_id(idev);
	if (ret)
		goto err_unmap_regs;

	ivshmem_mmap_probe(idev);

	ret = ivshmem_irq_probe(idev);
	if (ret)
		goto err_mmap;

	pci_set_drvdata(pdev, idev);

	cdev_init(&idev->cdev, &ivshmem_fops);
	idev->cdev.owner = THIS_MODULE;
	ret = cdev_device_add(&idev->cdev, &idev->dev);
	if (ret) {
		dev_err(&pdev->dev, "cannot add the character device: %d\n", ret);
		goto err_irq;
	}

	dev_info(&idev->dev, "%pa bytes of shared memory at %pa, peer id %u, %u vector%s\n",
		 &idev->shm_size, &idev->shm_phys, idev->peer_id,
		 idev->nr_vectors, idev->nr_vectors == 1 ? "" : "s");
	return 0;

err_irq:
	ivshmem_irq_remove(idev);
err_mmap:
	ivshmem_mmap_remove(idev);
err_unmap_regs:
	pci_iounmap(pdev, idev->regs);
	idev->regs = NULL;
err_release_regions:
	pci_release_regions(pdev);
err_disable:
	pci_disable_device(pdev);
err_put_dev:
	ida_free(&ivshmem_ida, idev->index);
	idev->pdev = NULL;
	put_device(&idev->dev);
	return ret;

err_free_idev:
	kfree(idev);
	return ret;
}

static void ivshmem_remove(struct pci_dev *pdev)
{
	struct ivshmem_dev *idev = pci_get_drvdata(pdev);

	/* No new opens; sysfs attributes are gone once this returns. */
	cdev_device_del(&idev->cdev, &idev->dev);

	/*
	 * Wait for every user of the hardware (ioctl, mmap, fault) to leave,
	 * and make later ones fail.
	 */
	down_write(&idev->alive_rwsem);
	mutex_lock(&idev->files_lock);
	WRITE_ONCE(idev->gone, true);
	mutex_unlock(&idev->files_lock);
	up_write(&idev->alive_rwsem);

	/* Existing mappings: a later access faults and gets SIGBUS. */
	ivshmem_zap_mappings(idev);
	wake_up_all(&idev->gone_wq);

	ivshmem_irq_remove(idev);
	ivshmem_mmap_remove(idev);
	pci_iounmap(pdev, idev->regs);
	idev->regs = NULL;
	pci_release_regions(pdev);
	pci_disable_device(pdev);
	pci_set_drvdata(pdev, NULL);
	idev->pdev = NULL;

	ida_free(&ivshmem_ida, idev->index);
	dev_dbg(&pdev->dev, "removed\n");
	put_device(&idev->dev);
}

static const struct pci_device_id ivshmem_ids[] = {
	{ PCI_DEVICE(PCI_VENDOR_ID_REDHAT_QUMRANET, 0x1110) },
	{ }
};
MODULE_DEVICE_TABLE(pci, ivshmem_ids);

static struct pci_driver ivshmem_driver = {
	.name = KBUILD_MODNAME,
	.id_table = ivshmem_ids,
	.probe = ivshmem_probe,
	.remove = ivshmem_remove,
};

static int __init ivshmem_init(void)
{
	int ret;

	ret = alloc_chrdev_region(&ivshmem_devt, 0, IVSHMEM_MAX_DEVICES,
				  KBUILD_MODNAME);
	if (ret)
		return ret;

	ret = class_register(&ivshmem_class);
	if (ret)
		goto err_unregister_chrdev;

	ret = pci_register_driver(&ivshmem_driver);
	if (ret)
		goto err_unregister_class;
	return 0;

err_unregister_class:
	class_unregister(&ivshmem_class);
err_unregister_chrdev:
	unregister_chrdev_region(ivshmem_devt, IVSHMEM_MAX_DEVICES);
	return ret;
}
module_init(ivshmem_init);

static void __exit ivshmem_exit(void)
{
	pci_unregister_driver(&ivshmem_driver);
	class_unregister(&ivshmem_class);
	unregister_chrdev_region(ivshmem_devt, IVSHMEM_MAX_DEVICES);
	ida_destroy(&ivshmem_ida);
}
module_exit(ivshmem_exit);

MODULE_DESCRIPTION("Driver for QEMU's Inter-VM Shared Memory device");
MODULE_LICENSE("GPL");
