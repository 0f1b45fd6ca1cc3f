/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * chan-scribble.h - a hostile peer for channel tests: writes random and
 * plausible values into a channel region laid out (version 1.0) with
 * CHS_PEERS slots and CHS_RING-byte rings. Used by test-chan-hostile.c
 * (host peers) and chan-scribble.c (guests, from the host).
 */
#ifndef CHAN_SCRIBBLE_H
#define CHAN_SCRIBBLE_H

#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CHS_PAGE	4096
#define CHS_PEERS	4
#define CHS_RING	4096
/* layout 1.0: header 256, slots 64 each, ring control 128 */
#define CHS_SLOTS_OFF	256
#define CHS_RINGS_OFF	(256 + CHS_PEERS * 64)
#define CHS_STRIDE	(128 + CHS_RING)
#define CHS_LAYOUT	(CHS_RINGS_OFF + CHS_PEERS * CHS_PEERS * CHS_STRIDE)
#define CHS_REGION_LEN	((CHS_LAYOUT + CHS_PAGE - 1) / CHS_PAGE * CHS_PAGE)

static inline uint64_t chs_rng(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static inline uint64_t *chs_head(unsigned char *r, unsigned int from, unsigned int to)
{
	return (uint64_t *)(r + CHS_RINGS_OFF + (from * CHS_PEERS + to) * CHS_STRIDE);
}

static inline uint64_t *chs_tail(unsigned char *r, unsigned int from, unsigned int to)
{
	return (uint64_t *)(r + CHS_RINGS_OFF + (from * CHS_PEERS + to) * CHS_STRIDE + 64);
}

static inline unsigned char *chs_data(unsigned char *r, unsigned int from, unsigned int to)
{
	return r + CHS_RINGS_OFF + (from * CHS_PEERS + to) * CHS_STRIDE + 128;
}

static inline unsigned char *chs_slot(unsigned char *r, unsigned int s)
{
	return r + CHS_SLOTS_OFF + s * 64;
}

static inline int64_t chs_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Scribble over region @r until @end_ms (CLOCK_MONOTONIC). Every other
 * half second only the rings are hit, so that traffic flows into the
 * garbage; otherwise also the peer table and the header. Pauses every
 * @burst writes for @pause_us. Return: the number of writes.
 */
static inline unsigned long chs_scribble(unsigned char *r, uint64_t *seed, int64_t end_ms,
					 unsigned int burst, unsigned int pause_us)
{
	unsigned long writes = 0;

	while (chs_now_ms() < end_ms) {
		uint64_t x = chs_rng(seed), v = chs_rng(seed);
		unsigned int what = x % 100, from = (x >> 8) % CHS_PEERS, to = (x >> 12) % CHS_PEERS;
		int i;

		if ((end_ms - chs_now_ms()) / 500 % 2)
			what = what < 50 ? what * 65 / 50 : 98 + what % 2;
		if (what < 30) {
			/* ring indices: random, nudged, or zero */
			uint64_t *w = (x >> 16) & 1 ? chs_head(r, from, to) : chs_tail(r, from, to);

			if ((x >> 17) % 3 == 0)
				*w = v;
			else if ((x >> 17) % 3 == 1)
				*w += (int64_t)(v % 64) - 32;
			else
				*w &= ~0xffffffffULL;
		} else if (what < 40) {
			/* wake words */
			*(uint32_t *)((unsigned char *)chs_head(r, from, to) + ((x >> 16) & 1 ? 8 : 72)) =
				(uint32_t)v;
		} else if (what < 65) {
			/* a record header somewhere in a ring */
			uint32_t *h = (uint32_t *)(chs_data(r, from, to) + (v % CHS_RING & ~7ULL));

			h[0] = (x >> 20) & 1 ? (uint32_t)(v >> 32) : (uint32_t)(v >> 32) % (CHS_RING + 64);
			h[1] = (x >> 21) & 1 ? (uint32_t)(v >> 16) : 1 + (uint32_t)(v >> 16) % 3;
		} else if (what < 80) {
			/* the peer table */
			unsigned char *s = chs_slot(r, from);

			switch ((x >> 16) % 5) {
			case 0: *(uint64_t *)s = v; break;
			case 1: *(uint64_t *)s = (v & 0xffffffff00000000ULL) | (v % 3); break;
			case 2: *(uint64_t *)(s + 8) = v; break;
			case 3: *(uint32_t *)(s + 16) = (uint32_t)v; break;
			default: *(uint32_t *)(s + 20) = (uint32_t)v % 70; break;
			}
		} else if (what < 88) {
			/* the header */
			if ((x >> 16) & 1)
				((uint64_t *)r)[(v >> 8) % 10] = v;
			else
				r[v % 80] ^= (unsigned char)(1U << ((x >> 20) % 8));
		} else if (what < 98) {
			/* random bytes anywhere in the layout */
			for (i = 0; i < 16; i++)
				r[chs_rng(seed) % CHS_LAYOUT] = (unsigned char)chs_rng(seed);
		} else {
			/* a whole ring's data */
			memset(chs_data(r, from, to), (int)(v & 0xff), CHS_RING);
		}
		writes++;
		if (writes % burst == 0)
			usleep(pause_us);
	}
	return writes;
}

#endif /* CHAN_SCRIBBLE_H */
