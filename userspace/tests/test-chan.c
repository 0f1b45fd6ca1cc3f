// SPDX-License-Identifier: GPL-2.0-only
/*
 * test-chan.c - libivshmem channels between host peers of ivshmem-server.
 *
 * Two host peers on one server share memory and doorbells exactly as two
 * guests do, so the channel layer is tested here over the host transport.
 *
 * Usage: test-chan PATH-TO-ivshmem-server
 */
#include "ivs-test.h"

#include <pthread.h>
#include <sys/epoll.h>

#include "ivshmem-peer.h"
#include "ivshmem-channel.h"

#define MIB		(1024 * 1024)
#define REGION1_OFF	(64 * 1024)
#define REGION2_OFF	(3 * MIB)

static struct server_proc sp;
static char *sock;

static struct ivshmem_peer *connect_peer(void)
{
	struct ivshmem_peer *p = NULL;
	int r = ivshmem_peer_connect(sock, &p);

	if (r) {
		diag("connect: %d", r);
		return NULL;
	}
	return p;
}

static void cfg_region1(struct ivshmem_chan_config *c)
{
	ivshmem_chan_config_init(c);
	c->offset = REGION1_OFF;
	c->length = 2 * MIB;
	c->max_peers = 4;
	c->ring_size = 64 * 1024;
	c->heartbeat_ms = 50;
	c->dead_ms = 1000;
}

/* handles kept beating while a test waits for events of another */
static struct ivshmem_chan *alive[4];

/* process until an event of @type for @slot arrives, up to @ms */
static bool wait_event(struct ivshmem_chan *ch, uint32_t type, uint32_t slot, int ms,
		       struct ivshmem_chan_event *out)
{
	int64_t end = now_ms() + ms;
	struct ivshmem_chan_event ev = { .size = sizeof(ev) };

	while (now_ms() < end) {
		int k;

		for (k = 0; k < 4; k++)
			if (alive[k] && alive[k] != ch)
				ivshmem_chan_process(alive[k]);
		ivshmem_chan_process(ch);
		while (ivshmem_chan_next_event(ch, &ev) == 0) {
			if (ev.type == type && ev.slot == slot) {
				if (out)
					*out = ev;
				return true;
			}
		}
		sleep_ms(2);
	}
	return false;
}

static void fill(unsigned char *b, size_t n, uint32_t seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		b[i] = (unsigned char)(seed * 31 + i * 7 + (i >> 8));
}

static bool check(const unsigned char *b, size_t n, uint32_t seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (b[i] != (unsigned char)(seed * 31 + i * 7 + (i >> 8)))
			return false;
	return true;
}

/* ------------------------------------------------------------------ */

static void test_config_errors(struct ivshmem_peer *pa, struct ivshmem_peer *pb)
{
	struct ivshmem_chan_config c;
	struct ivshmem_chan *ch = NULL;
	void *mem;
	uint64_t size;
	int r;

	ivshmem_peer_map(pa, &mem, &size);
	memset((char *)mem + REGION1_OFF, 0, 4096);
	cfg_region1(&c);
	r = ivshmem_chan_attach_host(pb, &c, &ch);
	ok(r == -EAGAIN && !ch, "attach to an unformatted region gives -EAGAIN (r=%d)", r);
	c.offset = REGION1_OFF + 8;
	ok(ivshmem_chan_create_host(pa, &c, &ch) == -EINVAL, "create: offset not a multiple of 64: -EINVAL");
	cfg_region1(&c);
	c.offset = size - 128;
	c.length = 0;
	ok(ivshmem_chan_create_host(pa, &c, &ch) == -ERANGE, "create: region too small: -ERANGE");
	cfg_region1(&c);
	c.length = size;
	ok(ivshmem_chan_create_host(pa, &c, &ch) == -ERANGE, "create: region beyond the memory: -ERANGE");
	cfg_region1(&c);
	c.ring_size = 3000;
	ok(ivshmem_chan_create_host(pa, &c, &ch) == -EINVAL, "create: ring size not a power of two: -EINVAL");
	cfg_region1(&c);
	c.max_peers = 65;
	ok(ivshmem_chan_create_host(pa, &c, &ch) == -EINVAL, "create: 65 peers: -EINVAL");
	cfg_region1(&c);
	c.dead_ms = c.heartbeat_ms;
	ok(ivshmem_chan_create_host(pa, &c, &ch) == -EINVAL, "create: dead_ms below 4 heartbeats: -EINVAL");
	cfg_region1(&c);
	c.vector = 2;
	ok(ivshmem_chan_create_host(pa, &c, &ch) == -EOPNOTSUPP, "create: a vector the peer lacks: -EOPNOTSUPP");
	cfg_region1(&c);
	c.size = 8;
	ok(ivshmem_chan_create_host(pa, &c, &ch) == -EINVAL, "create: config size too small: -EINVAL");
	cfg_region1(&c);
	c.flags = 1;
	ok(ivshmem_chan_create_host(pa, &c, &ch) == -EINVAL, "create: unknown flags: -EINVAL");
	{
		/* a caller from a later version: a larger struct */
		struct {
			struct ivshmem_chan_config c;
			uint64_t later;
		} big;

		memset(&big, 0, sizeof(big));
		cfg_region1(&big.c);
		big.c.size = sizeof(big);
		big.later = 1;
		ok(ivshmem_chan_create_host(pa, &big.c, &ch) == -E2BIG,
		   "create: a larger config with an unknown field set: -E2BIG");
		big.later = 0;
		r = ivshmem_chan_create_host(pa, &big.c, &ch);
		ok(r == 0, "create: a larger config whose unknown fields are zero is fine (r=%d)", r);
		ivshmem_chan_close(ch);
		ch = NULL;
	}
	cfg_region1(&c);
	c.ring_size = 1 << 20;
	ok(ivshmem_chan_create_host(pa, &c, &ch) == -ERANGE,
	   "create: 16 rings of 1 MiB do not fit 2 MiB: -ERANGE");

	/* a formatted region with a damaged header */
	cfg_region1(&c);
	r = ivshmem_chan_create_host(pa, &c, &ch);
	ok(r == 0, "create a valid region (r=%d)", r);
	ivshmem_chan_close(ch);
	ch = NULL;
	((uint16_t *)((char *)mem + REGION1_OFF))[2] = 7;	/* major */
	r = ivshmem_chan_attach_host(pb, &c, &ch);
	ok(r == -EPROTO && !ch, "attach: another major version gives -EPROTO (r=%d)", r);
	((uint16_t *)((char *)mem + REGION1_OFF))[2] = 1;
	((uint32_t *)((char *)mem + REGION1_OFF))[8] = 1000;	/* max_peers */
	r = ivshmem_chan_attach_host(pb, &c, &ch);
	ok(r == -EPROTO && !ch, "attach: 1000 peers in the header gives -EPROTO (r=%d)", r);
	((uint32_t *)((char *)mem + REGION1_OFF))[8] = 4;
	((uint64_t *)((char *)mem + REGION1_OFF))[7] = UINT64_MAX - 100;	/* rings_off */
	r = ivshmem_chan_attach_host(pb, &c, &ch);
	ok(r == -EPROTO && !ch, "attach: rings beyond the region gives -EPROTO (r=%d)", r);
	ivshmem_chan_close(ch);
}

static void test_basic(struct ivshmem_peer *pa, struct ivshmem_peer *pb)
{
	struct ivshmem_chan_config c;
	struct ivshmem_chan *a = NULL, *b = NULL;
	struct ivshmem_chan_event ev = { .size = sizeof(ev) };
	unsigned char buf[70000], out[70000];
	uint32_t slots[8], src = 99;
	size_t n, len, i, maxm;
	bool good;
	int r;

	cfg_region1(&c);
	r = ivshmem_chan_create_host(pa, &c, &a);
	ok(r == 0 && ivshmem_chan_self(a) == 0, "A creates region 1 and takes slot 0 (r=%d)", r);
	r = ivshmem_chan_attach_host(pb, &c, &b);
	ok(r == 0 && ivshmem_chan_self(b) == 1, "B attaches and takes slot 1 (r=%d)", r);
	if (!a || !b)
		goto out;
	alive[0] = a;
	alive[1] = b;
	ok(ivshmem_chan_next_event(b, &ev) == 0 && ev.type == IVSHMEM_CHAN_JOINED && ev.slot == 0 &&
	   ev.peer_id == (uint32_t)ivshmem_peer_id(pa) && ev.generation == 1,
	   "B's first event: A JOINED (slot 0, A's peer id, generation 1)");
	{
		struct epoll_event e;
		int fd = ivshmem_chan_fd(a);

		good = epoll_wait(fd, &e, 1, 1000) == 1;
		ok(good && wait_event(a, IVSHMEM_CHAN_JOINED, 1, 1000, NULL),
		   "A's fd is readable after B's join doorbell, then A gets B JOINED");
	}
	ok(ivshmem_chan_peers(a, slots, 8, &n) == 0 && n == 1 && slots[0] == 1 &&
	   ivshmem_chan_peer_id(a, 1) == ivshmem_peer_id(pb) && ivshmem_chan_peer_id(a, 2) == -ENOENT,
	   "A lists B; peer ids of slots");
	maxm = ivshmem_chan_max_msg(a);
	ok(maxm == 32 * 1024 - 8 && ivshmem_chan_max_peers(a) == 4, "max message is half the ring less 8 (%zu)",
	   maxm);

	/* copy */
	good = true;
	for (i = 0; i < 30; i++) {
		size_t l = (i * 977) % 3000;

		fill(buf, l, (uint32_t)i);
		good = good && ivshmem_chan_send(a, 1, buf, l, 0, 0) == 0;
	}
	for (i = 0; i < 30 && good; i++) {
		size_t l = (i * 977) % 3000;

		r = ivshmem_chan_recv(b, 0, out, sizeof(out), &len, &src, 0);
		good = r == 0 && len == l && src == 0 && check(out, len, (uint32_t)i);
	}
	ok(good, "30 messages of 0..3000 bytes A->B arrive whole and in order");
	ok(ivshmem_chan_recv(b, 0, out, sizeof(out), &len, NULL, 0) == -EAGAIN,
	   "recv on an empty ring, timeout 0: -EAGAIN");
	fill(buf, 100, 5);
	ok(ivshmem_chan_send(b, 0, buf, 100, 0, 0) == 0 &&
	   ivshmem_chan_recv(a, IVSHMEM_CHAN_ANY, out, sizeof(out), &len, &src, 100) == 0 &&
	   len == 100 && src == 1 && check(out, 100, 5), "B->A, received from ANY with the source slot");

	ok(ivshmem_chan_send(a, 1, buf, 100, 0, 0) == 0 &&
	   ivshmem_chan_recv(b, 0, out, 10, &len, NULL, 0) == -EMSGSIZE && len == 100 &&
	   ivshmem_chan_recv(b, 0, out, 100, &len, NULL, 0) == 0 && len == 100,
	   "recv into a small buffer: -EMSGSIZE with the length, the message stays");

	fill(buf, maxm, 9);
	ok(ivshmem_chan_send(a, 1, buf, maxm + 1, 0, 0) == -EMSGSIZE &&
	   ivshmem_chan_send(a, 1, buf, maxm, 0, 0) == 0 &&
	   ivshmem_chan_recv(b, 0, out, sizeof(out), &len, NULL, 0) == 0 && len == maxm &&
	   check(out, len, 9), "the largest message passes, one byte more is -EMSGSIZE");

	ok(ivshmem_chan_send(a, 0, buf, 1, 0, 0) == -EINVAL &&
	   ivshmem_chan_send(a, 4, buf, 1, 0, 0) == -EINVAL &&
	   ivshmem_chan_send(a, 2, buf, 1, 0, 0) == -ENOTCONN,
	   "send to self or beyond the table: -EINVAL; to an empty slot: -ENOTCONN");

	/* zero copy */
	{
		void *w;
		const void *p;

		r = ivshmem_chan_reserve(a, 1, 5000, &w, 0);
		good = r == 0 && ((uintptr_t)w & 7) == 0;
		if (good) {
			fill(w, 4000, 77);
			good = ivshmem_chan_recv(b, 0, out, sizeof(out), &len, NULL, 0) == -EAGAIN;
			good = good && ivshmem_chan_commit(a, 1, 4000, 0) == 0;
		}
		good = good && ivshmem_chan_peek(b, 0, &p, &len, &src, 0) == 0 && len == 4000 &&
		       src == 0 && check(p, len, 77);
		good = good && ivshmem_chan_peek(b, 0, &p, &len, &src, 0) == 0 && len == 4000;
		good = good && ivshmem_chan_release(b, 0) == 0 &&
		       ivshmem_chan_peek(b, 0, &p, &len, &src, 0) == -EAGAIN;
		ok(good, "reserve/commit and peek/release: nothing visible before commit, peek repeats until release");
		ok(ivshmem_chan_commit(a, 1, 10, 0) == -EINVAL && ivshmem_chan_release(b, 0) == -EINVAL,
		   "commit without reserve, release without peek: -EINVAL");
		ok(ivshmem_chan_reserve(a, 1, 100, &w, 0) == 0 && ivshmem_chan_commit(a, 1, 101, 0) == -EINVAL,
		   "commit beyond the reservation: -EINVAL");
	}

	/* batches, MORE and flush */
	{
		struct iovec v[8], rv[8];
		unsigned char bufs[8][512];
		uint64_t db0, db1;
		struct ivshmem_chan_stats st = { .size = sizeof(st) };
		size_t sent = 0, got = 0;

		for (i = 0; i < 8; i++) {
			fill(bufs[i], 100 + i, (uint32_t)(200 + i));
			v[i].iov_base = bufs[i];
			v[i].iov_len = 100 + i;
		}
		/* B announces it will sleep, so the batch should ring once */
		ivshmem_chan_recv(b, 0, out, sizeof(out), &len, NULL, 0);
		ivshmem_chan_get_stats(a, &st);
		db0 = st.doorbells;
		r = ivshmem_chan_send_batch(a, 1, v, 8, &sent, 0);
		ivshmem_chan_get_stats(a, &st);
		db1 = st.doorbells;
		ok(r == 0 && sent == 8 && db1 - db0 == 1, "send_batch: 8 messages, one doorbell (%d, %zu, %" PRIu64 ")",
		   r, sent, db1 - db0);
		for (i = 0; i < 8; i++) {
			rv[i].iov_base = out + i * 512;
			rv[i].iov_len = 512;
		}
		r = ivshmem_chan_recv_batch(b, 0, rv, 5, &got, &src, 0);
		good = r == 0 && got == 5;
		r = ivshmem_chan_recv_batch(b, 0, rv + 5, 3, &got, &src, 0);
		good = good && r == 0 && got == 3;
		for (i = 0; i < 8 && good; i++)
			good = rv[i].iov_len == 100 + i && check(rv[i].iov_base, rv[i].iov_len, (uint32_t)(200 + i));
		ok(good, "recv_batch: 5 then 3, lengths and contents right");

		good = ivshmem_chan_send(a, 1, buf, 10, IVSHMEM_CHAN_MORE, 0) == 0 &&
		       ivshmem_chan_send(a, 1, buf, 10, IVSHMEM_CHAN_MORE, 0) == 0 &&
		       ivshmem_chan_recv(b, 0, out, sizeof(out), &len, NULL, 0) == -EAGAIN &&
		       ivshmem_chan_flush(a, 1) == 0 &&
		       ivshmem_chan_recv_batch(b, 0, rv, 8, &got, NULL, 0) == 0 && got == 2;
		ok(good, "IVSHMEM_CHAN_MORE holds messages back until flush");
	}

	/* full ring, non-blocking */
	{
		size_t count = 0;
		int64_t t0;

		fill(buf, 1000, 3);
		while (count < 1000 && (r = ivshmem_chan_send(a, 1, buf, 1000, 0, 0)) == 0)
			count++;
		ok(r == -EAGAIN && count >= 60 && count <= 65, "full ring: %zu sends, then -EAGAIN (r=%d)", count, r);
		t0 = now_ms();
		r = ivshmem_chan_send(a, 1, buf, 1000, 0, 150);
		ok(r == -ETIMEDOUT && now_ms() - t0 >= 145 && now_ms() - t0 < 1000,
		   "blocking send on a full ring times out after 150 ms (%d ms)", (int)(now_ms() - t0));
		{
			struct epoll_event e;
			int fd = ivshmem_chan_fd(a);

			/* (the doorbell itself is checked: the heartbeat timer may tick) */
			ivshmem_chan_process(a);
			good = ivshmem_peer_wait(pa, 1, 0, NULL) == -ETIMEDOUT;
			good = good && ivshmem_chan_recv(b, 0, out, sizeof(out), &len, NULL, 0) == 0;
			good = good && epoll_wait(fd, &e, 1, 1000) == 1 &&
			       ivshmem_peer_wait(pa, 1, 0, NULL) == 0;
			ok(good, "a producer that got -EAGAIN is rung when the consumer frees space");
		}
		ok(ivshmem_chan_send(a, 1, buf, 1000, 0, 0) == 0, "then the send passes");
		while (ivshmem_chan_recv(b, 0, out, sizeof(out), &len, NULL, 0) == 0)
			;
	}

	/* blocking recv with timeout; epoll fd */
	{
		struct epoll_event e;
		int64_t t0 = now_ms();
		int fd = ivshmem_chan_fd(b);

		r = ivshmem_chan_recv(b, 0, out, sizeof(out), &len, NULL, 200);
		ok(r == -ETIMEDOUT && now_ms() - t0 >= 195 && now_ms() - t0 < 1000,
		   "blocking recv on an empty ring times out after 200 ms (%d ms)", (int)(now_ms() - t0));
		ivshmem_chan_process(b);
		ok(ivshmem_chan_recv(b, IVSHMEM_CHAN_ANY, out, sizeof(out), &len, NULL, 0) == -EAGAIN &&
		   ivshmem_peer_wait(pb, 1, 0, NULL) == -ETIMEDOUT,
		   "after -EAGAIN no doorbell is pending");
		t0 = now_ms();
		ivshmem_chan_send(a, 1, buf, 10, 0, 0);
		good = epoll_wait(fd, &e, 1, 1000) == 1 && ivshmem_peer_wait(pb, 1, 0, NULL) == 0;
		ok(good && ivshmem_chan_process(b) == 0 &&
		   ivshmem_chan_recv(b, IVSHMEM_CHAN_ANY, out, sizeof(out), &len, NULL, 0) == 0,
		   "a send rings the consumer, its fd becomes readable (%d ms)",
		   (int)(now_ms() - t0));
	}

	/* other peers come and go */
	{
		struct ivshmem_peer *pc = connect_peer(), *pd = connect_peer();
		struct ivshmem_chan *cc = NULL, *d = NULL, *e = NULL;
		struct ivshmem_chan_event evc;
		int64_t t0;

		r = pc ? ivshmem_chan_attach_host(pc, &c, &cc) : -1;
		ok(r == 0 && ivshmem_chan_self(cc) == 2, "C attaches in slot 2");
		ok(cc && wait_event(a, IVSHMEM_CHAN_JOINED, 2, 1000, NULL) &&
		   wait_event(b, IVSHMEM_CHAN_JOINED, 2, 1000, NULL), "A and B see C join");
		ok(cc && ivshmem_chan_send(cc, 0, "hi", 2, 0, 0) == 0 &&
		   ivshmem_chan_recv(a, 2, out, sizeof(out), &len, &src, 1000) == 0 && len == 2 && src == 2,
		   "C -> A");
		ok(cc && ivshmem_chan_send(cc, 0, "last1", 5, 0, 0) == 0 &&
		   ivshmem_chan_send(cc, 0, "last2", 5, 0, 0) == 0, "C sends two more, then leaves");
		t0 = now_ms();
		ivshmem_chan_close(cc);
		cc = NULL;
		ok(wait_event(a, IVSHMEM_CHAN_LEFT, 2, 1000, &evc) && now_ms() - t0 < 500 &&
		   evc.generation == 1, "A sees C leave at once, well before dead_ms (%d ms)",
		   (int)(now_ms() - t0));
		ok(ivshmem_chan_recv(a, 2, out, sizeof(out), &len, NULL, 100) == 0 && len == 5 &&
		   !memcmp(out, "last1", 5) &&
		   ivshmem_chan_recv(a, IVSHMEM_CHAN_ANY, out, sizeof(out), &len, &src, 0) == 0 &&
		   src == 2 && !memcmp(out, "last2", 5) &&
		   ivshmem_chan_recv(a, 2, out, sizeof(out), &len, NULL, 100) == -ENOTCONN,
		   "what C sent before leaving is still received, then -ENOTCONN");
		ok(ivshmem_chan_send(a, 2, buf, 1, 0, 0) == -ENOTCONN, "send to a departed peer: -ENOTCONN");
		wait_event(b, IVSHMEM_CHAN_LEFT, 2, 1000, NULL);

		/* D stops beating: after dead_ms it is declared gone and evicted */
		r = pd ? ivshmem_chan_attach_host(pd, &c, &d) : -1;
		ok(r == 0 && ivshmem_chan_self(d) == 2, "D attaches, in C's old slot");
		wait_event(a, IVSHMEM_CHAN_JOINED, 2, 1000, &evc);
		ok(evc.generation == 2, "the slot's generation grew to 2");
		ivshmem_chan_send(a, 2, "old", 3, 0, 0);
		t0 = now_ms();
		good = wait_event(a, IVSHMEM_CHAN_LEFT, 2, 3000, NULL);
		ok(good && now_ms() - t0 >= 950 && now_ms() - t0 < 2500,
		   "a silent peer is declared gone after dead_ms (1000 ms; took %d)", (int)(now_ms() - t0));
		wait_event(b, IVSHMEM_CHAN_LEFT, 2, 1000, NULL);
		ok(d && ivshmem_chan_process(d) == -ENOTCONN &&
		   wait_event(d, IVSHMEM_CHAN_EVICTED, 2, 10, NULL) &&
		   ivshmem_chan_send(d, 0, "x", 1, 0, 0) == -ENOTCONN,
		   "the silent peer finds itself evicted: EVICTED event, -ENOTCONN");
		ivshmem_chan_close(d);
		d = NULL;

		/* E reuses the slot: nothing from D's time leaks into it */
		r = ivshmem_chan_attach_host(pd, &c, &e);
		ok(r == 0 && ivshmem_chan_self(e) == 2, "E rejoins in slot 2");
		wait_event(a, IVSHMEM_CHAN_JOINED, 2, 1000, NULL);
		ok(e && ivshmem_chan_recv(e, 0, out, sizeof(out), &len, NULL, 50) == -ETIMEDOUT,
		   "E does not receive what A sent to D");
		ok(e && ivshmem_chan_send(a, 2, "new", 3, 0, 0) == 0 &&
		   ivshmem_chan_recv(e, 0, out, sizeof(out), &len, NULL, 1000) == 0 && len == 3 &&
		   !memcmp(out, "new", 3), "A -> E works in the reused slot");
		ivshmem_chan_close(e);
		wait_event(a, IVSHMEM_CHAN_LEFT, 2, 1000, NULL);
		wait_event(b, IVSHMEM_CHAN_LEFT, 2, 1000, NULL);
		ivshmem_peer_close(pc);
		ivshmem_peer_close(pd);
	}

	/* a slot stuck half-way through a join is freed after dead_ms */
	{
		void *mem;
		uint64_t *pres;
		int64_t t0 = now_ms();

		ivshmem_peer_map(pa, &mem, NULL);
		pres = (uint64_t *)((char *)mem + REGION1_OFF + 256 + 3 * 64);
		*pres = 7ULL << 32 | 1;		/* generation 7, joining, never finishing */
		while (now_ms() - t0 < 3000 && *pres != (7ULL << 32)) {
			ivshmem_chan_process(a);
			ivshmem_chan_process(b);
			sleep_ms(5);
		}
		ok(*pres == 7ULL << 32 && now_ms() - t0 >= 950,
		   "a slot left half-joined is freed after dead_ms (%d ms)", (int)(now_ms() - t0));
	}

	/* a peer that only sends now and then keeps beating */
	{
		int64_t t0 = now_ms();

		good = true;
		while (good && now_ms() - t0 < 1600) {
			good = ivshmem_chan_send(b, 0, "tick", 4, 0, 0) == 0;
			sleep_ms(200);
			ivshmem_chan_process(a);	/* A watches, B only sends */
			good = good && ivshmem_chan_recv(a, 1, out, sizeof(out), &len, NULL, 0) == 0;
		}
		ok(good && ivshmem_chan_peer_id(a, 1) >= 0,
		   "a peer whose only calls are a send every 200 ms stays present past dead_ms");
	}

	/* a peer that stops in the middle of a message */
	{
		void *w;
		int64_t t0;

		ivshmem_chan_reserve(a, 1, 1000, &w, 0);
		memset(w, 0xee, 500);
		t0 = now_ms();
		r = ivshmem_chan_recv(b, 0, out, sizeof(out), &len, NULL, 100);
		ok(r == -ETIMEDOUT && now_ms() - t0 < 1000,
		   "a reservation never committed: the consumer times out, no hang");
	}
out:
	alive[0] = alive[1] = NULL;
	ivshmem_chan_close(a);
	ivshmem_chan_close(b);
}

/* ------------------------------------------------------------------ */
/* streaming between threads, in a second region of the same memory    */

struct stream {
	struct ivshmem_chan *ch;
	uint32_t peer;
	unsigned long count;
	int mode;		/* 0 copy, 1 zero copy, 2 batch */
	int err;
	uint64_t sum;
	unsigned long got;
};

static size_t msg_len(unsigned long i)
{
	return (i * 2654435761UL >> 7) % 300;
}

static void *producer(void *arg)
{
	struct stream *s = arg;
	unsigned char buf[512];
	unsigned long i;
	int r = 0;

	for (i = 0; i < s->count && !r; i++) {
		size_t l = msg_len(i);

		if (s->mode == 1 && i % 2) {
			void *w;

			r = ivshmem_chan_reserve(s->ch, s->peer, l, &w, 5000);
			if (!r) {
				fill(w, l, (uint32_t)i);
				r = ivshmem_chan_commit(s->ch, s->peer, l, 0);
			}
		} else if (s->mode == 2) {
			struct iovec v[16];
			unsigned char bufs[16][512];
			size_t k, n = 16, sent = 0;

			if (s->count - i < n)
				n = s->count - i;
			for (k = 0; k < n; k++) {
				fill(bufs[k], msg_len(i + k), (uint32_t)(i + k));
				v[k].iov_base = bufs[k];
				v[k].iov_len = msg_len(i + k);
			}
			r = ivshmem_chan_send_batch(s->ch, s->peer, v, n, &sent, 5000);
			i += sent - 1;
		} else {
			fill(buf, l, (uint32_t)i);
			r = ivshmem_chan_send(s->ch, s->peer, buf, l, 0, 5000);
		}
	}
	s->err = r;
	return NULL;
}

static void *consumer(void *arg)
{
	struct stream *s = arg;
	unsigned char buf[512];
	unsigned long i = 0;
	size_t len;
	int r = 0;

	while (i < s->count && !r) {
		if (s->mode == 1 && i % 3 == 0) {
			const void *p;
			uint32_t src;

			r = ivshmem_chan_peek(s->ch, s->peer, &p, &len, &src, 5000);
			if (!r) {
				if (len != msg_len(i) || !check(p, len, (uint32_t)i))
					r = -EBADMSG;
				else
					r = ivshmem_chan_release(s->ch, src);
				i++;
			}
		} else if (s->mode == 2) {
			struct iovec v[16];
			unsigned char bufs[16][512];
			size_t k, got = 0;

			for (k = 0; k < 16; k++) {
				v[k].iov_base = bufs[k];
				v[k].iov_len = 512;
			}
			r = ivshmem_chan_recv_batch(s->ch, s->peer, v, 16, &got, NULL, 5000);
			for (k = 0; k < got && !r; k++, i++)
				if (v[k].iov_len != msg_len(i) || !check(bufs[k], v[k].iov_len, (uint32_t)i))
					r = -EBADMSG;
		} else {
			r = ivshmem_chan_recv(s->ch, s->peer, buf, sizeof(buf), &len, NULL, 5000);
			if (!r) {
				if (len != msg_len(i) || !check(buf, len, (uint32_t)i))
					r = -EBADMSG;
				i++;
			}
		}
	}
	s->got = i;
	s->err = r;
	return NULL;
}

static void test_stream(struct ivshmem_peer *pa, struct ivshmem_peer *pb)
{
	static const char *const names[] = { "copy", "zero copy", "batches" };
	struct ivshmem_chan_config c;
	struct ivshmem_chan *a = NULL, *b = NULL, *a1 = NULL, *b1 = NULL;
	int mode, r;

	/* region 1 again, to show that two users coexist on one device */
	cfg_region1(&c);
	r = ivshmem_chan_create_host(pa, &c, &a1);
	r = r ? r : ivshmem_chan_attach_host(pb, &c, &b1);
	ivshmem_chan_config_init(&c);
	c.offset = REGION2_OFF;
	c.length = 64 * 1024;
	c.max_peers = 2;
	c.ring_size = 1024;		/* small: the stream wraps thousands of times */
	c.heartbeat_ms = 50;
	c.dead_ms = 2000;
	r = r ? r : ivshmem_chan_create_host(pa, &c, &a);
	r = r ? r : ivshmem_chan_attach_host(pb, &c, &b);
	ok(r == 0, "a second region (1 KiB rings) beside the first, on the same peers (r=%d)", r);
	if (r)
		goto out;

	for (mode = 0; mode < 3; mode++) {
		struct stream sa = { .ch = a, .peer = 1, .count = 20000, .mode = mode };
		struct stream sb = { .ch = b, .peer = 0, .count = 20000, .mode = mode };
		struct ivshmem_chan_stats st = { .size = sizeof(st) };
		pthread_t tp, tc;
		int64_t t0 = now_ms();
		uint64_t db0;

		ivshmem_chan_get_stats(a, &st);
		db0 = st.doorbells;
		pthread_create(&tc, NULL, consumer, &sb);
		pthread_create(&tp, NULL, producer, &sa);
		pthread_join(tp, NULL);
		pthread_join(tc, NULL);
		ivshmem_chan_get_stats(a, &st);
		ok(sa.err == 0 && sb.err == 0 && sb.got == 20000,
		   "stream (%s): 20000 messages of 0..299 bytes through a 1 KiB ring, in order and intact"
		   " (%d ms, %" PRIu64 " doorbells; errors %d %d, got %lu)", names[mode],
		   (int)(now_ms() - t0), st.doorbells - db0, sa.err, sb.err, sb.got);
	}
	/* region 1 still works, untouched by the stream in region 2 */
	{
		unsigned char out[16];
		size_t len;

		ok(ivshmem_chan_send(a1, 1, "region1", 7, 0, 0) == 0 &&
		   ivshmem_chan_recv(b1, 0, out, sizeof(out), &len, NULL, 100) == 0 && len == 7 &&
		   !memcmp(out, "region1", 7), "region 1 works beside region 2");
	}
out:
	ivshmem_chan_close(a);
	ivshmem_chan_close(b);
	ivshmem_chan_close(a1);
	ivshmem_chan_close(b1);
}

/* the consumer streams without sleeping: few doorbells */
static void test_suppression(struct ivshmem_peer *pa, struct ivshmem_peer *pb)
{
	struct ivshmem_chan_config c;
	struct ivshmem_chan *a = NULL, *b = NULL;
	struct ivshmem_chan_stats st = { .size = sizeof(st) };
	unsigned char buf[64];
	unsigned long i, sent = 0, got = 0;
	size_t len;
	int r;

	cfg_region1(&c);
	r = ivshmem_chan_create_host(pa, &c, &a);
	r = r ? r : ivshmem_chan_attach_host(pb, &c, &b);
	if (r) {
		ok(false, "suppression: attach (r=%d)", r);
		goto out;
	}
	memset(buf, 1, sizeof(buf));
	/* single-threaded: 64 sends, then the consumer drains without sleeping */
	for (i = 0; i < 1000; i++) {
		int k;

		for (k = 0; k < 64; k++)
			sent += ivshmem_chan_send(a, 1, buf, sizeof(buf), 0, 0) == 0;
		while (ivshmem_chan_recv(b, 0, buf, sizeof(buf), &len, NULL, 0) == 0)
			got++;
	}
	ivshmem_chan_get_stats(a, &st);
	ok(sent == 64000 && got == sent && st.doorbells <= 1001,
	   "doorbell suppression: %lu messages, %" PRIu64 " doorbells (one per consumer sleep)",
	   got, st.doorbells);
out:
	ivshmem_chan_close(a);
	ivshmem_chan_close(b);
}

/* a consumer without a doorbell (as on ivshmem-plain) polls */
static void test_polling(struct ivshmem_peer *pa, struct ivshmem_peer *pb)
{
	struct ivshmem_chan_config c;
	struct ivshmem_chan *a = NULL, *b = NULL;
	struct ivshmem_chan_stats st = { .size = sizeof(st) };
	struct stream sa = { .peer = 1, .count = 5000, .mode = 0 };
	struct stream sb = { .peer = 0, .count = 5000, .mode = 0 };
	unsigned char out[64];
	pthread_t tp, tc;
	size_t len;
	int64_t t0;
	int r;

	cfg_region1(&c);
	r = ivshmem_chan_create_host(pa, &c, &a);
	c.vector = IVSHMEM_CHAN_NO_VECTOR;
	r = r ? r : ivshmem_chan_attach_host(pb, &c, &b);
	ok(r == 0, "a peer attaches without a doorbell (IVSHMEM_CHAN_NO_VECTOR) (r=%d)", r);
	if (r)
		goto out;
	ivshmem_chan_process(a);
	t0 = now_ms();
	r = ivshmem_chan_recv(b, 0, out, sizeof(out), &len, NULL, 100);
	ok(r == -ETIMEDOUT && now_ms() - t0 >= 95 && now_ms() - t0 < 1000,
	   "its blocking recv times out in naps (%d ms)", (int)(now_ms() - t0));
	sa.ch = a;
	sb.ch = b;
	t0 = now_ms();
	pthread_create(&tc, NULL, consumer, &sb);
	sleep_ms(20);
	pthread_create(&tp, NULL, producer, &sa);
	pthread_join(tp, NULL);
	pthread_join(tc, NULL);
	ivshmem_chan_get_stats(a, &st);
	ok(sa.err == 0 && sb.err == 0 && sb.got == 5000 && st.doorbells == 0,
	   "5000 messages to a polling consumer, never rung (%d ms, %" PRIu64 " doorbells)",
	   (int)(now_ms() - t0), st.doorbells);
out:
	ivshmem_chan_close(a);
	ivshmem_chan_close(b);
}

/* the server goes away: the channel goes on with the peers it knows */
static void test_server_gone(struct ivshmem_peer *pa, struct ivshmem_peer *pb)
{
	struct ivshmem_chan_config c;
	struct ivshmem_chan *a = NULL, *b = NULL;
	struct epoll_event e;
	unsigned char out[64];
	size_t len;
	int64_t t0;
	int r, n = 0;

	cfg_region1(&c);
	r = ivshmem_chan_create_host(pa, &c, &a);
	r = r ? r : ivshmem_chan_attach_host(pb, &c, &b);
	if (r) {
		ok(false, "server gone: attach (r=%d)", r);
		goto out;
	}
	ivshmem_chan_process(a);
	server_stop(&sp);
	sleep_ms(50);
	ok(ivshmem_chan_process(a) == 0 && ivshmem_chan_process(b) == 0,
	   "the server stopped: process() still succeeds");
	t0 = now_ms();
	r = ivshmem_chan_recv(b, 0, out, sizeof(out), &len, NULL, 150);
	ok(r == -ETIMEDOUT && now_ms() - t0 >= 145 && now_ms() - t0 < 1000,
	   "a blocking recv still waits its timeout (%d ms, r=%d)", (int)(now_ms() - t0), r);
	ivshmem_chan_process(b);
	t0 = now_ms();
	while (now_ms() - t0 < 200 && epoll_wait(ivshmem_chan_fd(b), &e, 1, 20) == 1) {
		ivshmem_chan_process(b);
		n++;
	}
	ok(n < 5, "its descriptor is not left readable by the hung-up server (%d wake-ups in 200 ms)", n);
	ok(ivshmem_chan_send(a, 1, "still", 5, 0, 0) == 0 &&
	   ivshmem_chan_recv(b, 0, out, sizeof(out), &len, NULL, 1000) == 0 && len == 5,
	   "messages still pass between the peers");
out:
	ivshmem_chan_close(a);
	ivshmem_chan_close(b);
}

/* ------------------------------------------------------------------ */
/* a million small messages; a consumer that leaves and rejoins         */

struct million {
	struct ivshmem_chan *ch;
	unsigned long count;
	int err;
	unsigned long bad;
};

static void *million_tx(void *arg)
{
	struct million *m = arg;
	unsigned long i = 0;
	uint32_t b[32][4];
	struct iovec v[32];
	int r = 0, k;

	while (i < m->count && !r) {
		size_t n = m->count - i < 32 ? m->count - i : 32, sent = 0;

		for (k = 0; k < (int)n; k++) {
			b[k][0] = (uint32_t)(i + k);
			b[k][1] = ~(uint32_t)(i + k);
			v[k].iov_base = b[k];
			v[k].iov_len = 8 + (i + k) % 9;
		}
		r = ivshmem_chan_send_batch(m->ch, 1, v, n, &sent, 5000);
		i += sent;
	}
	m->err = r;
	return NULL;
}

static void *million_rx(void *arg)
{
	struct million *m = arg;
	unsigned long i = 0;
	uint32_t b[64][4];
	struct iovec v[64];
	size_t got, k;
	int r = 0;

	while (i < m->count && !r) {
		for (k = 0; k < 64; k++) {
			v[k].iov_base = b[k];
			v[k].iov_len = sizeof(b[k]);
		}
		r = ivshmem_chan_recv_batch(m->ch, 0, v, 64, &got, NULL, 5000);
		for (k = 0; k < got && !r; k++, i++)
			if (b[k][0] != (uint32_t)i || b[k][1] != ~(uint32_t)i ||
			    v[k].iov_len != 8 + i % 9)
				m->bad++;
	}
	m->count = i;
	m->err = r;
	return NULL;
}

static void test_million(struct ivshmem_peer *pa, struct ivshmem_peer *pb)
{
	struct ivshmem_chan_config c;
	struct ivshmem_chan *a = NULL, *b = NULL;
	struct ivshmem_chan_stats st = { .size = sizeof(st) }, sr = { .size = sizeof(sr) };
	struct million tx = { .count = 1000000 }, rx = { .count = 1000000 };
	pthread_t t1, t2;
	int64_t t0;
	int r;

	cfg_region1(&c);
	r = ivshmem_chan_create_host(pa, &c, &a);
	r = r ? r : ivshmem_chan_attach_host(pb, &c, &b);
	if (r) {
		ok(false, "million: attach (r=%d)", r);
		goto out;
	}
	ivshmem_chan_process(a);
	tx.ch = a;
	rx.ch = b;
	t0 = now_ms();
	pthread_create(&t2, NULL, million_rx, &rx);
	pthread_create(&t1, NULL, million_tx, &tx);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	ivshmem_chan_get_stats(a, &st);
	ivshmem_chan_get_stats(b, &sr);
	ok(!tx.err && !rx.err && rx.count == 1000000 && !rx.bad,
	   "one million messages of 8..16 bytes, in batches, in order and intact (%d ms; "
	   "%" PRIu64 " + %" PRIu64 " doorbells, %" PRIu64 " consumer wake-ups)",
	   (int)(now_ms() - t0), st.doorbells, sr.doorbells, sr.wakeups);
out:
	ivshmem_chan_close(a);
	ivshmem_chan_close(b);
}

struct rejoin {
	struct ivshmem_chan *ch;
	volatile int stop;
	unsigned long sent;
	int err;
};

/* send numbered messages to whoever is present, until told to stop */
static void *rejoin_tx(void *arg)
{
	struct rejoin *rj = arg;
	uint32_t seq = 0, slots[4];
	size_t n;
	int r;

	while (!rj->stop) {
		ivshmem_chan_peers(rj->ch, slots, 4, &n);
		if (!n) {
			ivshmem_chan_process(rj->ch);
			sleep_ms(1);
			continue;
		}
		r = ivshmem_chan_send(rj->ch, slots[0], &seq, sizeof(seq), 0, 20);
		if (!r)
			seq++;
		else if (r != -ENOTCONN && r != -ETIMEDOUT && r != -EAGAIN)
			rj->err = r;
	}
	rj->sent = seq;
	return NULL;
}

static void test_rejoin(struct ivshmem_peer *pa, struct ivshmem_peer *pb)
{
	struct ivshmem_chan_config c;
	struct ivshmem_chan *a = NULL, *b = NULL;
	struct rejoin rj = { 0 };
	pthread_t t;
	uint32_t last = 0, seq;
	bool good = true, first_session = true;
	int session, r;
	unsigned long total = 0;
	size_t len;

	cfg_region1(&c);
	r = ivshmem_chan_create_host(pa, &c, &a);
	if (r) {
		ok(false, "rejoin: create (r=%d)", r);
		return;
	}
	rj.ch = a;
	pthread_create(&t, NULL, rejoin_tx, &rj);
	for (session = 0; session < 5 && good; session++) {
		unsigned long i;
		bool first = true;

		r = ivshmem_chan_attach_host(pb, &c, &b);
		if (r) {
			good = false;
			break;
		}
		for (i = 0; i < 3000 && good; i++) {
			r = ivshmem_chan_recv(b, 0, &seq, sizeof(seq), &len, NULL, 2000);
			if (r || len != sizeof(seq)) {
				diag("session %d: recv %d after %lu", session, r, i);
				good = false;
				break;
			}
			/* consecutive within a session; only forward across one */
			if (first ? (!first_session && seq <= last) : seq != last + 1) {
				diag("session %d: %u after %u", session, seq, last);
				good = false;
			}
			first = first_session = false;
			last = seq;
			total++;
		}
		ivshmem_chan_close(b);	/* in the middle of the stream */
		b = NULL;
	}
	rj.stop = 1;
	pthread_join(t, NULL);
	ok(good && !rj.err,
	   "a consumer leaving and rejoining 5 times mid-stream: each session in order, "
	   "nothing stale or repeated (%lu received of %lu sent)", total, rj.sent);
	ivshmem_chan_close(a);
}

int main(int argc, char **argv)
{
	const char *args[] = { "-n", "2", "-l", "4M", "-M", NULL, NULL };
	struct ivshmem_peer *pa, *pb;
	int fd_base;
	char *shm;

	if (argc < 2) {
		fprintf(stderr, "usage: %s PATH-TO-ivshmem-server\n", argv[0]);
		return 2;
	}
	ivs_server_bin = argv[1];
	signal(SIGPIPE, SIG_IGN);
	sock = uniq("/tmp/ivs-chan", ".sock");
	shm = uniq("ivs-chan", "");
	args[5] = shm;
	if (!server_start(&sp, sock, args)) {
		ok(false, "server starts");
		return 1;
	}
	pa = connect_peer();
	pb = connect_peer();
	ok(pa && pb, "two host peers connect");
	sleep_ms(50);
	ivshmem_peer_process(pa);	/* pb's eventfds */
	fd_base = count_fds(0);
	if (pa && pb) {
		test_config_errors(pa, pb);
		test_basic(pa, pb);
		test_stream(pa, pb);
		test_suppression(pa, pb);
		test_polling(pa, pb);
		test_million(pa, pb);
		test_rejoin(pa, pb);
		/* the peers forget the departed ones' eventfds once the server says so */
		sleep_ms(50);
		ivshmem_peer_process(pa);
		ivshmem_peer_process(pb);
		ok(count_fds(0) == fd_base, "closing the channels released every fd (%d, was %d)",
		   count_fds(0), fd_base);
		test_server_gone(pa, pb);
	}
	ivshmem_peer_close(pa);
	ivshmem_peer_close(pb);
	server_cleanup(&sp);
	free(sock);
	free(shm);
	return ivs_exit_status();
}
