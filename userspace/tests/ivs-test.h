/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * ivs-test.h - helpers shared by the host-side ivshmem tests.
 *
 * Test programs print "ok - what" / "not ok - what" and "# comment"
 * lines; run-server-tests.sh numbers them and prints the plan.
 */
#ifndef IVS_TEST_H
#define IVS_TEST_H

#define _GNU_SOURCE
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>

static int ivs_failures;
static int ivs_seq;		/* for unique names */

static void __attribute__((format(printf, 2, 3))) ok(bool pass, const char *fmt, ...)
{
	va_list ap;

	printf("%s - ", pass ? "ok" : "not ok");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	if (!pass)
		ivs_failures++;
}

static void __attribute__((format(printf, 1, 2), unused)) diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static int __attribute__((unused)) ivs_exit_status(void)
{
	return ivs_failures ? 1 : 0;
}

static int64_t __attribute__((unused)) now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void __attribute__((unused)) sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* a unique name: "<prefix>-<pid>-<n><suffix>" */
static char *__attribute__((unused)) uniq(const char *prefix, const char *suffix)
{
	char *s;

	if (asprintf(&s, "%s-%d-%d%s", prefix, (int)getpid(), ++ivs_seq, suffix) < 0)
		abort();
	return s;
}

static int __attribute__((unused)) count_fds(pid_t pid)
{
	char path[64];
	struct dirent *de;
	DIR *d;
	int n = 0;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	else
		snprintf(path, sizeof(path), "/proc/self/fd");
	d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return pid ? n : n - 1;	/* not the DIR's own fd */
}

static bool __attribute__((unused)) fd_is_eventfd(int fd)
{
	char path[64], target[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return false;
	target[n] = '\0';
	return strcmp(target, "anon_inode:[eventfd]") == 0;
}

static int __attribute__((unused)) unix_connect(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int __attribute__((unused)) unix_listen(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	unlink(path);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(fd, 16) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Raw protocol receive: one 8-byte message and at most one fd.
 * Return: 1 on a message; 0 at end of stream; -ETIMEDOUT; -EPROTO if the
 * message is not exactly 8 bytes in one recvmsg() or has more than one fd.
 */
static int __attribute__((unused)) raw_recv(int sock, int64_t *val, int *fd, int timeout_ms)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 4)];
	} ctl;
	uint64_t le;
	struct iovec iov = { &le, sizeof(le) };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf),
	};
	struct pollfd pfd = { .fd = sock, .events = POLLIN };
	struct cmsghdr *cm;
	int nfds = 0;
	ssize_t n;

	*fd = -1;
	if (poll(&pfd, 1, timeout_ms) == 0)
		return -ETIMEDOUT;
	n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	if (n == 0)
		return 0;
	if (n < 0)
		return -errno;
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
			size_t i, cnt = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			for (i = 0; i < cnt; i++) {
				int f;

				memcpy(&f, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
				if (nfds++ == 0)
					*fd = f;
				else
					close(f);
			}
		}
	}
	if (n != 8 || nfds > 1 || (mh.msg_flags & MSG_CTRUNC)) {
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		return -EPROTO;
	}
	*val = (int64_t)le64toh(le);
	return 1;
}

/*
 * Expect one message with value @want, with an fd if @want_fd.
 * The fd is stored in *fdp (if non-NULL) or closed.
 */
static bool __attribute__((unused)) expect_msg(int sock, int64_t want, bool want_fd, int *fdp,
					       const char *what)
{
	int64_t val = 0;
	int fd = -1;
	int r = raw_recv(sock, &val, &fd, 60000);	/* generous: it must come */
	bool good = r == 1 && val == want && (fd >= 0) == want_fd;

	if (!good)
		diag("%s: expected %" PRId64 "%s, got r=%d val=%" PRId64 " fd=%d", what, want,
		     want_fd ? "+fd" : "", r, val, fd);
	if (fdp && good)
		*fdp = fd;
	else if (fd >= 0)
		close(fd);
	return good;
}

/* true if nothing arrives within @ms */
static bool __attribute__((unused)) expect_silence(int sock, int ms)
{
	struct pollfd pfd = { .fd = sock, .events = POLLIN };

	return poll(&pfd, 1, ms) == 0;
}

/* ------------------------------------------------------------------ */
/* running the server                                                  */

static const char *ivs_server_bin;

struct server_proc {
	pid_t pid;
	char *sock;
	char *log;	/* stderr of the server */
};

/* true if a socket is listening on @path (from /proc/net/unix, without connecting) */
static bool __attribute__((unused)) is_listening(const char *path)
{
	char line[512];
	bool found = false;
	FILE *f = fopen("/proc/net/unix", "r");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char flags[16], p[300];

		line[strcspn(line, "\n")] = '\0';
		if (sscanf(line, "%*s %*s %*s %15s %*s %*s %*s %299s", flags, p) == 2 &&
		    strcmp(p, path) == 0 && strcmp(flags, "00010000") == 0)
			found = true;
	}
	fclose(f);
	return found;
}

static bool file_contains(const char *path, const char *needle);
static void diag_file(const char *path);

/* the line ivshmem-server logs once its socket accepts connections */
#define IVS_READY_LINE "ivshmem-server: ready: listening on "

/*
 * Wait until the server logged its ready line to @log (or, for a server
 * from before that line, until @path listens), or the process dies.
 */
static bool __attribute__((unused)) wait_socket(const char *path, const char *log, pid_t pid,
						int ms)
{
	int64_t end = now_ms() + ms;

	while (now_ms() < end) {
		if ((log && file_contains(log, IVS_READY_LINE)) || is_listening(path))
			return true;
		if (pid > 0 && waitpid(pid, NULL, WNOHANG) == pid)
			return false;
		sleep_ms(5);
	}
	return false;
}

/*
 * Start the server in the foreground with "-F -S <sock>" plus @args
 * (NULL-terminated).  Its stderr goes to a log file.
 */
static bool __attribute__((unused)) server_start(struct server_proc *sp, const char *sock,
						  const char *const *args)
{
	const char *argv[40];
	int i = 0, fd;

	memset(sp, 0, sizeof(*sp));
	sp->sock = strdup(sock);
	sp->log = uniq("/tmp/ivs-test-log", ".txt");
	argv[i++] = ivs_server_bin;
	argv[i++] = "-F";
	argv[i++] = "-S";
	argv[i++] = sock;
	while (args && *args && i < 38)
		argv[i++] = *args++;
	argv[i] = NULL;

	sp->pid = fork();
	if (sp->pid < 0)
		return false;
	if (sp->pid == 0) {
		fd = open(sp->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd >= 0)
			dup2(fd, 2);
		execv(ivs_server_bin, (char *const *)argv);
		_exit(127);
	}
	/* generous: a loaded machine may take long, and a ready server ends it */
	if (!wait_socket(sock, sp->log, sp->pid, 60000)) {
		diag("server did not start");
		diag_file(sp->log);
		kill(sp->pid, SIGKILL);
		waitpid(sp->pid, NULL, 0);
		sp->pid = 0;
		return false;
	}
	return true;
}

/* SIGTERM, wait; returns the wait status or -1 */
static int __attribute__((unused)) server_stop(struct server_proc *sp)
{
	int status = -1;
	int64_t end = now_ms() + 60000;

	if (sp->pid <= 0)
		return -1;
	kill(sp->pid, SIGTERM);
	while (now_ms() < end) {
		pid_t r = waitpid(sp->pid, &status, WNOHANG);

		if (r == sp->pid)
			break;
		sleep_ms(5);
	}
	if (now_ms() >= end) {
		kill(sp->pid, SIGKILL);
		waitpid(sp->pid, &status, 0);
		status = -1;
	}
	sp->pid = 0;
	unlink(sp->sock);
	return status;
}

static void __attribute__((unused)) server_cleanup(struct server_proc *sp)
{
	if (sp->pid > 0)
		server_stop(sp);
	if (sp->log && (file_contains(sp->log, "Sanitizer") ||
			file_contains(sp->log, "runtime error"))) {
		ok(false, "the server's log shows a sanitizer report");
		diag_file(sp->log);
	}
	if (sp->log)
		unlink(sp->log);
	free(sp->sock);
	free(sp->log);
	memset(sp, 0, sizeof(*sp));
}

static bool file_contains(const char *path, const char *needle)
{
	char buf[16384];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return false;
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}

/* print a file as TAP comments (for failures) */
static void diag_file(const char *path)
{
	char line[512];
	FILE *f = fopen(path, "r");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		diag("  | %s", line);
	}
	fclose(f);
}

#endif /* IVS_TEST_H */
