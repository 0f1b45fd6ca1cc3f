// SPDX-License-Identifier: GPL-2.0-only
/*
 * chan-peer.c - one participant of a channel between guests and the host.
 *
 *   chan-peer dev  ROLE DEVICE PEERS [MESSAGES]   in a guest (/dev/ivshmemN)
 *   chan-peer host ROLE SOCKET PEERS [MESSAGES]   on the host (ivshmem-server)
 *   chan-peer chaos-dev  ROLE DEVICE SECONDS      victims of chan-scribble
 *   chan-peer chaos-host ROLE SOCKET SECONDS
 *
 * The same code runs over both transports. ROLE A formats the region; the
 * others (B, H, ...) attach. PEERS is how many take part. Then:
 *  1. every participant sends MESSAGES (default 5000) messages to every
 *     other one (copies, batches and zero-copy reservations mixed) and
 *     checks what it receives: order, length and content per sender;
 *  2. A and B play ping-pong (500 round trips) and A reports the round trip;
 *  3. everyone says goodbye to everyone (an empty message) and waits for
 *     the others' goodbyes;
 *  4. B leaves first; A and the others must see it leave (a LEFT event),
 *     then A leaves and the rest must see that too.
 * Prints TAP with a trailing plan. Exit status 0 when everything passed.
 *
 * chaos: A (formats, and formats again when it cannot attach for long) and
 * B pass messages for SECONDS in a region of chan-scribble.h's layout at
 * CHAOS_OFF, while the host's chan-scribble writes garbage into it; they
 * re-attach when thrown out. Every call must return within its timeout
 * plus CHAOS_MARGIN_MS. Built with -fsanitize=address,undefined for the
 * guests (chan-peer-san).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>

#include "libivshmem.h"
#include "chan-scribble.h"

#define REGION_OFF	(1024 * 1024)
#define REGION_LEN	(2 * 1024 * 1024)
#define JOIN_MS		240000		/* guests boot at their own pace under TCG */
#define STEP_MS		300000
#define MAXP		IVSHMEM_CHAN_MAX_PEERS
#define CHAOS_OFF	(1024 * 1024)
#define CHAOS_MARGIN_MS	3000		/* TCG, sanitizers, two busy cores */

static int tests, failures;
static struct ivshmem_chan *ch;
static char role;

static void __attribute__((format(printf, 2, 3))) ok(bool pass, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d - %c: ", pass ? "" : "not ", ++tests, role);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	failures += !pass;
}

static int64_t ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* sleep on the channel's descriptor (doorbell or heartbeat), then housekeep */
static void idle(int ms)
{
	struct epoll_event ev;

	epoll_wait(ivshmem_chan_fd(ch), &ev, 1, ms);
	ivshmem_chan_process(ch);
}

/* ------------------------------------------------------------------ */
/* messages: seq, sender, length, a checksum, then the payload         */

struct hdr {
	uint32_t seq, from, len, sum;
};

static uint32_t msg_len(uint32_t seq)
{
	return 16 + (seq * 2654435761U >> 9) % 2000;
}

static uint32_t fill(unsigned char *p, uint32_t seq, uint32_t from)
{
	struct hdr h = { seq, from, msg_len(seq), 0 };
	uint32_t i;

	for (i = 16; i < h.len; i++) {
		p[i] = (unsigned char)(seq * 7 + i * 13 + from);
		h.sum = h.sum * 31 + p[i];
	}
	memcpy(p, &h, sizeof(h));
	return h.len;
}

static bool check(const unsigned char *p, size_t len, uint32_t seq, uint32_t from)
{
	struct hdr h;
	uint32_t i, sum = 0;

	if (len < sizeof(h))
		return false;
	memcpy(&h, p, sizeof(h));
	if (h.seq != seq || h.from != from || h.len != len || len != msg_len(seq))
		return false;
	for (i = 16; i < len; i++) {
		if (p[i] != (unsigned char)(seq * 7 + i * 13 + from))
			return false;
		sum = sum * 31 + p[i];
	}
	return sum == h.sum;
}

/* ------------------------------------------------------------------ */

static bool wait_peers(unsigned int want, uint32_t *slots)
{
	int64_t end = ms_now() + JOIN_MS;
	size_t n = 0;

	while (ms_now() < end) {
		ivshmem_chan_process(ch);
		ivshmem_chan_peers(ch, slots, MAXP, &n);
		if (n + 1 >= want)
			return true;
		idle(200);
	}
	return false;
}

static bool wait_left(uint32_t slot, int ms)
{
	/*
	 * Every LEFT event is kept, not only the one waited for: a scan that
	 * finds two peers gone reports them in slot order, so A's departure
	 * may come out just before B's while this waits for B.
	 */
	static bool left[MAXP];
	struct ivshmem_chan_event ev = { .size = sizeof(ev) };
	int64_t end = ms_now() + ms;

	if (slot >= MAXP)
		return false;
	for (;;) {
		while (ivshmem_chan_next_event(ch, &ev) == 0)
			if (ev.type == IVSHMEM_CHAN_LEFT && ev.slot < MAXP)
				left[ev.slot] = true;
		if (left[slot] || ms_now() >= end)
			return left[slot];
		idle(100);
	}
}

/* role letter -> slot + 1 */
static uint32_t role_slot[256];

static bool exchange(const uint32_t *peers, size_t np, uint32_t count)
{
	static unsigned char buf[4096];
	uint32_t sent[MAXP] = { 0 }, got[MAXP] = { 0 }, me = (uint32_t)ivshmem_chan_self(ch);
	int64_t end = ms_now() + STEP_MS;
	bool good = true, done = false;
	size_t i;

	while (good && !done && ms_now() < end) {
		bool progress = false;
		uint32_t src;
		size_t len;
		int r;

		for (i = 0; i < np; i++) {
			uint32_t p = peers[i], seq = sent[p];

			if (seq >= count)
				continue;
			if (seq % 3 == 1) {
				void *w;

				r = ivshmem_chan_reserve(ch, p, msg_len(seq), &w, 0);
				if (!r) {
					fill(w, seq, me);
					r = ivshmem_chan_commit(ch, p, msg_len(seq), 0);
				}
			} else {
				fill(buf, seq, me);
				r = ivshmem_chan_send(ch, p, buf, msg_len(seq),
						      seq % 3 == 2 ? IVSHMEM_CHAN_MORE : 0, 0);
				if (!r && seq + 1 == count)
					r = ivshmem_chan_flush(ch, p);
			}
			if (!r) {
				sent[p]++;
				progress = true;
			} else if (r != -EAGAIN) {
				printf("# send to %u: %d\n", p, r);
				good = false;
			}
		}
		/* from each peer only its count: its goodbye may follow */
		for (i = 0; i < np * 32 && good; i++) {
			src = peers[i % np];
			if (got[src] >= count)
				continue;
			r = ivshmem_chan_recv(ch, src, buf, sizeof(buf), &len, NULL, 0);
			if (r == -EAGAIN)
				continue;
			if (r || !check(buf, len, got[src], src)) {
				printf("# recv: %d from %u, message %u of it bad\n", r, src, got[src]);
				good = false;
				break;
			}
			got[src]++;
			progress = true;
		}
		done = true;
		for (i = 0; i < np; i++)
			done = done && sent[peers[i]] == count && got[peers[i]] == count;
		if (!progress && !done) {
			/* flush what MORE held back before sleeping */
			for (i = 0; i < np; i++)
				ivshmem_chan_flush(ch, peers[i]);
			idle(50);
		}
	}
	for (i = 0; i < np; i++)
		printf("# peer slot %u: sent %u, received %u\n", peers[i], sent[peers[i]],
		       got[peers[i]]);
	return good && done;
}

/*
 * Everyone tells its role to everyone: the first message from each peer
 * (rings are FIFO per pair, so it cannot be mistaken for a later one).
 */
static bool tell_roles(const uint32_t *peers, size_t np)
{
	unsigned char b[8];
	size_t i, len;

	for (i = 0; i < np; i++)
		if (ivshmem_chan_send(ch, peers[i], &role, 1, 0, 10000))
			return false;
	for (i = 0; i < np; i++) {
		if (ivshmem_chan_recv(ch, peers[i], b, sizeof(b), &len, NULL, STEP_MS) || len != 1)
			return false;
		role_slot[b[0]] = peers[i] + 1;
	}
	return true;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static bool pingpong(void)
{
	static int64_t rtt[500];
	unsigned char b[64];
	size_t len;
	uint32_t other;
	int i, r = 0;

	if (role != 'A' && role != 'B')
		return true;
	other = role_slot[role == 'A' ? 'B' : 'A'];
	if (!other)
		return false;
	other--;
	memset(b, 0x5a, sizeof(b));
	for (i = 0; i < 500 && !r; i++) {
		struct timespec t0, t1;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		if (role == 'A') {
			r = ivshmem_chan_send(ch, other, b, 64, 0, 10000);
			r = r ? r : ivshmem_chan_recv(ch, other, b, sizeof(b), &len, NULL, 10000);
		} else {
			r = ivshmem_chan_recv(ch, other, b, sizeof(b), &len, NULL, 10000);
			r = r ? r : ivshmem_chan_send(ch, other, b, len, 0, 10000);
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		rtt[i] = (t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec);
	}
	if (role == 'A' && !r) {
		qsort(rtt, 500, sizeof(rtt[0]), cmp_i64);
		printf("# ping-pong A-B, 64 bytes: median %.1f us, p99 %.1f us\n", rtt[250] / 1e3,
		       rtt[495] / 1e3);
	}
	return r == 0;
}

/* an empty message to everyone; the next one from each peer is its goodbye */
static bool goodbyes(const uint32_t *peers, size_t np)
{
	unsigned char b[64];
	size_t i, len;

	for (i = 0; i < np; i++)
		if (ivshmem_chan_send(ch, peers[i], b, 0, 0, 10000))
			return false;
	for (i = 0; i < np; i++)
		if (ivshmem_chan_recv(ch, peers[i], b, sizeof(b), &len, NULL, STEP_MS) || len)
			return false;
	return true;
}

/* ------------------------------------------------------------------ */
/* chaos: pass messages while the host scribbles over the region        */

static int chaos(struct ivshmem_dev *dev, struct ivshmem_peer *peer, int secs)
{
	struct ivshmem_chan_config cfg;
	unsigned long calls = 0, msgs = 0, attached = 0, fails = 0, in_row = 0, slow = 0;
	unsigned long errs[8] = { 0 };
	uint64_t seed = (uint64_t)ms_now() * 2654435761ULL | 1;
	static unsigned char buf[CHS_RING];
	int64_t end = ms_now() + secs * 1000LL;
	int worst = 0;

	ivshmem_chan_config_init(&cfg);
	cfg.offset = CHAOS_OFF;
	cfg.length = CHS_REGION_LEN;
	cfg.max_peers = CHS_PEERS;
	cfg.ring_size = CHS_RING;
	cfg.heartbeat_ms = 100;
	cfg.dead_ms = 2000;
	cfg.spin_ns = 5000;
	while (ms_now() < end) {
		uint64_t x = chs_rng(&seed);
		uint32_t other = (uint32_t)(x >> 8) % CHS_PEERS, src;
		int r, tmo = (int)((x >> 16) % 4) * 10, over;
		int64_t t0 = ms_now();
		size_t len;

		if (!ch) {
			bool create = role == 'A' && (in_row >= 20 || !attached);

			r = create ? (dev ? ivshmem_chan_create(dev, &cfg, &ch) :
					    ivshmem_chan_create_host(peer, &cfg, &ch)) :
				     (dev ? ivshmem_chan_attach(dev, &cfg, &ch) :
					    ivshmem_chan_attach_host(peer, &cfg, &ch));
			tmo = 0;
			if (r) {
				ch = NULL;
				if (r != -EAGAIN && r != -EPROTO && r != -EUSERS)
					errs[7]++;
				fails++;
				in_row++;
				usleep(5000);
				goto timed;
			}
			in_row = 0;
			attached++;
		}
		switch ((x >> 24) % 4) {
		case 0:
			if (role == 'A') {
				len = (x >> 32) % 600;
				memset(buf, (int)x, len);
				r = ivshmem_chan_send(ch, other, buf, len, 0, tmo);
			} else {
				r = ivshmem_chan_recv(ch, IVSHMEM_CHAN_ANY, buf, sizeof(buf), &len, &src, tmo);
			}
			break;
		case 1:
			if (role == 'A') {
				void *w;

				len = (x >> 32) % 1500;
				r = ivshmem_chan_reserve(ch, other, len, &w, tmo);
				r = r ? r : (memset(w, 0x33, len), ivshmem_chan_commit(ch, other, len / 2, 0));
			} else {
				const void *p;

				r = ivshmem_chan_peek(ch, other, &p, &len, &src, tmo);
				r = r ? r : ivshmem_chan_release(ch, src);
			}
			break;
		case 2:
			if (role == 'A') {
				struct iovec v[3] = { { buf, 10 }, { buf, 300 }, { buf, 0 } };
				size_t sent;

				r = ivshmem_chan_send_batch(ch, other, v, 3, &sent, tmo);
			} else {
				struct iovec v[4] = { { buf, 1024 }, { buf + 1024, 1024 },
						      { buf + 2048, 1024 }, { buf + 3072, 1024 } };
				size_t got;

				r = ivshmem_chan_recv_batch(ch, other, v, 4, &got, &src, tmo);
			}
			break;
		default: {
			struct ivshmem_chan_event ev = { .size = sizeof(ev) };

			r = ivshmem_chan_process(ch);
			while (ivshmem_chan_next_event(ch, &ev) == 0)
				;
			msgs -= !r;	/* housekeeping, not traffic */
			break;
		}
		}
		switch (r) {
		case 0: msgs++; break;
		case -EAGAIN: errs[1]++; break;
		case -ETIMEDOUT: errs[2]++; break;
		case -EPROTO: errs[3]++; break;
		case -ENOTCONN: errs[4]++; break;
		case -EMSGSIZE: errs[5]++; break;
		case -EINVAL: errs[6]++; break;
		default: errs[7]++; printf("# unexpected %d\n", r); break;
		}
		if (r == -ENOTCONN && ivshmem_chan_process(ch) == -ENOTCONN) {
			ivshmem_chan_close(ch);
			ch = NULL;
		} else if (r == -EPROTO && (x >> 50) % 8 == 0) {
			ivshmem_chan_close(ch);	/* a broken channel heals on a new join */
			ch = NULL;
		}
timed:
		calls++;
		over = (int)(ms_now() - t0) - tmo;
		if (over > worst)
			worst = over;
		slow += over > CHAOS_MARGIN_MS;
	}
	printf("# %lu calls, %lu ok, eagain %lu, timedout %lu, eproto %lu, enotconn %lu, "
	       "emsgsize %lu, einval %lu, other %lu; attached %lu times (%lu attempts failed)\n",
	       calls, msgs, errs[1], errs[2], errs[3], errs[4], errs[5], errs[6], errs[7],
	       attached, fails);
	ok(true, "passed messages for %d s while the region was scribbled over, and lived "
	   "(a sanitizer report would have aborted)", secs);
	ok(!errs[7], "no unexpected error codes");
	ok(!slow, "every call returned within its timeout + %d ms (worst overrun %d ms)",
	   CHAOS_MARGIN_MS, worst);
	ok(attached && msgs > 10, "traffic flowed in between (%lu sends or receives succeeded)", msgs);
	return 0;
}

int main(int argc, char **argv)
{
	struct ivshmem_chan_config cfg;
	struct ivshmem_dev *dev = NULL;
	struct ivshmem_peer *peer = NULL;
	struct ivshmem_chan_stats st = { .size = sizeof(st) };
	uint32_t peers[MAXP];
	unsigned int want;
	uint32_t count;
	int64_t t0;
	size_t np = 0;
	bool guest;
	int r;

	if (argc < 5 || (strcmp(argv[1], "dev") && strcmp(argv[1], "host") &&
			 strcmp(argv[1], "chaos-dev") && strcmp(argv[1], "chaos-host"))) {
		fprintf(stderr, "usage: %s dev|host ROLE DEVICE|SOCKET PEERS [MESSAGES]\n"
			"       %s chaos-dev|chaos-host ROLE DEVICE|SOCKET SECONDS\n", argv[0], argv[0]);
		return 2;
	}
	role = argv[2][0];
	want = (unsigned int)atoi(argv[4]);
	count = argc > 5 ? (uint32_t)atoi(argv[5]) : 5000;

	guest = !strcmp(argv[1], "dev") || !strcmp(argv[1], "chaos-dev");
	if (guest)
		r = ivshmem_open(argv[3], &dev);
	else
		r = ivshmem_peer_connect(argv[3], &peer);
	ok(r == 0, "%s %s (%d)", guest ? "open" : "connect to", argv[3], r);
	if (r)
		goto out;
	if (!strncmp(argv[1], "chaos", 5)) {
		chaos(dev, peer, (int)want);
		goto out;
	}

	ivshmem_chan_config_init(&cfg);
	cfg.offset = REGION_OFF;
	cfg.length = REGION_LEN;
	cfg.max_peers = 4;
	cfg.ring_size = 64 * 1024;
	cfg.heartbeat_ms = 250;
	cfg.dead_ms = 60000;	/* TCG guests on busy cores stall for seconds */
	t0 = ms_now();
	if (role == 'A') {
		r = dev ? ivshmem_chan_create(dev, &cfg, &ch) : ivshmem_chan_create_host(peer, &cfg, &ch);
	} else {
		do {
			r = dev ? ivshmem_chan_attach(dev, &cfg, &ch) :
				  ivshmem_chan_attach_host(peer, &cfg, &ch);
			if (r == -EAGAIN)
				usleep(100000);
		} while (r == -EAGAIN && ms_now() - t0 < JOIN_MS);
	}
	ok(r == 0, "%s the region, slot %d (%d)", role == 'A' ? "formats and joins" : "joins",
	   r ? -1 : ivshmem_chan_self(ch), r);
	if (r)
		goto out;
	ok(wait_peers(want, peers), "all %u participants are present", want);
	ivshmem_chan_peers(ch, peers, MAXP, &np);
	ok(tell_roles(peers, np), "roles told and heard");

	t0 = ms_now();
	r = exchange(peers, np, count);
	ivshmem_chan_get_stats(ch, &st);
	ok(r, "%u messages (16..2015 bytes) to and from each of %zu peers, in order and intact"
	   " (%d ms; %" PRIu64 " doorbells, %" PRIu64 " wake-ups)", count, np,
	   (int)(ms_now() - t0), st.doorbells, st.wakeups);
	if (role == 'A' || role == 'B')
		ok(pingpong(), "500 round trips of 64 bytes between A and B");
	ok(goodbyes(peers, np), "goodbyes said and heard");

	if (role == 'B') {
		ivshmem_chan_close(ch);
		ch = NULL;
		ok(true, "leaves first");
	} else {
		ok(role_slot['B'] && wait_left(role_slot['B'] - 1, 30000), "sees B leave");
		if (role == 'A') {
			ivshmem_chan_close(ch);
			ch = NULL;
		} else {
			ok(role_slot['A'] && wait_left(role_slot['A'] - 1, 30000), "sees A leave");
		}
	}
out:
	ivshmem_chan_close(ch);
	ivshmem_close(dev);
	ivshmem_peer_close(peer);
	printf("1..%d\n", tests);
	return failures ? 1 : 0;
}
