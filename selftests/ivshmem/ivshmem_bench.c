// SPDX-License-Identifier: GPL-2.0-only
/*
 * ivshmem_bench: doorbell benchmarks between two guests (roles A and B) on
 * one ivshmem-server, with busy-polling a flag in shared memory measured
 * in the same run as the speed limit of notification. Nothing is
 * asserted: A prints a table (lines starting "BENCH"), and the one KTAP
 * result says the benchmark ran.
 *
 *   ivshmem_bench [ROUNDS [SECONDS]]
 *
 * Runs on the first ivshmem-doorbell device (devices.h) with the role
 * (A or B) the description gives it; without one it SKIPs.
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

#include "kselftest.h"
#include "devices.h"
#include "peers.h"
#include "util.h"

struct bench {
	int fd, efd, me;
	uint32_t other;
	struct ivshmem_info info;
	struct peers_ctl *c;
	volatile uint32_t *regs;
	uint64_t phase;
};

static void die(const char *what)
{
	ksft_exit_fail_msg("%s: %s\n", what, strerror(errno));
	exit(1);
}

static void ring_ioctl(struct bench *b, uint32_t peer)
{
	struct ivshmem_ring r = { .peer_id = peer };

	if (ioctl(b->fd, IVSHMEM_IOCTL_RING, &r))
		die("ring");
}

static void ring_mmio(struct bench *b, uint32_t peer)
{
	b->regs[IVSHMEM_REG_DOORBELL / 4] = peer << 16;
}

static uint64_t wait_efd(struct bench *b)
{
	struct pollfd p = { .fd = b->efd, .events = POLLIN };
	uint64_t n;

	for (;;) {
		if (poll(&p, 1, 10000) != 1) {
			fprintf(stderr, "ivshmem_bench: lost wakeup\n");
			exit(1);
		}
		if (read(b->efd, &n, sizeof(n)) == sizeof(n))
			return n;
	}
}

static void sync_peers(struct bench *b)
{
	if (peers_barrier(b->c, b->me, ++b->phase, 300))
		die("barrier");
}

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, c = *(const uint64_t *)y;

	return a < c ? -1 : a > c;
}

struct result {
	const char *name;
	uint64_t median, p99;	/* ns */
};

/* Round trips: A sends, B answers. @how: 0 ioctl, 1 mmio, 2 busy-poll. */
static struct result round_trips(struct bench *b, int how, uint64_t n)
{
	static const char * const names[] = {
		"round trip, ring by ioctl",
		"round trip, ring by mapped register",
		"round trip, busy-polling a flag",
	};
	struct result r = { .name = names[how] };
	uint64_t *t = calloc(n, sizeof(*t)), i;

	if (!t)
		die("calloc");
	store_rel(&b->c->seq, 0);
	store_rel(&b->c->ack, 0);
	sync_peers(b);
	for (i = 1; i <= n; i++) {
		uint64_t t0 = now_ns();

		if (b->me == ROLE_A) {
			store_rel(&b->c->seq, i);
			if (how == 2) {
				while (load_acq(&b->c->ack) != i)
					;
			} else {
				how ? ring_mmio(b, b->other) : ring_ioctl(b, b->other);
				wait_efd(b);
			}
			t[i - 1] = now_ns() - t0;
		} else {
			if (how == 2) {
				while (load_acq(&b->c->seq) != i)
					;
			} else {
				wait_efd(b);
			}
			store_rel(&b->c->ack, i);
			if (how != 2)
				how ? ring_mmio(b, b->other) : ring_ioctl(b, b->other);
		}
	}
	qsort(t, n, sizeof(*t), cmp_u64);
	r.median = t[n / 2];
	r.p99 = t[n * 99 / 100];
	free(t);
	sync_peers(b);
	return r;
}

/* One way: A rings as fast as it can for @secs; B counts what arrives. */
static void one_way(struct bench *b, int mmio, int secs, double *rate,
		    uint64_t *sent, uint64_t *wakeups)
{
	uint64_t end, n = 0, t0;

	store_rel(&b->c->seq, 0);
	store_rel(&b->c->ack, 0);
	sync_peers(b);
	t0 = now_ns();
	end = t0 + secs * 1000000000ULL;
	if (b->me == ROLE_A) {
		while (now_ns() < end) {
			mmio ? ring_mmio(b, b->other) : ring_ioctl(b, b->other);
			n++;
		}
		*rate = n / ((now_ns() - t0) / 1e9);
		*sent = n;
		store_rel(&b->c->seq, 1);
		/* B reports its wakeups once the last rings had time to land. */
		while (!load_acq(&b->c->ack))
			usleep(1000);
		*wakeups = b->c->sent_msgs;
	} else {
		struct pollfd p = { .fd = b->efd, .events = POLLIN };
		uint64_t v, quiet_since = 0;

		for (;;) {
			if (poll(&p, 1, 100) == 1 &&
			    read(b->efd, &v, sizeof(v)) == sizeof(v)) {
				n++;
				quiet_since = 0;
				continue;
			}
			if (!load_acq(&b->c->seq))
				continue;
			if (!quiet_since)
				quiet_since = now_ns();
			else if (now_ns() - quiet_since > 500000000ULL)
				break;
		}
		b->c->sent_msgs = n;
		store_rel(&b->c->ack, 1);
	}
	sync_peers(b);
}

int main(int argc, char **argv)
{
	const struct ivs_dev *d;
	const char *path;
	uint64_t rounds = argc > 1 ? strtoull(argv[1], NULL, 0) : 2000;
	int secs = argc > 2 ? atoi(argv[2]) : 3;
	struct result res[3];
	struct bench b = { 0 };
	struct ivshmem_bind bind = { .count = 1 };
	int32_t efd;
	double rate[2];
	uint64_t sent[2], woke[2];
	int i;

	ksft_print_header();
	d = ivs_first(IVS_KIND_DOORBELL);
	if (!d)
		ksft_exit_skip("no ivshmem-doorbell device\n");
	if (!(d->has & IVS_HAS_ROLE))
		ksft_exit_skip("%s: no role=A|B in the description\n", d->pci);
	ksft_set_plan(1);
	path = d->node;
	b.me = d->role == 'A' ? ROLE_A : ROLE_B;
	b.fd = open(path, O_RDWR);
	if (b.fd < 0)
		die(path);
	if (ioctl(b.fd, IVSHMEM_IOCTL_INFO, &b.info))
		die("info");
	if (!(b.info.flags & IVSHMEM_INFO_REGS_MMAP))
		ksft_exit_fail_msg("%s: no register page\n", path);
	b.c = mmap(NULL, sizeof(*b.c), PROT_READ | PROT_WRITE, MAP_SHARED, b.fd, 0);
	b.regs = mmap(NULL, getpagesize(), PROT_READ | PROT_WRITE, MAP_SHARED,
		      b.fd, IVSHMEM_MMAP_REGS_OFFSET);
	if (b.c == MAP_FAILED || b.regs == MAP_FAILED)
		die("mmap");
	b.efd = eventfd(0, EFD_NONBLOCK);
	efd = b.efd;
	bind.fds = (uintptr_t)&efd;
	if (b.efd < 0 || ioctl(b.fd, IVSHMEM_IOCTL_BIND, &bind))
		die("bind");

	b.c->slot[b.me].id = b.info.peer_id;
	__atomic_store_n(&b.c->slot[b.me].ready, 1, __ATOMIC_RELEASE);
	b.phase = 10000;
	sync_peers(&b);
	b.other = b.c->slot[b.me == ROLE_A ? ROLE_B : ROLE_A].id;

	for (i = 0; i < 3; i++)
		res[i] = round_trips(&b, i, i == 2 ? rounds * 10 : rounds);
	for (i = 0; i < 2; i++)
		one_way(&b, i, secs, &rate[i], &sent[i], &woke[i]);

	if (b.me != ROLE_A) {
		ksft_test_result_pass("bench: role B kept the pace\n");
		ksft_exit_pass();
	}
	printf("BENCH %-38s %10s %10s %8s\n", "", "median us", "p99 us", "x poll");
	for (i = 0; i < 3; i++)
		printf("BENCH %-38s %10.1f %10.1f %8.1f\n", res[i].name,
		       res[i].median / 1e3, res[i].p99 / 1e3,
		       (double)res[i].median / res[2].median);
	printf("BENCH %-38s %10s %10s %8s\n", "", "rings/s", "wakeups", "x ioctl");
	for (i = 0; i < 2; i++)
		printf("BENCH %-38s %10.0f %10" PRIu64 " %8.2f\n",
		       i ? "one way, ring by mapped register" : "one way, ring by ioctl",
		       rate[i], woke[i], rate[i] / rate[0]);
	printf("BENCH (%" PRIu64 " round trips each, %" PRIu64 " busy-polled; %d s one way; %" PRIu64 " and %" PRIu64 " rings sent)\n",
	       rounds, rounds * 10, secs, sent[0], sent[1]);
	ksft_test_result_pass("bench: round trips and one-way rates measured\n");
	ksft_exit_pass();
}
