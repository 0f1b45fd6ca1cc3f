// SPDX-License-Identifier: GPL-2.0-only
/*
 * test-server.c - ivshmem-server checked with a raw protocol client.
 *
 * Usage: test-server PATH-TO-ivshmem-server [SCRATCH-DIR]
 *
 * Conformance (the exact message sequence), robustness (garbage,
 * half-done handshakes, clients that do not read, fd leaks, the peer
 * limit), lifecycle (signals, pid file, daemon mode, stale sockets),
 * readiness (a client that connects the instant the socket path appears
 * is served, over many starts; the ready line; a daemon's launcher exits
 * only once the socket is ready) and option checking.
 */
#include "ivs-test.h"

#include <sys/resource.h>

#include <sys/inotify.h>
#include <sys/mman.h>

#define GiB (UINT64_C(1) << 30)

/*
 * How long to wait for something that must happen: generous, since a
 * loaded machine is slow, and a test that passes never waits that long.
 */
#define LONG_MS 60000

static const char *scratch = "/tmp";

struct raw {
	int sock;
	int id;
	int shm;
	int nvec;
	int own[64];
};

#define RAW_INIT { .sock = -1, .shm = -1 }

static void raw_close(struct raw *r)
{
	int v;

	if (r->sock >= 0)
		close(r->sock);
	if (r->shm >= 0)
		close(r->shm);
	for (v = 0; v < r->nvec; v++)
		close(r->own[v]);
	memset(r, 0, sizeof(*r));
	r->sock = r->shm = -1;
}

/*
 * Connect and read a whole handshake for @n vectors without assuming
 * which peers exist.  The ids of the other peers (each must come with
 * exactly @n fds, in ascending order) go to @others.  Returns true if
 * the sequence is well formed.
 */
static bool raw_join(const char *path, int n, struct raw *r, int *others, int *nothers)
{
	int64_t val;
	int fd, ret, cnt = 0, last = -1, lastcnt = 0;

	memset(r, 0, sizeof(*r));
	r->shm = -1;
	r->sock = unix_connect(path);
	if (r->sock < 0) {
		diag("connect %s: %s", path, strerror(errno));
		return false;
	}
	if (!expect_msg(r->sock, 0, false, NULL, "version"))
		return false;
	if (raw_recv(r->sock, &val, &fd, LONG_MS) != 1 || fd >= 0 || val < 0 || val > 65535) {
		diag("bad id message");
		return false;
	}
	r->id = (int)val;
	if (!expect_msg(r->sock, -1, true, &r->shm, "memory"))
		return false;
	while (r->nvec < n) {
		ret = raw_recv(r->sock, &val, &fd, LONG_MS);
		if (ret != 1 || fd < 0) {
			diag("handshake: r=%d val=%" PRId64 " fd=%d", ret, val, fd);
			if (fd >= 0)
				close(fd);
			return false;
		}
		if (val == r->id) {
			r->own[r->nvec++] = fd;
			continue;
		}
		close(fd);
		if (r->nvec || (int)val < last) {
			diag("handshake: peer %" PRId64 " out of order", val);
			return false;
		}
		if ((int)val != last) {
			if (last >= 0 && lastcnt != n) {
				diag("peer %d came with %d fds", last, lastcnt);
				return false;
			}
			if (others)
				others[cnt] = (int)val;
			cnt++;
			last = (int)val;
			lastcnt = 0;
		}
		lastcnt++;
	}
	if (last >= 0 && lastcnt != n) {
		diag("peer %d came with %d fds", last, lastcnt);
		return false;
	}
	if (nothers)
		*nothers = cnt;
	return true;
}

/*
 * Read what an existing peer is told until it got at least @want_vec
 * eventfd messages and @want_leaves departures in all (or LONG_MS
 * passed), then until @quiet_ms of silence: anything more is counted too.
 */
static void drain_until(int sock, int *vec_msgs, int *leaves, int want_vec, int want_leaves,
			int quiet_ms)
{
	int64_t end = now_ms() + LONG_MS, val;
	int fd;

	while ((*vec_msgs < want_vec || *leaves < want_leaves) && now_ms() < end &&
	       raw_recv(sock, &val, &fd, (int)(end - now_ms())) == 1) {
		if (fd >= 0) {
			close(fd);
			(*vec_msgs)++;
		} else {
			(*leaves)++;
		}
	}
	while (raw_recv(sock, &val, &fd, quiet_ms) == 1) {
		if (fd >= 0) {
			close(fd);
			(*vec_msgs)++;
		} else {
			(*leaves)++;
		}
	}
}

/* wait until the server holds @want fds (LONG_MS at most); the count */
static int wait_fds(pid_t pid, int want)
{
	int64_t end = now_ms() + LONG_MS;
	int n;

	while ((n = count_fds(pid)) != want && now_ms() < end)
		sleep_ms(5);
	return n;
}

/* Read what an existing peer is told until @quiet_ms of silence. */
static void drain(int sock, int *vec_msgs, int *leaves, int quiet_ms)
{
	int64_t val;
	int fd;

	while (raw_recv(sock, &val, &fd, quiet_ms) == 1) {
		if (fd >= 0) {
			close(fd);
			(*vec_msgs)++;
		} else {
			(*leaves)++;
		}
	}
}

/* skip messages until "@id left" */
static bool wait_left(int sock, int64_t id)
{
	int64_t val;
	int fd;

	while (raw_recv(sock, &val, &fd, LONG_MS) == 1) {
		if (fd >= 0)
			close(fd);
		else if (val == id)
			return true;
	}
	diag("no departure of peer %" PRId64, id);
	return false;
}

static bool path_exists(const char *p)
{
	struct stat st;

	return lstat(p, &st) == 0;
}

static bool shm_exists(const char *name)
{
	char p[300];

	snprintf(p, sizeof(p), "/dev/shm/%s", name);
	return path_exists(p);
}

static uint64_t fd_size(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* ------------------------------------------------------------------ */

static void test_conformance(int n)
{
	char *sock = uniq("/tmp/ivs-test", ".sock"), *shm = uniq("ivs-test", "");
	char nstr[8];
	const char *args[] = { "-n", nstr, "-l", "1M", "-M", shm, NULL };
	struct server_proc sp;
	int a, b, ashm = -1, bshm = -1, v;
	int a_own[64], b_own[64], a_to_b[64], b_to_a[64];
	bool good;
	struct stat sa, sb;

	snprintf(nstr, sizeof(nstr), "%d", n);
	if (!server_start(&sp, sock, args)) {
		ok(false, "N=%d: server starts", n);
		goto out;
	}

	/* first peer */
	a = unix_connect(sock);
	good = a >= 0 && expect_msg(a, 0, false, NULL, "A version") &&
	       expect_msg(a, 0, false, NULL, "A id") &&
	       expect_msg(a, -1, true, &ashm, "A memory");
	for (v = 0; good && v < n; v++)
		good = expect_msg(a, 0, true, &a_own[v], "A own vector") && fd_is_eventfd(a_own[v]);
	good = good && expect_silence(a, 100);
	ok(good, "N=%d first peer: version 0, id 0, memory, %d own eventfds, nothing more", n, n);
	ok(ashm >= 0 && fstat(ashm, &sa) == 0 && S_ISREG(sa.st_mode) && sa.st_size == 1 << 20,
	   "N=%d memory fd is a regular file of 1 MiB (fstat)", n);

	/* second peer */
	b = unix_connect(sock);
	good = b >= 0 && expect_msg(b, 0, false, NULL, "B version") &&
	       expect_msg(b, 1, false, NULL, "B id") &&
	       expect_msg(b, -1, true, &bshm, "B memory");
	for (v = 0; good && v < n; v++)
		good = expect_msg(b, 0, true, &b_to_a[v], "B: peer 0 vector") &&
		       fd_is_eventfd(b_to_a[v]);
	for (v = 0; good && v < n; v++)
		good = expect_msg(b, 1, true, &b_own[v], "B own vector") &&
		       fd_is_eventfd(b_own[v]);
	good = good && expect_silence(b, 100);
	ok(good, "N=%d second peer: version, id 1, memory, peer 0 x%d, own id 1 x%d", n, n, n);
	ok(bshm >= 0 && fstat(bshm, &sb) == 0 && sa.st_ino == sb.st_ino && sa.st_dev == sb.st_dev,
	   "N=%d both peers got the same memory object", n);

	good = true;
	for (v = 0; good && v < n; v++)
		good = expect_msg(a, 1, true, &a_to_b[v], "A: new peer vector");
	good = good && expect_silence(a, 100);
	ok(good, "N=%d first peer told about the second: id 1 with %d eventfds", n, n);

	/* the fds connect the right vectors */
	good = true;
	for (v = 0; good && v < n; v++) {
		uint64_t one = 1, cnt = 0;
		int w;

		good = write(b_to_a[v], &one, 8) == 8;
		for (w = 0; good && w < n; w++) {
			struct pollfd pfd = { .fd = a_own[w], .events = POLLIN };
			bool ready = poll(&pfd, 1, 0) == 1;

			good = ready == (w == v) && (!ready || (read(a_own[w], &cnt, 8) == 8 && cnt == 1));
		}
		good = good && write(a_to_b[v], &one, 8) == 8;
		for (w = 0; good && w < n; w++) {
			struct pollfd pfd = { .fd = b_own[w], .events = POLLIN };
			bool ready = poll(&pfd, 1, 0) == 1;

			good = ready == (w == v) && (!ready || (read(b_own[w], &cnt, 8) == 8 && cnt == 1));
		}
	}
	ok(good, "N=%d the eventfds reach the right peer on the right vector", n);

	/* shared memory is shared */
	{
		volatile uint32_t *ma = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, ashm, 0);
		volatile uint32_t *mb = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, bshm, 0);

		good = ma != MAP_FAILED && mb != MAP_FAILED;
		if (good) {
			ma[7] = 0xfeedbeefu + (uint32_t)n;
			good = mb[7] == 0xfeedbeefu + (uint32_t)n;
		}
		if (ma != MAP_FAILED)
			munmap((void *)ma, 4096);
		if (mb != MAP_FAILED)
			munmap((void *)mb, 4096);
		ok(good, "N=%d a write by one peer is seen by the other", n);
	}

	/* departure */
	close(b);
	ok(expect_msg(a, 1, false, NULL, "A: peer left") && expect_silence(a, 100),
	   "N=%d peer-left: the first peer receives id 1 without an fd", n);

	/* ids go round: a departed peer's id does not come back at once */
	{
		struct raw rc = RAW_INIT, rd = RAW_INIT, re = RAW_INIT;
		int others[4], no = 0;

		good = raw_join(sock, n, &rc, others, &no) && rc.id == 2 && no == 1 && others[0] == 0;
		good = good && raw_join(sock, n, &rd, others, &no) && rd.id == 3 && no == 2;
		raw_close(&rc);
		/* wait until the server has seen the departure */
		good = good && wait_left(a, 2);
		good = good && raw_join(sock, n, &re, others, &no) && re.id == 4 && no == 2 &&
		       others[0] == 0 && others[1] == 3;
		ok(good, "N=%d ids: a new peer gets the next id, not a departed one's", n);
		raw_close(&rd);
		raw_close(&re);
	}

	close(a);
	close(ashm);
	close(bshm);
	for (v = 0; v < n; v++) {
		close(a_own[v]);
		close(b_own[v]);
		close(a_to_b[v]);
		close(b_to_a[v]);
	}
	ok(WIFEXITED(server_stop(&sp)), "N=%d server exits on SIGTERM", n);
out:
	server_cleanup(&sp);
	free(sock);
	free(shm);
}

static void test_garbage(void)
{
	char *sock = uniq("/tmp/ivs-test", ".sock"), *shm = uniq("ivs-test", "");
	const char *args[] = { "-n", "2", "-M", shm, NULL };
	struct server_proc sp;
	struct raw a = RAW_INIT, g = RAW_INIT, h = RAW_INIT, i = RAW_INIT;
	int64_t val;
	int fd, r, others[4], no;
	bool good;

	if (!server_start(&sp, sock, args)) {
		ok(false, "garbage: server starts");
		goto out;
	}
	good = raw_join(sock, 2, &a, NULL, NULL) && raw_join(sock, 2, &g, NULL, NULL);
	good = good && expect_msg(a.sock, g.id, true, NULL, "join") &&
	       expect_msg(a.sock, g.id, true, NULL, "join");
	good = good && send(g.sock, "garbage!", 8, MSG_NOSIGNAL) == 8;
	r = raw_recv(g.sock, &val, &fd, LONG_MS);
	ok(good && (r == 0 || r == -ECONNRESET), "a client that sends bytes is disconnected");
	ok(expect_msg(a.sock, g.id, false, NULL, "garbage peer left"),
	   "the others are told that it left");
	ok(file_contains(sp.log, "sent data"), "the server logs why it dropped the client");
	raw_close(&g);

	/* a client that sends before reading anything */
	i.sock = unix_connect(sock);
	good = i.sock >= 0 && send(i.sock, "x", 1, MSG_NOSIGNAL) == 1;
	{
		int vm = 0, lv = 0;

		/* it never read its handshake: the others never hear of it */
		close(i.sock);
		drain(a.sock, &vm, &lv, 100);
		good = good && vm == 0 && lv == 0;
	}
	good = good && raw_join(sock, 2, &h, others, &no) && h.id != a.id && no == 1;
	ok(good, "the server keeps serving: the next client gets a correct handshake");
	raw_close(&h);
	raw_close(&a);
	server_stop(&sp);
out:
	server_cleanup(&sp);
	free(sock);
	free(shm);
}

static void test_midhandshake(void)
{
	char *sock = uniq("/tmp/ivs-test", ".sock"), *shm = uniq("ivs-test", "");
	const char *args[] = { "-n", "4", "-M", shm, NULL };
	struct server_proc sp;
	struct raw a = RAW_INIT, b = RAW_INIT;
	int base, after, k, vm = 0, lv = 0, others[8], no;
	char buf[3];
	bool good;

	if (!server_start(&sp, sock, args)) {
		ok(false, "mid-handshake: server starts");
		goto out;
	}
	good = raw_join(sock, 4, &a, NULL, NULL);
	sleep_ms(50);
	base = count_fds(sp.pid);
	for (k = 0; k < 20; k++) {		/* connect and go */
		int s = unix_connect(sock);

		if (s >= 0)
			close(s);
	}
	for (k = 0; k < 20; k++) {		/* two messages, then go */
		int s = unix_connect(sock);
		int64_t val;
		int fd;

		if (s < 0)
			continue;
		raw_recv(s, &val, &fd, 1000);
		raw_recv(s, &val, &fd, 1000);
		close(s);
	}
	for (k = 0; k < 20; k++) {		/* three bytes, then go */
		int s = unix_connect(sock);

		if (s < 0)
			continue;
		if (recv(s, buf, 3, 0) < 0)
			diag("recv: %s", strerror(errno));
		close(s);
	}
	for (k = 0; k < 20; k++) {		/* half-close */
		int s = unix_connect(sock);

		if (s < 0)
			continue;
		shutdown(s, SHUT_WR);
		close(s);
	}
	/* none read its handshake: none is announced (issue 13), nor its departure */
	drain(a.sock, &vm, &lv, 100);
	ok(good && vm == 0 && lv == 0,
	   "80 clients leaving mid-handshake: the first peer hears of none (%d fds, %d departures)",
	   vm, lv);
	good = raw_join(sock, 4, &b, others, &no) && b.id != 0 && no == 1 && others[0] == 0;
	ok(good, "the server still serves a full handshake afterwards");
	/* announced once it has read its handshake; then it leaves */
	drain_until(a.sock, &vm, &lv, 4, 0, 0);
	raw_close(&b);
	/* b's join and departure: the server closed b's fds by then */
	drain_until(a.sock, &vm, &lv, 4, 1, 0);
	after = wait_fds(sp.pid, base);
	ok(base > 0 && after == base, "no fd leak in the server (%d fds before, %d after)", base, after);
	raw_close(&a);
	server_stop(&sp);
out:
	server_cleanup(&sp);
	free(sock);
	free(shm);
}

static void test_slow_reader(void)
{
	char *sock = uniq("/tmp/ivs-test", ".sock"), *shm = uniq("ivs-test", "");
	const char *args[] = { "-n", "64", "-P", "16", "-M", shm, NULL };
	struct server_proc sp;
	struct raw x = RAW_INIT, y[6] = { RAW_INIT, RAW_INIT, RAW_INIT, RAW_INIT, RAW_INIT, RAW_INIT };
	int k, v, fd;
	int64_t val;
	bool good = true;

	if (!server_start(&sp, sock, args)) {
		ok(false, "slow reader: server starts");
		goto out;
	}
	/* first in the listen backlog, so accepted first: peer 0 */
	x.sock = unix_connect(sock);
	for (k = 0; k < 6; k++)
		good = good && raw_join(sock, 64, &y[k], NULL, NULL) && y[k].id == k + 1;
	ok(good, "six peers with 64 vectors join while the first one does not read");
	/* now read everything the first one was sent, in order */
	good = x.sock >= 0 && expect_msg(x.sock, 0, false, NULL, "version") &&
	       expect_msg(x.sock, 0, false, NULL, "id") && expect_msg(x.sock, -1, true, NULL, "memory");
	for (v = 0; good && v < 64; v++)
		good = expect_msg(x.sock, 0, true, NULL, "own");
	for (k = 0; good && k < 6; k++) {
		for (v = 0; good && v < 64; v++) {
			fd = -1;
			good = raw_recv(x.sock, &val, &fd, LONG_MS) == 1 && val == k + 1 && fd >= 0 &&
			       fd_is_eventfd(fd);
			if (fd >= 0)
				close(fd);
		}
	}
	good = good && expect_silence(x.sock, 100);
	ok(good, "all %d queued messages reach the slow reader, in order, each with its eventfd",
	   3 + 64 + 6 * 64);
	close(x.sock);
	for (k = 0; k < 6; k++)
		raw_close(&y[k]);
	server_stop(&sp);
out:
	server_cleanup(&sp);
	free(sock);
	free(shm);
}

static void test_nonreader(void)
{
	char *sock = uniq("/tmp/ivs-test", ".sock"), *shm = uniq("ivs-test", "");
	const char *args[] = { "-v", "-n", "64", "-P", "8", "-M", shm, NULL };
	struct server_proc sp;
	struct raw xr = RAW_INIT, w = RAW_INIT;
	int x, k, others[8], no = 0, dropped_at = -1, slowest = 0;
	int64_t end;
	bool served = true;
	int64_t val;
	int fd, r, base;

	if (!server_start(&sp, sock, args)) {
		ok(false, "non-reader: server starts");
		goto out;
	}
	base = count_fds(sp.pid);
	/*
	 * A client that reads its handshake (so it is announced to the others)
	 * and then nothing more; one that never reads is not announced at all
	 * (test_idle).
	 */
	served = raw_join(sock, 64, &xr, NULL, NULL);
	x = xr.sock;
	end = now_ms() + LONG_MS;
	while (!file_contains(sp.log, "peer 0 joined") && now_ms() < end)
		sleep_ms(5);
	/* a peer that reads: each newcomer leaves once this one heard of it */
	served = served && raw_join(sock, 64, &w, NULL, NULL);
	for (k = 0; k < 300 && served; k++) {
		struct raw y = RAW_INIT;
		int64_t t0 = now_ms();
		int wv = 0, wl = 0;

		served = raw_join(sock, 64, &y, others, &no);
		if (now_ms() - t0 > slowest)
			slowest = (int)(now_ms() - t0);
		drain_until(w.sock, &wv, &wl, 64, 0, 0);
		raw_close(&y);
		drain_until(w.sock, &wv, &wl, 64, 1, 0);
		served = served && wv == 64 && wl >= 1;	/* and x's, once dropped */
		if (served && no == 1) {
			dropped_at = k;
			break;
		}
	}
	ok(served, "others are served while a client never reads (%d joins, slowest %d ms)", k,
	   slowest);
	ok(dropped_at > 0, "the client that never reads is dropped once its backlog is over the limit "
	   "(after %d joins)", dropped_at);
	ok(file_contains(sp.log, "does not read"), "the server logs the reason");
	/* the dropped client finds the end of the stream after what was sent */
	do {
		r = raw_recv(x, &val, &fd, LONG_MS);
		if (fd >= 0)
			close(fd);
	} while (r == 1);
	ok(r == 0, "the dropped client sees its connection closed");
	raw_close(&xr);
	raw_close(&w);
	ok(wait_fds(sp.pid, base) == base, "the server holds no fd of it any more (%d, was %d)",
	   count_fds(sp.pid), base);
	server_stop(&sp);
out:
	server_cleanup(&sp);
	free(sock);
	free(shm);
}

static void test_cycles(void)
{
	char *sock = uniq("/tmp/ivs-test", ".sock"), *shm = uniq("ivs-test", "");
	const char *args[] = { "-n", "2", "-M", shm, NULL };
	struct server_proc sp;
	struct raw a = RAW_INIT;
	int base, after, k, good_joins = 0, vm = 0, lv = 0;

	if (!server_start(&sp, sock, args)) {
		ok(false, "cycles: server starts");
		goto out;
	}
	raw_join(sock, 2, &a, NULL, NULL);
	sleep_ms(50);
	base = count_fds(sp.pid);
	for (k = 0; k < 300; k++) {
		struct raw y = RAW_INIT;

		/* announced once it has read its handshake: leave after that */
		if (raw_join(sock, 2, &y, NULL, NULL))
			good_joins++;
		drain_until(a.sock, &vm, &lv, 2 * (k + 1), k, 0);
		raw_close(&y);
	}
	drain_until(a.sock, &vm, &lv, 600, 300, 100);
	after = wait_fds(sp.pid, base);
	ok(good_joins == 300 && vm == 600 && lv == 300,
	   "300 connect/disconnect cycles: all served, the first peer saw every join and departure");
	ok(base > 0 && after == base, "server fd count equal before and after 300 cycles (%d, %d)",
	   base, after);
	raw_close(&a);
	server_stop(&sp);
out:
	server_cleanup(&sp);
	free(sock);
	free(shm);
}

static void test_limit(void)
{
	char *sock = uniq("/tmp/ivs-test", ".sock"), *shm = uniq("ivs-test", "");
	const char *args[] = { "-P", "3", "-M", shm, NULL };
	struct server_proc sp;
	struct raw p[3] = { RAW_INIT, RAW_INIT, RAW_INIT }, q = RAW_INIT;
	int64_t val;
	int fd, s, r, k, others[4], no;
	bool good = true;

	if (!server_start(&sp, sock, args)) {
		ok(false, "limit: server starts");
		goto out;
	}
	for (k = 0; k < 3; k++)
		good = good && raw_join(sock, 1, &p[k], NULL, NULL) && p[k].id == k;
	s = unix_connect(sock);
	r = raw_recv(s, &val, &fd, LONG_MS);
	ok(good && s >= 0 && r == 0, "-P 3: a fourth client is closed before the handshake");
	close(s);
	ok(file_contains(sp.log, "limit of 3 peers"), "the refusal is logged");
	raw_close(&p[1]);
	good = wait_left(p[0].sock, 1);
	good = good && raw_join(sock, 1, &q, others, &no) && q.id == 3 && no == 2;
	ok(good, "after one leaves, a new client is accepted (with the next id, 3)");
	raw_close(&q);
	raw_close(&p[0]);
	raw_close(&p[2]);
	server_stop(&sp);
out:
	server_cleanup(&sp);
	free(sock);
	free(shm);
}

static void test_signals(int sig, const char *name)
{
	char *sock = uniq("/tmp/ivs-test", ".sock"), *shm = uniq("ivs-test", "");
	char *pidfile = uniq("/tmp/ivs-test", ".pid");
	const char *args[] = { "-M", shm, "-p", pidfile, NULL };
	struct server_proc sp;
	struct raw a = RAW_INIT;
	char buf[32] = "";
	int fd, status = -1;
	int64_t end;
	bool good;

	if (!server_start(&sp, sock, args)) {
		ok(false, "%s: server starts", name);
		goto out;
	}
	good = raw_join(sock, 1, &a, NULL, NULL);
	fd = open(pidfile, O_RDONLY);
	if (fd >= 0) {
		if (read(fd, buf, sizeof(buf) - 1) < 0)
			buf[0] = '\0';
		close(fd);
	}
	ok(good && atoi(buf) == sp.pid && shm_exists(shm) && path_exists(sock),
	   "%s: pid file holds the server's pid; socket and shm object exist", name);
	kill(sp.pid, sig);
	end = now_ms() + LONG_MS;
	while (now_ms() < end && waitpid(sp.pid, &status, WNOHANG) != sp.pid)
		sleep_ms(5);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: the server exits with status 0",
	   name);
	if (WIFEXITED(status) || WIFSIGNALED(status))
		sp.pid = 0;
	ok(!path_exists(sock) && !shm_exists(shm) && !path_exists(pidfile),
	   "%s removes the socket, the shm object and the pid file", name);
	raw_close(&a);
out:
	server_cleanup(&sp);
	shm_unlink(shm);
	unlink(pidfile);
	free(sock);
	free(shm);
	free(pidfile);
}

static void test_sizes(void)
{
	static const struct {
		const char *arg;
		uint64_t want;
	} cases[] = {
		{ "4G", 4 * GiB },
		{ "4096M", 4 * GiB },
		{ "5M", UINT64_C(8) << 20 },
		{ "3000", 4096 },
		{ "64k", 65536 },
	};
	size_t k;

	for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		char *sock = uniq("/tmp/ivs-test", ".sock"), *shm = uniq("ivs-test", "");
		const char *args[] = { "-l", cases[k].arg, "-M", shm, NULL };
		struct server_proc sp;
		struct raw a = RAW_INIT;
		struct stat st = { 0 };
		bool good;

		if (!server_start(&sp, sock, args)) {
			ok(false, "-l %s: server starts", cases[k].arg);
			goto next;
		}
		good = raw_join(sock, 1, &a, NULL, NULL) && fstat(a.shm, &st) == 0;
		ok(good && (uint64_t)st.st_size == cases[k].want,
		   "-l %s: the client's fstat gives %" PRIu64 " bytes (got %" PRIu64 ")%s",
		   cases[k].arg, cases[k].want, (uint64_t)st.st_size,
		   cases[k].want >= 4 * GiB ? ", sparse" : "");
		if (cases[k].want >= 4 * GiB)
			ok(good && st.st_blocks == 0, "-l %s: the memory is not allocated up front",
			   cases[k].arg);
		if (strcmp(cases[k].arg, "3000") == 0)
			ok(file_contains(sp.log, "rounded up"), "-l 3000: the rounding is reported");
		raw_close(&a);
		server_stop(&sp);
next:
		server_cleanup(&sp);
		shm_unlink(shm);
		free(sock);
		free(shm);
	}
}

/* run the server with @argv (NULL-terminated), return its exit status; stderr to @log */
static int run_server(const char *const *args, const char *log, int timeout_ms)
{
	const char *argv[32];
	int i = 0, status = -1;
	int64_t end = now_ms() + timeout_ms;
	pid_t pid;

	argv[i++] = ivs_server_bin;
	while (*args && i < 31)
		argv[i++] = *args++;
	argv[i] = NULL;
	pid = fork();
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (fd >= 0) {
			dup2(fd, 2);
			dup2(fd, 1);
		}
		execv(ivs_server_bin, (char *const *)argv);
		_exit(127);
	}
	while (now_ms() < end) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return status;
		sleep_ms(5);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

static void test_socket_path(void)
{
	char *sock = uniq("/tmp/ivs-test", ".sock"), *shm = uniq("ivs-test", "");
	char *shm2 = uniq("ivs-test", ""), *log = uniq("/tmp/ivs-test-log", ".txt");
	const char *args[] = { "-M", shm, NULL };
	const char *args2[] = { "-F", "-S", sock, "-M", shm2, NULL };
	struct server_proc sp;
	struct raw a = RAW_INIT;
	int status, fd;

	if (!server_start(&sp, sock, args)) {
		ok(false, "socket path: server starts");
		goto out;
	}
	status = run_server(args2, log, LONG_MS);
	ok(WIFEXITED(status) && WEXITSTATUS(status) != 0 && file_contains(log, "in use"),
	   "a second server on a live socket refuses to start, saying the socket is in use");
	if (!(WIFEXITED(status) && WEXITSTATUS(status) != 0))
		diag_file(log);
	ok(!shm_exists(shm2), "and leaves no shm object behind");
	ok(raw_join(sock, 1, &a, NULL, NULL), "the first server still serves");
	raw_close(&a);
	server_stop(&sp);
	server_cleanup(&sp);

	/* stale socket: bound, never unlinked */
	fd = unix_listen(sock);
	close(fd);
	ok(fd >= 0 && path_exists(sock), "a stale socket file exists");
	if (!server_start(&sp, sock, args)) {
		ok(false, "a server starts over a stale socket");
	} else {
		ok(raw_join(sock, 1, &a, NULL, NULL) && file_contains(sp.log, "stale"),
		   "a server starts over a stale socket (removing it) and serves");
		raw_close(&a);
		server_stop(&sp);
	}
	server_cleanup(&sp);

	/* a regular file is never removed */
	fd = open(sock, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	close(fd);
	status = run_server(args2, log, LONG_MS);
	ok(WIFEXITED(status) && WEXITSTATUS(status) != 0 && file_contains(log, "not a socket") &&
	   path_exists(sock), "a regular file at the socket path is refused and left alone");
	unlink(sock);
out:
	server_cleanup(&sp);
	shm_unlink(shm);
	shm_unlink(shm2);
	unlink(log);
	free(sock);
	free(shm);
	free(shm2);
	free(log);
}

static void test_existing_shm(void)
{
	char *sock = uniq("/tmp/ivs-test", ".sock"), *shm = uniq("ivs-test", "");
	char *log = uniq("/tmp/ivs-test-log", ".txt");
	const char *args[] = { "-M", shm, "-l", "64K", NULL };
	const char *args_small[] = { "-F", "-S", sock, "-M", shm, "-l", "4K", NULL };
	struct server_proc sp;
	struct raw a = RAW_INIT;
	uint32_t *m;
	int fd, status;
	bool good = false;

	fd = shm_open(shm, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd < 0 || ftruncate(fd, 65536) < 0) {
		ok(false, "existing shm: create it");
		goto out;
	}
	m = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (m == MAP_FAILED) {
		ok(false, "existing shm: map it");
		goto out;
	}
	m[100] = 0x12345678;
	munmap(m, 65536);
	if (server_start(&sp, sock, args)) {
		if (raw_join(sock, 1, &a, NULL, NULL)) {
			m = mmap(NULL, 65536, PROT_READ, MAP_SHARED, a.shm, 0);
			good = m != MAP_FAILED && m[100] == 0x12345678;
			if (m != MAP_FAILED)
				munmap(m, 65536);
		}
		raw_close(&a);
		server_stop(&sp);
	}
	ok(good, "an existing shm object is served with its contents");
	ok(shm_exists(shm), "and it is not removed at exit (the server did not create it)");
	status = run_server(args_small, log, LONG_MS);
	ok(WIFEXITED(status) && WEXITSTATUS(status) != 0 && file_contains(log, "already exists"),
	   "an existing object larger than -l is refused, not shrunk");
out:
	server_cleanup(&sp);
	shm_unlink(shm);
	unlink(log);
	free(sock);
	free(shm);
	free(log);
}

static void test_dir(void)
{
	char *sock = uniq("/tmp/ivs-test", ".sock");
	char *dir;
	const char *args[] = { "-m", NULL, "-l", "2M", NULL };
	struct server_proc sp;
	struct raw a = RAW_INIT;
	DIR *d;
	struct dirent *de;
	int entries = 0;
	bool good = false;

	if (asprintf(&dir, "%s/ivs-memdir-%d", scratch, (int)getpid()) < 0)
		abort();
	args[1] = dir;
	mkdir(dir, 0700);
	if (server_start(&sp, sock, args)) {
		good = raw_join(sock, 1, &a, NULL, NULL) && fd_size(a.shm) == 2 << 20;
		d = opendir(dir);
		while (d && (de = readdir(d)))
			if (de->d_name[0] != '.')
				entries++;
		if (d)
			closedir(d);
		raw_close(&a);
		server_stop(&sp);
	}
	ok(good && entries == 0, "-m DIR: memory is an unlinked 2 MiB file in DIR (%d entries left)",
	   entries);
	server_cleanup(&sp);
	rmdir(dir);
	free(sock);
	free(dir);
}

static void test_daemon(void)
{
	char *sock = uniq("/tmp/ivs-test", ".sock"), *shm = uniq("ivs-test", "");
	char *pidfile = uniq("/tmp/ivs-test", ".pid"), *log = uniq("/tmp/ivs-test-log", ".txt");
	const char *args[] = { "-S", sock, "-M", shm, "-p", pidfile, NULL };
	struct raw a = RAW_INIT;
	char buf[32] = "";
	int status, fd, pid = 0;
	int64_t end;
	bool good;

	status = run_server(args, log, LONG_MS);
	fd = open(pidfile, O_RDONLY);
	if (fd >= 0) {
		if (read(fd, buf, sizeof(buf) - 1) < 0)
			buf[0] = '\0';
		close(fd);
		pid = atoi(buf);
	}
	good = WIFEXITED(status) && WEXITSTATUS(status) == 0 && pid > 0 && kill(pid, 0) == 0;
	ok(good, "daemon mode: the launcher exits 0 once the server is ready; pid file names it");
	if (!good) {
		diag_file(log);
		goto out;
	}
	ok(raw_join(sock, 1, &a, NULL, NULL), "daemon mode: the server serves");
	raw_close(&a);
	kill(pid, SIGTERM);
	end = now_ms() + LONG_MS;
	while (now_ms() < end && (path_exists(sock) || path_exists(pidfile) || shm_exists(shm)))
		sleep_ms(10);
	ok(!path_exists(sock) && !path_exists(pidfile) && !shm_exists(shm),
	   "daemon mode: SIGTERM removes socket, pid file and shm object");
out:
	if (pid > 0)
		kill(pid, SIGKILL);
	unlink(sock);
	unlink(pidfile);
	shm_unlink(shm);
	unlink(log);
	free(sock);
	free(shm);
	free(pidfile);
	free(log);
}

/* ------------------------------------------------------------------ */
/* readiness                                                           */

#define READY_STARTS	50	/* server starts per readiness check */

static bool ready_line_missing;

/* how many lines of @path contain @needle */
static int count_lines(const char *path, const char *needle)
{
	char line[512];
	int n = 0;
	FILE *f = fopen(path, "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, needle))
			n++;
	fclose(f);
	return n;
}

/* fork and exec the server with @args (NULL-terminated); stderr to @log */
static pid_t spawn_server(const char *const *args, const char *log)
{
	const char *argv[32];
	int i = 0, fd;
	pid_t pid;

	argv[i++] = ivs_server_bin;
	while (*args && i < 31)
		argv[i++] = *args++;
	argv[i] = NULL;
	pid = fork();
	if (pid == 0) {
		fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd >= 0)
			dup2(fd, 2);
		execv(ivs_server_bin, (char *const *)argv);
		_exit(127);
	}
	return pid;
}

static int stop_pid(pid_t pid)
{
	int status = -1;
	int64_t end = now_ms() + LONG_MS;

	kill(pid, SIGTERM);
	while (now_ms() < end) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return status;
		sleep_ms(5);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

/* connect now; 0 and the version message, or the errno of the failure */
static int connect_and_greet(const char *path)
{
	int fd = unix_connect(path), err = errno;

	if (fd < 0)
		return err ? err : EIO;
	err = expect_msg(fd, 0, false, NULL, "version") ? 0 : EPROTO;
	close(fd);
	return err;
}

/*
 * Start a server on DIR/s.sock and connect the instant the name appears,
 * seen through inotify (@use_inotify) or a tight lstat() loop.  Returns
 * 0 if that connection was served, else the errno it failed with
 * (ETIMEDOUT: the name never appeared; ECHILD: the server died).
 * *@ready counts the ready lines the server logged.
 */
static int ready_once(bool use_inotify, int *ready)
{
	char *dir = uniq("/tmp/ivs-ready", ""), *shm = uniq("ivs-test", "");
	char *log = uniq("/tmp/ivs-test-log", ".txt"), *path;
	const char *args[] = { "-F", "-S", NULL, "-M", shm, NULL };
	int64_t end = now_ms() + LONG_MS;
	int in = -1, err = ETIMEDOUT;
	struct stat st;
	pid_t pid;

	*ready = 0;
	if (asprintf(&path, "%s/s.sock", dir) < 0)
		abort();
	args[2] = path;
	if (mkdir(dir, 0700) < 0) {
		err = errno;
		goto out_free;
	}
	if (use_inotify) {
		in = inotify_init1(IN_CLOEXEC);
		if (in < 0 || inotify_add_watch(in, dir, IN_CREATE | IN_MOVED_TO) < 0) {
			err = errno;
			goto out_dir;
		}
	}
	pid = spawn_server(args, log);
	if (pid < 0) {
		err = errno;
		goto out_dir;
	}
	while (err == ETIMEDOUT && now_ms() < end) {
		if (use_inotify) {
			char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
			struct pollfd pfd = { .fd = in, .events = POLLIN };
			ssize_t n, off;

			if (poll(&pfd, 1, 100) == 1 && (n = read(in, buf, sizeof(buf))) > 0) {
				for (off = 0; off < n;) {
					struct inotify_event *ev = (struct inotify_event *)(buf + off);

					if (ev->len && strcmp(ev->name, "s.sock") == 0) {
						err = connect_and_greet(path);
						break;
					}
					off += (ssize_t)sizeof(*ev) + ev->len;
				}
			}
		} else if (lstat(path, &st) == 0) {
			err = connect_and_greet(path);
		}
		if (err == ETIMEDOUT && waitpid(pid, NULL, WNOHANG) == pid) {
			err = ECHILD;
			pid = 0;
		}
	}
	/* the ready line comes once the socket is in place: wait for it (not
	 * again once a server went without it: that one failed already) */
	while (pid > 0 && !ready_line_missing && !file_contains(log, IVS_READY_LINE)) {
		if (now_ms() > end) {
			ready_line_missing = true;
			break;
		}
		sleep_ms(5);
	}
	if (pid > 0)
		stop_pid(pid);
	*ready = count_lines(log, IVS_READY_LINE);
	if (err)
		diag_file(log);
	unlink(path);
out_dir:
	if (in >= 0)
		close(in);
	rmdir(dir);
out_free:
	shm_unlink(shm);
	unlink(log);
	free(path);
	free(dir);
	free(shm);
	free(log);
	return err;
}

static void test_ready(bool use_inotify)
{
	const char *how = use_inotify ? "inotify" : "a tight lstat() loop";
	int k, err, ready, refused = 0, other = 0, one_line = 0;

	for (k = 0; k < READY_STARTS; k++) {
		err = ready_once(use_inotify, &ready);
		if (err == ECONNREFUSED)
			refused++;
		else if (err)
			other++;
		if (err && err != ECONNREFUSED)
			diag("start %d: %s", k + 1, strerror(err));
		if (ready == 1)
			one_line++;
	}
	ok(refused == 0 && other == 0,
	   "%d starts, a client connecting the instant the path appears (%s) is served "
	   "(%d refused, %d other failures)", READY_STARTS, how, refused, other);
	ok(one_line == READY_STARTS,
	   "... and each server logged exactly one '%s' line (%d of %d)",
	   IVS_READY_LINE "PATH", one_line, READY_STARTS);
}

/* daemon mode: the launcher's exit means ready, and it printed the line */
static void test_ready_daemon(void)
{
	int k, starts = 10, served = 0, lines = 0, bad_exit = 0;

	for (k = 0; k < starts; k++) {
		char *sock = uniq("/tmp/ivs-test", ".sock"), *shm = uniq("ivs-test", "");
		char *pidfile = uniq("/tmp/ivs-test", ".pid");
		char *log = uniq("/tmp/ivs-test-log", ".txt");
		const char *args[] = { "-S", sock, "-M", shm, "-p", pidfile, NULL };
		char buf[32] = "";
		int status, fd, pid = 0, err;

		status = run_server(args, log, LONG_MS);
		/* at once: no waiting for the file or the server */
		err = connect_and_greet(sock);
		if (!err)
			served++;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			bad_exit++;
		if (count_lines(log, IVS_READY_LINE) == 1)
			lines++;
		if (err) {
			diag("daemon start %d: %s", k + 1, strerror(err));
			diag_file(log);
		}
		fd = open(pidfile, O_RDONLY);
		if (fd >= 0) {
			if (read(fd, buf, sizeof(buf) - 1) > 0)
				pid = atoi(buf);
			close(fd);
		}
		if (pid > 0) {
			int64_t end = now_ms() + LONG_MS;

			kill(pid, SIGTERM);
			while (now_ms() < end && path_exists(pidfile))
				sleep_ms(5);
		}
		unlink(sock);
		unlink(pidfile);
		shm_unlink(shm);
		unlink(log);
		free(sock);
		free(shm);
		free(pidfile);
		free(log);
	}
	ok(served == starts && bad_exit == 0,
	   "daemon mode, %d starts: once the launcher exits 0 a client is served at once (%d)",
	   starts, served);
	ok(lines == starts, "daemon mode: the launcher's stderr has exactly one ready line (%d of %d)",
	   lines, starts);
}

static void test_bad_flags(void)
{
	static const struct {
		const char *args[4];
		const char *msg;
	} cases[] = {
		{ { "-n", "0" }, "-n" },
		{ { "-n", "65" }, "-n" },
		{ { "-n", "4x" }, "-n" },
		{ { "-l", "garbage" }, "-l" },
		{ { "-l", "0" }, "greater than 0" },
		{ { "-l", "12Q" }, "-l" },
		{ { "-l", "-5" }, "-l" },
		{ { "-l", "99999999999T" }, "-l" },
		{ { "-P", "0" }, "-P" },
		{ { "-P", "65537" }, "-P" },
		{ { "-Z" }, "unknown option" },
		{ { "-S" }, "requires an argument" },
		{ { "stray" }, "unexpected argument" },
	};
	char *sock = uniq("/tmp/ivs-test", ".sock"), *shm = uniq("ivs-test", "");
	char *log = uniq("/tmp/ivs-test-log", ".txt");
	size_t k;

	for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		const char *args[12];
		int i = 0, j, status;
		char desc[128] = "";

		args[i++] = "-F";
		args[i++] = "-M";
		args[i++] = shm;
		for (j = 0; cases[k].args[j]; j++) {
			args[i++] = cases[k].args[j];
			strncat(desc, " ", sizeof(desc) - strlen(desc) - 1);
			strncat(desc, cases[k].args[j], sizeof(desc) - strlen(desc) - 1);
		}
		/* -S last so that "-S" alone lacks its argument */
		if (strcmp(cases[k].args[0], "-S") != 0) {
			args[i++] = "-S";
			args[i++] = sock;
		}
		args[i] = NULL;
		status = run_server(args, log, LONG_MS);
		ok(WIFEXITED(status) && WEXITSTATUS(status) == 2 && file_contains(log, cases[k].msg) &&
		   !path_exists(sock) && !shm_exists(shm),
		   "bad flag%s: rejected with exit status 2 and a message naming it", desc);
		if (!(WIFEXITED(status) && WEXITSTATUS(status) == 2))
			diag_file(log);
	}
	{
		const char *args[] = { "-h", NULL };
		int status = run_server(args, log, LONG_MS);

		ok(WIFEXITED(status) && WEXITSTATUS(status) == 0 && file_contains(log, "Usage"),
		   "-h prints the usage and exits 0");
	}
	unlink(log);
	free(sock);
	free(shm);
	free(log);
}


/* read everything until the end of the stream (or LONG_MS): true at the end */
static bool read_to_eof(int sock)
{
	int64_t end = now_ms() + LONG_MS, val;
	int fd, r;

	do {
		r = raw_recv(sock, &val, &fd, (int)(end - now_ms() > 0 ? end - now_ms() : 0));
		if (fd >= 0)
			close(fd);
	} while (r == 1);
	return r == 0;
}

/*
 * Issue 13: clients that connect and never read used to count against
 * -P, and 64 of them (the default -P) locked everyone else out for as
 * long as they stayed.
 */
static void test_idle(void)
{
	char *sock = uniq("/tmp/ivs-test", ".sock"), *shm = uniq("ivs-test", "");
	const char *args[] = { "-v", "-T", "1500", "-M", shm, NULL };
	struct server_proc sp;
	struct raw a = RAW_INIT, b = RAW_INIT;
	int idle[64], k, others[4], no = 0, gone = 0, base;
	int64_t t0;
	bool good;

	if (!server_start(&sp, sock, args)) {
		ok(false, "idle clients: server starts");
		goto out;
	}
	base = count_fds(sp.pid);
	for (k = 0; k < 64; k++)
		idle[k] = unix_connect(sock);
	t0 = now_ms();
	good = raw_join(sock, 1, &a, NULL, NULL);
	ok(good, "64 clients that connect and never read (the default -P): another one joins "
	   "(peer %d, %d ms)", a.id, (int)(now_ms() - t0));
	good = good && raw_join(sock, 1, &b, others, &no);
	ok(good && no == 1 && others[0] == a.id,
	   "... and the next one is told of it, and of none of the idle ones (%d others)", no);
	good = good && expect_msg(a.sock, b.id, true, NULL, "the newcomer's vector");
	ok(good && expect_silence(a.sock, 200),
	   "... the first is told of the newcomer only, not of the idle ones");
	/* the server drops them (reading them first would complete their handshakes) */
	wait_fds(sp.pid, base + 2 * 2);
	for (k = 0; k < 64; k++)
		gone += idle[k] >= 0 && read_to_eof(idle[k]);
	ok(gone == 64, "the idle clients are dropped after -T 1500 ms (%d of 64 saw the end, "
	   "after their handshake)", gone);
	ok(file_contains(sp.log, "did not read its handshake within 1500 ms"),
	   "the server logs why");
	ok(expect_silence(a.sock, 200) && expect_silence(b.sock, 1),
	   "the peers are not told of their departure: they never knew them");
	for (k = 0; k < 64; k++)
		if (idle[k] >= 0)
			close(idle[k]);
	ok(wait_fds(sp.pid, base + 2 * 2) == base + 2 * 2,
	   "the server holds no fd of them any more (%d, %d + 4 expected)", count_fds(sp.pid), base);
	raw_close(&a);
	raw_close(&b);
	server_stop(&sp);
out:
	server_cleanup(&sp);
	free(sock);
	free(shm);
}

static int cmp_int(const void *x, const void *y)
{
	return *(const int *)x - *(const int *)y;
}

/*
 * Issue 13: a well-behaved peer gets in within 1 s while 2,000 hostile
 * connections (connected, never reading) are open. The product
 * requirement is 1 s; the test asserts it on the median of 5 tries, so
 * that one try stalled by a loaded machine does not fail it, and shows
 * every try.
 */
#define HOSTILE 2000
#define TRIES 5
static void test_hostile(void)
{
	char *sock = uniq("/tmp/ivs-test", ".sock"), *shm = uniq("ivs-test", "");
	const char *args[] = { "-T", "120000", "-M", shm, NULL };
	struct server_proc sp;
	struct raw w = RAW_INIT;
	static int bad[HOSTILE];
	int join_ms[TRIES], seen_ms[TRIES], k, opened = 0, fds, id;
	struct rlimit rl;
	bool good = true;

	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < 4 * HOSTILE) {
		rl.rlim_cur = 4 * HOSTILE;
		if (rl.rlim_max < rl.rlim_cur)
			rl.rlim_max = rl.rlim_cur;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
			ok(true, "# SKIP 2,000 hostile connections: RLIMIT_NOFILE cannot be raised "
			   "to %d", 4 * HOSTILE);
			goto out_free;
		}
	}
	if (!server_start(&sp, sock, args)) {
		ok(false, "hostile connections: server starts");
		goto out;
	}
	good = raw_join(sock, 1, &w, NULL, NULL);	/* a peer that is there first */
	for (k = 0; k < HOSTILE; k++) {
		bad[k] = unix_connect(sock);
		opened += bad[k] >= 0;
	}
	/* the server has accepted them all: 2 fds each (socket, eventfd) */
	fds = wait_fds(sp.pid, count_fds(sp.pid) < 2 * HOSTILE ? 2 * HOSTILE : 0);
	fds = count_fds(sp.pid);
	ok(good && opened == HOSTILE && fds >= 2 * HOSTILE,
	   "%d connections that never read are open (the server holds %d fds)", opened, fds);
	for (k = 0; k < TRIES; k++) {
		struct raw g = RAW_INIT;
		int64_t t0 = now_ms();

		good = raw_join(sock, 1, &g, NULL, NULL);
		join_ms[k] = (int)(now_ms() - t0);
		/* the peer that was there sees it come */
		good = good && expect_msg(w.sock, g.id, true, NULL, "the newcomer's vector");
		seen_ms[k] = (int)(now_ms() - t0);
		id = g.id;
		raw_close(&g);
		good = good && wait_left(w.sock, id);
		if (!good)
			break;
		diag("try %d: handshake read in %d ms, announced to the other peer after %d ms",
		     k + 1, join_ms[k], seen_ms[k]);
	}
	ok(good, "%d well-behaved peers join one after another among them", TRIES);
	if (good) {
		qsort(join_ms, TRIES, sizeof(int), cmp_int);
		qsort(seen_ms, TRIES, sizeof(int), cmp_int);
		ok(seen_ms[TRIES / 2] < 1000,
		   "... and get in within 1 s: median %d ms to be announced (handshake %d ms; "
		   "slowest %d ms)", seen_ms[TRIES / 2], join_ms[TRIES / 2], seen_ms[TRIES - 1]);
	}
	fds = count_fds(sp.pid);
	ok(fds >= 2 * HOSTILE, "the hostile connections are still open meanwhile (%d fds)", fds);
	for (k = 0; k < HOSTILE; k++)
		if (bad[k] >= 0)
			close(bad[k]);
	raw_close(&w);
	server_stop(&sp);
out:
	server_cleanup(&sp);
out_free:
	free(sock);
	free(shm);
}

/* IVS_ONLY=test_name runs that test alone (when debugging) */
static bool want(const char *name)
{
	const char *only = getenv("IVS_ONLY");

	return !only || strcmp(only, name) == 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s PATH-TO-ivshmem-server [SCRATCH-DIR]\n", argv[0]);
		return 2;
	}
	ivs_server_bin = argv[1];
	if (argc > 2)
		scratch = argv[2];
	signal(SIGPIPE, SIG_IGN);

	if (want("test_conformance"))
		test_conformance(1);
	if (want("test_conformance"))
		test_conformance(4);
	if (want("test_garbage"))
		test_garbage();
	if (want("test_midhandshake"))
		test_midhandshake();
	if (want("test_slow_reader"))
		test_slow_reader();
	if (want("test_nonreader"))
		test_nonreader();
	if (want("test_cycles"))
		test_cycles();
	if (want("test_limit"))
		test_limit();
	if (want("test_idle"))
		test_idle();
	if (want("test_hostile"))
		test_hostile();
	if (want("test_signals"))
		test_signals(SIGTERM, "SIGTERM");
	if (want("test_signals"))
		test_signals(SIGINT, "SIGINT");
	if (want("test_sizes"))
		test_sizes();
	if (want("test_socket_path"))
		test_socket_path();
	if (want("test_existing_shm"))
		test_existing_shm();
	if (want("test_dir"))
		test_dir();
	if (want("test_daemon"))
		test_daemon();
	if (want("test_ready"))
		test_ready(true);
	if (want("test_ready"))
		test_ready(false);
	if (want("test_ready_daemon"))
		test_ready_daemon();
	if (want("test_bad_flags"))
		test_bad_flags();
	return ivs_exit_status();
}
