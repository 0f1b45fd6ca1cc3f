// SPDX-License-Identifier: GPL-2.0-only
/*
 * host-peer: the host side of the two-guest doorbell tests. Joins the
 * ivshmem-server as a peer with the host-peer library, publishes its id in
 * the shared memory (selftests/ivshmem/peers.h), answers guest A's ring on
 * vector 0 with a ring on A's vector 1, and reports guests leaving.
 * Prints TAP; exits 0 when every check passed.
 *
 *   host-peer SOCKET [TIMEOUT_S]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ivshmem-peer.h"
#include "peers.h"

static int failed, count;

static void report(int ok, const char *what)
{
	printf("%sok %d - host peer: %s\n", ok ? "" : "not ", ++count, what);
	fflush(stdout);
	failed |= !ok;
}

/* Waits until guest @role has left; returns 1 if it did in time. */
static int wait_leave(struct ivshmem_peer *p, struct peers_ctl *c, int role,
		      uint64_t end)
{
	struct ivshmem_peer_event ev;
	uint32_t id;
	size_t i, n;
	uint32_t ids[64];

	while (now_ns() < end) {
		int ready = __atomic_load_n(&c->slot[role].ready, __ATOMIC_ACQUIRE);

		/* Takes any stray ring and applies the server's messages. */
		ivshmem_peer_wait(p, ~0ULL, 200, NULL);
		while (ivshmem_peer_next_event(p, &ev) == 0)
			;
		if (!ready)
			continue;
		id = c->slot[role].id;
		if (ivshmem_peer_list(p, ids, 64, &n))
			return 0;
		for (i = 0; i < n && i < 64; i++)
			if (ids[i] == id)
				break;
		if (i == n || i == 64)
			return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct ivshmem_peer *p = NULL;
	struct peers_ctl *c;
	uint64_t size, fired = 0, end;
	int timeout_s = argc > 2 ? atoi(argv[2]) : 600;
	void *addr;
	int ret, i;

	if (argc < 2) {
		fprintf(stderr, "usage: %s SOCKET [TIMEOUT_S]\n", argv[0]);
		return 2;
	}
	end = now_ns() + timeout_s * 1000000000ULL;
	for (i = 0; i < 100; i++) {
		ret = ivshmem_peer_connect(argv[1], &p);
		if (ret != -ENOENT && ret != -ECONNREFUSED)
			break;
		usleep(100000);
	}
	report(ret == 0, "joins the server");
	if (ret) {
		fprintf(stderr, "host-peer: %s: %s\n", argv[1], strerror(-ret));
		return 1;
	}
	ret = ivshmem_peer_map(p, &addr, &size);
	report(ret == 0 && size >= sizeof(*c), "maps the shared memory");
	if (ret)
		return 1;
	c = addr;
	c->slot[ROLE_HOST].id = ivshmem_peer_id(p);
	__atomic_store_n(&c->slot[ROLE_HOST].ready, 1, __ATOMIC_RELEASE);
	printf("# host peer id %d, %d vectors\n", ivshmem_peer_id(p),
	       ivshmem_peer_vectors(p));

	/* A rings our vector 0; we answer on A's vector 1. */
	do {
		ret = ivshmem_peer_wait(p, 1, 1000, &fired);
	} while (ret == -ETIMEDOUT && now_ns() < end);
	report(ret == 0 && (fired & 1), "a guest's ring arrives on vector 0");
	ret = ivshmem_peer_ring(p, c->slot[ROLE_A].id, 1);
	report(ret == 0, "rings guest A on vector 1");

	report(wait_leave(p, c, ROLE_B, end), "sees guest B leave");
	store_rel(&c->b_left, 1);
	report(wait_leave(p, c, ROLE_A, end), "sees guest A leave");
	ret = ivshmem_peer_ring(p, c->slot[ROLE_B].id, 0);
	report(ret == -ENOENT, "ringing a departed guest gives -ENOENT");

	ivshmem_peer_close(p);
	printf("1..%d\n", count);
	return failed;
}
