// SPDX-License-Identifier: GPL-2.0-only
/*
 * ivshmem_storm_test: the guest side of the ring storm. A host peer
 * (ci/host-storm.c) rings every vector of this guest as fast as
 * it can; the guest must stay responsive and its counts must add up.
 *
 *   ivshmem_storm_test [TTY]
 *
 * Binds one eventfd to every vector and follows the protocol of storm.h
 * through the first page of the shared memory. Meanwhile a child process
 * counts in a loop (it must make progress in every sample), the main loop
 * samples the sysfs interrupt_counts once a second (they must never go
 * down), and a thread answers "ping N" lines on TTY (a second serial port
 * that the host pings through QEMU) with "pong N".
 *
 * Counts: QEMU merges rings that arrive close together, so the checks are
 * that, per vector, the eventfd counted exactly the interrupts the driver
 * counted, there were at least one and at most as many as rings sent, and
 * a ring sent after the storm, once all was quiet, still arrives.
 *
 * Runs on the first ivshmem-doorbell device (devices.h), and waits up to
 * 600 s for the host. Prints KTAP through kselftest.h; without a doorbell
 * device it SKIPs.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <linux/ivshmem.h>

#include "kselftest.h"
#include "devices.h"
#include "storm.h"
#include "util.h"

#define STORM_TIMEOUT_S	600

/* One result; kselftest.h wants the message's newline. */
#define tap(ok, fmt, ...) ksft_test_result(ok, fmt "\n", ##__VA_ARGS__)

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ULL + ts.tv_nsec / 1000000;
}

static unsigned int nvec;
static char name[64];

static int irq_counts(uint64_t *out)
{
	char path[128], buf[4096], *s = buf;
	unsigned int i;

	snprintf(path, sizeof(path), "/sys/class/ivshmem/%s/interrupt_counts", name);
	if (read_file(path, buf, sizeof(buf)))
		return -1;
	for (i = 0; i < nvec; i++) {
		char *end;

		out[i] = strtoull(s, &end, 10);
		if (end == s)
			return -1;
		s = end;
	}
	return 0;
}

/* ---------------------------------------------------------------- */

static volatile uint64_t pongs;
static const char *tty_path;

static void *responder(void *arg)
{
	struct termios t;
	char line[128];
	size_t n = 0;
	int fd;

	fd = open(tty_path, O_RDWR | O_NOCTTY);
	if (fd < 0) {
		ksft_print_msg("%s: %s\n", tty_path, strerror(errno));
		return NULL;
	}
	if (!tcgetattr(fd, &t)) {
		cfmakeraw(&t);
		tcsetattr(fd, TCSANOW, &t);
	}
	for (;;) {
		char c;

		if (read(fd, &c, 1) != 1)
			continue;
		if (c != '\n' && n < sizeof(line) - 1) {
			line[n++] = c;
			continue;
		}
		line[n] = 0;
		n = 0;
		if (strncmp(line, "ping ", 5))
			continue;
		dprintf(fd, "pong %s\n", line + 5);
		pongs++;
	}
	return NULL;
}

static void counter_child(volatile uint64_t *c)
{
	for (;;)
		(*c)++;
}

int main(int argc, char **argv)
{
	const struct ivs_dev *d;
	const char *path;
	uint64_t timeout_s = STORM_TIMEOUT_S, base[STORM_MAX_VECTORS], prev[STORM_MAX_VECTORS];
	uint64_t cur[STORM_MAX_VECTORS], efd_total[STORM_MAX_VECTORS] = { 0 };
	uint64_t t, t_last, t_event = 0, max_gap = 0, end, rate0, c_last;
	uint64_t min_progress = ~0ULL, samples = 0, storm_start = 0, storm_ms = 0;
	int32_t efds[STORM_MAX_VECTORS];
	struct ivshmem_bind b = { 0 };
	struct ivshmem_info info;
	volatile struct storm_ctl *ctl;
	volatile uint64_t *counter;
	int fd, ep, monotonic = 1, counts_ok = 1, timed_out = 0;
	unsigned int v;
	pthread_t th;
	pid_t kid;

	setvbuf(stdout, NULL, _IOLBF, 0);
	tty_path = argc > 1 ? argv[1] : NULL;
	ksft_print_header();
	d = ivs_first(IVS_KIND_DOORBELL);
	if (!d)
		ksft_exit_skip("no ivshmem-doorbell device\n");
	path = d->node;
	ksft_set_plan(6);

	fd = open(path, O_RDWR);
	if (fd < 0 || ioctl(fd, IVSHMEM_IOCTL_INFO, &info) || !info.nr_vectors ||
	    class_name_of(fd, name, sizeof(name)))
		ksft_exit_fail_msg("%s: no doorbell device (%s)\n", path, strerror(errno));
	nvec = info.nr_vectors < STORM_MAX_VECTORS ? info.nr_vectors : STORM_MAX_VECTORS;
	ctl = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	counter = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ep = epoll_create1(0);
	if (ctl == MAP_FAILED || counter == MAP_FAILED || ep < 0)
		ksft_exit_fail_msg("setup: %s\n", strerror(errno));
	for (v = 0; v < nvec; v++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = v };

		efds[v] = eventfd(0, EFD_NONBLOCK);
		if (efds[v] < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, efds[v], &ev))
			ksft_exit_fail_msg("eventfd: %s\n", strerror(errno));
	}
	b.count = nvec;
	b.fds = (uintptr_t)efds;
	if (ioctl(fd, IVSHMEM_IOCTL_BIND, &b) || irq_counts(base))
		ksft_exit_fail_msg("bind/interrupt_counts: %s\n", strerror(errno));
	memcpy(prev, base, sizeof(prev));

	kid = fork();
	if (kid == 0)
		counter_child(counter);
	if (tty_path)
		pthread_create(&th, NULL, responder, NULL);

	/* The counter's rate before the storm. */
	c_last = *counter;
	usleep(2000000);
	rate0 = (*counter - c_last) / 2;
	ksft_print_msg("%s at %s: peer %u, %u vectors; counter %" PRIu64 "/s before the storm\n",
	       path, d->pci, info.peer_id, nvec, rate0);

	ctl->guest_id = info.peer_id;
	ctl->nr_vectors = nvec;
	storm_store(&ctl->magic, STORM_MAGIC);
	printf("IVS-STORM-READY peer %u\n", info.peer_id);

	end = now_ms() + timeout_s * 1000;
	t_last = now_ms();
	c_last = *counter;
	for (;;) {
		struct epoll_event evs[STORM_MAX_VECTORS];
		uint64_t phase = storm_load(&ctl->phase);
		int n, i;

		n = epoll_wait(ep, evs, STORM_MAX_VECTORS, 200);
		t = now_ms();
		for (i = 0; i < n; i++) {
			uint64_t c;

			v = evs[i].data.u32;
			if (read(efds[v], &c, sizeof(c)) == sizeof(c)) {
				efd_total[v] += c;
				t_event = t;
			}
		}
		if (phase >= 1 && !storm_start)
			storm_start = t;
		if (t - t_last >= 1000) {
			uint64_t c = *counter, sum = 0;

			if (phase == 1) {
				if (t - t_last > max_gap)
					max_gap = t - t_last;
				if (c - c_last < min_progress)
					min_progress = c - c_last;
				samples++;
			}
			if (!irq_counts(cur)) {
				for (v = 0; v < nvec; v++) {
					if (cur[v] < prev[v]) {
						ksft_print_msg("vector %u: interrupt count went down %" PRIu64 " -> %" PRIu64 "\n",
						       v, prev[v], cur[v]);
						monotonic = 0;
					}
					sum += cur[v] - base[v];
				}
				memcpy(prev, cur, sizeof(prev));
			} else {
				monotonic = 0;
			}
			ksft_print_msg("phase %" PRIu64 ": counter +%" PRIu64 " in %" PRIu64 " ms, %" PRIu64 " interrupts so far, %" PRIu64 " pongs\n",
			       phase, c - c_last, t - t_last, sum, pongs);
			t_last = t;
			c_last = c;
		}
		if (phase >= 2 && !storm_ms)
			storm_ms = t - storm_start;
		/* The storm is over and nothing came for 1.5 s. */
		if (phase >= 2 && t - t_event > 1500 && t - storm_start > 1500)
			break;
		if (t > end) {
			timed_out = 1;
			break;
		}
	}

	{
		uint64_t rings = 0;

		for (v = 0; v < nvec; v++)
			rings += ctl->rings[v];
		tap(!timed_out && rings > 0, "storm: the host peer rang %" PRIu64 " times in %" PRIu64 " ms (%" PRIu64 "/s)",
		    rings, storm_ms, storm_ms ? rings * 1000 / storm_ms : 0);
	}
	tap(!timed_out && samples >= 2 && min_progress > 0 && max_gap < 3000,
	    "storm: the guest kept running: counter advanced in each of %" PRIu64 " samples (least %" PRIu64 ", %" PRIu64 "/s before), longest sample %" PRIu64 " ms",
	    samples, min_progress == ~0ULL ? 0 : min_progress, rate0, max_gap);
	tap(monotonic && !irq_counts(cur), "storm: interrupt_counts never went down");
	for (v = 0; v < nvec; v++) {
		uint64_t irqs = cur[v] - base[v], rings = ctl->rings[v];
		int ok = efd_total[v] == irqs && irqs >= 1 && irqs <= rings;

		ksft_print_msg("vector %u: %" PRIu64 " rings, %" PRIu64 " interrupts, eventfd %" PRIu64 "%s\n",
		       v, rings, irqs, efd_total[v], ok ? "" : "  <-- wrong");
		counts_ok &= ok;
	}
	tap(!timed_out && counts_ok,
	    "storm: per vector, eventfd count = interrupt count, 1 <= interrupts <= rings");

	/* The final ring of each vector, sent once all is quiet. */
	storm_store(&ctl->quiet, 1);
	while (storm_load(&ctl->phase) < 3 && now_ms() < end)
		usleep(20000);
	{
		uint64_t seen = 0, all = nvec == 64 ? ~0ULL : (1ULL << nvec) - 1;
		uint64_t stop = now_ms() + 10000;

		while (seen != all && now_ms() < stop) {
			struct epoll_event evs[STORM_MAX_VECTORS];
			int n = epoll_wait(ep, evs, STORM_MAX_VECTORS, 200), i;

			for (i = 0; i < n; i++) {
				uint64_t c;

				v = evs[i].data.u32;
				if (read(efds[v], &c, sizeof(c)) == sizeof(c))
					seen |= 1ULL << v;
			}
		}
		storm_store(&ctl->final_seen, seen);
		tap(seen == all, "storm: the final ring after the storm arrives on every vector (%#" PRIx64 " of %#" PRIx64 ")",
		    seen, all);
	}
	if (tty_path)
		tap(pongs > 0, "storm: the serial line answered %" PRIu64 " pings", pongs);
	else
		ksft_test_result_skip("storm: serial line: no tty given\n");

	kill(kid, SIGKILL);
	waitpid(kid, NULL, 0);
	close(fd);
	ksft_finished();
}
