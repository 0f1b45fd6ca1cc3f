/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A reproducible byte pattern, shared by the guest tests and the host-side
 * checker, so that each side can verify what the other wrote.
 */
#ifndef IVSHMEM_PATTERN_H
#define IVSHMEM_PATTERN_H

#include <stddef.h>
#include <stdint.h>

/* Byte i of the pattern for @seed: an xorshift64* of (seed, i / 8). */
static inline uint8_t ivs_pattern_byte(uint64_t seed, uint64_t i)
{
	uint64_t x = (seed ^ 0x9e3779b97f4a7c15ULL) + (i / 8) * 0xbf58476d1ce4e5b9ULL;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	x *= 0x2545f4914f6cdd1dULL;
	return (uint8_t)(x >> (8 * (i % 8)));
}

static inline void ivs_pattern_fill(volatile uint8_t *p, size_t len,
				    uint64_t seed, uint64_t base)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = ivs_pattern_byte(seed, base + i);
}

/* Returns the index of the first mismatch, or @len when all match. */
static inline size_t ivs_pattern_check(const volatile uint8_t *p, size_t len,
				       uint64_t seed, uint64_t base)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != ivs_pattern_byte(seed, base + i))
			return i;
	return len;
}

#endif /* IVSHMEM_PATTERN_H */
