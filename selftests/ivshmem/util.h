/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Small helpers shared by the ivshmem selftests.
 */
#ifndef IVSHMEM_TEST_UTIL_H
#define IVSHMEM_TEST_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define PTECHECK "/sys/kernel/debug/ivshmem_ptecheck"

/* "ivshmemN" of an open device file, from its device number. */
static inline int class_name_of(int fd, char *name, size_t len)
{
	char link[PATH_MAX], target[PATH_MAX];
	struct stat st;
	ssize_t n;

	if (fstat(fd, &st) || !S_ISCHR(st.st_mode))
		return -1;
	snprintf(link, sizeof(link), "/sys/dev/char/%u:%u",
		 major(st.st_rdev), minor(st.st_rdev));
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return -1;
	target[n] = 0;
	snprintf(name, len, "%s", basename(target));
	return 0;
}

static inline int read_file(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = 0;
	return 0;
}

static inline int write_file(const char *path, const char *s)
{
	ssize_t n;
	int fd;

	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -errno;
	n = write(fd, s, strlen(s));
	if (n < 0)
		n = -errno;
	close(fd);
	return n < 0 ? (int)n : 0;
}

static inline int sysfs_u64(const char *name, const char *attr, uint64_t *v)
{
	char path[PATH_MAX], buf[64];

	snprintf(path, sizeof(path), "/sys/class/ivshmem/%s/%s", name, attr);
	if (read_file(path, buf, sizeof(buf)))
		return -1;
	*v = strtoull(buf, NULL, 0);
	return 0;
}

/* Start address of BAR @bar of the PCI device behind class device @name. */
static inline int bar_start(const char *name, int bar, uint64_t *start)
{
	char path[PATH_MAX], line[128];
	FILE *f;
	int i;

	snprintf(path, sizeof(path), "/sys/class/ivshmem/%s/device/resource",
		 name);
	f = fopen(path, "r");
	if (!f)
		return -1;
	for (i = 0; i <= bar; i++) {
		if (!fgets(line, sizeof(line), f)) {
			fclose(f);
			return -1;
		}
	}
	fclose(f);
	*start = strtoull(line, NULL, 16);
	return 0;
}

/* PCI address (0000:00:04.0) of class device @name. */
static inline int pci_addr_of(const char *name, char *addr, size_t len)
{
	char link[PATH_MAX], target[PATH_MAX];
	ssize_t n;

	snprintf(link, sizeof(link), "/sys/class/ivshmem/%s/device", name);
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return -1;
	target[n] = 0;
	snprintf(addr, len, "%s", basename(target));
	return 0;
}

/* Cache mode of this process's page table entry for @addr. */
static inline int pte_mode(void *addr, char *mode, size_t len)
{
	char buf[200], *m;
	ssize_t n;
	int fd;

	fd = open(PTECHECK, O_RDWR);
	if (fd < 0)
		return -1;
	n = snprintf(buf, sizeof(buf), "%lx", (unsigned long)addr);
	if (write(fd, buf, n) != n) {
		close(fd);
		return -1;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	m = strstr(buf, "mode=");
	if (!m)
		return -1;
	snprintf(mode, len, "%s", m + 5);
	mode[strcspn(mode, "\n")] = 0;
	return 0;
}

#endif /* IVSHMEM_TEST_UTIL_H */
