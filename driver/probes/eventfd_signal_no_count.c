// SPDX-License-Identifier: GPL-2.0-only
/* v6.8: eventfd_signal() lost its count argument. */
#include <linux/eventfd.h>

void ivshmem_probe(struct eventfd_ctx *ctx);
void ivshmem_probe(struct eventfd_ctx *ctx)
{
	eventfd_signal(ctx);
}
