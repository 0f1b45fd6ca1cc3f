// SPDX-License-Identifier: GPL-2.0-only
/*
 * chan-scribble.c - the host's hostile peer for guests' channels: writes
 * garbage into a channel region of an ivshmem-server's memory file while
 * guests (chan-peer chaos) pass messages in it, and checks that nobody
 * wrote outside the region's layout.
 *
 *   chan-scribble fill  FILE OFFSET                    a pattern everywhere
 *                                                      but the layout
 *   chan-scribble run   FILE OFFSET SECONDS SEED WAIT  once two slots are
 *                                                      active (WAIT s at most),
 *                                                      scribble for SECONDS
 *   chan-scribble check FILE OFFSET                    the pattern is intact
 *
 * The region is CHS_REGION_LEN bytes at OFFSET, laid out with CHS_PEERS
 * slots and CHS_RING-byte rings (chan-scribble.h). Prints TAP results
 * ("ok - ..."), no plan.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "chan-scribble.h"

#define PATTERN	0xa5

static bool outside(uint64_t i, uint64_t off)
{
	return i < off || i >= off + CHS_LAYOUT;
}

int main(int argc, char **argv)
{
	unsigned char *m;
	struct stat st;
	uint64_t off, i, bad = 0;
	int fd;

	if (argc < 4) {
		fprintf(stderr, "usage: %s fill|run|check FILE OFFSET [SECONDS SEED WAIT]\n", argv[0]);
		return 2;
	}
	off = strtoull(argv[3], NULL, 0);
	fd = open(argv[2], O_RDWR);
	if (fd < 0 || fstat(fd, &st) || (uint64_t)st.st_size < off + CHS_REGION_LEN) {
		printf("not ok - chan-scribble: open %s\n", argv[2]);
		return 1;
	}
	m = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		printf("not ok - chan-scribble: mmap %s\n", argv[2]);
		return 1;
	}
	if (!strcmp(argv[1], "fill")) {
		for (i = 0; i < (uint64_t)st.st_size; i++)
			if (outside(i, off))
				m[i] = PATTERN;
		return 0;
	}
	if (!strcmp(argv[1], "check")) {
		for (i = 0; i < (uint64_t)st.st_size; i++)
			if (outside(i, off) && m[i] != PATTERN)
				bad++;
		printf("%sok - the guests wrote nothing outside the channel layout "
		       "(%" PRIu64 " bytes changed)\n", bad ? "not " : "", bad);
		return bad ? 1 : 0;
	}
	if (!strcmp(argv[1], "run") && argc >= 7) {
		int secs = atoi(argv[4]), wait_s = atoi(argv[6]);
		uint64_t seed = strtoull(argv[5], NULL, 0) | 1;
		unsigned char *r = m + off;
		int64_t end = chs_now_ms() + wait_s * 1000LL;
		unsigned long writes;
		int active = 0;

		while (chs_now_ms() < end) {
			unsigned int s;

			active = 0;
			for (s = 0; s < CHS_PEERS; s++)
				active += (uint32_t)__atomic_load_n((uint64_t *)chs_slot(r, s),
								    __ATOMIC_ACQUIRE) == 2;
			if (active >= 2)
				break;
			usleep(100000);
		}
		printf("%sok - both guests attached before the scribbling (%d active slots)\n",
		       active >= 2 ? "" : "not ", active);
		writes = chs_scribble(r, &seed, chs_now_ms() + secs * 1000LL, 64, 200);
		printf("ok - scribbled over the guests' region for %d s (%lu writes, seed %" PRIu64 ")\n",
		       secs, writes, seed);
		return active >= 2 ? 0 : 1;
	}
	fprintf(stderr, "%s: unknown command\n", argv[0]);
	return 2;
}
