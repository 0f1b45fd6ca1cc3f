// SPDX-License-Identifier: GPL-2.0-only
/*
 * ivshmem selftests: two guests (roles A and B) on one ivshmem-server, and
 * a host peer (ci/host-peer.c) on the same server. Both guests
 * run this program at the same time and meet at barriers in the shared
 * memory (peers.h); each test binds its eventfds before its first barrier,
 * so no ring can arrive unbound.
 *
 * One fixture variant per doorbell device (devices.h); a device's role (A
 * or B) comes from the description (role=), and a device without one
 * SKIPs. It needs the other guest: not a test run_tests runs alone.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/ivshmem.h>

#include "kselftest_harness.h"
#include "devices.h"
#include "peers.h"
#include "util.h"

#define ARRIVE_MS	10000	/* a ring that must come: generous for TCG */
#define QUIET_MS	200
#define BARRIER_S	180
#define MAX_VEC		64
#define PINGPONG	10000	/* round trips */
#define MESSAGES	100000	/* stream messages */

FIXTURE(pair) {
	int fd;
	struct ivshmem_info info;
	struct peers_ctl *ctl;
	int me, other;
	unsigned int nvec;
	int efd[MAX_VEC];
};

FIXTURE_VARIANT(pair) {
	const struct ivs_dev *dev;
};

FIXTURE_SETUP(pair)
{
	struct ivshmem_bind b = { 0 };
	const struct ivs_dev *d;
	int32_t fds[MAX_VEC];
	const char *path;
	unsigned int i;

	self->fd = -1;
	for (i = 0; i < MAX_VEC; i++)
		self->efd[i] = -1;
	d = IVS_SETUP_DEV(variant, "ivshmem-doorbell");
	path = d->node;
	if (!(d->has & IVS_HAS_ROLE))
		IVS_SETUP_SKIP("%s: no role=A|B in the description", d->pci);
	self->me = d->role == 'A' ? ROLE_A : ROLE_B;
	self->other = self->me == ROLE_A ? ROLE_B : ROLE_A;
	self->fd = open(path, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd) TH_LOG("%s: %s", path, strerror(errno));
	ASSERT_EQ(0, ioctl(self->fd, IVSHMEM_IOCTL_INFO, &self->info));
	ASSERT_LE(2, self->info.nr_vectors);
	ASSERT_LE(sizeof(struct peers_ctl), self->info.size);
	self->ctl = mmap(NULL, sizeof(struct peers_ctl), PROT_READ | PROT_WRITE,
			 MAP_SHARED, self->fd, 0);
	ASSERT_NE(MAP_FAILED, self->ctl);

	self->nvec = self->info.nr_vectors < MAX_VEC ? self->info.nr_vectors : MAX_VEC;
	for (i = 0; i < self->nvec; i++) {
		self->efd[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		ASSERT_LE(0, self->efd[i]);
		fds[i] = self->efd[i];
	}
	b.count = self->nvec;
	b.fds = (uintptr_t)fds;
	ASSERT_EQ(0, ioctl(self->fd, IVSHMEM_IOCTL_BIND, &b));

	self->ctl->slot[self->me].id = self->info.peer_id;
	__atomic_store_n(&self->ctl->slot[self->me].ready, 1, __ATOMIC_RELEASE);
}

FIXTURE_TEARDOWN(pair)
{
	unsigned int i;

	for (i = 0; i < MAX_VEC; i++)
		if (self->efd[i] >= 0)
			close(self->efd[i]);
	if (self->fd >= 0)
		close(self->fd);
}

static int ring(int fd, uint32_t peer, uint32_t vector)
{
	struct ivshmem_ring r = { .peer_id = peer, .vector = vector };

	return ioctl(fd, IVSHMEM_IOCTL_RING, &r) ? -errno : 0;
}

static uint64_t wait_efd(int efd, int ms)
{
	struct pollfd p = { .fd = efd, .events = POLLIN };
	uint64_t n = 0;

	if (poll(&p, 1, ms) == 1 && read(efd, &n, sizeof(n)) != sizeof(n))
		n = 0;
	return n;
}

static uint32_t other_id(FIXTURE_DATA(pair) *self)
{
	return self->ctl->slot[self->other].id;
}

TEST_F(pair, rendezvous)
{
	ASSERT_EQ(0, peers_barrier(self->ctl, self->me, 1000, BARRIER_S));
	ASSERT_TRUE(__atomic_load_n(&self->ctl->slot[self->other].ready,
				    __ATOMIC_ACQUIRE));
	EXPECT_NE(self->info.peer_id, other_id(self));
	TH_LOG("I am %c, peer %u; the other guest is peer %u",
	       self->me == ROLE_A ? 'A' : 'B', self->info.peer_id,
	       other_id(self));
}

/* A rings B on each vector, then B rings A: only that vector fires. */
TEST_F(pair, ring_other_guest_on_each_vector)
{
	uint64_t phase = 2000;
	unsigned int k, j;
	int dir;

	ASSERT_EQ(0, peers_barrier(self->ctl, self->me, phase++, BARRIER_S));
	for (k = 0; k < self->nvec; k++) {
		for (dir = ROLE_A; dir <= ROLE_B; dir++) {
			if (self->me == dir) {
				ASSERT_EQ(0, ring(self->fd, other_id(self), k));
			} else {
				EXPECT_LE(1, wait_efd(self->efd[k], ARRIVE_MS))
					TH_LOG("vector %u did not arrive", k);
				usleep(QUIET_MS * 1000);
				for (j = 0; j < self->nvec; j++)
					if (j != k)
						EXPECT_EQ(0, wait_efd(self->efd[j], 0))
							TH_LOG("ring on %u fired %u", k, j);
			}
			ASSERT_EQ(0, peers_barrier(self->ctl, self->me, phase++,
						   BARRIER_S));
		}
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Strict alternation: a lost wakeup shows as a timeout. */
TEST_F_TIMEOUT(pair, ping_pong, 600)
{
	struct peers_ctl *c = self->ctl;
	uint64_t n = PINGPONG, i, *rtt = NULL;

	if (self->me == ROLE_A) {
		rtt = calloc(n, sizeof(*rtt));
		ASSERT_NE(NULL, rtt);
	}
	ASSERT_EQ(0, peers_barrier(c, self->me, 3000, BARRIER_S));
	for (i = 1; i <= n; i++) {
		if (self->me == ROLE_A) {
			uint64_t t0 = now_ns();

			store_rel(&c->seq, i);
			ASSERT_EQ(0, ring(self->fd, other_id(self), 0));
			ASSERT_LE(1, wait_efd(self->efd[0], ARRIVE_MS))
				TH_LOG("lost wakeup at round trip %" PRIu64, i);
			rtt[i - 1] = now_ns() - t0;
			ASSERT_EQ(i, load_acq(&c->ack));
		} else {
			ASSERT_LE(1, wait_efd(self->efd[0], ARRIVE_MS))
				TH_LOG("lost wakeup at round trip %" PRIu64, i);
			ASSERT_EQ(i, load_acq(&c->seq));
			store_rel(&c->ack, i);
			ASSERT_EQ(0, ring(self->fd, other_id(self), 0));
		}
	}
	if (rtt) {
		qsort(rtt, n, sizeof(*rtt), cmp_u64);
		TH_LOG("%" PRIu64 " round trips: median %" PRIu64 " us, p99 %" PRIu64 " us",
		       n, rtt[n / 2] / 1000, rtt[n * 99 / 100] / 1000);
		free(rtt);
	}
	ASSERT_EQ(0, peers_barrier(c, self->me, 3001, BARRIER_S));
}

static uint32_t msg_len(uint64_t seq)
{
	return (uint32_t)((seq * 2654435761ULL) >> 7) % 249;
}

static uint8_t msg_byte(uint64_t seq, uint32_t i)
{
	return (uint8_t)(seq * 31 + i * 7);
}

static void put_bytes(struct peers_ctl *c, uint64_t pos, const void *src,
		      size_t n)
{
	const uint8_t *s = src;
	size_t i;

	for (i = 0; i < n; i++)
		c->data[(pos + i) % STREAM_BYTES] = s[i];
}

static void get_bytes(struct peers_ctl *c, uint64_t pos, void *dst, size_t n)
{
	uint8_t *d = dst;
	size_t i;

	for (i = 0; i < n; i++)
		d[i] = c->data[(pos + i) % STREAM_BYTES];
}

/*
 * Sleeps until @ready() holds, without a lost wakeup: the waiter raises its
 * flag, fences, and checks again before sleeping; the other side publishes,
 * fences, and rings if it sees the flag.
 */
#define WAIT_UNTIL(self, flag, cond) ({					\
	int __ok = 1;							\
	while (!(cond)) {						\
		__atomic_store_n(&(flag), 1, __ATOMIC_SEQ_CST);		\
		__atomic_thread_fence(__ATOMIC_SEQ_CST);		\
		if (!(cond) && !wait_efd((self)->efd[0], ARRIVE_MS))	\
			__ok = 0;					\
		__atomic_store_n(&(flag), 0, __ATOMIC_SEQ_CST);		\
		if (!__ok)						\
			break;						\
	}								\
	__ok;								\
})

TEST_F_TIMEOUT(pair, message_stream, 900)
{
	struct peers_ctl *c = self->ctl;
	uint64_t n = MESSAGES, seq, pos = 0, sum = FNV_INIT, rings = 0;
	uint8_t buf[256];
	uint32_t hdr[2];

	ASSERT_EQ(0, peers_barrier(c, self->me, 4000, BARRIER_S));
	for (seq = 0; seq < n; seq++) {
		uint32_t len = msg_len(seq), i;

		if (self->me == ROLE_A) {
			ASSERT_TRUE(WAIT_UNTIL(self, c->prod_waiting,
				pos + 8 + len - load_acq(&c->tail) <= STREAM_BYTES))
				TH_LOG("producer: lost wakeup at message %" PRIu64, seq);
			hdr[0] = len;
			hdr[1] = (uint32_t)seq;
			for (i = 0; i < len; i++)
				buf[i] = msg_byte(seq, i);
			put_bytes(c, pos, hdr, 8);
			put_bytes(c, pos + 8, buf, len);
			sum = fnv1a(sum, buf, len);
			pos += 8 + len;
			store_rel(&c->head, pos);
			__atomic_thread_fence(__ATOMIC_SEQ_CST);
			if (__atomic_load_n(&c->cons_waiting, __ATOMIC_SEQ_CST)) {
				ASSERT_EQ(0, ring(self->fd, other_id(self), 0));
				rings++;
			}
		} else {
			ASSERT_TRUE(WAIT_UNTIL(self, c->cons_waiting,
					       load_acq(&c->head) - pos >= 8))
				TH_LOG("consumer: lost wakeup at message %" PRIu64, seq);
			get_bytes(c, pos, hdr, 8);
			ASSERT_EQ(len, hdr[0]) TH_LOG("message %" PRIu64, seq);
			ASSERT_EQ((uint32_t)seq, hdr[1]);
			ASSERT_LE(pos + 8 + len, load_acq(&c->head));
			get_bytes(c, pos + 8, buf, len);
			sum = fnv1a(sum, buf, len);
			pos += 8 + len;
			store_rel(&c->tail, pos);
			__atomic_thread_fence(__ATOMIC_SEQ_CST);
			if (__atomic_load_n(&c->prod_waiting, __ATOMIC_SEQ_CST)) {
				ASSERT_EQ(0, ring(self->fd, other_id(self), 0));
				rings++;
			}
		}
	}
	if (self->me == ROLE_A) {
		c->sent_sum = sum;
		store_rel(&c->sent_msgs, n);
	}
	ASSERT_EQ(0, peers_barrier(c, self->me, 4001, BARRIER_S));
	EXPECT_EQ(n, load_acq(&c->sent_msgs));
	EXPECT_EQ(c->sent_sum, sum);
	TH_LOG("%" PRIu64 " messages, %" PRIu64 " bytes, %" PRIu64 " rings sent",
	       n, pos, rings);
}

/* A and the host peer ring each other; B only keeps the pace. */
TEST_F(pair, host_peer_both_ways)
{
	struct peers_ctl *c = self->ctl;
	uint64_t end;

	ASSERT_EQ(0, peers_barrier(c, self->me, 5000, BARRIER_S));
	if (self->me == ROLE_A) {
		end = now_ns() + BARRIER_S * 1000000000ULL;
		while (!__atomic_load_n(&c->slot[ROLE_HOST].ready, __ATOMIC_ACQUIRE)) {
			if (now_ns() > end)
				SKIP(goto out, "no host peer came");
			usleep(1000);
		}
		/* The host answers a ring on its vector 0 with our vector 1. */
		ASSERT_EQ(0, ring(self->fd, c->slot[ROLE_HOST].id, 0));
		EXPECT_LE(1, wait_efd(self->efd[1], ARRIVE_MS));
	}
out:
	ASSERT_EQ(0, peers_barrier(c, self->me, 5001, BARRIER_S));
}

/* B leaves (its guest powers off); A rings it afterwards, harmlessly. */
/* B's guest may take long to leave (a debug kernel's leak scans). */
TEST_F_TIMEOUT(pair, ringing_a_departed_peer_is_harmless, 300)
{
	struct peers_ctl *c = self->ctl;
	uint64_t end;
	unsigned int k;

	ASSERT_EQ(0, peers_barrier(c, self->me, 6000, BARRIER_S));
	if (self->me == ROLE_B)
		return;
	end = now_ns() + BARRIER_S * 1000000000ULL;
	while (!load_acq(&c->b_left)) {
		if (now_ns() > end)
			SKIP(return, "the host peer did not report B leaving");
		usleep(10000);
	}
	for (k = 0; k < self->nvec; k++)
		EXPECT_EQ(0, ring(self->fd, other_id(self), k));
	/* And this guest's doorbells still work. */
	ASSERT_EQ(0, ring(self->fd, self->info.peer_id, 0));
	EXPECT_LE(1, wait_efd(self->efd[0], ARRIVE_MS));
}

IVS_HARNESS_MAIN(pair, IVS_KIND_DOORBELL)
