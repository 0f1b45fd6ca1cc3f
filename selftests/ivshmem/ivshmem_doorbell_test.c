// SPDX-License-Identifier: GPL-2.0-only
/*
 * ivshmem selftests: doorbells on one ivshmem-doorbell device, rung by the
 * guest itself (its own peer id), so one guest and a server are enough to
 * go through doorbell register -> server -> MSI-X -> eventfd.
 *
 * One fixture variant per doorbell device (devices.h); without one, the
 * tests SKIP. The vectors QEMU was given come from the description.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/ivshmem.h>

#include "kselftest_harness.h"
#include "devices.h"
#include "util.h"

/* How long a ring may take to arrive under TCG, and how long to wait for
 * one that must not arrive. */
#define ARRIVE_MS	5000
#define QUIET_MS	300

#define MAX_VEC		64

FIXTURE(db) {
	const char *path;
	int fd;
	struct ivshmem_info info;
	unsigned int nvec;
	int efd[MAX_VEC];
	char name[64];
};

FIXTURE_VARIANT(db) {
	const struct ivs_dev *dev;
};

FIXTURE_SETUP(db)
{
	const struct ivs_dev *d;
	unsigned int i;

	self->fd = -1;
	for (i = 0; i < MAX_VEC; i++)
		self->efd[i] = -1;
	d = IVS_SETUP_DEV(variant, "ivshmem-doorbell");
	self->path = d->node;
	self->fd = open(self->path, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd) TH_LOG("%s: %s", self->path, strerror(errno));
	ASSERT_EQ(0, ioctl(self->fd, IVSHMEM_IOCTL_INFO, &self->info));
	if (!self->info.nr_vectors)
		IVS_SETUP_SKIP("%s has no doorbell vectors", self->path);
	if (d->has & IVS_HAS_VECTORS)
		ASSERT_EQ(d->vectors, self->info.nr_vectors);
	ASSERT_TRUE(self->info.flags & IVSHMEM_INFO_DOORBELL);
	self->nvec = self->info.nr_vectors < MAX_VEC ? self->info.nr_vectors : MAX_VEC;
	for (i = 0; i < self->nvec; i++) {
		self->efd[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		ASSERT_LE(0, self->efd[i]);
	}
	ASSERT_EQ(0, class_name_of(self->fd, self->name, sizeof(self->name)));
}

FIXTURE_TEARDOWN(db)
{
	unsigned int i;

	for (i = 0; i < MAX_VEC; i++)
		if (self->efd[i] >= 0)
			close(self->efd[i]);
	if (self->fd >= 0)
		close(self->fd);
}

static int bind_range(int fd, uint32_t first, uint32_t count, const int32_t *fds)
{
	struct ivshmem_bind b = {
		.first_vector = first,
		.count = count,
		.fds = (uintptr_t)fds,
	};

	return ioctl(fd, IVSHMEM_IOCTL_BIND, &b) ? -errno : 0;
}

static int bind_one(int fd, uint32_t vector, int32_t efd)
{
	return bind_range(fd, vector, 1, &efd);
}

static int ring(int fd, uint32_t peer, uint32_t vector)
{
	struct ivshmem_ring r = { .peer_id = peer, .vector = vector };

	return ioctl(fd, IVSHMEM_IOCTL_RING, &r) ? -errno : 0;
}

/* Waits up to @ms for @efd; returns its counter (0 if nothing came). */
static uint64_t wait_efd(int efd, int ms)
{
	struct pollfd p = { .fd = efd, .events = POLLIN };
	uint64_t n = 0;

	if (poll(&p, 1, ms) == 1 && read(efd, &n, sizeof(n)) != sizeof(n))
		n = 0;
	return n;
}

/* Drops whatever an eventfd holds. */
static void drain(int efd)
{
	uint64_t n;

	while (read(efd, &n, sizeof(n)) == sizeof(n))
		;
}

static uint64_t irq_count(const char *name, unsigned int vector)
{
	char path[128], buf[4096], *line;
	unsigned int i;

	snprintf(path, sizeof(path), "/sys/class/ivshmem/%s/interrupt_counts",
		 name);
	if (read_file(path, buf, sizeof(buf)))
		return ~0ULL;
	line = buf;
	for (i = 0; i < vector && line; i++) {
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	return line ? strtoull(line, NULL, 10) : ~0ULL;
}

TEST_F(db, ring_self_fires_exactly_that_vector)
{
	unsigned int k, j;

	for (k = 0; k < self->nvec; k++)
		ASSERT_EQ(0, bind_one(self->fd, k, self->efd[k]));

	for (k = 0; k < self->nvec; k++) {
		uint64_t before = irq_count(self->name, k);

		ASSERT_EQ(0, ring(self->fd, self->info.peer_id, k));
		EXPECT_LE(1, wait_efd(self->efd[k], ARRIVE_MS))
			TH_LOG("vector %u did not fire", k);
		usleep(QUIET_MS * 1000);
		for (j = 0; j < self->nvec; j++) {
			if (j == k)
				continue;
			EXPECT_EQ(0, wait_efd(self->efd[j], 0))
				TH_LOG("ring on %u fired %u", k, j);
		}
		EXPECT_LT(before, irq_count(self->name, k));
		drain(self->efd[k]);
	}
}

TEST_F(db, two_files_on_one_vector_both_fire)
{
	int fd2, e2;

	fd2 = open(self->path, O_RDWR);
	ASSERT_LE(0, fd2);
	e2 = eventfd(0, EFD_NONBLOCK);
	ASSERT_LE(0, e2);
	ASSERT_EQ(0, bind_one(self->fd, 0, self->efd[0]));
	ASSERT_EQ(0, bind_one(fd2, 0, e2));
	ASSERT_EQ(0, ring(self->fd, self->info.peer_id, 0));
	EXPECT_LE(1, wait_efd(self->efd[0], ARRIVE_MS));
	EXPECT_LE(1, wait_efd(e2, ARRIVE_MS));
	close(e2);
	close(fd2);
}

TEST_F(db, closed_file_no_longer_fires)
{
	int fd2, e2;

	fd2 = open(self->path, O_RDWR);
	ASSERT_LE(0, fd2);
	e2 = eventfd(0, EFD_NONBLOCK);
	ASSERT_LE(0, e2);
	ASSERT_EQ(0, bind_one(fd2, 0, e2));
	ASSERT_EQ(0, bind_one(self->fd, 0, self->efd[0]));
	/* The eventfd outlives the file that bound it. */
	close(fd2);
	ASSERT_EQ(0, ring(self->fd, self->info.peer_id, 0));
	/* The ring did arrive... */
	EXPECT_LE(1, wait_efd(self->efd[0], ARRIVE_MS));
	usleep(QUIET_MS * 1000);
	/* ...but not at the closed file's eventfd. */
	EXPECT_EQ(0, wait_efd(e2, 0));
	close(e2);
}

TEST_F(db, rebind_replaces_and_minus_one_unbinds)
{
	int e2 = eventfd(0, EFD_NONBLOCK);

	ASSERT_LE(0, e2);
	ASSERT_EQ(0, bind_one(self->fd, 0, self->efd[0]));
	ASSERT_EQ(0, bind_one(self->fd, 0, e2));
	ASSERT_EQ(0, ring(self->fd, self->info.peer_id, 0));
	EXPECT_LE(1, wait_efd(e2, ARRIVE_MS));
	usleep(QUIET_MS * 1000);
	EXPECT_EQ(0, wait_efd(self->efd[0], 0));

	/* Unbind: the vector still interrupts, nothing is signalled. */
	ASSERT_EQ(0, bind_one(self->fd, 0, -1));
	ASSERT_EQ(0, ring(self->fd, self->info.peer_id, 0));
	usleep(QUIET_MS * 1000);
	EXPECT_EQ(0, wait_efd(e2, 0));
	/* Unbinding what is not bound is fine. */
	EXPECT_EQ(0, bind_one(self->fd, 0, -1));
	close(e2);
}

TEST_F(db, batch_bind)
{
	int32_t fds[MAX_VEC];
	unsigned int k;

	for (k = 0; k < self->nvec; k++)
		fds[k] = self->efd[k];
	ASSERT_EQ(0, bind_range(self->fd, 0, self->nvec, fds));
	for (k = 0; k < self->nvec; k++) {
		ASSERT_EQ(0, ring(self->fd, self->info.peer_id, k));
		EXPECT_LE(1, wait_efd(self->efd[k], ARRIVE_MS));
	}
}

/* A batch with one bad entry changes nothing, earlier entries included. */
TEST_F(db, batch_bind_failure_changes_nothing)
{
	int32_t fds[MAX_VEC];
	int e2, nul;
	unsigned int k;

	if (self->nvec < 2)
		SKIP(return, "needs two vectors");
	ASSERT_EQ(0, bind_one(self->fd, 0, self->efd[0]));
	e2 = eventfd(0, EFD_NONBLOCK);
	nul = open("/dev/null", O_RDONLY);
	ASSERT_LE(0, e2);
	ASSERT_LE(0, nul);

	for (k = 0; k < self->nvec; k++)
		fds[k] = e2;
	fds[self->nvec - 1] = nul;
	EXPECT_EQ(-EINVAL, bind_range(self->fd, 0, self->nvec, fds));
	fds[self->nvec - 1] = 1000000;
	EXPECT_EQ(-EBADF, bind_range(self->fd, 0, self->nvec, fds));

	/* Vector 0 still goes to the old eventfd, vector 1 nowhere. */
	ASSERT_EQ(0, ring(self->fd, self->info.peer_id, 0));
	ASSERT_EQ(0, ring(self->fd, self->info.peer_id, 1));
	EXPECT_LE(1, wait_efd(self->efd[0], ARRIVE_MS));
	usleep(QUIET_MS * 1000);
	EXPECT_EQ(0, wait_efd(e2, 0));
	close(nul);
	close(e2);
}

TEST_F(db, bind_rejects_bad_arguments)
{
	struct ivshmem_bind b;
	int32_t fd = self->efd[0];
	int nul = open("/dev/null", O_RDONLY);
	int32_t bad;

	ASSERT_LE(0, nul);
#define EXPECT_BIND(err, ...) do {					\
		b = (struct ivshmem_bind){ .count = 1,			\
					   .fds = (uintptr_t)&fd,	\
					   __VA_ARGS__ };		\
		EXPECT_EQ(-1, ioctl(self->fd, IVSHMEM_IOCTL_BIND, &b));	\
		EXPECT_EQ(err, errno);					\
	} while (0)
	EXPECT_BIND(EINVAL, .flags = 1);
	EXPECT_BIND(EINVAL, .flags = 0x80000000);
	EXPECT_BIND(EINVAL, .reserved = 1);
	EXPECT_BIND(EINVAL, .count = 0);
	EXPECT_BIND(EINVAL, .first_vector = self->info.nr_vectors);
	EXPECT_BIND(EINVAL, .first_vector = 0xffffffff);
	EXPECT_BIND(EINVAL, .count = self->info.nr_vectors + 1);
	EXPECT_BIND(EINVAL, .first_vector = 1, .count = 0xffffffff);
	EXPECT_BIND(EFAULT, .fds = 0);
	EXPECT_BIND(EFAULT, .fds = 0xffffffff81000000ULL);
	bad = nul;
	EXPECT_BIND(EINVAL, .fds = (uintptr_t)&bad);
	bad = -2;
	EXPECT_BIND(EBADF, .fds = (uintptr_t)&bad);
	bad = 999999;
	EXPECT_BIND(EBADF, .fds = (uintptr_t)&bad);
	bad = self->fd;		/* the device itself is no eventfd */
	EXPECT_BIND(EINVAL, .fds = (uintptr_t)&bad);
#undef EXPECT_BIND
	EXPECT_EQ(-1, ioctl(self->fd, IVSHMEM_IOCTL_BIND, NULL));
	EXPECT_EQ(EFAULT, errno);

	/* None of that bound anything. */
	ASSERT_EQ(0, ring(self->fd, self->info.peer_id, 0));
	usleep(QUIET_MS * 1000);
	EXPECT_EQ(0, wait_efd(self->efd[0], 0));
	close(nul);
}

TEST_F(db, ring_rejects_bad_arguments)
{
	struct ivshmem_ring r;
	uint64_t before;

	ASSERT_EQ(0, bind_one(self->fd, 0, self->efd[0]));
	before = irq_count(self->name, 0);
#define EXPECT_RING(err, ...) do {					\
		r = (struct ivshmem_ring){ .peer_id = self->info.peer_id, \
					   __VA_ARGS__ };		\
		EXPECT_EQ(-1, ioctl(self->fd, IVSHMEM_IOCTL_RING, &r));	\
		EXPECT_EQ(err, errno);					\
	} while (0)
	EXPECT_RING(EINVAL, .peer_id = 0x10000);
	EXPECT_RING(EINVAL, .peer_id = 0xffffffff);
	EXPECT_RING(EINVAL, .vector = 0x100);
	EXPECT_RING(EINVAL, .vector = 0x10000);
	EXPECT_RING(EINVAL, .flags = 1);
	EXPECT_RING(EINVAL, .reserved = 1);
#undef EXPECT_RING
	EXPECT_EQ(-1, ioctl(self->fd, IVSHMEM_IOCTL_RING, NULL));
	EXPECT_EQ(EFAULT, errno);

	/* No rejected ring reached the device. */
	usleep(QUIET_MS * 1000);
	EXPECT_EQ(0, wait_efd(self->efd[0], 0));
	EXPECT_EQ(before, irq_count(self->name, 0));
}

TEST_F(db, ring_needs_a_file_open_for_writing)
{
	struct ivshmem_ring r = { .peer_id = self->info.peer_id };
	int ro = open(self->path, O_RDONLY);

	ASSERT_LE(0, ro);
	ASSERT_EQ(0, bind_one(ro, 0, self->efd[0]));	/* listening is fine */
	EXPECT_EQ(-1, ioctl(ro, IVSHMEM_IOCTL_RING, &r));
	EXPECT_EQ(EBADF, errno);
	usleep(QUIET_MS * 1000);
	EXPECT_EQ(0, wait_efd(self->efd[0], 0));
	/* The same ring from a writable file arrives at the reader's eventfd. */
	ASSERT_EQ(0, ring(self->fd, self->info.peer_id, 0));
	EXPECT_LE(1, wait_efd(self->efd[0], ARRIVE_MS));
	close(ro);
}

TEST_F(db, ring_through_mapped_register)
{
	volatile uint32_t *regs;

	if (!(self->info.flags & IVSHMEM_INFO_REGS_MMAP))
		SKIP(return, "no register page");
	regs = mmap(NULL, getpagesize(), PROT_READ | PROT_WRITE, MAP_SHARED,
		    self->fd, IVSHMEM_MMAP_REGS_OFFSET);
	ASSERT_NE(MAP_FAILED, regs);
	ASSERT_EQ(0, bind_one(self->fd, self->nvec - 1,
			      self->efd[self->nvec - 1]));
	regs[IVSHMEM_REG_DOORBELL / 4] = self->info.peer_id << 16 |
					 (self->nvec - 1);
	EXPECT_LE(1, wait_efd(self->efd[self->nvec - 1], ARRIVE_MS));
	munmap((void *)regs, getpagesize());
}

TEST_F(db, interrupts_are_named_per_vector)
{
	char buf[16384], want[96];
	unsigned int k;

	ASSERT_EQ(0, read_file("/proc/interrupts", buf, sizeof(buf)));
	for (k = 0; k < self->nvec; k++) {
		snprintf(want, sizeof(want), " %s-vec%u\n", self->name, k);
		EXPECT_TRUE(strstr(buf, want) != NULL) TH_LOG("no %s", want);
	}
}

TEST_F(db, ring_absent_peer_is_harmless)
{
	/* Nobody has this id: the host drops the ring. */
	EXPECT_EQ(0, ring(self->fd, IVSHMEM_MAX_PEER_ID, 0));
	EXPECT_EQ(0, ring(self->fd, self->info.peer_id, IVSHMEM_MAX_RING_VECTOR));
}

IVS_HARNESS_MAIN(db, IVS_KIND_DOORBELL)
