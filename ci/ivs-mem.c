// SPDX-License-Identifier: GPL-2.0
/*
 * ivs-mem: read, write or wait for bytes in a file through mmap(MAP_SHARED).
 * Used by the VM smoke test on both sides: on the host on the /dev/shm backing
 * file, in the guest on /sys/bus/pci/devices/.../resource2 (which cannot be
 * read(), only mmap()ed).
 *
 *   ivs-mem FILE size
 *   ivs-mem FILE read OFFSET LEN
 *   ivs-mem FILE write OFFSET STRING
 *   ivs-mem FILE wait OFFSET STRING SECONDS
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what)
{
	fprintf(stderr, "ivs-mem: %s: %s\n", what, strerror(errno));
	exit(2);
}

static void bad_args(void)
{
	fprintf(stderr, "ivs-mem FILE size|read OFF LEN|write OFF STR|wait OFF STR SECONDS\n");
	exit(2);
}

int main(int argc, char **argv)
{
	unsigned long long off, len;
	long page = sysconf(_SC_PAGESIZE);
	char *p;
	const char *cmd;
	struct stat st;
	size_t skew;
	void *map;
	int fd;

	if (argc < 3)
		bad_args();
	cmd = argv[2];
	fd = open(argv[1], strcmp(cmd, "write") ? O_RDONLY : O_RDWR);
	if (fd < 0 || fstat(fd, &st))
		die(argv[1]);
	if (!strcmp(cmd, "size") && argc == 3) {
		printf("%llu\n", (unsigned long long)st.st_size);
		return 0;
	}
	if (argc < 5)
		bad_args();
	off = strtoull(argv[3], NULL, 0);
	len = strcmp(cmd, "read") ? strlen(argv[4]) : strtoull(argv[4], NULL, 0);
	if (off + len > (unsigned long long)st.st_size || len == 0) {
		fprintf(stderr, "ivs-mem: range beyond the %llu bytes of %s\n",
			(unsigned long long)st.st_size, argv[1]);
		return 2;
	}
	skew = off % page;
	map = mmap(NULL, skew + len, strcmp(cmd, "write") ? PROT_READ : PROT_WRITE,
		   MAP_SHARED, fd, off - skew);
	if (map == MAP_FAILED)
		die("mmap");
	p = (char *)map + skew;

	if (!strcmp(cmd, "read") && argc == 5) {
		for (unsigned long long i = 0; i < len; i++)
			putchar(p[i]);
	} else if (!strcmp(cmd, "write") && argc == 5) {
		for (unsigned long long i = 0; i < len; i++)
			p[i] = argv[4][i];
		__sync_synchronize();
	} else if (!strcmp(cmd, "wait") && argc == 6) {
		time_t end = time(NULL) + atoi(argv[5]);

		for (;;) {
			unsigned long long i = 0;

			while (i < len && p[i] == argv[4][i])
				i++;
			if (i == len)
				break;
			if (time(NULL) > end) {
				fprintf(stderr, "ivs-mem: timeout waiting for '%s'\n", argv[4]);
				return 1;
			}
			usleep(20000);
			/* the other side changes the bytes: read them again */
			__atomic_signal_fence(__ATOMIC_SEQ_CST);
		}
	} else {
		bad_args();
	}
	return 0;
}
