// SPDX-License-Identifier: GPL-2.0-only
/*
 * ivshmem-server - host-side server for QEMU's ivshmem-doorbell device.
 *
 * Speaks protocol version 0 of QEMU's ivshmem server over an AF_UNIX
 * stream socket.  Every message is one sendmsg() of a little-endian
 * int64, optionally carrying one file descriptor (SCM_RIGHTS).  A new
 * client receives: the version (0); its own id; -1 with the shared
 * memory fd; for every peer already present, that peer's id with one
 * eventfd per vector; finally its own id with its own eventfds.  The
 * existing peers receive the new id with its eventfds, and the id
 * without an fd when a peer leaves.  Clients never send anything: a
 * byte or a hang-up ends the peer.
 *
 * Design:
 *  - one thread, one epoll loop; signals arrive through a signalfd;
 *  - every client socket is non-blocking and has a bounded queue of
 *    outgoing messages: a client that does not read is dropped once its
 *    queue is over the limit, it never blocks the others;
 *  - eventfds are reference counted so that a queued message never
 *    refers to a closed descriptor; an eventfd is closed as soon as its
 *    peer has left and no queued message still names it;
 *  - peers that must go are marked and reaped after each event, so a
 *    failure while broadcasting never frees a peer under our feet;
 *  - the socket path appears only once it accepts connections (bound
 *    under a temporary name, listening, then renamed into place), and
 *    one log line says "ready"; a daemon's launcher exits after that.
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <time.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <linux/sockios.h>

#define IVS_PROTOCOL_VERSION	0
#define IVS_MAX_VECTORS		64
#define IVS_ID_SPACE		65536U	/* peer ids are 0..65535 */
#define IVS_DEFAULT_PEERS	64U
#define IVS_DEFAULT_SOCKET	"/tmp/ivshmem_socket"
#define IVS_DEFAULT_SHM		"ivshmem"
#define IVS_DEFAULT_SIZE	(UINT64_C(4) << 20)
#define IVS_DEFAULT_PIDFILE	"/var/run/ivshmem-server.pid"
#define IVS_MAX_SIZE		(UINT64_C(1) << 62)
#define IVS_LISTEN_BACKLOG	64
#define IVS_HUGETLBFS_MAGIC	0x958458f6
#define IVS_DEFAULT_TIMEOUT_MS	10000U	/* -T */
#define IVS_MAX_PENDING		4096U	/* connections still in their handshake */
#define IVS_CHECK_FIRST_MS	1	/* first look whether a newcomer read it all */
#define IVS_CHECK_MAX_MS	100	/* then back off up to this */

/* epoll tokens; peer tokens are (serial << 16) | id with serial >= 1 */
#define TOKEN_LISTEN		UINT64_C(0)
#define TOKEN_SIGNAL		UINT64_C(1)

#define EXIT_USAGE		2

/* A file descriptor shared by a peer and the messages queued about it. */
struct fdref {
	int fd;
	unsigned int refs;
};

struct msg {
	int64_t val;
	struct fdref *ref;	/* NULL: no fd attached */
};

/*
 * A connection is PENDING from accept() until the client has read every
 * message of its handshake (our queue is empty and so is the socket's
 * send buffer: SIOCOUTQ is 0, the kernel frees a message once it is
 * read). Only then is it announced to the others and counted against -P.
 * A connection still pending after -T milliseconds is dropped, and so is
 * an announced one whose queue has not been empty for -T milliseconds.
 */
enum peer_state { PENDING, ACTIVE };

/* intrusive doubly linked list */
struct link {
	struct peer *prev, *next;
};

struct plist {
	struct peer *head, *tail;
	unsigned int len;
};

struct peer {
	uint16_t id;
	enum peer_state state;
	bool dead;
	bool want_out;		/* EPOLLOUT registered */
	int sock;
	pid_t pid;
	uint64_t serial;
	struct fdref *vec[IVS_MAX_VECTORS];
	/* ring buffer of pending messages */
	struct msg *q;
	size_t qcap, qhead, qlen;
	size_t qoff;		/* bytes of the head message already sent */
	struct peer *next_dead;

	/*
	 * PENDING: on server.pending, oldest first. Only the handshake is
	 * sent (hs_left: its messages still in our queue); what the others
	 * do meanwhile waits in the queue behind it until promote().
	 */
	struct link pend;
	bool hs_queued;		/* the whole handshake is sent or queued */
	size_t hs_left;
	int64_t deadline;	/* ms: dropped if still pending then */
	int64_t next_check;	/* ms: look at SIOCOUTQ again */
	int check_gap;		/* ms */
	/* ACTIVE with messages queued: on server.stuck */
	struct link stk;
	bool on_stuck;
	int64_t stuck_since;	/* ms: our queue is not empty since */
};

struct server {
	/* configuration */
	const char *sock_path;
	char *sock_abspath;	/* for unlink() after a chdir() */
	const char *shm_name;
	const char *shm_dir;
	uint64_t size;
	unsigned int vectors;
	unsigned int max_peers;
	unsigned int timeout_ms;	/* -T */
	unsigned int max_pending;
	const char *pidfile;
	char *pid_abspath;
	bool verbose;
	bool foreground;

	/* state */
	bool use_syslog;
	int listen_fd;
	int sig_fd;
	int ep_fd;
	int reserve_fd;
	struct fdref *shm;
	bool shm_created;
	bool sock_bound;
	dev_t sock_dev;
	ino_t sock_ino;
	bool pid_written;
	bool sock_inherited;	/* socket activation: the socket is not ours */
	struct sockaddr_un notify_addr;	/* $NOTIFY_SOCKET; empty: none */
	socklen_t notify_len;
	struct peer **peers;	/* indexed by id, IVS_ID_SPACE entries */
	unsigned int next_id;	/* where the search for a free id starts */
	unsigned int npeers;		/* ACTIVE ones: what -P limits */
	struct plist pending;		/* PENDING ones, oldest first */
	struct plist stuck;		/* ACTIVE ones with a queue */
	uint64_t next_serial;
	struct peer *dead_list;
	size_t qlimit;
};

/* ------------------------------------------------------------------ */
/* logging                                                             */

static void logmsg(struct server *s, int prio, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void logmsg(struct server *s, int prio, const char *fmt, ...)
{
	va_list ap;

	if (prio >= LOG_INFO && !s->verbose)
		return;
	va_start(ap, fmt);
	if (s->use_syslog) {
		vsyslog(prio, fmt, ap);
	} else {
		fputs("ivshmem-server: ", stderr);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	}
	va_end(ap);
}

/* ------------------------------------------------------------------ */
/* argument parsing                                                    */

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: ivshmem-server [OPTION]...\n"
		"Serve shared memory and doorbell eventfds to QEMU ivshmem-doorbell devices.\n"
		"\n"
		"  -S PATH    UNIX socket to listen on (default " IVS_DEFAULT_SOCKET ")\n"
		"  -M NAME    POSIX shared memory object (default \"" IVS_DEFAULT_SHM "\")\n"
		"  -m DIR     create the memory as an unlinked file in DIR (e.g. hugetlbfs)\n"
		"  -l SIZE    memory size, suffixes K, M, G, T (default 4M); rounded up to\n"
		"             a power of two, as QEMU's ivshmem BAR requires\n"
		"  -n COUNT   interrupt vectors per peer, 1..%d (default 1)\n"
		"  -P COUNT   maximum number of peers, 1..%u (default %u); clients still\n"
		"             in their handshake do not count\n"
		"  -C FILE    read options from FILE: 'key = value' lines, keys socket,\n"
		"             shm, dir, size, vectors, peers, timeout, pidfile, verbose\n"
		"  -T MS      drop a client that has not read its whole handshake, or a peer\n"
		"             that has not emptied its queue, within MS milliseconds\n"
		"             (default %u)\n"
		"  -p FILE    write the server's pid to FILE\n"
		"             (default " IVS_DEFAULT_PIDFILE " when daemonized)\n"
		"  -F         stay in the foreground, log to stderr\n"
		"             (default: daemonize, log to syslog)\n"
		"  -v         verbose: log peers joining and leaving\n"
		"  -h         show this help\n",
		IVS_MAX_VECTORS, IVS_ID_SPACE, IVS_DEFAULT_PEERS, IVS_DEFAULT_TIMEOUT_MS);
}

/* "FILE:LINE: " while reading a configuration file (-C) */
static char cfg_where[PATH_MAX + 32];

static void __attribute__((noreturn, format(printf, 1, 2)))
usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "ivshmem-server: %s", cfg_where);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'ivshmem-server -h' for more information.\n", stderr);
	exit(EXIT_USAGE);
}

static bool parse_uint(const char *str, unsigned long min, unsigned long max,
		       unsigned long *out)
{
	unsigned long v;
	char *end;

	if (str[0] < '0' || str[0] > '9')
		return false;
	errno = 0;
	v = strtoul(str, &end, 10);
	if (errno || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

/* "4096", "64K", "4M", "1G", "2T" (binary units, case-insensitive) */
static bool parse_size(const char *str, uint64_t *out)
{
	unsigned long long v;
	unsigned int shift = 0;
	char *end;

	if (str[0] < '0' || str[0] > '9')
		return false;
	errno = 0;
	v = strtoull(str, &end, 10);
	if (errno)
		return false;
	switch (*end) {
	case '\0':
		break;
	case 'k': case 'K':
		shift = 10;
		break;
	case 'm': case 'M':
		shift = 20;
		break;
	case 'g': case 'G':
		shift = 30;
		break;
	case 't': case 'T':
		shift = 40;
		break;
	default:
		return false;
	}
	if (*end != '\0') {
		end++;
		/* allow "KB", "KiB" */
		if (*end == 'i')
			end++;
		if (*end == 'B' || *end == 'b')
			end++;
		if (*end != '\0')
			return false;
	}
	if (v > (UINT64_MAX >> shift))
		return false;
	*out = (uint64_t)v << shift;
	return true;
}

static void read_config(struct server *s, const char *path);

/* one option, from the command line or a configuration file */
static void apply_opt(struct server *s, int c, char *arg)
{
	unsigned long v;

	switch (c) {
	case 'h':
		usage(stdout);
		exit(0);
	case 'C':
		read_config(s, arg);
		break;
	case 'v':
		s->verbose = true;
		break;
	case 'F':
		s->foreground = true;
		break;
	case 'p':
		if (!*arg)
			usage_error("empty pid file name (-p)");
		s->pidfile = arg;
		break;
	case 'S':
		if (!*arg)
			usage_error("empty socket path (-S)");
		if (strlen(arg) >= sizeof(((struct sockaddr_un *)0)->sun_path))
			usage_error("socket path '%s' is too long (-S): at most %zu bytes",
				    arg,
				    sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
		s->sock_path = arg;
		break;
	case 'M':
		if (!*arg || strchr(arg + 1, '/') ||
		    strlen(arg) > NAME_MAX)
			usage_error("invalid shared memory object name '%s' (-M): "
				    "a name without '/' is expected", arg);
		s->shm_name = arg;
		s->shm_dir = NULL;
		break;
	case 'm':
		if (!*arg)
			usage_error("empty directory name (-m)");
		s->shm_dir = arg;
		break;
	case 'l':
		if (!parse_size(arg, &s->size))
			usage_error("invalid size '%s' (-l): a number of bytes with an optional "
				    "K, M, G or T suffix is expected", arg);
		if (s->size == 0)
			usage_error("invalid size '%s' (-l): must be greater than 0", arg);
		if (s->size > IVS_MAX_SIZE)
			usage_error("invalid size '%s' (-l): larger than the maximum of 4 EiB",
				    arg);
		break;
	case 'n':
		if (!parse_uint(arg, 1, IVS_MAX_VECTORS, &v))
			usage_error("invalid vector count '%s' (-n): must be between 1 and %d",
				    arg, IVS_MAX_VECTORS);
		s->vectors = (unsigned int)v;
		break;
	case 'P':
		if (!parse_uint(arg, 1, IVS_ID_SPACE, &v))
			usage_error("invalid peer limit '%s' (-P): must be between 1 and %u",
				    arg, IVS_ID_SPACE);
		s->max_peers = (unsigned int)v;
		break;
	case 'T':
		if (!parse_uint(arg, 1, 3600000, &v))
			usage_error("invalid timeout '%s' (-T): must be between 1 and 3600000 "
				    "milliseconds", arg);
		s->timeout_ms = (unsigned int)v;
		break;
	case ':':
		usage_error("option -%c requires an argument", optopt);
	default:
		usage_error("unknown option -%c", optopt);
	}
}

/*
 * A configuration file: "key = value" lines, '#' comments, blank lines.
 * The keys are the long names of the options (ivshmem-server(8)); the
 * file applies where -C stands, so later options override it.
 */
static const struct {
	const char *key;
	int opt;
} cfg_keys[] = {
	{ "socket", 'S' }, { "shm", 'M' }, { "dir", 'm' }, { "size", 'l' },
	{ "vectors", 'n' }, { "peers", 'P' }, { "timeout", 'T' }, { "pidfile", 'p' },
	{ "verbose", 'v' },
};

static char *trim(char *str)
{
	char *end;

	while (*str == ' ' || *str == '\t')
		str++;
	end = str + strlen(str);
	while (end > str && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n' ||
			     end[-1] == '\r'))
		*--end = '\0';
	return str;
}

static void read_config(struct server *s, const char *path)
{
	static int depth;
	char line[PATH_MAX + 64];
	unsigned int lineno = 0;
	FILE *f;

	if (depth)
		usage_error("-C inside a configuration file");
	f = fopen(path, "re");
	if (!f)
		usage_error("cannot read configuration file '%s' (-C): %s", path,
			    strerror(errno));
	depth++;
	while (fgets(line, sizeof(line), f)) {
		char *key, *val, *eq;
		size_t i;

		lineno++;
		snprintf(cfg_where, sizeof(cfg_where), "%s:%u: ", path, lineno);
		if (!strchr(line, '\n') && !feof(f))
			usage_error("line too long");
		key = trim(line);
		if (!*key || *key == '#')
			continue;
		eq = strchr(key, '=');
		if (!eq)
			usage_error("'key = value' expected, not '%s'", key);
		*eq = '\0';
		key = trim(key);
		val = trim(eq + 1);
		for (i = 0; i < sizeof(cfg_keys) / sizeof(cfg_keys[0]); i++)
			if (strcmp(key, cfg_keys[i].key) == 0)
				break;
		if (i == sizeof(cfg_keys) / sizeof(cfg_keys[0]))
			usage_error("unknown key '%s' (keys: socket, shm, dir, size, vectors, "
				    "peers, timeout, pidfile, verbose)", key);
		if (cfg_keys[i].opt == 'v') {
			if (strcmp(val, "yes") && strcmp(val, "no"))
				usage_error("verbose: 'yes' or 'no' expected");
			s->verbose = strcmp(val, "yes") == 0;
			continue;
		}
		/* strdup: the value outlives the line (the paths are kept) */
		val = strdup(val);
		if (!val)
			usage_error("out of memory");
		apply_opt(s, cfg_keys[i].opt, val);
	}
	fclose(f);
	cfg_where[0] = '\0';
	depth--;
}

static void parse_args(struct server *s, int argc, char **argv)
{
	int c;

	opterr = 0;
	while ((c = getopt(argc, argv, ":hvFp:S:m:M:l:n:P:T:C:")) != -1)
		apply_opt(s, c, optarg);
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
}

/* ------------------------------------------------------------------ */
/* small helpers                                                       */

static struct fdref *fdref_new(int fd)
{
	struct fdref *r = malloc(sizeof(*r));

	if (!r)
		return NULL;
	r->fd = fd;
	r->refs = 1;
	return r;
}

static struct fdref *fdref_get(struct fdref *r)
{
	r->refs++;
	return r;
}

static void fdref_put(struct fdref *r)
{
	if (r && --r->refs == 0) {
		close(r->fd);
		free(r);
	}
}

static uint64_t pow2_ceil(uint64_t v)
{
	uint64_t p = 1;

	while (p < v)
		p <<= 1;
	return p;
}

static char *make_absolute(const char *path)
{
	char cwd[PATH_MAX];
	char *abs;

	if (path[0] == '/')
		return strdup(path);
	if (!getcwd(cwd, sizeof(cwd)))
		return NULL;
	if (asprintf(&abs, "%s/%s", cwd, path) < 0)
		return NULL;
	return abs;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void plist_add(struct plist *l, struct peer *p, struct link *(*lk)(struct peer *))
{
	lk(p)->prev = l->tail;
	lk(p)->next = NULL;
	if (l->tail)
		lk(l->tail)->next = p;
	else
		l->head = p;
	l->tail = p;
	l->len++;
}

static void plist_del(struct plist *l, struct peer *p, struct link *(*lk)(struct peer *))
{
	if (lk(p)->prev)
		lk(lk(p)->prev)->next = lk(p)->next;
	else
		l->head = lk(p)->next;
	if (lk(p)->next)
		lk(lk(p)->next)->prev = lk(p)->prev;
	else
		l->tail = lk(p)->prev;
	lk(p)->prev = lk(p)->next = NULL;
	l->len--;
}

static struct link *pend_link(struct peer *p)
{
	return &p->pend;
}

static struct link *stuck_link(struct peer *p)
{
	return &p->stk;
}

static uint64_t peer_token(const struct peer *p)
{
	return (p->serial << 16) | p->id;
}

static struct peer *peer_by_token(struct server *s, uint64_t token)
{
	uint32_t id = token & 0xffff;
	struct peer *p;

	if (id >= IVS_ID_SPACE)
		return NULL;
	p = s->peers[id];
	if (!p || peer_token(p) != token)
		return NULL;
	return p;
}

/* ------------------------------------------------------------------ */
/* sending                                                             */

/*
 * Send (the rest of) one message.  Returns the number of bytes sent,
 * or a negative errno.  The fd travels with the first byte only.
 */
static ssize_t send_msg(int sock, int64_t val, int fd, size_t off)
{
	uint64_t le = htole64((uint64_t)val);
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct iovec iov = {
		.iov_base = (char *)&le + off,
		.iov_len = sizeof(le) - off,
	};
	struct msghdr mh = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
	};
	ssize_t n;

	if (fd >= 0 && off == 0) {
		struct cmsghdr *cm;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	do {
		n = sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

static void mark_dead(struct server *s, struct peer *p)
{
	if (p->dead)
		return;
	p->dead = true;
	p->next_dead = s->dead_list;
	s->dead_list = p;
}

static void set_want_out(struct server *s, struct peer *p, bool on)
{
	struct epoll_event ev = {
		.events = EPOLLIN | EPOLLRDHUP | (on ? EPOLLOUT : 0),
		.data.u64 = peer_token(p),
	};

	if (p->want_out == on)
		return;
	if (epoll_ctl(s->ep_fd, EPOLL_CTL_MOD, p->sock, &ev) < 0) {
		logmsg(s, LOG_ERR, "peer %u: epoll_ctl: %s; dropping it",
		       p->id, strerror(errno));
		mark_dead(s, p);
		return;
	}
	p->want_out = on;
}

static void send_failed(struct server *s, struct peer *p, ssize_t err)
{
	if (err == -EPIPE || err == -ECONNRESET)
		logmsg(s, LOG_INFO, "peer %u: connection closed while sending", p->id);
	else if (err == -ETOOMANYREFS)
		logmsg(s, LOG_WARNING,
		       "peer %u: too many fds in flight to clients that do not read "
		       "(raise RLIMIT_NOFILE); dropping it", p->id);
	else
		logmsg(s, LOG_WARNING, "peer %u: send failed: %s; dropping it",
		       p->id, strerror((int)-err));
	mark_dead(s, p);
}

static void queue_pop(struct peer *p)
{
	fdref_put(p->q[p->qhead].ref);
	p->qhead = (p->qhead + 1) % p->qcap;
	p->qlen--;
	p->qoff = 0;
}

/* may the head of the queue go out now? */
static bool may_send(const struct peer *p)
{
	return p->qlen && (p->state == ACTIVE || p->hs_left);
}

static void flush_queue(struct server *s, struct peer *p)
{
	while (may_send(p) && !p->dead) {
		struct msg *m = &p->q[p->qhead];
		ssize_t n = send_msg(p->sock, m->val, m->ref ? m->ref->fd : -1, p->qoff);

		if (n == -EAGAIN)
			break;
		if (n < 0) {
			send_failed(s, p, n);
			return;
		}
		p->qoff += (size_t)n;
		if (p->qoff == sizeof(uint64_t)) {
			queue_pop(p);
			if (p->state == PENDING)
				p->hs_left--;
		}
	}
	if (!p->dead)
		set_want_out(s, p, may_send(p));
	if (p->qlen == 0 && p->on_stuck) {
		plist_del(&s->stuck, p, stuck_link);
		p->on_stuck = false;
	}
}

static bool queue_push(struct peer *p, int64_t val, struct fdref *ref, size_t off)
{
	if (p->qlen == p->qcap) {
		size_t ncap = p->qcap ? p->qcap * 2 : 64;
		struct msg *nq = malloc(ncap * sizeof(*nq));
		size_t i;

		if (!nq)
			return false;
		for (i = 0; i < p->qlen; i++)
			nq[i] = p->q[(p->qhead + i) % p->qcap];
		free(p->q);
		p->q = nq;
		p->qcap = ncap;
		p->qhead = 0;
	}
	p->q[(p->qhead + p->qlen) % p->qcap] = (struct msg){
		.val = val,
		.ref = ref ? fdref_get(ref) : NULL,
	};
	if (p->qlen == 0)
		p->qoff = off;
	p->qlen++;
	return true;
}

/* Send a message to a peer now if possible, otherwise queue it. */
static void peer_send(struct server *s, struct peer *p, int64_t val, struct fdref *ref)
{
	size_t off = 0;

	if (p->dead)
		return;
	if (p->qlen == 0 && !(p->state == PENDING && p->hs_queued)) {
		ssize_t n = send_msg(p->sock, val, ref ? ref->fd : -1, 0);

		if (n == (ssize_t)sizeof(uint64_t))
			return;
		if (n < 0 && n != -EAGAIN) {
			send_failed(s, p, n);
			return;
		}
		if (n > 0)
			off = (size_t)n;
	}
	if (p->qlen >= s->qlimit) {
		logmsg(s, LOG_WARNING,
		       "peer %u does not read its socket (%zu messages pending); dropping it",
		       p->id, p->qlen);
		mark_dead(s, p);
		return;
	}
	if (!queue_push(p, val, off ? NULL : ref, off)) {
		logmsg(s, LOG_ERR, "peer %u: out of memory for its message queue; dropping it",
		       p->id);
		mark_dead(s, p);
		return;
	}
	if (p->state == ACTIVE && !p->on_stuck) {
		p->on_stuck = true;
		p->stuck_since = mono_ms();
		plist_add(&s->stuck, p, stuck_link);
	}
	if (p->state == PENDING && !p->hs_queued)
		p->hs_left++;
	set_want_out(s, p, may_send(p));
}

/* ------------------------------------------------------------------ */
/* peers                                                               */

static void peer_free(struct server *s, struct peer *p)
{
	unsigned int v;

	if (s->ep_fd >= 0)
		epoll_ctl(s->ep_fd, EPOLL_CTL_DEL, p->sock, NULL);
	close(p->sock);
	while (p->qlen)
		queue_pop(p);
	free(p->q);
	for (v = 0; v < s->vectors; v++)
		fdref_put(p->vec[v]);
	free(p);
}

/* Remove every peer marked dead and tell the others an announced one left. */
static void reap_dead(struct server *s)
{
	while (s->dead_list) {
		struct peer *p = s->dead_list;
		uint16_t id = p->id;
		bool announced = p->state == ACTIVE;
		unsigned int i;

		s->dead_list = p->next_dead;
		s->peers[id] = NULL;
		if (announced)
			s->npeers--;
		else
			plist_del(&s->pending, p, pend_link);
		if (p->on_stuck)
			plist_del(&s->stuck, p, stuck_link);
		peer_free(s, p);
		if (!announced) {
			logmsg(s, LOG_INFO, "client %u gone before its handshake completed", id);
			continue;
		}
		logmsg(s, LOG_INFO, "peer %u left (%u peers)", id, s->npeers);
		/* everybody left knows it: announced before, or told since */
		for (i = 0; i < IVS_ID_SPACE; i++)
			if (s->peers[i])
				peer_send(s, s->peers[i], id, NULL);
	}
}

/* Has the client read everything sent so far? */
static bool peer_drained(struct peer *p)
{
	int outq = 0;

	if (p->hs_left)
		return false;
	if (ioctl(p->sock, SIOCOUTQ, &outq) < 0)
		return true;	/* cannot tell: as before, no handshake state */
	return outq == 0;
}

/*
 * A pending client read its whole handshake: announce it to everyone
 * (pending clients too: they were not told of it, and are told of
 * everything announced from their own handshake on), and count it.
 */
static void promote(struct server *s, struct peer *p)
{
	unsigned int i, v;

	if (s->npeers >= s->max_peers) {
		logmsg(s, LOG_WARNING,
		       "refusing client %u (pid %d): the limit of %u peers is reached (-P)",
		       p->id, (int)p->pid, s->max_peers);
		mark_dead(s, p);
		return;
	}
	plist_del(&s->pending, p, pend_link);
	p->state = ACTIVE;
	s->npeers++;
	/* what happened while it read its handshake */
	if (p->qlen) {
		p->on_stuck = true;
		p->stuck_since = mono_ms();
		plist_add(&s->stuck, p, stuck_link);
		flush_queue(s, p);
	}
	for (i = 0; i < IVS_ID_SPACE; i++) {
		struct peer *o = s->peers[i];

		if (!o || o == p || o->dead)
			continue;
		for (v = 0; v < s->vectors; v++)
			peer_send(s, o, p->id, p->vec[v]);
	}
	logmsg(s, LOG_INFO, "peer %u joined (pid %d, %u peers)", p->id, (int)p->pid, s->npeers);
}

/*
 * Timers: pending clients that completed their handshake are announced,
 * those past their deadline dropped; announced peers whose queue has not
 * been empty for -T are dropped. Returns the time of the next thing to
 * do (ms), or -1 for none.
 */
static int64_t run_timers(struct server *s)
{
	int64_t now = mono_ms(), next = -1;
	struct peer *p, *n;

	for (p = s->pending.head; p; p = n) {
		n = p->pend.next;
		if (p->dead)
			continue;
		if (now >= p->next_check) {
			if (peer_drained(p)) {
				promote(s, p);
				continue;
			}
			p->check_gap = p->check_gap * 2 > IVS_CHECK_MAX_MS ?
				       IVS_CHECK_MAX_MS : p->check_gap * 2;
			p->next_check = now + p->check_gap;
		}
		if (now >= p->deadline) {
			logmsg(s, LOG_WARNING,
			       "client %u (pid %d) did not read its handshake within %u ms (-T); "
			       "dropping it", p->id, (int)p->pid, s->timeout_ms);
			mark_dead(s, p);
			continue;
		}
		if (next < 0 || p->next_check < next)
			next = p->next_check;
		if (p->deadline < next)
			next = p->deadline;
	}
	for (p = s->stuck.head; p; p = n) {
		n = p->stk.next;
		if (p->dead)
			continue;
		if (now - p->stuck_since >= s->timeout_ms) {
			logmsg(s, LOG_WARNING,
			       "peer %u does not read its socket (%zu messages pending for %u ms, -T); "
			       "dropping it", p->id, p->qlen, s->timeout_ms);
			mark_dead(s, p);
			continue;
		}
		if (next < 0 || p->stuck_since + s->timeout_ms < next)
			next = p->stuck_since + s->timeout_ms;
	}
	reap_dead(s);
	return next;
}

#define IVS_RECENT_SCAN	64

static void promote_recent(struct server *s)
{
	struct peer *q = s->pending.tail, *n;
	unsigned int k;

	for (k = 1; q && q->pend.prev && k < IVS_RECENT_SCAN; k++)
		q = q->pend.prev;
	for (; q; q = n) {	/* oldest first: ids are announced in order */
		n = q->pend.next;
		if (!q->dead && peer_drained(q))
			promote(s, q);
	}
}

static void add_peer(struct server *s, int sock)
{
	struct epoll_event ev;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct peer *p;
	unsigned int i, v;
	pid_t pid = 0;

	if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
		pid = cred.pid;

	/*
	 * Newcomers that have read their handshake by now are announced
	 * first, so that this one is told of them in its own handshake, as
	 * everyone expects of a peer that came earlier. Only the newest few:
	 * a client that reads does so at once, the old ones are those that
	 * do not read, and may be thousands.
	 */
	promote_recent(s);
	/* pending clients that are in by now count: look before refusing */
	if (s->npeers >= s->max_peers) {
		struct peer *q, *n;

		for (q = s->pending.head; q && s->npeers < s->max_peers; q = n) {
			n = q->pend.next;
			if (!q->dead && peer_drained(q))
				promote(s, q);
		}
	}
	if (s->npeers >= s->max_peers) {
		logmsg(s, LOG_WARNING,
		       "refusing a client (pid %d): the limit of %u peers is reached (-P)",
		       (int)pid, s->max_peers);
		close(sock);
		return;
	}
	/* too many in their handshake: the oldest goes, the newcomer gets its chance */
	while (s->pending.head && s->pending.len >= s->max_pending) {
		struct peer *old = s->pending.head;

		logmsg(s, LOG_WARNING,
		       "%u clients in their handshake: dropping the oldest, client %u (pid %d)",
		       s->pending.len, old->id, (int)old->pid);
		mark_dead(s, old);
		reap_dead(s);
	}
	/* a free id exists: fewer than max_peers + max_pending <= the id space */
	if (s->npeers + s->pending.len >= IVS_ID_SPACE) {
		logmsg(s, LOG_WARNING, "refusing a client (pid %d): no free peer id", (int)pid);
		close(sock);
		return;
	}

	p = calloc(1, sizeof(*p));
	if (!p) {
		logmsg(s, LOG_ERR, "refusing a client (pid %d): out of memory", (int)pid);
		close(sock);
		return;
	}
	/*
	 * Ids go round the whole id space, as with QEMU's own server, rather
	 * than the lowest free one: QEMU's ivshmem-doorbell (7.2 at least)
	 * frees a departed peer's eventfd array for good, and aborts when the
	 * same id joins and then leaves again.
	 */
	while (s->peers[s->next_id])
		s->next_id = (s->next_id + 1) % IVS_ID_SPACE;
	p->id = (uint16_t)s->next_id;
	s->next_id = (s->next_id + 1) % IVS_ID_SPACE;
	p->sock = sock;
	p->pid = pid;
	p->state = PENDING;
	p->serial = ++s->next_serial & ((UINT64_C(1) << 47) - 1);
	if (!p->serial)
		p->serial = ++s->next_serial;

	for (v = 0; v < s->vectors; v++) {
		int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

		if (efd < 0 || !(p->vec[v] = fdref_new(efd))) {
			logmsg(s, LOG_ERR, "refusing a client (pid %d): cannot create eventfd: %s",
			       (int)pid, strerror(efd < 0 ? errno : ENOMEM));
			if (efd >= 0)
				close(efd);
			goto err_free;
		}
	}

	ev.events = EPOLLIN | EPOLLRDHUP;
	ev.data.u64 = peer_token(p);
	if (epoll_ctl(s->ep_fd, EPOLL_CTL_ADD, sock, &ev) < 0) {
		logmsg(s, LOG_ERR, "refusing a client (pid %d): epoll_ctl: %s",
		       (int)pid, strerror(errno));
		goto err_free;
	}

	s->peers[p->id] = p;
	p->deadline = mono_ms() + s->timeout_ms;
	p->check_gap = IVS_CHECK_FIRST_MS;
	p->next_check = mono_ms() + p->check_gap;
	plist_add(&s->pending, p, pend_link);

	/*
	 * The new client: version, id, memory, the announced peers, itself.
	 * The others learn of it once it has read all that (promote()).
	 */
	peer_send(s, p, IVS_PROTOCOL_VERSION, NULL);
	peer_send(s, p, p->id, NULL);
	peer_send(s, p, -1, s->shm);
	for (i = 0; i < IVS_ID_SPACE; i++) {
		struct peer *o = s->peers[i];

		if (!o || o == p || o->dead || o->state != ACTIVE)
			continue;
		for (v = 0; v < s->vectors; v++)
			peer_send(s, p, o->id, o->vec[v]);
	}
	for (v = 0; v < s->vectors; v++)
		peer_send(s, p, p->id, p->vec[v]);
	p->hs_queued = true;
	logmsg(s, LOG_INFO, "client %u connected (pid %d, %u in their handshake)", p->id,
	       (int)pid, s->pending.len);
	return;

err_free:
	for (v = 0; v < s->vectors; v++)
		fdref_put(p->vec[v]);
	free(p);
	close(sock);
}

static void accept_clients(struct server *s)
{
	for (;;) {
		int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd >= 0) {
			add_peer(s, fd);
			reap_dead(s);
			continue;
		}
		switch (errno) {
		case EINTR:
		case ECONNABORTED:
		case EPROTO:
			continue;
		case EAGAIN:
			return;
		case EMFILE:
		case ENFILE:
			/* the oldest client still in its handshake makes room */
			if (s->pending.head) {
				struct peer *old = s->pending.head;

				logmsg(s, LOG_WARNING,
				       "out of file descriptors: dropping the oldest client in its "
				       "handshake, client %u (pid %d)", old->id, (int)old->pid);
				mark_dead(s, old);
				reap_dead(s);
				continue;
			}
			/* take the connection off the backlog so that epoll stops reporting it */
			if (s->reserve_fd >= 0) {
				close(s->reserve_fd);
				fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
				if (fd >= 0)
					close(fd);
				s->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
			}
			logmsg(s, LOG_ERR, "refusing a client: out of file descriptors");
			if (fd < 0)
				return;
			continue;
		default:
			logmsg(s, LOG_ERR, "accept: %s", strerror(errno));
			return;
		}
	}
}

static void peer_input(struct server *s, struct peer *p, uint32_t events)
{
	char byte;
	ssize_t n;

	do {
		n = recv(p->sock, &byte, 1, MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);

	if (n > 0)
		logmsg(s, LOG_WARNING, "peer %u sent data, which the protocol forbids; dropping it",
		       p->id);
	else if (n == 0 || (n < 0 && errno == ECONNRESET))
		logmsg(s, LOG_INFO, "peer %u hung up", p->id);
	else if (errno == EAGAIN && !(events & (EPOLLHUP | EPOLLERR)))
		return;
	else
		logmsg(s, LOG_INFO, "peer %u: connection error: %s", p->id,
		       n < 0 ? strerror(errno) : "hang-up");
	mark_dead(s, p);
}

static void dump_peers(struct server *s)
{
	unsigned int i;

	logmsg(s, LOG_NOTICE, "%u peers (%u clients in their handshake), %u vectors, %" PRIu64
	       " bytes of memory", s->npeers, s->pending.len, s->vectors, s->size);
	for (i = 0; i < IVS_ID_SPACE; i++) {
		struct peer *p = s->peers[i];

		if (p)
			logmsg(s, LOG_NOTICE, "  %s %u: pid %d, %zu messages queued",
			       p->state == ACTIVE ? "peer" : "client in its handshake",
			       p->id, (int)p->pid, p->qlen);
	}
}

/* ------------------------------------------------------------------ */
/* setup and teardown                                                  */

static int open_memory(struct server *s)
{
	struct stat st;
	int fd;

	if (s->shm_dir) {
		struct statfs sfs;
		char *path;

		if (statfs(s->shm_dir, &sfs) == 0 && sfs.f_type == IVS_HUGETLBFS_MAGIC &&
		    s->size < (uint64_t)sfs.f_bsize) {
			logmsg(s, LOG_NOTICE,
			       "size rounded up from %" PRIu64 " to the huge page size %" PRIu64,
			       s->size, (uint64_t)sfs.f_bsize);
			s->size = pow2_ceil((uint64_t)sfs.f_bsize);
		}
		if (asprintf(&path, "%s/ivshmem.XXXXXX", s->shm_dir) < 0) {
			logmsg(s, LOG_ERR, "out of memory");
			return -1;
		}
		fd = mkostemp(path, O_CLOEXEC);
		if (fd < 0) {
			logmsg(s, LOG_ERR, "cannot create a file in '%s' (-m): %s",
			       s->shm_dir, strerror(errno));
			free(path);
			return -1;
		}
		unlink(path);
		free(path);
	} else {
		fd = shm_open(s->shm_name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0) {
			s->shm_created = true;
		} else if (errno == EEXIST) {
			fd = shm_open(s->shm_name, O_RDWR | O_CLOEXEC, 0);
			if (fd >= 0)
				logmsg(s, LOG_NOTICE,
				       "using the existing shared memory object '%s'; "
				       "it will not be removed at exit", s->shm_name);
		}
		if (fd < 0) {
			logmsg(s, LOG_ERR, "cannot open shared memory object '%s' (-M): %s",
			       s->shm_name, strerror(errno));
			return -1;
		}
	}

	if (fstat(fd, &st) < 0) {
		logmsg(s, LOG_ERR, "fstat of the shared memory: %s", strerror(errno));
		goto err;
	}
	if ((uint64_t)st.st_size > s->size) {
		logmsg(s, LOG_ERR,
		       "shared memory object '%s' already exists with %" PRIu64
		       " bytes, more than the %" PRIu64 " requested; remove it or use -l",
		       s->shm_name, (uint64_t)st.st_size, s->size);
		goto err;
	}
	if ((uint64_t)st.st_size != s->size && ftruncate(fd, (off_t)s->size) < 0) {
		logmsg(s, LOG_ERR, "cannot set the shared memory size to %" PRIu64 " bytes: %s",
		       s->size, strerror(errno));
		goto err;
	}
	s->shm = fdref_new(fd);
	if (!s->shm) {
		logmsg(s, LOG_ERR, "out of memory");
		goto err;
	}
	return 0;

err:
	close(fd);
	if (s->shm_created) {
		shm_unlink(s->shm_name);
		s->shm_created = false;
	}
	return -1;
}

static void sockaddr_for(struct sockaddr_un *sun, const char *path)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, path, strlen(path));
}

/* Refuse a path in use by a live server; remove a stale socket. */
static int check_socket_path(struct server *s)
{
	struct sockaddr_un sun;
	struct stat st;
	int fd, ret;

	if (lstat(s->sock_path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		logmsg(s, LOG_ERR, "cannot check socket path '%s': %s", s->sock_path,
		       strerror(errno));
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		logmsg(s, LOG_ERR, "'%s' exists and is not a socket; not removing it",
		       s->sock_path);
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		logmsg(s, LOG_ERR, "socket: %s", strerror(errno));
		return -1;
	}
	sockaddr_for(&sun, s->sock_path);
	ret = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	if (ret == 0 || errno == EAGAIN || errno == EINPROGRESS) {
		close(fd);
		logmsg(s, LOG_ERR, "socket '%s' is in use by a running server", s->sock_path);
		return -1;
	}
	ret = errno;
	close(fd);
	if (ret != ECONNREFUSED) {
		logmsg(s, LOG_ERR, "cannot check socket '%s': %s", s->sock_path, strerror(ret));
		return -1;
	}
	if (unlink(s->sock_path) < 0 && errno != ENOENT) {
		logmsg(s, LOG_ERR, "cannot remove stale socket '%s': %s", s->sock_path,
		       strerror(errno));
		return -1;
	}
	logmsg(s, LOG_NOTICE, "removed stale socket '%s'", s->sock_path);
	return 0;
}

/*
 * The socket is bound under a temporary name in the directory of the
 * socket path, listens, and only then is renamed into place: a client
 * that finds the path can connect at once (a UNIX socket file exists
 * from bind() on, and connecting before listen() is refused).
 */
struct sock_names {
	int dirfd;			/* the directory of the socket path */
	char base[NAME_MAX + 1];	/* the final name in dirfd */
	char tmp[NAME_MAX + 1];		/* the temporary name in dirfd */
	char addr[sizeof(((struct sockaddr_un *)0)->sun_path)];	/* for bind() */
};

/* "PATH.tmp-PID"; or a short name, reached through /proc if need be */
static int sock_names(struct server *s, struct sock_names *n)
{
	const char *slash = strrchr(s->sock_path, '/');
	const char *base = slash ? slash + 1 : s->sock_path;
	int dirlen = slash ? (int)(slash - s->sock_path) : 0;
	const char *dir = slash ? s->sock_path : ".";
	int pid = (int)getpid(), len;
	char *dirname = NULL;

	if (!*base || strlen(base) > NAME_MAX) {
		logmsg(s, LOG_ERR, "invalid socket path '%s': no file name at its end",
		       s->sock_path);
		return -1;
	}
	snprintf(n->base, sizeof(n->base), "%s", base);
	if (slash && dirlen == 0) {
		dir = "/";
	} else if (slash) {
		if (asprintf(&dirname, "%.*s", dirlen, s->sock_path) < 0) {
			logmsg(s, LOG_ERR, "out of memory");
			return -1;
		}
		dir = dirname;
	}
	n->dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (n->dirfd < 0) {
		logmsg(s, LOG_ERR, "cannot bind to '%s': directory '%s': %s", s->sock_path, dir,
		       strerror(errno));
		free(dirname);
		return -1;
	}
	free(dirname);

	len = snprintf(n->tmp, sizeof(n->tmp), "%s.tmp-%d", base, pid);
	if (len < 0 || (size_t)len >= sizeof(n->tmp))
		snprintf(n->tmp, sizeof(n->tmp), ".ivshmem-server.tmp-%d", pid);
	len = snprintf(n->addr, sizeof(n->addr), "%.*s%s%s", dirlen, s->sock_path,
		       slash ? "/" : "", n->tmp);
	if (len < 0 || (size_t)len >= sizeof(n->addr)) {
		snprintf(n->tmp, sizeof(n->tmp), ".ivshmem-server.tmp-%d", pid);
		len = snprintf(n->addr, sizeof(n->addr), "%.*s%s%s", dirlen, s->sock_path,
			       slash ? "/" : "", n->tmp);
	}
	if (len < 0 || (size_t)len >= sizeof(n->addr))
		snprintf(n->addr, sizeof(n->addr), "/proc/self/fd/%d/.ivshmem-server.tmp-%d",
			 n->dirfd, pid);
	return 0;
}

/*
 * Move the listening socket to the socket path, never over a socket a
 * live server answers on: RENAME_NOREPLACE (or link() where the file
 * system lacks it), and if something took the path since it was checked,
 * check again (a stale socket is removed, a live server makes us refuse).
 */
static int publish_socket(struct server *s, struct sock_names *n)
{
	int tries, err;

	for (tries = 0;; tries++) {
		if (renameat2(n->dirfd, n->tmp, n->dirfd, n->base, RENAME_NOREPLACE) == 0)
			return 0;
		err = errno;
		if (err == EINVAL || err == ENOSYS) {
			if (linkat(n->dirfd, n->tmp, n->dirfd, n->base, 0) == 0) {
				unlinkat(n->dirfd, n->tmp, 0);
				return 0;
			}
			err = errno;
			if (err != EEXIST) {
				/* neither: a plain rename, after the check made before */
				if (renameat(n->dirfd, n->tmp, n->dirfd, n->base) == 0)
					return 0;
				err = errno;
			}
		}
		if (err != EEXIST || tries == 3) {
			logmsg(s, LOG_ERR, "cannot move the socket into place at '%s': %s",
			       s->sock_path, strerror(err));
			return -1;
		}
		if (check_socket_path(s) < 0)
			return -1;
	}
}

static int open_socket(struct server *s)
{
	struct sock_names n = { .dirfd = -1 };
	struct sockaddr_un sun;
	struct stat st;
	int ret = -1;

	if (check_socket_path(s) < 0 || sock_names(s, &n) < 0)
		return -1;
	s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->listen_fd < 0) {
		logmsg(s, LOG_ERR, "socket: %s", strerror(errno));
		goto out;
	}
	/* the name carries our pid: a socket there is from a dead process */
	if (fstatat(n.dirfd, n.tmp, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISSOCK(st.st_mode))
		unlinkat(n.dirfd, n.tmp, 0);
	sockaddr_for(&sun, n.addr);
	if (bind(s->listen_fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		logmsg(s, LOG_ERR, "cannot bind to '%s' (to be renamed '%s'): %s", n.addr,
		       s->sock_path, strerror(errno));
		goto out;
	}
	if (fstatat(n.dirfd, n.tmp, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		logmsg(s, LOG_ERR, "cannot stat the socket '%s': %s", n.addr, strerror(errno));
		goto out_unlink;
	}
	if (listen(s->listen_fd, IVS_LISTEN_BACKLOG) < 0) {
		logmsg(s, LOG_ERR, "cannot listen on '%s': %s", n.addr, strerror(errno));
		goto out_unlink;
	}
	if (publish_socket(s, &n) < 0)
		goto out_unlink;
	/* the inode stays the same across the rename */
	s->sock_bound = true;
	s->sock_dev = st.st_dev;
	s->sock_ino = st.st_ino;
	ret = 0;
	goto out;

out_unlink:
	unlinkat(n.dirfd, n.tmp, 0);
out:
	if (n.dirfd >= 0)
		close(n.dirfd);
	return ret;
}

/*
 * Socket activation (systemd's LISTEN_FDS protocol, written here rather
 * than linking libsystemd for two environment variables): when
 * LISTEN_PID is our pid, LISTEN_FDS sockets start at fd 3. We take
 * exactly one, a listening AF_UNIX stream socket. Returns 1 when one was
 * inherited, 0 when none is, -1 on an error (logged).
 */
#define IVS_LISTEN_FDS_START 3

static int inherit_socket(struct server *s)
{
	const char *pid_str = getenv("LISTEN_PID"), *fds_str = getenv("LISTEN_FDS");
	int fd = IVS_LISTEN_FDS_START, val, fl;
	unsigned long pid, nfds;
	struct sockaddr_un sun;
	socklen_t len;
	char *end;

	if (!pid_str || !fds_str)
		return 0;
	errno = 0;
	pid = strtoul(pid_str, &end, 10);
	if (errno || *end || pid != (unsigned long)getpid())
		return 0;	/* meant for another process */
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	errno = 0;
	nfds = strtoul(fds_str, &end, 10);
	if (errno || *end || nfds != 1) {
		logmsg(s, LOG_ERR, "socket activation: LISTEN_FDS=%s, but exactly one socket "
		       "is expected", fds_str);
		return -1;
	}
	len = sizeof(val);
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &val, &len) < 0 || val != AF_UNIX ||
	    getsockopt(fd, SOL_SOCKET, SO_TYPE, &val, &len) < 0 || val != SOCK_STREAM ||
	    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &val, &len) < 0 || !val) {
		logmsg(s, LOG_ERR, "socket activation: fd %d is not a listening AF_UNIX "
		       "stream socket (ListenStream= with a path is expected)", fd);
		return -1;
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		logmsg(s, LOG_ERR, "socket activation: fd %d: %s", fd, strerror(errno));
		return -1;
	}
	s->listen_fd = fd;
	s->sock_inherited = true;
	/* its path, for the log lines */
	len = sizeof(sun);
	memset(&sun, 0, sizeof(sun));
	if (getsockname(fd, (struct sockaddr *)&sun, &len) == 0 && sun.sun_path[0]) {
		char *path = strndup(sun.sun_path, sizeof(sun.sun_path));

		if (path) {
			s->sock_path = path;
			free(s->sock_abspath);
			s->sock_abspath = strdup(path);
		}
	}
	return 1;
}

/*
 * Readiness and shutdown for a Type=notify service (systemd's notify
 * protocol: one datagram of "KEY=VALUE" lines to the AF_UNIX socket
 * named by $NOTIFY_SOCKET, a path or "@" for the abstract namespace).
 */
static void notify_setup(struct server *s)
{
	const char *path = getenv("NOTIFY_SOCKET");
	size_t len;

	if (!path)
		return;
	len = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || len < 2 ||
	    len >= sizeof(s->notify_addr.sun_path)) {
		logmsg(s, LOG_WARNING, "ignoring NOTIFY_SOCKET='%s': not a socket path", path);
		unsetenv("NOTIFY_SOCKET");
		return;
	}
	memset(&s->notify_addr, 0, sizeof(s->notify_addr));
	s->notify_addr.sun_family = AF_UNIX;
	memcpy(s->notify_addr.sun_path, path, len);
	if (path[0] == '@')
		s->notify_addr.sun_path[0] = '\0';
	s->notify_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	unsetenv("NOTIFY_SOCKET");
}

static void notify(struct server *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void notify(struct server *s, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int fd, len;

	if (!s->notify_len)
		return;
	va_start(ap, fmt);
	len = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (len < 0 || (size_t)len >= sizeof(msg))
		return;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (sendto(fd, msg, (size_t)len, MSG_NOSIGNAL, (struct sockaddr *)&s->notify_addr,
		   s->notify_len) < 0)
		logmsg(s, LOG_WARNING, "cannot notify the service manager: %s", strerror(errno));
	close(fd);
}

static int write_pidfile(struct server *s)
{
	char buf[32];
	int fd, len;

	if (!s->pidfile)
		return 0;
	fd = open(s->pidfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		logmsg(s, LOG_ERR, "cannot write pid file '%s': %s", s->pidfile, strerror(errno));
		return -1;
	}
	len = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (write(fd, buf, (size_t)len) != len) {
		logmsg(s, LOG_ERR, "cannot write pid file '%s'", s->pidfile);
		close(fd);
		unlink(s->pidfile);
		return -1;
	}
	close(fd);
	s->pid_written = true;
	return 0;
}

static int setup_loop(struct server *s)
{
	struct epoll_event ev;
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	s->sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	s->ep_fd = epoll_create1(EPOLL_CLOEXEC);
	if (s->sig_fd < 0 || s->ep_fd < 0) {
		logmsg(s, LOG_ERR, "cannot set up the event loop: %s", strerror(errno));
		return -1;
	}
	ev.events = EPOLLIN;
	ev.data.u64 = TOKEN_LISTEN;
	if (epoll_ctl(s->ep_fd, EPOLL_CTL_ADD, s->listen_fd, &ev) < 0)
		goto err;
	ev.data.u64 = TOKEN_SIGNAL;
	if (epoll_ctl(s->ep_fd, EPOLL_CTL_ADD, s->sig_fd, &ev) < 0)
		goto err;
	s->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	return 0;
err:
	logmsg(s, LOG_ERR, "epoll_ctl: %s", strerror(errno));
	return -1;
}

/*
 * Fork into the background.  The original process waits until the
 * daemon reports that it is ready (or failed), so that its exit status
 * tells the caller whether the server runs.  Returns the fd on which
 * the daemon reports readiness.
 */
static int daemonize(struct server *s)
{
	int pfd[2];
	pid_t pid;
	char c;

	if (pipe2(pfd, O_CLOEXEC) < 0) {
		logmsg(s, LOG_ERR, "pipe: %s", strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		logmsg(s, LOG_ERR, "fork: %s", strerror(errno));
		return -1;
	}
	if (pid > 0) {
		ssize_t n;

		close(pfd[1]);
		do {
			n = read(pfd[0], &c, 1);
		} while (n < 0 && errno == EINTR);
		waitpid(pid, NULL, 0);
		_exit(n == 1 ? 0 : 1);
	}
	close(pfd[0]);
	if (setsid() < 0)
		_exit(1);
	pid = fork();
	if (pid < 0) {
		logmsg(s, LOG_ERR, "fork: %s", strerror(errno));
		_exit(1);
	}
	if (pid > 0)
		_exit(0);
	if (chdir("/") < 0)
		_exit(1);
	return pfd[1];
}

static void detach_stdio(void)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return;
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
}

/*
 * Raise the soft fd limit as far as the hard limit allows.  Besides the
 * eventfds we hold (max_peers * (vectors + 1)), the kernel counts the
 * fds in flight in SCM_RIGHTS messages that clients have not read yet
 * against the sender's RLIMIT_NOFILE (unless privileged): a low limit
 * would let a few clients that do not read make sendmsg() fail for all.
 */
static void raise_fd_limit(struct server *s)
{
	rlim_t need = (rlim_t)s->max_peers * (s->vectors + 1) + 32;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < rl.rlim_max) {
		struct rlimit want = rl;

		want.rlim_cur = rl.rlim_max == RLIM_INFINITY ? 1048576 : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &want) < 0 && need > rl.rlim_cur) {
			want.rlim_cur = need;
			setrlimit(RLIMIT_NOFILE, &want);
		}
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < need)
		logmsg(s, LOG_WARNING,
		       "the file descriptor limit (%llu) is below the %llu that %u peers with %u "
		       "vectors may need; clients will be refused when it runs out",
		       (unsigned long long)rl.rlim_cur, (unsigned long long)need,
		       s->max_peers, s->vectors);
}

/*
 * How many clients may be in their handshake at once: each holds its
 * socket and its eventfds. What the fd limit leaves after the peers
 * (at least 16, at most IVS_MAX_PENDING); beyond it, the oldest goes.
 */
static unsigned int pending_limit(struct server *s)
{
	rlim_t per = s->vectors + 1, used = (rlim_t)s->max_peers * per + 64;
	struct rlimit rl;
	rlim_t n = IVS_MAX_PENDING;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		n = rl.rlim_cur > used ? (rl.rlim_cur - used) / per : 0;
	if (n > IVS_MAX_PENDING)
		n = IVS_MAX_PENDING;
	if (n < 16)
		n = 16;
	if (n > IVS_ID_SPACE - s->max_peers)
		n = IVS_ID_SPACE - s->max_peers;
	return n ? (unsigned int)n : 1;
}

static void teardown(struct server *s)
{
	unsigned int i;
	struct stat st;

	for (i = 0; s->peers && i < IVS_ID_SPACE; i++) {
		if (s->peers[i]) {
			peer_free(s, s->peers[i]);
			s->peers[i] = NULL;
		}
	}
	free(s->peers);
	s->peers = NULL;
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	/* remove the socket only if it is still ours */
	if (s->sock_bound && s->sock_abspath && stat(s->sock_abspath, &st) == 0 &&
	    st.st_dev == s->sock_dev && st.st_ino == s->sock_ino)
		unlink(s->sock_abspath);
	fdref_put(s->shm);
	if (s->shm_created)
		shm_unlink(s->shm_name);
	if (s->pid_written && s->pid_abspath)
		unlink(s->pid_abspath);
	if (s->sig_fd >= 0)
		close(s->sig_fd);
	if (s->ep_fd >= 0)
		close(s->ep_fd);
	if (s->reserve_fd >= 0)
		close(s->reserve_fd);
	free(s->sock_abspath);
	free(s->pid_abspath);
}

static const char *sig_name(uint32_t sig)
{
	switch (sig) {
	case SIGTERM:
		return "SIGTERM";
	case SIGINT:
		return "SIGINT";
	case SIGHUP:
		return "SIGHUP";
	default:
		return "signal";
	}
}

static int run_loop(struct server *s)
{
	struct epoll_event evs[64];

	for (;;) {
		int64_t next = run_timers(s), wait_ms = -1;
		int n, i;

		if (next >= 0) {
			wait_ms = next - mono_ms();
			if (wait_ms < 0)
				wait_ms = 0;
		}
		n = epoll_wait(s->ep_fd, evs, 64, (int)wait_ms);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			logmsg(s, LOG_ERR, "epoll_wait: %s", strerror(errno));
			return -1;
		}
		for (i = 0; i < n; i++) {
			uint64_t token = evs[i].data.u64;
			struct peer *p;

			if (token == TOKEN_LISTEN) {
				accept_clients(s);
			} else if (token == TOKEN_SIGNAL) {
				struct signalfd_siginfo si;

				while (read(s->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
					if (si.ssi_signo == SIGUSR1) {
						dump_peers(s);
						continue;
					}
					logmsg(s, LOG_NOTICE, "%s received; shutting down",
					       sig_name(si.ssi_signo));
					return 0;
				}
			} else if ((p = peer_by_token(s, token)) && !p->dead) {
				if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
					peer_input(s, p, evs[i].events);
				if (!p->dead && (evs[i].events & EPOLLOUT))
					flush_queue(s, p);
			}
			reap_dead(s);
		}
	}
}

int main(int argc, char **argv)
{
	struct server s = {
		.sock_path = IVS_DEFAULT_SOCKET,
		.shm_name = IVS_DEFAULT_SHM,
		.size = IVS_DEFAULT_SIZE,
		.vectors = 1,
		.max_peers = IVS_DEFAULT_PEERS,
		.timeout_ms = IVS_DEFAULT_TIMEOUT_MS,
		.listen_fd = -1,
		.sig_fd = -1,
		.ep_fd = -1,
		.reserve_fd = -1,
	};
	uint64_t rounded;
	sigset_t set;
	int ready_fd = -1;
	int ret = 1;

	parse_args(&s, argc, argv);
	if (!s.foreground && !s.pidfile)
		s.pidfile = IVS_DEFAULT_PIDFILE;

	rounded = pow2_ceil(s.size);
	if (rounded < (uint64_t)sysconf(_SC_PAGESIZE))
		rounded = (uint64_t)sysconf(_SC_PAGESIZE);
	if (rounded != s.size) {
		logmsg(&s, LOG_NOTICE,
		       "size %" PRIu64 " rounded up to %" PRIu64
		       " (QEMU's ivshmem needs a power-of-two size of at least a page)",
		       s.size, rounded);
		s.size = rounded;
	}
	/* a backlog as long as the longest handshake, twice, plus churn */
	s.qlimit = 2 * (3 + (size_t)s.max_peers * s.vectors) + 1024;

	s.peers = calloc(IVS_ID_SPACE, sizeof(*s.peers));
	s.sock_abspath = make_absolute(s.sock_path);
	if (s.pidfile)
		s.pid_abspath = make_absolute(s.pidfile);
	if (!s.peers || !s.sock_abspath || (s.pidfile && !s.pid_abspath)) {
		logmsg(&s, LOG_ERR, "out of memory");
		goto out;
	}

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0) {
		logmsg(&s, LOG_ERR, "sigprocmask: %s", strerror(errno));
		goto out;
	}
	raise_fd_limit(&s);
	s.max_pending = pending_limit(&s);

	notify_setup(&s);
	ret = inherit_socket(&s);
	if (ret < 0) {
		ret = 1;
		goto out;
	}
	if (open_memory(&s) < 0 || (!s.sock_inherited && open_socket(&s) < 0)) {
		ret = 1;
		goto out;
	}
	ret = 1;

	if (!s.foreground) {
		ready_fd = daemonize(&s);
		if (ready_fd < 0)
			goto out;
		s.pidfile = s.pid_abspath;
	}
	if (write_pidfile(&s) < 0 || setup_loop(&s) < 0)
		goto out;

	logmsg(&s, LOG_INFO,
	       "serving %" PRIu64 " bytes of %s '%s', %u vectors, at most %u peers",
	       s.size, s.shm_dir ? "memory in" : "shared memory object",
	       s.shm_dir ? s.shm_dir : s.shm_name, s.vectors, s.max_peers);
	/*
	 * The socket accepts connections since open_socket() renamed it into
	 * place; say so in one stable line (ivshmem-server(8) documents it).
	 * A daemon says it on the launcher's stderr and in syslog, and the
	 * launcher exits only after that.
	 */
	logmsg(&s, LOG_NOTICE, "ready: listening on %s", s.sock_path);
	fflush(stderr);
	if (ready_fd >= 0) {
		openlog("ivshmem-server", LOG_PID | LOG_NDELAY, LOG_DAEMON);
		s.use_syslog = true;
		logmsg(&s, LOG_NOTICE, "ready: listening on %s", s.sock_abspath);
		detach_stdio();
		if (write(ready_fd, "r", 1) != 1)
			goto out;
		close(ready_fd);
		ready_fd = -1;
	}

	notify(&s, "READY=1\nSTATUS=serving %u vectors, at most %u peers, on %s\nMAINPID=%d",
	       s.vectors, s.max_peers, s.sock_path, (int)getpid());

	ret = run_loop(&s) < 0 ? 1 : 0;
	notify(&s, "STOPPING=1\nSTATUS=shutting down");
out:
	teardown(&s);
	if (ready_fd >= 0)
		close(ready_fd);
	if (s.use_syslog)
		closelog();
	return ret;
}
