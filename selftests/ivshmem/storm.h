/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Layout of the first page of shared memory in the ring-storm test, shared
 * by the guest (ivshmem_storm_test) and the host peer (ci/
 * host-storm.c). The server creates fresh memory, so it starts as zero.
 *
 *   guest: binds every vector, writes guest_id and nr_vectors, then magic
 *   host:  phase 1, rings every vector of guest_id as fast as it can,
 *          then rings[] = how many rings it sent per vector, phase 2
 *   guest: drains until quiet, checks its counts, sets quiet = 1
 *   host:  rings each vector once more (rings[v]++), phase 3
 *   guest: sets final_seen to the vectors whose final ring arrived
 *
 * The driver itself never reads this memory: only the test programs do.
 */
#ifndef IVSHMEM_STORM_H
#define IVSHMEM_STORM_H

#include <stdint.h>

#define STORM_MAGIC		0x4d524f5453535649ULL	/* "IVSSTORM" */
#define STORM_MAX_VECTORS	64

struct storm_ctl {
	uint64_t magic;
	uint32_t guest_id;
	uint32_t nr_vectors;
	uint64_t phase;
	uint64_t quiet;
	uint64_t final_seen;
	uint64_t rings[STORM_MAX_VECTORS];
};

static inline uint64_t storm_load(const volatile uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline void storm_store(volatile uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

#endif /* IVSHMEM_STORM_H */
