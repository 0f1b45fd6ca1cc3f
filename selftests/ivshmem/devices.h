/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Which ivshmem devices the selftests run on, and what is expected of them.
 *
 * Every device bound to the driver (/sys/class/ivshmem/ivshmemN) is found
 * and tested; its kind (plain, or doorbell when it has vectors), size,
 * vectors and peer id are learnt from the device itself (the INFO ioctl and
 * sysfs). What only the host that started the VM can know comes from one
 * small description file, $IVSHMEM_SELFTEST_CONF or else
 * /etc/ivshmem-selftest.conf: one line per device, keyed by PCI address,
 * then KEY=VALUE words; '#' starts a comment, blank lines are ignored:
 *
 *   # the host gave this guest two devices
 *   0000:00:10.0 kind=plain size=1048576 high=0 host_seed=7 guest_seed=8
 *   0000:00:11.0 kind=doorbell vectors=4 role=A
 *
 *   kind=plain|doorbell  what QEMU was given (-device ivshmem-plain/-doorbell)
 *   size=BYTES           the size of the shared memory QEMU was given
 *   vectors=N            the vectors QEMU was given
 *   peer=ID              the peer id the device must report
 *   high=0|1             BAR2 must sit below (0) or above (1) 4 GiB
 *   host_seed=N          the host filled [0, 64 KiB) with pattern N
 *   guest_seed=N         the guest writes pattern N at [size / 2, + 64 KiB)
 *                        for the host to check after the run
 *   role=A|B             this guest's side in the two-guest tests
 *
 * Every key is optional; a test whose expectation is not given SKIPs. The
 * file is parsed strictly: an unknown key, a bad value, a repeated key or
 * address ends the program with "Bail out!" naming the file and line. A
 * device listed but absent fails its tests; without the file every device
 * found is tested and the checks that need the host SKIP.
 *
 * Each device is a variant of the test fixture, named after its kind, the
 * placement of its BAR2 (below or above 4 GiB) and its PCI address, e.g.
 * dev.plain_low_0000_00_10_0.mmap_whole_bar. They are registered at run
 * time (IVS_HARNESS_MAIN) with the harness's own variant registration,
 * which FIXTURE_VARIANT_ADD() calls from a constructor for fixed variants.
 */
#ifndef IVSHMEM_TEST_DEVICES_H
#define IVSHMEM_TEST_DEVICES_H

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kselftest.h"
#include "util.h"

#define IVS_CONF_ENV		"IVSHMEM_SELFTEST_CONF"
#define IVS_CONF_DEFAULT	"/etc/ivshmem-selftest.conf"
#define IVS_MAX_DEVS		32

enum ivs_kind { IVS_KIND_ANY, IVS_KIND_PLAIN, IVS_KIND_DOORBELL };

/* Keys given for a device in the description. */
#define IVS_HAS_KIND		(1u << 0)
#define IVS_HAS_SIZE		(1u << 1)
#define IVS_HAS_VECTORS		(1u << 2)
#define IVS_HAS_PEER		(1u << 3)
#define IVS_HAS_HIGH		(1u << 4)
#define IVS_HAS_HOST_SEED	(1u << 5)
#define IVS_HAS_GUEST_SEED	(1u << 6)
#define IVS_HAS_ROLE		(1u << 7)

struct ivs_dev {
	char pci[16];		/* 0000:00:10.0 */
	char node[5 + 256];	/* /dev/ivshmemN; "" if the device is absent */
	char vname[64];		/* variant name */
	int present;		/* bound to the driver */
	int listed;		/* in the description */
	enum ivs_kind kind;	/* from the device if present, else as listed */
	int high;		/* BAR2 above 4 GiB (present devices) */
	/* from the description, valid where has says so */
	unsigned int has;
	enum ivs_kind want_kind;
	uint64_t size, vectors, peer, want_high, host_seed, guest_seed;
	char role;		/* 'A' or 'B' */
};

static struct ivs_dev ivs_devs[IVS_MAX_DEVS];
static int ivs_ndevs;
static const char *ivs_conf_path;

static inline const char *ivs_kind_name(enum ivs_kind k)
{
	return k == IVS_KIND_DOORBELL ? "doorbell" : k == IVS_KIND_PLAIN ? "plain" : "absent";
}

static inline struct ivs_dev *ivs_dev_get(const char *pci)
{
	int i;

	for (i = 0; i < ivs_ndevs; i++)
		if (!strcmp(ivs_devs[i].pci, pci))
			return &ivs_devs[i];
	if (ivs_ndevs == IVS_MAX_DEVS)
		ksft_exit_fail_msg("more than %d ivshmem devices\n", IVS_MAX_DEVS);
	snprintf(ivs_devs[ivs_ndevs].pci, sizeof(ivs_devs[0].pci), "%s", pci);
	return &ivs_devs[ivs_ndevs++];
}

/* A full PCI address, as sysfs spells it: 0000:00:10.0. */
static inline int ivs_pci_valid(const char *s)
{
	static const char shape[] = "xxxx:xx:xx.x";
	size_t i;

	if (strlen(s) != sizeof(shape) - 1)
		return 0;
	for (i = 0; i < sizeof(shape) - 1; i++)
		if (shape[i] == 'x' ? !isxdigit((unsigned char)s[i]) : s[i] != shape[i])
			return 0;
	return 1;
}

static inline int ivs_parse_u64(const char *s, uint64_t *v)
{
	char *end;

	if (!*s || *s == '-')
		return -1;
	errno = 0;
	*v = strtoull(s, &end, 0);
	return errno || *end ? -1 : 0;
}

#define ivs_conf_error(line, fmt, ...) \
	ksft_exit_fail_msg("%s:%d: " fmt "\n", ivs_conf_path, line, ##__VA_ARGS__)

/* One KEY=VALUE word of line @ln for @d. */
static inline void ivs_conf_word(struct ivs_dev *d, char *word, int ln)
{
	static const struct { const char *key; unsigned int bit; } keys[] = {
		{ "kind", IVS_HAS_KIND }, { "size", IVS_HAS_SIZE },
		{ "vectors", IVS_HAS_VECTORS }, { "peer", IVS_HAS_PEER },
		{ "high", IVS_HAS_HIGH }, { "host_seed", IVS_HAS_HOST_SEED },
		{ "guest_seed", IVS_HAS_GUEST_SEED }, { "role", IVS_HAS_ROLE },
	};
	char *val = strchr(word, '=');
	unsigned int bit = 0, i;
	uint64_t v = 0;

	if (!val || val == word)
		ivs_conf_error(ln, "'%s' is not KEY=VALUE", word);
	*val++ = 0;
	for (i = 0; i < ARRAY_SIZE(keys); i++)
		if (!strcmp(word, keys[i].key))
			bit = keys[i].bit;
	if (!bit)
		ivs_conf_error(ln, "unknown key '%s' (kind size vectors peer high host_seed guest_seed role)",
			       word);
	if (d->has & bit)
		ivs_conf_error(ln, "%s given twice for %s", word, d->pci);
	d->has |= bit;
	switch (bit) {
	case IVS_HAS_KIND:
		if (!strcmp(val, "plain"))
			d->want_kind = IVS_KIND_PLAIN;
		else if (!strcmp(val, "doorbell"))
			d->want_kind = IVS_KIND_DOORBELL;
		else
			ivs_conf_error(ln, "kind=%s: plain or doorbell", val);
		return;
	case IVS_HAS_ROLE:
		if (strcmp(val, "A") && strcmp(val, "B"))
			ivs_conf_error(ln, "role=%s: A or B", val);
		d->role = *val;
		return;
	}
	if (ivs_parse_u64(val, &v))
		ivs_conf_error(ln, "%s=%s: not a number", word, val);
	switch (bit) {
	case IVS_HAS_SIZE: d->size = v; break;
	case IVS_HAS_VECTORS: d->vectors = v; break;
	case IVS_HAS_PEER: d->peer = v; break;
	case IVS_HAS_HOST_SEED: d->host_seed = v; break;
	case IVS_HAS_GUEST_SEED: d->guest_seed = v; break;
	case IVS_HAS_HIGH:
		if (v > 1)
			ivs_conf_error(ln, "high=%s: 0 or 1", val);
		d->want_high = v;
		break;
	}
}

/* Reads the description, if there is one. */
static inline void ivs_read_conf(void)
{
	const char *env = getenv(IVS_CONF_ENV);
	char line[512], *w, *save;
	int ln = 0;
	FILE *f;

	ivs_conf_path = env && *env ? env : IVS_CONF_DEFAULT;
	f = fopen(ivs_conf_path, "r");
	if (!f) {
		if (errno == ENOENT && !(env && *env))
			return;	/* no description: nothing is expected */
		ksft_exit_fail_msg("%s: %s\n", ivs_conf_path, strerror(errno));
	}
	while (fgets(line, sizeof(line), f)) {
		struct ivs_dev *d;

		ln++;
		if (!strchr(line, '\n') && !feof(f))
			ivs_conf_error(ln, "line too long");
		line[strcspn(line, "#")] = 0;
		w = strtok_r(line, " \t\r\n", &save);
		if (!w)
			continue;
		if (!ivs_pci_valid(w))
			ivs_conf_error(ln, "'%s' is not a PCI address like 0000:00:10.0", w);
		for (d = ivs_devs; d < ivs_devs + ivs_ndevs; d++)
			if (!strcmp(d->pci, w))
				ivs_conf_error(ln, "%s listed twice", w);
		d = ivs_dev_get(w);
		d->listed = 1;
		while ((w = strtok_r(NULL, " \t\r\n", &save)))
			ivs_conf_word(d, w, ln);
	}
	fclose(f);
}

static inline int ivs_cmp_dev(const void *a, const void *b)
{
	return strcmp(((const struct ivs_dev *)a)->pci, ((const struct ivs_dev *)b)->pci);
}

/*
 * Finds the devices and reads the description (once); returns how many
 * there are, present or listed, sorted by PCI address.
 */
static inline int ivs_devices(void)
{
	static int done;
	struct dirent *e;
	DIR *dir;
	int i;

	if (done)
		return ivs_ndevs;
	done = 1;
	ivs_read_conf();
	dir = opendir("/sys/class/ivshmem");
	while (dir && (e = readdir(dir))) {
		char pci[PATH_MAX];
		struct ivs_dev *d;
		uint64_t v, bar2;

		if (strncmp(e->d_name, "ivshmem", 7) || pci_addr_of(e->d_name, pci, sizeof(pci)) ||
		    strlen(pci) >= sizeof(d->pci))
			continue;
		d = ivs_dev_get(pci);
		d->present = 1;
		snprintf(d->node, sizeof(d->node), "/dev/%s", e->d_name);
		d->kind = !sysfs_u64(e->d_name, "vectors", &v) && v ? IVS_KIND_DOORBELL : IVS_KIND_PLAIN;
		d->high = !bar_start(e->d_name, 2, &bar2) && bar2 >= (1ULL << 32);
	}
	if (dir)
		closedir(dir);
	qsort(ivs_devs, ivs_ndevs, sizeof(ivs_devs[0]), ivs_cmp_dev);
	for (i = 0; i < ivs_ndevs; i++) {
		struct ivs_dev *d = &ivs_devs[i];
		char *c;

		if (!d->present)
			d->kind = d->has & IVS_HAS_KIND ? d->want_kind : IVS_KIND_ANY;
		snprintf(d->vname, sizeof(d->vname), "%s_%s%s", ivs_kind_name(d->kind),
			 d->present ? (d->high ? "high_" : "low_") : "", d->pci);
		for (c = d->vname; *c; c++)
			if (*c == ':' || *c == '.')
				*c = '_';
	}
	return ivs_ndevs;
}

/* Whether @d is of @kind (an absent device of unknown kind is of any). */
static inline int ivs_dev_is(const struct ivs_dev *d, enum ivs_kind kind)
{
	return kind == IVS_KIND_ANY || d->kind == IVS_KIND_ANY || d->kind == kind;
}

/* The first present device of @kind, or NULL. */
static inline const struct ivs_dev *ivs_first(enum ivs_kind kind)
{
	int i;

	ivs_devices();
	for (i = 0; i < ivs_ndevs; i++)
		if (ivs_devs[i].present && ivs_dev_is(&ivs_devs[i], kind))
			return &ivs_devs[i];
	return NULL;
}

/*
 * SKIP() from a FIXTURE_SETUP(): the 6.1 harness runs the test body after
 * a skip in setup, so end the test's process here (exit status 255 is the
 * harness's "skipped").
 */
#define IVS_SETUP_SKIP(fmt, ...) SKIP(_exit(255), fmt, ##__VA_ARGS__)

/*
 * The fixture's setup for @variant: a device that is listed in the
 * description but absent fails; no device at all (the harness then runs
 * the tests once, without a variant) skips.
 */
#define IVS_SETUP_DEV(variant, what) ({						\
	const struct ivs_dev *__d = (variant) ? (variant)->dev : NULL;		\
	if (!__d)								\
		IVS_SETUP_SKIP("no %s device", what);			\
	ASSERT_TRUE(__d->present)						\
		TH_LOG("%s is in %s but has no ivshmem device", __d->pci,	\
		       ivs_conf_path);						\
	__d;									\
})

/*
 * main(): one variant of @fixture per device of @kind (FIXTURE_VARIANT
 * with a member "const struct ivs_dev *dev"), then the harness.
 */
#define IVS_HARNESS_MAIN(fixture, kind)						\
	int main(int argc, char **argv)						\
	{									\
		static struct __fixture_variant_metadata v[IVS_MAX_DEVS];	\
		static FIXTURE_VARIANT(fixture) data[IVS_MAX_DEVS];		\
		int i, n = ivs_devices();					\
										\
		for (i = 0; i < n; i++) {					\
			if (!ivs_dev_is(&ivs_devs[i], kind))			\
				continue;					\
			data[i].dev = &ivs_devs[i];				\
			v[i].name = ivs_devs[i].vname;				\
			v[i].data = &data[i];					\
			__register_fixture_variant(&_##fixture##_fixture_object, &v[i]); \
		}								\
		return test_harness_run(argc, argv);				\
	}

#endif /* IVSHMEM_TEST_DEVICES_H */
