// SPDX-License-Identifier: GPL-2.0-only
/*
 * test-peer.c - the host peer library against ivshmem-server.
 *
 * Usage: test-peer PATH-TO-ivshmem-server
 */
#include "ivs-test.h"

#include "ivshmem-peer.h"

static bool next_event(struct ivshmem_peer *p, uint32_t type, uint32_t id)
{
	struct ivshmem_peer_event ev;
	int r = ivshmem_peer_next_event(p, &ev);

	if (r || ev.type != type || ev.peer_id != id) {
		diag("event: r=%d type=%u id=%u, expected type=%u id=%u", r, r ? 0 : ev.type,
		     r ? 0 : ev.peer_id, type, id);
		return false;
	}
	return true;
}

/* process until @id is (or is not) listed, up to 2 s */
static bool wait_listed(struct ivshmem_peer *p, uint32_t id, bool present)
{
	int64_t end = now_ms() + 2000;

	while (now_ms() < end) {
		uint32_t ids[64];
		size_t n, i;
		bool found = false;

		if (ivshmem_peer_process(p) < 0)
			return false;
		ivshmem_peer_list(p, ids, 64, &n);
		for (i = 0; i < n && i < 64; i++)
			found |= ids[i] == id;
		if (found == present)
			return true;
		sleep_ms(2);
	}
	return false;
}

static void test_two_peers(void)
{
	char *sock = uniq("/tmp/ivs-test", ".sock"), *shm = uniq("ivs-test", "");
	const char *args[] = { "-n", "4", "-l", "1M", "-M", shm, NULL };
	struct ivshmem_peer *a = NULL, *b = NULL;
	struct server_proc sp;
	uint32_t ids[8];
	size_t n = 99;
	uint64_t fired, size = 0;
	int64_t t0;
	int r, v, fd_base;
	bool good;

	fd_base = count_fds(0);
	if (!server_start(&sp, sock, args)) {
		ok(false, "library: server starts");
		goto out;
	}
	r = ivshmem_peer_connect(sock, &a);
	ok(r == 0 && ivshmem_peer_id(a) == 0 && ivshmem_peer_vectors(a) == 4,
	   "first peer connects: id 0, 4 vectors (r=%d)", r);
	if (r)
		goto stop;
	ok(ivshmem_peer_shm_size(a, &size) == 0 && size == 1 << 20, "shm size 1 MiB");
	ok(ivshmem_peer_list(a, ids, 8, &n) == 0 && n == 0, "no other peers yet");

	t0 = now_ms();
	r = ivshmem_peer_connect(sock, &b);
	ok(r == 0 && ivshmem_peer_id(b) == 1 && ivshmem_peer_vectors(b) == 4,
	   "second peer connects: id 1, 4 vectors (r=%d)", r);
	if (r)
		goto stop;
	ok(now_ms() - t0 < 40, "the second handshake ends without the quiet period (%d ms)",
	   (int)(now_ms() - t0));
	ok(ivshmem_peer_list(b, ids, 8, &n) == 0 && n == 1 && ids[0] == 0 &&
	   next_event(b, IVSHMEM_PEER_JOINED, 0),
	   "the second peer lists peer 0 and got a JOINED event for it");
	ok(wait_listed(a, 1, true) && next_event(a, IVSHMEM_PEER_JOINED, 1),
	   "the first peer learns of peer 1 (list and JOINED event)");

	good = true;
	for (v = 0; v < 4; v++) {
		good = good && ivshmem_peer_ring(a, 1, (uint32_t)v) == 0 &&
		       ivshmem_peer_wait(b, ~UINT64_C(0), 2000, &fired) == 0 &&
		       fired == UINT64_C(1) << v;
		good = good && ivshmem_peer_ring(b, 0, (uint32_t)v) == 0 &&
		       ivshmem_peer_wait(a, ~UINT64_C(0), 2000, &fired) == 0 &&
		       fired == UINT64_C(1) << v;
	}
	ok(good, "the peers ring each other on each of the 4 vectors");

	ok(ivshmem_peer_ring(a, 0, 2) == 0 && ivshmem_peer_wait(a, 1 << 2, 1000, &fired) == 0 &&
	   fired == 1 << 2, "a peer can ring itself");

	t0 = now_ms();
	r = ivshmem_peer_wait(a, ~UINT64_C(0), 150, &fired);
	ok(r == -ETIMEDOUT && now_ms() - t0 >= 140 && now_ms() - t0 < 1000,
	   "wait times out with -ETIMEDOUT after 150 ms (%d ms)", (int)(now_ms() - t0));
	ok(ivshmem_peer_wait(a, ~UINT64_C(0), 0, &fired) == -ETIMEDOUT, "wait with timeout 0 polls");

	ok(ivshmem_peer_ring(a, 1, 3) == 0 &&
	   ivshmem_peer_wait(b, 1 << 0, 50, &fired) == -ETIMEDOUT &&
	   ivshmem_peer_wait(b, 1 << 3, 0, &fired) == 0 && fired == 1 << 3,
	   "vectors outside the mask stay pending until asked for");

	ok(ivshmem_peer_ring(a, 1, 4) == -EINVAL, "ring: vector out of range gives -EINVAL");
	ok(ivshmem_peer_ring(a, 77, 0) == -ENOENT, "ring: unknown peer gives -ENOENT");
	ok(ivshmem_peer_wait(a, UINT64_C(1) << 10, 0, &fired) == -EINVAL,
	   "wait: a mask without existing vectors gives -EINVAL");

	/* poll-loop integration */
	{
		struct pollfd pfd = { .fd = ivshmem_peer_fd(a), .events = POLLIN };

		good = poll(&pfd, 1, 0) == 0;
		good = good && ivshmem_peer_ring(b, 0, 1) == 0 && poll(&pfd, 1, 1000) == 1;
		good = good && ivshmem_peer_wait(a, ~UINT64_C(0), 0, &fired) == 0 && fired == 2;
		good = good && poll(&pfd, 1, 0) == 0;
		ok(good, "ivshmem_peer_fd() is readable when a vector fires, and quiet after wait");
	}

	/* memory */
	{
		void *ma = NULL, *mb = NULL, *ma2 = NULL;
		uint64_t sa = 0;

		good = ivshmem_peer_map(a, &ma, &sa) == 0 && ivshmem_peer_map(b, &mb, NULL) == 0 &&
		       ivshmem_peer_map(a, &ma2, NULL) == 0 && ma == ma2 && sa == 1 << 20;
		if (good) {
			((volatile uint64_t *)ma)[1000] = 0xabcdef;
			good = ((volatile uint64_t *)mb)[1000] == 0xabcdef;
		}
		ok(good, "map: shared between the peers, cached on the second call");
	}

	/* departure */
	ivshmem_peer_close(b);
	b = NULL;
	ok(wait_listed(a, 1, false) && next_event(a, IVSHMEM_PEER_LEFT, 1),
	   "departure seen: peer 1 no longer listed, LEFT event");
	ok(ivshmem_peer_ring(a, 1, 0) == -ENOENT, "ring to a departed peer gives -ENOENT");
	{
		struct ivshmem_peer_event ev;

		ok(ivshmem_peer_next_event(a, &ev) == -EAGAIN, "no further events");
	}

	/* the server goes away */
	server_stop(&sp);
	r = ivshmem_peer_wait(a, ~UINT64_C(0), 2000, &fired);
	ok(r == -ECONNRESET, "wait returns -ECONNRESET when the server has gone (r=%d)", r);
	ok(ivshmem_peer_process(a) == -ECONNRESET, "process too");
	ok(ivshmem_peer_ring(a, 0, 0) == 0 && ivshmem_peer_wait(a, 1, 0, &fired) == 0,
	   "already known eventfds still work without the server");
stop:
	ivshmem_peer_close(a);
	ivshmem_peer_close(b);
	server_stop(&sp);
out:
	server_cleanup(&sp);
	ok(count_fds(0) == fd_base, "no fd leak in the library (%d fds, was %d)", count_fds(0),
	   fd_base);
	free(sock);
	free(shm);
}

static void test_first_peer_vectors(void)
{
	char *sock = uniq("/tmp/ivs-test", ".sock"), *shm = uniq("ivs-test", "");
	const char *args[] = { "-n", "64", "-P", "4", "-M", shm, NULL };
	struct ivshmem_peer *a = NULL, *b = NULL, *c = NULL;
	struct server_proc sp;
	uint64_t fired = 0;
	int r;

	if (!server_start(&sp, sock, args)) {
		ok(false, "64 vectors: server starts");
		goto out;
	}
	r = ivshmem_peer_connect(sock, &a);
	ok(r == 0 && ivshmem_peer_vectors(a) == 64, "first peer of a 64-vector server sees 64 vectors");
	r = ivshmem_peer_connect(sock, &b);
	ok(r == 0 && ivshmem_peer_vectors(b) == 64, "so does the second");
	ok(r == 0 && ivshmem_peer_ring(b, 0, 63) == 0 &&
	   ivshmem_peer_wait(a, UINT64_C(1) << 63, 2000, &fired) == 0 && fired == UINT64_C(1) << 63,
	   "vector 63 rings");
	ivshmem_peer_close(a);
	ivshmem_peer_close(b);
	server_stop(&sp);
	server_cleanup(&sp);

	{
		const char *args1[] = { "-P", "1", "-M", shm, NULL };

		if (!server_start(&sp, sock, args1)) {
			ok(false, "-P 1: server starts");
			goto out;
		}
		r = ivshmem_peer_connect(sock, &a);
		ok(r == 0, "-P 1: the first peer connects");
		r = ivshmem_peer_connect_timeout(sock, 2000, &c);
		ok(r == -ECONNREFUSED && c == NULL,
		   "-P 1: the second gets -ECONNREFUSED (r=%d)", r);
		ivshmem_peer_close(a);
		ivshmem_peer_close(c);
		server_stop(&sp);
	}
	r = ivshmem_peer_connect(sock, &a);
	ok(r == -ENOENT || r == -ECONNREFUSED, "no server: connect fails cleanly (r=%d)", r);
out:
	server_cleanup(&sp);
	free(sock);
	free(shm);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s PATH-TO-ivshmem-server\n", argv[0]);
		return 2;
	}
	ivs_server_bin = argv[1];
	signal(SIGPIPE, SIG_IGN);
	test_two_peers();
	test_first_peer_vectors();
	return ivs_exit_status();
}
