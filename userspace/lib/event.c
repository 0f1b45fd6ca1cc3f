// SPDX-License-Identifier: MIT
/*
 * event.c - doorbell vectors delivered to eventfds, and waiting for them,
 * by sleeping or by spinning on a word of the shared memory first.
 *
 * Each vector listened to has one eventfd, bound with IVSHMEM_IOCTL_BIND;
 * the driver adds one to its counter per interrupt. The handle's epoll set
 * holds these eventfds and the device file, which reports POLLHUP once the
 * device is removed (the driver also signals every bound eventfd then, so
 * a sleeper always wakes up and finds the device gone).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>

#include "internal.h"

#define NSEC_PER_MSEC	1000000ULL
#define NSEC_PER_SEC	1000000000ULL
/* sleep-polling a word: first and longest pause */
#define BACKOFF_MIN_NS	10000ULL
#define BACKOFF_MAX_NS	1000000ULL
/* spinning: look at the clock once per this many loads */
#define SPIN_CLOCK_EVERY 64

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

/* UINT64_MAX: no deadline */
static uint64_t deadline_of(uint64_t start, int timeout_ms)
{
	return timeout_ms < 0 ? UINT64_MAX : start + timeout_ms * NSEC_PER_MSEC;
}

/* milliseconds left, rounded up so that a sleep never ends early; -1: none */
static int ms_left(uint64_t deadline)
{
	uint64_t now, ms;

	if (deadline == UINT64_MAX)
		return -1;
	now = now_ns();
	if (now >= deadline)
		return 0;
	ms = (deadline - now + NSEC_PER_MSEC - 1) / NSEC_PER_MSEC;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

void ivshmem__events_init(struct ivshmem_dev *dev)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = IVS_EP_DEVICE };
	unsigned int v;

	for (v = 0; v < IVSHMEM_MAX_LISTEN_VECTORS; v++)
		dev->efd[v] = -1;
	dev->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (dev->epfd < 0) {
		dev->epfd = -errno;
		return;
	}
	/* the device file only ever reports EPOLLHUP | EPOLLERR */
	if (epoll_ctl(dev->epfd, EPOLL_CTL_ADD, dev->fd, &ev)) {
		int ret = -errno;

		close(dev->epfd);
		dev->epfd = ret;
	}
}

void ivshmem__events_release(struct ivshmem_dev *dev)
{
	unsigned int v;

	for (v = 0; v < IVSHMEM_MAX_LISTEN_VECTORS; v++)
		if (dev->efd[v] >= 0)
			close(dev->efd[v]);
	if (dev->epfd >= 0)
		close(dev->epfd);
}

bool ivshmem__device_gone(const struct ivshmem_dev *dev)
{
	struct pollfd pfd = { .fd = dev->fd, .events = POLLIN };

	return poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLHUP | POLLERR));
}

/* Bind @fds[first..first+count) to those vectors, in one ioctl. */
static int bind_run(struct ivshmem_dev *dev, unsigned int first, unsigned int count,
		    const int32_t *fds)
{
	struct ivshmem_bind bind = {
		.first_vector = first,
		.count = count,
		.fds = (uintptr_t)fds,
	};

	return ioctl(dev->fd, IVSHMEM_IOCTL_BIND, &bind) ? -errno : 0;
}

/* For each run of consecutive vectors in @mask: bind @fds of that run. */
static int bind_mask(struct ivshmem_dev *dev, uint64_t mask, const int32_t *fds,
		     uint64_t *done)
{
	unsigned int first, n;
	int ret;

	*done = 0;
	while (mask) {
		first = __builtin_ctzll(mask);
		for (n = 0; first + n < 64 && (mask >> (first + n) & 1); n++)
			;
		ret = bind_run(dev, first, n, fds + first);
		if (ret)
			return ret;
		mask &= n == 64 ? 0 : ~(((1ULL << n) - 1) << first);
		*done |= (n == 64 ? ~0ULL : ((1ULL << n) - 1) << first);
	}
	return 0;
}

static uint64_t device_vectors(const struct ivshmem_dev *dev)
{
	uint32_t n = dev->info.nr_vectors;

	return n >= IVSHMEM_MAX_LISTEN_VECTORS ? ~0ULL : (1ULL << n) - 1;
}

IVSHMEM_EXPORT int ivshmem_listen(struct ivshmem_dev *dev, uint64_t vector_mask)
{
	int32_t fds[IVSHMEM_MAX_LISTEN_VECTORS], none[IVSHMEM_MAX_LISTEN_VECTORS];
	uint64_t add, bound = 0, added = 0, m;
	unsigned int v;
	int ret = 0;

	if (!dev)
		return -EINVAL;
	if (!dev->info.nr_vectors)
		return -EOPNOTSUPP;
	if (vector_mask == IVSHMEM_VECTORS_ALL)
		vector_mask = device_vectors(dev);
	if (vector_mask & ~device_vectors(dev))
		return -EINVAL;
	add = vector_mask & ~dev->listening;
	if (!add)
		return 0;

	for (v = 0; v < IVSHMEM_MAX_LISTEN_VECTORS; v++) {
		fds[v] = -1;
		none[v] = -1;
	}
	for (m = add; m; m &= m - 1) {
		v = __builtin_ctzll(m);
		fds[v] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (fds[v] < 0) {
			ret = -errno;
			goto err_close;
		}
	}
	for (m = add; m; m &= m - 1) {
		struct epoll_event ev = { .events = EPOLLIN };

		v = __builtin_ctzll(m);
		ev.data.u64 = v;
		if (epoll_ctl(dev->epfd, EPOLL_CTL_ADD, fds[v], &ev)) {
			ret = -errno;
			goto err_epoll;
		}
		added |= 1ULL << v;
	}
	ret = bind_mask(dev, add, fds, &bound);
	if (ret)
		goto err_unbind;

	for (m = add; m; m &= m - 1) {
		v = __builtin_ctzll(m);
		dev->efd[v] = fds[v];
	}
	dev->listening |= add;
	return 0;

err_unbind:
	/* best effort: the runs bound so far point at eventfds about to close */
	bind_mask(dev, bound, none, &m);
err_epoll:
	for (m = added; m; m &= m - 1)
		epoll_ctl(dev->epfd, EPOLL_CTL_DEL, fds[__builtin_ctzll(m)], NULL);
err_close:
	for (v = 0; v < IVSHMEM_MAX_LISTEN_VECTORS; v++)
		if (fds[v] >= 0)
			close(fds[v]);
	return ret;
}

IVSHMEM_EXPORT int ivshmem_unlisten(struct ivshmem_dev *dev, uint64_t vector_mask)
{
	int32_t none[IVSHMEM_MAX_LISTEN_VECTORS];
	uint64_t m, done;
	unsigned int v;
	int ret;

	if (!dev)
		return -EINVAL;
	vector_mask &= dev->listening;
	if (!vector_mask)
		return 0;
	for (v = 0; v < IVSHMEM_MAX_LISTEN_VECTORS; v++)
		none[v] = -1;
	ret = bind_mask(dev, vector_mask, none, &done);
	for (m = vector_mask; m; m &= m - 1) {
		v = __builtin_ctzll(m);
		epoll_ctl(dev->epfd, EPOLL_CTL_DEL, dev->efd[v], NULL);
		close(dev->efd[v]);
		dev->efd[v] = -1;
	}
	dev->listening &= ~vector_mask;
	return ret;
}

IVSHMEM_EXPORT uint64_t ivshmem_listening(const struct ivshmem_dev *dev)
{
	return dev ? dev->listening : 0;
}

IVSHMEM_EXPORT int ivshmem_event_fd(const struct ivshmem_dev *dev)
{
	return dev ? dev->epfd : -EINVAL;
}

/* Resolve IVSHMEM_VECTORS_ALL and check that @mask is listened to. */
static int resolve_mask(const struct ivshmem_dev *dev, uint64_t *mask)
{
	if (*mask == IVSHMEM_VECTORS_ALL)
		*mask = dev->listening;
	return *mask & ~dev->listening ? -EINVAL : 0;
}

/* Read the counters of the eventfds in @ready, which are listened to. */
static int consume(struct ivshmem_dev *dev, uint64_t ready, uint64_t *fired,
		   uint64_t *counts)
{
	uint64_t m, val;
	unsigned int v;

	for (m = ready; m; m &= m - 1) {
		v = __builtin_ctzll(m);
		if (read(dev->efd[v], &val, sizeof(val)) != sizeof(val)) {
			if (errno == EAGAIN)
				continue;	/* nothing pending after all */
			return -errno;
		}
		*fired |= 1ULL << v;
		if (counts)
			counts[v] = val;
	}
	return 0;
}

/*
 * Sleep until a vector of @mask may have fired or the device is gone.
 * The epoll set serves when @mask is every vector listened to; a subset
 * needs poll(), or pending vectors outside it would end every sleep.
 * Return: 0 with *@ready, -ETIMEDOUT, -ENODEV, -EINTR.
 */
static int sleep_ready(struct ivshmem_dev *dev, uint64_t mask, int timeout_ms,
		       uint64_t *ready)
{
	struct pollfd pfd[IVSHMEM_MAX_LISTEN_VECTORS + 1];
	struct epoll_event ev[IVSHMEM_MAX_LISTEN_VECTORS + 1];
	unsigned int v, n = 0;
	uint64_t m;
	int i, nr;

	*ready = 0;
	if (mask == dev->listening) {
		nr = epoll_wait(dev->epfd, ev, IVSHMEM_MAX_LISTEN_VECTORS + 1,
				timeout_ms);
		if (nr < 0)
			return -errno;
		if (!nr)
			return -ETIMEDOUT;
		for (i = 0; i < nr; i++) {
			if (ev[i].data.u64 == IVS_EP_DEVICE)
				return -ENODEV;
			*ready |= 1ULL << ev[i].data.u64;
		}
		return 0;
	}

	pfd[n].fd = dev->fd;
	pfd[n++].events = POLLIN;
	for (m = mask; m; m &= m - 1) {
		pfd[n].fd = dev->efd[__builtin_ctzll(m)];
		pfd[n++].events = POLLIN;
	}
	nr = poll(pfd, n, timeout_ms);
	if (nr < 0)
		return -errno;
	if (!nr)
		return -ETIMEDOUT;
	if (pfd[0].revents)
		return -ENODEV;
	for (m = mask, i = 1; m; m &= m - 1, i++) {
		v = __builtin_ctzll(m);
		if (pfd[i].revents)
			*ready |= 1ULL << v;
	}
	return 0;
}

IVSHMEM_EXPORT int ivshmem_wait(struct ivshmem_dev *dev, uint64_t vector_mask,
				int timeout_ms, uint64_t *fired)
{
	uint64_t deadline, ready, got = 0;
	int ret;

	if (fired)
		*fired = 0;
	if (!dev)
		return -EINVAL;
	ret = resolve_mask(dev, &vector_mask);
	if (ret)
		return ret;

	deadline = deadline_of(now_ns(), timeout_ms);
	for (;;) {
		ret = sleep_ready(dev, vector_mask, ms_left(deadline), &ready);
		if (ret)
			return ret;
		ret = consume(dev, ready, &got, NULL);
		if (ret)
			return ret;
		if (got)
			break;
		/* a wakeup without a count: look again until the deadline */
		if (!ms_left(deadline))
			return -ETIMEDOUT;
	}
	if (fired)
		*fired = got;
	return 0;
}

IVSHMEM_EXPORT int ivshmem_drain(struct ivshmem_dev *dev, uint64_t vector_mask,
				 uint64_t *fired, uint64_t *counts)
{
	uint64_t got = 0;
	int ret;

	if (fired)
		*fired = 0;
	if (counts)
		memset(counts, 0, IVSHMEM_MAX_LISTEN_VECTORS * sizeof(*counts));
	if (!dev)
		return -EINVAL;
	ret = resolve_mask(dev, &vector_mask);
	if (ret)
		return ret;
	/* removal signals every eventfd once: do not report that as a ring */
	if (ivshmem__device_gone(dev))
		return -ENODEV;
	ret = consume(dev, vector_mask, &got, counts);
	if (fired)
		*fired = got;
	return ret;
}

/* An acquire load of a 4- or 8-byte word. */
static inline uint64_t load_word(const void *word, unsigned int width)
{
	if (width == 4)
		return __atomic_load_n((const uint32_t *)word, __ATOMIC_ACQUIRE);
	return __atomic_load_n((const uint64_t *)word, __ATOMIC_ACQUIRE);
}

/* Sleep for @ns, waking early (with -ENODEV) if the device goes away. */
static int nap(struct ivshmem_dev *dev, uint64_t ns)
{
	struct timespec ts = { .tv_sec = ns / NSEC_PER_SEC, .tv_nsec = ns % NSEC_PER_SEC };
	struct pollfd pfd;

	if (!dev)
		return nanosleep(&ts, NULL) ? -errno : 0;
	pfd.fd = dev->fd;
	pfd.events = POLLIN;
	if (ppoll(&pfd, 1, &ts, NULL) < 0)
		return -errno;
	return pfd.revents ? -ENODEV : 0;
}

static int wait_word(struct ivshmem_dev *dev, const void *word, unsigned int width,
		     uint64_t expected, uint64_t spin_ns, uint64_t vector_mask,
		     int timeout_ms, uint64_t *value)
{
	uint64_t start, deadline, spin_end, now, v, backoff = BACKOFF_MIN_NS;
	unsigned long i;
	int ret;

	if (!word || ((uintptr_t)word & (width - 1)) || (vector_mask && !dev))
		return -EINVAL;
	if (vector_mask) {
		ret = resolve_mask(dev, &vector_mask);
		if (ret)
			return ret;
	}

	start = now_ns();
	deadline = deadline_of(start, timeout_ms);
	spin_end = spin_ns > deadline - start ? deadline : start + spin_ns;

	/* spin: cheap loads, the clock now and then */
	for (i = 1;; i++) {
		v = load_word(word, width);
		if (v != expected)
			goto changed;
		if (!spin_ns || i % SPIN_CLOCK_EVERY == 0) {
			now = now_ns();
			if (now >= spin_end)
				break;
		}
		cpu_relax();
	}

	/* sleep: on the doorbell, or in growing naps */
	for (;;) {
		v = load_word(word, width);
		if (v != expected)
			goto changed;
		now = now_ns();
		if (now >= deadline)
			return -ETIMEDOUT;
		if (vector_mask) {
			ret = ivshmem_wait(dev, vector_mask, ms_left(deadline), NULL);
			if (ret && ret != -ETIMEDOUT)
				return ret;
		} else {
			ret = nap(dev, backoff < deadline - now ? backoff : deadline - now);
			if (ret)
				return ret;
			if (backoff < BACKOFF_MAX_NS)
				backoff *= 2;
		}
	}

changed:
	if (value)
		*value = v;
	return 0;
}

IVSHMEM_EXPORT int ivshmem_wait_u32(struct ivshmem_dev *dev, const uint32_t *word,
				    uint32_t expected, uint64_t spin_ns,
				    uint64_t vector_mask, int timeout_ms,
				    uint32_t *value)
{
	uint64_t v;
	int ret;

	ret = wait_word(dev, word, sizeof(*word), expected, spin_ns, vector_mask,
			timeout_ms, &v);
	if (!ret && value)
		*value = (uint32_t)v;
	return ret;
}

IVSHMEM_EXPORT int ivshmem_wait_u64(struct ivshmem_dev *dev, const uint64_t *word,
				    uint64_t expected, uint64_t spin_ns,
				    uint64_t vector_mask, int timeout_ms,
				    uint64_t *value)
{
	return wait_word(dev, word, sizeof(*word), expected, spin_ns, vector_mask,
			 timeout_ms, value);
}
