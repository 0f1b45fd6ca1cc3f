// SPDX-License-Identifier: MIT
/*
 * peer.c - host peer of an ivshmem server (protocol version 0).
 *
 * The server sends 8-byte little-endian signed integers, each optionally
 * with one fd.  We read them with recvmsg(), gather a message across
 * short reads, and treat any anomaly in the ancillary data (truncation,
 * more than one fd, an fd where none belongs) as a protocol error after
 * closing every fd that came in.
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>

#include "ivshmem-peer.h"

#define PROTOCOL_VERSION	0
#define MAX_VECTORS		IVSHMEM_PEER_MAX_VECTORS
#define MAX_ID			IVSHMEM_PEER_MAX_ID
#define EVENT_QUEUE_LEN		1024
#define HANDSHAKE_QUIET_MS	50
/*
 * Messages applied per ivshmem_peer_process() call: a server that never
 * stops sending must not keep the caller inside the library; the socket
 * stays readable, so the caller's poll() brings it back at once.
 */
#define PROCESS_BATCH		256
/* fds accepted per recvmsg(): more than one per message is an error */
#define RX_MAX_FDS		8

struct remote {
	uint32_t id;
	unsigned int nvec;
	bool announced;
	int fds[MAX_VECTORS];
};

struct ivshmem_peer {
	int sock;
	int epfd;
	int shm_fd;
	uint64_t shm_size;
	void *map;

	int id;
	unsigned int nvec;		/* own vectors */
	int own[MAX_VECTORS];
	bool handshake_done;
	int error;			/* sticky: -ECONNRESET, -EPROTO, ... */

	struct remote *peers;		/* sorted by id, self excluded */
	size_t npeers, peers_cap;

	/* a message being received */
	unsigned char rx[8];
	size_t rxlen;
	int rxfd;

	struct ivshmem_peer_event events[EVENT_QUEUE_LEN];
	size_t ev_head, ev_len;
	bool ev_lost;
};

/* ------------------------------------------------------------------ */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* milliseconds left before @deadline (-1: none), for poll() */
static int remaining_ms(int64_t deadline)
{
	int64_t left;

	if (deadline < 0)
		return -1;
	left = deadline - now_ms();
	if (left <= 0)
		return 0;
	return left > INT_MAX ? INT_MAX : (int)left;
}

static void push_event(struct ivshmem_peer *p, uint32_t type, uint32_t id)
{
	if (p->ev_len == EVENT_QUEUE_LEN) {
		p->ev_lost = true;
		return;
	}
	p->events[(p->ev_head + p->ev_len) % EVENT_QUEUE_LEN] =
		(struct ivshmem_peer_event){ .type = type, .peer_id = id };
	p->ev_len++;
}

/* binary search; returns the index where @id is or would be inserted */
static size_t remote_index(const struct ivshmem_peer *p, uint32_t id)
{
	size_t lo = 0, hi = p->npeers;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (p->peers[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct remote *remote_find(const struct ivshmem_peer *p, uint32_t id)
{
	size_t i = remote_index(p, id);

	if (i < p->npeers && p->peers[i].id == id)
		return &p->peers[i];
	return NULL;
}

static struct remote *remote_add(struct ivshmem_peer *p, uint32_t id)
{
	size_t i = remote_index(p, id);

	if (i < p->npeers && p->peers[i].id == id)
		return &p->peers[i];
	if (p->npeers == p->peers_cap) {
		size_t ncap = p->peers_cap ? p->peers_cap * 2 : 8;
		struct remote *n = realloc(p->peers, ncap * sizeof(*n));

		if (!n)
			return NULL;
		p->peers = n;
		p->peers_cap = ncap;
	}
	memmove(&p->peers[i + 1], &p->peers[i], (p->npeers - i) * sizeof(*p->peers));
	p->npeers++;
	memset(&p->peers[i], 0, sizeof(p->peers[i]));
	p->peers[i].id = id;
	return &p->peers[i];
}

static void remote_remove(struct ivshmem_peer *p, struct remote *r)
{
	size_t i = (size_t)(r - p->peers);
	unsigned int v;

	for (v = 0; v < r->nvec; v++)
		close(r->fds[v]);
	memmove(&p->peers[i], &p->peers[i + 1], (p->npeers - i - 1) * sizeof(*p->peers));
	p->npeers--;
}

static bool remote_complete(const struct ivshmem_peer *p, const struct remote *r)
{
	return p->handshake_done && r->nvec >= p->nvec;
}

/* ------------------------------------------------------------------ */
/* receiving                                                           */

/*
 * Receive one whole message without blocking.
 * Return: 1 with *val and *fd (-1 if none) set; 0 if no complete message
 * is available yet; -ECONNRESET at end of stream between messages;
 * -EPROTO for a message cut short or bad ancillary data; other -errno.
 */
static int recv_msg(struct ivshmem_peer *p, int64_t *val, int *fd)
{
	for (;;) {
		union {
			struct cmsghdr align;
			char buf[CMSG_SPACE(sizeof(int) * RX_MAX_FDS)];
		} ctl;
		struct iovec iov = {
			.iov_base = p->rx + p->rxlen,
			.iov_len = sizeof(p->rx) - p->rxlen,
		};
		struct msghdr mh = {
			.msg_iov = &iov,
			.msg_iovlen = 1,
			.msg_control = ctl.buf,
			.msg_controllen = sizeof(ctl.buf),
		};
		struct cmsghdr *cm;
		bool bad = false;
		ssize_t n;

		n = recvmsg(p->sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			return -errno;
		}

		for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
			size_t i, count;

			if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
				continue;
			count = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (i = 0; i < count; i++) {
				int f;

				memcpy(&f, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
				if (p->rxfd < 0 && !bad) {
					p->rxfd = f;
				} else {
					close(f);
					bad = true;
				}
			}
		}
		if (mh.msg_flags & MSG_CTRUNC)
			bad = true;
		if (bad)
			return -EPROTO;

		if (n == 0)
			return p->rxlen || p->rxfd >= 0 ? -EPROTO : -ECONNRESET;
		p->rxlen += (size_t)n;
		if (p->rxlen == sizeof(p->rx)) {
			uint64_t le;

			memcpy(&le, p->rx, sizeof(le));
			*val = (int64_t)le64toh(le);
			*fd = p->rxfd;
			p->rxfd = -1;
			p->rxlen = 0;
			return 1;
		}
	}
}

/*
 * Eventfds are shared: the server, and every peer that may ring us, hold
 * the same file. Whoever reads one between our poll() and our read() would
 * leave a blocking read() stuck for ever, and a write to a saturated one
 * would block: the library only does non-blocking I/O on them.
 */
static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

static int add_own_vector(struct ivshmem_peer *p, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN };

	if (p->nvec >= MAX_VECTORS || set_nonblock(fd) < 0) {
		close(fd);
		return -EPROTO;
	}
	ev.data.u32 = p->nvec;
	if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int err = -errno;

		close(fd);
		/* EPERM: not pollable, so no eventfd: the server's fault */
		return err == -ENOMEM || err == -ENOSPC ? err : -EPROTO;
	}
	p->own[p->nvec++] = fd;
	return 0;
}

/* Apply a peer message (id with an fd: a vector; id alone: departure). */
static int apply_msg(struct ivshmem_peer *p, int64_t val, int fd)
{
	struct remote *r;

	if (val < 0 || val > MAX_ID) {
		/* includes a second memory message (-1) */
		if (fd >= 0)
			close(fd);
		return -EPROTO;
	}
	if (fd >= 0) {
		if (val == p->id)
			return add_own_vector(p, fd);
		r = remote_add(p, (uint32_t)val);
		if (!r) {
			close(fd);
			return -ENOMEM;
		}
		if (r->nvec >= MAX_VECTORS || set_nonblock(fd) < 0) {
			close(fd);
			return -EPROTO;
		}
		r->fds[r->nvec++] = fd;
		if (!r->announced && remote_complete(p, r)) {
			r->announced = true;
			push_event(p, IVSHMEM_PEER_JOINED, r->id);
		}
		return 0;
	}
	if (val == p->id)
		return -EPROTO;	/* told that we left */
	r = remote_find(p, (uint32_t)val);
	if (!r)
		return 0;	/* never fully announced to us: nothing to undo */
	if (r->announced)
		push_event(p, IVSHMEM_PEER_LEFT, r->id);
	remote_remove(p, r);
	return 0;
}

static void finish_handshake(struct ivshmem_peer *p)
{
	size_t i;

	p->handshake_done = true;
	for (i = 0; i < p->npeers; i++) {
		struct remote *r = &p->peers[i];

		if (!r->announced && remote_complete(p, r)) {
			r->announced = true;
			push_event(p, IVSHMEM_PEER_JOINED, r->id);
		}
	}
}

static unsigned int max_remote_vectors(const struct ivshmem_peer *p)
{
	unsigned int m = 0;
	size_t i;

	for (i = 0; i < p->npeers; i++)
		if (p->peers[i].nvec > m)
			m = p->peers[i].nvec;
	return m;
}

static int wait_readable(int fd, int timeout)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int n;

	do {
		n = poll(&pfd, 1, timeout);
	} while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

enum { HS_VERSION, HS_ID, HS_MEMORY, HS_VECTORS };

static int reject(int fd)
{
	if (fd >= 0)
		close(fd);
	return -EPROTO;
}

static int handshake(struct ivshmem_peer *p, int timeout_ms)
{
	int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
	int state = HS_VERSION;
	bool got_any = false;

	for (;;) {
		struct stat st;
		int64_t val;
		int fd = -1;
		int ret = recv_msg(p, &val, &fd);

		if (ret == -ECONNRESET)
			return got_any ? -ECONNRESET : -ECONNREFUSED;
		if (ret < 0)
			return ret;
		if (ret == 0) {
			int left = remaining_ms(deadline);

			if (state == HS_VECTORS && p->nvec > 0) {
				unsigned int known = max_remote_vectors(p);

				if (known && p->nvec >= known)
					return 0;
				/* first peer: done once the server is quiet */
				if (left < 0 || left > HANDSHAKE_QUIET_MS)
					left = HANDSHAKE_QUIET_MS;
				ret = wait_readable(p->sock, left);
				if (ret == 0)
					return 0;
			} else {
				if (left == 0)
					return -ETIMEDOUT;
				ret = wait_readable(p->sock, left);
				if (ret == 0)
					return -ETIMEDOUT;
			}
			if (ret < 0)
				return ret;
			continue;
		}
		got_any = true;
		/*
		 * The deadline holds whatever the server sends: messages that
		 * make no progress (departures of peers nobody knows, say) must
		 * not keep us here.
		 */
		if (deadline >= 0 && now_ms() >= deadline) {
			if (fd >= 0)
				close(fd);
			return -ETIMEDOUT;
		}

		switch (state) {
		case HS_VERSION:
			if (val != PROTOCOL_VERSION || fd >= 0)
				return reject(fd);
			state = HS_ID;
			break;
		case HS_ID:
			if (val < 0 || val > MAX_ID || fd >= 0)
				return reject(fd);
			p->id = (int)val;
			state = HS_MEMORY;
			break;
		case HS_MEMORY:
			if (val != -1 || fd < 0)
				return reject(fd);
			if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0)
				return reject(fd);
			p->shm_fd = fd;
			p->shm_size = (uint64_t)st.st_size;
			state = HS_VECTORS;
			break;
		default:
			/* a message for another peer after our own vectors: it is over */
			if (p->nvec > 0 && val != p->id) {
				finish_handshake(p);
				return apply_msg(p, val, fd);
			}
			ret = apply_msg(p, val, fd);
			if (ret < 0)
				return ret;
			break;
		}
	}
}

int ivshmem_peer_connect_timeout(const char *socket_path, int timeout_ms,
				 struct ivshmem_peer **out)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = UINT32_MAX };
	struct ivshmem_peer *p;
	int64_t start;
	size_t len;
	int ret;

	if (!socket_path || !out)
		return -EINVAL;
	*out = NULL;
	len = strlen(socket_path);
	if (len == 0)
		return -EINVAL;
	if (len >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	memcpy(sun.sun_path, socket_path, len);

	start = now_ms();
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->shm_fd = -1;
	p->rxfd = -1;
	p->epfd = -1;
	p->id = -1;

	p->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (p->sock < 0) {
		ret = -errno;
		goto err;
	}
	p->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (p->epfd < 0) {
		ret = -errno;
		goto err;
	}
	if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->sock, &ev) < 0) {
		ret = -errno;
		goto err;
	}
	/* a server whose listen backlog is full must not hold connect() for ever */
	if (timeout_ms >= 0) {
		struct timeval tv = {
			.tv_sec = timeout_ms / 1000,
			.tv_usec = (timeout_ms % 1000) * 1000 + (timeout_ms ? 0 : 1),
		};

		setsockopt(p->sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	do {
		ret = connect(p->sock, (struct sockaddr *)&sun, sizeof(sun));
	} while (ret < 0 && errno == EINTR);
	if (ret < 0) {
		ret = errno == EAGAIN || errno == EINPROGRESS ? -ETIMEDOUT : -errno;
		goto err;
	}

	ret = handshake(p, timeout_ms < 0 ? -1 : remaining_ms(start + timeout_ms));
	if (ret < 0)
		goto err;
	if (!p->handshake_done)
		finish_handshake(p);
	*out = p;
	return 0;

err:
	ivshmem_peer_close(p);
	return ret;
}

int ivshmem_peer_connect(const char *socket_path, struct ivshmem_peer **out)
{
	return ivshmem_peer_connect_timeout(socket_path, IVSHMEM_PEER_CONNECT_TIMEOUT_MS, out);
}

void ivshmem_peer_close(struct ivshmem_peer *p)
{
	unsigned int v;
	size_t i;

	if (!p)
		return;
	if (p->map)
		munmap(p->map, (size_t)p->shm_size);
	for (i = 0; i < p->npeers; i++)
		for (v = 0; v < p->peers[i].nvec; v++)
			close(p->peers[i].fds[v]);
	free(p->peers);
	for (v = 0; v < p->nvec; v++)
		close(p->own[v]);
	if (p->rxfd >= 0)
		close(p->rxfd);
	if (p->shm_fd >= 0)
		close(p->shm_fd);
	if (p->epfd >= 0)
		close(p->epfd);
	if (p->sock >= 0)
		close(p->sock);
	free(p);
}

int ivshmem_peer_id(const struct ivshmem_peer *p)
{
	return p ? p->id : -EINVAL;
}

int ivshmem_peer_vectors(const struct ivshmem_peer *p)
{
	return p ? (int)p->nvec : -EINVAL;
}

int ivshmem_peer_shm_size(const struct ivshmem_peer *p, uint64_t *size)
{
	if (!p || !size)
		return -EINVAL;
	*size = p->shm_size;
	return 0;
}

int ivshmem_peer_map(struct ivshmem_peer *p, void **addr, uint64_t *size)
{
	void *m;

	if (!p || !addr)
		return -EINVAL;
	if (!p->map) {
		if (p->shm_size > SIZE_MAX)
			return -EFBIG;
		m = mmap(NULL, (size_t)p->shm_size, PROT_READ | PROT_WRITE, MAP_SHARED,
			 p->shm_fd, 0);
		if (m == MAP_FAILED)
			return -errno;
		p->map = m;
	}
	*addr = p->map;
	if (size)
		*size = p->shm_size;
	return 0;
}

int ivshmem_peer_fd(const struct ivshmem_peer *p)
{
	return p ? p->epfd : -EINVAL;
}

int ivshmem_peer_process(struct ivshmem_peer *p)
{
	unsigned int budget = PROCESS_BATCH;

	if (!p)
		return -EINVAL;
	while (!p->error && budget--) {
		int64_t val;
		int fd = -1;
		int ret = recv_msg(p, &val, &fd);

		if (ret == 0)
			break;
		if (ret > 0)
			ret = apply_msg(p, val, fd);
		if (ret < 0)
			p->error = ret;
	}
	return p->error;
}

int ivshmem_peer_ring(struct ivshmem_peer *p, uint32_t peer_id, uint32_t vector)
{
	const uint64_t one = 1;
	struct remote *r;
	ssize_t n;
	int fd;

	if (!p || vector >= p->nvec)
		return -EINVAL;
	if (p->id >= 0 && peer_id == (uint32_t)p->id) {
		fd = p->own[vector];
	} else {
		r = remote_find(p, peer_id);
		if (!r || !r->announced || vector >= r->nvec)
			return -ENOENT;
		fd = r->fds[vector];
	}
	do {
		n = write(fd, &one, sizeof(one));
	} while (n < 0 && errno == EINTR);
	if (n == (ssize_t)sizeof(one))
		return 0;
	return n < 0 ? -errno : -EIO;
}

/* Read the counters of the selected own vectors that poll() found ready. */
static uint64_t collect(struct ivshmem_peer *p, const struct pollfd *pfd,
			const unsigned int *vec, int count)
{
	uint64_t fired = 0;
	int i;

	for (i = 0; i < count; i++) {
		uint64_t cnt;

		if (!(pfd[i].revents & POLLIN))
			continue;
		if (read(p->own[vec[i]], &cnt, sizeof(cnt)) == (ssize_t)sizeof(cnt) && cnt)
			fired |= UINT64_C(1) << vec[i];
	}
	return fired;
}

int ivshmem_peer_wait(struct ivshmem_peer *p, uint64_t vector_mask, int timeout_ms,
		      uint64_t *fired_mask)
{
	struct pollfd pfd[MAX_VECTORS + 1];
	unsigned int vec[MAX_VECTORS];
	int64_t deadline;

	if (!p)
		return -EINVAL;
	if (fired_mask)
		*fired_mask = 0;
	deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;

	for (;;) {
		int ret = ivshmem_peer_process(p);
		bool gone = ret == -ECONNRESET;
		uint64_t fired;
		unsigned int v;
		int count = 0, n, left;

		if (ret < 0 && !gone)
			return ret;
		for (v = 0; v < p->nvec; v++) {
			if (!(vector_mask & (UINT64_C(1) << v)))
				continue;
			pfd[count] = (struct pollfd){ .fd = p->own[v], .events = POLLIN };
			vec[count++] = v;
		}
		if (count == 0)
			return -EINVAL;
		if (!gone)
			pfd[count] = (struct pollfd){ .fd = p->sock, .events = POLLIN };

		left = gone ? 0 : remaining_ms(deadline);
		do {
			n = poll(pfd, (nfds_t)count + (gone ? 0 : 1), left);
		} while (n < 0 && errno == EINTR);
		if (n < 0)
			return -errno;

		fired = collect(p, pfd, vec, count);
		if (fired) {
			if (fired_mask)
				*fired_mask = fired;
			return 0;
		}
		if (gone)
			return -ECONNRESET;
		/* on every round: a flood of server messages keeps n above 0 */
		if (remaining_ms(deadline) == 0)
			return -ETIMEDOUT;
	}
}

int ivshmem_peer_list(const struct ivshmem_peer *p, uint32_t *ids, size_t max, size_t *n)
{
	size_t i, count = 0;

	if (!p || !n || (max && !ids))
		return -EINVAL;
	for (i = 0; i < p->npeers; i++) {
		if (!p->peers[i].announced)
			continue;
		if (count < max)
			ids[count] = p->peers[i].id;
		count++;
	}
	*n = count;
	return 0;
}

int ivshmem_peer_next_event(struct ivshmem_peer *p, struct ivshmem_peer_event *ev)
{
	if (!p || !ev)
		return -EINVAL;
	if (p->ev_len) {
		*ev = p->events[p->ev_head];
		p->ev_head = (p->ev_head + 1) % EVENT_QUEUE_LEN;
		p->ev_len--;
		return 0;
	}
	if (p->ev_lost) {
		p->ev_lost = false;
		*ev = (struct ivshmem_peer_event){ .type = IVSHMEM_PEER_EVENTS_LOST };
		return 0;
	}
	return -EAGAIN;
}
