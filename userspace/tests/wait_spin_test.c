// SPDX-License-Identifier: MIT
/*
 * wait_spin_test - spin-then-sleep waits of libivshmem on a doorbell
 * device, with the word changed by another process. Prints TAP (results
 * first, the plan last); exit status 0 when every check passed.
 *
 *   wait_spin_test DEV
 *
 * DEV is an ivshmem-doorbell device (any name libivshmem takes). The
 * guest rings itself (its own peer id), on vector 1 where there are two,
 * so the test needs nobody else on the server. It uses the first page of
 * the shared memory. Built against the installed library with
 * `pkg-config --cflags --libs libivshmem`: public API only.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include <libivshmem.h>

#define MS	1000000ULL	/* ns */

static int test_no, failures;

static void __attribute__((format(printf, 2, 3))) ok(bool pass, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d - ", pass ? "" : "not ", ++test_no);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!pass)
		failures++;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

struct writer {
	const char *dev;
	unsigned int delay_ms;
	unsigned int width;	/* 4 or 8 */
	uint64_t value;
	bool ring, mmio;
	uint32_t peer, vector;
};

/*
 * Another process, with its own handle and mapping: after @delay_ms it
 * stores @value (release) at offset 256 (4 bytes) or 264 (8 bytes) and,
 * if told, rings. Returns its pid.
 */
static pid_t spawn_writer(const struct writer *w)
{
	struct ivshmem_dev *h;
	unsigned char *p;
	pid_t pid = fork();
	int ret;

	if (pid)
		return pid;
	if (ivshmem_open(w->dev, &h) || ivshmem_map(h, 0, 4096, 0, (void **)&p))
		_exit(10);
	sleep_ms(w->delay_ms);
	if (w->width == 4)
		__atomic_store_n((uint32_t *)(p + 256), (uint32_t)w->value, __ATOMIC_RELEASE);
	else
		__atomic_store_n((uint64_t *)(p + 264), w->value, __ATOMIC_RELEASE);
	ret = 0;
	if (w->ring)
		ret = w->mmio ? ivshmem_ring_mmio(h, w->peer, w->vector) :
			ivshmem_ring(h, w->peer, w->vector);
	ivshmem_close(h);
	_exit(ret ? 11 : 0);
}

static int reap(pid_t pid)
{
	int st;

	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static uint64_t irqs(struct ivshmem_dev *h, unsigned int vector)
{
	uint64_t counts[64] = { 0 };
	size_t n = 0;

	if (ivshmem_interrupt_counts(h, counts, 64, &n) || vector >= n)
		return UINT64_MAX;
	return counts[vector];
}

int main(int argc, char **argv)
{
	struct ivshmem_info info;
	struct ivshmem_dev *h;
	struct writer w;
	unsigned char *p;
	uint64_t *w64, v64 = 0, t, before, after;
	uint32_t *w32, v32 = 0, vector;
	pid_t pid;
	int ret;

	if (argc != 2) {
		fprintf(stderr, "usage: wait_spin_test DEV\n");
		return 2;
	}
	ret = ivshmem_open(argv[1], &h);
	if (!ret)
		ret = ivshmem_get_info(h, &info);
	if (ret || !(info.flags & IVSHMEM_INFO_DOORBELL)) {
		printf("1..0 # SKIP %s: %s\n", argv[1], ret ? strerror(-ret) : "no doorbell");
		return 0;
	}
	vector = info.nr_vectors > 1 ? 1 : 0;
	printf("# %s: peer id %u, %u vectors; waiting on vector %u\n", argv[1],
	       info.peer_id, info.nr_vectors, vector);
	ret = ivshmem_listen(h, 1ULL << vector);
	ok(ret == 0, "listen to vector %u (ret %d)", vector, ret);
	ret = ivshmem_map(h, 0, 4096, 0, (void **)&p);
	ok(ret == 0, "map the first page (ret %d)", ret);
	if (ret) {
		printf("1..%d\n", test_no);
		return 1;
	}
	w32 = (uint32_t *)(p + 256);
	w64 = (uint64_t *)(p + 264);
	__atomic_store_n(w32, 0, __ATOMIC_RELEASE);
	__atomic_store_n(w64, 0, __ATOMIC_RELEASE);
	ivshmem_drain(h, IVSHMEM_VECTORS_ALL, NULL, NULL);
	w = (struct writer){ .dev = argv[1], .peer = info.peer_id, .vector = vector,
			     .mmio = !!(info.flags & IVSHMEM_INFO_REGS_MMAP) };

	/* 1. inside the budget: the spin sees the store, no interrupt at all */
	before = irqs(h, vector);
	w.delay_ms = 20;
	w.width = 8;
	w.value = 1;
	w.ring = false;
	pid = spawn_writer(&w);
	t = now_ms();
	ret = ivshmem_wait_u64(h, w64, 0, 5000 * MS, 1ULL << vector, 10000, &v64);
	t = now_ms() - t;
	ok(ret == 0 && v64 == 1 && t < 5000,
	   "wait_u64, 5 s budget: another process's store (no ring) is seen by spinning "
	   "(%" PRIu64 " ms, ret %d)", t, ret);
	ok(reap(pid) == 0, "the writer process succeeded");
	after = irqs(h, vector);
	ok(before != UINT64_MAX && after == before,
	   "... and no interrupt was involved (vector %u: %" PRIu64 " -> %" PRIu64 ")",
	   vector, before, after);

	/* 2. the same with a 4-byte word */
	w.width = 4;
	w.value = 0xa5a5a5a5;
	pid = spawn_writer(&w);
	ret = ivshmem_wait_u32(h, w32, 0, 5000 * MS, 1ULL << vector, 10000, &v32);
	ok(ret == 0 && v32 == 0xa5a5a5a5,
	   "wait_u32, 5 s budget: another process's store is seen by spinning (ret %d)", ret);
	reap(pid);

	/* 3. past the budget: the waiter sleeps, the writer's ring wakes it */
	before = irqs(h, vector);
	w.delay_ms = 300;
	w.width = 8;
	w.value = 2;
	w.ring = true;
	pid = spawn_writer(&w);
	t = now_ms();
	ret = ivshmem_wait_u64(h, w64, 1, 1 * MS, 1ULL << vector, 10000, &v64);
	t = now_ms() - t;
	ok(ret == 0 && v64 == 2 && t >= 250 && t < 10000,
	   "wait_u64, 1 ms budget: sleeps, and the writer's ring (%s) wakes it after the store "
	   "(%" PRIu64 " ms, ret %d)", w.mmio ? "mapped register" : "ioctl", t, ret);
	ok(reap(pid) == 0, "the writer process stored and rang");
	after = irqs(h, vector);
	ok(after != UINT64_MAX && after > before,
	   "... by an interrupt on vector %u (%" PRIu64 " -> %" PRIu64 ")", vector, before, after);

	/* 4. interrupts left over from earlier rings do not end the wait early */
	ivshmem_ring(h, info.peer_id, vector);
	ivshmem_ring(h, info.peer_id, vector);
	sleep_ms(100);
	w.delay_ms = 400;
	w.value = 3;
	pid = spawn_writer(&w);
	t = now_ms();
	ret = ivshmem_wait_u64(h, w64, 2, 0, 1ULL << vector, 10000, &v64);
	t = now_ms() - t;
	ok(ret == 0 && v64 == 3 && t >= 350,
	   "stale interrupts wake it, but it waits on for the word (%" PRIu64 " ms, ret %d)",
	   t, ret);
	reap(pid);

	/* 5. a store without a ring, once the waiter sleeps, is only seen at the end */
	w.delay_ms = 100;
	w.value = 4;
	w.ring = false;
	pid = spawn_writer(&w);
	t = now_ms();
	ret = ivshmem_wait_u64(h, w64, 3, 1 * MS, 1ULL << vector, 800, &v64);
	t = now_ms() - t;
	ok((ret == 0 && v64 == 4) || ret == -ETIMEDOUT,
	   "a sleeper is not woken by a store alone: it returns at its timeout (ret %d, value %"
	   PRIu64 ")", ret, v64);
	ok(t >= 750, "... after %" PRIu64 " ms, not at the store (100 ms)", t);
	reap(pid);

	/* 6. a timeout with nobody writing */
	t = now_ms();
	ret = ivshmem_wait_u64(h, w64, 4, 10 * MS, 1ULL << vector, 200, NULL);
	t = now_ms() - t;
	ok(ret == -ETIMEDOUT && t >= 195 && t < 5000,
	   "nobody writes: ETIMEDOUT after %" PRIu64 " ms (ret %d)", t, ret);

	ivshmem_close(h);
	printf("1..%d\n", test_no);
	return failures ? 1 : 0;
}
