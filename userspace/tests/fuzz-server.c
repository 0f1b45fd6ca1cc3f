// SPDX-License-Identifier: GPL-2.0-only
/*
 * fuzz-server.c - a seeded fuzzing client against ivshmem-server.
 *
 *   fuzz-server SERVER_BINARY [-s SEED] [-t SECONDS] [-n MIN_ACTIONS]
 *
 * Starts the server (build it with -fsanitize=address,undefined) and, for
 * the given time, drives it with random clients drawn from SEED: random
 * bytes, sendmsg() of random lengths with and without fds (eventfds,
 * memfds, pipes, the client's own socket), truncated messages, half-closed
 * and vanished connections, clients that never read (until the server
 * drops them), partial handshakes, thousands of plain connects, and more
 * clients than the peer limit. Two well-behaved observers stay connected
 * all along and check every message the server sends them.
 *
 * Checks: the server never dies and its log shows no sanitizer report;
 * every message to an observer is well formed (8 bytes, at most one fd, a
 * valid id; a leave only for a peer that joined); once every client is
 * gone the server holds exactly the fds it held at the start (no leak);
 * and a fresh client still gets a complete, correct handshake.
 * Prints "ok - ..." / "not ok - ..." lines (run-fuzz.sh numbers them).
 */
#include "ivs-test.h"

#include <sys/eventfd.h>
#include <sys/mman.h>

#define VECTORS		4
#define MAX_PEERS	24
#define MAX_HELD	40

struct rng {
	uint64_t s;
};

static uint64_t rnd(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t below(struct rng *r, uint64_t n)
{
	return n ? rnd(r) % n : 0;
}

/* ---------------------------------------------------------------- */
/* observers: well-behaved peers that check what the server sends */

struct observer {
	int sock;
	int id;
	bool joined[65536];
	int vecs_seen[65536];
	unsigned long msgs;
	bool bad;
};

static struct observer obs[2];

static bool observer_connect(struct observer *o, const char *path)
{
	int64_t v;
	int fd, i, r;

	memset(o, 0, sizeof(*o));
	o->sock = unix_connect(path);
	if (o->sock < 0)
		return false;
	if (raw_recv(o->sock, &v, &fd, 2000) != 1 || v != 0 || fd >= 0)
		return false;
	if (raw_recv(o->sock, &v, &fd, 2000) != 1 || v < 0 || v > 65535 || fd >= 0)
		return false;
	o->id = (int)v;
	if (raw_recv(o->sock, &v, &fd, 2000) != 1 || v != -1 || fd < 0)
		return false;
	close(fd);
	/* the others' vectors, then our own; a pause ends the handshake */
	for (i = 0;; i++) {
		r = raw_recv(o->sock, &v, &fd, 200);
		if (r == -ETIMEDOUT)
			break;
		if (r != 1 || fd < 0 || v < 0 || v > 65535)
			return false;
		close(fd);
		if (++o->vecs_seen[v] == VECTORS)
			o->joined[v] = true;
	}
	return o->joined[o->id];
}

/* Drains what the server sent, checking each message. */
static void observer_drain(struct observer *o)
{
	int64_t v;
	int fd, r;

	while ((r = raw_recv(o->sock, &v, &fd, 0)) == 1) {
		o->msgs++;
		if (v < 0 || v > 65535) {
			diag("observer %d: id %" PRId64 " out of range", o->id, v);
			o->bad = true;
		} else if (fd >= 0) {
			close(fd);
			if (o->joined[v] || o->vecs_seen[v] >= VECTORS) {
				diag("observer %d: a vector for peer %" PRId64 " that is present",
				     o->id, v);
				o->bad = true;
			}
			if (++o->vecs_seen[v] == VECTORS)
				o->joined[v] = true;
		} else {
			if (!o->vecs_seen[v] || v == o->id) {
				diag("observer %d: peer %" PRId64 " left without having joined",
				     o->id, v);
				o->bad = true;
			}
			o->joined[v] = false;
			o->vecs_seen[v] = 0;
		}
	}
	if (r != -ETIMEDOUT && !o->bad) {
		diag("observer %d: the server dropped it or sent garbage (%d)", o->id, r);
		o->bad = true;
	}
}

/* ---------------------------------------------------------------- */
/* the fuzzing clients */

static int held[MAX_HELD];

static int make_fd(struct rng *r, int sock)
{
	int p[2], fd;

	switch (below(r, 5)) {
	case 0:
		return eventfd(0, EFD_CLOEXEC);
	case 1:
		fd = memfd_create("fuzz", MFD_CLOEXEC);
		if (fd >= 0 && ftruncate(fd, 4096) < 0) {
			close(fd);
			fd = -1;
		}
		return fd;
	case 2:
		if (pipe2(p, O_CLOEXEC))
			return -1;
		close(p[1]);
		return p[0];
	case 3:
		return dup(sock);
	default:
		return open("/dev/null", O_RDONLY | O_CLOEXEC);
	}
}

/* sendmsg() of @len random bytes with @nfds random fds. */
static void send_random(struct rng *r, int sock, size_t len, int nfds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 8)];
	} ctl;
	uint8_t data[256];
	struct iovec iov = { data, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	int fds[8], i;

	for (i = 0; i < (int)len && i < (int)sizeof(data); i++)
		data[i] = (uint8_t)rnd(r);
	if (below(r, 3) == 0 && len >= 8) {
		/* looks like a protocol message */
		uint64_t le = htole64(below(r, 2) ? (uint64_t)-1 : below(r, 70000));

		memcpy(data, &le, 8);
	}
	if (nfds > 8)
		nfds = 8;
	for (i = 0; i < nfds; i++)
		fds[i] = make_fd(r, sock);
	if (nfds > 0) {
		struct cmsghdr *cm;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		for (i = 0; i < nfds; i++)
			if (fds[i] < 0)
				fds[i] = sock;
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)nfds);
	}
	if (len > sizeof(data))
		iov.iov_len = sizeof(data);
	(void)sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	for (i = 0; i < nfds; i++)
		if (fds[i] != sock)
			close(fds[i]);
}

static void read_some(struct rng *r, int sock, int n)
{
	int64_t v;
	int fd, i;

	for (i = 0; i < n; i++) {
		if (raw_recv(sock, &v, &fd, (int)below(r, 30)) != 1)
			break;
		if (fd >= 0)
			close(fd);
	}
}

static void drop_held(int i)
{
	if (held[i] >= 0)
		close(held[i]);
	held[i] = -1;
}

static unsigned long actions[10];

static void one_action(struct rng *r, const char *path)
{
	unsigned int a = below(r, 10);
	int s, i;

	actions[a]++;
	if (a == 9) {
		/* close a held client, or all of them */
		if (below(r, 8) == 0)
			for (i = 0; i < MAX_HELD; i++)
				drop_held(i);
		else
			drop_held(below(r, MAX_HELD));
		return;
	}
	s = unix_connect(path);
	if (s < 0)
		return;
	switch (a) {
	case 0:	/* connect and vanish */
		break;
	case 1:	/* random bytes, no fd */
		send_random(r, s, 1 + below(r, 64), 0);
		break;
	case 2:	/* a message-sized write with fds */
		send_random(r, s, below(r, 3) ? 8 : below(r, 16), 1 + below(r, 4));
		break;
	case 3:	/* truncated: fewer than 8 bytes, maybe an fd */
		send_random(r, s, 1 + below(r, 7), below(r, 2));
		break;
	case 4:	/* partial handshake, then go */
		read_some(r, s, below(r, 12));
		break;
	case 5:	/* half-close: SHUT_WR is a hang-up for the server */
		read_some(r, s, below(r, 3));
		shutdown(s, below(r, 2) ? SHUT_WR : SHUT_RDWR);
		read_some(r, s, below(r, 3));
		break;
	case 6:	/* data, then read what comes */
		send_random(r, s, 1 + below(r, 16), below(r, 3));
		read_some(r, s, below(r, 5));
		break;
	default: /* stay: a peer that never reads (or reads a little) */
		read_some(r, s, below(r, 4));
		i = below(r, MAX_HELD);
		drop_held(i);
		held[i] = s;
		return;
	}
	close(s);
}

int main(int argc, char **argv)
{
	uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	unsigned long min_actions = 5000, n = 0;
	int seconds = 20, opt, base, after = -1, i;
	struct server_proc sp;
	struct observer fresh;
	const char *peers = "24";
	char *sock;
	int64_t end;
	struct rng r;
	bool alive = true;

	if (argc < 2) {
		fprintf(stderr, "usage: %s SERVER_BINARY [-s SEED] [-t SECONDS] [-n MIN_ACTIONS]\n",
			argv[0]);
		return 2;
	}
	ivs_server_bin = argv[1];
	optind = 2;
	while ((opt = getopt(argc, argv, "s:t:n:")) != -1) {
		switch (opt) {
		case 's': seed = strtoull(optarg, NULL, 0); break;
		case 't': seconds = atoi(optarg); break;
		case 'n': min_actions = strtoul(optarg, NULL, 0); break;
		default: return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	r.s = seed;
	diag("fuzz-server: seed %" PRIu64 " (replay: -s %" PRIu64 "), %d s, at least %lu clients",
	     seed, seed, seconds, min_actions);
	for (i = 0; i < MAX_HELD; i++)
		held[i] = -1;

	sock = uniq("/tmp/ivs-fuzz-server", ".sock");
	{
		char shm[64];
		const char *args[] = { "-n", "4", "-P", peers, "-l", "64K", "-M", shm, NULL };

		snprintf(shm, sizeof(shm), "ivs-fuzz-%d", (int)getpid());
		if (!server_start(&sp, sock, args)) {
			ok(false, "fuzz-server: the server starts (seed %" PRIu64 ")", seed);
			return 1;
		}
	}
	base = count_fds(sp.pid);
	ok(observer_connect(&obs[0], sock) && observer_connect(&obs[1], sock),
	   "fuzz-server: two observers complete the handshake");

	end = now_ms() + seconds * 1000LL;
	while (n < min_actions || now_ms() < end) {
		one_action(&r, sock);
		n++;
		/* Often enough that the server never finds them slow. */
		if (n % 4 == 0) {
			observer_drain(&obs[0]);
			observer_drain(&obs[1]);
		}
		if (n % 64 == 0) {
			if (waitpid(sp.pid, NULL, WNOHANG) == sp.pid) {
				alive = false;
				break;
			}
		}
		if (now_ms() > end + seconds * 2000LL)
			break;	/* far too slow: report what we have */
	}
	diag("%lu clients: vanish %lu, bytes %lu, fds %lu, truncated %lu, partial %lu, half-close %lu, data+read %lu, held %lu+%lu, dropped %lu",
	     n, actions[0], actions[1], actions[2], actions[3], actions[4], actions[5],
	     actions[6], actions[7], actions[8], actions[9]);
	ok(alive, "fuzz-server: the server survived %lu random clients (seed %" PRIu64 ")",
	   n, seed);
	for (i = 0; i < MAX_HELD; i++)
		drop_held(i);

	/* Let the server see every hang-up; keep the observers drained. */
	for (i = 0; i < 100 && alive; i++) {
		sleep_ms(20);
		observer_drain(&obs[0]);
		observer_drain(&obs[1]);
	}
	ok(!obs[0].bad && !obs[1].bad,
	   "fuzz-server: every message to the observers was well formed (%lu and %lu messages)",
	   obs[0].msgs, obs[1].msgs);

	/* A fresh client still gets a complete handshake. */
	{
		bool good = alive && observer_connect(&fresh, sock);

		ok(good, "fuzz-server: a new client still gets a correct handshake (id %d)",
		   fresh.id);
	}
	close(fresh.sock);
	close(obs[0].sock);
	close(obs[1].sock);
	for (i = 0; i < 100 && alive; i++) {
		sleep_ms(20);
		after = count_fds(sp.pid);
		if (after == base)
			break;
	}
	ok(after == base,
	   "fuzz-server: no fd leak: %d fds with every client gone, %d before the first one",
	   after, base);
	ok(server_stop(&sp) == 0, "fuzz-server: the server exits cleanly on SIGTERM");
	server_cleanup(&sp);
	free(sock);
	return ivs_exit_status();
}
