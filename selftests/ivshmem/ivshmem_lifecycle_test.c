// SPDX-License-Identifier: GPL-2.0-only
/*
 * ivshmem selftests: the device going away under open files and mappings.
 *
 * Needs root. Runs on the first ivshmem device (lowest PCI address, see
 * devices.h), which it unbinds and binds again. The module must be loaded
 * as "ivshmem".
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/ivshmem.h>

#include "kselftest_harness.h"
#include "devices.h"
#include "pattern.h"
#include "util.h"

static const char *dev_path(void)
{
	const struct ivs_dev *d = ivs_first(IVS_KIND_ANY);

	return d ? d->node : "(no ivshmem device)";
}

static int try_rmmod(void)
{
	if (syscall(__NR_delete_module, "ivshmem", O_NONBLOCK) == 0)
		return 0;
	return -errno;
}

TEST(rmmod_refused_while_open)
{
	int fd = open(dev_path(), O_RDWR);

	if (fd < 0)
		SKIP(return, "%s: %s", dev_path(), strerror(errno));
	EXPECT_EQ(-EWOULDBLOCK, try_rmmod());
	close(fd);
}

TEST(rmmod_refused_while_mapped)
{
	int fd = open(dev_path(), O_RDWR);
	void *p;

	if (fd < 0)
		SKIP(return, "%s: %s", dev_path(), strerror(errno));
	p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	close(fd);
	/* The mapping alone keeps the file, and so the module, in use. */
	EXPECT_EQ(-EWOULDBLOCK, try_rmmod());
	munmap(p, 4096);
}

static sigjmp_buf bus_jmp;

static void on_sigbus(int sig)
{
	siglongjmp(bus_jmp, 1);
}

/* Reads one byte; returns 1 if that raised SIGBUS. */
static int read_faults(volatile uint8_t *p)
{
	struct sigaction sa = { .sa_handler = on_sigbus }, old;
	int faulted = 0;

	sigaction(SIGBUS, &sa, &old);
	if (sigsetjmp(bus_jmp, 1))
		faulted = 1;
	else
		(void)*p;
	sigaction(SIGBUS, &old, NULL);
	return faulted;
}

/* Class device name bound to PCI device @pci, waiting for its node. */
static int wait_for_node(const char *pci, char *node, size_t len)
{
	char pattern[256];
	int i;

	snprintf(pattern, sizeof(pattern),
		 "/sys/bus/pci/devices/%s/ivshmem/ivshmem*", pci);
	for (i = 0; i < 200; i++) {
		glob_t g;

		if (!glob(pattern, 0, NULL, &g)) {
			snprintf(node, len, "/dev/%s", basename(g.gl_pathv[0]));
			globfree(&g);
			if (!access(node, F_OK))
				return 0;
		}
		usleep(10000);
	}
	return -1;
}

TEST(unbind_revokes_then_rebind_works)
{
	struct pollfd pfd = { .events = POLLIN };
	struct ivshmem_ring ring = { 0 };
	char name[64], pci[64], node[128];
	struct ivshmem_info info;
	volatile uint8_t *p, *q;
	int fd, fd2, fd3;
	size_t off;

	fd = open(dev_path(), O_RDWR);
	if (fd < 0)
		SKIP(return, "%s: %s", dev_path(), strerror(errno));
	fd2 = open(dev_path(), O_RDWR);
	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, ioctl(fd, IVSHMEM_IOCTL_INFO, &info));
	ASSERT_EQ(0, class_name_of(fd, name, sizeof(name)));
	ASSERT_EQ(0, pci_addr_of(name, pci, sizeof(pci)));
	off = info.size - info.size / 4;

	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, off);
	ASSERT_NE(MAP_FAILED, p);
	ivs_pattern_fill(p, 4096, 42, 0);
	EXPECT_EQ(0, read_faults(p));

	ASSERT_EQ(0, write_file("/sys/bus/pci/drivers/ivshmem/unbind", pci));

	/* The mapping is revoked... */
	EXPECT_EQ(1, read_faults(p));
	EXPECT_EQ(1, read_faults(p + 4095));
	/* ...every call on the file says the device is gone... */
	EXPECT_EQ(-1, ioctl(fd, IVSHMEM_IOCTL_INFO, &info));
	EXPECT_EQ(ENODEV, errno);
	EXPECT_EQ(-1, ioctl(fd, IVSHMEM_IOCTL_RING, &ring));
	EXPECT_EQ(ENODEV, errno);
	EXPECT_EQ(MAP_FAILED, mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0));
	EXPECT_EQ(ENODEV, errno);
	/* ...and poll() reports it. */
	pfd.fd = fd;
	EXPECT_EQ(1, poll(&pfd, 1, 0));
	EXPECT_TRUE(pfd.revents & POLLHUP);
	/* A file closed after the removal is released cleanly. */
	EXPECT_EQ(0, close(fd2));

	ASSERT_EQ(0, write_file("/sys/bus/pci/drivers/ivshmem/bind", pci));
	ASSERT_EQ(0, wait_for_node(pci, node, sizeof(node)));

	/* A new open works at once, and the memory kept its contents. */
	fd3 = open(node, O_RDWR);
	ASSERT_LE(0, fd3) TH_LOG("%s: %s", node, strerror(errno));
	q = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd3, off);
	ASSERT_NE(MAP_FAILED, q);
	EXPECT_EQ(4096, ivs_pattern_check(q, 4096, 42, 0));
	ivs_pattern_fill(q, 4096, 43, 0);
	EXPECT_EQ(4096, ivs_pattern_check(q, 4096, 43, 0));

	/* The old file stays dead. */
	EXPECT_EQ(-1, ioctl(fd, IVSHMEM_IOCTL_INFO, &info));
	EXPECT_EQ(ENODEV, errno);
	EXPECT_EQ(1, read_faults(p));

	munmap((void *)q, 4096);
	munmap((void *)p, 4096);
	close(fd3);
	close(fd);
}

TEST_HARNESS_MAIN
