// SPDX-License-Identifier: GPL-2.0-only
/*
 * ivshmem selftests: the protections of Documentation/threat-model.rst
 * that a guest user can probe.
 *
 *  - executable mappings follow the module parameter allow_exec: refused
 *    (EPERM, and mprotect() EACCES) unless it is set, and then working for
 *    real: code written into the shared memory runs;
 *  - the register page is never executable, whatever allow_exec says;
 *  - ioctls that only take an argument (BIND, RING) never write to it, nor
 *    to the fd array, on success or on any error; unknown commands leave
 *    a reply-sized buffer untouched; INFO writes every byte of its reply,
 *    the same bytes whatever the buffer held before;
 *  - the device node is root-only (0600, root:root) as the driver creates
 *    it, and an unprivileged process cannot open it.
 *
 * Run it twice: with the module loaded as is, and with allow_exec=1; what
 * it expects follows the module parameter. One fixture variant per device
 * (devices.h).
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/ivshmem.h>

#include "kselftest_harness.h"
#include "devices.h"
#include "util.h"

static int allow_exec_param(void)
{
	char buf[8];

	if (read_file("/sys/module/ivshmem/parameters/allow_exec", buf, sizeof(buf)))
		return -1;
	return buf[0] == 'Y' || buf[0] == '1';
}

FIXTURE(sec) {
	const char *path;
	int fd;
	struct ivshmem_info info;
	long page;
};

FIXTURE_VARIANT(sec) {
	const struct ivs_dev *dev;
};

FIXTURE_SETUP(sec)
{
	self->fd = -1;
	self->path = IVS_SETUP_DEV(variant, "ivshmem")->node;
	self->page = sysconf(_SC_PAGESIZE);
	self->fd = open(self->path, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd) TH_LOG("%s: %s", self->path, strerror(errno));
	ASSERT_EQ(0, ioctl(self->fd, IVSHMEM_IOCTL_INFO, &self->info));
}

FIXTURE_TEARDOWN(sec)
{
	if (self->fd >= 0)
		close(self->fd);
}

TEST_F(sec, exec_follows_allow_exec)
{
	/* mov eax, 0x2a; ret */
	static const uint8_t code[] = { 0xb8, 0x2a, 0x00, 0x00, 0x00, 0xc3 };
	int allowed = allow_exec_param();
	size_t off = self->info.size - self->page;
	void *x, *rw;

	ASSERT_LE(0, allowed) TH_LOG("no /sys/module/ivshmem/parameters/allow_exec");
	TH_LOG("allow_exec=%d", allowed);

	x = mmap(NULL, self->page, PROT_READ | PROT_EXEC, MAP_SHARED, self->fd, off);
	rw = mmap(NULL, self->page, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd, off);
	ASSERT_NE(MAP_FAILED, rw);
	if (!allowed) {
		EXPECT_EQ(MAP_FAILED, x);
		EXPECT_EQ(EPERM, errno);
		EXPECT_EQ(-1, mprotect(rw, self->page, PROT_READ | PROT_EXEC));
		EXPECT_EQ(EACCES, errno);
		EXPECT_EQ(MAP_FAILED, mmap(NULL, self->page, PROT_READ | PROT_WRITE | PROT_EXEC,
					   MAP_SHARED, self->fd, 0));
		EXPECT_EQ(EPERM, errno);
		if (x != MAP_FAILED)
			munmap(x, self->page);
	} else {
		int (*fn)(void);

		ASSERT_NE(MAP_FAILED, x) TH_LOG("PROT_EXEC refused with allow_exec=1: %s",
						 strerror(errno));
		/* Write through one mapping, run through the other. */
		memcpy(rw, code, sizeof(code));
		__builtin___clear_cache((char *)x, (char *)x + sizeof(code));
		fn = (int (*)(void))x;
		EXPECT_EQ(0x2a, fn());
		/* And a writable mapping may become executable. */
		EXPECT_EQ(0, mprotect(rw, self->page, PROT_READ | PROT_WRITE | PROT_EXEC));
		munmap(x, self->page);
	}
	munmap(rw, self->page);
}

TEST_F(sec, regs_page_never_executable)
{
	void *p;

	if (!(self->info.flags & IVSHMEM_INFO_REGS_MMAP))
		SKIP(return, "no register page");
	EXPECT_EQ(MAP_FAILED, mmap(NULL, self->page, PROT_READ | PROT_EXEC, MAP_SHARED,
				   self->fd, IVSHMEM_MMAP_REGS_OFFSET));
	EXPECT_EQ(EPERM, errno);
	p = mmap(NULL, self->page, PROT_READ, MAP_SHARED, self->fd,
		 IVSHMEM_MMAP_REGS_OFFSET);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(-1, mprotect(p, self->page, PROT_READ | PROT_EXEC));
	EXPECT_EQ(EACCES, errno);
	munmap(p, self->page);
}

#define CANARY 0xc5

/* @len bytes of @arg, framed by canaries, must come back unchanged. */
static int call_keeps_arg(int fd, unsigned long cmd, const void *arg, size_t len,
			  int *err)
{
	uint8_t buf[256 + 32], before[sizeof(buf)];

	memset(buf, CANARY, sizeof(buf));
	memcpy(buf + 16, arg, len);
	memcpy(before, buf, sizeof(buf));
	*err = ioctl(fd, cmd, buf + 16) ? errno : 0;
	return !memcmp(buf, before, sizeof(buf));
}

TEST_F(sec, bind_never_writes_its_argument)
{
	int efd = eventfd(0, EFD_NONBLOCK), nul = open("/dev/null", O_RDONLY);
	int32_t fds[4], fds_before[4];
	struct ivshmem_bind cases[] = {
		{ .count = 1 },					/* valid */
		{ .count = 1, .flags = 1 },			/* EINVAL */
		{ .count = 1, .reserved = 0xffffffff },		/* EINVAL */
		{ .count = 0 },					/* EINVAL */
		{ .first_vector = 0xffffffff, .count = 1 },	/* EINVAL */
		{ .count = 0xffffffff },			/* EINVAL */
		{ .count = 2 },					/* EBADF / EINVAL */
	};
	unsigned int i;
	int err;

	ASSERT_LE(0, efd);
	ASSERT_LE(0, nul);
	fds[0] = efd;
	fds[1] = 1000000;
	fds[2] = nul;
	fds[3] = -1;
	memcpy(fds_before, fds, sizeof(fds));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cases[i].fds = (uintptr_t)fds;
		EXPECT_TRUE(call_keeps_arg(self->fd, IVSHMEM_IOCTL_BIND, &cases[i],
					   sizeof(cases[i]), &err))
			TH_LOG("case %u (errno %d) wrote to its argument", i, err);
		EXPECT_EQ(0, memcmp(fds, fds_before, sizeof(fds)))
			TH_LOG("case %u (errno %d) wrote to the fd array", i, err);
		if (i == 0) {
			EXPECT_EQ(self->info.nr_vectors ? 0 : EOPNOTSUPP, err);
		} else if (self->info.nr_vectors) {
			EXPECT_NE(0, err) TH_LOG("case %u succeeded", i);
		}
	}
	close(nul);
	close(efd);
}

TEST_F(sec, ring_never_writes_its_argument)
{
	struct ivshmem_ring cases[] = {
		{ .peer_id = self->info.peer_id },		/* valid */
		{ .peer_id = 0x10000 },
		{ .vector = 0x100 },
		{ .flags = 1 },
		{ .reserved = 1 },
	};
	unsigned int i;
	int err;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		EXPECT_TRUE(call_keeps_arg(self->fd, IVSHMEM_IOCTL_RING, &cases[i],
					   sizeof(cases[i]), &err))
			TH_LOG("case %u (errno %d) wrote to its argument", i, err);
		if (i == 0) {
			EXPECT_EQ(self->info.nr_vectors ? 0 : EOPNOTSUPP, err);
		} else {
			EXPECT_NE(0, err);
		}
	}
}

TEST_F(sec, unknown_commands_never_write)
{
	static const unsigned long cmds[] = {
		_IOR(IVSHMEM_IOCTL_MAGIC, 0x03, struct ivshmem_info),
		_IOR(IVSHMEM_IOCTL_MAGIC, 0x1f, uint8_t[256]),
		_IOWR(IVSHMEM_IOCTL_MAGIC, 0x00, struct ivshmem_info),
		_IOWR(IVSHMEM_IOCTL_MAGIC, 0x01, struct ivshmem_bind),
		_IOR(IVSHMEM_IOCTL_MAGIC, 0x02, struct ivshmem_ring),
		_IOR(IVSHMEM_IOCTL_MAGIC, 0x00, uint8_t[48]),
		_IOR(IVSHMEM_IOCTL_MAGIC, 0x00, uint8_t[128]),
		_IOR(IVSHMEM_IOCTL_MAGIC, 0xff, uint8_t[200]),
		_IO(IVSHMEM_IOCTL_MAGIC, 0x00),
	};
	uint8_t fill[256];
	unsigned int i;
	int err;

	memset(fill, 0x3c, sizeof(fill));
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		EXPECT_TRUE(call_keeps_arg(self->fd, cmds[i], fill, sizeof(fill), &err))
			TH_LOG("command %#lx wrote to its buffer", cmds[i]);
		EXPECT_EQ(ENOTTY, err) TH_LOG("command %#lx", cmds[i]);
	}
}

TEST_F(sec, info_reply_does_not_depend_on_the_buffer)
{
	static const uint8_t fills[] = { 0x00, 0xff, 0xa5, 0x5a };
	uint8_t buf[sizeof(struct ivshmem_info) + 32], first[sizeof(buf)];
	struct ivshmem_info *info;
	unsigned int i, k;

	for (i = 0; i < sizeof(fills); i++) {
		memset(buf, fills[i], sizeof(buf));
		ASSERT_EQ(0, ioctl(self->fd, IVSHMEM_IOCTL_INFO, buf));
		for (k = sizeof(struct ivshmem_info); k < sizeof(buf); k++)
			ASSERT_EQ(fills[i], buf[k]) TH_LOG("byte %u past the reply", k);
		if (i == 0) {
			memcpy(first, buf, sizeof(struct ivshmem_info));
		} else {
			EXPECT_EQ(0, memcmp(first, buf, sizeof(struct ivshmem_info)))
				TH_LOG("the reply differs with fill %#x", fills[i]);
		}
	}
	info = (struct ivshmem_info *)first;
	for (k = 0; k < 4; k++)
		EXPECT_EQ(0, info->reserved[k]);
	EXPECT_EQ(0, info->flags & ~(IVSHMEM_INFO_DOORBELL | IVSHMEM_INFO_REGS_MMAP));
}

TEST_F(sec, node_is_root_only)
{
	struct stat st;
	int status;
	pid_t pid;

	ASSERT_EQ(0, stat(self->path, &st));
	if (access("/run/udev", F_OK) == 0)
		SKIP(return, "udev runs here: its rules decide the mode");
	EXPECT_EQ(0600, st.st_mode & 07777);
	EXPECT_EQ(0, st.st_uid);
	EXPECT_EQ(0, st.st_gid);
	if (getuid() != 0)
		SKIP(return, "not root: cannot drop privileges");
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int fd;

		if (setgroups(0, NULL) || setgid(65534) || setuid(65534))
			_exit(2);
		fd = open(self->path, O_RDONLY);
		_exit(fd < 0 && errno == EACCES ? 0 : 1);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status)) TH_LOG("nobody could open %s", self->path);
}

IVS_HARNESS_MAIN(sec, IVS_KIND_ANY)
