// SPDX-License-Identifier: GPL-2.0-only
/*
 * fuzz-peer.c - a seeded fuzzing fake server against the host peer library.
 *
 *   fuzz-peer [-s SEED] [-t SECONDS] [-n MIN_CASES] [-c CASE]
 *
 * Each case forks a fake server that accepts one connection and plays a
 * random script drawn from the case's seed (SEED + case number): mostly a
 * well-formed handshake and peer traffic, mutated: wrong versions, ids out
 * of range, fds where none belong, none where one belongs, two or more fds
 * in a message, memory fds that are not memory, messages cut short or
 * split across writes, random bytes, hang-ups at any point, and thousands
 * of peers joining and leaving. The library (built with
 * -fsanitize=address,undefined) connects, then processes, rings, lists,
 * waits and takes events for a moment, and closes the handle.
 *
 * Checks per case: no crash, no sanitizer report (the sanitizers abort
 * the process), a result that is 0 or one of the documented errors, a
 * handle reset to NULL on failure, the peer table consistent with the
 * events, and the same fds open before and after (no leak). A failing
 * case prints its number and seed; -c CASE replays it alone.
 * Prints "ok - ..." / "not ok - ..." lines (run-fuzz.sh numbers them).
 */
#include "ivs-test.h"

#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "ivshmem-peer.h"

/* seconds after which a case counts as hung */
#define HANG_S	15

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

static bool chance(struct rng *r, unsigned int percent)
{
	return below(r, 100) < percent;
}

/* ---------------------------------------------------------------- */
/* the fake server's side */

enum fdk { FD_NONE, FD_EVENT, FD_SHM, FD_EMPTY, FD_PIPE, FD_SOCK };

struct fake {
	int sock;
	int event;	/* one eventfd, sent again and again */
	int shm;	/* a 64 KiB memfd */
};

static int fd_of(struct fake *f, enum fdk k)
{
	int p[2];

	switch (k) {
	case FD_EVENT: return dup(f->event);
	case FD_SHM: return dup(f->shm);
	case FD_EMPTY: return memfd_create("fuzz-empty", MFD_CLOEXEC);
	case FD_PIPE:
		if (pipe2(p, O_CLOEXEC))
			return -1;
		close(p[1]);
		return p[0];
	case FD_SOCK: return dup(f->sock);
	default: return -1;
	}
}

/* One sendmsg() of @len bytes of @data, with @nfds fds of kind @k. */
static void put_bytes(struct fake *f, const void *data, size_t len, int nfds, enum fdk k)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 16)];
	} ctl;
	struct iovec iov = { (void *)data, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	int fds[16], i;

	if (nfds > 16)
		nfds = 16;
	for (i = 0; i < nfds; i++)
		fds[i] = fd_of(f, k);
	if (nfds > 0) {
		struct cmsghdr *cm;

		for (i = 0; i < nfds; i++)
			if (fds[i] < 0)
				fds[i] = dup(f->event);
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)nfds);
	}
	if (len || nfds)
		if (sendmsg(f->sock, &mh, MSG_NOSIGNAL) < 0)
			_exit(0);	/* the client went: the script ends */
	for (i = 0; i < nfds; i++)
		close(fds[i]);
}

/* @len (up to 16) bytes: @val in little endian, then zeros. */
static void put(struct fake *f, int64_t val, size_t len, int nfds, enum fdk k)
{
	uint8_t data[16] = { 0 };
	uint64_t le = htole64((uint64_t)val);

	memcpy(data, &le, 8);
	put_bytes(f, data, len > sizeof(data) ? sizeof(data) : len, nfds, k);
}

/*
 * Set (in memory shared with the library's side) when the script sent an
 * fd that is not an eventfd where a vector belongs: ringing that vector
 * may then fail with the errno of write() on it.
 */
static volatile int *odd_fd;

/* A message, usually right, sometimes mutated. */
static void msg(struct rng *r, struct fake *f, int64_t val, enum fdk k, int mutate)
{
	int nfds = k == FD_NONE ? 0 : 1;
	size_t len = 8;

	if (chance(r, mutate)) {
		switch (below(r, 9)) {
		case 0: nfds = !nfds; if (k == FD_NONE) k = FD_EVENT; break;	/* fd or not */
		case 1: nfds = 2 + below(r, 14); if (k == FD_NONE) k = FD_EVENT; break;
		case 2: len = 1 + below(r, 7); break;				/* short */
		case 3: len = 9 + below(r, 7); break;				/* long */
		case 4: val = (int64_t)rnd(r); break;
		case 5: val = below(r, 2) ? 65536 + (int64_t)below(r, 100000) : -2 - (int64_t)below(r, 5); break;
		case 6: k = (enum fdk)(1 + below(r, 5)); break;			/* other fd kind */
		case 7:	/* split across writes, fds with the first part */
		{
			if (nfds && k != FD_EVENT && val != -1)
				*odd_fd = 1;
			uint64_t le = htole64((uint64_t)val);
			size_t a = 1 + below(r, 7);

			put_bytes(f, &le, a, nfds, k);
			sleep_ms((int)below(r, 3));
			put_bytes(f, (uint8_t *)&le + a, 8 - a, 0, FD_NONE);
			return;
		}
		default: put(f, 0, 0, 1, FD_EVENT); break;			/* fds, no data */
		}
	}
	if (nfds && k != FD_EVENT && val != -1)
		*odd_fd = 1;
	put(f, val, len, nfds, k);
}

static void play(uint64_t seed, int sock)
{
	struct fake f = { .sock = sock };
	struct rng r = { seed };
	int mutate = below(&r, 4) == 0 ? 0 : (int)below(&r, 12);	/* % per message */
	int own = below(&r, 8) ? (int)below(&r, 100) : (int)below(&r, 65536);
	int vectors = 1 + (int)below(&r, below(&r, 4) ? 4 : 64);
	int npeers, i, v, steps;

	f.event = eventfd(0, EFD_CLOEXEC);
	f.shm = memfd_create("fuzz-shm", MFD_CLOEXEC);
	if (f.event < 0 || f.shm < 0 || ftruncate(f.shm, 65536))
		_exit(1);

	if (chance(&r, 3)) {	/* garbage from the start */
		for (i = below(&r, 10); i >= 0; i--)
			put(&f, (int64_t)rnd(&r), 1 + below(&r, 12), (int)below(&r, 2), FD_EVENT);
		goto linger;
	}
	msg(&r, &f, 0, FD_NONE, mutate);			/* version */
	msg(&r, &f, own, FD_NONE, mutate);			/* own id */
	msg(&r, &f, -1, chance(&r, 97) ? FD_SHM : FD_EMPTY, mutate);	/* memory */
	/* peers already there: a few, or thousands */
	npeers = chance(&r, 5) ? 1000 + (int)below(&r, 3000) : (int)below(&r, 5);
	for (i = 0; i < npeers; i++) {
		int id = chance(&r, 90) ? (own + 1 + i) % 65536 : (int)below(&r, 65536);

		for (v = 0; v < vectors; v++)
			msg(&r, &f, id, FD_EVENT, npeers > 100 ? mutate / 4 : mutate);
	}
	for (v = 0; v < vectors; v++)				/* own vectors */
		msg(&r, &f, own, FD_EVENT, mutate);
	if (chance(&r, 50))
		sleep_ms(60 + (int)below(&r, 40));		/* the handshake ends */

	/* later traffic: joins (id + fds), leaves (id alone), noise */
	steps = (int)below(&r, 60);
	for (i = 0; i < steps; i++) {
		int id = chance(&r, 80) ? (own + 1 + (int)below(&r, 8)) % 65536 :
					 (int)below(&r, 70000) - 1000;

		switch (below(&r, 6)) {
		case 0: case 1:
			for (v = 0; v < vectors; v++)
				msg(&r, &f, id, FD_EVENT, mutate);
			break;
		case 2:
			msg(&r, &f, id, FD_NONE, mutate);
			break;
		case 3:
			sleep_ms((int)below(&r, 10));
			break;
		case 4:
			if (chance(&r, 10))
				goto hangup;
			msg(&r, &f, id, FD_EVENT, mutate);
			break;
		default:
			msg(&r, &f, chance(&r, 50) ? -1 : own, chance(&r, 50) ? FD_SHM : FD_NONE,
			    mutate);
			break;
		}
	}
linger:
	/* stay until the client hangs up, or hang up first */
	if (chance(&r, 70)) {
		struct pollfd pfd = { .fd = sock, .events = POLLIN };
		char c;

		if (poll(&pfd, 1, 3000) == 1 && read(sock, &c, 1) < 0)
			_exit(0);
	}
hangup:
	close(sock);
	_exit(0);
}

/* ---------------------------------------------------------------- */
/* the library's side */

static bool documented(int e)
{
	switch (e) {
	case 0: case -EPROTO: case -ECONNRESET: case -ECONNREFUSED: case -ETIMEDOUT:
	case -ENOMEM: case -EMFILE: case -ENFILE:
		return true;
	}
	return false;
}

struct result {
	int connect, process, bad;
	char why[160];
};

static void use(struct rng *r, struct ivshmem_peer *p, struct result *res)
{
	struct ivshmem_peer_event ev;
	uint32_t ids[64];
	size_t n, i;
	int64_t end = now_ms() + 50 + (int64_t)below(r, 150);
	void *addr;
	uint64_t size, fired;
	int ret, id = ivshmem_peer_id(p), vec = ivshmem_peer_vectors(p);

	if (id < 0 || id > 65535 || vec < 1 || vec > 64) {
		res->bad = 1;
		snprintf(res->why, sizeof(res->why), "id %d, vectors %d", id, vec);
		return;
	}
	if (chance(r, 50) && ivshmem_peer_map(p, &addr, &size) == 0)
		memset(addr, 0x5a, size < 4096 ? size : 4096);
	do {
		ret = chance(r, 50) ? ivshmem_peer_process(p) :
				      ivshmem_peer_wait(p, rnd(r), (int)below(r, 20), &fired);
		if (ret != 0 && ret != -ETIMEDOUT && ret != -EINVAL)
			res->process = ret;
		while (ivshmem_peer_next_event(p, &ev) == 0) {
			if (ev.type < IVSHMEM_PEER_JOINED || ev.type > IVSHMEM_PEER_EVENTS_LOST ||
			    ev.peer_id > 65535) {
				res->bad = 1;
				snprintf(res->why, sizeof(res->why), "event type %u peer %u",
					 ev.type, ev.peer_id);
			}
		}
		if (ivshmem_peer_list(p, ids, 64, &n) == 0) {
			for (i = 0; i < n && i < 64; i++) {
				if ((i && ids[i] <= ids[i - 1]) || ids[i] == (uint32_t)id) {
					res->bad = 1;
					snprintf(res->why, sizeof(res->why),
						 "peer list not ascending or lists itself");
				}
				ret = ivshmem_peer_ring(p, ids[i], (uint32_t)below(r, 66));
				if (ret && ret != -EINVAL && ret != -ENOENT && ret != -EAGAIN &&
				    !*odd_fd) {
					res->bad = 1;
					snprintf(res->why, sizeof(res->why), "ring gave %d", ret);
				}
			}
		}
		ivshmem_peer_ring(p, (uint32_t)below(r, 70000), (uint32_t)below(r, 70));
		ivshmem_peer_ring(p, (uint32_t)id, (uint32_t)below(r, (uint64_t)vec));
	} while (now_ms() < end && res->process == 0);
}

/* A case that does not end: the library is stuck (in a blocking call). */
static volatile uint64_t hang_seed;
static volatile unsigned long hang_case;

static void on_hang(int sig)
{
	char line[200];
	int n = snprintf(line, sizeof(line),
			 "not ok - fuzz-peer: case %lu (seed %" PRIu64 ") hung for %d s in the library: replay with -s %" PRIu64 " -c %lu\n",
			 hang_case, hang_seed, HANG_S, hang_seed - hang_case, hang_case);

	(void)sig;
	if (write(1, line, (size_t)n) < 0)
		_exit(3);
	_exit(1);
}

static bool run_case(uint64_t seed, unsigned long k, bool verbose)
{
	char *path = uniq("/tmp/ivs-fuzz-peer", ".sock");
	struct ivshmem_peer *p = (struct ivshmem_peer *)0x1;
	struct result res = { 0 };
	struct rng r = { seed ^ 0x5bd1e995 };
	int lfd, before, after, status;
	pid_t pid;

	hang_seed = seed;
	hang_case = k;
	alarm(HANG_S);
	*odd_fd = 0;
	before = count_fds(0);
	lfd = unix_listen(path);
	if (lfd < 0) {
		diag("case %lu: listen: %s", k, strerror(errno));
		free(path);
		return false;
	}
	pid = fork();
	if (pid == 0) {
		int s = accept(lfd, NULL, NULL);

		if (s < 0)
			_exit(2);
		close(lfd);
		play(seed, s);
		_exit(0);
	}
	close(lfd);

	res.connect = ivshmem_peer_connect_timeout(path, 150 + (int)below(&r, 300), &p);
	if (res.connect == 0) {
		use(&r, p, &res);
		ivshmem_peer_close(p);
	} else if (p != NULL) {
		res.bad = 1;
		snprintf(res.why, sizeof(res.why), "handle not reset on failure (%d)", res.connect);
	}
	if (!documented(res.connect) || !documented(res.process)) {
		res.bad = 1;
		snprintf(res.why, sizeof(res.why), "undocumented result: connect %d, process %d",
			 res.connect, res.process);
	}
	alarm(0);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	unlink(path);
	free(path);
	after = count_fds(0);
	if (after != before) {
		res.bad = 1;
		snprintf(res.why, sizeof(res.why), "fd leak: %d open before, %d after", before, after);
	}
	if (res.bad || verbose)
		diag("case %lu (seed %" PRIu64 "): connect %d, process %d%s%s", k, seed,
		     res.connect, res.process, res.bad ? ": " : "", res.why);
	return !res.bad;
}

int main(int argc, char **argv)
{
	uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	unsigned long min_cases = 1000, k, failed = 0, replay = ~0UL;
	int seconds = 20, opt, before;
	struct rlimit rl;
	int64_t end;

	while ((opt = getopt(argc, argv, "s:t:n:c:")) != -1) {
		switch (opt) {
		case 's': seed = strtoull(optarg, NULL, 0); break;
		case 't': seconds = atoi(optarg); break;
		case 'n': min_cases = strtoul(optarg, NULL, 0); break;
		case 'c': replay = strtoul(optarg, NULL, 0); break;
		default:
			fprintf(stderr, "usage: %s [-s SEED] [-t SECONDS] [-n MIN_CASES] [-c CASE]\n",
				argv[0]);
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGALRM, on_hang);
	odd_fd = mmap(NULL, sizeof(int), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		      -1, 0);
	if (odd_fd == MAP_FAILED)
		return 1;
	/* Thousands of peers need thousands of fds: allow them. */
	if (!getrlimit(RLIMIT_NOFILE, &rl)) {
		rl.rlim_cur = rl.rlim_max < 65536 ? rl.rlim_max : 65536;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	diag("fuzz-peer: seed %" PRIu64 " (replay a case: -s %" PRIu64 " -c N), %d s, at least %lu cases",
	     seed, seed, seconds, min_cases);
	if (replay != ~0UL) {
		ok(run_case(seed + replay, replay, true), "fuzz-peer: case %lu of seed %" PRIu64,
		   replay, seed);
		return ivs_exit_status();
	}
	before = count_fds(0);
	end = now_ms() + seconds * 1000LL;
	for (k = 0; k < min_cases || now_ms() < end; k++) {
		if (!run_case(seed + k, k, false))
			failed++;
		if (now_ms() > end + seconds * 4000LL)
			break;
	}
	ok(failed == 0, "fuzz-peer: %lu fake-server scripts, %lu failed (seed %" PRIu64 ")",
	   k, failed, seed);
	ok(k >= min_cases, "fuzz-peer: at least %lu scripts ran (%lu)", min_cases, k);
	ok(count_fds(0) == before, "fuzz-peer: no fd leak over all cases (%d, was %d)",
	   count_fds(0), before);
	return ivs_exit_status();
}
