// SPDX-License-Identifier: GPL-2.0-only
/*
 * ivshmem selftests: the character device, its ioctls and its mappings,
 * run against every ivshmem device (plain or doorbell) of a QEMU guest,
 * one fixture variant per device (devices.h). What QEMU was given (size,
 * vectors, peer id, BAR2 above 4 GiB) and the host's and guest's patterns
 * come from the description file when there is one; else those checks
 * SKIP.
 *
 * Tests that scribble use the last quarter of the memory only, so that the
 * host's and the guest's patterns survive the whole run.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <inttypes.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/ivshmem.h>

#include "kselftest_harness.h"
#include "devices.h"
#include "pattern.h"
#include "util.h"

#define PATTERN_LEN	(64 * 1024)

FIXTURE(dev) {
	const struct ivs_dev *d;
	const char *path;
	int fd;
	struct ivshmem_info info;
	size_t size;
	long page;
};

FIXTURE_VARIANT(dev) {
	const struct ivs_dev *dev;
};

FIXTURE_SETUP(dev)
{
	self->fd = -1;
	self->d = IVS_SETUP_DEV(variant, "ivshmem");
	self->path = self->d->node;
	self->page = sysconf(_SC_PAGESIZE);
	self->fd = open(self->path, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s", self->path, strerror(errno));
	ASSERT_EQ(0, ioctl(self->fd, IVSHMEM_IOCTL_INFO, &self->info));
	self->size = self->info.size;
}

FIXTURE_TEARDOWN(dev)
{
	if (self->fd >= 0)
		close(self->fd);
}

/* Offset of the scratch area: the last quarter. */
static size_t scratch_off(size_t size)
{
	return size - size / 4;
}

TEST_F(dev, info_matches_qemu)
{
	const struct ivs_dev *d = self->d;

	if (d->has & IVS_HAS_KIND)
		EXPECT_EQ(d->want_kind, d->kind);
	if (d->has & IVS_HAS_SIZE)
		EXPECT_EQ(d->size, self->info.size);
	if (d->has & IVS_HAS_VECTORS)
		EXPECT_EQ(d->vectors, self->info.nr_vectors);
	if (d->has & IVS_HAS_PEER)
		EXPECT_EQ(d->peer, self->info.peer_id);
	EXPECT_EQ(self->info.nr_vectors ? IVSHMEM_INFO_DOORBELL : 0,
		  self->info.flags & IVSHMEM_INFO_DOORBELL);
	EXPECT_EQ(0, self->info.flags & ~(IVSHMEM_INFO_DOORBELL |
					  IVSHMEM_INFO_REGS_MMAP));
	EXPECT_EQ(IVSHMEM_MMAP_REGS_OFFSET, self->info.regs_offset);
	EXPECT_EQ(1, self->info.revision);
	EXPECT_EQ(0, self->size % self->page);
	TH_LOG("%s at %s: %zu bytes, peer %u, %u vectors, flags %#x", self->path,
	       d->pci, self->size, self->info.peer_id, self->info.nr_vectors,
	       self->info.flags);
}

TEST_F(dev, info_writes_every_byte)
{
	struct ivshmem_info info;
	size_t i;

	/* Two fills: a byte the kernel left alone would keep its fill. */
	memset(&info, 0xa5, sizeof(info));
	ASSERT_EQ(0, ioctl(self->fd, IVSHMEM_IOCTL_INFO, &info));
	for (i = 0; i < ARRAY_SIZE(info.reserved); i++)
		EXPECT_EQ(0, info.reserved[i]);
	EXPECT_EQ(0, memcmp(&info, &self->info, sizeof(info)));
	memset(&info, 0x5a, sizeof(info));
	ASSERT_EQ(0, ioctl(self->fd, IVSHMEM_IOCTL_INFO, &info));
	EXPECT_EQ(0, memcmp(&info, &self->info, sizeof(info)));
}

TEST_F(dev, sysfs_matches_info)
{
	char name[64];
	uint64_t v;

	ASSERT_EQ(0, class_name_of(self->fd, name, sizeof(name)));
	ASSERT_EQ(0, sysfs_u64(name, "size", &v));
	EXPECT_EQ(self->info.size, v);
	ASSERT_EQ(0, sysfs_u64(name, "peer_id", &v));
	EXPECT_EQ(self->info.peer_id, v);
	ASSERT_EQ(0, sysfs_u64(name, "vectors", &v));
	EXPECT_EQ(self->info.nr_vectors, v);
	ASSERT_EQ(0, sysfs_u64(name, "revision", &v));
	EXPECT_EQ(self->info.revision, v);
}

/* Touches every page: 1 GiB takes long under TCG on a loaded machine. */
TEST_F_TIMEOUT(dev, mmap_whole_bar, 300)
{
	size_t off = scratch_off(self->size), len = self->size - off, i;
	volatile uint8_t *p;
	unsigned int sum = 0;

	p = mmap(NULL, self->size, PROT_READ | PROT_WRITE, MAP_SHARED,
		 self->fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	/* Every page is reachable... */
	for (i = 0; i < self->size; i += self->page)
		sum += p[i];
	(void)sum;
	/* ...and what is written reads back. */
	ivs_pattern_fill(p + off, len, 0x1234, 0);
	EXPECT_EQ(len, ivs_pattern_check(p + off, len, 0x1234, 0));
	EXPECT_EQ(0, munmap((void *)p, self->size));
}

TEST_F(dev, mmap_subranges_alias)
{
	size_t off = scratch_off(self->size), pg = self->page;
	volatile uint8_t *whole, *one, *last, *mid;
	size_t mid_off = off + 3 * pg;

	whole = mmap(NULL, self->size, PROT_READ | PROT_WRITE, MAP_SHARED,
		     self->fd, 0);
	ASSERT_NE(MAP_FAILED, whole);
	one = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd, off);
	ASSERT_NE(MAP_FAILED, one);
	last = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd,
		    self->size - pg);
	ASSERT_NE(MAP_FAILED, last);
	mid = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd,
		   mid_off);
	ASSERT_NE(MAP_FAILED, mid);

	ivs_pattern_fill(one, pg, 1, 0);
	ivs_pattern_fill(last, pg, 2, 0);
	ivs_pattern_fill(mid, 2 * pg, 3, 0);
	EXPECT_EQ(pg, ivs_pattern_check(whole + off, pg, 1, 0));
	EXPECT_EQ(pg, ivs_pattern_check(whole + self->size - pg, pg, 2, 0));
	EXPECT_EQ(2 * pg, ivs_pattern_check(whole + mid_off, 2 * pg, 3, 0));

	/* And the other way round. */
	ivs_pattern_fill(whole + mid_off, 2 * pg, 4, 0);
	EXPECT_EQ(2 * pg, ivs_pattern_check(mid, 2 * pg, 4, 0));

	munmap((void *)mid, 2 * pg);
	munmap((void *)last, pg);
	munmap((void *)one, pg);
	munmap((void *)whole, self->size);
}

static int try_mmap(int fd, size_t len, int prot, int flags, off_t off)
{
	void *p = mmap(NULL, len, prot, flags, fd, off);

	if (p == MAP_FAILED)
		return -errno;
	munmap(p, len);
	return 0;
}

TEST_F(dev, mmap_rejects_private)
{
	EXPECT_EQ(-EINVAL, try_mmap(self->fd, self->page, PROT_READ,
				    MAP_PRIVATE, 0));
	EXPECT_EQ(-EINVAL, try_mmap(self->fd, self->page,
				    PROT_READ | PROT_WRITE, MAP_PRIVATE, 0));
}

TEST_F(dev, mmap_rejects_past_end)
{
	int rw = PROT_READ | PROT_WRITE;
	size_t pg = self->page;

	/* Starts at the end. */
	EXPECT_EQ(-EINVAL, try_mmap(self->fd, pg, rw, MAP_SHARED, self->size));
	/* Starts inside, ends past the end. */
	EXPECT_EQ(-EINVAL, try_mmap(self->fd, 2 * pg, rw, MAP_SHARED,
				    self->size - pg));
	EXPECT_EQ(-EINVAL, try_mmap(self->fd, self->size + pg, rw, MAP_SHARED,
				    0));
	/* Between the memory and the register page, and past the latter. */
	EXPECT_EQ(-EINVAL, try_mmap(self->fd, pg, rw, MAP_SHARED,
				    IVSHMEM_MMAP_REGS_OFFSET - pg));
	EXPECT_EQ(-EINVAL, try_mmap(self->fd, pg, rw, MAP_SHARED,
				    IVSHMEM_MMAP_REGS_OFFSET + pg));
	/* The largest offset mmap accepts at all. */
	EXPECT_EQ(-EINVAL, try_mmap(self->fd, pg, rw, MAP_SHARED,
				    (off_t)(~0ULL >> 1) & ~(off_t)(pg - 1)));
	/* The valid edge still works. */
	EXPECT_EQ(0, try_mmap(self->fd, pg, rw, MAP_SHARED, self->size - pg));
}

TEST_F(dev, mmap_rejects_exec)
{
	void *p;

	EXPECT_EQ(-EPERM, try_mmap(self->fd, self->page, PROT_READ | PROT_EXEC,
				   MAP_SHARED, 0));
	p = mmap(NULL, self->page, PROT_READ, MAP_SHARED, self->fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(-1, mprotect(p, self->page, PROT_READ | PROT_EXEC));
	EXPECT_EQ(EACCES, errno);
	munmap(p, self->page);
}

TEST_F(dev, mremap_cannot_grow)
{
	void *p, *q;

	p = mmap(NULL, self->page, PROT_READ, MAP_SHARED, self->fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	q = mremap(p, self->page, 2 * self->page, MREMAP_MAYMOVE);
	EXPECT_EQ(MAP_FAILED, q);
	if (q != MAP_FAILED)
		p = q;
	munmap(p, self->page);
}

TEST_F(dev, regs_page)
{
	int rw = PROT_READ | PROT_WRITE;
	volatile uint32_t *regs;
	size_t pg = self->page;

	if (!(self->info.flags & IVSHMEM_INFO_REGS_MMAP)) {
		EXPECT_EQ(-EINVAL, try_mmap(self->fd, pg, rw, MAP_SHARED,
					    IVSHMEM_MMAP_REGS_OFFSET));
		SKIP(return, "BAR0 shares its page: no register mapping");
	}
	EXPECT_EQ(-EINVAL, try_mmap(self->fd, 2 * pg, rw, MAP_SHARED,
				    IVSHMEM_MMAP_REGS_OFFSET));
	EXPECT_EQ(-EINVAL, try_mmap(self->fd, pg, rw, MAP_PRIVATE,
				    IVSHMEM_MMAP_REGS_OFFSET));
	EXPECT_EQ(-EPERM, try_mmap(self->fd, pg, PROT_READ | PROT_EXEC,
				   MAP_SHARED, IVSHMEM_MMAP_REGS_OFFSET));

	regs = mmap(NULL, pg, rw, MAP_SHARED, self->fd, IVSHMEM_MMAP_REGS_OFFSET);
	ASSERT_NE(MAP_FAILED, regs);
	EXPECT_EQ(self->info.peer_id, regs[IVSHMEM_REG_IVPOSITION / 4]);
	munmap((void *)regs, pg);
}

TEST_F(dev, ioctl_unknown_is_enotty)
{
	char buf[64] = { 0 };

	EXPECT_EQ(-1, ioctl(self->fd, _IO(IVSHMEM_IOCTL_MAGIC, 0x1f)));
	EXPECT_EQ(ENOTTY, errno);
	/* A known number with the wrong size is another command. */
	EXPECT_EQ(-1, ioctl(self->fd, _IOR(IVSHMEM_IOCTL_MAGIC, 0x00, char[8]), buf));
	EXPECT_EQ(ENOTTY, errno);
	EXPECT_EQ(-1, ioctl(self->fd, _IOWR(IVSHMEM_IOCTL_MAGIC, 0x00,
					    struct ivshmem_info), buf));
	EXPECT_EQ(ENOTTY, errno);
	EXPECT_EQ(-1, ioctl(self->fd, _IOW(IVSHMEM_IOCTL_MAGIC, 0x02, __u64), buf));
	EXPECT_EQ(ENOTTY, errno);
	/* Another driver's magic. */
	EXPECT_EQ(-1, ioctl(self->fd, _IOR('T', 0x00, struct ivshmem_info), buf));
	EXPECT_EQ(ENOTTY, errno);
}

TEST_F(dev, ioctl_info_bad_pointer_is_efault)
{
	EXPECT_EQ(-1, ioctl(self->fd, IVSHMEM_IOCTL_INFO, NULL));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(-1, ioctl(self->fd, IVSHMEM_IOCTL_INFO, (void *)8));
	EXPECT_EQ(EFAULT, errno);
	/* A kernel address. */
	EXPECT_EQ(-1, ioctl(self->fd, IVSHMEM_IOCTL_INFO,
			    (void *)0xffffffff81000000UL));
	EXPECT_EQ(EFAULT, errno);
}

TEST_F(dev, plain_rejects_doorbell_ioctls)
{
	struct ivshmem_ring ring = { 0 };
	struct ivshmem_bind bind = { 0 };
	int32_t fd = -1;

	if (self->info.nr_vectors)
		SKIP(return, "a doorbell device");
	EXPECT_EQ(-1, ioctl(self->fd, IVSHMEM_IOCTL_RING, &ring));
	EXPECT_EQ(EOPNOTSUPP, errno);
	bind.count = 1;
	bind.fds = (uintptr_t)&fd;
	EXPECT_EQ(-1, ioctl(self->fd, IVSHMEM_IOCTL_BIND, &bind));
	EXPECT_EQ(EOPNOTSUPP, errno);
}

TEST_F(dev, poll_quiet_while_present)
{
	struct pollfd pfd = { .fd = self->fd, .events = POLLIN };

	EXPECT_EQ(0, poll(&pfd, 1, 0));
}

TEST_F(dev, read_and_write_are_not_supported)
{
	char c = 0;

	EXPECT_EQ(-1, read(self->fd, &c, 1));
	EXPECT_EQ(-1, write(self->fd, &c, 1));
}

TEST_F(dev, two_processes_share)
{
	size_t off = scratch_off(self->size), pg = self->page;
	volatile uint8_t *p;
	pid_t pid;
	int status;

	p = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd, off);
	ASSERT_NE(MAP_FAILED, p);
	memset((void *)p, 0, pg);

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		/* A process of its own: its own open, its own mapping. */
		int fd = open(self->path, O_RDWR);
		volatile uint8_t *q;

		if (fd < 0)
			_exit(2);
		q = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_SHARED, fd, off);
		if (q == MAP_FAILED)
			_exit(3);
		close(fd);
		ivs_pattern_fill(q, pg, 77, 0);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status));
	EXPECT_EQ(pg, ivs_pattern_check(p, pg, 77, 0));
	munmap((void *)p, pg);
}

TEST_F(dev, fork_inherits_mapping)
{
	size_t off = scratch_off(self->size), pg = self->page;
	volatile uint8_t *p;
	pid_t pid;
	int status;

	p = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd,
		 off);
	ASSERT_NE(MAP_FAILED, p);
	ivs_pattern_fill(p, pg, 5, 0);

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		/* The inherited mapping shows the parent's data... */
		if (ivs_pattern_check(p, pg, 5, 0) != pg)
			_exit(2);
		/* ...and the parent sees the child's. */
		ivs_pattern_fill(p + pg, pg, 6, 0);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	EXPECT_EQ(pg, ivs_pattern_check(p + pg, pg, 6, 0));
	munmap((void *)p, 2 * pg);
}

TEST_F(dev, mapping_is_write_back)
{
	volatile uint8_t *p;
	char mode[64];

	if (access(PTECHECK, F_OK))
		SKIP(return, "%s absent: load ivshmem_ptecheck.ko", PTECHECK);
	p = mmap(NULL, self->size, PROT_READ | PROT_WRITE, MAP_SHARED,
		 self->fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	(void)p[0];
	(void)p[self->size - 1];
	ASSERT_EQ(0, pte_mode((void *)p, mode, sizeof(mode)));
	EXPECT_STREQ("write-back", mode);
	ASSERT_EQ(0, pte_mode((void *)(p + self->size - 1), mode, sizeof(mode)));
	EXPECT_STREQ("write-back", mode);
	munmap((void *)p, self->size);

	if (self->info.flags & IVSHMEM_INFO_REGS_MMAP) {
		volatile uint32_t *regs;

		regs = mmap(NULL, self->page, PROT_READ, MAP_SHARED, self->fd,
			    IVSHMEM_MMAP_REGS_OFFSET);
		ASSERT_NE(MAP_FAILED, regs);
		(void)regs[0];
		ASSERT_EQ(0, pte_mode((void *)regs, mode, sizeof(mode)));
		EXPECT_EQ(0, strncmp(mode, "uncached", 8)) TH_LOG("regs: %s", mode);
		munmap((void *)regs, self->page);
	}
}

TEST_F(dev, bar2_placement)
{
	uint64_t start;
	char name[64];

	ASSERT_EQ(0, class_name_of(self->fd, name, sizeof(name)));
	ASSERT_EQ(0, bar_start(name, 2, &start));
	TH_LOG("%s: BAR2 at %#" PRIx64 " (%s 4 GiB)", name, start,
	       start >= (1ULL << 32) ? "above" : "below");
	if (!(self->d->has & IVS_HAS_HIGH))
		SKIP(return, "%s: no high= in the description", self->d->pci);
	EXPECT_EQ(self->d->want_high, start >= (1ULL << 32));
}

TEST_F(dev, host_pattern_visible)
{
	uint64_t seed = self->d->host_seed;
	volatile uint8_t *p;

	if (!(self->d->has & IVS_HAS_HOST_SEED))
		SKIP(return, "%s: no host_seed= in the description", self->d->pci);
	p = mmap(NULL, PATTERN_LEN, PROT_READ, MAP_SHARED, self->fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(PATTERN_LEN, ivs_pattern_check(p, PATTERN_LEN, seed, 0));
	munmap((void *)p, PATTERN_LEN);
}

TEST_F(dev, guest_pattern_for_host)
{
	uint64_t seed = self->d->guest_seed;
	volatile uint8_t *p;

	if (!(self->d->has & IVS_HAS_GUEST_SEED))
		SKIP(return, "%s: no guest_seed= in the description", self->d->pci);
	p = mmap(NULL, PATTERN_LEN, PROT_READ | PROT_WRITE, MAP_SHARED,
		 self->fd, self->size / 2);
	ASSERT_NE(MAP_FAILED, p);
	ivs_pattern_fill(p, PATTERN_LEN, seed, 0);
	EXPECT_EQ(PATTERN_LEN, ivs_pattern_check(p, PATTERN_LEN, seed, 0));
	EXPECT_EQ(0, msync((void *)p, PATTERN_LEN, MS_SYNC));
	munmap((void *)p, PATTERN_LEN);
}

/* Every device node, each with its own memory. */
TEST(devices_are_independent)
{
	volatile uint8_t *maps[16];
	size_t sizes[16], i, n;
	glob_t g;
	int fd;

	if (glob("/dev/ivshmem[0-9]*", 0, NULL, &g) || g.gl_pathc < 2)
		SKIP(return, "fewer than two devices");
	n = g.gl_pathc < 16 ? g.gl_pathc : 16;
	for (i = 0; i < n; i++) {
		struct ivshmem_info info;

		fd = open(g.gl_pathv[i], O_RDWR);
		ASSERT_LE(0, fd);
		ASSERT_EQ(0, ioctl(fd, IVSHMEM_IOCTL_INFO, &info));
		sizes[i] = info.size;
		maps[i] = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED,
			       fd, scratch_off(info.size));
		ASSERT_NE(MAP_FAILED, maps[i]);
		close(fd);
		ivs_pattern_fill(maps[i], 4096, 100 + i, 0);
	}
	for (i = 0; i < n; i++) {
		EXPECT_EQ(4096, ivs_pattern_check(maps[i], 4096, 100 + i, 0))
			TH_LOG("%s (%zu bytes)", g.gl_pathv[i], sizes[i]);
		munmap((void *)maps[i], 4096);
	}
	globfree(&g);
}

IVS_HARNESS_MAIN(dev, IVS_KIND_ANY)
