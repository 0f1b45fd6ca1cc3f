// SPDX-License-Identifier: GPL-2.0-only
/*
 * ivshmem_unplug_test: the device and the module going away under load.
 *
 * The load is three processes on one device: a mapper writing and reading
 * the whole memory in a loop, a waiter blocked in read() on an eventfd bound
 * to the last vector (which nobody rings), and a ringer ringing its own peer
 * id on vector 0 in a loop (with an eventfd bound there, so that interrupts
 * are being delivered while the device goes). When the device goes, the
 * mapper must get SIGBUS, the waiter must wake and then see POLLHUP and
 * ENODEV on its file, and the ringer must get ENODEV; a new open of the
 * device that comes back must work at once.
 *
 *   ivshmem_unplug_test hotplug PCI_ADDR
 *       prints IVS-UNPLUG-READY once the load runs on the device at PCI_ADDR
 *       and waits (up to 300 s) for it to be removed from outside (QEMU's
 *       device_del); checks the load, prints IVS-UNPLUG-GONE, then waits for
 *       a device to appear at PCI_ADDR again (device_add) and checks it.
 *   ivshmem_unplug_test unbind PCI_ADDR LOOPS
 *       LOOPS times: load, unbind through sysfs, check, bind, check.
 *   ivshmem_unplug_test rmmod PCI_ADDR TRIES
 *       with the load running, TRIES rmmod attempts must fail with
 *       EWOULDBLOCK and the load must carry on; once it is stopped, rmmod
 *       must succeed (the module is left unloaded).
 *   ivshmem_unplug_test cycles MODULE.ko COUNT
 *       COUNT times: load the module, use every device (open, INFO, map
 *       and touch, bind, ring itself when it has vectors), unload it.
 *
 * Each mode prints KTAP through kselftest.h. Needs root; the module must be
 * named "ivshmem". Not for run_tests: it needs its arguments, and hotplug
 * needs the host's QEMU monitor.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <inttypes.h>
#include <libgen.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/ivshmem.h>

#include "kselftest.h"

#define ARRIVE_MS	10000

/* One result; kselftest.h wants the message's newline. */
#define tap(ok, fmt, ...) ksft_test_result(ok, fmt "\n", ##__VA_ARGS__)

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ULL + ts.tv_nsec / 1000000;
}

static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY), ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, s, strlen(s)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

/* /dev/ivshmemN of the device bound at @pci, waiting up to @ms. */
static int node_of(const char *pci, char *node, size_t len, int ms)
{
	char pattern[256];
	uint64_t end = now_ms() + ms;

	snprintf(pattern, sizeof(pattern),
		 "/sys/bus/pci/devices/%s/ivshmem/ivshmem*", pci);
	do {
		glob_t g;

		if (!glob(pattern, 0, NULL, &g)) {
			snprintf(node, len, "/dev/%s", basename(g.gl_pathv[0]));
			globfree(&g);
			if (!access(node, F_OK))
				return 0;
		}
		usleep(20000);
	} while (now_ms() < end);
	return -1;
}

static int bind_one(int fd, uint32_t vector, int32_t efd)
{
	struct ivshmem_bind b = { .first_vector = vector, .count = 1,
				  .fds = (uintptr_t)&efd };

	return ioctl(fd, IVSHMEM_IOCTL_BIND, &b) ? -errno : 0;
}

static int ring(int fd, uint32_t peer, uint32_t vector)
{
	struct ivshmem_ring r = { .peer_id = peer, .vector = vector };

	return ioctl(fd, IVSHMEM_IOCTL_RING, &r) ? -errno : 0;
}

/* ---------------------------------------------------------------- */
/* The load */

enum { MAPPER, WAITER, RINGER, NR_ROLES };
static const char *const role_name[NR_ROLES] = { "mapper", "waiter", "ringer" };

/* What each child reports through its pipe when the device went. */
struct outcome {
	int started;
	int ok;			/* saw exactly what it should */
	uint64_t work;		/* loops done before the end */
	char what[120];
};

struct load {
	pid_t pid[NR_ROLES];
	int pipe[NR_ROLES];	/* read ends */
	struct outcome out[NR_ROLES];
	int got[NR_ROLES];
};

static sigjmp_buf bus_jmp;
static volatile sig_atomic_t bus_addr_ok;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	bus_addr_ok = 1;
	siglongjmp(bus_jmp, 1);
}

static void report(int wfd, struct outcome *o)
{
	if (write(wfd, o, sizeof(*o)) != sizeof(*o))
		_exit(3);
}

static void mapper(const char *node, int wfd)
{
	/* static: they live across the siglongjmp() */
	static struct outcome o = { .started = 1 };
	static size_t i;
	struct sigaction sa = { .sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO };
	static struct ivshmem_info info;
	static volatile uint8_t *p;
	int fd;

	fd = open(node, O_RDWR);
	if (fd < 0 || ioctl(fd, IVSHMEM_IOCTL_INFO, &info)) {
		snprintf(o.what, sizeof(o.what), "open/INFO: %s", strerror(errno));
		report(wfd, &o);
		_exit(1);
	}
	p = mmap(NULL, info.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	/* The mapping alone must be enough: the file is closed. */
	close(fd);
	if (p == MAP_FAILED) {
		snprintf(o.what, sizeof(o.what), "mmap: %s", strerror(errno));
		report(wfd, &o);
		_exit(1);
	}
	report(wfd, &o);	/* started */
	sigaction(SIGBUS, &sa, NULL);
	if (sigsetjmp(bus_jmp, 1) == 0) {
		for (;;) {
			/* a page at a time, the whole memory round and round */
			p[i] = (uint8_t)o.work;
			if (p[i] != (uint8_t)o.work) {
				snprintf(o.what, sizeof(o.what),
					 "read back a different byte at %zu", i);
				report(wfd, &o);
				_exit(1);
			}
			i = (i + 4096 + 64) % info.size;
			o.work++;
		}
	}
	o.ok = bus_addr_ok;
	snprintf(o.what, sizeof(o.what), "SIGBUS after %" PRIu64 " accesses", o.work);
	report(wfd, &o);
	_exit(0);
}

static void waiter(const char *node, int wfd)
{
	struct outcome o = { .started = 1 };
	struct ivshmem_info info;
	struct pollfd pfd;
	uint64_t n = 0;
	int fd, efd, r;

	fd = open(node, O_RDWR);
	efd = eventfd(0, 0);	/* blocking */
	if (fd < 0 || efd < 0 || ioctl(fd, IVSHMEM_IOCTL_INFO, &info) ||
	    bind_one(fd, info.nr_vectors - 1, efd)) {
		snprintf(o.what, sizeof(o.what), "setup: %s", strerror(errno));
		report(wfd, &o);
		_exit(1);
	}
	report(wfd, &o);
	r = read(efd, &n, sizeof(n));	/* blocks until the removal */
	pfd.fd = fd;
	pfd.events = POLLIN;
	pfd.revents = 0;
	o.work = n;
	if (r != sizeof(n)) {
		snprintf(o.what, sizeof(o.what), "read of the eventfd: %s", strerror(errno));
	} else if (poll(&pfd, 1, 5000) != 1 || !(pfd.revents & POLLHUP)) {
		snprintf(o.what, sizeof(o.what), "woken (count %" PRIu64 ") but no POLLHUP (revents %#x)",
			 n, pfd.revents);
	} else if (!ioctl(fd, IVSHMEM_IOCTL_INFO, &info) || errno != ENODEV) {
		snprintf(o.what, sizeof(o.what), "woken, POLLHUP, but INFO gives %s",
			 strerror(errno));
	} else {
		o.ok = 1;
		snprintf(o.what, sizeof(o.what), "woken (count %" PRIu64 "), POLLHUP, ENODEV", n);
	}
	report(wfd, &o);
	close(efd);
	close(fd);
	_exit(0);
}

static void ringer(const char *node, int wfd)
{
	struct outcome o = { .started = 1 };
	struct ivshmem_info info;
	int fd, efd, r;

	fd = open(node, O_RDWR);
	efd = eventfd(0, EFD_NONBLOCK);
	if (fd < 0 || efd < 0 || ioctl(fd, IVSHMEM_IOCTL_INFO, &info) ||
	    bind_one(fd, 0, efd)) {
		snprintf(o.what, sizeof(o.what), "setup: %s", strerror(errno));
		report(wfd, &o);
		_exit(1);
	}
	report(wfd, &o);
	do {
		r = ring(fd, info.peer_id, 0);
		o.work++;
		/* Give the interrupts a chance to come in between. */
		if (!(o.work % 64))
			usleep(1000);
	} while (r == 0);
	o.ok = r == -ENODEV;
	snprintf(o.what, sizeof(o.what), "ring %" PRIu64 " gave %s", o.work, strerror(-r));
	report(wfd, &o);
	close(efd);
	close(fd);
	_exit(0);
}

static int load_start(struct load *l, const char *node)
{
	void (*fn[NR_ROLES])(const char *, int) = { mapper, waiter, ringer };
	int i, p[2];

	memset(l, 0, sizeof(*l));
	for (i = 0; i < NR_ROLES; i++) {
		if (pipe2(p, O_CLOEXEC))
			return -1;
		l->pid[i] = fork();
		if (l->pid[i] == 0) {
			close(p[0]);
			fn[i](node, p[1]);
			_exit(0);
		}
		close(p[1]);
		l->pipe[i] = p[0];
	}
	/* Each child reports once it runs. */
	for (i = 0; i < NR_ROLES; i++) {
		struct pollfd pfd = { .fd = l->pipe[i], .events = POLLIN };

		if (poll(&pfd, 1, 30000) != 1 ||
		    read(l->pipe[i], &l->out[i], sizeof(l->out[i])) != sizeof(l->out[i]) ||
		    l->out[i].what[0]) {
			ksft_print_msg("%s did not start: %s\n", role_name[i], l->out[i].what);
			return -1;
		}
	}
	return 0;
}

/* Collects the outcomes, waiting up to @ms; kills what did not report. */
static void load_finish(struct load *l, int ms)
{
	uint64_t end = now_ms() + ms;
	int i, left = NR_ROLES;

	while (left && now_ms() < end) {
		struct pollfd pfd[NR_ROLES];

		for (i = 0; i < NR_ROLES; i++) {
			pfd[i].fd = l->got[i] ? -1 : l->pipe[i];
			pfd[i].events = POLLIN;
		}
		if (poll(pfd, NR_ROLES, 200) <= 0)
			continue;
		for (i = 0; i < NR_ROLES; i++) {
			if (l->got[i] || !(pfd[i].revents & (POLLIN | POLLHUP)))
				continue;
			memset(&l->out[i], 0, sizeof(l->out[i]));
			if (read(l->pipe[i], &l->out[i], sizeof(l->out[i])) !=
			    sizeof(l->out[i]))
				snprintf(l->out[i].what, sizeof(l->out[i].what),
					 "died without a report");
			l->got[i] = 1;
			left--;
		}
	}
	for (i = 0; i < NR_ROLES; i++) {
		if (!l->got[i])
			snprintf(l->out[i].what, sizeof(l->out[i].what),
				 "no report in %d ms", ms);
		kill(l->pid[i], SIGKILL);
		waitpid(l->pid[i], NULL, 0);
		close(l->pipe[i]);
	}
}

static int load_ok(struct load *l, int verbose)
{
	int i, ok = 1;

	for (i = 0; i < NR_ROLES; i++) {
		if (verbose || !l->out[i].ok)
			ksft_print_msg("%s: %s\n", role_name[i], l->out[i].what);
		ok &= l->out[i].ok;
	}
	return ok;
}

/* A new open works at once: info, map and touch, ring itself. */
static int fresh_open_works(const char *node, char *why, size_t len)
{
	struct ivshmem_info info;
	volatile uint8_t *p;
	int fd, efd = -1, ok = 0;
	struct pollfd pfd;

	fd = open(node, O_RDWR);
	if (fd < 0 || ioctl(fd, IVSHMEM_IOCTL_INFO, &info)) {
		snprintf(why, len, "open/INFO %s: %s", node, strerror(errno));
		goto out;
	}
	p = mmap(NULL, info.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		snprintf(why, len, "mmap: %s", strerror(errno));
		goto out;
	}
	p[info.size - 1] = 0x7e;
	ok = p[info.size - 1] == 0x7e;
	munmap((void *)p, info.size);
	if (!ok) {
		snprintf(why, len, "memory does not keep a byte");
		goto out;
	}
	if (!info.nr_vectors)
		goto out;
	efd = eventfd(0, EFD_NONBLOCK);
	ok = efd >= 0 && !bind_one(fd, 0, efd) && !ring(fd, info.peer_id, 0);
	pfd.fd = efd;
	pfd.events = POLLIN;
	ok = ok && poll(&pfd, 1, ARRIVE_MS) == 1;
	if (!ok)
		snprintf(why, len, "a ring to itself (peer %u) did not arrive", info.peer_id);
out:
	if (efd >= 0)
		close(efd);
	if (fd >= 0)
		close(fd);
	return ok;
}

/* ---------------------------------------------------------------- */

static int mode_hotplug(const char *pci)
{
	char node[128], why[160] = "", cls[160];
	struct load l;
	int ok;

	ksft_print_header();
	ksft_set_plan(5);
	if (node_of(pci, node, sizeof(node), 5000))
		ksft_exit_fail_msg("no ivshmem device at %s\n", pci);
	ok = !load_start(&l, node);
	tap(ok, "hotplug: mapper, waiter and ringer run on %s", node);
	if (!ok)
		ksft_exit_fail();
	snprintf(cls, sizeof(cls), "/sys/class/ivshmem/%s", node + 5);
	/* The host watches the console for this line, then runs device_del. */
	printf("IVS-UNPLUG-READY %s\n", pci);
	fflush(stdout);
	load_finish(&l, 300000);
	tap(load_ok(&l, 1), "hotplug: device_del under load: mapper SIGBUS, waiter woken with POLLHUP and ENODEV, ringer ENODEV");
	tap(access(node, F_OK) && access(cls, F_OK),
	    "hotplug: %s and %s are gone", node, cls);
	printf("IVS-UNPLUG-GONE %s\n", pci);
	fflush(stdout);

	ok = !node_of(pci, node, sizeof(node), 300000);
	tap(ok, "hotplug: device_add: a device is bound at %s again (%s)", pci,
	    ok ? node : "none");
	tap(ok && fresh_open_works(node, why, sizeof(why)),
	    "hotplug: the re-added device works at once for a new open%s%s",
	    why[0] ? ": " : "", why);
	ksft_finished();
	return 0;
}

static int mode_unbind(const char *pci, int loops)
{
	char node[128], why[160] = "";
	int i, load_fail = 0, open_fail = 0, bind_fail = 0;
	struct load l;

	ksft_print_header();
	ksft_set_plan(3);
	for (i = 0; i < loops; i++) {
		if (node_of(pci, node, sizeof(node), 10000) || load_start(&l, node)) {
			bind_fail++;
			break;
		}
		/* Let the load run a little, at a different moment each time. */
		usleep(100000 + (i % 7) * 70000);
		if (write_str("/sys/bus/pci/drivers/ivshmem/unbind", pci)) {
			ksft_print_msg("unbind %s: %s\n", pci, strerror(errno));
			bind_fail++;
		}
		load_finish(&l, 30000);
		if (!load_ok(&l, i == 0)) {
			ksft_print_msg("cycle %d: the load did not see the removal right\n", i);
			load_fail++;
		}
		if (write_str("/sys/bus/pci/drivers/ivshmem/bind", pci) ||
		    node_of(pci, node, sizeof(node), 10000)) {
			ksft_print_msg("cycle %d: bind %s failed\n", i, pci);
			bind_fail++;
			break;
		}
		if (!fresh_open_works(node, why, sizeof(why))) {
			ksft_print_msg("cycle %d: %s\n", i, why);
			open_fail++;
		}
	}
	tap(!bind_fail, "unbind: %d unbind/bind cycles under load completed", loops);
	tap(!load_fail && !bind_fail,
	    "unbind: every cycle: mapper SIGBUS, waiter woken with POLLHUP and ENODEV, ringer ENODEV (%d bad)",
	    load_fail);
	tap(!open_fail && !bind_fail, "unbind: after every bind a new open works at once (%d bad)",
	    open_fail);
	ksft_finished();
	return 0;
}

static int try_rmmod(void)
{
	return syscall(__NR_delete_module, "ivshmem", O_NONBLOCK) ? -errno : 0;
}

static int mode_rmmod(const char *pci, int tries)
{
	int i, refused = 0, other = 0, r;
	char node[128];
	struct load l;

	ksft_print_header();
	ksft_set_plan(3);
	if (node_of(pci, node, sizeof(node), 5000) || load_start(&l, node))
		ksft_exit_fail_msg("no load on %s\n", pci);
	for (i = 0; i < tries; i++) {
		r = try_rmmod();
		if (r == -EWOULDBLOCK || r == -EBUSY)
			refused++;
		else
			other++;
		if (r == 0)
			break;		/* it went, under load: the load will tell */
		usleep(10000);
	}
	tap(refused == tries, "rmmod: %d attempts under load refused (%d not)", tries, other);
	/* The load did not notice anything: nobody reported yet. */
	{
		struct pollfd pfd[NR_ROLES];
		int n;

		for (i = 0; i < NR_ROLES; i++) {
			pfd[i].fd = l.pipe[i];
			pfd[i].events = POLLIN;
		}
		n = poll(pfd, NR_ROLES, 500);
		tap(n == 0, "rmmod: the load carried on through the attempts");
	}
	/* Stop the load: the module goes. */
	for (i = 0; i < NR_ROLES; i++)
		kill(l.pid[i], SIGKILL);
	for (i = 0; i < NR_ROLES; i++) {
		waitpid(l.pid[i], NULL, 0);
		close(l.pipe[i]);
	}
	for (i = 0; i < 100 && (r = try_rmmod()) != 0; i++)
		usleep(50000);
	tap(r == 0, "rmmod: succeeds once the load is gone (%s)", r ? strerror(-r) : "ok");
	ksft_finished();
	return 0;
}

/* One cycle's use of every device. */
static int use_devices(char *why, size_t len)
{
	glob_t g;
	size_t i;
	int ok = 1;

	if (glob("/dev/ivshmem*", 0, NULL, &g)) {
		snprintf(why, len, "no device node");
		return 0;
	}
	for (i = 0; i < g.gl_pathc && ok; i++)
		ok = fresh_open_works(g.gl_pathv[i], why, len);
	globfree(&g);
	return ok;
}

static int mode_cycles(const char *ko, int count)
{
	int i, fd, r, load_fail = 0, unload_fail = 0, use_fail = 0, ndev = -1;
	char why[160] = "";
	uint64_t t = now_ms();

	ksft_print_header();
	ksft_set_plan(3);
	for (i = 0; i < count; i++) {
		glob_t g;
		int n = 0, tries;

		fd = open(ko, O_RDONLY | O_CLOEXEC);
		r = fd < 0 ? -errno : syscall(__NR_finit_module, fd, "", 0) ? -errno : 0;
		if (fd >= 0)
			close(fd);
		if (r) {
			ksft_print_msg("cycle %d: load %s: %s\n", i, ko, strerror(-r));
			load_fail++;
			break;
		}
		/* devtmpfs creates the nodes asynchronously; wait for them. */
		for (tries = 0; tries < 500; tries++) {
			n = glob("/dev/ivshmem*", 0, NULL, &g) ? 0 : (int)g.gl_pathc;
			if (n)
				globfree(&g);
			if (n && (ndev < 0 || n == ndev))
				break;
			usleep(10000);
		}
		if (ndev < 0)
			ndev = n;
		if (n != ndev || !use_devices(why, sizeof(why))) {
			ksft_print_msg("cycle %d: %d devices (first cycle %d): %s\n", i, n, ndev, why);
			use_fail++;
		}
		for (tries = 0; tries < 100 && (r = try_rmmod()); tries++)
			usleep(20000);
		if (r) {
			ksft_print_msg("cycle %d: unload: %s\n", i, strerror(-r));
			unload_fail++;
			break;
		}
	}
	ksft_print_msg("%d cycles in %.1f s\n", i, (now_ms() - t) / 1000.0);
	tap(!load_fail && i == count, "cycles: the module loaded %d times", count);
	tap(!unload_fail && i == count, "cycles: and unloaded %d times", count);
	tap(!use_fail && ndev > 0, "cycles: every time its %d devices worked", ndev);
	ksft_finished();
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	if (argc == 3 && !strcmp(argv[1], "hotplug"))
		return mode_hotplug(argv[2]);
	if (argc == 4 && !strcmp(argv[1], "unbind"))
		return mode_unbind(argv[2], atoi(argv[3]));
	if (argc == 4 && !strcmp(argv[1], "rmmod"))
		return mode_rmmod(argv[2], atoi(argv[3]));
	if (argc == 4 && !strcmp(argv[1], "cycles"))
		return mode_cycles(argv[2], atoi(argv[3]));
	fprintf(stderr, "usage: %s hotplug PCI | unbind PCI LOOPS | rmmod PCI TRIES | cycles KO COUNT\n",
		argv[0]);
	return 2;
}
