// SPDX-License-Identifier: GPL-2.0-only
/*
 * test-flood.c - host peers against a server that never stops talking.
 *
 *   test-flood                     the library's cases (TAP lines)
 *   test-flood serve SOCK MODE     only the flooding server, for the CLI
 *                                  cases in cli-peer-test.sh; it prints
 *                                  "listening" once it listens
 *
 * MODE "handshake": version, id 3, the memory, then "peer 9 left" for
 * ever: notices about a peer nobody knows, which make no progress, before
 * the own vectors, so the handshake never ends by itself.
 * MODE "after": a complete handshake (one vector), then the same flood.
 * The server writes as fast as the client reads: the client's socket is
 * never empty. Each connection is served by its own child process, which
 * ends when the client goes.
 *
 * Every case runs the library in a child process that the test kills
 * after a generous bound, so that a hang fails the case instead of the
 * whole run; the bounds checked are the library's own timeouts plus
 * slack for a loaded machine (LOAD_SLACK_MS).
 */
#include "ivs-test.h"

#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>

#include "ivshmem-peer.h"

#define LOAD_SLACK_MS	4000
#define HANG_MS		30000

static void send_val(int sock, int64_t val, int fd)
{
	uint64_t le = htole64((uint64_t)val);
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct iovec iov = { &le, sizeof(le) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (fd >= 0) {
		struct cmsghdr *cm;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	if (sendmsg(sock, &mh, MSG_NOSIGNAL) != (ssize_t)sizeof(le))
		_exit(0);	/* the client went: done */
}

static void flood(int sock, bool after_handshake)
{
	int shm = memfd_create("flood", MFD_CLOEXEC);
	static int64_t batch[8192];	/* 64 KiB a send: the reader never catches up */
	int i;

	if (shm < 0 || ftruncate(shm, 1 << 20) < 0)
		_exit(2);
	send_val(sock, 0, -1);
	send_val(sock, 3, -1);
	send_val(sock, -1, shm);
	if (after_handshake)
		send_val(sock, 3, eventfd(0, EFD_CLOEXEC));
	for (i = 0; i < 8192; i++)
		batch[i] = (int64_t)htole64(9);
	for (;;)
		if (send(sock, batch, sizeof(batch), MSG_NOSIGNAL) < 0)
			_exit(0);
}

/* accept for ever, a child per connection; the caller kills the group */
static void serve(int lfd, bool after_handshake)
{
	signal(SIGCHLD, SIG_IGN);
	for (;;) {
		int s = accept(lfd, NULL, NULL);

		if (s < 0)
			continue;
		if (fork() == 0) {
			close(lfd);
			flood(s, after_handshake);
		}
		close(s);
	}
}

static pid_t start_flood(const char *path, bool after_handshake)
{
	int lfd = unix_listen(path);
	pid_t pid;

	if (lfd < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		serve(lfd, after_handshake);
	}
	if (pid > 0)
		setpgid(pid, pid);
	close(lfd);
	return pid;
}

static void stop_flood(pid_t pid)
{
	if (pid > 0) {
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
}

enum what { CONNECT, PROCESS, WAIT };

/*
 * In a child: connect with @timeout_ms (and for PROCESS/WAIT, then call
 * ivshmem_peer_process() or ivshmem_peer_wait(p, 1, @timeout_ms)).
 * Returns the call's result, or INT_MIN if the child had to be killed;
 * *ms: how long the measured call took.
 */
static int in_child(const char *path, enum what what, int timeout_ms, int *ms)
{
	int pfd[2], res[2] = { INT_MIN, 0 };
	int64_t end;
	pid_t pid;

	if (pipe(pfd) < 0)
		return INT_MIN;
	pid = fork();
	if (pid == 0) {
		struct ivshmem_peer *p = NULL;
		int64_t t0 = now_ms();
		int r = ivshmem_peer_connect_timeout(path, what == CONNECT ? timeout_ms : 5000, &p);

		if (what != CONNECT && r == 0) {
			t0 = now_ms();
			if (what == PROCESS)
				r = ivshmem_peer_process(p);
			else
				r = ivshmem_peer_wait(p, 1, timeout_ms, NULL);
		} else if (what != CONNECT) {
			r = -10000 + r;	/* the connect failed */
		}
		res[0] = r;
		res[1] = (int)(now_ms() - t0);
		if (write(pfd[1], res, sizeof(res)) < 0)
			_exit(1);
		_exit(0);
	}
	close(pfd[1]);
	end = now_ms() + HANG_MS;
	for (;;) {
		struct pollfd pl = { .fd = pfd[0], .events = POLLIN };
		int64_t left = end - now_ms();

		if (left <= 0 || poll(&pl, 1, (int)left) == 0) {
			diag("still in the library after %d ms: killed", HANG_MS);
			break;
		}
		if (read(pfd[0], res, sizeof(res)) == (ssize_t)sizeof(res))
			break;
		res[0] = INT_MIN;
		break;
	}
	close(pfd[0]);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	*ms = res[1];
	return res[0];
}

static void lib_cases(void)
{
	char *path = uniq("/tmp/ivs-flood", ".sock");
	pid_t srv;
	int r, ms;

	srv = start_flood(path, false);
	r = in_child(path, CONNECT, 500, &ms);
	ok(r == -ETIMEDOUT && ms < 500 + LOAD_SLACK_MS,
	   "flood of departures in the handshake: connect with 500 ms gives -ETIMEDOUT "
	   "(got %d) in time (%d ms)", r, ms);
	r = in_child(path, CONNECT, 0, &ms);
	ok(r == -ETIMEDOUT && ms < LOAD_SLACK_MS,
	   "... with 0 ms too (got %d, %d ms)", r, ms);
	stop_flood(srv);
	unlink(path);

	srv = start_flood(path, true);
	r = in_child(path, PROCESS, 0, &ms);
	ok(r == 0 && ms < LOAD_SLACK_MS,
	   "flood after the handshake: ivshmem_peer_process() returns (got %d, %d ms)", r, ms);
	r = in_child(path, WAIT, 300, &ms);
	ok(r == -ETIMEDOUT && ms >= 300 && ms < 300 + LOAD_SLACK_MS,
	   "... ivshmem_peer_wait() with 300 ms gives -ETIMEDOUT in time (got %d, %d ms)",
	   r, ms);
	r = in_child(path, WAIT, 0, &ms);
	ok(r == -ETIMEDOUT && ms < LOAD_SLACK_MS,
	   "... and with 0 ms returns at once (got %d, %d ms)", r, ms);
	stop_flood(srv);
	unlink(path);
	free(path);
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc == 4 && strcmp(argv[1], "serve") == 0) {
		int lfd = unix_listen(argv[2]);

		if (lfd < 0) {
			perror(argv[2]);
			return 1;
		}
		setpgid(0, 0);	/* the caller ends the whole group */
		printf("listening\n");
		fflush(stdout);
		serve(lfd, strcmp(argv[3], "after") == 0);
	}
	if (argc != 1) {
		fprintf(stderr, "usage: %s [serve SOCKET handshake|after]\n", argv[0]);
		return 2;
	}
	lib_cases();
	return ivs_exit_status();
}
