// SPDX-License-Identifier: MIT
/*
 * ivshmem - look at and use QEMU ivshmem devices from the guest, through
 * libivshmem. See ivshmem(1).
 *
 * Exit status: 0 success, 1 runtime error, 2 usage error, 3 wait timed out.
 * Errors go to stderr as "ivshmem: DEV: operation: reason".
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libivshmem.h>

#define EXIT_USAGE	2
#define EXIT_TIMEOUT	3

#define PROG		"ivshmem"
#define VERSION_STR	"0.1.0"

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *synopsis;
	const char *help;
};

static const struct command *cur;	/* the command being run, for usage() */

/* ---------------------------------------------------------------------- */
/* messages                                                                */

static int fail(const char *dev, const char *op, int err)
{
	if (dev)
		fprintf(stderr, PROG ": %s: %s: %s\n", dev, op, strerror(-err));
	else
		fprintf(stderr, PROG ": %s: %s\n", op, strerror(-err));
	return EXIT_FAILURE;
}

/* as fail(), with a hint for the usual reasons */
static int fail_dev(const char *dev, const char *op, int err)
{
	const char *hint = NULL;

	if (err == -EOPNOTSUPP && (!strcmp(op, "ring") || !strcmp(op, "wait")))
		hint = "no doorbell vectors: an ivshmem-plain device";
	else if (err == -EACCES && !strcmp(op, "open"))
		hint = "not in the device's group (ivshmem)?";
	else if (err == -ENOENT && !strcmp(op, "open"))
		hint = "no such ivshmem device; see 'ivshmem list'";
	else if (err == -ENODEV && !strcmp(op, "open"))
		hint = "not an ivshmem device";
	else if (err == -EINVAL && !strcmp(op, "open"))
		hint = "DEV is an index, a device node or a PCI address";
	if (!hint)
		return fail(dev, op, err);
	fprintf(stderr, PROG ": %s: %s: %s (%s)\n", dev, op, strerror(-err), hint);
	return EXIT_FAILURE;
}

static int __attribute__((format(printf, 1, 2))) usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, PROG ": %s%s", cur ? cur->name : "", cur ? ": " : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '" PROG " %s%s--help'.\n", cur ? cur->name : "",
		cur ? " " : "");
	return EXIT_USAGE;
}

/* ---------------------------------------------------------------------- */
/* numbers                                                                 */

/*
 * Decimal, or hexadecimal after 0x; an optional K, M, G or T suffix
 * multiplies by 2^10, 2^20, 2^30, 2^40. Return: 0 or -EINVAL / -ERANGE.
 */
static int parse_u64(const char *s, uint64_t *out)
{
	unsigned long long v;
	unsigned int shift = 0;
	char *end;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		if (!isxdigit((unsigned char)s[2]))
			return -EINVAL;
		v = strtoull(s + 2, &end, 16);
	} else {
		v = strtoull(s, &end, 10);
	}
	if (errno)
		return -ERANGE;
	switch (toupper((unsigned char)*end)) {
	case 'K': shift = 10; end++; break;
	case 'M': shift = 20; end++; break;
	case 'G': shift = 30; end++; break;
	case 'T': shift = 40; end++; break;
	}
	if (*end)
		return -EINVAL;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = (uint64_t)v << shift;
	return 0;
}

static bool number_arg(const char *what, const char *s, uint64_t max, uint64_t *out)
{
	int ret = parse_u64(s, out);

	if (!ret && *out > max)
		ret = -ERANGE;
	if (ret) {
		usage_error("%s: %s '%s'", what,
			    ret == -ERANGE ? "out of range:" : "not a number:", s);
		return false;
	}
	return true;
}

static void human_size(uint64_t size, char *buf, size_t len)
{
	static const char *const units[] = { "bytes", "KiB", "MiB", "GiB", "TiB" };
	unsigned int u = 0;

	while (u < 4 && size && size % 1024 == 0) {
		size /= 1024;
		u++;
	}
	snprintf(buf, len, "%" PRIu64 " %s", size, units[u]);
}

/* ---------------------------------------------------------------------- */
/* option parsing                                                          */

#define OPT_HELP	{ "help", no_argument, NULL, 'h' }

/*
 * getopt_long() over a command's arguments (argv[0] is the command name).
 * Returns the option, -1 at the end, or '?' after printing a usage error.
 * --help prints the command's help and exits 0.
 */
static int next_opt(int argc, char **argv, const char *shortopts,
		    const struct option *longopts)
{
	int c;

	opterr = 0;
	c = getopt_long(argc, argv, shortopts, longopts, NULL);
	if (c == 'h') {
		printf("usage: " PROG " %s %s\n\n%s", cur->name, cur->synopsis, cur->help);
		exit(EXIT_SUCCESS);
	}
	if (c == '?' || c == ':') {
		if (optopt)
			usage_error("unknown option or missing value: -%c", optopt);
		else
			usage_error("unknown option or missing value: %s", argv[optind - 1]);
		return '?';
	}
	return c;
}

static int open_dev(const char *name, struct ivshmem_dev **dev)
{
	int ret = ivshmem_open(name, dev);

	if (ret)
		fail_dev(name, "open", ret);
	return ret;
}

/* ---------------------------------------------------------------------- */
/* JSON                                                                    */

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = *s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void json_devinfo(const struct ivshmem_devinfo *d)
{
	printf("{\"index\": %d, \"node\": ", d->index);
	json_str(d->node);
	printf(", \"pci_address\": ");
	json_str(d->pci_address);
	printf(", \"size\": %" PRIu64 ", \"peer_id\": %" PRIu32 ", \"vectors\": %" PRIu32
	       ", \"revision\": %" PRIu32, d->size, d->peer_id, d->vectors, d->revision);
}

/* ---------------------------------------------------------------------- */
/* list                                                                    */

static int cmd_list(int argc, char **argv)
{
	static const struct option longopts[] = {
		OPT_HELP, { "json", no_argument, NULL, 'j' }, { 0 }
	};
	struct ivshmem_devinfo *devs;
	bool json = false;
	size_t n, i;
	int c, ret;

	while ((c = next_opt(argc, argv, "hj", longopts)) != -1) {
		if (c == '?')
			return EXIT_USAGE;
		json = true;
	}
	if (optind != argc)
		return usage_error("unexpected argument '%s'", argv[optind]);

	ret = ivshmem_list(&devs, &n);
	if (ret)
		return fail(NULL, "list", ret);

	if (json) {
		printf("[");
		for (i = 0; i < n; i++) {
			printf("%s\n  ", i ? "," : "");
			json_devinfo(&devs[i]);
			printf("}");
		}
		printf("%s]\n", n ? "\n" : "");
	} else if (n) {
		printf("%-16s %-14s %-10s %5s %7s\n", "DEVICE", "PCI", "SIZE", "PEER", "VECTORS");
		for (i = 0; i < n; i++) {
			char size[32];

			human_size(devs[i].size, size, sizeof(size));
			printf("%-16s %-14s %-10s %5" PRIu32 " %7" PRIu32 "\n",
			       devs[i].node[0] ? devs[i].node : "-",
			       devs[i].pci_address[0] ? devs[i].pci_address : "-",
			       size, devs[i].peer_id, devs[i].vectors);
		}
	}
	ivshmem_list_free(devs);
	return EXIT_SUCCESS;
}

/* ---------------------------------------------------------------------- */
/* info                                                                    */

static int cmd_info(int argc, char **argv)
{
	static const struct option longopts[] = {
		OPT_HELP, { "json", no_argument, NULL, 'j' }, { 0 }
	};
	uint64_t counts[256];
	struct ivshmem_devinfo d;
	struct ivshmem_info info;
	struct ivshmem_dev *dev;
	const char *name;
	bool json = false;
	char size[32];
	size_t n = 0, i;
	int c, ret;

	while ((c = next_opt(argc, argv, "hj", longopts)) != -1) {
		if (c == '?')
			return EXIT_USAGE;
		json = true;
	}
	if (optind >= argc)
		return usage_error("missing DEV");
	if (optind + 1 < argc)
		return usage_error("unexpected argument '%s'", argv[optind + 1]);
	name = argv[optind];

	if (open_dev(name, &dev))
		return EXIT_FAILURE;
	ret = ivshmem_get_info(dev, &info);
	if (!ret)
		ret = ivshmem_describe(dev, &d);
	if (!ret)
		ret = ivshmem_interrupt_counts(dev, counts, 256, &n);
	ivshmem_close(dev);
	if (ret)
		return fail(name, "info", ret);
	if (n > 256)
		n = 256;

	if (json) {
		json_devinfo(&d);
		printf(", \"doorbell\": %s, \"regs_mmap\": %s, \"interrupt_counts\": [",
		       info.flags & IVSHMEM_INFO_DOORBELL ? "true" : "false",
		       info.flags & IVSHMEM_INFO_REGS_MMAP ? "true" : "false");
		for (i = 0; i < n; i++)
			printf("%s%" PRIu64, i ? ", " : "", counts[i]);
		printf("]}\n");
		return EXIT_SUCCESS;
	}
	human_size(d.size, size, sizeof(size));
	printf("device:        %s\n", d.node[0] ? d.node : "-");
	printf("index:         %d\n", d.index);
	printf("pci address:   %s\n", d.pci_address[0] ? d.pci_address : "-");
	printf("size:          %" PRIu64 " (%s)\n", d.size, size);
	printf("peer id:       %" PRIu32 "\n", d.peer_id);
	printf("vectors:       %" PRIu32 "\n", d.vectors);
	printf("revision:      %" PRIu32 "\n", d.revision);
	printf("doorbell:      %s\n", info.flags & IVSHMEM_INFO_DOORBELL ? "yes" : "no");
	printf("register page: %s\n", info.flags & IVSHMEM_INFO_REGS_MMAP ? "yes" : "no");
	if (n) {
		printf("interrupts:   ");
		for (i = 0; i < n; i++)
			printf(" %" PRIu64, counts[i]);
		printf("\n");
	}
	return EXIT_SUCCESS;
}

/* ---------------------------------------------------------------------- */
/* dump, read, write                                                       */

/*
 * Map [offset, offset + len) of the memory, which the caller checked;
 * *@p receives the address of byte @offset.
 */
static int map_range(struct ivshmem_dev *dev, uint64_t offset, uint64_t len,
		     unsigned int flags, unsigned char **p)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t start = offset / page * page;
	void *addr;
	int ret;

	ret = ivshmem_map(dev, start, offset + len - start, flags, &addr);
	if (!ret)
		*p = (unsigned char *)addr + (offset - start);
	return ret;
}

/* OFFSET and LEN (optional: -1 for "to the end") against the size */
static bool check_range(const char *name, struct ivshmem_dev *dev, uint64_t offset,
			uint64_t *len, const char *op)
{
	uint64_t size = ivshmem_size(dev);

	if (offset > size || (*len != UINT64_MAX && *len > size - offset)) {
		fprintf(stderr, PROG ": %s: %s: range 0x%" PRIx64 "+0x%" PRIx64
			" is beyond the memory (0x%" PRIx64 " bytes)\n", name, op, offset,
			*len == UINT64_MAX ? 0 : *len, size);
		return false;
	}
	if (*len == UINT64_MAX)
		*len = size - offset;
	return true;
}

static void hexdump_line(uint64_t off, const unsigned char *b, size_t n)
{
	size_t i;

	printf("%08" PRIx64 " ", off);
	for (i = 0; i < 16; i++) {
		if (i % 8 == 0)
			putchar(' ');
		if (i < n)
			printf("%02x ", b[i]);
		else
			fputs("   ", stdout);
	}
	fputs(" |", stdout);
	for (i = 0; i < n; i++)
		putchar(b[i] >= 0x20 && b[i] < 0x7f ? b[i] : '.');
	fputs("|\n", stdout);
}

static int cmd_dump(int argc, char **argv)
{
	static const struct option longopts[] = {
		OPT_HELP, { "no-squeeze", no_argument, NULL, 'v' }, { 0 }
	};
	uint64_t offset = 0, len = UINT64_MAX, pos;
	const unsigned char *prev = NULL;
	struct ivshmem_dev *dev;
	bool squeeze = true, starred = false;
	unsigned char *p;
	const char *name;
	int c, ret;

	while ((c = next_opt(argc, argv, "hv", longopts)) != -1) {
		if (c == '?')
			return EXIT_USAGE;
		squeeze = false;
	}
	if (optind >= argc)
		return usage_error("missing DEV");
	name = argv[optind++];
	if (optind < argc && !number_arg("OFFSET", argv[optind++], UINT64_MAX, &offset))
		return EXIT_USAGE;
	if (optind < argc && !number_arg("LEN", argv[optind++], UINT64_MAX, &len))
		return EXIT_USAGE;
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);

	if (open_dev(name, &dev))
		return EXIT_FAILURE;
	if (!check_range(name, dev, offset, &len, "dump")) {
		ivshmem_close(dev);
		return EXIT_FAILURE;
	}
	if (!len) {
		ivshmem_close(dev);
		return EXIT_SUCCESS;
	}
	ret = map_range(dev, offset, len, IVSHMEM_MAP_READONLY, &p);
	if (ret) {
		ivshmem_close(dev);
		return fail(name, "map", ret);
	}
	/* hexdump -C: identical full lines after the first become one '*' */
	for (pos = 0; pos < len; pos += 16) {
		size_t n = len - pos < 16 ? len - pos : 16;

		if (squeeze && prev && n == 16 && !memcmp(prev, p + pos, 16)) {
			if (!starred)
				puts("*");
			starred = true;
			continue;
		}
		hexdump_line(offset + pos, p + pos, n);
		prev = p + pos;
		starred = false;
	}
	printf("%08" PRIx64 "\n", offset + len);
	ivshmem_close(dev);
	if (fflush(stdout) || ferror(stdout))
		return fail("stdout", "write", -errno);
	return EXIT_SUCCESS;
}

static int cmd_read(int argc, char **argv)
{
	static const struct option longopts[] = { OPT_HELP, { 0 } };
	struct ivshmem_dev *dev;
	uint64_t offset, len;
	unsigned char *p;
	const char *name;
	int c, ret;

	while ((c = next_opt(argc, argv, "h", longopts)) != -1)
		return EXIT_USAGE;
	if (argc - optind < 3)
		return usage_error("missing %s", argc - optind < 1 ? "DEV" :
				   argc - optind < 2 ? "OFFSET" : "LEN");
	if (argc - optind > 3)
		return usage_error("unexpected argument '%s'", argv[optind + 3]);
	name = argv[optind];
	if (!number_arg("OFFSET", argv[optind + 1], UINT64_MAX, &offset) ||
	    !number_arg("LEN", argv[optind + 2], UINT64_MAX - 1, &len))
		return EXIT_USAGE;

	if (open_dev(name, &dev))
		return EXIT_FAILURE;
	if (!check_range(name, dev, offset, &len, "read")) {
		ivshmem_close(dev);
		return EXIT_FAILURE;
	}
	if (len) {
		ret = map_range(dev, offset, len, IVSHMEM_MAP_READONLY, &p);
		if (ret) {
			ivshmem_close(dev);
			return fail(name, "map", ret);
		}
		if (fwrite(p, 1, len, stdout) != len) {
			ret = -errno;
			ivshmem_close(dev);
			return fail("stdout", "write", ret);
		}
	}
	ivshmem_close(dev);
	if (fflush(stdout))
		return fail("stdout", "write", -errno);
	return EXIT_SUCCESS;
}

static int cmd_write(int argc, char **argv)
{
	static const struct option longopts[] = { OPT_HELP, { 0 } };
	struct ivshmem_dev *dev;
	uint64_t offset, len = UINT64_MAX, done = 0;
	unsigned char *p, extra;
	const char *name;
	ssize_t n;
	int c, ret;

	while ((c = next_opt(argc, argv, "h", longopts)) != -1)
		return EXIT_USAGE;
	if (argc - optind < 2)
		return usage_error("missing %s", argc - optind < 1 ? "DEV" : "OFFSET");
	if (argc - optind > 2)
		return usage_error("unexpected argument '%s'", argv[optind + 2]);
	name = argv[optind];
	if (!number_arg("OFFSET", argv[optind + 1], UINT64_MAX, &offset))
		return EXIT_USAGE;

	if (open_dev(name, &dev))
		return EXIT_FAILURE;
	if (!check_range(name, dev, offset, &len, "write") || !len) {
		ivshmem_close(dev);
		return len ? EXIT_FAILURE :
			fail(name, "write", -ENOSPC);	/* at the very end */
	}
	ret = map_range(dev, offset, len, 0, &p);
	if (ret) {
		ivshmem_close(dev);
		return fail(name, "map", ret);
	}
	/* stdin straight into the memory, until EOF or the end of it */
	while (done < len) {
		size_t want = len - done > (1 << 20) ? (1 << 20) : len - done;

		n = read(STDIN_FILENO, p + done, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			ivshmem_close(dev);
			return fail("stdin", "read", ret);
		}
		if (!n)
			break;
		done += n;
	}
	if (done == len) {
		do {
			n = read(STDIN_FILENO, &extra, 1);
		} while (n < 0 && errno == EINTR);
		if (n > 0) {
			ivshmem_close(dev);
			fprintf(stderr, PROG ": %s: write: %s (input longer than the %" PRIu64
				" bytes from offset 0x%" PRIx64 " to the end; they were written)\n",
				name, strerror(ENOSPC), len, offset);
			return EXIT_FAILURE;
		}
	}
	ivshmem_close(dev);
	return EXIT_SUCCESS;
}

/* ---------------------------------------------------------------------- */
/* ring, wait                                                              */

static int cmd_ring(int argc, char **argv)
{
	static const struct option longopts[] = {
		OPT_HELP, { "mmio", no_argument, NULL, 'm' }, { 0 }
	};
	struct ivshmem_info info = { 0 };
	struct ivshmem_dev *dev;
	uint64_t peer, vector = 0;
	const char *name;
	bool mmio = false;
	int c, ret;

	while ((c = next_opt(argc, argv, "hm", longopts)) != -1) {
		if (c == '?')
			return EXIT_USAGE;
		mmio = true;
	}
	if (argc - optind < 2)
		return usage_error("missing %s", argc - optind < 1 ? "DEV" : "PEER");
	if (argc - optind > 3)
		return usage_error("unexpected argument '%s'", argv[optind + 3]);
	name = argv[optind];
	if (!number_arg("PEER", argv[optind + 1], IVSHMEM_MAX_PEER_ID, &peer))
		return EXIT_USAGE;
	if (argc - optind == 3 &&
	    !number_arg("VECTOR", argv[optind + 2], IVSHMEM_MAX_RING_VECTOR, &vector))
		return EXIT_USAGE;

	if (open_dev(name, &dev))
		return EXIT_FAILURE;
	ret = ivshmem_get_info(dev, &info);
	if (!ret)
		ret = mmio ? ivshmem_ring_mmio(dev, peer, vector) :
			ivshmem_ring(dev, peer, vector);
	ivshmem_close(dev);
	if (ret == -EOPNOTSUPP && (info.flags & IVSHMEM_INFO_DOORBELL)) {
		fprintf(stderr, PROG ": %s: ring: %s (the driver offers no register page)\n",
			name, strerror(EOPNOTSUPP));
		return EXIT_FAILURE;
	}
	return ret ? fail_dev(name, "ring", ret) : EXIT_SUCCESS;
}

static int cmd_wait(int argc, char **argv)
{
	static const struct option longopts[] = {
		OPT_HELP, { "timeout", required_argument, NULL, 't' }, { 0 }
	};
	uint64_t mask = 0, fired = 0, v, timeout = UINT64_MAX;
	struct ivshmem_info info = { 0 };
	struct ivshmem_dev *dev;
	const char *name;
	int c, i, ret;

	while ((c = next_opt(argc, argv, "ht:", longopts)) != -1) {
		if (c == '?')
			return EXIT_USAGE;
		if (!number_arg("--timeout", optarg, INT_MAX, &timeout))
			return EXIT_USAGE;
	}
	if (optind >= argc)
		return usage_error("missing DEV");
	name = argv[optind];
	for (i = optind + 1; i < argc; i++) {
		if (!number_arg("VECTOR", argv[i], IVSHMEM_MAX_LISTEN_VECTORS - 1, &v))
			return EXIT_USAGE;
		mask |= 1ULL << v;
	}

	if (open_dev(name, &dev))
		return EXIT_FAILURE;
	ret = ivshmem_get_info(dev, &info);
	if (!ret)
		ret = ivshmem_listen(dev, mask ? mask : IVSHMEM_VECTORS_ALL);
	if (!ret)
		ret = ivshmem_wait(dev, IVSHMEM_VECTORS_ALL,
				   timeout == UINT64_MAX ? -1 : (int)timeout, &fired);
	ivshmem_close(dev);
	if (ret == -ETIMEDOUT) {
		fprintf(stderr, PROG ": %s: wait: timed out after %" PRIu64 " ms\n",
			name, timeout);
		return EXIT_TIMEOUT;
	}
	if (ret == -EINVAL) {
		fprintf(stderr, PROG ": %s: wait: %s (the device has %" PRIu32 " vectors)\n",
			name, strerror(EINVAL), info.nr_vectors);
		return EXIT_FAILURE;
	}
	if (ret)
		return fail_dev(name, "wait", ret);
	for (v = 0; v < IVSHMEM_MAX_LISTEN_VECTORS; v++)
		if (fired >> v & 1)
			printf("vector %" PRIu64 "\n", v);
	return EXIT_SUCCESS;
}

static int cmd_bench(int argc, char **argv)
{
	static const struct option longopts[] = { OPT_HELP, { 0 } };
	int c;

	while ((c = next_opt(argc, argv, "h", longopts)) != -1)
		return EXIT_USAGE;
	fprintf(stderr, PROG ": bench: not yet implemented\n");
	return EXIT_FAILURE;
}

/* ---------------------------------------------------------------------- */

static const struct command commands[] = {
	{ "list", cmd_list, "[--json]",
	  "List the ivshmem devices: node, PCI address, size, peer id, vectors.\n"
	  "  --json    one JSON array of objects (index, node, pci_address, size,\n"
	  "            peer_id, vectors, revision)\n" },
	{ "info", cmd_info, "DEV [--json]",
	  "Describe one device: node, index, PCI address, size, peer id, vectors,\n"
	  "revision, doorbell and register-page support, interrupts per vector.\n"
	  "  --json    one JSON object\n" },
	{ "dump", cmd_dump, "DEV [OFFSET [LEN]] [--no-squeeze]",
	  "Hex dump of the shared memory, as 'hexdump -C' prints it, with device\n"
	  "offsets. OFFSET defaults to 0, LEN to the rest of the memory.\n"
	  "  -v, --no-squeeze   print repeated lines instead of '*'\n" },
	{ "read", cmd_read, "DEV OFFSET LEN",
	  "Copy LEN bytes of the shared memory from OFFSET to stdout, raw.\n" },
	{ "write", cmd_write, "DEV OFFSET",
	  "Copy stdin into the shared memory from OFFSET on, until end of input.\n"
	  "Input longer than the memory is an error (what fits is written).\n" },
	{ "ring", cmd_ring, "DEV PEER [VECTOR] [--mmio]",
	  "Interrupt peer PEER on VECTOR (default 0); the own peer id rings oneself.\n"
	  "Needs an ivshmem-doorbell device.\n"
	  "  --mmio    store to the mapped doorbell register instead of the ioctl\n" },
	{ "wait", cmd_wait, "DEV [VECTOR...] [--timeout MS]",
	  "Wait until one of the VECTORs (default: all of the device's, up to 64)\n"
	  "fires and print 'vector N' for each that did. Rings sent before the\n"
	  "command started listening are not seen.\n"
	  "  -t, --timeout MS   give up after MS milliseconds: exit status 3\n" },
	{ "bench", cmd_bench, "...",
	  "Benchmarks (not yet implemented).\n" },
};

#define NCOMMANDS	(sizeof(commands) / sizeof(commands[0]))

static void global_help(FILE *f)
{
	size_t i;

	fprintf(f, "usage: " PROG " [--help] [--version] COMMAND [ARGS]\n\n"
		"Use QEMU ivshmem devices (/dev/ivshmemN) from the guest.\n\nCommands:\n");
	for (i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-6s %s\n", commands[i].name, commands[i].synopsis);
	fprintf(f, "\nDEV is an index (0), a device node (/dev/ivshmem0) or a PCI address\n"
		"(0000:00:04.0). Numbers are decimal or 0x hexadecimal, with an optional\n"
		"K, M, G or T suffix (powers of 1024).\n"
		"'" PROG " COMMAND --help' describes a command.\n\n"
		"Exit status: 0 success, 1 error, 2 usage error, 3 wait timed out.\n");
}

int main(int argc, char **argv)
{
	size_t i;

	if (argc < 2) {
		global_help(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		if (argc > 2 && strcmp(argv[1], "help") == 0) {
			for (i = 0; i < NCOMMANDS; i++)
				if (!strcmp(argv[2], commands[i].name))
					printf("usage: " PROG " %s %s\n\n%s", commands[i].name,
					       commands[i].synopsis, commands[i].help);
			return EXIT_SUCCESS;
		}
		global_help(stdout);
		return EXIT_SUCCESS;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf(PROG " " VERSION_STR "\n");
		return EXIT_SUCCESS;
	}
	for (i = 0; i < NCOMMANDS; i++) {
		if (strcmp(argv[1], commands[i].name))
			continue;
		cur = &commands[i];
		return cur->run(argc - 1, argv + 1);
	}
	if (argv[1][0] == '-')
		usage_error("unknown option '%s'", argv[1]);
	else
		usage_error("unknown command '%s'", argv[1]);
	return EXIT_USAGE;
}
