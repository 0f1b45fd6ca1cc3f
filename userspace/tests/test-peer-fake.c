// SPDX-License-Identifier: GPL-2.0-only
/*
 * test-peer-fake.c - the host peer library against a scripted fake server.
 *
 * Each case forks a server that accepts one connection and plays a
 * script of messages (malformed or not).  The library must answer with
 * the expected error, never crash, and never leak a descriptor.
 */
#include "ivs-test.h"

#include <sys/eventfd.h>
#include <sys/mman.h>

#include "ivshmem-peer.h"

enum step_kind {
	END = 0,
	MSG,		/* 8 bytes, with nfds fds of kind fdk */
	RAW,		/* only the first nfds bytes of the value */
	SPLIT,		/* the 8 bytes in three writes, fds with the first */
	PAUSE,		/* sleep val ms */
	CLOSE,		/* hang up now */
};

enum fd_kind { FD_EVENT, FD_SHM, FD_EMPTY };

struct step {
	enum step_kind kind;
	int64_t val;
	int nfds;
	enum fd_kind fdk;
	int repeat;
};

struct fake_case {
	const char *name;
	int timeout_ms;
	int want_connect;
	int want_process;	/* checked only when connect succeeds */
	int want_vectors;
	struct step steps[16];
};

#define V(x)		{ MSG, (x), 0, FD_EVENT, 1 }
#define VF(x, n, k)	{ MSG, (x), (n), (k), 1 }
#define VFR(x, k, r)	{ MSG, (x), 1, (k), (r) }
#define HANGUP		{ CLOSE, 0, 0, FD_EVENT, 1 }
#define BYTES(x, n)	{ RAW, (x), (n), FD_EVENT, 1 }
#define WAIT_MS(ms)	{ PAUSE, (ms), 0, FD_EVENT, 1 }
#define SPL(x)		{ SPLIT, (x), 0, FD_EVENT, 1 }
#define SPLF(x, k, r)	{ SPLIT, (x), 1, (k), (r) }
#define PREFIX		V(0), V(3), VF(-1, 1, FD_SHM)
#define OWN1		VF(3, 1, FD_EVENT)

static const struct fake_case cases[] = {
	{ "wrong version (1)", 1000, -EPROTO, 0, 0, { V(1) } },
	{ "wrong version (-1 with the memory fd)", 1000, -EPROTO, 0, 0, { VF(-1, 1, FD_SHM) } },
	{ "version with an fd", 1000, -EPROTO, 0, 0, { VF(0, 1, FD_EVENT) } },
	{ "hang-up before anything", 1000, -ECONNREFUSED, 0, 0, { HANGUP } },
	{ "truncated version (4 bytes, then hang-up)", 1000, -EPROTO, 0, 0,
	  { BYTES(0, 4), HANGUP } },
	{ "truncated id (5 bytes, then hang-up)", 1000, -EPROTO, 0, 0,
	  { V(0), BYTES(3, 5), HANGUP } },
	{ "id out of range (65536)", 1000, -EPROTO, 0, 0, { V(0), V(65536) } },
	{ "id out of range (-1)", 1000, -EPROTO, 0, 0, { V(0), V(-1) } },
	{ "id with an fd", 1000, -EPROTO, 0, 0, { V(0), VF(3, 1, FD_EVENT) } },
	{ "memory message without its fd", 1000, -EPROTO, 0, 0, { V(0), V(3), V(-1) } },
	{ "memory fd with a value other than -1", 1000, -EPROTO, 0, 0,
	  { V(0), V(3), VF(5, 1, FD_SHM) } },
	{ "two fds in the memory message", 1000, -EPROTO, 0, 0, { V(0), V(3), VF(-1, 2, FD_SHM) } },
	{ "20 fds in one message (control data truncated)", 1000, -EPROTO, 0, 0,
	  { V(0), V(3), VF(-1, 20, FD_EVENT) } },
	{ "empty memory object", 1000, -EPROTO, 0, 0, { V(0), V(3), VF(-1, 1, FD_EMPTY) } },
	{ "memory fd that is not a regular file", 1000, -EPROTO, 0, 0,
	  { V(0), V(3), VF(-1, 1, FD_EVENT) } },
	{ "peer id out of range (70000) with an fd", 1000, -EPROTO, 0, 0,
	  { PREFIX, VF(70000, 1, FD_EVENT) } },
	{ "negative peer id (-5)", 1000, -EPROTO, 0, 0, { PREFIX, V(-5) } },
	{ "two fds in one vector message", 1000, -EPROTO, 0, 0, { PREFIX, VF(1, 2, FD_EVENT) } },
	{ "65 vectors for one peer", 1000, -EPROTO, 0, 0,
	  { PREFIX, VFR(1, FD_EVENT, 65) } },
	{ "65 own vectors", 1000, -EPROTO, 0, 0, { PREFIX, VFR(3, FD_EVENT, 65) } },
	{ "server stalls after the id", 300, -ETIMEDOUT, 0, 0, { V(0), V(3) } },
	{ "server stalls before the own vectors", 300, -ETIMEDOUT, 0, 0,
	  { PREFIX, VF(1, 1, FD_EVENT) } },
	{ "hang-up after the memory", 1000, -ECONNRESET, 0, 0, { PREFIX, HANGUP } },
	{ "own id without an fd (told we left)", 1000, -EPROTO, 0, 0, { PREFIX, OWN1, V(3) } },
	{ "a second memory message after the handshake", 1000, -EPROTO, 0, 0,
	  { PREFIX, OWN1, VF(-1, 1, FD_SHM) } },
	{ "after the handshake: a second memory message", 1000, 0, -EPROTO, 1,
	  { PREFIX, OWN1, WAIT_MS(150), VF(-1, 1, FD_SHM) } },
	{ "after the handshake: a message cut short", 1000, 0, -EPROTO, 1,
	  { PREFIX, OWN1, WAIT_MS(150), BYTES(1, 3), HANGUP } },
	{ "after the handshake: two fds for a new peer", 1000, 0, -EPROTO, 1,
	  { PREFIX, OWN1, WAIT_MS(150), VF(4, 2, FD_EVENT) } },
	{ "after the handshake: id out of range", 1000, 0, -EPROTO, 1,
	  { PREFIX, OWN1, WAIT_MS(150), V(65536) } },
	{ "after the handshake: hang-up", 1000, 0, -ECONNRESET, 1,
	  { PREFIX, OWN1, WAIT_MS(150), HANGUP } },
	{ "valid, every message split in three writes", 1000, 0, 0, 2,
	  { SPL(0), SPL(3), SPLF(-1, FD_SHM, 1), SPLF(1, FD_EVENT, 2),
	    SPLF(3, FD_EVENT, 2) } },
	{ "valid, with departures of unknown peers", 1000, 0, 0, 3,
	  { PREFIX, V(9), VFR(3, FD_EVENT, 3), WAIT_MS(100), V(12), V(0) } },
};

static int make_fd(enum fd_kind k)
{
	int fd;

	switch (k) {
	case FD_EVENT:
		return eventfd(0, EFD_CLOEXEC);
	case FD_SHM:
		fd = memfd_create("fake-ivshmem", MFD_CLOEXEC);
		if (fd >= 0 && ftruncate(fd, 1 << 20) < 0) {
			close(fd);
			return -1;
		}
		return fd;
	case FD_EMPTY:
		return memfd_create("fake-empty", MFD_CLOEXEC);
	}
	return -1;
}

static void send_bytes(int sock, const void *buf, size_t len, int nfds, enum fd_kind k)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 32)];
	} ctl;
	struct iovec iov = { (void *)buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	int fds[32], i;

	if (nfds > 0) {
		struct cmsghdr *cm;

		memset(&ctl, 0, sizeof(ctl));
		for (i = 0; i < nfds; i++)
			fds[i] = make_fd(k);
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)nfds);
	}
	if (sendmsg(sock, &mh, MSG_NOSIGNAL) < 0)
		_exit(3);
	for (i = 0; i < nfds; i++)
		close(fds[i]);
}

static void play(int sock, const struct step *st)
{
	char buf[64];

	for (; st->kind != END; st++) {
		uint64_t le = htole64((uint64_t)st->val);
		int rep;

		for (rep = 0; rep < (st->repeat ? st->repeat : 1); rep++) {
			switch (st->kind) {
			case MSG:
				send_bytes(sock, &le, 8, st->nfds, st->fdk);
				break;
			case RAW:
				send_bytes(sock, &le, (size_t)st->nfds, 0, FD_EVENT);
				break;
			case SPLIT:
				send_bytes(sock, &le, 1, st->nfds, st->fdk);
				sleep_ms(2);
				send_bytes(sock, (char *)&le + 1, 3, 0, FD_EVENT);
				sleep_ms(2);
				send_bytes(sock, (char *)&le + 4, 4, 0, FD_EVENT);
				break;
			case PAUSE:
				sleep_ms((int)st->val);
				break;
			case CLOSE:
				close(sock);
				return;
			case END:
				break;
			}
		}
	}
	/* stay until the client hangs up */
	{
		struct pollfd pfd = { .fd = sock, .events = POLLIN };

		if (poll(&pfd, 1, 5000) == 1 && read(sock, buf, sizeof(buf)) < 0)
			_exit(4);
	}
	close(sock);
}

static void run_case(const struct fake_case *c)
{
	char *path = uniq("/tmp/ivs-fake", ".sock");
	struct ivshmem_peer *p = (struct ivshmem_peer *)0x1;	/* must be reset on failure */
	int lfd, before, after, r, rp = 0;
	pid_t pid;

	before = count_fds(0);
	lfd = unix_listen(path);
	if (lfd < 0) {
		ok(false, "fake server '%s': listen", c->name);
		goto out;
	}
	pid = fork();
	if (pid == 0) {
		int s = accept(lfd, NULL, NULL);

		if (s < 0)
			_exit(2);
		close(lfd);
		play(s, c->steps);
		_exit(0);
	}
	close(lfd);

	r = ivshmem_peer_connect_timeout(path, c->timeout_ms, &p);
	if (r == 0) {
		if (ivshmem_peer_vectors(p) != c->want_vectors) {
			diag("vectors %d, expected %d", ivshmem_peer_vectors(p), c->want_vectors);
			r = -1000;
		}
		if (c->want_process) {
			int64_t end = now_ms() + 2000;

			while ((rp = ivshmem_peer_process(p)) == 0 && now_ms() < end)
				sleep_ms(5);
		} else {
			sleep_ms(150);
			rp = ivshmem_peer_process(p);
		}
		ivshmem_peer_close(p);
	} else if (p != NULL) {
		diag("the handle was not reset on failure");
		r = -2000;
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	after = count_fds(0);
	if (c->want_connect == 0)
		ok(r == 0 && rp == c->want_process && after == before,
		   "fake server, %s: connect 0, then process %d (got %d, %d), no fd leak (%d/%d)",
		   c->name, c->want_process, r, rp, before, after);
	else
		ok(r == c->want_connect && after == before,
		   "fake server, %s: connect gives %d (got %d), no fd leak (%d/%d)", c->name,
		   c->want_connect, r, before, after);
out:
	unlink(path);
	free(path);
}

int main(void)
{
	size_t k;
	int before = count_fds(0);

	signal(SIGPIPE, SIG_IGN);
	for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++)
		run_case(&cases[k]);
	ok(count_fds(0) == before, "fake server: no fd leak over all cases (%d, was %d)",
	   count_fds(0), before);
	return ivs_exit_status();
}
