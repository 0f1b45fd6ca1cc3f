// SPDX-License-Identifier: GPL-2.0-only
/*
 * ivshmem_fuzz: a seeded fuzzer of the driver's user ABI.
 *
 *   ivshmem_fuzz [-s SEED] [-t MIN_SECONDS] [-T MAX_SECONDS] [-n MIN_CALLS]
 *                [-j THREADS] [-f CHILDREN] [-v]
 *
 * Every worker (CHILDREN forked processes plus the parent, each running
 * THREADS threads) draws its operations from a generator seeded with
 * SEED, the process number and the thread number, so a run is reproduced
 * from the seed printed at the start (and on failure); `-f 0 -j 1 -s SEED`
 * replays worker 0.0 alone, which is deterministic.
 *
 * Operations: the three ioctls and random commands in and out of the 0xB9
 * magic with random sizes and directions; random flags, reserved fields,
 * vectors and peer ids; fds that are closed, not eventfds, other devices',
 * the device itself; argument pointers that are NULL, unmapped, kernel
 * addresses, non-canonical, misaligned, read-only, inside the device's own
 * mappings or crossing into an unmapped page; mmap, mremap, mprotect,
 * madvise, msync, mlock, munmap with random offsets, lengths, flags and
 * protections; touching the mappings; open/close/dup/poll/read/write; and
 * fork() with live mappings. Shared fd slots let threads close what
 * others are using.
 *
 * Besides "no crash" (any kernel report is caught from the console by the
 * VM harness), each thread checks invariants of the ABI on a device fd
 * and arguments of its own: no private, executable (unless the module
 * parameter allow_exec is set) or out-of-range mapping is ever granted,
 * unknown commands of the magic fail with ENOTTY, nonzero flags or
 * reserved fields are refused, write-only commands never write to their
 * argument and INFO writes exactly its structure. Prints KTAP through
 * kselftest.h.
 *
 * Devices: every ivshmem device (devices.h), the first (lowest PCI
 * address) checked again for a fresh open at the end.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/ivshmem.h>

#include "kselftest.h"
#include "devices.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE	0x100000
#endif
#ifndef MAP_SHARED_VALIDATE
#define MAP_SHARED_VALIDATE	0x03
#endif
#ifndef MAP_SYNC
#define MAP_SYNC		0x80000
#endif
#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP	4
#endif

#define MAX_DEVS	8
#define NSLOTS		32
#define MAX_THREADS	16
#define ARENA_SIZE	(16UL << 20)	/* per thread */
#define HISTORY		32		/* last operations, shown on failure */

/* ---------------------------------------------------------------- */
/* The generator: splitmix64, one state per worker. */

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

static int chance(struct rng *r, unsigned int percent)
{
	return below(r, 100) < percent;
}

/* A 32-bit value biased toward the edges that validation code gets wrong. */
static uint32_t edgy32(struct rng *r, uint32_t limit)
{
	switch (below(r, 10)) {
	case 0: return 0;
	case 1: return 1;
	case 2: return limit;
	case 3: return limit ? limit - 1 : 0;
	case 4: return limit + 1;
	case 5: return 0xffffffffU;
	case 6: return 0x80000000U;
	case 7: return 1U << below(r, 32);
	case 8: return (uint32_t)rnd(r);
	default: return (uint32_t)below(r, limit + 2);
	}
}

/* ---------------------------------------------------------------- */
/* State shared by the processes (MAP_SHARED anonymous page). */

struct stats {
	uint64_t calls;
	uint64_t violations;
	uint64_t crashes;
	uint64_t ok[24], err[24], ns[24];
	char first_violation[256];
};

enum op {
	OP_INFO, OP_BIND, OP_RING, OP_IOCTL_MAGIC, OP_IOCTL_RANDOM, OP_MMAP,
	OP_MREMAP, OP_MPROTECT, OP_MADVISE, OP_MUNMAP, OP_MSYNC_MLOCK,
	OP_TOUCH, OP_OPEN_CLOSE, OP_FD_MISC, OP_USERBUF, OP_FORK,
	OP_REGS, NR_OPS
};

static const char *const op_names[NR_OPS] = {
	"ioctl INFO", "ioctl BIND", "ioctl RING", "ioctl 0xB9 other",
	"ioctl random", "mmap", "mremap", "mprotect", "madvise", "munmap",
	"msync/mlock", "touch", "open/close", "poll/read/write/dup",
	"user buffer in mapping", "fork", "register page",
};

/*
 * Relative weights of the operations. Under TCG with KASAN, lockdep and
 * kmemleak an mm operation costs tens of milliseconds of guest time (and
 * holds mmap_lock against the other threads of its process; fork() costs
 * a second), an ioctl well under one. So a worker runs bursts of BURST
 * operations drawn from the cheap weights (the ioctls and fd calls, where
 * most of the argument checking is) between two drawn from the full mix.
 */
static const unsigned int op_weight[NR_OPS] = {
	[OP_INFO] = 100, [OP_BIND] = 100, [OP_RING] = 50, [OP_IOCTL_MAGIC] = 80,
	[OP_IOCTL_RANDOM] = 50, [OP_MMAP] = 40, [OP_MREMAP] = 10,
	[OP_MPROTECT] = 15, [OP_MADVISE] = 15, [OP_MUNMAP] = 10,
	[OP_MSYNC_MLOCK] = 8, [OP_TOUCH] = 30, [OP_OPEN_CLOSE] = 25,
	[OP_FD_MISC] = 50, [OP_USERBUF] = 10, [OP_FORK] = 2, [OP_REGS] = 10,
};

static const unsigned int cheap_weight[NR_OPS] = {
	[OP_INFO] = 100, [OP_BIND] = 60, [OP_RING] = 40, [OP_IOCTL_MAGIC] = 100,
	[OP_IOCTL_RANDOM] = 80, [OP_FD_MISC] = 40, [OP_OPEN_CLOSE] = 5,
};

#define BURST	24

static struct stats *st;
static uint64_t seed;
static int verbose;
static int allow_exec;
static int ndevs;
static char devs[MAX_DEVS][64];
static volatile int stop;

/* Fds any thread of a process may use or close; -1 when empty. */
static int slot_fd[NSLOTS];

/* ---------------------------------------------------------------- */
/* Per thread */

struct hist {
	int op;
	long ret;
	int err;
	uint64_t a, b, c;
};

struct worker {
	int proc, thread;
	struct rng r;
	pthread_t tid;
	int devfd;			/* own device fd, for invariants */
	struct ivshmem_info info;	/* of devfd */
	int efd[4];			/* own eventfds */
	uint8_t *arena;			/* ARENA_SIZE, PROT_NONE when idle */
	uint8_t *buf;			/* a page, then an unmapped guard page */
	uint8_t *rdonly;		/* a read-only page */
	struct hist hist[HISTORY];
	unsigned int nhist;
};

static struct worker workers[MAX_THREADS];
static int nthreads = 4;

static __thread struct worker *self;
static __thread sigjmp_buf touch_jmp;
static __thread volatile int in_touch;
static __thread volatile int touch_sig;

static void count(int op, long ret)
{
	__atomic_fetch_add(&st->calls, 1, __ATOMIC_RELAXED);
	if (ret < 0 || ret == (long)MAP_FAILED)
		__atomic_fetch_add(&st->err[op], 1, __ATOMIC_RELAXED);
	else
		__atomic_fetch_add(&st->ok[op], 1, __ATOMIC_RELAXED);
}

static void note(int op, long ret, uint64_t a, uint64_t b, uint64_t c)
{
	struct hist *h = &self->hist[self->nhist++ % HISTORY];

	h->op = op;
	h->ret = ret;
	h->err = ret < 0 || ret == (long)MAP_FAILED ? errno : 0;
	h->a = a;
	h->b = b;
	h->c = c;
	count(op, ret);
}

/* Async-signal-safe printing, for the crash path. */
static void say(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 1)
		n = sizeof(line) - 1;
	if (n > 0 && write(1, line, n) < 0)
		return;
}

static void dump_history(struct worker *w)
{
	unsigned int i, n = w->nhist < HISTORY ? w->nhist : HISTORY;

	say("# worker %d.%d (seed %" PRIu64 "), last %u operations, oldest first:\n",
	    w->proc, w->thread, seed, n);
	for (i = w->nhist - n; i < w->nhist; i++) {
		struct hist *h = &w->hist[i % HISTORY];

		say("#   %-24s ret %ld errno %d args %#" PRIx64 " %#" PRIx64 " %#" PRIx64 "\n",
		    op_names[h->op], h->ret, h->err, h->a, h->b, h->c);
	}
}

static void violation(const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	say("# VIOLATION (seed %" PRIu64 ", worker %d.%d): %s\n", seed,
	    self->proc, self->thread, msg);
	if (__atomic_fetch_add(&st->violations, 1, __ATOMIC_RELAXED) == 0) {
		snprintf(st->first_violation, sizeof(st->first_violation),
			 "worker %d.%d: %s", self->proc, self->thread, msg);
		dump_history(self);
	}
}

static void on_fault(int sig, siginfo_t *si, void *uc)
{
	if (in_touch) {
		touch_sig = sig;
		siglongjmp(touch_jmp, 1);
	}
	say("# CRASH: signal %d at %p outside a touch (seed %" PRIu64 ")\n",
	    sig, si->si_addr, seed);
	if (self)
		dump_history(self);
	__atomic_fetch_add(&st->crashes, 1, __ATOMIC_RELAXED);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* ---------------------------------------------------------------- */
/* Choosing fds and pointers */

static int open_dev(struct rng *r, int any)
{
	static const int modes[] = { O_RDWR, O_RDWR, O_RDWR, O_RDONLY,
				     O_WRONLY, O_RDWR | O_NONBLOCK, O_PATH };
	int mode = any ? modes[below(r, 7)] : O_RDWR;

	return open(devs[below(r, ndevs)], mode | O_CLOEXEC);
}

static int open_other(struct rng *r)
{
	int sv[2], fd;

	switch (below(r, 8)) {
	/* Everything non-blocking: a worker must never sleep in a call. */
	case 0: return eventfd(below(r, 3), EFD_CLOEXEC | EFD_NONBLOCK);
	case 1: return open("/dev/null", O_RDWR | O_CLOEXEC);
	case 2: return open("/dev/zero", O_RDWR | O_CLOEXEC);
	case 3:
		if (pipe2(sv, O_CLOEXEC | O_NONBLOCK))
			return -1;
		close(sv[1]);
		return sv[0];
	case 4:
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv))
			return -1;
		close(sv[1]);
		return sv[0];
	case 5:
		fd = memfd_create("fuzz", MFD_CLOEXEC);
		if (fd >= 0 && ftruncate(fd, 1 << 16)) {
			close(fd);
			fd = -1;
		}
		return fd;
	case 6: return epoll_create1(EPOLL_CLOEXEC);
	default: return open_dev(r, 1);
	}
}

/* Puts a new fd into a random slot and closes whatever was there. */
static void slot_refill(struct rng *r)
{
	int i = below(r, NSLOTS);
	int fd = chance(r, 50) ? open_dev(r, 1) : open_other(r);
	int old = __atomic_exchange_n(&slot_fd[i], fd, __ATOMIC_ACQ_REL);

	note(OP_OPEN_CLOSE, fd, i, old, 0);
	if (old >= 0)
		close(old);
}

static void slot_close(struct rng *r)
{
	int i = below(r, NSLOTS);
	int old = __atomic_exchange_n(&slot_fd[i], -1, __ATOMIC_ACQ_REL);

	if (old >= 0)
		note(OP_OPEN_CLOSE, close(old), i, old, 1);
}

/* An fd for a call that does not destroy it: may be stale or foreign. */
static int any_fd(struct rng *r)
{
	switch (below(r, 10)) {
	case 0: return -1;
	case 1: return 999;			/* never open */
	case 2: return (int)rnd(r);
	case 3: return self->efd[below(r, 4)];
	case 4: case 5: return self->devfd;
	default: return __atomic_load_n(&slot_fd[below(r, NSLOTS)], __ATOMIC_ACQUIRE);
	}
}

static uint8_t *arena_of(struct rng *r)
{
	/* Mostly our own arena; sometimes another thread's. */
	if (chance(r, 85))
		return self->arena;
	return workers[below(r, nthreads)].arena;
}

/* A page-aligned range inside an arena. */
static void arena_range(struct rng *r, uint8_t **addr, size_t *len)
{
	uint8_t *a = arena_of(r);
	size_t pages = ARENA_SIZE / 4096;
	size_t first = below(r, pages);
	size_t n = 1 + (chance(r, 90) ? below(r, 8) : chance(r, 80) ? below(r, 64) :
			below(r, pages - first));

	if (first + n > pages)
		n = pages - first;
	*addr = a + first * 4096;
	*len = n * 4096;
}

/* Makes [addr, addr + len) of an arena a reserved PROT_NONE range again. */
static void rereserve(uint8_t *addr, size_t len)
{
	mmap(addr, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED |
	     MAP_NORESERVE, -1, 0);
}

static void *kernel_ptr(struct rng *r)
{
	static const uint64_t k[] = {
		0xffffffff81000000ULL, 0xffff888000000000ULL,
		0xffffffffffffffc0ULL, 0x8000000000000000ULL,
		0x00007ffffffffff8ULL, 0x0000800000000000ULL,
		0xffffc90000000000ULL, 0xfffffe0000000000ULL,
	};

	return (void *)(uintptr_t)k[below(r, sizeof(k) / sizeof(k[0]))];
}

/*
 * An argument pointer for a structure of @size bytes. *@valid says
 * whether it points at @size writable bytes of the thread's buffer.
 */
static void *arg_ptr(struct rng *r, size_t size, int *valid)
{
	*valid = 0;
	switch (below(r, 14)) {
	case 0: return NULL;
	case 1: return (void *)(uintptr_t)below(r, 4096);
	case 2: return kernel_ptr(r);
	case 3: return self->buf + 4096;		/* the guard page */
	case 4: /* the structure straddles into the guard page */
		return self->buf + 4096 - 1 - below(r, size ? size - 1 : 1);
	case 5: return self->rdonly + below(r, 64);
	case 6: return arena_of(r) + below(r, ARENA_SIZE - 64);
	case 7: return (void *)(uintptr_t)rnd(r);
	case 8: /* misaligned but valid */
		*valid = 1;
		return self->buf + 1 + below(r, 7);
	default:
		*valid = 1;
		return self->buf + 8 * below(r, 64);
	}
}

/* ---------------------------------------------------------------- */
/* Operations */

static const uint8_t CANARY = 0xc5;

static int own_dev_gone(void)
{
	struct ivshmem_info i;

	return ioctl(self->devfd, IVSHMEM_IOCTL_INFO, &i) < 0 && errno == ENODEV;
}

static void do_info(struct rng *r)
{
	int valid, fd = chance(r, 40) ? self->devfd : any_fd(r);
	uint8_t *p;
	long ret;
	size_t i;

	if (fd == self->devfd && chance(r, 60)) {
		/* Checked: every byte written, nothing beyond. */
		p = self->buf + 8 * below(r, 32);
		memset(p, CANARY, sizeof(struct ivshmem_info) + 64);
		ret = ioctl(fd, IVSHMEM_IOCTL_INFO, p);
		note(OP_INFO, ret, fd, (uintptr_t)p, 1);
		if (ret == 0) {
			struct ivshmem_info got;

			memcpy(&got, p, sizeof(got));
			if (memcmp(&got, &self->info, sizeof(got)))
				violation("INFO changed or left bytes unwritten");
			for (i = sizeof(got); i < sizeof(got) + 64; i++)
				if (p[i] != CANARY) {
					violation("INFO wrote past its structure");
					break;
				}
		}
		return;
	}
	p = arg_ptr(r, sizeof(struct ivshmem_info), &valid);
	ret = ioctl(fd, IVSHMEM_IOCTL_INFO, p);
	note(OP_INFO, ret, fd, (uintptr_t)p, 0);
	if (ret == 0 && !valid && fd == self->devfd && (uintptr_t)p < 4096)
		violation("INFO to %p succeeded", p);
}

static void fill_fds(struct rng *r, int32_t *fds, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n; i++) {
		switch (below(r, 8)) {
		case 0: fds[i] = -1; break;
		case 1: fds[i] = (int32_t)edgy32(r, 1024); break;
		case 2: case 3: fds[i] = any_fd(r); break;
		default: fds[i] = self->efd[below(r, 4)]; break;
		}
	}
}

static void do_bind(struct rng *r)
{
	uint32_t nvec = self->info.nr_vectors;
	struct ivshmem_bind b, copy;
	int32_t *fds = (int32_t *)(self->buf + 1024);
	int checked = chance(r, 50), fd, valid = 1;
	void *arg;
	long ret;

	memset(&b, 0, sizeof(b));
	if (checked) {
		/* Mostly valid: a range of existing vectors. */
		b.first_vector = nvec ? below(r, nvec) : 0;
		b.count = nvec ? 1 + below(r, nvec - b.first_vector) : 1;
	} else {
		b.first_vector = edgy32(r, nvec);
		b.count = edgy32(r, nvec);
	}
	if (b.count <= 256)
		fill_fds(r, fds, b.count);
	b.fds = (uintptr_t)fds;
	if (chance(r, 15)) {
		void *p = arg_ptr(r, 4 * (b.count ? b.count : 1), &valid);

		b.fds = (uintptr_t)p;
		if (valid && b.count <= 256)
			fill_fds(r, p, b.count);
	}
	if (chance(r, 10))
		b.fds = (uintptr_t)arena_of(r) + below(r, ARENA_SIZE);
	if (chance(r, 8))
		b.flags = edgy32(r, 1);
	if (chance(r, 8))
		b.reserved = edgy32(r, 1);

	fd = checked ? self->devfd : any_fd(r);
	if (checked && chance(r, 80)) {
		uint8_t *p = self->buf + 3072 + 8 * below(r, 8);

		memcpy(p, &b, sizeof(b));
		memset(p + sizeof(b), CANARY, 16);
		ret = ioctl(fd, IVSHMEM_IOCTL_BIND, p);
		note(OP_BIND, ret, b.first_vector, b.count, b.flags | (uint64_t)b.reserved << 32);
		memcpy(&copy, p, sizeof(copy));
		if (memcmp(&copy, &b, sizeof(b)) || p[sizeof(b)] != CANARY)
			violation("BIND wrote to its argument");
		if (ret == 0 && (b.flags || b.reserved))
			violation("BIND accepted flags %#x reserved %#x", b.flags, b.reserved);
		if (ret == 0 && (!b.count || b.first_vector >= nvec ||
				 b.count > nvec - b.first_vector))
			violation("BIND accepted vectors %u+%u of %u", b.first_vector,
				  b.count, nvec);
		return;
	}
	arg = chance(r, 80) ? (void *)&b : arg_ptr(r, sizeof(b), &valid);
	ret = ioctl(fd, IVSHMEM_IOCTL_BIND, arg);
	note(OP_BIND, ret, fd, b.first_vector, b.count);
}

static void do_ring(struct rng *r)
{
	struct ivshmem_ring g;
	int fd = chance(r, 50) ? self->devfd : any_fd(r), valid;
	uint8_t *p;
	long ret;

	memset(&g, 0, sizeof(g));
	g.peer_id = chance(r, 60) ? self->info.peer_id : edgy32(r, IVSHMEM_MAX_PEER_ID);
	g.vector = chance(r, 60) ? below(r, self->info.nr_vectors + 1) :
				   edgy32(r, IVSHMEM_MAX_RING_VECTOR);
	if (chance(r, 10))
		g.flags = edgy32(r, 1);
	if (chance(r, 10))
		g.reserved = edgy32(r, 1);
	if (chance(r, 15)) {
		p = arg_ptr(r, sizeof(g), &valid);
		ret = ioctl(fd, IVSHMEM_IOCTL_RING, p);
		note(OP_RING, ret, fd, (uintptr_t)p, 0);
		return;
	}
	p = self->buf + 2048 + 4 * below(r, 16);
	memcpy(p, &g, sizeof(g));
	memset(p + sizeof(g), CANARY, 16);
	ret = ioctl(fd, IVSHMEM_IOCTL_RING, p);
	note(OP_RING, ret, g.peer_id, g.vector, g.flags | (uint64_t)g.reserved << 32);
	if (fd != self->devfd)
		return;
	if (memcmp(p, &g, sizeof(g)) || p[sizeof(g)] != CANARY)
		violation("RING wrote to its argument");
	if (ret == 0 && (g.flags || g.reserved || g.peer_id > IVSHMEM_MAX_PEER_ID ||
			 g.vector > IVSHMEM_MAX_RING_VECTOR))
		violation("RING accepted peer %u vector %u flags %#x reserved %#x",
			  g.peer_id, g.vector, g.flags, g.reserved);
	if (ret == 0 && !self->info.nr_vectors)
		violation("RING worked on a device without vectors");
}

/* Commands of the 0xB9 magic other than the three, and mutants of those. */
static void do_ioctl_magic(struct rng *r)
{
	static const unsigned int dirs[] = { _IOC_NONE, _IOC_READ, _IOC_WRITE,
					     _IOC_READ | _IOC_WRITE };
	unsigned int nr = chance(r, 50) ? below(r, 4) : below(r, 256);
	unsigned int size = chance(r, 50) ? below(r, 128) : below(r, 1 << 14);
	unsigned int cmd = _IOC(dirs[below(r, 4)], IVSHMEM_IOCTL_MAGIC, nr, size);
	int fd = chance(r, 60) ? self->devfd : any_fd(r), valid;
	void *p = arg_ptr(r, 64, &valid);
	long ret;

	ret = ioctl(fd, cmd, p);
	note(OP_IOCTL_MAGIC, ret, fd, cmd, (uintptr_t)p);
	if (fd == self->devfd && cmd != IVSHMEM_IOCTL_INFO &&
	    cmd != IVSHMEM_IOCTL_BIND && cmd != IVSHMEM_IOCTL_RING &&
	    (ret != -1 || errno != ENOTTY))
		violation("unknown command %#x gave %ld errno %d", cmd, ret, errno);
}

/* Fully random commands, on device fds only (not on the console). */
static int vfs_owned(unsigned int cmd)
{
	/* Handled by the VFS before the driver; FIFREEZE would freeze devtmpfs. */
	switch (cmd) {
	case 0x5451: case 0x5450: case 0x5421: case 0x5452: case 0x5460:
	case 0xc0045877: case 0xc0045878: case 0x2: case 0x541b:
		return 1;
	}
	return (cmd & 0xff00) == 0x5800 || _IOC_TYPE(cmd) == 0x94 ||
	       _IOC_TYPE(cmd) == 'f' || _IOC_TYPE(cmd) == 'X';
}

static void do_ioctl_random(struct rng *r)
{
	unsigned int cmd = (unsigned int)rnd(r);
	int valid;
	void *p = arg_ptr(r, 64, &valid);
	long ret;

	if (vfs_owned(cmd))
		return;
	ret = ioctl(self->devfd, cmd, p);
	note(OP_IOCTL_RANDOM, ret, self->devfd, cmd, (uintptr_t)p);
	if (_IOC_TYPE(cmd) != IVSHMEM_IOCTL_MAGIC && (ret != -1 || errno != ENOTTY))
		violation("foreign command %#x gave %ld errno %d", cmd, ret, errno);
}

static int random_prot(struct rng *r)
{
	int prot = 0;

	if (chance(r, 85))
		prot |= PROT_READ;
	if (chance(r, 60))
		prot |= PROT_WRITE;
	if (chance(r, 10))
		prot |= PROT_EXEC;
	if (chance(r, 3))
		prot |= 0x8 /* PROT_SEM */ | PROT_GROWSDOWN;
	if (chance(r, 2))
		prot |= 1 << below(r, 32);
	return prot;
}

static uint64_t random_offset(struct rng *r, uint64_t size)
{
	switch (below(r, 8)) {
	case 0: return IVSHMEM_MMAP_REGS_OFFSET;
	case 1: return size;
	case 2: return size - 4096;
	case 3: return rnd(r) & ~4095ULL & ((1ULL << 62) - 1);
	case 4: return IVSHMEM_MMAP_REGS_OFFSET + 4096 * below(r, 3);
	case 5: return below(r, 4096);		/* unaligned */
	default: return below(r, size / 4096 + 1) * 4096;
	}
}

static void do_mmap(struct rng *r)
{
	uint64_t size = self->info.size;
	int checked = chance(r, 50), flags, prot, fd;
	uint64_t off;
	uint8_t *addr;
	size_t len;
	void *p;

	arena_range(r, &addr, &len);
	prot = random_prot(r);
	off = random_offset(r, size);
	flags = chance(r, 80) ? MAP_SHARED : chance(r, 50) ? MAP_PRIVATE :
		MAP_SHARED_VALIDATE;
	flags |= chance(r, 90) ? MAP_FIXED : MAP_FIXED_NOREPLACE;
	if (chance(r, 15))
		flags |= MAP_POPULATE;
	if (chance(r, 5))
		flags |= MAP_LOCKED;
	if (chance(r, 5))
		flags |= MAP_NORESERVE | MAP_NONBLOCK;
	if (chance(r, 3))
		flags |= MAP_SYNC;
	if (chance(r, 3))
		flags |= MAP_HUGETLB | MAP_GROWSDOWN;
	fd = checked ? self->devfd : any_fd(r);

	p = mmap(addr, len, prot, flags, fd, (off_t)off);
	note(OP_MMAP, (long)p, fd, off, len | (uint64_t)prot << 48 | (uint64_t)(flags & 0xffff) << 32);
	if (p == MAP_FAILED) {
		/* A failed MAP_FIXED may have unmapped the range already. */
		if (flags & MAP_FIXED)
			rereserve(addr, len);
		return;
	}
	if (p != addr) {
		violation("mmap MAP_FIXED moved to %p from %p", p, addr);
		return;
	}
	if (!checked || own_dev_gone())
		return;
	if ((flags & MAP_TYPE) == MAP_PRIVATE)
		violation("private mapping of the device granted");
	if ((prot & PROT_EXEC) && !allow_exec)
		violation("executable mapping granted (allow_exec=0)");
	if (off < size && off + len > size)
		violation("mapping %#" PRIx64 "+%#zx past the memory (%#" PRIx64 ")",
			  off, len, size);
	if (off >= size && !(off == IVSHMEM_MMAP_REGS_OFFSET && len == 4096 &&
			     (self->info.flags & IVSHMEM_INFO_REGS_MMAP)))
		violation("mapping at offset %#" PRIx64 " length %#zx granted", off, len);
}

static void do_mremap(struct rng *r)
{
	uint8_t *addr, *to;
	size_t len, newlen;
	int flags = 0;
	void *p;

	arena_range(r, &addr, &len);
	newlen = chance(r, 40) ? len : chance(r, 50) ? len / 2 + 4096 : len * 2;
	if (chance(r, 50)) {
		size_t nl = (newlen + 4095) & ~4095UL;

		if (nl > ARENA_SIZE)
			return;
		flags = MREMAP_MAYMOVE | MREMAP_FIXED;
		to = self->arena + below(r, (ARENA_SIZE - nl) / 4096 + 1) * 4096;
		if (chance(r, 10))
			flags |= MREMAP_DONTUNMAP;
		p = mremap(addr, len, newlen, flags, to);
	} else {
		to = NULL;
		if (chance(r, 5))
			flags = 1 << (3 + below(r, 5));	/* unknown flag: EINVAL */
		p = mremap(addr, len, newlen, flags);
	}
	note(OP_MREMAP, (long)p, (uintptr_t)addr, len, newlen);
	if (p == MAP_FAILED) {
		if (to)
			rereserve(to, (newlen + 4095) & ~4095UL);
		return;
	}
	if (p != addr && !(flags & MREMAP_FIXED)) {
		/* Moved although not asked: take it back out. */
		munmap(p, newlen);
		violation("mremap moved a mapping without MREMAP_MAYMOVE");
	}
	if (p != addr && !(flags & MREMAP_DONTUNMAP))
		rereserve(addr, len);
	if (p == addr && newlen < len)
		rereserve(addr + ((newlen + 4095) & ~4095UL),
			  len - ((newlen + 4095) & ~4095UL));
}

static void do_mprotect(struct rng *r)
{
	uint8_t *addr;
	size_t len;
	int prot = random_prot(r);
	long ret;

	arena_range(r, &addr, &len);
	if (chance(r, 5))
		addr += 1 + below(r, 4095);
	ret = mprotect(addr, len, prot);
	note(OP_MPROTECT, ret, (uintptr_t)addr, len, prot);
}

static void do_madvise(struct rng *r)
{
	static const int advice[] = {
		MADV_NORMAL, MADV_RANDOM, MADV_SEQUENTIAL, MADV_WILLNEED,
		MADV_DONTNEED, MADV_FREE, MADV_REMOVE, MADV_DONTFORK,
		MADV_DOFORK, MADV_MERGEABLE, MADV_UNMERGEABLE, MADV_HUGEPAGE,
		MADV_NOHUGEPAGE, MADV_DONTDUMP, MADV_DODUMP, MADV_WIPEONFORK,
		MADV_KEEPONFORK, 20 /* COLD */, 21 /* PAGEOUT */,
		22 /* POPULATE_READ */, 23 /* POPULATE_WRITE */,
		25 /* COLLAPSE */, 77, -1,
	};
	uint8_t *addr;
	size_t len;
	int adv = advice[below(r, sizeof(advice) / sizeof(advice[0]))];
	long ret;

	arena_range(r, &addr, &len);
	if (chance(r, 5))
		addr = kernel_ptr(r);
	ret = madvise(addr, len, adv);
	note(OP_MADVISE, ret, (uintptr_t)addr, len, adv);
}

static void do_munmap(struct rng *r)
{
	uint8_t *addr;
	size_t len;
	long ret;

	arena_range(r, &addr, &len);
	if (chance(r, 10)) {
		/* Must fail: changes nothing. */
		ret = munmap(chance(r, 50) ? kernel_ptr(r) : addr + 1 + below(r, 4095), len);
		note(OP_MUNMAP, ret, (uintptr_t)addr, len, 1);
		if (ret == 0)
			violation("munmap of a bad address succeeded");
		return;
	}
	ret = munmap(addr, len);
	note(OP_MUNMAP, ret, (uintptr_t)addr, len, 0);
	rereserve(addr, len);
}

static void do_msync_mlock(struct rng *r)
{
	static const int sflags[] = { MS_SYNC, MS_ASYNC, MS_INVALIDATE,
				      MS_SYNC | MS_INVALIDATE, MS_SYNC | MS_ASYNC, 8 };
	uint8_t *addr;
	size_t len;
	long ret;

	arena_range(r, &addr, &len);
	switch (below(r, 4)) {
	case 0:
		ret = msync(addr, len, sflags[below(r, 6)]);
		break;
	case 1:
		ret = mlock(addr, len);
		break;
	case 2:
		ret = syscall(SYS_mlock2, addr, len, chance(r, 50) ? 1 : 0);
		break;
	default:
		ret = munlock(addr, len);
		break;
	}
	note(OP_MSYNC_MLOCK, ret, (uintptr_t)addr, len, 0);
}

static void do_touch(struct rng *r)
{
	uint8_t *a = arena_of(r) + (below(r, ARENA_SIZE / 8) * 8);
	int write = chance(r, 50), n = 1 + below(r, 64), i;
	volatile uint8_t *p = a;

	in_touch = 1;
	touch_sig = 0;
	if (sigsetjmp(touch_jmp, 1) == 0) {
		for (i = 0; i < n && p + i * 64 < a + 4096; i++) {
			if (write)
				p[i * 64] = (uint8_t)i;
			else
				(void)p[i * 64];
		}
	}
	in_touch = 0;
	note(OP_TOUCH, touch_sig ? -1 : 0, (uintptr_t)a, write, touch_sig);
}

static void do_open_close(struct rng *r)
{
	if (chance(r, 60))
		slot_refill(r);
	else
		slot_close(r);
}

static void do_fd_misc(struct rng *r)
{
	int fd = any_fd(r), d;
	struct pollfd pfd[3];
	char c[16];
	long ret;

	switch (below(r, 7)) {
	case 0:
		pfd[0].fd = fd;
		pfd[0].events = POLLIN | POLLOUT | POLLPRI | POLLRDHUP;
		pfd[1].fd = self->devfd;
		pfd[1].events = POLLIN;
		pfd[2].fd = self->efd[below(r, 4)];
		pfd[2].events = POLLIN;
		ret = poll(pfd, 3, 0);
		if (ret >= 0 && (pfd[1].revents & (POLLHUP | POLLERR)) && !own_dev_gone())
			violation("POLLHUP on a present device");
		break;
	case 1:
		/* Consume an eventfd's count: non-blocking. */
		ret = read(self->efd[below(r, 4)], c, 8);
		break;
	case 2:
		/* stdin and a file opened blocking elsewhere could block */
		if (fd <= 2 || (fcntl(fd, F_GETFL) & O_NONBLOCK) == 0)
			fd = self->devfd;
		ret = read(fd, c, below(r, sizeof(c)));
		break;
	case 3:
		if (fd <= 2 || (fcntl(fd, F_GETFL) & O_NONBLOCK) == 0)
			fd = self->devfd;
		ret = write(fd, c, below(r, sizeof(c)));
		break;
	case 4:
		ret = lseek(self->devfd, (off_t)rnd(r), (int)below(r, 5));
		break;
	case 5:
		d = dup(fd);
		ret = d;
		if (d >= 0)
			close(d);
		break;
	default:
		ret = fsync(self->devfd);
		break;
	}
	note(OP_FD_MISC, ret, fd, 0, 0);
}

/* Syscalls whose user buffer is one of the device's mappings. */
static void do_userbuf(struct rng *r)
{
	uint8_t *a = arena_of(r) + below(r, ARENA_SIZE / 4096) * 4096;
	struct iovec local, remote;
	int sv[2], fd;
	long ret;
	char tmp[64];

	switch (below(r, 4)) {
	case 0:
		fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
		ret = read(fd, a + below(r, 4000), below(r, 8192));
		close(fd);
		break;
	case 1:
		fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
		ret = write(fd, a + below(r, 4000), below(r, 8192));
		close(fd);
		break;
	case 2:
		/* Through /proc/self/mem: the VM_IO mapping is not reachable. */
		fd = open("/proc/self/mem", O_RDWR | O_CLOEXEC);
		ret = pread(fd, tmp, sizeof(tmp), (off_t)(uintptr_t)a);
		close(fd);
		break;
	default:
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
			ret = -1;
			break;
		}
		local.iov_base = tmp;
		local.iov_len = sizeof(tmp);
		remote.iov_base = a;
		remote.iov_len = sizeof(tmp);
		ret = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
		close(sv[0]);
		close(sv[1]);
		break;
	}
	note(OP_USERBUF, ret, (uintptr_t)a, 0, 0);
}

/* A child that inherits the mappings and fds, pokes them and leaves. */
static void do_fork(struct rng *r)
{
	uint64_t s = rnd(r);
	int status;
	pid_t pid;

	pid = fork();
	if (pid == 0) {
		struct rng cr = { s };
		struct ivshmem_ring g = { .peer_id = self->info.peer_id };
		int i;

		for (i = 0; i < 32; i++) {
			volatile uint8_t *p = self->arena + below(&cr, ARENA_SIZE);

			in_touch = 1;
			if (sigsetjmp(touch_jmp, 1) == 0)
				(void)*p;
			in_touch = 0;
			ioctl(self->devfd, IVSHMEM_IOCTL_RING, &g);
			if (chance(&cr, 20))
				munmap(self->arena + below(&cr, ARENA_SIZE / 4096) * 4096, 4096);
		}
		_exit(0);
	}
	note(OP_FORK, pid, 0, 0, 0);
	if (pid > 0) {
		if (waitpid(pid, &status, 0) == pid && !(WIFEXITED(status) &&
							 WEXITSTATUS(status) == 0))
			violation("forked child ended with status %#x", status);
	}
}

static void do_regs(struct rng *r)
{
	/* Map the register page and read it; write only our own doorbell. */
	uint8_t *addr = self->arena + below(r, ARENA_SIZE / 4096) * 4096;
	volatile uint32_t *regs;
	void *p;

	p = mmap(addr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
		 self->devfd, (off_t)IVSHMEM_MMAP_REGS_OFFSET);
	note(OP_REGS, (long)p, (uintptr_t)addr, 0, 0);
	if (p == MAP_FAILED) {
		rereserve(addr, 4096);
		return;
	}
	regs = p;
	in_touch = 1;
	if (sigsetjmp(touch_jmp, 1) == 0) {
		uint32_t id = regs[IVSHMEM_REG_IVPOSITION / 4];

		if (id != self->info.peer_id && !own_dev_gone())
			violation("IVPosition %u through the register page, INFO says %u",
				  id, self->info.peer_id);
		if (self->info.nr_vectors && chance(r, 50))
			regs[IVSHMEM_REG_DOORBELL / 4] = self->info.peer_id << 16 |
				(uint32_t)below(r, self->info.nr_vectors);
	}
	in_touch = 0;
}

/* ---------------------------------------------------------------- */

static unsigned int op_total, cheap_total;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void run_op(struct rng *r, int cheap)
{
	const unsigned int *weight = cheap ? cheap_weight : op_weight;
	uint64_t t0 = now_ns();
	unsigned int w, i;

	w = below(r, cheap ? cheap_total : op_total);
	for (i = 0; i < NR_OPS; i++) {
		if (w < weight[i])
			break;
		w -= weight[i];
	}
	switch (i) {
	case OP_INFO: do_info(r); break;
	case OP_BIND: do_bind(r); break;
	case OP_RING: do_ring(r); break;
	case OP_IOCTL_MAGIC: do_ioctl_magic(r); break;
	case OP_IOCTL_RANDOM: do_ioctl_random(r); break;
	case OP_MMAP: do_mmap(r); break;
	case OP_MREMAP: do_mremap(r); break;
	case OP_MPROTECT: do_mprotect(r); break;
	case OP_MADVISE: do_madvise(r); break;
	case OP_MUNMAP: do_munmap(r); break;
	case OP_MSYNC_MLOCK: do_msync_mlock(r); break;
	case OP_TOUCH: do_touch(r); break;
	case OP_OPEN_CLOSE: do_open_close(r); break;
	case OP_FD_MISC: do_fd_misc(r); break;
	case OP_USERBUF: do_userbuf(r); break;
	case OP_FORK: do_fork(r); break;
	default: do_regs(r); break;
	}
	__atomic_fetch_add(&st->ns[i], now_ns() - t0, __ATOMIC_RELAXED);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	unsigned int n = 0;

	self = w;
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED))
		run_op(&w->r, ++n % (BURST + 1) != 0);
	return NULL;
}

static int setup_worker(struct worker *w, int proc, int thread)
{
	int i;

	w->proc = proc;
	w->thread = thread;
	w->r.s = seed ^ ((uint64_t)proc << 40) ^ ((uint64_t)thread << 20);
	rnd(&w->r);
	w->devfd = open(devs[thread % ndevs], O_RDWR | O_CLOEXEC);
	if (w->devfd < 0 || ioctl(w->devfd, IVSHMEM_IOCTL_INFO, &w->info))
		return -1;
	for (i = 0; i < 4; i++)
		w->efd[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	w->arena = mmap(NULL, ARENA_SIZE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS |
			MAP_NORESERVE, -1, 0);
	w->buf = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (w->arena == MAP_FAILED || w->buf == MAP_FAILED)
		return -1;
	w->rdonly = w->buf + 2 * 4096;
	munmap(w->buf + 4096, 4096);			/* the guard */
	mprotect(w->rdonly, 4096, PROT_READ);
	return 0;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ULL + ts.tv_nsec / 1000000;
}

#define STUCK_S	60

static void on_stuck(int sig)
{
	int i;

	say("# STUCK: a worker of process %d did not stop within %d s (seed %" PRIu64 ")\n",
	    workers[0].proc, STUCK_S, seed);
	for (i = 0; i < nthreads; i++)
		dump_history(&workers[i]);
	__atomic_fetch_add(&st->crashes, 1, __ATOMIC_RELAXED);
	_exit(1);
}

/* One process's run: its threads until *deadline or enough calls. */
static int run_process(int proc, uint64_t min_ms, uint64_t max_ms,
		       uint64_t min_calls, uint64_t start)
{
	int i;

	for (i = 0; i < NSLOTS; i++)
		slot_fd[i] = -1;
	for (i = 0; i < nthreads; i++) {
		if (setup_worker(&workers[i], proc, i)) {
			say("# worker %d.%d: setup failed: %s\n", proc, i, strerror(errno));
			return -1;
		}
	}
	for (i = 0; i < nthreads; i++)
		pthread_create(&workers[i].tid, NULL, worker_main, &workers[i]);
	for (;;) {
		uint64_t t = now_ms() - start;

		usleep(100000);
		if (t >= max_ms)
			break;
		if (t >= min_ms && __atomic_load_n(&st->calls, __ATOMIC_RELAXED) >= min_calls)
			break;
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	/* A worker that does not come back is stuck in the kernel. */
	signal(SIGALRM, on_stuck);
	alarm(STUCK_S);
	for (i = 0; i < nthreads; i++)
		pthread_join(workers[i].tid, NULL);
	alarm(0);
	return 0;
}

/* ---------------------------------------------------------------- */

/* One result; kselftest.h wants the message's newline. */
#define tap(ok, fmt, ...) do {						\
	ksft_test_result(ok, fmt "\n", ##__VA_ARGS__);			\
	fflush(stdout);							\
} while (0)

static int tainted(void)
{
	char buf[32];
	int fd = open("/proc/sys/kernel/tainted", O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	return atoi(buf);
}

/* After the storm: the device still works for a fresh open. */
static int still_works(char *why, size_t len)
{
	struct ivshmem_info info;
	volatile uint8_t *p;
	int fd, efd, ok = 0;

	fd = open(devs[0], O_RDWR);
	if (fd < 0 || ioctl(fd, IVSHMEM_IOCTL_INFO, &info)) {
		snprintf(why, len, "open/INFO: %s", strerror(errno));
		goto out;
	}
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		snprintf(why, len, "mmap: %s", strerror(errno));
		goto out;
	}
	p[100] = 0x5a;
	ok = p[100] == 0x5a;
	munmap((void *)p, 4096);
	if (ok && info.nr_vectors) {
		struct ivshmem_ring g = { .peer_id = info.peer_id };
		int32_t e;
		struct ivshmem_bind b = { .count = 1 };
		struct pollfd pfd;

		efd = eventfd(0, EFD_NONBLOCK);
		e = efd;
		b.fds = (uintptr_t)&e;
		ok = !ioctl(fd, IVSHMEM_IOCTL_BIND, &b) &&
		     !ioctl(fd, IVSHMEM_IOCTL_RING, &g);
		pfd.fd = efd;
		pfd.events = POLLIN;
		ok = ok && poll(&pfd, 1, 10000) == 1;
		if (!ok)
			snprintf(why, len, "a ring to itself did not arrive");
		close(efd);
	}
out:
	if (fd >= 0)
		close(fd);
	return ok;
}

int main(int argc, char **argv)
{
	uint64_t min_s = 60, max_s = 120, min_calls = 100000, start;
	int nchildren = 2, opt, i, bad_children = 0, t0;
	struct sigaction sa = { 0 };
	pid_t kids[16];
	char why[128];

	seed = (uint64_t)time(NULL) * 2654435761ULL ^ (uint64_t)getpid();
	while ((opt = getopt(argc, argv, "s:t:T:n:j:f:v")) != -1) {
		switch (opt) {
		case 's': seed = strtoull(optarg, NULL, 0); break;
		case 't': min_s = strtoull(optarg, NULL, 0); break;
		case 'T': max_s = strtoull(optarg, NULL, 0); break;
		case 'n': min_calls = strtoull(optarg, NULL, 0); break;
		case 'j': nthreads = atoi(optarg); break;
		case 'f': nchildren = atoi(optarg); break;
		case 'v': verbose = 1; break;
		default:
			fprintf(stderr, "usage: %s [-s SEED] [-t MIN_S] [-T MAX_S] [-n MIN_CALLS] [-j THREADS] [-f CHILDREN] [-v]\n",
				argv[0]);
			return 2;
		}
	}
	if (nthreads < 1 || nthreads > MAX_THREADS || nchildren < 0 || nchildren > 16) {
		fprintf(stderr, "ivshmem_fuzz: 1..%d threads, 0..16 children\n", MAX_THREADS);
		return 2;
	}
	if (max_s < min_s)
		max_s = min_s;
	ksft_print_header();
	ksft_print_msg("ivshmem_fuzz: seed %" PRIu64 " (replay: -s %" PRIu64 "), %d+1 processes x %d threads, %" PRIu64 "-%" PRIu64 " s, at least %" PRIu64 " calls\n",
	       seed, seed, nchildren, nthreads, min_s, max_s, min_calls);

	for (i = 0; i < ivs_devices() && ndevs < MAX_DEVS; i++)
		if (ivs_devs[i].present)
			snprintf(devs[ndevs++], sizeof(devs[0]), "%s", ivs_devs[i].node);
	if (!ndevs)
		ksft_exit_skip("no ivshmem device\n");
	ksft_set_plan(5);
	for (i = 0; i < ndevs; i++)
		ksft_print_msg("device %s\n", devs[i]);
	{
		char b[8] = "";
		int fd = open("/sys/module/ivshmem/parameters/allow_exec", O_RDONLY);

		if (fd >= 0 && read(fd, b, sizeof(b) - 1) > 0)
			allow_exec = b[0] == 'Y' || b[0] == '1';
		if (fd >= 0)
			close(fd);
	}
	fflush(stdout);

	for (i = 0; i < NR_OPS; i++) {
		op_total += op_weight[i];
		cheap_total += cheap_weight[i];
	}
	st = mmap(NULL, sizeof(*st), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (st == MAP_FAILED)
		return 1;
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	t0 = tainted();

	start = now_ms();
	for (i = 0; i < nchildren; i++) {
		kids[i] = fork();
		if (kids[i] == 0)
			_exit(run_process(i + 1, min_s * 1000, max_s * 1000, min_calls,
					  start) ? 1 : 0);
	}
	if (run_process(0, min_s * 1000, max_s * 1000, min_calls, start))
		bad_children++;
	for (i = 0; i < nchildren; i++) {
		int status;

		if (kids[i] < 0 || waitpid(kids[i], &status, 0) != kids[i] ||
		    !WIFEXITED(status) || WEXITSTATUS(status)) {
			ksft_print_msg("child %d ended with status %#x (seed %" PRIu64 ")\n",
			       i + 1, status, seed);
			bad_children++;
		}
	}
	for (i = 0; i < NR_OPS; i++)
		ksft_print_msg("%-24s %8" PRIu64 " succeeded %8" PRIu64 " failed %8" PRIu64 " ms\n",
		       op_names[i], st->ok[i], st->err[i], st->ns[i] / 1000000);

	tap(st->calls >= min_calls, "fuzz: %" PRIu64 " calls in %.1f s (at least %" PRIu64 "; seed %" PRIu64 ")",
	    st->calls, (now_ms() - start) / 1000.0, min_calls, seed);
	tap(!st->violations, "fuzz: no ABI invariant violated (%" PRIu64 "%s%s; seed %" PRIu64 ")",
	    st->violations, st->violations ? ", first: " : "", st->first_violation, seed);
	tap(!bad_children && !st->crashes, "fuzz: every process and thread ended cleanly (seed %" PRIu64 ")",
	    seed);
	tap(tainted() == t0, "fuzz: kernel taint unchanged (%d, was %d; seed %" PRIu64 ")",
	    tainted(), t0, seed);
	why[0] = 0;
	tap(still_works(why, sizeof(why)), "fuzz: the device works for a fresh open afterwards%s%s",
	    why[0] ? ": " : "", why);
	ksft_finished();
	return 0;
}
