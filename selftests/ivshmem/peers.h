/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Layout of the shared memory used by the two-guest doorbell tests and the
 * host peer, plus the few synchronisation helpers they share. Everything
 * starts as zero: the server creates fresh memory for each run.
 */
#ifndef IVSHMEM_PEERS_H
#define IVSHMEM_PEERS_H

#include <sched.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

enum { ROLE_A, ROLE_B, ROLE_HOST, NR_ROLES };

struct peers_slot {
	uint32_t id;		/* peer id, valid once ready is 1 */
	uint32_t ready;
	uint64_t phase;		/* barrier progress */
	uint64_t pad[6];
};

/* Single-producer single-consumer byte ring: A produces, B consumes. */
#define STREAM_BYTES	(64 * 1024)

struct peers_ctl {
	struct peers_slot slot[NR_ROLES];
	uint64_t seq __attribute__((aligned(64)));	/* ping-pong: A's */
	uint64_t ack __attribute__((aligned(64)));	/* ping-pong: B's */
	uint64_t b_left __attribute__((aligned(64)));	/* host saw B go */
	/* stream */
	uint64_t head __attribute__((aligned(64)));	/* bytes produced */
	uint64_t tail __attribute__((aligned(64)));	/* bytes consumed */
	uint32_t cons_waiting __attribute__((aligned(64)));
	uint32_t prod_waiting __attribute__((aligned(64)));
	uint64_t sent_msgs __attribute__((aligned(64)));
	uint64_t sent_sum;
	uint8_t data[STREAM_BYTES] __attribute__((aligned(4096)));
};

static inline uint64_t load_acq(const volatile uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline void store_rel(volatile uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* Publishes @me's @phase and waits for the other guest to reach it.
 * Returns 0, or -1 after @timeout_s seconds. */
static inline int peers_barrier(struct peers_ctl *c, int me, uint64_t phase,
				int timeout_s)
{
	int other = me == ROLE_A ? ROLE_B : ROLE_A;
	uint64_t end = now_ns() + timeout_s * 1000000000ULL;

	store_rel(&c->slot[me].phase, phase);
	while (load_acq(&c->slot[other].phase) < phase) {
		if (now_ns() > end)
			return -1;
		usleep(200);
	}
	return 0;
}

/* FNV-1a over a message, chained. */
static inline uint64_t fnv1a(uint64_t h, const volatile uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

#define FNV_INIT 0xcbf29ce484222325ULL

#endif /* IVSHMEM_PEERS_H */
