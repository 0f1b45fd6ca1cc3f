// SPDX-License-Identifier: GPL-2.0-only
/*
 * pattern-tool: fill or check a range of a host backing file with the
 * selftests' reproducible pattern (selftests/ivshmem/pattern.h).
 *
 *   pattern-tool fill  FILE OFFSET LEN SEED
 *   pattern-tool check FILE OFFSET LEN SEED   (exit 1 on a mismatch)
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pattern.h"

int main(int argc, char **argv)
{
	unsigned long long off, len, seed;
	int fd, fill;
	uint8_t *p;
	size_t bad;
	long pg = sysconf(_SC_PAGESIZE);

	if (argc != 6 || (strcmp(argv[1], "fill") && strcmp(argv[1], "check"))) {
		fprintf(stderr, "usage: %s fill|check FILE OFFSET LEN SEED\n", argv[0]);
		return 2;
	}
	fill = !strcmp(argv[1], "fill");
	off = strtoull(argv[3], NULL, 0);
	len = strtoull(argv[4], NULL, 0);
	seed = strtoull(argv[5], NULL, 0);
	if (off % pg) {
		fprintf(stderr, "pattern-tool: offset must be page aligned\n");
		return 2;
	}
	fd = open(argv[2], fill ? O_RDWR : O_RDONLY);
	if (fd < 0) {
		perror(argv[2]);
		return 2;
	}
	p = mmap(NULL, len, fill ? PROT_READ | PROT_WRITE : PROT_READ,
		 MAP_SHARED, fd, off);
	if (p == MAP_FAILED) {
		perror("mmap");
		return 2;
	}
	if (fill) {
		ivs_pattern_fill(p, len, seed, 0);
		return msync(p, len, MS_SYNC) ? 2 : 0;
	}
	bad = ivs_pattern_check(p, len, seed, 0);
	if (bad != len) {
		fprintf(stderr, "pattern-tool: %s: mismatch at offset %llu\n",
			argv[2], off + bad);
		return 1;
	}
	return 0;
}
