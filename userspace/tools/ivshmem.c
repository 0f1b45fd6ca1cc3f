// SPDX-License-Identifier: MIT
/*
 * ivshmem - look at and use QEMU ivshmem devices from the guest, and join
 * an ivshmem-server as a peer from the host, through libivshmem. See
 * ivshmem(1).
 *
 * Exit status: 0 success, 1 runtime error, 2 usage error, 3 wait timed out.
 * Errors go to stderr as "ivshmem: DEV: operation: reason", or for the
 * host side "ivshmem: peer SOCKET: operation: reason".
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <sys/random.h>

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

static void command_help(const struct command *c)
{
	printf("usage: " PROG " %s%s%s\n\n%s", c->name, *c->synopsis ? " " : "",
	       c->synopsis, c->help);
}

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
		command_help(cur);
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
 * The byte-level work of dump, read and write is shared by the guest
 * commands (memory of a /dev/ivshmemN) and the host-peer ones (memory of
 * an ivshmem-server); @where names the memory in messages: "DEV" or
 * "peer SOCKET".
 */

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

/* OFFSET and LEN (optional: UINT64_MAX for "to the end") against @size */
static bool check_range(const char *where, uint64_t size, uint64_t offset,
			uint64_t *len, const char *op)
{
	if (offset > size || (*len != UINT64_MAX && *len > size - offset)) {
		fprintf(stderr, PROG ": %s: %s: range 0x%" PRIx64 "+0x%" PRIx64
			" is beyond the memory (0x%" PRIx64 " bytes)\n", where, op, offset,
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

/* hexdump -C of @len bytes at @p, numbered from @offset. Return: exit status */
static int dump_bytes(const unsigned char *p, uint64_t offset, uint64_t len, bool squeeze)
{
	const unsigned char *prev = NULL;
	bool starred = false;
	uint64_t pos;

	/* identical full lines after the first become one '*' */
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
	if (fflush(stdout) || ferror(stdout))
		return fail("stdout", "write", -errno);
	return EXIT_SUCCESS;
}

/* @len bytes at @p to stdout, raw. Return: exit status */
static int read_bytes(const unsigned char *p, uint64_t len)
{
	if (len && fwrite(p, 1, len, stdout) != len)
		return fail("stdout", "write", -errno);
	if (fflush(stdout))
		return fail("stdout", "write", -errno);
	return EXIT_SUCCESS;
}

/*
 * stdin into the @len bytes at @p (@offset in the memory, for messages),
 * until EOF or the end of them; input left over is an error. Return: exit
 * status
 */
static int write_bytes(const char *where, unsigned char *p, uint64_t offset, uint64_t len)
{
	uint64_t done = 0;
	unsigned char extra;
	ssize_t n;

	while (done < len) {
		size_t want = len - done > (1 << 20) ? (1 << 20) : len - done;

		n = read(STDIN_FILENO, p + done, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fail("stdin", "read", -errno);
		if (!n)
			break;
		done += n;
	}
	if (done == len) {
		do {
			n = read(STDIN_FILENO, &extra, 1);
		} while (n < 0 && errno == EINTR);
		if (n > 0) {
			fprintf(stderr, PROG ": %s: write: %s (input longer than the %" PRIu64
				" bytes from offset 0x%" PRIx64 " to the end; they were written)\n",
				where, strerror(ENOSPC), len, offset);
			return EXIT_FAILURE;
		}
	}
	return EXIT_SUCCESS;
}

/* the arguments of dump: [OFFSET [LEN]], then nothing */
static bool dump_args(int argc, char **argv, uint64_t *offset, uint64_t *len)
{
	*offset = 0;
	*len = UINT64_MAX;
	if (optind < argc && !number_arg("OFFSET", argv[optind++], UINT64_MAX, offset))
		return false;
	if (optind < argc && !number_arg("LEN", argv[optind++], UINT64_MAX, len))
		return false;
	if (optind < argc) {
		usage_error("unexpected argument '%s'", argv[optind]);
		return false;
	}
	return true;
}

static int cmd_dump(int argc, char **argv)
{
	static const struct option longopts[] = {
		OPT_HELP, { "no-squeeze", no_argument, NULL, 'v' }, { 0 }
	};
	struct ivshmem_dev *dev;
	uint64_t offset, len;
	bool squeeze = true;
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
	if (!dump_args(argc, argv, &offset, &len))
		return EXIT_USAGE;

	if (open_dev(name, &dev))
		return EXIT_FAILURE;
	if (!check_range(name, ivshmem_size(dev), offset, &len, "dump")) {
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
	ret = dump_bytes(p, offset, len, squeeze);
	ivshmem_close(dev);
	return ret;
}

static int cmd_read(int argc, char **argv)
{
	static const struct option longopts[] = { OPT_HELP, { 0 } };
	struct ivshmem_dev *dev;
	uint64_t offset, len;
	unsigned char *p = NULL;
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
	if (!check_range(name, ivshmem_size(dev), offset, &len, "read")) {
		ivshmem_close(dev);
		return EXIT_FAILURE;
	}
	if (len) {
		ret = map_range(dev, offset, len, IVSHMEM_MAP_READONLY, &p);
		if (ret) {
			ivshmem_close(dev);
			return fail(name, "map", ret);
		}
	}
	ret = read_bytes(p, len);
	ivshmem_close(dev);
	return ret;
}

static int cmd_write(int argc, char **argv)
{
	static const struct option longopts[] = { OPT_HELP, { 0 } };
	struct ivshmem_dev *dev;
	uint64_t offset, len = UINT64_MAX;
	unsigned char *p;
	const char *name;
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
	if (!check_range(name, ivshmem_size(dev), offset, &len, "write") || !len) {
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
	ret = write_bytes(name, p, offset, len);
	ivshmem_close(dev);
	return ret;
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

/* create @path (--ready): the command listens from now on */
static int say_ready(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0 || close(fd) < 0)
		return -errno;
	return 0;
}

static int cmd_wait(int argc, char **argv)
{
	static const struct option longopts[] = {
		OPT_HELP, { "timeout", required_argument, NULL, 't' },
		{ "ready", required_argument, NULL, 'r' }, { 0 }
	};
	uint64_t mask = 0, fired = 0, v, timeout = UINT64_MAX;
	struct ivshmem_info info = { 0 };
	const char *name, *ready = NULL;
	struct ivshmem_dev *dev;
	int c, i, ret;

	while ((c = next_opt(argc, argv, "ht:r:", longopts)) != -1) {
		if (c == '?')
			return EXIT_USAGE;
		if (c == 'r') {
			if (!*optarg)
				return usage_error("--ready: an empty file name");
			ready = optarg;
			continue;
		}
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
	if (!ret && ready) {
		ret = say_ready(ready);
		if (ret) {
			ivshmem_close(dev);
			return fail(ready, "wait: --ready", ret);
		}
	}
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

/* ---------------------------------------------------------------------- */
/* bench                                                                   */

/*
 * Two processes, normally in two guests on one ivshmem-server, each run
 * `ivshmem bench DEV --role A|B`; A measures round trips, B answers. They
 * meet in BENCH_AREA bytes of the shared memory at --offset:
 *
 *   side[A], side[B]  one cache line each, written only by that role:
 *                     session (a random number, published last), partner
 *                     (the other's session), magic, version, peer id, the
 *                     vector it sleeps on, the phase it reached
 *   mode, rounds, spin_ns   what A measures next (written by A)
 *   seq               A's round counter, its own cache line (written by A)
 *   ack               B's answer, its own cache line (written by B)
 *
 * Meeting: each side retracts its session (0), fills its line, and
 * publishes a fresh random session with a release store. B names A's
 * session as its partner (again whenever A's changes); A, seeing itself
 * named, names B's session as its partner, and B starts when it sees
 * that. A line left behind by a run that crashed names a partner that is
 * gone, so it is never taken for a live one, and the roles may start in
 * either order.
 *
 * Phases: A writes mode/rounds/spin_ns, zeroes seq, and publishes phase k;
 * B reads them, zeroes ack and publishes k; then the round trips: A stores
 * seq = i and rings B; B waits until seq != i - 1, stores ack = i and rings
 * A; A waits until ack != i - 1. Every store the other side waits for is a
 * release, every load an acquire (ivshmem_wait_u64() loads with acquire).
 * After the last phase A publishes BENCH_DONE, which B acknowledges.
 */
#define BENCH_MAGIC	UINT64_C(0x48434e4542535649)	/* "IVSBENCH" */
#define BENCH_VERSION	1
#define BENCH_AREA	4096
#define BENCH_DONE	UINT64_MAX
#define ROLE_A		0
#define ROLE_B		1

enum bench_mode { BENCH_DOORBELL, BENCH_SPIN, BENCH_BUSY, BENCH_MODES };

struct bench_side {
	uint64_t session;	/* 0: absent; published after the rest */
	uint64_t partner;
	uint64_t magic;
	uint32_t version;
	uint32_t peer_id;
	uint32_t vector;
	uint32_t reserved;
	uint64_t phase;
	uint64_t pad[2];
};

struct bench_area {
	struct bench_side side[2];
	uint64_t mode;
	uint64_t rounds;
	uint64_t spin_ns;
	uint64_t pad0[5];
	uint64_t seq __attribute__((aligned(64)));
	uint64_t pad1[7];
	uint64_t ack __attribute__((aligned(64)));
	uint64_t pad2[7];
};

_Static_assert(sizeof(struct bench_side) == 64, "one cache line per side");
_Static_assert(sizeof(struct bench_area) <= BENCH_AREA, "the bench area");

struct bench {
	const char *name;
	struct ivshmem_dev *dev;
	struct bench_area *a;
	struct bench_side *me, *other;
	bool mmio;
	int role, timeout_ms;
	uint32_t my_id, my_vector;
	uint64_t session, partner;	/* own and the other's session */
	uint32_t peer, vector;		/* the other's peer id and vector */
	uint64_t *t;			/* A: round-trip times, ns */
};

static inline uint64_t load_acq(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline void store_rel(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void sleep_us(unsigned int us)
{
	struct timespec ts = { .tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000L };

	nanosleep(&ts, NULL);
}

static uint64_t random_session(void)
{
	uint64_t v = 0;

	if (getrandom(&v, sizeof(v), 0) != sizeof(v))
		v = now_ns() ^ ((uint64_t)getpid() << 32);
	return v ? v : 1;
}

static int bench_error(const struct bench *b, const char *what)
{
	fprintf(stderr, PROG ": %s: bench: %s\n", b->name, what);
	return EXIT_FAILURE;
}

/* the other side's session, if its line is valid; 0 otherwise */
static uint64_t other_session(const struct bench *b)
{
	uint64_t s = load_acq(&b->other->session);

	if (!s || b->other->magic != BENCH_MAGIC || b->other->version != BENCH_VERSION)
		return 0;
	return s;
}

/* (re)publish the own line naming @partner; the session goes last */
static void bench_publish(struct bench *b, uint64_t partner)
{
	store_rel(&b->me->session, 0);
	/* the retraction before any of the rest (a seqlock's write side) */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	b->me->partner = partner;
	b->me->magic = BENCH_MAGIC;
	b->me->version = BENCH_VERSION;
	b->me->peer_id = b->my_id;
	b->me->vector = b->my_vector;
	b->me->reserved = 0;
	b->me->phase = 0;
	store_rel(&b->me->session, b->session);
}

/*
 * Whether the other side's line, whose session read @s, names us as its
 * partner. The partner is read between two reads of the session (a
 * seqlock's read side): B republishes its line (session 0, the fields,
 * the session) when it names A, and a partner read in the middle, with
 * B's session 0 meanwhile, would let A end the meeting and then find B's
 * line absent ("role B left").
 */
static bool other_names_me(const struct bench *b, uint64_t s)
{
	uint64_t partner = load_acq(&b->other->partner);

	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	return partner == b->session &&
	       __atomic_load_n(&b->other->session, __ATOMIC_RELAXED) == s;
}

/* Return: 0 once both sides named each other, or an exit status */
static int bench_meet(struct bench *b)
{
	uint64_t end = now_ns() + (uint64_t)b->timeout_ms * 1000000ULL, s;

	b->session = random_session();
	bench_publish(b, 0);
	for (;; sleep_us(1000)) {
		if (load_acq(&b->me->session) != b->session)
			return bench_error(b, b->role == ROLE_A ?
					   "another role A took over the line" :
					   "another role B took over the line");
		s = other_session(b);
		if (b->role == ROLE_A) {
			if (s && other_names_me(b, s)) {
				b->partner = s;
				store_rel(&b->me->partner, s);
				break;
			}
		} else {
			if (s && s != b->partner) {
				b->partner = s;
				bench_publish(b, s);
			}
			if (s && s == b->partner && load_acq(&b->other->partner) == b->session)
				break;
		}
		if (now_ns() > end)
			return bench_error(b, b->role == ROLE_A ? "no role B came (timed out)" :
					   "no role A came (timed out)");
	}
	b->peer = b->other->peer_id;
	b->vector = b->other->vector;
	return 0;
}

/*
 * Sleep-poll until the other side's phase is @phase (or, @any_change,
 * differs from it).
 *
 * The session is read before the phase. The other side publishes its
 * last phase and then retracts its session as it exits (both release
 * stores), so a phase read after a retracted session is the last one.
 * Read the other way round, A could read B's phase just before B took
 * BENCH_DONE, then B's session just after B left, and fail with "role
 * B left" although B had answered everything: the loopback flake of
 * lib-check (B exited 0, A 1).
 */
static int bench_await(struct bench *b, uint64_t phase, bool any_change)
{
	uint64_t end = now_ns() + (uint64_t)b->timeout_ms * 1000000ULL, k, s;

	for (;; sleep_us(100)) {
		s = load_acq(&b->other->session);
		k = load_acq(&b->other->phase);
		if (any_change ? k != phase : k == phase)
			return 0;
		if (s != b->partner)
			return bench_error(b, b->role == ROLE_A ? "role B left" :
					   "role A left or restarted");
		if (now_ns() > end)
			return bench_error(b, b->role == ROLE_A ?
					   "role B stopped answering (timed out)" :
					   "role A stopped answering (timed out)");
	}
}

/* A: announce phase @k (BENCH_DONE: the end) and wait for B to take it */
static int bench_lead(struct bench *b, uint64_t k, unsigned int mode, uint64_t rounds,
		      uint64_t spin_ns)
{
	if (k != BENCH_DONE) {
		b->a->mode = mode;
		b->a->rounds = rounds;
		b->a->spin_ns = spin_ns;
		store_rel(&b->a->seq, 0);
		/* rings of the last phase that the spin beat */
		ivshmem_drain(b->dev, IVSHMEM_VECTORS_ALL, NULL, NULL);
	}
	store_rel(&b->me->phase, k);
	return bench_await(b, k, false);
}

/* B: wait for the phase after @last, take it. Return: 0 or an exit status */
static int bench_follow(struct bench *b, uint64_t last, uint64_t *k, unsigned int *mode,
			uint64_t *rounds, uint64_t *spin_ns)
{
	int ret = bench_await(b, last, true);

	if (ret)
		return ret;
	*k = load_acq(&b->other->phase);
	if (*k != BENCH_DONE) {
		*mode = (unsigned int)b->a->mode;
		*rounds = b->a->rounds;
		*spin_ns = b->a->spin_ns;
		if (*mode >= BENCH_MODES || !*rounds)
			return bench_error(b, "protocol error: a phase B does not know");
		store_rel(&b->a->ack, 0);
		ivshmem_drain(b->dev, IVSHMEM_VECTORS_ALL, NULL, NULL);
	}
	store_rel(&b->me->phase, *k);
	return 0;
}

static int bench_ring(struct bench *b)
{
	int ret = b->mmio ? ivshmem_ring_mmio(b->dev, b->peer, b->vector) :
		ivshmem_ring(b->dev, b->peer, b->vector);

	return ret ? fail(b->name, "bench: ring", ret) : 0;
}

/* wait until *@word differs from @expected, the way @mode waits */
static int bench_wait(struct bench *b, const uint64_t *word, uint64_t expected,
		      unsigned int mode, uint64_t spin_ns)
{
	uint64_t v = 0, mask = 1ULL << b->my_vector;
	int ret;

	if (mode == BENCH_DOORBELL)
		ret = ivshmem_wait_u64(b->dev, word, expected, 0, mask, b->timeout_ms, &v);
	else if (mode == BENCH_SPIN)
		ret = ivshmem_wait_u64(b->dev, word, expected, spin_ns, mask,
				       b->timeout_ms, &v);
	else	/* spin for the whole timeout: pure busy-polling */
		ret = ivshmem_wait_u64(NULL, word, expected,
				       (uint64_t)b->timeout_ms * 1000000ULL, 0,
				       b->timeout_ms, &v);
	if (ret == -ETIMEDOUT)
		return bench_error(b, "the other side stopped answering (timed out)");
	if (ret)
		return fail(b->name, "bench: wait", ret);
	if (v != expected + 1)
		return bench_error(b, "protocol error: a counter jumped");
	return 0;
}

/* @warm + @rounds round trips; A records the last @rounds in b->t */
static int bench_rounds(struct bench *b, unsigned int mode, uint64_t warm, uint64_t rounds,
			uint64_t spin_ns)
{
	uint64_t i, t0;
	int ret;

	for (i = 1; i <= warm + rounds; i++) {
		if (b->role == ROLE_A) {
			t0 = now_ns();
			store_rel(&b->a->seq, i);
			if (mode != BENCH_BUSY && (ret = bench_ring(b)))
				return ret;
			ret = bench_wait(b, &b->a->ack, i - 1, mode, spin_ns);
			if (ret)
				return ret;
			if (i > warm)
				b->t[i - warm - 1] = now_ns() - t0;
		} else {
			ret = bench_wait(b, &b->a->seq, i - 1, mode, spin_ns);
			if (ret)
				return ret;
			store_rel(&b->a->ack, i);
			if (mode != BENCH_BUSY && (ret = bench_ring(b)))
				return ret;
		}
	}
	return 0;
}

static uint64_t warm_up(uint64_t rounds)
{
	return rounds / 10 < 1 ? 1 : rounds / 10 > 200 ? 200 : rounds / 10;
}

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, c = *(const uint64_t *)y;

	return a < c ? -1 : a > c;
}

/* A: measure every mode, then print the table. Return: exit status */
static int bench_lead_all(struct bench *b, uint64_t rounds, uint64_t spin_ns)
{
	uint64_t median[BENCH_MODES], p99[BENCH_MODES];
	char label[64], spin[32];
	double ratio;
	unsigned int m;
	int ret;

	b->t = calloc(rounds, sizeof(*b->t));
	if (!b->t)
		return fail(b->name, "bench", -ENOMEM);
	for (m = 0; m < BENCH_MODES; m++) {
		ret = bench_lead(b, m + 1, m, rounds, spin_ns);
		if (!ret)
			ret = bench_rounds(b, m, warm_up(rounds), rounds, spin_ns);
		if (ret)
			return ret;
		qsort(b->t, rounds, sizeof(*b->t), cmp_u64);
		median[m] = b->t[rounds / 2];
		p99[m] = b->t[(rounds * 99 + 99) / 100 - 1];
	}
	ret = bench_lead(b, BENCH_DONE, 0, 0, 0);
	if (ret)
		return ret;

	if (spin_ns % 1000)
		snprintf(spin, sizeof(spin), "%" PRIu64 " ns", spin_ns);
	else
		snprintf(spin, sizeof(spin), "%" PRIu64 " us", spin_ns / 1000);
	printf("ivshmem bench: A is peer %" PRIu32 ", B is peer %" PRIu32 "%s; ring by %s;\n"
	       "%" PRIu64 " round trips per row, after %" PRIu64 " not counted\n",
	       b->my_id, b->peer, b->my_id == b->peer ? " (one device: loopback)" : "",
	       b->mmio ? "the mapped register" : "ioctl", rounds, warm_up(rounds));
	printf("%-34s %10s %10s %12s\n", "round trip", "median us", "p99 us", "x busy-poll");
	for (m = 0; m < BENCH_MODES; m++) {
		if (m == BENCH_DOORBELL)
			snprintf(label, sizeof(label), "doorbell, no spin");
		else if (m == BENCH_SPIN)
			snprintf(label, sizeof(label), "spin %s, then doorbell", spin);
		else
			snprintf(label, sizeof(label), "busy-polling");
		ratio = median[BENCH_BUSY] ? (double)median[m] / median[BENCH_BUSY] : 0.0;
		printf("%-34s %10.1f %10.1f %12.*f\n", label, median[m] / 1e3, p99[m] / 1e3,
		       ratio < 10 ? 2 : 1, ratio);
	}
	if (b->my_id == b->peer && sysconf(_SC_NPROCESSORS_ONLN) < 2)
		printf("(both roles on one CPU: a busy-poller waits for the scheduler to\n"
		       " run the other, so busy-polling is the slowest row here)\n");
	if (fflush(stdout))
		return fail("stdout", "write", -errno);
	return EXIT_SUCCESS;
}

/* B: answer whatever A measures, until A is done. Return: exit status */
static int bench_follow_all(struct bench *b)
{
	uint64_t k = 0, rounds = 0, spin_ns = 0, n = 0;
	unsigned int mode = 0;
	int ret;

	for (;;) {
		ret = bench_follow(b, k, &k, &mode, &rounds, &spin_ns);
		if (ret)
			return ret;
		if (k == BENCH_DONE)
			break;
		ret = bench_rounds(b, mode, warm_up(rounds), rounds, spin_ns);
		if (ret)
			return ret;
		n += warm_up(rounds) + rounds;
	}
	printf("ivshmem bench: B is peer %" PRIu32 ", answered %" PRIu64
	       " round trips of A (peer %" PRIu32 ")\n", b->my_id, n, b->peer);
	return EXIT_SUCCESS;
}

static int cmd_bench(int argc, char **argv)
{
	static const struct option longopts[] = {
		OPT_HELP,
		{ "role", required_argument, NULL, 'r' },
		{ "rounds", required_argument, NULL, 'n' },
		{ "spin", required_argument, NULL, 's' },
		{ "offset", required_argument, NULL, 'o' },
		{ "ring", required_argument, NULL, 'R' },
		{ "timeout", required_argument, NULL, 't' },
		{ 0 }
	};
	uint64_t rounds = 2000, spin_ns = 50000, offset = 0, timeout_s = 120, len;
	const char *role = NULL, *ring = NULL;
	struct ivshmem_info info;
	struct bench b = { 0 };
	unsigned char *p;
	int c, ret, status = EXIT_FAILURE;

	while ((c = next_opt(argc, argv, "hr:n:s:o:R:t:", longopts)) != -1) {
		switch (c) {
		case 'r':
			role = optarg;
			break;
		case 'n':
			if (!number_arg("--rounds", optarg, 100000000, &rounds))
				return EXIT_USAGE;
			break;
		case 's':
			if (!number_arg("--spin", optarg, 10000000000ULL, &spin_ns))
				return EXIT_USAGE;
			break;
		case 'o':
			if (!number_arg("--offset", optarg, UINT64_MAX, &offset))
				return EXIT_USAGE;
			break;
		case 'R':
			ring = optarg;
			break;
		case 't':
			if (!number_arg("--timeout", optarg, INT_MAX / 1000, &timeout_s))
				return EXIT_USAGE;
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind >= argc)
		return usage_error("missing DEV");
	if (optind + 1 < argc)
		return usage_error("unexpected argument '%s'", argv[optind + 1]);
	if (!role || (strcmp(role, "A") && strcmp(role, "B")))
		return usage_error("--role A or --role B is required");
	if (ring && strcmp(ring, "ioctl") && strcmp(ring, "mmio"))
		return usage_error("--ring: ioctl or mmio, not '%s'", ring);
	if (!rounds || !timeout_s)
		return usage_error("--rounds and --timeout must be at least 1");
	if (offset % 64)
		return usage_error("--offset: a multiple of 64, not 0x%" PRIx64, offset);
	b.name = argv[optind];
	b.role = *role == 'A' ? ROLE_A : ROLE_B;
	b.timeout_ms = (int)(timeout_s * 1000);

	if (open_dev(b.name, &b.dev))
		return EXIT_FAILURE;
	ret = ivshmem_get_info(b.dev, &info);
	if (ret) {
		fail(b.name, "bench", ret);
		goto out;
	}
	if (!(info.flags & IVSHMEM_INFO_DOORBELL)) {
		fail_dev(b.name, "bench", -EOPNOTSUPP);
		goto out;
	}
	len = BENCH_AREA;
	if (!check_range(b.name, ivshmem_size(b.dev), offset, &len, "bench"))
		goto out;
	if (ring && !strcmp(ring, "mmio") && !(info.flags & IVSHMEM_INFO_REGS_MMAP)) {
		bench_error(&b, "--ring mmio: the driver offers no register page");
		goto out;
	}
	b.mmio = ring ? !strcmp(ring, "mmio") : !!(info.flags & IVSHMEM_INFO_REGS_MMAP);
	b.my_id = info.peer_id;
	/* A sleeps on vector 0, B on vector 1 where there is one: then both
	 * roles can even share one device (two processes in one guest) */
	b.my_vector = b.role == ROLE_B && info.nr_vectors > 1 ? 1 : 0;
	ret = ivshmem_listen(b.dev, 1ULL << b.my_vector);
	if (ret) {
		fail_dev(b.name, "bench: listen", ret);
		goto out;
	}
	ret = map_range(b.dev, offset, BENCH_AREA, 0, &p);
	if (ret) {
		fail(b.name, "map", ret);
		goto out;
	}
	b.a = (struct bench_area *)p;
	b.me = &b.a->side[b.role];
	b.other = &b.a->side[!b.role];

	if (!bench_meet(&b))
		status = b.role == ROLE_A ? bench_lead_all(&b, rounds, spin_ns) :
			bench_follow_all(&b);
	/* retract the line, so that no later run takes it for a live one */
	if (b.session && load_acq(&b.me->session) == b.session)
		store_rel(&b.me->session, 0);
out:
	free(b.t);
	ivshmem_close(b.dev);
	return status;
}

/* ---------------------------------------------------------------------- */
/* peer: the host side, as a peer of an ivshmem-server                     */

#define DEFAULT_SOCKET	"/tmp/ivshmem_socket"	/* QEMU's and the server's default */

/* what `ivshmem peer [-S SOCKET] [--timeout MS]` and the command's options say */
static const char *peer_socket = DEFAULT_SOCKET;
static int64_t peer_timeout = -1;		/* ms, -1: none */
static char peer_where[PATH_MAX + 8];		/* "peer SOCKET", for messages */

/* options every peer command takes, before or after the command */
#define PEER_OPTS	{ "socket", required_argument, NULL, 'S' }, \
			{ "timeout", required_argument, NULL, 't' }

/* handle -S and --timeout; Return: false after a usage error */
static bool peer_common_opt(int c)
{
	uint64_t v;

	if (c == 'S') {
		if (!*optarg) {
			usage_error("-S: an empty socket path");
			return false;
		}
		peer_socket = optarg;
		return true;
	}
	if (!number_arg("--timeout", optarg, INT_MAX, &v))
		return false;
	peer_timeout = (int64_t)v;
	return true;
}

static int peer_fail(const char *op, int err, const char *hint)
{
	if (hint)
		fprintf(stderr, PROG ": %s: %s: %s (%s)\n", peer_where, op, strerror(-err), hint);
	else
		fprintf(stderr, PROG ": %s: %s: %s\n", peer_where, op, strerror(-err));
	return EXIT_FAILURE;
}

/* when --timeout ends the command (now_ns() clock), 0: no --timeout */
static uint64_t peer_end_ns;

/* milliseconds left before peer_end_ns, at most @cap (cap >= 0) */
static int peer_left_ms(int cap)
{
	uint64_t now = now_ns(), left;

	if (!peer_end_ns)
		return cap;
	if (now >= peer_end_ns)
		return 0;
	left = (peer_end_ns - now + 999999) / 1000000;
	return left < (uint64_t)cap ? (int)left : cap;
}

/*
 * Join the server, within --timeout (counted from here, for the whole
 * command) and never longer than the library's default handshake time.
 * Return: 0 or an exit status, the reason printed
 */
static int peer_join(struct ivshmem_peer **p)
{
	int ret;
	const char *hint = NULL;

	if (peer_timeout >= 0 && !peer_end_ns)
		peer_end_ns = now_ns() + (uint64_t)peer_timeout * 1000000ULL;
	ret = ivshmem_peer_connect_timeout(peer_socket,
					   peer_left_ms(IVSHMEM_PEER_CONNECT_TIMEOUT_MS), p);

	if (!ret)
		return 0;
	switch (ret) {
	case -ENOENT:
	case -ECONNREFUSED:
		hint = "is ivshmem-server running there? -S names another socket";
		break;
	case -EACCES:
		hint = "no permission on the socket";
		break;
	case -ENOTSOCK:
		hint = "not a socket";
		break;
	case -EPROTO:
		hint = "not an ivshmem server, or a broken one";
		break;
	case -ETIMEDOUT:
		hint = "the server did not complete the handshake";
		break;
	}
	return peer_fail("connect", ret, hint);
}

/* present peer ids (self excluded), malloc'ed; Return: 0 or an exit status */
static int peer_ids(struct ivshmem_peer *p, uint32_t **ids, size_t *n)
{
	size_t max = 0;

	*ids = NULL;
	for (;;) {
		int ret = ivshmem_peer_list(p, *ids, max, n);

		if (ret) {
			free(*ids);
			return peer_fail("list", ret, NULL);
		}
		if (*n <= max)
			return 0;
		free(*ids);
		max = *n;
		*ids = malloc(max * sizeof(**ids));
		if (!*ids)
			return peer_fail("list", -ENOMEM, NULL);
	}
}

static int peer_info(int argc, char **argv)
{
	static const struct option longopts[] = {
		OPT_HELP, PEER_OPTS, { "json", no_argument, NULL, 'j' }, { 0 }
	};
	struct ivshmem_peer *p;
	bool json = false;
	uint64_t size = 0;
	uint32_t *ids;
	char hsize[32];
	size_t n, i;
	int c, ret;

	while ((c = next_opt(argc, argv, "hS:t:j", longopts)) != -1) {
		if (c == '?' || ((c == 'S' || c == 't') && !peer_common_opt(c)))
			return EXIT_USAGE;
		if (c == 'j')
			json = true;
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	snprintf(peer_where, sizeof(peer_where), "peer %s", peer_socket);
	if ((ret = peer_join(&p)))
		return ret;
	ivshmem_peer_shm_size(p, &size);
	ret = peer_ids(p, &ids, &n);
	if (ret) {
		ivshmem_peer_close(p);
		return ret;
	}
	if (json) {
		printf("{\"socket\": ");
		json_str(peer_socket);
		printf(", \"peer_id\": %d, \"vectors\": %d, \"size\": %" PRIu64 ", \"peers\": [",
		       ivshmem_peer_id(p), ivshmem_peer_vectors(p), size);
		for (i = 0; i < n; i++)
			printf("%s%" PRIu32, i ? ", " : "", ids[i]);
		printf("]}\n");
	} else {
		human_size(size, hsize, sizeof(hsize));
		printf("socket:        %s\n", peer_socket);
		printf("peer id:       %d\n", ivshmem_peer_id(p));
		printf("vectors:       %d\n", ivshmem_peer_vectors(p));
		printf("size:          %" PRIu64 " (%s)\n", size, hsize);
		printf("peers:        ");
		for (i = 0; i < n; i++)
			printf(" %" PRIu32, ids[i]);
		printf("%s\n", n ? "" : " -");
	}
	free(ids);
	ivshmem_peer_close(p);
	if (fflush(stdout))
		return fail("stdout", "write", -errno);
	return EXIT_SUCCESS;
}

static int peer_list(int argc, char **argv)
{
	static const struct option longopts[] = { OPT_HELP, PEER_OPTS, { 0 } };
	struct ivshmem_peer *p;
	uint32_t *ids;
	size_t n, i;
	int c, ret;

	while ((c = next_opt(argc, argv, "hS:t:", longopts)) != -1)
		if (c == '?' || !peer_common_opt(c))
			return EXIT_USAGE;
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	snprintf(peer_where, sizeof(peer_where), "peer %s", peer_socket);
	if ((ret = peer_join(&p)))
		return ret;
	ret = peer_ids(p, &ids, &n);
	ivshmem_peer_close(p);
	if (ret)
		return ret;
	for (i = 0; i < n; i++)
		printf("%" PRIu32 "\n", ids[i]);
	free(ids);
	if (fflush(stdout))
		return fail("stdout", "write", -errno);
	return EXIT_SUCCESS;
}

static int peer_ring(int argc, char **argv)
{
	static const struct option longopts[] = { OPT_HELP, PEER_OPTS, { 0 } };
	struct ivshmem_peer *p;
	uint64_t peer, vector = 0;
	uint32_t *ids;
	size_t n, i;
	int c, ret;

	while ((c = next_opt(argc, argv, "hS:t:", longopts)) != -1)
		if (c == '?' || !peer_common_opt(c))
			return EXIT_USAGE;
	if (argc - optind < 1)
		return usage_error("missing PEER");
	if (argc - optind > 2)
		return usage_error("unexpected argument '%s'", argv[optind + 2]);
	if (!number_arg("PEER", argv[optind], IVSHMEM_PEER_MAX_ID, &peer))
		return EXIT_USAGE;
	if (argc - optind == 2 &&
	    !number_arg("VECTOR", argv[optind + 1], IVSHMEM_PEER_MAX_VECTORS - 1, &vector))
		return EXIT_USAGE;
	snprintf(peer_where, sizeof(peer_where), "peer %s", peer_socket);
	if ((ret = peer_join(&p)))
		return ret;
	ret = ivshmem_peer_ring(p, (uint32_t)peer, (uint32_t)vector);
	if (ret == -ENOENT && !peer_ids(p, &ids, &n)) {
		fprintf(stderr, PROG ": %s: ring: peer %" PRIu64 " is not present (present:",
			peer_where, peer);
		for (i = 0; i < n; i++)
			fprintf(stderr, " %" PRIu32, ids[i]);
		fprintf(stderr, "%s)\n", n ? "" : " none");
		free(ids);
		ret = EXIT_FAILURE;
	} else if (ret == -EINVAL) {
		fprintf(stderr, PROG ": %s: ring: vector %" PRIu64 " is out of range"
			" (the server gives each peer %d vectors)\n", peer_where, vector,
			ivshmem_peer_vectors(p));
		ret = EXIT_FAILURE;
	} else if (ret) {
		ret = peer_fail("ring", ret, NULL);
	}
	ivshmem_peer_close(p);
	return ret;
}

/* the own vectors of the arguments from optind on, or all; 0: error printed */
static uint64_t peer_vector_args(struct ivshmem_peer *p, int argc, char **argv,
				 const char *op)
{
	int nvec = ivshmem_peer_vectors(p), i;
	uint64_t mask = 0, v;

	for (i = optind; i < argc; i++) {
		parse_u64(argv[i], &v);		/* checked by the caller */
		if (v >= (uint64_t)nvec) {
			fprintf(stderr, PROG ": %s: %s: vector %" PRIu64 " is out of range"
				" (the server gives each peer %d vectors)\n", peer_where, op, v, nvec);
			return 0;
		}
		mask |= 1ULL << v;
	}
	return mask ? mask : nvec >= 64 ? ~0ULL : (1ULL << nvec) - 1;
}

static int peer_wait(int argc, char **argv)
{
	static const struct option longopts[] = { OPT_HELP, PEER_OPTS, { 0 } };
	struct ivshmem_peer *p;
	uint64_t mask, fired = 0, v;
	int c, i, ret;

	while ((c = next_opt(argc, argv, "hS:t:", longopts)) != -1)
		if (c == '?' || !peer_common_opt(c))
			return EXIT_USAGE;
	for (i = optind; i < argc; i++)
		if (!number_arg("VECTOR", argv[i], IVSHMEM_PEER_MAX_VECTORS - 1, &v))
			return EXIT_USAGE;
	snprintf(peer_where, sizeof(peer_where), "peer %s", peer_socket);
	if ((ret = peer_join(&p)))
		return ret;
	mask = peer_vector_args(p, argc, argv, "wait");
	if (!mask) {
		ivshmem_peer_close(p);
		return EXIT_FAILURE;
	}
	ret = ivshmem_peer_wait(p, mask, peer_timeout < 0 ? -1 : peer_left_ms(INT_MAX), &fired);
	ivshmem_peer_close(p);
	if (ret == -ETIMEDOUT) {
		fprintf(stderr, PROG ": %s: wait: timed out after %" PRId64 " ms\n",
			peer_where, peer_timeout);
		return EXIT_TIMEOUT;
	}
	if (ret == -ECONNRESET)
		return peer_fail("wait", ret, "the server went away");
	if (ret)
		return peer_fail("wait", ret, NULL);
	for (v = 0; v < IVSHMEM_PEER_MAX_VECTORS; v++)
		if (fired >> v & 1)
			printf("vector %" PRIu64 "\n", v);
	if (fflush(stdout))
		return fail("stdout", "write", -errno);
	return EXIT_SUCCESS;
}

static volatile sig_atomic_t stop_signal;

static void on_stop(int sig)
{
	stop_signal = sig;
}

/* take a pending (blocked) SIGINT or SIGTERM of @set; Return: true if there was one */
static bool watch_signal_pending(const sigset_t *set)
{
	struct timespec zero = { 0, 0 };
	int sig = sigtimedwait(set, NULL, &zero);

	if (sig <= 0)
		return false;
	stop_signal = sig;
	return true;
}

/* one line, flushed at once: watch is read through pipes */
static bool __attribute__((format(printf, 1, 2))) watch_line(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	return fflush(stdout) == 0;
}

/*
 * Print the queued join/leave events, with the vectors in @fired before
 * the first departure: what arrives in one wakeup is most likely a peer
 * that joined, rang and left, in that order. Return: false on a write error
 */
static bool watch_events(struct ivshmem_peer *p, uint64_t fired)
{
	struct ivshmem_peer_event ev;
	bool ok = true, held = false;
	unsigned int v;

	while (ok && ivshmem_peer_next_event(p, &ev) == 0) {
		if (ev.type == IVSHMEM_PEER_LEFT && fired) {
			held = true;
			break;
		}
		if (ev.type == IVSHMEM_PEER_JOINED)
			ok = watch_line("peer %" PRIu32 " joined\n", ev.peer_id);
		else if (ev.type == IVSHMEM_PEER_LEFT)
			ok = watch_line("peer %" PRIu32 " left\n", ev.peer_id);
		else
			ok = watch_line("events lost\n");
	}
	for (v = 0; ok && v < IVSHMEM_PEER_MAX_VECTORS; v++)
		if (fired >> v & 1)
			ok = watch_line("vector %u fired\n", v);
	if (ok && held) {
		/* the departure that stopped the loop above, then the rest */
		ok = watch_line("peer %" PRIu32 " left\n", ev.peer_id);
		if (ok)
			ok = watch_events(p, 0);
	}
	return ok;
}

static int peer_watch(int argc, char **argv)
{
	static const struct option longopts[] = { OPT_HELP, PEER_OPTS, { 0 } };
	struct ivshmem_peer_event ev;
	struct sigaction sa = { .sa_handler = on_stop };
	sigset_t block, orig;
	struct ivshmem_peer *p;
	struct timespec ts, *tsp;
	struct pollfd pfd;
	uint64_t all, fired, end = 0, now;
	uint32_t *ids;
	size_t n, i;
	int c, ret, nvec;
	char size[32];
	uint64_t bytes = 0;

	while ((c = next_opt(argc, argv, "hS:t:", longopts)) != -1)
		if (c == '?' || !peer_common_opt(c))
			return EXIT_USAGE;
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	snprintf(peer_where, sizeof(peer_where), "peer %s", peer_socket);

	/* a reader that went away ends the watch with EPIPE, not a signal */
	signal(SIGPIPE, SIG_IGN);

	/*
	 * While joining, SIGINT and SIGTERM kill as usual (nothing to tidy up),
	 * even where they were ignored (a background job of a script): the
	 * watch takes them from its start to its end.
	 */
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	if ((ret = peer_join(&p)))
		return ret;
	end = peer_end_ns;

	/*
	 * From here on SIGINT and SIGTERM end the watch, delivered only inside
	 * ppoll() (no race between the check and the wait) or taken after it;
	 * everything else in the loop is bounded (ivshmem_peer_wait() with a
	 * timeout of 0 applies at most one batch of server messages), so a
	 * signal is seen within one round however busy the server is.
	 */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &orig);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigdelset(&orig, SIGINT);
	sigdelset(&orig, SIGTERM);
	nvec = ivshmem_peer_vectors(p);
	all = nvec >= 64 ? ~0ULL : (1ULL << nvec) - 1;
	ivshmem_peer_shm_size(p, &bytes);
	human_size(bytes, size, sizeof(size));
	/* the peers present now are not news: list them, drop their events */
	while (ivshmem_peer_next_event(p, &ev) == 0)
		;
	if (!watch_line("joined as peer %d (%d vector%s, %s)\n", ivshmem_peer_id(p), nvec,
			nvec == 1 ? "" : "s", size))
		goto write_error;
	ret = peer_ids(p, &ids, &n);
	if (ret)
		goto out;
	for (i = 0; i < n; i++)
		if (!watch_line("peer %" PRIu32 " present\n", ids[i]))
			break;
	free(ids);
	if (i < n)
		goto write_error;

	pfd.fd = ivshmem_peer_fd(p);
	pfd.events = POLLIN;
	while (!stop_signal) {
		tsp = NULL;
		if (end) {
			now = now_ns();
			if (now >= end)
				break;
			ts.tv_sec = (end - now) / 1000000000ULL;
			ts.tv_nsec = (end - now) % 1000000000ULL;
			tsp = &ts;
		}
		if (ppoll(&pfd, 1, tsp, &orig) < 0 && errno != EINTR) {
			ret = peer_fail("watch", -errno, NULL);
			goto out;
		}
		/*
		 * ppoll() delivers a pending signal only when it waited: when it
		 * returns at once with the socket readable, which a server that
		 * keeps sending makes it do every time, the signal stays pending
		 * (and blocked). Look for it here.
		 */
		if (watch_signal_pending(&block))
			break;
		/* apply the server's messages and take the vectors that fired */
		ret = ivshmem_peer_wait(p, all, 0, &fired);
		if (ret == -ETIMEDOUT)
			fired = 0;
		else if (ret == -ECONNRESET) {
			watch_events(p, 0);
			ret = peer_fail("watch", ret, "the server went away");
			goto out;
		} else if (ret) {
			ret = peer_fail("watch", ret, NULL);
			goto out;
		}
		if (!watch_events(p, fired))
			goto write_error;
	}
	ret = EXIT_SUCCESS;
	goto out;
write_error:
	ret = fail("stdout", "write", -errno);
out:
	ivshmem_peer_close(p);
	return ret;
}

/* join and map the server's memory; Return: 0 or an exit status */
static int peer_map(struct ivshmem_peer **p, unsigned char **mem, uint64_t *size)
{
	void *addr;
	int ret = peer_join(p);

	if (ret)
		return ret;
	ret = ivshmem_peer_map(*p, &addr, size);
	if (ret) {
		ivshmem_peer_close(*p);
		return peer_fail("map", ret, NULL);
	}
	*mem = addr;
	return 0;
}

static int peer_dump(int argc, char **argv)
{
	static const struct option longopts[] = {
		OPT_HELP, PEER_OPTS, { "no-squeeze", no_argument, NULL, 'v' }, { 0 }
	};
	struct ivshmem_peer *p;
	uint64_t offset, len, size;
	bool squeeze = true;
	unsigned char *mem;
	int c, ret;

	while ((c = next_opt(argc, argv, "hS:t:v", longopts)) != -1) {
		if (c == '?' || ((c == 'S' || c == 't') && !peer_common_opt(c)))
			return EXIT_USAGE;
		if (c == 'v')
			squeeze = false;
	}
	if (!dump_args(argc, argv, &offset, &len))
		return EXIT_USAGE;
	snprintf(peer_where, sizeof(peer_where), "peer %s", peer_socket);
	if ((ret = peer_map(&p, &mem, &size)))
		return ret;
	if (!check_range(peer_where, size, offset, &len, "dump"))
		ret = EXIT_FAILURE;
	else if (len)
		ret = dump_bytes(mem + offset, offset, len, squeeze);
	ivshmem_peer_close(p);
	return ret;
}

static int peer_read(int argc, char **argv)
{
	static const struct option longopts[] = { OPT_HELP, PEER_OPTS, { 0 } };
	struct ivshmem_peer *p;
	uint64_t offset, len, size;
	unsigned char *mem;
	int c, ret;

	while ((c = next_opt(argc, argv, "hS:t:", longopts)) != -1)
		if (c == '?' || !peer_common_opt(c))
			return EXIT_USAGE;
	if (argc - optind < 2)
		return usage_error("missing %s", argc - optind < 1 ? "OFFSET" : "LEN");
	if (argc - optind > 2)
		return usage_error("unexpected argument '%s'", argv[optind + 2]);
	if (!number_arg("OFFSET", argv[optind], UINT64_MAX, &offset) ||
	    !number_arg("LEN", argv[optind + 1], UINT64_MAX - 1, &len))
		return EXIT_USAGE;
	snprintf(peer_where, sizeof(peer_where), "peer %s", peer_socket);
	if ((ret = peer_map(&p, &mem, &size)))
		return ret;
	if (!check_range(peer_where, size, offset, &len, "read"))
		ret = EXIT_FAILURE;
	else
		ret = read_bytes(mem + offset, len);
	ivshmem_peer_close(p);
	return ret;
}

static int peer_write(int argc, char **argv)
{
	static const struct option longopts[] = { OPT_HELP, PEER_OPTS, { 0 } };
	struct ivshmem_peer *p;
	uint64_t offset, len = UINT64_MAX, size;
	unsigned char *mem;
	int c, ret;

	while ((c = next_opt(argc, argv, "hS:t:", longopts)) != -1)
		if (c == '?' || !peer_common_opt(c))
			return EXIT_USAGE;
	if (argc - optind < 1)
		return usage_error("missing OFFSET");
	if (argc - optind > 1)
		return usage_error("unexpected argument '%s'", argv[optind + 1]);
	if (!number_arg("OFFSET", argv[optind], UINT64_MAX, &offset))
		return EXIT_USAGE;
	snprintf(peer_where, sizeof(peer_where), "peer %s", peer_socket);
	if ((ret = peer_map(&p, &mem, &size)))
		return ret;
	if (!check_range(peer_where, size, offset, &len, "write"))
		ret = EXIT_FAILURE;
	else if (!len)
		ret = peer_fail("write", -ENOSPC, NULL);	/* at the very end */
	else
		ret = write_bytes(peer_where, mem + offset, offset, len);
	ivshmem_peer_close(p);
	return ret;
}

/* ---------------------------------------------------------------------- */
/* chan: libivshmem's message channels, in guests and on the host          */

/*
 * `ivshmem chan DEV|-S SOCKET [OPTIONS] COMMAND`: the channel set in
 * [--offset, --offset + --length) of the shared memory, joined over a
 * device (guest) or as a peer of an ivshmem-server (host).
 *
 * The CLI's processes recognise each other by a hello: a message of
 * CHAN_HELLO_LEN bytes, "ivshmem-chan" and a role, that each sends to
 * every peer it sees. A sender streams to the first peer that said it
 * receives; a receiver takes the stream of the first peer that said it
 * sends, and ignores everything else. The stream is the sender's stdin in
 * messages of up to the largest message; an empty message ends it; the
 * receiver answers it with an empty message (its acknowledgement), so
 * that the sender leaves only once everything has arrived.
 */
#define CHAN_MAGIC	"ivshmem-chan"
#define CHAN_HELLO_LEN	16
#define CHAN_SLICE_MS	100	/* blocking calls return this often: signals */

enum chan_role { ROLE_NONE, ROLE_SEND, ROLE_RECV, ROLE_BENCH, ROLE_ECHO };
enum chan_create { CREATE_AUTO, CREATE_ALWAYS, CREATE_NEVER };

static bool help_asked;

static struct chan_state {
	const char *dev_name;		/* guest: DEV */
	bool host;			/* -S given */
	struct ivshmem_dev *dev;
	struct ivshmem_peer *peer;
	struct ivshmem_chan *ch;
	struct ivshmem_chan_config cfg;
	enum chan_create create;
	enum chan_role role;
	const char *ready;		/* --ready FILE */
	const char *op;			/* "chan send" etc., for messages */
	int64_t to;			/* --to / --from SLOT, -1: the first */
	bool json;
	uint64_t size, count, rounds;	/* bench */
	bool hello_sent[IVSHMEM_CHAN_MAX_PEERS];
	enum chan_role seen[IVSHMEM_CHAN_MAX_PEERS];	/* their hellos */
	bool evicted;
	bool listen_print;		/* listen: print the events */
	bool print_error;		/* stdout failed in chan_events() */
} cs;

static void chan_where(char *buf, size_t len)
{
	if (cs.host)
		snprintf(buf, len, "peer %s", peer_socket);
	else
		snprintf(buf, len, "%s", cs.dev_name);
}

static int __attribute__((format(printf, 2, 3))) chan_msg(int status, const char *fmt, ...)
{
	char where[PATH_MAX + 8];
	va_list ap;

	chan_where(where, sizeof(where));
	fprintf(stderr, PROG ": %s: %s: ", where, cs.op);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return status;
}

/* the exit status of a failed channel call; one line on stderr */
static int chan_fail(const char *what, int err)
{
	if (err == -EINTR && stop_signal)
		return chan_msg(EXIT_FAILURE, "%s: interrupted by %s", what,
				stop_signal == SIGINT ? "SIGINT" : "SIGTERM");
	if (err == -ETIMEDOUT)
		return chan_msg(EXIT_TIMEOUT, "%s: timed out after %" PRId64 " ms", what,
				peer_timeout);
	if (err == -ENOTCONN && cs.evicted)
		return chan_msg(EXIT_FAILURE, "%s: evicted: the other peers declared this one"
				" dead, or the region was formatted again", what);
	return chan_msg(EXIT_FAILURE, "%s: %s", what, strerror(-err));
}

static uint64_t chan_deadline(void)
{
	return peer_timeout < 0 ? 0 : now_ns() + (uint64_t)peer_timeout * 1000000ULL;
}

/* the next slice of a wait that ends at @deadline (0: never); 0 when over */
static int chan_slice(uint64_t deadline)
{
	uint64_t now, left;

	if (!deadline)
		return CHAN_SLICE_MS;
	now = now_ns();
	if (now >= deadline)
		return 0;
	left = (deadline - now + 999999) / 1000000;
	return left < CHAN_SLICE_MS ? (int)left : CHAN_SLICE_MS;
}

static void chan_hello(uint32_t slot)
{
	char msg[CHAN_HELLO_LEN] = CHAN_MAGIC;

	if (cs.role == ROLE_NONE || slot >= IVSHMEM_CHAN_MAX_PEERS || cs.hello_sent[slot])
		return;
	msg[CHAN_HELLO_LEN - 1] = (char)cs.role;
	/* never waits: a peer whose ring is full does not read anyway */
	if (!ivshmem_chan_send(cs.ch, slot, msg, sizeof(msg), 0, 0))
		cs.hello_sent[slot] = true;
}

/* a hello's role, or ROLE_NONE */
static enum chan_role chan_hello_role(const void *buf, size_t len)
{
	const char *m = buf;

	if (len != CHAN_HELLO_LEN || memcmp(m, CHAN_MAGIC, sizeof(CHAN_MAGIC)) ||
	    m[CHAN_HELLO_LEN - 1] < ROLE_SEND || m[CHAN_HELLO_LEN - 1] > ROLE_ECHO)
		return ROLE_NONE;
	return (enum chan_role)m[CHAN_HELLO_LEN - 1];
}

/* one flushed line for listen; false on a write error */
static bool __attribute__((format(printf, 1, 2))) chan_line(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	if (fflush(stdout)) {
		cs.print_error = true;
		return false;
	}
	return true;
}

/* take the queued events: hello newcomers, forget leavers, print (listen) */
static void chan_events(void)
{
	struct ivshmem_chan_event ev = { .size = sizeof(ev) };
	uint32_t slots[IVSHMEM_CHAN_MAX_PEERS];
	size_t n, i;

	while (ivshmem_chan_next_event(cs.ch, &ev) == 0) {
		ev.size = sizeof(ev);
		switch (ev.type) {
		case IVSHMEM_CHAN_JOINED:
			if (cs.listen_print)
				chan_line("slot %" PRIu32 " joined (peer %" PRIu32 ", generation %"
					  PRIu64 ")\n", ev.slot, ev.peer_id, ev.generation);
			/* (the peers present at our join come as events too: one hello) */
			chan_hello(ev.slot);
			break;
		case IVSHMEM_CHAN_LEFT:
			if (cs.listen_print)
				chan_line("slot %" PRIu32 " left\n", ev.slot);
			if (ev.slot < IVSHMEM_CHAN_MAX_PEERS) {
				cs.hello_sent[ev.slot] = false;
				cs.seen[ev.slot] = ROLE_NONE;
			}
			break;
		case IVSHMEM_CHAN_EVICTED:
			if (cs.listen_print)
				chan_line("evicted\n");
			cs.evicted = true;
			break;
		default:
			if (cs.listen_print)
				chan_line("events lost\n");
			/* hello whoever is there */
			if (!ivshmem_chan_peers(cs.ch, slots, IVSHMEM_CHAN_MAX_PEERS, &n))
				for (i = 0; i < n && i < IVSHMEM_CHAN_MAX_PEERS; i++)
					chan_hello(slots[i]);
			break;
		}
	}
}

static void chan_close(void)
{
	ivshmem_chan_close(cs.ch);
	cs.ch = NULL;
	ivshmem_close(cs.dev);
	cs.dev = NULL;
	ivshmem_peer_close(cs.peer);
	cs.peer = NULL;
}

/* open the device or join the server; Return: 0 or an exit status */
static int chan_transport(void)
{
	if (cs.host)
		return peer_join(&cs.peer);
	return open_dev(cs.dev_name, &cs.dev) ? EXIT_FAILURE : 0;
}

/*
 * Join the region: attach, or format it when it holds no channel set
 * (after a short grace: someone may be formatting it), as --create and
 * --attach say. Return: 0 or an exit status, the reason printed.
 */
static int chan_join(void)
{
	uint64_t deadline = chan_deadline(), grace = now_ns() + 200000000ULL;
	uint32_t slots[IVSHMEM_CHAN_MAX_PEERS];
	size_t n, i;
	int ret;

	ret = chan_transport();
	if (ret)
		return ret;
	for (;;) {
		if (cs.create == CREATE_ALWAYS)
			ret = cs.host ? ivshmem_chan_create_host(cs.peer, &cs.cfg, &cs.ch) :
				ivshmem_chan_create(cs.dev, &cs.cfg, &cs.ch);
		else
			ret = cs.host ? ivshmem_chan_attach_host(cs.peer, &cs.cfg, &cs.ch) :
				ivshmem_chan_attach(cs.dev, &cs.cfg, &cs.ch);
		if (ret != -EAGAIN)
			break;
		if (cs.create == CREATE_AUTO && now_ns() >= grace) {
			cs.create = CREATE_ALWAYS;
			continue;
		}
		if (stop_signal) {
			ret = -EINTR;
			break;
		}
		if (!chan_slice(deadline)) {
			ret = -ETIMEDOUT;
			break;
		}
		sleep_us(10000);
	}
	if (ret) {
		const char *hint = ret == -EPROTO ?
			" (the region holds a damaged channel set or another layout:"
			" --create formats it)" :
			ret == -EUSERS ? " (every slot is taken)" :
			ret == -ERANGE ? " (the region lies beyond the shared memory)" :
			ret == -EOPNOTSUPP ? " (no such doorbell vector: --vector)" : "";

		if (ret == -ETIMEDOUT)
			chan_msg(EXIT_TIMEOUT, "attach: nobody formatted the region within %"
				 PRId64 " ms", peer_timeout);
		else if (ret == -EINTR)
			chan_fail("attach", ret);
		else
			chan_msg(EXIT_FAILURE, "%s: %s%s", cs.create == CREATE_ALWAYS ?
				 "create" : "attach", strerror(-ret), hint);
		chan_close();
		return ret == -ETIMEDOUT ? EXIT_TIMEOUT : EXIT_FAILURE;
	}
	if (cs.ready && (ret = say_ready(cs.ready))) {
		fail(cs.ready, "chan: --ready", ret);
		chan_close();
		return EXIT_FAILURE;
	}
	if (!ivshmem_chan_peers(cs.ch, slots, IVSHMEM_CHAN_MAX_PEERS, &n))
		for (i = 0; i < n && i < IVSHMEM_CHAN_MAX_PEERS; i++)
			chan_hello(slots[i]);
	return 0;
}

/*
 * Run a blocking channel call in slices until it does something other
 * than time out, the deadline passes (-ETIMEDOUT) or a signal came
 * (-EINTR); events are taken between slices. @CALL uses ms_ as timeout.
 */
#define CHAN_WAIT(ret, deadline, CALL)					\
	for (;;) {							\
		int ms_ = chan_slice(deadline);				\
									\
		if (stop_signal) {					\
			(ret) = -EINTR;					\
			break;						\
		}							\
		if (!ms_) {						\
			(ret) = -ETIMEDOUT;				\
			break;						\
		}							\
		(ret) = (CALL);						\
		chan_events();						\
		if ((ret) == -ENOTCONN && cs.evicted)			\
			break;						\
		if ((ret) != -ETIMEDOUT && (ret) != -EINTR && (ret) != -EAGAIN) \
			break;						\
	}

/*
 * Wait for a peer that said @want (or --to / --from), reading the hellos.
 * Return: its slot, or a negative errno.
 */
static int64_t chan_partner(enum chan_role want)
{
	uint64_t deadline = chan_deadline();
	char buf[CHAN_HELLO_LEN];
	uint32_t src;
	size_t len;
	int ret;

	for (;;) {
		if (cs.to >= 0 && cs.seen[cs.to] == want)
			return cs.to;
		if (cs.to < 0)
			for (src = 0; src < IVSHMEM_CHAN_MAX_PEERS; src++)
				if (cs.seen[src] == want)
					return src;
		CHAN_WAIT(ret, deadline, ivshmem_chan_recv(cs.ch, IVSHMEM_CHAN_ANY, buf,
							   sizeof(buf), &len, &src, ms_));
		if (ret == -EMSGSIZE) {
			/* not a hello: drop it */
			const void *p;

			if (!ivshmem_chan_peek(cs.ch, src, &p, &len, &src, 0))
				ivshmem_chan_release(cs.ch, src);
			continue;
		}
		if (ret == -ENOTCONN && !cs.evicted)
			continue;	/* what a leaver left: read */
		if (ret)
			return ret;
		if (src < IVSHMEM_CHAN_MAX_PEERS && chan_hello_role(buf, len) != ROLE_NONE) {
			cs.seen[src] = chan_hello_role(buf, len);
			chan_hello(src);	/* it may have come before its join event */
		}
	}
}

static const char *chan_role_name(enum chan_role r)
{
	return r == ROLE_SEND ? "sender" : r == ROLE_RECV ? "receiver" :
		r == ROLE_ECHO ? "bench --echo" : "bench";
}

/* the partner, or an exit status (negative: no partner) in *@status */
static bool chan_find(enum chan_role want, uint32_t *slot, int *status)
{
	int64_t r = chan_partner(want);

	if (r >= 0) {
		*slot = (uint32_t)r;
		return true;
	}
	if (r == -ETIMEDOUT)
		*status = chan_msg(EXIT_TIMEOUT, "no %s%s came within %" PRId64 " ms",
				   chan_role_name(want), cs.to >= 0 ? " in that slot" : "",
				   peer_timeout);
	else
		*status = chan_fail(want == ROLE_RECV ? "waiting for a receiver" :
				    "waiting for a sender", (int)r);
	return false;
}

/* poll stdin for up to @ms; Return: 1 readable, 0 not yet, -errno */
static int chan_poll_in(int ms)
{
	struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
	int n = poll(&pfd, 1, ms);

	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	return n > 0;
}

static int chan_send(void)
{
	size_t max = ivshmem_chan_max_msg(cs.ch), len;
	uint64_t deadline;
	uint32_t to, src;
	bool eof = false;
	int status, ret;
	char ack[CHAN_HELLO_LEN];
	void *buf;

	if (!chan_find(ROLE_RECV, &to, &status))
		return status;
	while (!eof) {
		/* wait for input, beating the heartbeat meanwhile */
		deadline = chan_deadline();
		for (;;) {
			int ms = chan_slice(deadline);

			if (stop_signal)
				return chan_fail("read", -EINTR);
			if (!ms)
				return chan_fail("waiting for input", -ETIMEDOUT);
			ret = chan_poll_in(ms);
			if (ret < 0)
				return fail("stdin", "read", ret);
			if (ret)
				break;
			ret = ivshmem_chan_process(cs.ch);
			chan_events();
			if (ret)
				return chan_fail("send", ret);
		}
		deadline = chan_deadline();
		CHAN_WAIT(ret, deadline, ivshmem_chan_reserve(cs.ch, to, max, &buf, ms_));
		if (ret)
			return chan_fail("send", ret);
		/* read straight into the ring, as much as is there */
		len = 0;
		while (len < max) {
			ssize_t n = read(STDIN_FILENO, (char *)buf + len, max - len);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return fail("stdin", "read", -errno);
			if (n == 0) {
				eof = true;
				break;
			}
			len += (size_t)n;
			if (chan_poll_in(0) <= 0)
				break;
		}
		if (len) {
			ret = ivshmem_chan_commit(cs.ch, to, len, 0);
			if (ret)
				return chan_fail("send", ret);
		}
	}
	/* the end of the stream: an empty message */
	deadline = chan_deadline();
	CHAN_WAIT(ret, deadline, ivshmem_chan_send(cs.ch, to, NULL, 0, 0, ms_));
	if (ret)
		return chan_fail("send", ret);
	/* leave once the receiver has it all: its empty answer, or its leaving */
	deadline = chan_deadline();
	for (;;) {
		CHAN_WAIT(ret, deadline, ivshmem_chan_recv(cs.ch, to, ack, sizeof(ack), &len,
							   &src, ms_));
		if (ret == -EMSGSIZE) {
			const void *p;

			if (!ivshmem_chan_peek(cs.ch, to, &p, &len, &src, 0))
				ivshmem_chan_release(cs.ch, src);
			continue;
		}
		if (ret == -ENOTCONN && !cs.evicted)
			return EXIT_SUCCESS;	/* it left: it had read everything */
		if (ret)
			return chan_fail("waiting for the receiver's acknowledgement", ret);
		if (!len)
			return EXIT_SUCCESS;
	}
}

static int chan_recv(void)
{
	uint64_t deadline;
	uint32_t from, src;
	const void *buf;
	size_t len, done;
	int status, ret;

	if (!chan_find(ROLE_SEND, &from, &status))
		return status;
	for (;;) {
		deadline = chan_deadline();
		CHAN_WAIT(ret, deadline, ivshmem_chan_peek(cs.ch, from, &buf, &len, &src, ms_));
		if (ret == -ENOTCONN && !cs.evicted)
			return chan_msg(EXIT_FAILURE, "the sender (slot %" PRIu32 ") left before"
					" the end of the stream", from);
		if (ret)
			return chan_fail("recv", ret);
		for (done = 0; done < len; ) {
			ssize_t n = write(STDOUT_FILENO, (const char *)buf + done, len - done);

			if (n < 0 && errno == EINTR && !stop_signal)
				continue;
			if (n < 0) {
				ivshmem_chan_release(cs.ch, src);
				return fail("stdout", "write", -errno);
			}
			done += (size_t)n;
		}
		ivshmem_chan_release(cs.ch, src);
		if (!len)
			break;
	}
	/* acknowledge the end; the sender also takes our leaving for one */
	ivshmem_chan_send(cs.ch, from, NULL, 0, 0, 0);
	return EXIT_SUCCESS;
}

static int chan_listen(void)
{
	uint32_t slots[IVSHMEM_CHAN_MAX_PEERS];
	uint64_t deadline = chan_deadline();
	char buf[CHAN_HELLO_LEN];
	struct pollfd pfd;
	size_t n, i, len;
	uint32_t src;
	int ret, ms;

	/* the peers present now are listed, their events dropped */
	while (ivshmem_chan_next_event(cs.ch, &(struct ivshmem_chan_event){
		.size = sizeof(struct ivshmem_chan_event) }) == 0)
		;
	ret = ivshmem_chan_peers(cs.ch, slots, IVSHMEM_CHAN_MAX_PEERS, &n);
	if (ret)
		return chan_fail("peers", ret);
	if (!chan_line("joined as slot %d (%d slots, messages up to %zu bytes)\n",
		       ivshmem_chan_self(cs.ch), ivshmem_chan_max_peers(cs.ch),
		       ivshmem_chan_max_msg(cs.ch)))
		return fail("stdout", "write", -errno);
	for (i = 0; i < n && i < IVSHMEM_CHAN_MAX_PEERS; i++)
		if (!chan_line("slot %" PRIu32 " present (peer %d)\n", slots[i],
			       ivshmem_chan_peer_id(cs.ch, slots[i])))
			return fail("stdout", "write", -errno);
	cs.listen_print = true;
	pfd.fd = ivshmem_chan_fd(cs.ch);
	pfd.events = POLLIN;
	while (!stop_signal && (ms = chan_slice(deadline))) {
		if (poll(&pfd, 1, ms) < 0 && errno != EINTR)
			return chan_fail("poll", -errno);
		ret = ivshmem_chan_process(cs.ch);
		chan_events();
		if (cs.print_error)
			return fail("stdout", "write", -EPIPE);
		if (ret == -ENOTCONN)
			return chan_fail("listen", ret);
		if (ret)
			return chan_fail("listen", ret);
		/* whatever is sent to us (hellos) is dropped */
		while ((ret = ivshmem_chan_recv(cs.ch, IVSHMEM_CHAN_ANY, buf, sizeof(buf), &len,
						&src, 0)) == 0 || ret == -EMSGSIZE) {
			const void *p;

			if (ret == -EMSGSIZE && !ivshmem_chan_peek(cs.ch, src, &p, &len, &src, 0))
				ivshmem_chan_release(cs.ch, src);
		}
	}
	return EXIT_SUCCESS;
}

/* ---- stat: the layout, read from the memory, untrusted ---- */

static uint64_t ld64(const unsigned char *p)
{
	return __atomic_load_n((const uint64_t *)p, __ATOMIC_ACQUIRE);
}

static uint32_t ld32(const unsigned char *p)
{
	return __atomic_load_n((const uint32_t *)p, __ATOMIC_ACQUIRE);
}

static int chan_stat(void)
{
	static const char *const states[] = { "free", "joining", "active" };
	uint64_t size = 0, len, region_size, slots_off, rings_off, stride, pres, head, tail;
	uint32_t magic, state, major, minor, peers, ring_size, i, j, st;
	unsigned char *mem = NULL, *r;
	void *addr;
	bool first = true;
	int ret;

	ret = chan_transport();
	if (ret)
		return ret;
	if (cs.host) {
		ret = ivshmem_peer_map(cs.peer, &addr, &size);
		mem = addr;
	} else {
		size = ivshmem_size(cs.dev);
	}
	len = cs.cfg.length ? cs.cfg.length : size - (cs.cfg.offset < size ? cs.cfg.offset : size);
	if (!ret && (cs.cfg.offset > size || len > size - cs.cfg.offset || len < 256)) {
		chan_msg(EXIT_FAILURE, "the region 0x%" PRIx64 "+0x%" PRIx64 " does not fit in"
			 " the memory (0x%" PRIx64 " bytes)", cs.cfg.offset, len, size);
		chan_close();
		return EXIT_FAILURE;
	}
	if (!ret && cs.host)
		mem += cs.cfg.offset;
	else if (!ret)
		ret = map_range(cs.dev, cs.cfg.offset, len, IVSHMEM_MAP_READONLY, &mem);
	if (ret) {
		chan_close();
		return chan_fail("map", ret);
	}
	magic = ld32(mem);
	major = ld32(mem + 4) & 0xffff;
	minor = ld32(mem + 4) >> 16;
	state = ld32(mem + 12);
	region_size = ld64(mem + 16);
	peers = ld32(mem + 32);
	slots_off = ld64(mem + 40);
	ring_size = ld32(mem + 48);
	rings_off = ld64(mem + 56);
	stride = ld64(mem + 64);
	if (magic != 0x48435649 || state != 2) {
		chan_close();
		return chan_msg(EXIT_FAILURE, "no channel set in the region at 0x%" PRIx64
				" (not formatted)", cs.cfg.offset);
	}
	if (major != IVSHMEM_CHAN_LAYOUT_MAJOR || peers < 2 || peers > IVSHMEM_CHAN_MAX_PEERS ||
	    region_size > len || slots_off < 256 || slots_off > len ||
	    (uint64_t)peers * 64 > len - slots_off || ring_size < IVSHMEM_CHAN_MIN_RING ||
	    stride < ring_size || rings_off > len ||
	    stride > (len - rings_off) / ((uint64_t)peers * peers)) {
		chan_close();
		return chan_msg(EXIT_FAILURE, "the header at 0x%" PRIx64 " is damaged or of"
				" another layout", cs.cfg.offset);
	}
	if (cs.json) {
		printf("{\"offset\": %" PRIu64 ", \"region_size\": %" PRIu64 ", \"version\": \"%"
		       PRIu32 ".%" PRIu32 "\", \"max_peers\": %" PRIu32 ", \"ring_size\": %" PRIu32
		       ", \"slots\": [", cs.cfg.offset, region_size, major, minor, peers,
		       ring_size);
	} else {
		printf("region:    0x%" PRIx64 "+0x%" PRIx64 ", layout %" PRIu32 ".%" PRIu32 "\n",
		       cs.cfg.offset, region_size, major, minor);
		printf("slots:     %" PRIu32 ", rings of %" PRIu32 " bytes\n", peers, ring_size);
		printf("%-5s %-8s %4s %10s %7s %6s\n", "SLOT", "STATE", "GEN", "HEARTBEAT",
		       "PEER", "VECTOR");
	}
	for (i = 0; i < peers; i++) {
		const unsigned char *s = mem + slots_off + 64 * i;
		uint32_t vec = ld32(s + 20);

		pres = ld64(s);
		st = (uint32_t)pres;
		if (cs.json) {
			printf("%s\n  {\"slot\": %" PRIu32 ", \"state\": \"%s\", \"generation\": %"
			       PRIu64 ", \"heartbeat\": %" PRIu64 ", \"peer_id\": %" PRIu32
			       ", \"vector\": %" PRIu32 "}", i ? "," : "", i,
			       st < 3 ? states[st] : "garbage", pres >> 32, ld64(s + 8),
			       ld32(s + 16), vec);
			continue;
		}
		if (st == 0)
			continue;
		printf("%-5" PRIu32 " %-8s %4" PRIu64 " %10" PRIu64 " %7" PRIu32, i,
		       st < 3 ? states[st] : "garbage", pres >> 32, ld64(s + 8), ld32(s + 16));
		if (vec < 64)
			printf(" %6" PRIu32 "\n", vec);
		else
			printf(" %6s\n", "-");
	}
	if (cs.json)
		printf("%s], \"rings\": [", peers ? "\n" : "");
	else
		printf("%-5s %-5s %12s %12s %10s\n", "FROM", "TO", "PRODUCED", "CONSUMED", "QUEUED");
	/* the rings between present slots: positions are bytes, mod 2^32 */
	for (i = 0; i < peers; i++) {
		if ((uint32_t)ld64(mem + slots_off + 64 * i) == 0)
			continue;
		for (j = 0; j < peers; j++) {
			if (i == j || (uint32_t)ld64(mem + slots_off + 64 * j) == 0)
				continue;
			r = mem + rings_off + ((uint64_t)i * peers + j) * stride;
			head = ld64(r);
			tail = ld64(r + 64);
			if (cs.json) {
				printf("%s\n  {\"from\": %" PRIu32 ", \"to\": %" PRIu32 ", \"produced\": %"
				       PRIu32 ", \"consumed\": %" PRIu32, first ? "" : ",", i, j,
				       (uint32_t)head, (uint32_t)tail);
				if (head >> 32 == tail >> 32)
					printf(", \"queued\": %" PRIu32 "}", (uint32_t)head - (uint32_t)tail);
				else
					printf(", \"queued\": null}");
				first = false;
				continue;
			}
			printf("%-5" PRIu32 " %-5" PRIu32 " %12" PRIu32 " %12" PRIu32, i, j,
			       (uint32_t)head, (uint32_t)tail);
			if (head >> 32 == tail >> 32)
				printf(" %10" PRIu32 "\n", (uint32_t)head - (uint32_t)tail);
			else
				printf(" %10s\n", "-");
		}
	}
	if (cs.json)
		printf("%s]}\n", first ? "" : "\n");
	chan_close();
	if (fflush(stdout))
		return fail("stdout", "write", -errno);
	return EXIT_SUCCESS;
}

/* ---- bench: throughput and round trips between two CLI processes ---- */

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* send @len bytes of @buf (type byte first) to @to, waiting in slices */
static int chan_bench_send(uint32_t to, const void *buf, size_t len)
{
	uint64_t deadline = chan_deadline();
	int ret;

	CHAN_WAIT(ret, deadline, ivshmem_chan_send(cs.ch, to, buf, len, 0, ms_));
	return ret;
}

static int chan_bench_recv(uint32_t from, void *buf, size_t cap, size_t *len)
{
	uint64_t deadline = chan_deadline();
	uint32_t src;
	int ret;

	CHAN_WAIT(ret, deadline, ivshmem_chan_recv(cs.ch, from, buf, cap, len, &src, ms_));
	return ret;
}

/* the echo side: answer until 'Q'. Return: exit status */
static int chan_echo(unsigned char *buf, size_t cap)
{
	uint32_t from;
	uint64_t n = 0;
	size_t len;
	int ret, status;

	if (!chan_find(ROLE_BENCH, &from, &status))
		return status;
	for (;;) {
		ret = chan_bench_recv(from, buf, cap, &len);
		if (ret)
			return chan_fail("recv", ret);
		n++;
		if (!len || buf[0] == 'D')
			continue;
		if (buf[0] == 'Q')
			break;
		/* 'M' (the end of a throughput run) and 'P' (a ping) come back */
		ret = chan_bench_send(from, buf, len);
		if (ret)
			return chan_fail("send", ret);
	}
	printf("bench --echo: answered slot %" PRIu32 ", %" PRIu64 " messages\n", from, n);
	return fflush(stdout) ? fail("stdout", "write", -errno) : EXIT_SUCCESS;
}

static int chan_bench(void)
{
	size_t max = ivshmem_chan_max_msg(cs.ch), len, size = cs.size;
	uint64_t i, t0, ns, *rt = NULL;
	unsigned char *buf;
	uint32_t to;
	int ret, status = EXIT_FAILURE;

	if (size > max)
		size = max;
	buf = calloc(1, max);
	if (!buf)
		return chan_fail("bench", -ENOMEM);
	if (cs.role == ROLE_ECHO) {
		status = chan_echo(buf, max);
		free(buf);
		return status;
	}
	rt = calloc(cs.rounds, sizeof(*rt));
	if (!rt) {
		free(buf);
		return chan_fail("bench", -ENOMEM);
	}
	if (!chan_find(ROLE_ECHO, &to, &status))
		goto out;
	/* throughput: --count messages of --size, then a mark that comes back */
	memset(buf, 0xa5, size);
	t0 = now_ns();
	for (i = 0; i < cs.count; i++) {
		buf[0] = 'D';
		ret = chan_bench_send(to, buf, size);
		if (ret) {
			status = chan_fail("send", ret);
			goto out;
		}
	}
	buf[0] = 'M';
	ret = chan_bench_send(to, buf, 1);
	if (!ret)
		ret = chan_bench_recv(to, buf, max, &len);
	if (ret) {
		status = chan_fail("throughput", ret);
		goto out;
	}
	ns = now_ns() - t0;
	printf("throughput: %" PRIu64 " messages of %zu bytes in %.3f s: %.1f MB/s, %.0f"
	       " messages/s\n", cs.count, size, ns / 1e9, (double)cs.count * size * 1e3 / ns,
	       cs.count * 1e9 / ns);
	/* round trips of 64-byte messages */
	for (i = 0; i < cs.rounds; i++) {
		buf[0] = 'P';
		t0 = now_ns();
		ret = chan_bench_send(to, buf, 64 < max ? 64 : max);
		if (!ret)
			ret = chan_bench_recv(to, buf, max, &len);
		if (ret) {
			status = chan_fail("round trip", ret);
			goto out;
		}
		rt[i] = now_ns() - t0;
	}
	qsort(rt, cs.rounds, sizeof(*rt), u64_cmp);
	printf("round trip: %" PRIu64 " of 64 bytes: median %.1f us, p99 %.1f us\n", cs.rounds,
	       rt[cs.rounds / 2] / 1e3, rt[cs.rounds * 99 / 100] / 1e3);
	buf[0] = 'Q';
	ret = chan_bench_send(to, buf, 1);
	if (ret) {
		status = chan_fail("send", ret);
		goto out;
	}
	status = fflush(stdout) ? fail("stdout", "write", -errno) : EXIT_SUCCESS;
out:
	free(rt);
	free(buf);
	return status;
}

/* ---- the command line ---- */

static const struct command chan_commands[] = {
	{ "chan send", NULL, "[--to SLOT]",
	  "Stream stdin to a receiver ('chan recv'): wait for one (the first that\n"
	  "comes, or the one in --to SLOT), send stdin in messages of up to the\n"
	  "largest message, then an empty message that ends the stream; exit 0 once\n"
	  "the receiver acknowledged it (or left after reading everything).\n" },
	{ "chan recv", NULL, "[--from SLOT]",
	  "Take the stream of a sender ('chan send': the first that comes, or the one\n"
	  "in --from SLOT) and write it to stdout; exit 0 at its end, 1 when the\n"
	  "sender leaves before the end.\n" },
	{ "chan listen", NULL, "",
	  "Stay joined and print one line per event until --timeout, SIGINT or\n"
	  "SIGTERM (exit 0), each line flushed at once:\n"
	  "  joined as slot N (P slots, messages up to M bytes)\n"
	  "  slot N present (peer ID)\n"
	  "  slot N joined (peer ID, generation G)\n"
	  "  slot N left\n"
	  "  evicted                  (this peer was declared dead: exit 1)\n"
	  "  events lost\n" },
	{ "chan stat", NULL, "[--json]",
	  "Read the region without joining it: its layout, the peer table (slot,\n"
	  "state, generation, heartbeat, peer id, vector) and, for every ring\n"
	  "between two occupied slots, the bytes produced, consumed and queued.\n"
	  "  --json                one JSON object\n" },
	{ "chan bench", NULL, "[--echo] [--size BYTES] [--count N] [--rounds N]",
	  "Throughput and round trips between two CLI processes: run 'bench --echo'\n"
	  "on one side and 'bench' on the other (in either order).\n"
	  "  --echo                answer (the other side measures)\n"
	  "  --size BYTES          throughput messages (default: the largest)\n"
	  "  --count N             throughput messages (default 20000)\n"
	  "  --rounds N            64-byte round trips (default 10000)\n" },
};

#define NCHAN_COMMANDS	(sizeof(chan_commands) / sizeof(chan_commands[0]))

static const char chan_help[] =
	"Message channels (libivshmem-channel(3)) in a region of the shared memory:\n"
	"in a guest over DEV, on the host as a peer of the ivshmem-server at -S.\n"
	"A process that joins a region that holds no channel set formats it.\n"
	"Options, before or after COMMAND:\n"
	"  -S, --socket SOCKET   on the host: the server's socket (instead of DEV)\n"
	"  -o, --offset OFF      where the region starts (default 0, a multiple of 64)\n"
	"  -l, --length LEN      its length (default: to the end of the memory)\n"
	"  -p, --peers N         when formatting: slots, 2..64 (default 4)\n"
	"  -r, --ring-size SIZE  when formatting: bytes per ring, a power of two,\n"
	"                        256..1G (default 64K; messages up to half of it)\n"
	"  -V, --vector N        the doorbell vector to listen on (default 0)\n"
	"  -c, --create          format the region even if it holds a channel set\n"
	"  -a, --attach          never format it: wait for someone who does\n"
	"  -t, --timeout MS      give up after MS milliseconds without progress\n"
	"                        (exit 3; listen: stop, exit 0)\n"
	"  -R, --ready FILE      create FILE once joined (for scripts)\n"
	"Commands:\n";

static void chan_usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: " PROG " chan DEV|-S SOCKET [OPTIONS] COMMAND [ARGS]\n\n%s",
		chan_help);
	for (i = 0; i < NCHAN_COMMANDS; i++)
		fprintf(f, "  %-7s%s%s\n", chan_commands[i].name + 5,
			*chan_commands[i].synopsis ? " " : "", chan_commands[i].synopsis);
	fprintf(f, "SIGINT and SIGTERM end every command: listen with exit status 0, the\n"
		"others with 1. '" PROG " chan COMMAND --help' describes a command.\n");
}

static void chan_command_help(const struct command *c)
{
	printf("usage: " PROG " chan DEV|-S SOCKET [OPTIONS] %s%s%s\n\n%s"
	       "The OPTIONS of all chan commands: '" PROG " chan --help'.\n", c->name + 5,
	       *c->synopsis ? " " : "", c->synopsis, c->help);
}

static const struct command *chan_command(const char *name)
{
	size_t i;

	for (i = 0; name && i < NCHAN_COMMANDS; i++)
		if (!strcmp(name, chan_commands[i].name + 5))
			return &chan_commands[i];
	return NULL;
}

static int cmd_chan(int argc, char **argv)
{
	static const struct option longopts[] = {
		OPT_HELP, PEER_OPTS,
		{ "offset", required_argument, NULL, 'o' },
		{ "length", required_argument, NULL, 'l' },
		{ "peers", required_argument, NULL, 'p' },
		{ "ring-size", required_argument, NULL, 'r' },
		{ "vector", required_argument, NULL, 'V' },
		{ "create", no_argument, NULL, 'c' },
		{ "attach", no_argument, NULL, 'a' },
		{ "ready", required_argument, NULL, 'R' },
		{ "to", required_argument, NULL, 'T' },
		{ "from", required_argument, NULL, 'F' },
		{ "json", no_argument, NULL, 'j' },
		{ "echo", no_argument, NULL, 'e' },
		{ "size", required_argument, NULL, 's' },
		{ "count", required_argument, NULL, 'n' },
		{ "rounds", required_argument, NULL, 'N' },
		{ 0 }
	};
	struct sigaction sa = { .sa_handler = on_stop };
	const char *pos[3], *sub;
	const struct command *chan_cur;
	int c, npos = 0, status;
	uint64_t v;

	ivshmem_chan_config_init(&cs.cfg);
	cs.to = -1;
	cs.count = 20000;
	cs.rounds = 10000;
	cs.size = SIZE_MAX;
	opterr = 0;
	/* options anywhere; the words are [DEV] COMMAND */
	while ((c = getopt_long(argc, argv, "-hS:t:o:l:p:r:V:caR:", longopts, NULL)) != -1) {
		switch (c) {
		case 1:
			if (npos == 3)
				return usage_error("unexpected argument '%s'", optarg);
			pos[npos++] = optarg;
			break;
		case 'h':
			help_asked = true;
			break;
		case 'S':
			cs.host = true;
			/* fall through */
		case 't':
			if (!peer_common_opt(c))
				return EXIT_USAGE;
			break;
		case 'o':
			if (!number_arg("--offset", optarg, UINT64_MAX, &v))
				return EXIT_USAGE;
			if (v % 64)
				return usage_error("--offset: a multiple of 64, not 0x%" PRIx64, v);
			cs.cfg.offset = v;
			break;
		case 'l':
			if (!number_arg("--length", optarg, UINT64_MAX, &v))
				return EXIT_USAGE;
			cs.cfg.length = v;
			break;
		case 'p':
			if (!number_arg("--peers", optarg, IVSHMEM_CHAN_MAX_PEERS, &v))
				return EXIT_USAGE;
			if (v < 2)
				return usage_error("--peers: 2 to %d", IVSHMEM_CHAN_MAX_PEERS);
			cs.cfg.max_peers = (uint32_t)v;
			break;
		case 'r':
			if (!number_arg("--ring-size", optarg, IVSHMEM_CHAN_MAX_RING, &v))
				return EXIT_USAGE;
			if (v < IVSHMEM_CHAN_MIN_RING || (v & (v - 1)))
				return usage_error("--ring-size: a power of two from 256 to 1G, not %"
						   PRIu64, v);
			cs.cfg.ring_size = (uint32_t)v;
			break;
		case 'V':
			if (!number_arg("--vector", optarg, 63, &v))
				return EXIT_USAGE;
			cs.cfg.vector = (uint32_t)v;
			break;
		case 'c':
			cs.create = CREATE_ALWAYS;
			break;
		case 'a':
			cs.create = CREATE_NEVER;
			break;
		case 'R':
			if (!*optarg)
				return usage_error("--ready: an empty file name");
			cs.ready = optarg;
			break;
		case 'T':
		case 'F':
			if (!number_arg(c == 'T' ? "--to" : "--from", optarg,
					IVSHMEM_CHAN_MAX_PEERS - 1, &v))
				return EXIT_USAGE;
			cs.to = (int64_t)v;
			break;
		case 'j':
			cs.json = true;
			break;
		case 'e':
			cs.role = ROLE_ECHO;
			break;
		case 's':
			if (!number_arg("--size", optarg, IVSHMEM_CHAN_MAX_RING, &v))
				return EXIT_USAGE;
			if (!v)
				return usage_error("--size: at least 1");
			cs.size = v;
			break;
		case 'n':
		case 'N':
			if (!number_arg(c == 'n' ? "--count" : "--rounds", optarg, 100000000, &v))
				return EXIT_USAGE;
			if (!v)
				return usage_error("%s: at least 1", c == 'n' ? "--count" : "--rounds");
			*(c == 'n' ? &cs.count : &cs.rounds) = v;
			break;
		default:
			if (optopt)
				return usage_error("unknown option or missing value: -%c", optopt);
			return usage_error("unknown option or missing value: %s", argv[optind - 1]);
		}
	}
	/* the words: DEV COMMAND, or COMMAND after -S */
	sub = npos > !cs.host ? pos[!cs.host] : NULL;
	chan_cur = chan_command(sub);
	if (cs.host && !chan_cur && npos >= 2 && chan_command(pos[1])) {
		if (!help_asked)
			return usage_error("'%s': DEV or -S SOCKET, not both", pos[0]);
		chan_cur = chan_command(pos[1]);
	}
	if (help_asked) {
		if (chan_cur)
			chan_command_help(chan_cur);
		else
			chan_usage(stdout);
		return EXIT_SUCCESS;
	}
	if (!sub)
		return usage_error("missing %sCOMMAND (send, recv, listen, stat, bench)",
				   cs.host || npos ? "" : "DEV|-S SOCKET and ");
	if (!chan_cur)
		return usage_error("unknown command '%s'", sub);
	if (npos > 1 + !cs.host)
		return usage_error("unexpected argument '%s'", pos[1 + !cs.host]);
	cs.dev_name = cs.host ? NULL : pos[0];
	cs.op = chan_cur->name;
	if (cs.json && strcmp(sub, "stat"))
		return usage_error("--json: for stat only");
	if (cs.role == ROLE_ECHO && strcmp(sub, "bench"))
		return usage_error("--echo: for bench only");
	if (cs.to >= 0 && strcmp(sub, "send") && strcmp(sub, "recv"))
		return usage_error("--to, --from: for send and recv only");
	if (cs.host)
		snprintf(peer_where, sizeof(peer_where), "peer %s", peer_socket);
	if (!strcmp(sub, "stat"))
		return chan_stat();
	if (!strcmp(sub, "send"))
		cs.role = ROLE_SEND;
	else if (!strcmp(sub, "recv"))
		cs.role = ROLE_RECV;
	else if (!strcmp(sub, "bench") && cs.role != ROLE_ECHO)
		cs.role = ROLE_BENCH;

	/* SIGINT and SIGTERM end the command; blocking calls return every slice */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	status = chan_join();
	if (status)
		return status;
	if (!strcmp(sub, "send"))
		status = chan_send();
	else if (!strcmp(sub, "recv"))
		status = chan_recv();
	else if (!strcmp(sub, "listen"))
		status = chan_listen();
	else
		status = chan_bench();
	if (status == EXIT_SUCCESS && fflush(stdout))
		status = fail("stdout", "write", -errno);
	chan_close();
	return status;
}

#define PEER_SOCKET_HELP \
	"  -S, --socket SOCKET   the server's socket (default " DEFAULT_SOCKET ")\n"

static const struct command peer_commands[] = {
	{ "peer info", peer_info, "[--json]",
	  "Join the server and describe what this peer got: its peer id, the\n"
	  "number of vectors, the size of the shared memory, and the peers present\n"
	  "(this one excluded); then leave.\n"
	  "  --json                one JSON object: socket, peer_id, vectors, size,\n"
	  "                        peers\n" PEER_SOCKET_HELP },
	{ "peer list", peer_list, "",
	  "Print the ids of the peers present, one per line (this one excluded).\n" PEER_SOCKET_HELP },
	{ "peer ring", peer_ring, "PEER [VECTOR]",
	  "Join, interrupt peer PEER on VECTOR (default 0), leave. A peer that is\n"
	  "not present is an error (exit 1).\n" PEER_SOCKET_HELP },
	{ "peer wait", peer_wait, "[VECTOR...]",
	  "Join and wait until one of the own VECTORs (default: all) is rung; print\n"
	  "'vector N' for each that was. Another peer must learn this peer's id\n"
	  "to ring it, e.g. from 'ivshmem peer watch'.\n"
	  "  -t, --timeout MS      give up after MS milliseconds: exit status 3\n" PEER_SOCKET_HELP },
	{ "peer watch", peer_watch, "",
	  "Stay joined and print one line per event until --timeout, SIGINT or\n"
	  "SIGTERM (exit 0), each line flushed at once:\n"
	  "  joined as peer N (V vectors, SIZE)   first, then the peers present:\n"
	  "  peer N present\n"
	  "  peer N joined\n"
	  "  peer N left\n"
	  "  vector N fired                       one of the own vectors was rung\n"
	  "Rings arriving close together may be reported once. Exit 1 when the\n"
	  "server goes away.\n"
	  "  -t, --timeout MS      stop after MS milliseconds\n" PEER_SOCKET_HELP },
	{ "peer dump", peer_dump, "[OFFSET [LEN]] [--no-squeeze]",
	  "Hex dump of the server's shared memory, as 'ivshmem dump' does it.\n"
	  "  -v, --no-squeeze      print repeated lines instead of '*'\n" PEER_SOCKET_HELP },
	{ "peer read", peer_read, "OFFSET LEN",
	  "Copy LEN bytes of the server's shared memory from OFFSET to stdout.\n" PEER_SOCKET_HELP },
	{ "peer write", peer_write, "OFFSET",
	  "Copy stdin into the server's shared memory from OFFSET on.\n" PEER_SOCKET_HELP },
};

#define NPEER_COMMANDS	(sizeof(peer_commands) / sizeof(peer_commands[0]))

static const char peer_help[] =
	"Join an ivshmem-server as a host peer, like a QEMU ivshmem-doorbell device\n"
	"does, and act on it. Runs on the host, not in a guest.\n"
	"  -S, --socket SOCKET   the server's socket (default " DEFAULT_SOCKET ")\n"
	"  -t, --timeout MS      for wait and watch: give up (wait, exit 3) or stop\n"
	"                        (watch, exit 0) after MS milliseconds, joining\n"
	"                        included; every command gives up joining after\n"
	"                        10 s, or MS if shorter (exit 1)\n"
	"Both may also follow COMMAND. Commands:\n";

static void peer_usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: " PROG " peer [-S SOCKET] [--timeout MS] COMMAND [ARGS]\n\n%s",
		peer_help);
	for (i = 0; i < NPEER_COMMANDS; i++)
		fprintf(f, "  %-6s%s%s\n", peer_commands[i].name + 5,
			*peer_commands[i].synopsis ? " " : "", peer_commands[i].synopsis);
	fprintf(f, "'" PROG " peer COMMAND --help' describes a command.\n");
}

static int cmd_peer(int argc, char **argv)
{
	static const struct option longopts[] = { OPT_HELP, PEER_OPTS, { 0 } };
	const struct command *peer_cur = cur;
	int c;
	size_t i;

	/* '+': the options before COMMAND only */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+hS:t:", longopts, NULL)) != -1) {
		if (c == 'h') {
			peer_usage(stdout);
			return EXIT_SUCCESS;
		}
		if (c == '?' || c == ':') {
			if (optopt)
				return usage_error("unknown option or missing value: -%c", optopt);
			return usage_error("unknown option or missing value: %s", argv[optind - 1]);
		}
		if (!peer_common_opt(c))
			return EXIT_USAGE;
	}
	if (optind >= argc)
		return usage_error("missing COMMAND (info, list, ring, wait, watch, dump, read, write)");
	for (i = 0; i < NPEER_COMMANDS; i++) {
		if (strcmp(argv[optind], peer_commands[i].name + 5))
			continue;
		cur = &peer_commands[i];
		argc -= optind;
		argv += optind;
		optind = 0;	/* start getopt afresh for the command's arguments */
		return cur->run(argc, argv);
	}
	cur = peer_cur;
	return usage_error("unknown command '%s'", argv[optind]);
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
	{ "wait", cmd_wait, "DEV [VECTOR...] [--timeout MS] [--ready FILE]",
	  "Wait until one of the VECTORs (default: all of the device's, up to 64)\n"
	  "fires and print 'vector N' for each that did. Rings sent before the\n"
	  "command started listening are not seen.\n"
	  "  -t, --timeout MS   give up after MS milliseconds: exit status 3\n"
	  "  -r, --ready FILE   create FILE once listening: rings from then on are\n"
	  "                     seen (for a script that starts the wait in the\n"
	  "                     background and then asks a peer to ring)\n" },
	{ "bench", cmd_bench, "DEV --role A|B [--rounds N] [--spin NS] [--offset OFF]",
	  "Doorbell round trips between two guests (or two processes of one guest)\n"
	  "on the same ivshmem-server, measured three ways in one run: sleeping on\n"
	  "the doorbell at once, spinning on the shared word first and then sleeping,\n"
	  "and pure busy-polling. Run role B in one guest and role A in the other,\n"
	  "in any order; A prints median and p99 in microseconds and the ratio to\n"
	  "busy-polling. They meet in 4 KiB of the shared memory at OFFSET.\n"
	  "  -r, --role A|B     A measures, B answers\n"
	  "  -n, --rounds N     round trips per measurement (default 2000)\n"
	  "  -s, --spin NS      spin budget of the second row (default 50000)\n"
	  "  -o, --offset OFF   where the 4 KiB meeting area is (default 0; a\n"
	  "                     multiple of 64, the same in both guests)\n"
	  "  -R, --ring HOW     ioctl or mmio (default: mmio if the driver maps the\n"
	  "                     register page)\n"
	  "  -t, --timeout S    give up after S seconds without the other (default 120)\n" },
	{ "chan", cmd_chan, "DEV|-S SOCKET [OPTIONS] COMMAND",
	  "Message channels over the shared memory (send, recv, listen, stat,\n"
	  "bench), in a guest or on the host. 'ivshmem chan --help' lists them.\n" },
	{ "peer", cmd_peer, "[-S SOCKET] [--timeout MS] COMMAND [ARGS]",
	  "On the host: join an ivshmem-server as a peer. 'ivshmem peer --help'\n"
	  "lists its commands.\n" },
};

#define NCOMMANDS	(sizeof(commands) / sizeof(commands[0]))

static void global_help(FILE *f)
{
	size_t i;

	fprintf(f, "usage: " PROG " [--help] [--version] COMMAND [ARGS]\n\n"
		"Use QEMU ivshmem devices (/dev/ivshmemN) from the guest, or join their\n"
		"ivshmem-server as a peer from the host.\n\nCommands:\n");
	for (i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-6s %s\n", commands[i].name, commands[i].synopsis);
	fprintf(f, "\nPeer commands (on the host, against an ivshmem-server):\n");
	for (i = 0; i < NPEER_COMMANDS; i++)
		fprintf(f, "  %-11s%s%s\n", peer_commands[i].name,
			*peer_commands[i].synopsis ? " " : "", peer_commands[i].synopsis);
	fprintf(f, "\nDEV is an index (0), a device node (/dev/ivshmem0) or a PCI address\n"
		"(0000:00:04.0). Numbers are decimal or 0x hexadecimal, with an optional\n"
		"K, M, G or T suffix (powers of 1024).\n"
		"'" PROG " COMMAND --help' describes a command.\n\n"
		"Exit status: 0 success, 1 error, 2 usage error, 3 wait timed out.\n"
		"Messages: \"" PROG ": DEV: operation: reason\", \"" PROG
		": peer SOCKET: operation: reason\".\n");
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
			if (!strcmp(argv[2], "chan") && argc == 3) {
				chan_usage(stdout);
				return EXIT_SUCCESS;
			}
			if (!strcmp(argv[2], "peer") && argc == 3) {
				peer_usage(stdout);
				return EXIT_SUCCESS;
			}
			for (i = 0; !strcmp(argv[2], "peer") && i < NPEER_COMMANDS; i++) {
				if (!strcmp(argv[3], peer_commands[i].name + 5)) {
					command_help(&peer_commands[i]);
					return EXIT_SUCCESS;
				}
			}
			for (i = 0; !strcmp(argv[2], "chan") && i < NCHAN_COMMANDS; i++) {
				if (!strcmp(argv[3], chan_commands[i].name + 5)) {
					chan_command_help(&chan_commands[i]);
					return EXIT_SUCCESS;
				}
			}
			for (i = 0; argc == 3 && i < NCOMMANDS; i++) {
				if (!strcmp(argv[2], commands[i].name)) {
					command_help(&commands[i]);
					return EXIT_SUCCESS;
				}
			}
			return usage_error("help: no command '%s%s%s'", argv[2],
					   argc > 3 ? " " : "", argc > 3 ? argv[3] : "");
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
