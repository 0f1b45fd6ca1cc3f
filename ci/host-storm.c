// SPDX-License-Identifier: GPL-2.0-only
/*
 * host-storm: the host side of the ring storm (guest: ivshmem_storm_test,
 * protocol: selftests/ivshmem/storm.h). Joins the ivshmem-server as a peer
 * with the host-peer library, waits for the guest to publish its peer id,
 * then rings every vector of the guest as fast as it can for STORM_S
 * seconds while pinging the guest through a second serial port (a QEMU
 * chardev socket, PING_SOCKET; "-" for none) twice a second. Prints TAP;
 * exits 0 when every check passed.
 *
 *   host-storm SOCKET PING_SOCKET STORM_S [TIMEOUT_S]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ivshmem-peer.h"
#include "storm.h"

static int failed, count;

static void report(int ok, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d - host storm: ", ok ? "" : "not ", ++count);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	failed |= !ok;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ULL + ts.tv_nsec / 1000000;
}

/* Pinging the guest's second serial port. */
struct pinger {
	int fd;
	uint64_t sent, answered, max_ms, next_at;
	uint64_t sent_at[4096];
	char buf[256];
	size_t len;
};

static int unix_connect(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd, i;

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	for (i = 0; i < 100; i++) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -1;
		if (!connect(fd, (struct sockaddr *)&a, sizeof(a)))
			return fd;
		close(fd);
		usleep(100000);
	}
	return -1;
}

static void ping_poll(struct pinger *pg, uint64_t t)
{
	ssize_t n;
	char *nl;

	if (pg->fd < 0)
		return;
	if (t >= pg->next_at && pg->sent < 4096) {
		char line[32];
		int len = snprintf(line, sizeof(line), "ping %" PRIu64 "\n", pg->sent);

		if (write(pg->fd, line, len) == len)
			pg->sent_at[pg->sent++] = t;
		pg->next_at = t + 500;
	}
	n = read(pg->fd, pg->buf + pg->len, sizeof(pg->buf) - 1 - pg->len);
	if (n <= 0)
		return;
	pg->len += n;
	pg->buf[pg->len] = 0;
	while ((nl = strchr(pg->buf, '\n'))) {
		uint64_t k;

		*nl = 0;
		if (sscanf(pg->buf, "pong %" SCNu64, &k) == 1 && k < pg->sent) {
			pg->answered++;
			if (t - pg->sent_at[k] > pg->max_ms)
				pg->max_ms = t - pg->sent_at[k];
		}
		pg->len -= nl + 1 - pg->buf;
		memmove(pg->buf, nl + 1, pg->len + 1);
	}
	if (pg->len >= sizeof(pg->buf) - 1)
		pg->len = 0;
}

int main(int argc, char **argv)
{
	struct ivshmem_peer *p = NULL;
	struct pinger pg = { .fd = -1 };
	volatile struct storm_ctl *c;
	uint64_t size, end, t, storm_end, rings[STORM_MAX_VECTORS] = { 0 }, total = 0;
	uint64_t pings_before, answered_before, all;
	int storm_s, timeout_s, ret, i, nvec, ring_errors = 0;
	uint32_t id;
	void *addr;

	if (argc < 4) {
		fprintf(stderr, "usage: %s SOCKET PING_SOCKET STORM_S [TIMEOUT_S]\n", argv[0]);
		return 2;
	}
	storm_s = atoi(argv[3]);
	timeout_s = argc > 4 ? atoi(argv[4]) : 600;
	end = now_ms() + timeout_s * 1000ULL;
	for (i = 0; i < 100; i++) {
		ret = ivshmem_peer_connect(argv[1], &p);
		if (ret != -ENOENT && ret != -ECONNREFUSED)
			break;
		usleep(100000);
	}
	report(ret == 0, "joins the server");
	if (ret)
		return 1;
	ret = ivshmem_peer_map(p, &addr, &size);
	report(ret == 0 && size >= sizeof(*c), "maps the shared memory");
	if (ret)
		return 1;
	c = addr;

	/* The guest publishes its id once its eventfds are bound. */
	while (storm_load(&c->magic) != STORM_MAGIC && now_ms() < end)
		ivshmem_peer_wait(p, ~0ULL, 100, NULL);
	if (storm_load(&c->magic) != STORM_MAGIC) {
		report(0, "the guest got ready");
		return 1;
	}
	id = c->guest_id;
	nvec = c->nr_vectors;
	if (nvec < 1 || nvec > STORM_MAX_VECTORS) {
		report(0, "the guest has 1..64 vectors (%d)", nvec);
		return 1;
	}
	/* Its vectors must be known before the storm starts. */
	while (ivshmem_peer_ring(p, id, nvec - 1) == -ENOENT && now_ms() < end)
		ivshmem_peer_wait(p, ~0ULL, 100, NULL);
	rings[nvec - 1]++;
	if (strcmp(argv[2], "-"))
		pg.fd = unix_connect(argv[2]);
	printf("# guest peer %u, %d vectors; storming for %d s%s\n", id, nvec, storm_s,
	       pg.fd < 0 ? ", no ping line" : "");

	storm_store(&c->phase, 1);
	t = now_ms();
	storm_end = t + storm_s * 1000ULL;
	while (t < storm_end) {
		for (i = 0; i < 256; i++) {
			int v = i % nvec;

			if (ivshmem_peer_ring(p, id, v) == 0)
				rings[v]++;
			else
				ring_errors++;
		}
		t = now_ms();
		ping_poll(&pg, t);
	}
	for (i = 0; i < nvec; i++) {
		c->rings[i] = rings[i];
		total += rings[i];
	}
	storm_store(&c->phase, 2);
	report(ring_errors == 0 && total > 0, "rang %" PRIu64 " times in %d s (%" PRIu64 "/s), %d errors",
	       total, storm_s, total / (storm_s ? storm_s : 1), ring_errors);
	pings_before = pg.sent;
	answered_before = pg.answered;
	/* Answers to the last pings may still be on their way. */
	for (t = now_ms(); now_ms() < t + 3000;) {
		ping_poll(&pg, 0);
		usleep(10000);
	}
	if (pg.fd >= 0)
		report(pg.answered >= pings_before / 2 && pg.answered > 0 && pg.max_ms < 10000,
		       "the guest's serial line answered %" PRIu64 " of %" PRIu64 " pings during the storm (%" PRIu64 " in time), slowest %" PRIu64 " ms",
		       pg.answered, pings_before, answered_before, pg.max_ms);
	else
		report(1, "serial line # SKIP no ping socket");

	while (!storm_load(&c->quiet) && now_ms() < end)
		ivshmem_peer_wait(p, ~0ULL, 100, NULL);
	for (i = 0; i < nvec; i++) {
		ret = ivshmem_peer_ring(p, id, i);
		c->rings[i] += ret == 0;
	}
	storm_store(&c->phase, 3);
	t = now_ms();
	all = nvec == 64 ? ~0ULL : (1ULL << nvec) - 1;
	while (storm_load(&c->final_seen) != all && now_ms() < end &&
	       now_ms() < t + 30000)
		ivshmem_peer_wait(p, ~0ULL, 100, NULL);
	report(storm_load(&c->final_seen) == all,
	       "the guest saw the final ring on every vector (%#" PRIx64 ")",
	       (uint64_t)storm_load(&c->final_seen));
	ivshmem_peer_close(p);
	if (pg.fd >= 0)
		close(pg.fd);
	printf("1..%d\n", count);
	return failed;
}
