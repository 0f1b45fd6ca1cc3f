// SPDX-License-Identifier: GPL-2.0-only
/*
 * peer-watch.c - a small host peer for scripted tests.
 *
 * Usage: peer-watch SOCKET SECONDS [LEAVES]
 *
 * Connects with the library, prints "id ID vectors N" and the peers
 * already present, then for SECONDS (or until LEAVES departures were
 * seen) prints "joined ID" (after ringing each of that peer's vectors
 * once) and "left ID".  Exit status: 0, or 1 on an error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ivshmem-peer.h"

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
	struct ivshmem_peer *p;
	struct ivshmem_peer_event ev;
	long long end;
	int leaves = 0, want_leaves, r, v;

	if (argc < 3) {
		fprintf(stderr, "usage: %s SOCKET SECONDS [LEAVES]\n", argv[0]);
		return 2;
	}
	want_leaves = argc > 3 ? atoi(argv[3]) : -1;
	r = ivshmem_peer_connect(argv[1], &p);
	if (r) {
		fprintf(stderr, "peer-watch: connect to %s: %s\n", argv[1], strerror(-r));
		return 1;
	}
	printf("id %d vectors %d\n", ivshmem_peer_id(p), ivshmem_peer_vectors(p));
	fflush(stdout);
	end = now_ms() + atoi(argv[2]) * 1000LL;
	while (now_ms() < end && leaves != want_leaves) {
		struct pollfd pfd = { .fd = ivshmem_peer_fd(p), .events = POLLIN };

		poll(&pfd, 1, 100);
		r = ivshmem_peer_process(p);
		if (r) {
			fprintf(stderr, "peer-watch: %s\n", strerror(-r));
			ivshmem_peer_close(p);
			return 1;
		}
		while (ivshmem_peer_next_event(p, &ev) == 0) {
			if (ev.type == IVSHMEM_PEER_JOINED) {
				for (v = 0; v < ivshmem_peer_vectors(p); v++) {
					r = ivshmem_peer_ring(p, ev.peer_id, (unsigned int)v);
					if (r)
						printf("ring %u/%d: %s\n", ev.peer_id, v, strerror(-r));
				}
				printf("joined %u\n", ev.peer_id);
			} else if (ev.type == IVSHMEM_PEER_LEFT) {
				printf("left %u\n", ev.peer_id);
				leaves++;
			}
			fflush(stdout);
		}
	}
	ivshmem_peer_close(p);
	return 0;
}
