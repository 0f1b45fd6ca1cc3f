// SPDX-License-Identifier: MIT
/*
 * channel.c - message channels in a region of ivshmem shared memory.
 *
 * The layout (Documentation/ivshmem-channels.rst): a header, a table of
 * peer slots, and one SPSC byte ring per ordered pair of slots. Every ring
 * index is a 64-bit word: an epoch (from the two slots' generations) in the
 * high half and a free-running byte position in the low half, so words left
 * over from an earlier pairing of the slots are recognised and ignored.
 *
 * Trust: the header is read and checked once, at attach; from then on the
 * geometry comes from the handle, never from the shared memory. Every word
 * read from the region later (indices, record headers, peer slots) is
 * loaded once into a local, checked, and only the local is used. A ring
 * whose indices or records do not make sense is marked broken until its
 * peer joins again. Waits are bounded by the caller's timeout and, inside,
 * by the heartbeat period, so a lost doorbell only costs latency.
 *
 * Transports: a guest device (struct ivshmem_dev) or a host peer of an
 * ivshmem-server (struct ivshmem_peer), behind struct chan_ops.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>

#include "internal.h"
#include "ivshmem-channel.h"

/* ------------------------------------------------------------------ */
/* The shared layout (version 1.0)                                     */

#define CH_MAGIC		0x48435649U	/* "IVCH" in little-endian memory */
#define CH_HEADER_SIZE		256
#define CH_SLOT_SIZE		64
#define CH_RING_CTL_SIZE	128
#define CH_ALIGN		64

/* header.state */
#define CH_FORMATTING		1U
#define CH_READY		2U

/* slot presence word: generation << 32 | state */
#define SLOT_FREE		0U
#define SLOT_JOINING		1U
#define SLOT_ACTIVE		2U

/* record types (high half of a record header) */
#define REC_MSG			1U
#define REC_PAD			2U
#define REC_HDR			8U

#define NO_VECTOR		IVSHMEM_CHAN_NO_VECTOR
/* naps of a peer without a doorbell */
#define POLL_MIN_NS		20000ULL
#define POLL_MAX_NS		2000000ULL

struct shm_header {
	uint32_t magic;
	uint16_t major;
	uint16_t minor;
	uint32_t header_size;
	uint32_t state;
	uint64_t region_size;
	uint64_t format_id;
	uint32_t max_peers;
	uint32_t slot_size;
	uint64_t slots_off;
	uint32_t ring_size;
	uint32_t ring_ctl_size;
	uint64_t rings_off;
	uint64_t ring_stride;
	uint32_t heartbeat_ms;
	uint32_t dead_ms;
};

struct shm_slot {
	uint64_t presence;
	uint64_t heartbeat;
	uint32_t peer_id;
	uint32_t vector;	/* NO_VECTOR: ring nothing, poll */
	uint32_t flags;
	uint32_t reserved;
};

struct shm_ring {
	uint64_t head;		/* producer's line */
	uint32_t prod_wake;
	uint32_t pad0[13];
	uint64_t tail;		/* consumer's line */
	uint32_t cons_wake;
	uint32_t pad1[13];
};

_Static_assert(sizeof(struct shm_header) <= CH_HEADER_SIZE, "header");
_Static_assert(sizeof(struct shm_slot) <= CH_SLOT_SIZE, "slot");
_Static_assert(sizeof(struct shm_ring) == CH_RING_CTL_SIZE, "ring control");

/* One load or store of the shared memory: the compiler may not repeat it. */
#define LOAD_ACQ(p)	__atomic_load_n((p), __ATOMIC_ACQUIRE)
#define LOAD(p)		__atomic_load_n((p), __ATOMIC_RELAXED)
#define STORE_REL(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define STORE(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define FENCE()		__atomic_thread_fence(__ATOMIC_SEQ_CST)

/* ------------------------------------------------------------------ */
/* The handle                                                          */

#define EVENT_QUEUE	256
#define MS		1000000ULL

struct chan_ops {
	int (*ring)(struct ivshmem_chan *ch, uint32_t peer_id, uint32_t vector);
	/* sleep until the own vector fires: 0, -ETIMEDOUT or an error */
	int (*wait)(struct ivshmem_chan *ch, int timeout_ms);
	/* consume a pending doorbell and transport messages, never blocking */
	int (*drain)(struct ivshmem_chan *ch);
	void (*release)(struct ivshmem_chan *ch);
};

/* What this handle knows of one other slot and the two rings with it. */
struct link {
	bool present;
	bool tx_broken, rx_broken;
	uint32_t gen;
	uint32_t peer_id, vector;
	uint64_t hb_last;
	uint64_t hb_seen_ns;		/* when hb_last was first seen */
	/* a slot neither free nor active (a joiner that died, garbage) */
	uint64_t stuck_pres, stuck_hb, stuck_ns;
	/* ring self -> slot: we produce */
	struct shm_ring *tx;
	unsigned char *tx_data;
	uint32_t tx_epoch;
	uint32_t tx_head;		/* written, maybe not published */
	uint32_t tx_pub;		/* published */
	uint32_t tx_tail;		/* last tail seen */
	bool resv;			/* a reservation is open */
	uint32_t resv_pad;		/* bytes of padding before it */
	uint32_t resv_max;		/* its size */
	/* ring slot -> self: we consume */
	struct shm_ring *rx;
	unsigned char *rx_data;
	uint32_t rx_epoch;
	uint32_t rx_tail;		/* consumed locally */
	uint32_t rx_pub;		/* published */
	uint32_t rx_head;		/* last head seen */
	bool peeked;
	uint32_t peek_rec;		/* bytes of the peeked record */
};

struct ivshmem_chan {
	const struct chan_ops *ops;
	struct ivshmem_dev *dev;	/* guest transport */
	struct ivshmem_peer *peer;	/* host transport */
	bool listened;			/* guest: we started listening */
	bool server_gone;		/* host: the server hung up */
	void *map;			/* guest: what ivshmem_map() gave */

	unsigned char *base;		/* region start */
	struct shm_header *hdr;
	/* geometry, checked copies */
	uint64_t region_size, format_id;
	uint32_t max_peers, ring_size, mask, max_msg;
	uint64_t slots_off, rings_off, ring_stride;
	uint32_t heartbeat_ms, dead_ms;
	uint64_t spin_ns;
	uint64_t poll_ns;		/* the next nap without a doorbell */

	uint32_t self, self_gen, peer_id, vector;
	struct shm_slot *self_slot;
	uint64_t beat;
	uint64_t last_beat_ns, last_process_ns;
	uint64_t last_housekeep_ns;	/* CLOCK_MONOTONIC_COARSE */
	int error;			/* sticky: -ENOTCONN, -ENODEV, ... */
	uint32_t rr;			/* next slot for IVSHMEM_CHAN_ANY */

	int epfd, tfd;
	struct link links[IVSHMEM_CHAN_MAX_PEERS];

	struct ivshmem_chan_event events[EVENT_QUEUE];
	unsigned int ev_head, ev_len;
	bool ev_lost;
	struct ivshmem_chan_stats st;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t deadline_of(int timeout_ms)
{
	return timeout_ms < 0 ? UINT64_MAX : now_ns() + (uint64_t)timeout_ms * MS;
}

static int ms_left(uint64_t deadline)
{
	uint64_t now = now_ns(), ms;

	if (deadline == UINT64_MAX)
		return -1;
	if (now >= deadline)
		return 0;
	ms = (deadline - now + MS - 1) / MS;
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

static inline uint32_t align8(uint32_t n)
{
	return (n + 7U) & ~7U;
}

static uint32_t epoch_of(uint32_t prod_gen, uint32_t cons_gen)
{
	return (prod_gen & 0xffffU) << 16 | (cons_gen & 0xffffU);
}

static struct shm_slot *slot_at(const struct ivshmem_chan *ch, uint32_t s)
{
	return (struct shm_slot *)(ch->base + ch->slots_off + (uint64_t)s * CH_SLOT_SIZE);
}

static struct shm_ring *ring_at(const struct ivshmem_chan *ch, uint32_t from, uint32_t to)
{
	return (struct shm_ring *)(ch->base + ch->rings_off +
				   ((uint64_t)from * ch->max_peers + to) * ch->ring_stride);
}

static void push_event(struct ivshmem_chan *ch, uint32_t type, uint32_t slot,
		       uint32_t peer_id, uint32_t gen)
{
	struct ivshmem_chan_event *ev;

	if (ch->ev_len == EVENT_QUEUE) {
		ch->ev_lost = true;
		return;
	}
	ev = &ch->events[(ch->ev_head + ch->ev_len) % EVENT_QUEUE];
	*ev = (struct ivshmem_chan_event){
		.size = sizeof(*ev), .type = type, .slot = slot,
		.peer_id = peer_id, .generation = gen,
	};
	ch->ev_len++;
}

static void ring_peer(struct ivshmem_chan *ch, const struct link *l)
{
	if (l->vector == NO_VECTOR)
		return;
	if (ch->ops->ring(ch, l->peer_id, l->vector) == 0)
		ch->st.doorbells++;
}

static void broken(struct ivshmem_chan *ch, bool *flag)
{
	if (!*flag)
		ch->st.protocol_errors++;
	*flag = true;
}

/* ------------------------------------------------------------------ */
/* Peer table                                                          */

/* Start a new pairing with slot @s, generation @gen: our words only. */
static void link_reset(struct ivshmem_chan *ch, uint32_t s, uint32_t gen)
{
	struct link *l = &ch->links[s];

	l->gen = gen;
	l->tx_broken = l->rx_broken = false;
	l->tx_epoch = epoch_of(ch->self_gen, gen);
	l->tx_head = l->tx_pub = l->tx_tail = 0;
	l->resv = false;
	l->rx_epoch = epoch_of(gen, ch->self_gen);
	l->rx_tail = l->rx_pub = l->rx_head = 0;
	l->peeked = false;
	STORE(&l->tx->prod_wake, UINT32_MAX);
	STORE_REL(&l->tx->head, (uint64_t)l->tx_epoch << 32);
	STORE(&l->rx->cons_wake, UINT32_MAX);
	STORE_REL(&l->rx->tail, (uint64_t)l->rx_epoch << 32);
}

static void link_left(struct ivshmem_chan *ch, uint32_t s)
{
	struct link *l = &ch->links[s];

	l->present = false;
	l->resv = false;
	push_event(ch, IVSHMEM_CHAN_LEFT, s, l->peer_id, l->gen);
}

static void beat(struct ivshmem_chan *ch, uint64_t now)
{
	STORE_REL(&ch->self_slot->heartbeat, ++ch->beat);
	ch->last_beat_ns = now;
}

/*
 * A slot that is neither free nor active, and whose presence word and
 * heartbeat do not change for dead_ms, is freed: a joiner that died
 * half-way, or garbage, must not hold a slot for ever.
 */
static void reap_stuck(struct ivshmem_chan *ch, struct shm_slot *sl, struct link *l,
		       uint64_t pres, uint64_t now)
{
	uint64_t hb = LOAD(&sl->heartbeat);

	if (pres != l->stuck_pres || hb != l->stuck_hb || !l->stuck_ns) {
		l->stuck_pres = pres;
		l->stuck_hb = hb;
		l->stuck_ns = now;
		return;
	}
	if (now - l->stuck_ns > (uint64_t)ch->dead_ms * MS) {
		__atomic_compare_exchange_n(&sl->presence, &pres,
					    (pres & ~0xffffffffULL) | SLOT_FREE, false,
					    __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
		l->stuck_ns = 0;
	}
}

/*
 * Read the peer table once per slot: joins, leaves, silent peers. A
 * peer silent for dead_ms has its slot freed here (compare-and-swap on the
 * generation it had, so a peer that rejoined meanwhile is left alone).
 */
static void scan_table(struct ivshmem_chan *ch, uint64_t now)
{
	uint64_t mine = (uint64_t)ch->self_gen << 32 | SLOT_ACTIVE;
	uint32_t s;

	if (LOAD(&ch->self_slot->presence) != mine || LOAD(&ch->hdr->format_id) != ch->format_id) {
		if (!ch->error) {
			ch->error = -ENOTCONN;
			push_event(ch, IVSHMEM_CHAN_EVICTED, ch->self, ch->peer_id, ch->self_gen);
		}
		return;
	}
	for (s = 0; s < ch->max_peers; s++) {
		struct shm_slot *sl = slot_at(ch, s);
		struct link *l = &ch->links[s];
		uint64_t pres, hb;
		uint32_t gen, state;

		if (s == ch->self)
			continue;
		pres = LOAD_ACQ(&sl->presence);
		gen = (uint32_t)(pres >> 32);
		state = (uint32_t)pres;
		if (l->present && (state != SLOT_ACTIVE || gen != l->gen))
			link_left(ch, s);
		if (state != SLOT_ACTIVE || gen == 0) {
			if (state != SLOT_FREE)
				reap_stuck(ch, sl, l, pres, now);
			continue;
		}
		if (!l->present) {
			uint32_t vec = LOAD(&sl->vector);

			l->peer_id = LOAD(&sl->peer_id);
			l->vector = vec < IVSHMEM_MAX_LISTEN_VECTORS ? vec : NO_VECTOR;
			l->hb_last = LOAD(&sl->heartbeat);
			l->hb_seen_ns = now;
			l->present = true;
			link_reset(ch, s, gen);
			push_event(ch, IVSHMEM_CHAN_JOINED, s, l->peer_id, gen);
			continue;
		}
		hb = LOAD(&sl->heartbeat);
		if (hb != l->hb_last) {
			l->hb_last = hb;
			l->hb_seen_ns = now;
		} else if (now - l->hb_seen_ns > (uint64_t)ch->dead_ms * MS) {
			uint64_t expect = pres;

			__atomic_compare_exchange_n(&sl->presence, &expect,
						    (uint64_t)gen << 32 | SLOT_FREE, false,
						    __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
			link_left(ch, s);
		}
	}
}

static void drain_timer(struct ivshmem_chan *ch)
{
	uint64_t n;

	if (read(ch->tfd, &n, sizeof(n)) < 0)
		return;	/* EAGAIN: not due */
}

static int process(struct ivshmem_chan *ch)
{
	uint64_t now = now_ns();
	uint32_t s;
	int ret;

	ret = ch->ops->drain(ch);
	if (ret < 0 && !ch->error)
		ch->error = ret;
	drain_timer(ch);
	if (ch->error)
		return ch->error;
	/*
	 * Were we away (stopped, a paused VM) for half of dead_ms? Then the
	 * others' silence was not observed: start watching it again now.
	 */
	if (now - ch->last_process_ns > (uint64_t)ch->dead_ms * MS / 2)
		for (s = 0; s < ch->max_peers; s++)
			ch->links[s].hb_seen_ns = now;
	beat(ch, now);
	scan_table(ch, now);
	ch->last_process_ns = now;
	return ch->error;
}

/*
 * Called by every data call: heartbeat and table scan when due. The
 * coarse clock costs a few nanoseconds, so even a peer that sends once in
 * a while keeps beating.
 */
static void housekeep(struct ivshmem_chan *ch)
{
	struct timespec ts;
	uint64_t now;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
	if (now - ch->last_housekeep_ns >= (uint64_t)ch->heartbeat_ms * MS / 2) {
		ch->last_housekeep_ns = now;
		process(ch);
	}
}

/* ------------------------------------------------------------------ */
/* Rings                                                               */

/*
 * Make the next message of @l's receive ring current: skip padding.
 * Return: 0 with *@off (of the record) and *@len; -EAGAIN; -EPROTO.
 */
static int rx_next(struct ivshmem_chan *ch, struct link *l, uint32_t *off, uint32_t *len)
{
	int i;

	for (i = 0; i < 2; i++) {
		uint32_t avail = l->rx_head - l->rx_tail, o, n, type, rec;
		uint64_t w;

		if (!avail) {
			w = LOAD_ACQ(&l->rx->head);
			if ((uint32_t)(w >> 32) != l->rx_epoch)
				return -EAGAIN;	/* the producer has not paired yet */
			avail = (uint32_t)w - l->rx_tail;
			if (avail > ch->ring_size || avail % 8) {
				broken(ch, &l->rx_broken);
				return -EPROTO;
			}
			l->rx_head = (uint32_t)w;
			if (!avail)
				return -EAGAIN;
		}
		o = l->rx_tail & ch->mask;
		w = LOAD((uint64_t *)(l->rx_data + o));
		n = (uint32_t)w;
		type = (uint32_t)(w >> 32);
		if (type == REC_PAD) {
			rec = ch->ring_size - o;
			if (n != rec - REC_HDR || avail < rec + REC_HDR)
				goto bad;
			l->rx_tail += rec;
			continue;
		}
		if (type != REC_MSG || n > ch->max_msg)
			goto bad;
		rec = REC_HDR + align8(n);
		if (rec > avail || o + rec > ch->ring_size)
			goto bad;
		*off = o;
		*len = n;
		return 0;
	}
bad:
	broken(ch, &l->rx_broken);
	return -EPROTO;
}

/* Publish the consumed bytes; ring the producer if it waits for them. */
static void rx_publish(struct ivshmem_chan *ch, struct link *l)
{
	uint32_t old = l->rx_pub, ev;

	if (l->rx_tail == old)
		return;
	STORE_REL(&l->rx->tail, (uint64_t)l->rx_epoch << 32 | l->rx_tail);
	l->rx_pub = l->rx_tail;
	FENCE();
	ev = LOAD(&l->rx->prod_wake);
	if (l->present && (uint32_t)(l->rx_tail - ev - 1) < (uint32_t)(l->rx_tail - old))
		ring_peer(ch, l);
}

/* Publish the written records; ring the consumer if it sleeps. */
static void tx_publish(struct ivshmem_chan *ch, struct link *l)
{
	uint32_t old = l->tx_pub, ev;

	if (l->tx_head == old)
		return;
	STORE_REL(&l->tx->head, (uint64_t)l->tx_epoch << 32 | l->tx_head);
	l->tx_pub = l->tx_head;
	FENCE();
	ev = LOAD(&l->tx->cons_wake);
	if ((uint32_t)(l->tx_head - ev - 1) < (uint32_t)(l->tx_head - old))
		ring_peer(ch, l);
}

/* The consumer side is about to sleep: ask for a doorbell on new data. */
static void rx_arm(struct link *l)
{
	STORE(&l->rx->cons_wake, l->rx_tail);
	FENCE();
}

/* Bytes of ring needed for a record of @len at the current head. */
static uint32_t tx_need(const struct ivshmem_chan *ch, const struct link *l, uint32_t len,
			uint32_t *pad)
{
	uint32_t o = l->tx_head & ch->mask, rec = REC_HDR + align8(len);

	*pad = ch->ring_size - o < rec ? ch->ring_size - o : 0;
	return *pad + rec;
}

/* Is there room for @need bytes? With @arm, ask for a doorbell when not. */
static int tx_space(struct ivshmem_chan *ch, struct link *l, uint32_t need, bool arm)
{
	int pass;

	for (pass = 0; pass < 2; pass++) {
		uint64_t w;
		uint32_t used;

		if (ch->ring_size - (l->tx_head - l->tx_tail) >= need)
			return 0;
		w = LOAD_ACQ(&l->tx->tail);
		if ((uint32_t)(w >> 32) == l->tx_epoch) {
			used = l->tx_head - (uint32_t)w;
			if (used > ch->ring_size) {
				broken(ch, &l->tx_broken);
				return -EPROTO;
			}
			l->tx_tail = (uint32_t)w;
			if (ch->ring_size - used >= need)
				return 0;
		}
		if (!arm || pass)
			break;
		/* sleeping on a full ring with unpublished records would never end */
		tx_publish(ch, l);
		/* ring me once the tail reaches head + need - size */
		STORE(&l->tx->prod_wake, l->tx_head + need - ch->ring_size - 1);
		FENCE();
	}
	return -EAGAIN;
}

static void tx_write(struct ivshmem_chan *ch, struct link *l, uint32_t pad, const void *buf,
		     uint32_t len)
{
	uint32_t o = l->tx_head & ch->mask;

	if (pad) {
		STORE((uint64_t *)(l->tx_data + o), (uint64_t)REC_PAD << 32 | (pad - REC_HDR));
		l->tx_head += pad;
		o = 0;
	}
	if (buf && len)
		memcpy(l->tx_data + o + REC_HDR, buf, len);
	STORE((uint64_t *)(l->tx_data + o), (uint64_t)REC_MSG << 32 | len);
	l->tx_head += REC_HDR + align8(len);
	ch->st.sent++;
}

/* ------------------------------------------------------------------ */
/* Waiting                                                             */

/* A non-blocking attempt; @arm asks for a doorbell before giving up. */
typedef int (*attempt_fn)(struct ivshmem_chan *ch, void *arg, bool arm);

static int blocking(struct ivshmem_chan *ch, attempt_fn fn, void *arg, int timeout_ms)
{
	uint64_t deadline, spin_end;
	unsigned int i;
	int ret;

	if (ch->error)
		return ch->error;
	housekeep(ch);
	ret = fn(ch, arg, false);
	if (ret != -EAGAIN)
		return ret;
	if (timeout_ms == 0)
		return fn(ch, arg, true);

	ch->poll_ns = POLL_MIN_NS;
	deadline = deadline_of(timeout_ms);
	spin_end = now_ns() + ch->spin_ns;
	for (i = 1; ch->spin_ns; i++) {
		ret = fn(ch, arg, false);
		if (ret != -EAGAIN)
			return ret;
		if (i % 32 == 0 && now_ns() >= (spin_end < deadline ? spin_end : deadline))
			break;
		cpu_relax();
	}
	for (;;) {
		int left, nap;

		ret = fn(ch, arg, true);
		if (ret != -EAGAIN)
			return ret;
		left = ms_left(deadline);
		if (left == 0)
			return -ETIMEDOUT;
		/* wake at least once per heartbeat: beat, and re-check */
		nap = left < 0 || left > (int)ch->heartbeat_ms ? (int)ch->heartbeat_ms : left;
		ch->st.sleeps++;
		ret = ch->ops->wait(ch, nap);
		if (ret == 0)
			ch->st.wakeups++;
		else if (ret != -ETIMEDOUT && ret != -EINTR)
			return ch->error = ret;
		else if (ret == -EINTR)
			return ret;
		ret = process(ch);
		if (ret)
			return ret;
	}
}

/* ------------------------------------------------------------------ */
/* Sending                                                             */

static int tx_link(struct ivshmem_chan *ch, uint32_t to, struct link **out)
{
	struct link *l;

	if (ch->error)
		return ch->error;
	if (to >= ch->max_peers || to == ch->self)
		return -EINVAL;
	l = &ch->links[to];
	if (!l->present) {
		/* it may have joined since we last looked */
		process(ch);
		if (ch->error)
			return ch->error;
	}
	if (!l->present)
		return -ENOTCONN;
	if (l->tx_broken)
		return -EPROTO;
	*out = l;
	return 0;
}

struct space_arg {
	uint32_t to, len;
};

static int attempt_space(struct ivshmem_chan *ch, void *arg, bool arm)
{
	struct space_arg *a = arg;
	struct link *l;
	uint32_t pad;
	int ret = tx_link(ch, a->to, &l);

	if (ret)
		return ret;
	return tx_space(ch, l, tx_need(ch, l, a->len, &pad), arm);
}

static int wait_space(struct ivshmem_chan *ch, uint32_t to, size_t len, int timeout_ms)
{
	struct space_arg a = { .to = to, .len = (uint32_t)len };

	if (len > ch->max_msg)
		return -EMSGSIZE;
	return blocking(ch, attempt_space, &a, timeout_ms);
}

IVSHMEM_EXPORT int ivshmem_chan_send(struct ivshmem_chan *ch, uint32_t to, const void *buf,
				     size_t len, unsigned int flags, int timeout_ms)
{
	struct link *l;
	uint32_t pad;
	int ret;

	if (!ch || (len && !buf) || (flags & ~IVSHMEM_CHAN_MORE))
		return -EINVAL;
	ret = wait_space(ch, to, len, timeout_ms);
	if (ret)
		return ret;
	l = &ch->links[to];
	l->resv = false;
	tx_need(ch, l, (uint32_t)len, &pad);
	tx_write(ch, l, pad, buf, (uint32_t)len);
	if (!(flags & IVSHMEM_CHAN_MORE))
		tx_publish(ch, l);
	return 0;
}

IVSHMEM_EXPORT int ivshmem_chan_send_batch(struct ivshmem_chan *ch, uint32_t to,
					   const struct iovec *msgs, size_t n, size_t *sent,
					   int timeout_ms)
{
	struct link *l;
	size_t i;
	int ret;

	if (sent)
		*sent = 0;
	if (!ch || !sent || (n && !msgs))
		return -EINVAL;
	for (i = 0; i < n; i++)
		if (msgs[i].iov_len > ch->max_msg)
			return -EMSGSIZE;
		else if (msgs[i].iov_len && !msgs[i].iov_base)
			return -EINVAL;
	if (!n)
		return 0;
	ret = wait_space(ch, to, msgs[0].iov_len, timeout_ms);
	if (ret)
		return ret;
	l = &ch->links[to];
	l->resv = false;
	for (i = 0; i < n; i++) {
		uint32_t pad, need = tx_need(ch, l, (uint32_t)msgs[i].iov_len, &pad);

		if (i && tx_space(ch, l, need, false))
			break;
		tx_write(ch, l, pad, msgs[i].iov_base, (uint32_t)msgs[i].iov_len);
	}
	*sent = i;
	tx_publish(ch, l);
	return 0;
}

IVSHMEM_EXPORT int ivshmem_chan_flush(struct ivshmem_chan *ch, uint32_t to)
{
	struct link *l;
	int ret;

	if (!ch)
		return -EINVAL;
	ret = tx_link(ch, to, &l);
	if (ret)
		return ret;
	tx_publish(ch, l);
	return 0;
}

IVSHMEM_EXPORT int ivshmem_chan_reserve(struct ivshmem_chan *ch, uint32_t to, size_t len,
					void **buf, int timeout_ms)
{
	struct link *l;
	uint32_t pad;
	int ret;

	if (!ch || !buf)
		return -EINVAL;
	ret = wait_space(ch, to, len, timeout_ms);
	if (ret)
		return ret;
	l = &ch->links[to];
	tx_need(ch, l, (uint32_t)len, &pad);
	l->resv = true;
	l->resv_pad = pad;
	l->resv_max = (uint32_t)len;
	*buf = l->tx_data + (pad ? 0 : (l->tx_head & ch->mask)) + REC_HDR;
	return 0;
}

IVSHMEM_EXPORT int ivshmem_chan_commit(struct ivshmem_chan *ch, uint32_t to, size_t len,
				       unsigned int flags)
{
	struct link *l;
	int ret;

	if (!ch || (flags & ~IVSHMEM_CHAN_MORE))
		return -EINVAL;
	ret = tx_link(ch, to, &l);
	if (ret)
		return ret;
	if (!l->resv || len > l->resv_max)
		return -EINVAL;
	l->resv = false;
	tx_write(ch, l, l->resv_pad, NULL, (uint32_t)len);
	if (!(flags & IVSHMEM_CHAN_MORE))
		tx_publish(ch, l);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Receiving                                                           */

struct recv_arg {
	uint32_t from;		/* slot or IVSHMEM_CHAN_ANY */
	uint32_t src, off, len;	/* out */
};

static int attempt_one(struct ivshmem_chan *ch, struct link *l, struct recv_arg *a, bool arm)
{
	int ret;

	if (!l->present) {
		/*
		 * What a peer sent before it left stays readable until its
		 * slot is taken again (a new epoch then hides it).
		 */
		if (!l->rx_epoch || l->rx_broken)
			return -ENOTCONN;
		ret = rx_next(ch, l, &a->off, &a->len);
		return ret ? -ENOTCONN : 0;
	}
	if (l->rx_broken)
		return -EPROTO;
	ret = rx_next(ch, l, &a->off, &a->len);
	if (ret == -EAGAIN && arm) {
		rx_publish(ch, l);
		rx_arm(l);
		ret = rx_next(ch, l, &a->off, &a->len);
	}
	return ret;
}

static int attempt_recv(struct ivshmem_chan *ch, void *arg, bool arm)
{
	struct recv_arg *a = arg;
	uint32_t i, s;

	if (ch->error)
		return ch->error;
	if (a->from != IVSHMEM_CHAN_ANY) {
		a->src = a->from;
		if (!ch->links[a->from].present && !arm)
			process(ch);	/* it may have joined since we last looked */
		return attempt_one(ch, &ch->links[a->from], a, arm);
	}
	for (i = 0; i < ch->max_peers; i++) {
		s = (ch->rr + i) % ch->max_peers;
		if (s == ch->self)
			continue;
		if (attempt_one(ch, &ch->links[s], a, arm) == 0) {
			a->src = s;
			ch->rr = (s + 1) % ch->max_peers;
			return 0;
		}
	}
	return -EAGAIN;
}

static int recv_common(struct ivshmem_chan *ch, uint32_t from, struct recv_arg *a,
		       int timeout_ms)
{
	if (!ch)
		return -EINVAL;
	if (from != IVSHMEM_CHAN_ANY && (from >= ch->max_peers || from == ch->self))
		return -EINVAL;
	a->from = from;
	return blocking(ch, attempt_recv, a, timeout_ms);
}

static void rx_consume(struct ivshmem_chan *ch, struct link *l, uint32_t len)
{
	l->rx_tail += REC_HDR + align8(len);
	l->peeked = false;
	ch->st.received++;
}

IVSHMEM_EXPORT int ivshmem_chan_recv(struct ivshmem_chan *ch, uint32_t from, void *buf,
				     size_t cap, size_t *len, uint32_t *src, int timeout_ms)
{
	struct recv_arg a;
	struct link *l;
	int ret;

	if (!len || (cap && !buf))
		return -EINVAL;
	ret = recv_common(ch, from, &a, timeout_ms);
	if (ret)
		return ret;
	l = &ch->links[a.src];
	*len = a.len;
	if (src)
		*src = a.src;
	if (a.len > cap)
		return -EMSGSIZE;
	if (a.len)
		memcpy(buf, l->rx_data + a.off + REC_HDR, a.len);
	rx_consume(ch, l, a.len);
	rx_publish(ch, l);
	return 0;
}

IVSHMEM_EXPORT int ivshmem_chan_recv_batch(struct ivshmem_chan *ch, uint32_t from,
					   struct iovec *msgs, size_t n, size_t *got,
					   uint32_t *src, int timeout_ms)
{
	struct recv_arg a;
	struct link *l;
	size_t i;
	int ret;

	if (got)
		*got = 0;
	if (!got || !n || !msgs)
		return -EINVAL;
	ret = recv_common(ch, from, &a, timeout_ms);
	if (ret)
		return ret;
	l = &ch->links[a.src];
	if (src)
		*src = a.src;
	for (i = 0; i < n; i++) {
		if (i && rx_next(ch, l, &a.off, &a.len))
			break;
		if (a.len > msgs[i].iov_len) {
			if (!i) {
				msgs[0].iov_len = a.len;
				return -EMSGSIZE;
			}
			break;
		}
		if (a.len)
			memcpy(msgs[i].iov_base, l->rx_data + a.off + REC_HDR, a.len);
		msgs[i].iov_len = a.len;
		rx_consume(ch, l, a.len);
	}
	*got = i;
	rx_publish(ch, l);
	return 0;
}

IVSHMEM_EXPORT int ivshmem_chan_peek(struct ivshmem_chan *ch, uint32_t from, const void **buf,
				     size_t *len, uint32_t *src, int timeout_ms)
{
	struct recv_arg a;
	struct link *l;
	int ret;

	if (!buf || !len)
		return -EINVAL;
	ret = recv_common(ch, from, &a, timeout_ms);
	if (ret)
		return ret;
	l = &ch->links[a.src];
	l->peeked = true;
	l->peek_rec = REC_HDR + align8(a.len);
	*buf = l->rx_data + a.off + REC_HDR;
	*len = a.len;
	if (src)
		*src = a.src;
	return 0;
}

IVSHMEM_EXPORT int ivshmem_chan_release(struct ivshmem_chan *ch, uint32_t src)
{
	struct link *l;

	if (!ch || src >= ch->max_peers || src == ch->self)
		return -EINVAL;
	if (ch->error)
		return ch->error;
	l = &ch->links[src];
	if (!l->peeked)
		return -EINVAL;
	l->rx_tail += l->peek_rec;
	l->peeked = false;
	ch->st.received++;
	rx_publish(ch, l);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Transports                                                          */

static int dev_ring(struct ivshmem_chan *ch, uint32_t peer_id, uint32_t vector)
{
	int ret = ivshmem_ring_mmio(ch->dev, peer_id, vector);

	if (ret == -EOPNOTSUPP)
		ret = ivshmem_ring(ch->dev, peer_id, vector);
	return ret;
}

/*
 * Without a doorbell (IVSHMEM_CHAN_NO_VECTOR, e.g. ivshmem-plain): nap,
 * from POLL_MIN_NS doubling to POLL_MAX_NS while nothing happens.
 */
static int poll_nap(struct ivshmem_chan *ch, int timeout_ms)
{
	uint64_t ns = ch->poll_ns;
	struct timespec ts;

	if (timeout_ms >= 0 && ns > (uint64_t)timeout_ms * MS)
		ns = (uint64_t)timeout_ms * MS;
	ts.tv_sec = (time_t)(ns / 1000000000ULL);
	ts.tv_nsec = (long)(ns % 1000000000ULL);
	if (nanosleep(&ts, NULL))
		return -errno;
	if (ch->poll_ns < POLL_MAX_NS)
		ch->poll_ns *= 2;
	if (ch->dev && ivshmem__device_gone(ch->dev))
		return -ENODEV;
	return -ETIMEDOUT;
}

static int dev_wait(struct ivshmem_chan *ch, int timeout_ms)
{
	if (ch->vector == NO_VECTOR)
		return poll_nap(ch, timeout_ms);
	return ivshmem_wait(ch->dev, UINT64_C(1) << ch->vector, timeout_ms, NULL);
}

static int dev_drain(struct ivshmem_chan *ch)
{
	if (ch->vector == NO_VECTOR)
		return ivshmem__device_gone(ch->dev) ? -ENODEV : 0;
	return ivshmem_drain(ch->dev, UINT64_C(1) << ch->vector, NULL, NULL);
}

static void dev_release(struct ivshmem_chan *ch)
{
	if (ch->map)
		ivshmem_unmap(ch->dev, ch->map);
	if (ch->listened && ch->vector != NO_VECTOR)
		ivshmem_unlisten(ch->dev, UINT64_C(1) << ch->vector);
}

static const struct chan_ops dev_ops = {
	.ring = dev_ring, .wait = dev_wait, .drain = dev_drain, .release = dev_release,
};

static int host_ring(struct ivshmem_chan *ch, uint32_t peer_id, uint32_t vector)
{
	int ret = ivshmem_peer_ring(ch->peer, peer_id, vector);

	if (ret == -ENOENT) {
		/* the server may have told of the peer since we last looked */
		ivshmem_peer_process(ch->peer);
		ret = ivshmem_peer_ring(ch->peer, peer_id, vector);
	}
	return ret;
}

/*
 * The server going away (-ECONNRESET) does not end the channel: the
 * memory and the eventfds of the peers known stay. Its descriptor stays
 * readable for ever, so it leaves the epoll set, and waits become naps
 * that look at the own vector after each.
 */
static void host_server_gone(struct ivshmem_chan *ch)
{
	if (ch->server_gone)
		return;
	ch->server_gone = true;
	if (ch->vector != NO_VECTOR)
		epoll_ctl(ch->epfd, EPOLL_CTL_DEL, ivshmem_peer_fd(ch->peer), NULL);
}

static int host_drain(struct ivshmem_chan *ch)
{
	int ret;

	if (ch->vector == NO_VECTOR)
		ret = ivshmem_peer_process(ch->peer);
	else
		ret = ivshmem_peer_wait(ch->peer, UINT64_C(1) << ch->vector, 0, NULL);
	if (ret == -ECONNRESET)
		host_server_gone(ch);
	return ret == -ETIMEDOUT || ret == -ECONNRESET ? 0 : ret;
}

static int host_wait(struct ivshmem_chan *ch, int timeout_ms)
{
	int ret;

	if (ch->vector == NO_VECTOR || ch->server_gone) {
		ret = host_drain(ch);
		return ret ? ret : poll_nap(ch, timeout_ms);
	}
	ret = ivshmem_peer_wait(ch->peer, UINT64_C(1) << ch->vector, timeout_ms, NULL);
	if (ret == -ECONNRESET) {
		host_server_gone(ch);
		return poll_nap(ch, timeout_ms);
	}
	return ret;
}

static void host_release(struct ivshmem_chan *ch)
{
	(void)ch;	/* the mapping belongs to the peer handle */
}

static const struct chan_ops host_ops = {
	.ring = host_ring, .wait = host_wait, .drain = host_drain, .release = host_release,
};

/* ------------------------------------------------------------------ */
/* Create, attach, close                                               */

IVSHMEM_EXPORT void ivshmem_chan_config_init(struct ivshmem_chan_config *cfg)
{
	if (!cfg)
		return;
	*cfg = (struct ivshmem_chan_config){
		.size = sizeof(*cfg),
		.max_peers = 4,
		.ring_size = 64 * 1024,
		.heartbeat_ms = 250,
		.dead_ms = 5000,
		.spin_ns = 20000,
	};
}

/* the first version of struct ivshmem_chan_config ends with spin_ns */
#define CONFIG_SIZE_V1	(offsetof(struct ivshmem_chan_config, spin_ns) + sizeof(uint64_t))
#define CONFIG_SIZE_MAX	4096

/*
 * The caller's config, as large as the caller's library version made it:
 * fields it does not have keep their defaults; fields this library does
 * not know must be zero (-E2BIG otherwise), as copy_struct_from_user()
 * has it.
 */
static int config_copy(const struct ivshmem_chan_config *in, struct ivshmem_chan_config *out)
{
	size_t i;

	ivshmem_chan_config_init(out);
	if (!in || in->size < CONFIG_SIZE_V1 || in->size > CONFIG_SIZE_MAX)
		return -EINVAL;
	for (i = sizeof(*out); i < in->size; i++)
		if (((const unsigned char *)in)[i])
			return -E2BIG;
	memcpy(out, in, in->size < sizeof(*out) ? in->size : sizeof(*out));
	out->size = sizeof(*out);
	return out->flags ? -EINVAL : 0;
}

static int check_geometry(const struct ivshmem_chan_config *c)
{
	if (c->max_peers < 2 || c->max_peers > IVSHMEM_CHAN_MAX_PEERS)
		return -EINVAL;
	if (c->ring_size < IVSHMEM_CHAN_MIN_RING || c->ring_size > IVSHMEM_CHAN_MAX_RING ||
	    (c->ring_size & (c->ring_size - 1)))
		return -EINVAL;
	if (c->heartbeat_ms < 1 || c->heartbeat_ms > 60000 ||
	    c->dead_ms < 4 * c->heartbeat_ms || c->dead_ms > 3600000)
		return -EINVAL;
	return 0;
}

static uint64_t layout_rings_off(uint32_t max_peers)
{
	uint64_t end = CH_HEADER_SIZE + (uint64_t)max_peers * CH_SLOT_SIZE;

	return (end + CH_ALIGN - 1) / CH_ALIGN * CH_ALIGN;
}

/* Map the region and set up the transport (but not the layout). */
static int chan_new(struct ivshmem_dev *dev, struct ivshmem_peer *peer,
		    const struct ivshmem_chan_config *cfg, struct ivshmem_chan **out)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct ivshmem_chan *ch;
	uint64_t size, length;
	int ret;

	ch = calloc(1, sizeof(*ch));
	if (!ch)
		return -ENOMEM;
	ch->epfd = ch->tfd = -1;
	ch->dev = dev;
	ch->peer = peer;
	ch->vector = cfg->vector;
	ch->spin_ns = cfg->spin_ns;
	ch->poll_ns = POLL_MIN_NS;
	ch->st.size = sizeof(ch->st);

	if (dev) {
		ch->ops = &dev_ops;
		size = ivshmem_size(dev);
		ch->peer_id = dev->info.peer_id;
		if (cfg->vector != NO_VECTOR && (cfg->vector >= dev->info.nr_vectors ||
						 cfg->vector >= IVSHMEM_MAX_LISTEN_VECTORS)) {
			ret = -EOPNOTSUPP;
			goto err;
		}
	} else {
		ch->ops = &host_ops;
		if (ivshmem_peer_id(peer) < 0 || ivshmem_peer_shm_size(peer, &size)) {
			ret = -EINVAL;
			goto err;
		}
		ch->peer_id = (uint32_t)ivshmem_peer_id(peer);
		if (cfg->vector != NO_VECTOR && ((int)cfg->vector >= ivshmem_peer_vectors(peer) ||
						 cfg->vector >= IVSHMEM_PEER_MAX_VECTORS)) {
			ret = -EOPNOTSUPP;
			goto err;
		}
	}
	length = cfg->length ? cfg->length : (cfg->offset < size ? size - cfg->offset : 0);
	if (cfg->offset % CH_ALIGN || cfg->offset >= size || length > size - cfg->offset ||
	    length < CH_HEADER_SIZE) {
		ret = cfg->offset % CH_ALIGN ? -EINVAL : -ERANGE;
		goto err;
	}
	if (length > SIZE_MAX) {
		ret = -EFBIG;
		goto err;
	}
	ch->region_size = length;

	if (dev) {
		size_t page = dev->page_size;
		uint64_t start = cfg->offset / page * page;
		void *m;

		ret = ivshmem_map(dev, start, cfg->offset - start + length, 0, &m);
		if (ret)
			goto err;
		ch->map = m;
		ch->base = (unsigned char *)m + (cfg->offset - start);
		if (ch->vector != NO_VECTOR &&
		    !(ivshmem_listening(dev) & (UINT64_C(1) << ch->vector))) {
			ret = ivshmem_listen(dev, UINT64_C(1) << ch->vector);
			if (ret)
				goto err;
			ch->listened = true;
		}
	} else {
		void *m;

		ret = ivshmem_peer_map(peer, &m, NULL);
		if (ret)
			goto err;
		ch->base = (unsigned char *)m + cfg->offset;
	}
	ch->hdr = (struct shm_header *)ch->base;

	ch->epfd = epoll_create1(EPOLL_CLOEXEC);
	ch->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (ch->epfd < 0 || ch->tfd < 0) {
		ret = -errno;
		goto err;
	}
	ev.data.fd = ch->tfd;
	if (epoll_ctl(ch->epfd, EPOLL_CTL_ADD, ch->tfd, &ev))
		goto err_errno;
	/* polling: only the heartbeat timer (and a guest device's removal) */
	if (dev) {
		if (ch->vector != NO_VECTOR) {
			ev.data.fd = dev->efd[ch->vector];
			if (epoll_ctl(ch->epfd, EPOLL_CTL_ADD, dev->efd[ch->vector], &ev))
				goto err_errno;
		}
		ev.data.fd = dev->fd;	/* reports removal only */
		if (epoll_ctl(ch->epfd, EPOLL_CTL_ADD, dev->fd, &ev))
			goto err_errno;
	} else if (ch->vector != NO_VECTOR) {
		ev.data.fd = ivshmem_peer_fd(peer);
		if (epoll_ctl(ch->epfd, EPOLL_CTL_ADD, ev.data.fd, &ev))
			goto err_errno;
	}
	*out = ch;
	return 0;

err_errno:
	ret = -errno;
err:
	if (ch->ops)
		ch->ops->release(ch);
	if (ch->tfd >= 0)
		close(ch->tfd);
	if (ch->epfd >= 0)
		close(ch->epfd);
	free(ch);
	return ret;
}

static void chan_free(struct ivshmem_chan *ch)
{
	ch->ops->release(ch);
	close(ch->tfd);
	close(ch->epfd);
	free(ch);
}

/* Read the header once, check it, keep the checked copies. */
static int read_header(struct ivshmem_chan *ch)
{
	struct shm_header *h = ch->hdr;
	uint32_t magic, state, hsize, slot_size, ctl_size;
	uint64_t slots_off, need;
	struct ivshmem_chan_config c;

	magic = LOAD(&h->magic);
	state = LOAD_ACQ(&h->state);
	if (magic != CH_MAGIC || state != CH_READY)
		return -EAGAIN;
	if (LOAD(&h->major) != IVSHMEM_CHAN_LAYOUT_MAJOR)
		return -EPROTO;
	hsize = LOAD(&h->header_size);
	need = LOAD(&h->region_size);
	if (need > ch->region_size)
		return -EPROTO;	/* laid out for more than we were given */
	ch->region_size = need;
	ch->format_id = LOAD(&h->format_id);
	c.max_peers = LOAD(&h->max_peers);
	slot_size = LOAD(&h->slot_size);
	slots_off = LOAD(&h->slots_off);
	c.ring_size = LOAD(&h->ring_size);
	ctl_size = LOAD(&h->ring_ctl_size);
	ch->rings_off = LOAD(&h->rings_off);
	ch->ring_stride = LOAD(&h->ring_stride);
	c.heartbeat_ms = LOAD(&h->heartbeat_ms);
	c.dead_ms = LOAD(&h->dead_ms);

	/* a later minor version may grow the header, not the slots or rings */
	if (check_geometry(&c) || hsize < CH_HEADER_SIZE || hsize % CH_ALIGN ||
	    slot_size != CH_SLOT_SIZE || ctl_size != CH_RING_CTL_SIZE ||
	    slots_off < hsize || slots_off % CH_ALIGN ||
	    ch->rings_off < slots_off + (uint64_t)c.max_peers * CH_SLOT_SIZE ||
	    ch->rings_off % CH_ALIGN || ch->ring_stride != CH_RING_CTL_SIZE + (uint64_t)c.ring_size)
		return -EPROTO;
	need = ch->rings_off + (uint64_t)c.max_peers * c.max_peers * ch->ring_stride;
	if (ch->rings_off > ch->region_size || need > ch->region_size)
		return -EPROTO;
	ch->max_peers = c.max_peers;
	ch->ring_size = c.ring_size;
	ch->mask = c.ring_size - 1;
	ch->max_msg = c.ring_size / 2 - REC_HDR;
	ch->slots_off = slots_off;
	ch->heartbeat_ms = c.heartbeat_ms;
	ch->dead_ms = c.dead_ms;
	return 0;
}

static void format_region(struct ivshmem_chan *ch, const struct ivshmem_chan_config *c)
{
	struct shm_header *h = ch->hdr;
	uint64_t rings_off = layout_rings_off(c->max_peers);
	uint64_t stride = CH_RING_CTL_SIZE + (uint64_t)c->ring_size;
	uint64_t id = now_ns() ^ ((uint64_t)getpid() << 32) ^ (uintptr_t)ch;
	uint32_t i;

	STORE(&h->state, CH_FORMATTING);
	STORE(&h->magic, CH_MAGIC);
	FENCE();
	memset(ch->base + CH_HEADER_SIZE, 0, rings_off - CH_HEADER_SIZE);
	for (i = 0; i < c->max_peers * c->max_peers; i++)
		memset(ch->base + rings_off + i * stride, 0, CH_RING_CTL_SIZE);
	STORE(&h->major, IVSHMEM_CHAN_LAYOUT_MAJOR);
	STORE(&h->minor, IVSHMEM_CHAN_LAYOUT_MINOR);
	STORE(&h->header_size, CH_HEADER_SIZE);
	STORE(&h->region_size, rings_off + (uint64_t)c->max_peers * c->max_peers * stride);
	STORE(&h->format_id, id);
	STORE(&h->max_peers, c->max_peers);
	STORE(&h->slot_size, CH_SLOT_SIZE);
	STORE(&h->slots_off, CH_HEADER_SIZE);
	STORE(&h->ring_size, c->ring_size);
	STORE(&h->ring_ctl_size, CH_RING_CTL_SIZE);
	STORE(&h->rings_off, rings_off);
	STORE(&h->ring_stride, stride);
	STORE(&h->heartbeat_ms, c->heartbeat_ms);
	STORE(&h->dead_ms, c->dead_ms);
	STORE_REL(&h->state, CH_READY);
}

/* Take a free slot, pair with the present peers, announce ourselves. */
static int join(struct ivshmem_chan *ch)
{
	uint64_t now = now_ns();
	uint32_t s, gen = 0;
	struct shm_slot *sl = NULL;

	for (s = 0; s < ch->max_peers; s++) {
		uint64_t pres;

		sl = slot_at(ch, s);
		pres = LOAD(&sl->presence);
		if ((uint32_t)pres != SLOT_FREE)
			continue;
		gen = (uint32_t)(pres >> 32) + 1;
		if (!gen)
			gen = 1;
		if (__atomic_compare_exchange_n(&sl->presence, &pres,
						(uint64_t)gen << 32 | SLOT_JOINING, false,
						__ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
			break;
	}
	if (s == ch->max_peers)
		return -EUSERS;
	ch->self = s;
	ch->self_gen = gen;
	ch->self_slot = sl;
	for (s = 0; s < ch->max_peers; s++) {
		ch->links[s].tx = ring_at(ch, ch->self, s);
		ch->links[s].tx_data = (unsigned char *)ch->links[s].tx + CH_RING_CTL_SIZE;
		ch->links[s].rx = ring_at(ch, s, ch->self);
		ch->links[s].rx_data = (unsigned char *)ch->links[s].rx + CH_RING_CTL_SIZE;
	}
	STORE(&sl->peer_id, ch->peer_id);
	STORE(&sl->vector, ch->vector);
	STORE(&sl->flags, 0);
	beat(ch, now);
	STORE_REL(&sl->presence, (uint64_t)gen << 32 | SLOT_ACTIVE);
	FENCE();
	scan_table(ch, now);
	ch->last_process_ns = now;
	/* a doorbell on join: the others see us at once */
	for (s = 0; s < ch->max_peers; s++)
		if (ch->links[s].present)
			ring_peer(ch, &ch->links[s]);
	return 0;
}

static int chan_open(struct ivshmem_dev *dev, struct ivshmem_peer *peer,
		     const struct ivshmem_chan_config *cfg_in, bool create,
		     struct ivshmem_chan **out)
{
	struct ivshmem_chan_config cfg;
	struct itimerspec its = { 0 };
	struct ivshmem_chan *ch = NULL;
	int ret;

	if (!out || (!dev && !peer))
		return -EINVAL;
	*out = NULL;
	ret = config_copy(cfg_in, &cfg);
	if (!ret && create)
		ret = check_geometry(&cfg);
	if (ret)
		return ret;
	ret = chan_new(dev, peer, &cfg, &ch);
	if (ret)
		return ret;
	if (create) {
		if (layout_rings_off(cfg.max_peers) + (uint64_t)cfg.max_peers * cfg.max_peers *
		    (CH_RING_CTL_SIZE + (uint64_t)cfg.ring_size) > ch->region_size) {
			ret = -ERANGE;
			goto err;
		}
		format_region(ch, &cfg);
	}
	ret = read_header(ch);
	if (ret)
		goto err;
	its.it_value.tv_sec = its.it_interval.tv_sec = ch->heartbeat_ms / 1000;
	its.it_value.tv_nsec = its.it_interval.tv_nsec = (long)(ch->heartbeat_ms % 1000) * 1000000;
	if (timerfd_settime(ch->tfd, 0, &its, NULL)) {
		ret = -errno;
		goto err;
	}
	ret = join(ch);
	if (ret)
		goto err;
	*out = ch;
	return 0;
err:
	chan_free(ch);
	return ret;
}

IVSHMEM_EXPORT int ivshmem_chan_create(struct ivshmem_dev *dev,
				       const struct ivshmem_chan_config *cfg,
				       struct ivshmem_chan **out)
{
	return dev ? chan_open(dev, NULL, cfg, true, out) : -EINVAL;
}

IVSHMEM_EXPORT int ivshmem_chan_attach(struct ivshmem_dev *dev,
				       const struct ivshmem_chan_config *cfg,
				       struct ivshmem_chan **out)
{
	return dev ? chan_open(dev, NULL, cfg, false, out) : -EINVAL;
}

IVSHMEM_EXPORT int ivshmem_chan_create_host(struct ivshmem_peer *p,
					    const struct ivshmem_chan_config *cfg,
					    struct ivshmem_chan **out)
{
	return p ? chan_open(NULL, p, cfg, true, out) : -EINVAL;
}

IVSHMEM_EXPORT int ivshmem_chan_attach_host(struct ivshmem_peer *p,
					    const struct ivshmem_chan_config *cfg,
					    struct ivshmem_chan **out)
{
	return p ? chan_open(NULL, p, cfg, false, out) : -EINVAL;
}

IVSHMEM_EXPORT void ivshmem_chan_close(struct ivshmem_chan *ch)
{
	uint64_t mine;
	uint32_t s;

	if (!ch)
		return;
	if (!ch->error) {
		mine = (uint64_t)ch->self_gen << 32 | SLOT_ACTIVE;
		__atomic_compare_exchange_n(&ch->self_slot->presence, &mine,
					    (uint64_t)ch->self_gen << 32 | SLOT_FREE, false,
					    __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
		/* a doorbell on leave */
		for (s = 0; s < ch->max_peers; s++)
			if (s != ch->self && ch->links[s].present)
				ring_peer(ch, &ch->links[s]);
	}
	chan_free(ch);
}

/* ------------------------------------------------------------------ */
/* Describing                                                          */

IVSHMEM_EXPORT int ivshmem_chan_self(const struct ivshmem_chan *ch)
{
	return ch ? (int)ch->self : -EINVAL;
}

IVSHMEM_EXPORT int ivshmem_chan_max_peers(const struct ivshmem_chan *ch)
{
	return ch ? (int)ch->max_peers : -EINVAL;
}

IVSHMEM_EXPORT size_t ivshmem_chan_max_msg(const struct ivshmem_chan *ch)
{
	return ch ? ch->max_msg : 0;
}

IVSHMEM_EXPORT int ivshmem_chan_peers(struct ivshmem_chan *ch, uint32_t *slots, size_t max,
				      size_t *n)
{
	size_t count = 0;
	uint32_t s;

	if (!ch || !n || (max && !slots))
		return -EINVAL;
	for (s = 0; s < ch->max_peers; s++) {
		if (s == ch->self || !ch->links[s].present)
			continue;
		if (count < max)
			slots[count] = s;
		count++;
	}
	*n = count;
	return 0;
}

IVSHMEM_EXPORT int ivshmem_chan_peer_id(struct ivshmem_chan *ch, uint32_t slot)
{
	if (!ch || slot >= ch->max_peers)
		return -EINVAL;
	if (slot == ch->self)
		return (int)ch->peer_id;
	return ch->links[slot].present ? (int)ch->links[slot].peer_id : -ENOENT;
}

IVSHMEM_EXPORT int ivshmem_chan_process(struct ivshmem_chan *ch)
{
	return ch ? process(ch) : -EINVAL;
}

IVSHMEM_EXPORT int ivshmem_chan_next_event(struct ivshmem_chan *ch,
					   struct ivshmem_chan_event *ev)
{
	struct ivshmem_chan_event e;
	size_t n;

	if (!ch || !ev || ev->size < 2 * sizeof(uint32_t))
		return -EINVAL;
	if (ch->ev_len) {
		e = ch->events[ch->ev_head];
		ch->ev_head = (ch->ev_head + 1) % EVENT_QUEUE;
		ch->ev_len--;
	} else if (ch->ev_lost) {
		ch->ev_lost = false;
		e = (struct ivshmem_chan_event){ .type = IVSHMEM_CHAN_EVENTS_LOST };
	} else {
		return -EAGAIN;
	}
	n = ev->size < sizeof(e) ? ev->size : sizeof(e);
	e.size = (uint32_t)n;
	memcpy(ev, &e, n);
	return 0;
}

IVSHMEM_EXPORT int ivshmem_chan_fd(const struct ivshmem_chan *ch)
{
	return ch ? ch->epfd : -EINVAL;
}

IVSHMEM_EXPORT int ivshmem_chan_get_stats(const struct ivshmem_chan *ch,
					  struct ivshmem_chan_stats *st)
{
	struct ivshmem_chan_stats s;
	size_t n;

	if (!ch || !st || st->size < sizeof(uint32_t))
		return -EINVAL;
	s = ch->st;
	n = st->size < sizeof(s) ? st->size : sizeof(s);
	s.size = (uint32_t)n;
	memcpy(st, &s, n);
	return 0;
}
