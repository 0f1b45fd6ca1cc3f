// SPDX-License-Identifier: MIT
/*
 * lib_test - libivshmem against the real devices of a guest, through the
 * public API only. Prints TAP (results first, the plan last).
 *
 * Environment:
 *   IVSHMEM_EXPECT   the devices the guest must have, ';'-separated, each
 *                    PCI_ADDRESS,SIZE,PEER_ID,VECTORS
 *                    e.g. "0000:00:10.0,1048576,0,0;0000:00:11.0,4194304,0,0"
 *   IVSHMEM_REMOVE   optional PCI address of a plain device to hot-remove
 *                    (sysfs remove) at the end, and bring back (rescan)
 *
 * Doorbell tests run on the first expected device with vectors and ring
 * the guest itself (its own peer id); without one they are skipped.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <libivshmem.h>

#define MAX_EXPECT	16

struct expect {
	char pci[IVSHMEM_PCI_ADDRESS_MAX];
	uint64_t size;
	uint32_t peer_id;
	uint32_t vectors;
};

static struct expect expect[MAX_EXPECT];
static int nexpect;
static int test_no, failures;
static size_t page;

/* ---------------------------------------------------------------------- */

static void __attribute__((format(printf, 2, 3))) ok(bool pass, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d - ", pass ? "" : "not ", ++test_no);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!pass)
		failures++;
}

static void __attribute__((format(printf, 2, 3))) skip(const char *why, const char *fmt, ...)
{
	va_list ap;

	printf("ok %d - ", ++test_no);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(" # SKIP %s\n", why);
	fflush(stdout);
}

static void __attribute__((format(printf, 1, 2))) diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

/* ok() for a call expected to return @want; says what it got otherwise */
static bool ret_is(int got, int want, const char *what)
{
	if (got != want)
		diag("%s: got %d (%s), want %d (%s)", what, got, strerror(-got),
		     want, strerror(-want));
	ok(got == want, "%s", what);
	return got == want;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static dev_t rdev_of(struct ivshmem_dev *dev)
{
	struct stat st;

	return fstat(ivshmem_fd(dev), &st) ? (dev_t)-1 : st.st_rdev;
}

static bool is_mapped(void *addr)
{
	return msync(addr, page, MS_ASYNC) == 0;
}

/* a process to run @fn(arg) in; returns its pid */
static pid_t spawn(void (*fn)(const void *), const void *arg)
{
	pid_t pid = fork();

	if (pid == 0) {
		fn(arg);
		_exit(0);
	}
	return pid;
}

/* exit status of @pid, or 128 + signal */
static int reap(pid_t pid)
{
	int st;

	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int parse_expect(const char *s)
{
	char *copy = strdup(s ? s : ""), *save = NULL, *item;

	for (item = strtok_r(copy, ";", &save); item && nexpect < MAX_EXPECT;
	     item = strtok_r(NULL, ";", &save)) {
		struct expect *e = &expect[nexpect];
		unsigned long long size;
		unsigned int peer, vec;

		if (sscanf(item, "%31[^,],%llu,%u,%u", e->pci, &size, &peer, &vec) != 4) {
			diag("bad IVSHMEM_EXPECT entry '%s'", item);
			free(copy);
			return -1;
		}
		e->size = size;
		e->peer_id = peer;
		e->vectors = vec;
		nexpect++;
	}
	free(copy);
	return nexpect ? 0 : -1;
}

/* ---------------------------------------------------------------------- */

static void test_list(struct ivshmem_devinfo *node_of)
{
	struct ivshmem_devinfo *devs;
	size_t n, i;
	int e, ret;
	bool sorted = true;

	ret = ivshmem_list(&devs, &n);
	ok(!ret && n == (size_t)nexpect, "list finds the %d devices (ret %d, %zu found)",
	   nexpect, ret, n);
	if (ret)
		return;
	for (i = 1; i < n; i++)
		sorted &= devs[i - 1].index < devs[i].index;
	ok(sorted, "list is ordered by index");

	for (e = 0; e < nexpect; e++) {
		const struct ivshmem_devinfo *d = NULL;
		char want_node[IVSHMEM_NODE_MAX];

		for (i = 0; i < n; i++)
			if (!strcmp(devs[i].pci_address, expect[e].pci))
				d = &devs[i];
		if (!d) {
			ok(false, "list has %s", expect[e].pci);
			continue;
		}
		snprintf(want_node, sizeof(want_node), "/dev/ivshmem%d", d->index);
		if (d->size != expect[e].size || d->peer_id != expect[e].peer_id ||
		    d->vectors != expect[e].vectors || strcmp(d->node, want_node) ||
		    d->revision != 1)
			diag("%s: node %s index %d size %" PRIu64 " peer %u vectors %u rev %u",
			     d->pci_address, d->node, d->index, d->size, d->peer_id,
			     d->vectors, d->revision);
		ok(d->size == expect[e].size && d->peer_id == expect[e].peer_id &&
		   d->vectors == expect[e].vectors && !strcmp(d->node, want_node) &&
		   d->revision == 1,
		   "list: %s is %s, %" PRIu64 " bytes, peer %u, %u vectors, revision 1",
		   expect[e].pci, d->node, expect[e].size, expect[e].peer_id,
		   expect[e].vectors);
		node_of[e] = *d;
	}
	ivshmem_list_free(devs);
}

static void test_open_forms(const struct ivshmem_devinfo *d)
{
	char name[64], link[128];
	struct ivshmem_devinfo got;
	struct ivshmem_dev *ref, *h;
	const char *forms[6];
	int i, nforms = 0, ret;
	dev_t want;

	ret = ivshmem_open(d->node, &ref);
	if (!ret_is(ret, 0, "open by node"))
		return;
	want = rdev_of(ref);

	snprintf(name, sizeof(name), "%d", d->index);
	forms[nforms++] = strdup(name);
	snprintf(name, sizeof(name), "ivshmem%d", d->index);
	forms[nforms++] = strdup(name);
	forms[nforms++] = d->pci_address;
	if (!strncmp(d->pci_address, "0000:", 5))
		forms[nforms++] = d->pci_address + 5;	/* "00:10.0" */
	for (i = 0; i < nforms; i++) {
		ret = ivshmem_open(forms[i], &h);
		ok(!ret && rdev_of(h) == want, "open \"%s\" gives %s (ret %d)", forms[i],
		   d->node, ret);
		if (!ret)
			ivshmem_close(h);
	}
	free((void *)forms[0]);
	free((void *)forms[1]);

	ret = ivshmem_open_index(d->index, &h);
	ok(!ret && rdev_of(h) == want, "ivshmem_open_index(%d) (ret %d)", d->index, ret);
	if (!ret)
		ivshmem_close(h);
	ret = ivshmem_open_path(d->node, &h);
	ok(!ret && rdev_of(h) == want, "ivshmem_open_path(%s) (ret %d)", d->node, ret);
	if (!ret)
		ivshmem_close(h);
	ret = ivshmem_open_pci(d->pci_address, &h);
	ok(!ret && rdev_of(h) == want, "ivshmem_open_pci(%s) (ret %d)", d->pci_address, ret);
	if (!ret)
		ivshmem_close(h);

	snprintf(link, sizeof(link), "/dev/ivshmem/by-path/pci-%s", d->pci_address);
	if (access(link, F_OK)) {
		skip("no udev link", "open %s", link);
	} else {
		ret = ivshmem_open(link, &h);
		ok(!ret && rdev_of(h) == want, "open %s (ret %d)", link, ret);
		if (!ret)
			ivshmem_close(h);
	}

	ret = ivshmem_lookup(d->pci_address, &got);
	ok(!ret && !memcmp(&got, d, sizeof(got)), "lookup(%s) matches list (ret %d)",
	   d->pci_address, ret);
	ret = ivshmem_describe(ref, &got);
	ok(!ret && !memcmp(&got, d, sizeof(got)), "describe() of an open handle matches list (ret %d)",
	   ret);
	ivshmem_close(ref);
}

static void test_bad_names(void)
{
	static const struct { const char *name; int err; } cases[] = {
		{ "", -EINVAL }, { "abc", -EINVAL }, { "-1", -EINVAL },
		{ "ivshmem", -EINVAL }, { "ivshmemx", -EINVAL }, { "0x1", -EINVAL },
		{ "0000:00:10", -EINVAL }, { "00:20.0", -EINVAL }, { "00:10.8", -EINVAL },
		{ "0000:00:10.0x", -EINVAL }, { "00:g0.0", -EINVAL },
		{ "99", -ENOENT }, { "ivshmem99", -ENOENT }, { "/dev/ivshmem99", -ENOENT },
		{ "0000:00:1e.7", -ENOENT }, { "/nonexistent/x", -ENOENT },
		{ "/dev/null", -ENODEV }, { "/tmp", -ENODEV }, { "00:00.0", -ENODEV },
	};
	struct ivshmem_devinfo info;
	struct ivshmem_dev *h = (struct ivshmem_dev *)1;
	char what[96];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(what, sizeof(what), "open(\"%s\") fails with %s", cases[i].name,
			 strerror(-cases[i].err));
		ret_is(ivshmem_open(cases[i].name, &h), cases[i].err, what);
	}
	ok(h == NULL, "a failed open leaves the handle NULL");
	ret_is(ivshmem_open(NULL, &h), -EINVAL, "open(NULL) fails with EINVAL");
	ret_is(ivshmem_open("0", NULL), -EINVAL, "open with no handle pointer fails with EINVAL");
	ret_is(ivshmem_open_pci("0", &h), -EINVAL, "open_pci(\"0\") fails with EINVAL");
	ret_is(ivshmem_open_index(99, &h), -ENOENT, "open_index(99) fails with ENOENT");
	ret_is(ivshmem_open_path("ivshmem0", &h), -ENOENT,
	       "open_path(\"ivshmem0\") is relative to the cwd: ENOENT");
	ret_is(ivshmem_lookup("99", &info), -ENOENT, "lookup(\"99\") fails with ENOENT");
	ret_is(ivshmem_lookup("/dev/null", &info), -ENODEV, "lookup(\"/dev/null\") fails with ENODEV");
}

static void test_info(const struct ivshmem_devinfo *d, const struct expect *e)
{
	struct ivshmem_info info;
	struct ivshmem_dev *h;
	uint64_t counts[8];
	size_t n = 99;
	int ret;

	if (!ret_is(ivshmem_open(d->node, &h), 0, "open for info"))
		return;
	ret = ivshmem_get_info(h, &info);
	ok(!ret && info.size == e->size && info.peer_id == e->peer_id &&
	   info.nr_vectors == e->vectors && info.revision == 1 &&
	   !!(info.flags & IVSHMEM_INFO_DOORBELL) == !!e->vectors &&
	   info.regs_offset == IVSHMEM_MMAP_REGS_OFFSET,
	   "get_info: size, peer id, vectors, revision, doorbell flag, regs offset");
	ok(ivshmem_size(h) == e->size, "ivshmem_size() is %" PRIu64, e->size);
	ret = ivshmem_interrupt_counts(h, counts, 8, &n);
	ok(!ret && n == e->vectors, "interrupt_counts gives %u vectors (ret %d, n %zu)",
	   e->vectors, ret, n);
	ivshmem_close(h);
}

struct store_args {
	const char *node;
	uint64_t off;
	uint64_t val;
	int width;
	unsigned int ms;
	bool ring;
	uint32_t peer;
};

/* in a child: open, map, wait, store a word (and ring) */
static void child_store(const void *arg)
{
	const struct store_args *a = arg;
	struct ivshmem_dev *h;
	unsigned char *p;

	if (ivshmem_open(a->node, &h) || ivshmem_map(h, 0, 0, 0, (void **)&p))
		_exit(1);
	sleep_ms(a->ms);
	if (a->width == 4)
		__atomic_store_n((uint32_t *)(p + a->off), (uint32_t)a->val, __ATOMIC_RELEASE);
	else
		__atomic_store_n((uint64_t *)(p + a->off), a->val, __ATOMIC_RELEASE);
	if (a->ring && ivshmem_ring(h, a->peer, 0))
		_exit(2);
	ivshmem_close(h);
}

static void child_write_ro(const void *arg)
{
	volatile unsigned char *p = (volatile unsigned char *)arg;

	p[0] = 1;	/* must fault */
}

static void test_map(const struct ivshmem_devinfo *d, const struct ivshmem_devinfo *other)
{
	struct ivshmem_dev *h, *h2;
	unsigned char *whole, *range, *w2, *ro, *last;
	void *tmp;
	uint64_t size = d->size;
	int ret;

	if (!ret_is(ivshmem_open(d->node, &h), 0, "open for mapping"))
		return;
	ret = ivshmem_map(h, 0, 0, 0, (void **)&whole);
	if (!ret_is(ret, 0, "map the whole memory")) {
		ivshmem_close(h);
		return;
	}
	ret_is(ivshmem_map(h, page, 2 * page, 0, (void **)&range), 0,
	       "map a two-page range at one page");
	memset(whole + page, 0, 3 * page);	/* page 0 is the example's */
	strcpy((char *)whole + page + 16, "through the whole mapping");
	ok(!strcmp((char *)range + 16, "through the whole mapping"),
	   "the range mapping sees what the whole one wrote");
	strcpy((char *)range + page + 100, "through the range");
	ok(!strcmp((char *)whole + 2 * page + 100, "through the range"),
	   "the whole mapping sees what the range one wrote");

	ret = ivshmem_open(d->pci_address, &h2);
	if (!ret)
		ret = ivshmem_map(h2, 0, 0, 0, (void **)&w2);
	ok(!ret && w2 != whole && !strcmp((char *)w2 + page + 16, "through the whole mapping"),
	   "a second handle's mapping sees the data");
	if (!ret) {
		strcpy((char *)w2 + 3 * page, "from the second handle");
		ok(!strcmp((char *)whole + 3 * page, "from the second handle"),
		   "the first handle sees the second's writes");
		ivshmem_close(h2);
	}

	ret_is(ivshmem_map(h, size - page, page, 0, (void **)&last), 0, "map the last page");
	last[page - 1] = 0x5a;
	ok(whole[size - 1] == 0x5a, "the last byte is the same through both mappings");
	ret_is(ivshmem_map(h, page, 1, 0, &tmp), 0, "a 1-byte length is rounded up to a page");
	ret_is(ivshmem_unmap(h, tmp), 0, "unmap it");

	ret_is(ivshmem_map(h, 1, page, 0, &tmp), -EINVAL, "map at an unaligned offset: EINVAL");
	ret_is(ivshmem_map(h, size, 0, 0, &tmp), -EINVAL, "map at the end: EINVAL");
	ret_is(ivshmem_map(h, size - page, 2 * page, 0, &tmp), -EINVAL,
	       "map past the end: EINVAL");
	ret_is(ivshmem_map(h, 0, 0, 0x80, &tmp), -EINVAL, "map with unknown flags: EINVAL");
	ret_is(ivshmem_map(h, 0, 0, 0, NULL), -EINVAL, "map with no address pointer: EINVAL");

	ret = ivshmem_map(h, 0, page, IVSHMEM_MAP_READONLY, (void **)&ro);
	ok(!ret && !memcmp(ro, whole, 64), "a read-only mapping reads the memory");
	if (!ret)
		ok(reap(spawn(child_write_ro, ro)) == 128 + SIGSEGV,
		   "a read-only mapping refuses writes (SIGSEGV)");

	ret_is(ivshmem_unmap(h, range), 0, "unmap the range");
	ok(!is_mapped(range), "the range is no longer mapped");
	ret_is(ivshmem_unmap(h, range), -EINVAL, "unmap it again: EINVAL");
	ret_is(ivshmem_unmap(h, whole + page), -EINVAL, "unmap an address never returned: EINVAL");
	ivshmem_close(h);
	ok(!is_mapped(whole) && !is_mapped(last) && !is_mapped(ro),
	   "close unmaps what was left mapped");

	/* a different device does not share this memory */
	if (other && !ivshmem_open(other->node, &h)) {
		if (!ivshmem_map(h, 0, 0, 0, (void **)&whole)) {
			ok(strcmp((char *)whole + page + 16, "through the whole mapping"),
			   "another device has its own memory");
		}
		ivshmem_close(h);
	}
}

static void test_plain_doorbell(const struct ivshmem_devinfo *d)
{
	struct ivshmem_dev *h;
	struct pollfd pfd;
	uint64_t fired = 1, counts[IVSHMEM_MAX_LISTEN_VECTORS], t;
	int ret;

	if (!ret_is(ivshmem_open(d->node, &h), 0, "open a plain device for doorbells"))
		return;
	ret_is(ivshmem_ring(h, 0, 0), -EOPNOTSUPP, "plain: ring fails with EOPNOTSUPP");
	ret_is(ivshmem_ring_mmio(h, 0, 0), -EOPNOTSUPP, "plain: ring_mmio fails with EOPNOTSUPP");
	ret_is(ivshmem_listen(h, 1), -EOPNOTSUPP, "plain: listen fails with EOPNOTSUPP");
	ok(ivshmem_listening(h) == 0, "plain: nothing is listened to");
	ret_is(ivshmem_wait(h, 1, 0, &fired), -EINVAL, "wait for a vector not listened to: EINVAL");
	t = now_ms();
	ret = ivshmem_wait(h, 0, 200, &fired);
	t = now_ms() - t;
	ok(ret == -ETIMEDOUT && fired == 0 && t >= 195 && t < 5000,
	   "wait with a 200 ms timeout returns ETIMEDOUT after %" PRIu64 " ms (ret %d)", t, ret);
	ret_is(ivshmem_wait(h, IVSHMEM_VECTORS_ALL, 0, NULL), -ETIMEDOUT,
	       "wait with a zero timeout polls: ETIMEDOUT");
	ret = ivshmem_drain(h, IVSHMEM_VECTORS_ALL, &fired, counts);
	ok(!ret && !fired && !counts[0], "drain with nothing pending (ret %d)", ret);
	pfd.fd = ivshmem_event_fd(h);
	pfd.events = POLLIN;
	ok(pfd.fd >= 0 && poll(&pfd, 1, 0) == 0, "the event fd is not readable");
	ivshmem_close(h);
}

static void test_spin(const struct ivshmem_devinfo *d)
{
	struct store_args a = { .node = d->node, .off = 256, .val = 0x12345678, .width = 4,
				.ms = 300 };
	struct ivshmem_dev *h;
	unsigned char *p;
	uint64_t t, v64 = 0;
	uint32_t v32 = 0, local = 7;
	pid_t pid;
	int ret;

	if (!ret_is(ivshmem_open(d->node, &h), 0, "open for spin waits"))
		return;
	if (!ret_is(ivshmem_map(h, 0, page, 0, (void **)&p), 0, "map for spin waits")) {
		ivshmem_close(h);
		return;
	}
	memset(p + 256, 0, 16);

	/* spin 1 ms, then sleep-poll: another process stores after 300 ms */
	pid = spawn(child_store, &a);
	t = now_ms();
	ret = ivshmem_wait_u32(h, (uint32_t *)(p + 256), 0, 1000000, 0, 10000, &v32);
	t = now_ms() - t;
	ok(ret == 0 && v32 == 0x12345678 && t >= 250 && t < 5000,
	   "wait_u32 returns when another process changes the word (%" PRIu64 " ms, ret %d)",
	   t, ret);
	ok(reap(pid) == 0, "the writer process succeeded");

	/* the same, spinning the whole time */
	a.off = 264;
	a.val = 0x1122334455667788ULL;
	a.width = 8;
	a.ms = 100;
	pid = spawn(child_store, &a);
	t = now_ms();
	ret = ivshmem_wait_u64(h, (uint64_t *)(p + 264), 0, 20ULL * 1000000000, 0, 20000, &v64);
	t = now_ms() - t;
	ok(ret == 0 && v64 == 0x1122334455667788ULL && t >= 50,
	   "wait_u64 spinning sees another process's store (%" PRIu64 " ms, ret %d)", t, ret);
	reap(pid);

	t = now_ms();
	ret = ivshmem_wait_u32(h, (uint32_t *)(p + 256), 0x12345678, 100000, 0, 150, NULL);
	t = now_ms() - t;
	ok(ret == -ETIMEDOUT && t >= 145 && t < 5000,
	   "wait_u32 on a word nobody changes times out after %" PRIu64 " ms (ret %d)", t, ret);
	ret = ivshmem_wait_u32(h, (uint32_t *)(p + 256), 0, 0, 0, 0, &v32);
	ok(ret == 0 && v32 == 0x12345678, "wait_u32 returns at once when the word differs");
	ret_is(ivshmem_wait_u32(h, (uint32_t *)(p + 257), 0, 0, 0, 0, NULL), -EINVAL,
	       "wait_u32 on a misaligned word: EINVAL");
	ret_is(ivshmem_wait_u64(h, (uint64_t *)(p + 260), 0, 0, 0, 0, NULL), -EINVAL,
	       "wait_u64 on a misaligned word: EINVAL");
	ret_is(ivshmem_wait_u32(h, NULL, 0, 0, 0, 0, NULL), -EINVAL, "wait_u32 on NULL: EINVAL");
	ret_is(ivshmem_wait_u32(h, (uint32_t *)(p + 256), 0x12345678, 0, 1, 10, NULL), -EINVAL,
	       "wait_u32 on a vector not listened to: EINVAL");
	ret_is(ivshmem_wait_u32(NULL, &local, 7, 0, 1, 10, NULL), -EINVAL,
	       "wait_u32 with vectors but no handle: EINVAL");
	ret = ivshmem_wait_u32(NULL, &local, 0, 0, 0, 10, &v32);
	ok(ret == 0 && v32 == 7, "wait_u32 without a handle works on any word");
	ivshmem_close(h);
}

static void test_doorbell(const struct ivshmem_devinfo *d)
{
	const char *why = "no ivshmem-doorbell device in this guest";
	uint64_t all, fired = 0, counts[IVSHMEM_MAX_LISTEN_VECTORS], before[4], after[4];
	struct store_args a;
	struct ivshmem_info info;
	struct ivshmem_dev *h;
	struct pollfd pfd;
	unsigned char *p;
	uint32_t v32;
	size_t n;
	pid_t pid;
	int i, ret;

	if (!d || ivshmem_open(d->node, &h)) {
		for (i = 0; i < 12; i++)
			skip(why, "doorbell test %d", i + 1);
		return;
	}
	ivshmem_get_info(h, &info);
	all = d->vectors >= 64 ? ~0ULL : (1ULL << d->vectors) - 1;
	ret_is(ivshmem_listen(h, IVSHMEM_VECTORS_ALL), 0, "doorbell: listen to every vector");
	ok(ivshmem_listening(h) == all, "doorbell: listening() is every vector");
	ret_is(ivshmem_listen(h, all + 1), d->vectors >= 64 ? 0 : -EINVAL,
	       "doorbell: listen to a vector the device lacks: EINVAL");
	ivshmem_interrupt_counts(h, before, 4, &n);

	ret_is(ivshmem_ring(h, d->peer_id, 0), 0, "doorbell: ring own peer id, vector 0");
	ret = ivshmem_wait(h, IVSHMEM_VECTORS_ALL, 5000, &fired);
	ok(ret == 0 && fired == 1, "doorbell: wait sees vector 0 (ret %d, fired %#" PRIx64 ")",
	   ret, fired);
	ivshmem_interrupt_counts(h, after, 4, &n);
	ok(after[0] > before[0], "doorbell: interrupt_counts of vector 0 grew");

	if (info.flags & IVSHMEM_INFO_REGS_MMAP) {
		ret_is(ivshmem_ring_mmio(h, d->peer_id, 0), 0, "doorbell: ring_mmio own peer id");
		pfd.fd = ivshmem_event_fd(h);
		pfd.events = POLLIN;
		ok(poll(&pfd, 1, 5000) == 1, "doorbell: the event fd becomes readable");
		ret = ivshmem_drain(h, IVSHMEM_VECTORS_ALL, &fired, counts);
		ok(ret == 0 && fired == 1 && counts[0] >= 1, "doorbell: drain reports vector 0");
	} else {
		for (i = 0; i < 3; i++)
			skip("no register page", "doorbell: ring_mmio %d", i + 1);
	}
	ret = ivshmem_drain(h, IVSHMEM_VECTORS_ALL, &fired, NULL);
	ok(ret == 0 && fired == 0, "doorbell: nothing left after draining");

	if (d->vectors >= 2) {
		ivshmem_ring(h, d->peer_id, 1);
		ret_is(ivshmem_wait(h, 1, 300, &fired), -ETIMEDOUT,
		       "doorbell: waiting for vector 0 ignores vector 1");
		ret = ivshmem_wait(h, 2, 5000, &fired);
		ok(ret == 0 && fired == 2, "doorbell: vector 1 was kept pending");
	} else {
		skip("one vector only", "doorbell: vectors are told apart");
		skip("one vector only", "doorbell: vectors are told apart");
	}

	if (!ivshmem_map(h, 0, page, 0, (void **)&p)) {
		a = (struct store_args){ .node = d->node, .off = 512, .val = 42, .width = 4,
					 .ms = 200, .ring = true, .peer = d->peer_id };
		memset(p + 512, 0, 4);
		pid = spawn(child_store, &a);
		ret = ivshmem_wait_u32(h, (uint32_t *)(p + 512), 0, 10000, 1, 10000, &v32);
		ok(ret == 0 && v32 == 42, "doorbell: wait_u32 sleeps on vector 0 until the store");
		reap(pid);
	}
	ret_is(ivshmem_unlisten(h, IVSHMEM_VECTORS_ALL), 0, "doorbell: unlisten");
	ivshmem_close(h);
}

static int write_sysfs(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY), ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

static void child_remove(const void *arg)
{
	char path[128];

	sleep_ms(300);
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/remove", (const char *)arg);
	_exit(write_sysfs(path, "1") ? 1 : 0);
}

static void test_removal(const char *pci)
{
	struct ivshmem_devinfo info;
	struct ivshmem_dev *h;
	struct pollfd pfd;
	uint32_t local = 0;
	void *p;
	uint64_t t;
	pid_t pid;
	int ret, i;

	if (!pci || !*pci) {
		skip("IVSHMEM_REMOVE not set", "removal");
		return;
	}
	if (!ret_is(ivshmem_open(pci, &h), 0, "removal: open the device"))
		return;
	ret_is(ivshmem_map(h, 0, 0, 0, &p), 0, "removal: map it");
	pid = spawn(child_remove, pci);
	t = now_ms();
	ret = ivshmem_wait(h, 0, 20000, NULL);
	t = now_ms() - t;
	ok(ret == -ENODEV && t < 10000,
	   "removal: wait returns ENODEV when the device goes (%" PRIu64 " ms, ret %d)", t, ret);
	ok(reap(pid) == 0, "removal: sysfs remove succeeded");
	pfd.fd = ivshmem_event_fd(h);
	pfd.events = POLLIN;
	ok(poll(&pfd, 1, 0) == 1, "removal: the event fd is readable");
	ret_is(ivshmem_get_info(h, &(struct ivshmem_info){ 0 }), -ENODEV,
	       "removal: get_info fails with ENODEV");
	ret_is(ivshmem_map(h, 0, 0, 0, &p), -ENODEV, "removal: map fails with ENODEV");
	ret_is(ivshmem_drain(h, 0, NULL, NULL), -ENODEV, "removal: drain fails with ENODEV");
	ret_is(ivshmem_wait_u32(h, &local, 0, 0, 0, 5000, NULL), -ENODEV,
	       "removal: a sleeping wait_u32 fails with ENODEV");
	ivshmem_close(h);
	ret_is(ivshmem_lookup(pci, &info), -ENOENT, "removal: the address is gone");

	write_sysfs("/sys/bus/pci/rescan", "1");
	for (i = 0, ret = -1; i < 50 && ret; i++) {
		ret = ivshmem_lookup(pci, &info);
		if (ret)
			sleep_ms(100);
	}
	ok(ret == 0, "removal: the device is back after a PCI rescan (ret %d)", ret);
	ret = ivshmem_open(pci, &h);
	ok(ret == 0, "removal: and opens again (ret %d)", ret);
	if (!ret)
		ivshmem_close(h);
}

int main(void)
{
	struct ivshmem_devinfo devs[MAX_EXPECT];
	const struct ivshmem_devinfo *doorbell = NULL, *plain = NULL, *other = NULL;
	int i;

	page = (size_t)sysconf(_SC_PAGESIZE);
	if (parse_expect(getenv("IVSHMEM_EXPECT"))) {
		printf("1..0 # SKIP IVSHMEM_EXPECT names no device\n");
		return 0;
	}
	memset(devs, 0, sizeof(devs));
	diag("libivshmem %d.%d, %d devices expected", LIBIVSHMEM_VERSION_MAJOR,
	     LIBIVSHMEM_VERSION_MINOR, nexpect);

	test_list(devs);
	for (i = 0; i < nexpect; i++) {
		if (!devs[i].node[0])
			continue;
		if (!devs[i].vectors && !plain)
			plain = &devs[i];
		else if (!devs[i].vectors && !other)
			other = &devs[i];
		if (devs[i].vectors && !doorbell)
			doorbell = &devs[i];
	}
	if (plain)
		test_open_forms(plain);
	if (doorbell)
		test_open_forms(doorbell);
	test_bad_names();
	for (i = 0; i < nexpect; i++)
		if (devs[i].node[0])
			test_info(&devs[i], &expect[i]);
	if (plain) {
		test_map(plain, other);
		test_plain_doorbell(plain);
		test_spin(plain);
	}
	test_doorbell(doorbell);
	test_removal(getenv("IVSHMEM_REMOVE"));

	printf("1..%d\n", test_no);
	return failures ? 1 : 0;
}
