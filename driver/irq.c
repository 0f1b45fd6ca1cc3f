// SPDX-License-Identifier: GPL-2.0-only
/*
 * ivshmem: MSI-X doorbell vectors, their eventfds, and ringing peers.
 *
 * Every vector of an ivshmem-doorbell device gets its own interrupt. The
 * handler only counts and signals the eventfds bound to the vector; it
 * walks an RCU list, so binding and unbinding never block it, and an
 * eventfd reference is dropped only after an RCU grace period, when no
 * handler can still see it.
 */

#include <linux/bitfield.h>
#include <linux/eventfd.h>
#include <linux/interrupt.h>
#include <linux/rculist.h>
#include <linux/slab.h>

#include <linux/ivshmem.h>

#include "ivshmem.h"

/**
 * struct ivshmem_binding - one eventfd bound to one vector by one file
 * @node: entry in &ivshmem_vector.bindings
 * @ctx: the eventfd
 * @rcu: for the deferred free
 */
struct ivshmem_binding {
	struct list_head node;
	struct eventfd_ctx *ctx;
	struct rcu_head rcu;
};

static irqreturn_t ivshmem_irq_handler(int irq, void *data)
{
	struct ivshmem_vector *vec = data;
	struct ivshmem_binding *b;

	atomic64_inc(&vec->count);
	rcu_read_lock();
	list_for_each_entry_rcu(b, &vec->bindings, node)
		ivshmem_eventfd_signal(b->ctx);
	rcu_read_unlock();
	return IRQ_HANDLED;
}

static void ivshmem_binding_free(struct ivshmem_binding *b)
{
	eventfd_ctx_put(b->ctx);
	kfree(b);
}

/**
 * ivshmem_irq_probe() - set up the doorbell vectors of a device
 * @idev: device being probed
 *
 * A device without MSI-X (ivshmem-plain) gets no vectors. A device that
 * has MSI-X but cannot get its vectors is refused: without them doorbells
 * would be lost silently, as the device has no INTx fallback.
 *
 * Return: 0 or a negative errno.
 */
int ivshmem_irq_probe(struct ivshmem_dev *idev)
{
	struct pci_dev *pdev = idev->pdev;
	unsigned int i;
	int nvec, ret;

	nvec = pci_msix_vec_count(pdev);
	if (nvec <= 0)
		return 0;

	idev->vectors = kcalloc(nvec, sizeof(*idev->vectors), GFP_KERNEL);
	if (!idev->vectors)
		return -ENOMEM;

	ret = pci_alloc_irq_vectors(pdev, nvec, nvec, PCI_IRQ_MSIX);
	if (ret < 0) {
		dev_err(&pdev->dev, "cannot allocate %d MSI-X vectors: %d\n",
			nvec, ret);
		goto err_free;
	}
	idev->nr_vectors = nvec;
	/* MSI-X messages are memory writes by the device. */
	pci_set_master(pdev);

	for (i = 0; i < idev->nr_vectors; i++) {
		struct ivshmem_vector *vec = &idev->vectors[i];

		vec->idev = idev;
		vec->index = i;
		INIT_LIST_HEAD(&vec->bindings);
		snprintf(vec->name, sizeof(vec->name), "ivshmem%d-vec%u",
			 idev->index, i);
		vec->irq = pci_irq_vector(pdev, i);
		ret = request_irq(vec->irq, ivshmem_irq_handler, 0, vec->name,
				  vec);
		if (ret) {
			dev_err(&pdev->dev, "cannot request interrupt for vector %u: %d\n",
				i, ret);
			goto err_free_irqs;
		}
		vec->requested = true;
	}
	return 0;

err_free_irqs:
	ivshmem_irq_remove(idev);
	return ret;
err_free:
	kfree(idev->vectors);
	idev->vectors = NULL;
	return ret;
}

/**
 * ivshmem_irq_remove() - detach the vectors of a device being removed
 * @idev: the device, already marked gone (or failing its probe)
 *
 * Frees the interrupts, then drops every binding of every open file. Each
 * bound eventfd is signalled once more so that a waiter wakes up and finds
 * the device gone. The vector array itself lives until the device is
 * released.
 */
void ivshmem_irq_remove(struct ivshmem_dev *idev)
{
	struct ivshmem_file *ifile;
	unsigned int i;

	if (!idev->nr_vectors)
		return;

	for (i = 0; i < idev->nr_vectors; i++) {
		struct ivshmem_vector *vec = &idev->vectors[i];

		if (vec->requested)
			free_irq(vec->irq, vec);
		vec->requested = false;
	}
	pci_clear_master(idev->pdev);
	pci_free_irq_vectors(idev->pdev);

	/* No handler runs any more: the lists can be emptied directly. */
	mutex_lock(&idev->files_lock);
	list_for_each_entry(ifile, &idev->files, node) {
		for (i = 0; i < idev->nr_vectors; i++) {
			struct ivshmem_binding *b = ifile->bindings[i];

			if (!b)
				continue;
			list_del(&b->node);
			ifile->bindings[i] = NULL;
			ivshmem_eventfd_signal(b->ctx);
			ivshmem_binding_free(b);
		}
	}
	mutex_unlock(&idev->files_lock);
}

int ivshmem_file_irq_init(struct ivshmem_file *ifile)
{
	unsigned int n = ifile->idev->nr_vectors;

	if (!n)
		return 0;
	ifile->bindings = kcalloc(n, sizeof(*ifile->bindings), GFP_KERNEL);
	return ifile->bindings ? 0 : -ENOMEM;
}

/* Unhook @ifile's bindings from @first for @count vectors into @out. */
static unsigned int ivshmem_unhook(struct ivshmem_file *ifile, u32 first,
				   u32 count, struct ivshmem_binding **out)
{
	unsigned int i, n = 0;

	lockdep_assert_held(&ifile->idev->files_lock);

	for (i = 0; i < count; i++) {
		struct ivshmem_binding *b = ifile->bindings[first + i];

		if (!b)
			continue;
		list_del_rcu(&b->node);
		ifile->bindings[first + i] = NULL;
		out[n++] = b;
	}
	return n;
}

static void ivshmem_free_unhooked(struct ivshmem_binding **old, unsigned int n)
{
	unsigned int i;

	if (!n)
		return;
	/* Handlers that saw the old entries are done after this. */
	synchronize_rcu();
	for (i = 0; i < n; i++)
		ivshmem_binding_free(old[i]);
}

/**
 * ivshmem_file_irq_release() - drop the bindings of a file being closed
 * @ifile: the file
 */
void ivshmem_file_irq_release(struct ivshmem_file *ifile)
{
	struct ivshmem_dev *idev = ifile->idev;
	struct ivshmem_binding **old;
	unsigned int n;

	if (!ifile->bindings)
		return;

	old = kcalloc(idev->nr_vectors, sizeof(*old), GFP_KERNEL | __GFP_NOFAIL);
	mutex_lock(&idev->files_lock);
	n = ivshmem_unhook(ifile, 0, idev->nr_vectors, old);
	mutex_unlock(&idev->files_lock);
	ivshmem_free_unhooked(old, n);
	kfree(old);
	kfree(ifile->bindings);
	ifile->bindings = NULL;
}

/**
 * ivshmem_bind() - bind eventfds to a range of vectors, all or nothing
 * @ifile: the file the bindings belong to
 * @first: first vector
 * @count: number of vectors, checked by the caller against nr_vectors
 * @fds: @count descriptors, -1 to unbind
 *
 * Context: process context; takes files_lock.
 * Return: 0, or -EBADF / -EINVAL for a bad descriptor, -ENOMEM, -ENODEV.
 */
int ivshmem_bind(struct ivshmem_file *ifile, u32 first, u32 count,
		 const s32 *fds)
{
	struct ivshmem_dev *idev = ifile->idev;
	struct ivshmem_binding **new, **old;
	unsigned int i, nold;
	int ret = 0;

	new = kcalloc(count, sizeof(*new), GFP_KERNEL);
	old = kcalloc(count, sizeof(*old), GFP_KERNEL);
	if (!new || !old) {
		ret = -ENOMEM;
		goto out_free_arrays;
	}

	/* Take every reference first, so that failure changes nothing. */
	for (i = 0; i < count; i++) {
		struct eventfd_ctx *ctx;

		if (fds[i] == -1)
			continue;
		if (fds[i] < 0) {
			ret = -EBADF;
			goto out_put;
		}
		ctx = eventfd_ctx_fdget(fds[i]);
		if (IS_ERR(ctx)) {
			ret = PTR_ERR(ctx);
			goto out_put;
		}
		new[i] = kzalloc(sizeof(*new[i]), GFP_KERNEL);
		if (!new[i]) {
			eventfd_ctx_put(ctx);
			ret = -ENOMEM;
			goto out_put;
		}
		new[i]->ctx = ctx;
	}

	mutex_lock(&idev->files_lock);
	if (idev->gone) {
		mutex_unlock(&idev->files_lock);
		ret = -ENODEV;
		goto out_put;
	}
	nold = ivshmem_unhook(ifile, first, count, old);
	for (i = 0; i < count; i++) {
		if (!new[i])
			continue;
		ifile->bindings[first + i] = new[i];
		list_add_tail_rcu(&new[i]->node,
				  &idev->vectors[first + i].bindings);
		new[i] = NULL;
	}
	mutex_unlock(&idev->files_lock);

	ivshmem_free_unhooked(old, nold);
	goto out_free_arrays;

out_put:
	for (i = 0; i < count; i++)
		if (new[i])
			ivshmem_binding_free(new[i]);
out_free_arrays:
	kfree(old);
	kfree(new);
	return ret;
}

/**
 * ivshmem_ring() - write the doorbell register
 * @idev: the device
 * @peer_id: peer to interrupt, checked by the caller
 * @vector: vector, checked by the caller
 *
 * Return: 0, or -ENODEV once the device was removed.
 */
int ivshmem_ring(struct ivshmem_dev *idev, u32 peer_id, u32 vector)
{
	int ret = 0;

	down_read(&idev->alive_rwsem);
	if (idev->gone)
		ret = -ENODEV;
	else
		writel(FIELD_PREP(IVSHMEM_DOORBELL_PEER, peer_id) |
		       FIELD_PREP(IVSHMEM_DOORBELL_VECTOR, vector),
		       idev->regs + IVSHMEM_DOORBELL);
	up_read(&idev->alive_rwsem);
	return ret;
}
