// SPDX-License-Identifier: GPL-2.0-only
/*
 * test-chan-hostile.c - channels against a peer that writes garbage.
 *
 * Part 1 damages one field at a time and checks the named outcome.
 * Part 2 forks a hostile process that writes random and plausible values
 * into the header, the peer table, the ring indices and the records while
 * two victim threads pass messages and re-attach when they are thrown out.
 *
 * What must hold, built with -fsanitize=address,undefined:
 *  - no crash, no sanitizer report;
 *  - no access outside the region: every page of the shared memory outside
 *    [offset, offset + length) is PROT_NONE in the victims' mappings, and
 *    the bytes between the end of the layout and the end of the region
 *    hold a canary that must survive;
 *  - every call returns within its timeout plus a margin;
 *  - after the hostile peer stops, a fresh region carries traffic again.
 *
 * Usage: test-chan-hostile PATH-TO-ivshmem-server [SECONDS [SEED]]
 */
#include "ivs-test.h"

#include <pthread.h>
#include <sys/mman.h>

#include "ivshmem-peer.h"
#include "ivshmem-channel.h"
#include "chan-scribble.h"

#define REGION_OFF	(1024 * 1024)
#define PEERS		CHS_PEERS
#define RING		CHS_RING
#define LAYOUT		CHS_LAYOUT
#define REGION_LEN	CHS_REGION_LEN
#define CANARY		0x5a
/* what a call may take beyond its timeout (sanitizers, 2 shared cores) */
#define MARGIN_MS	1000

static struct server_proc sp;
static char *sock, *shm_name;

static void cfg_init(struct ivshmem_chan_config *c)
{
	ivshmem_chan_config_init(c);
	c->offset = REGION_OFF;
	c->length = REGION_LEN;
	c->max_peers = PEERS;
	c->ring_size = RING;
	c->heartbeat_ms = 20;
	c->dead_ms = 400;
	c->spin_ns = 5000;
}

static unsigned char *region_of(struct ivshmem_peer *p)
{
	void *m = NULL;

	ivshmem_peer_map(p, &m, NULL);
	return (unsigned char *)m + REGION_OFF;
}

/* everything but the region becomes PROT_NONE in this mapping */
static bool guard(struct ivshmem_peer *p)
{
	void *m = NULL;
	uint64_t size = 0;
	unsigned char *base;

	if (ivshmem_peer_map(p, &m, &size))
		return false;
	base = m;
	return mprotect(base, REGION_OFF, PROT_NONE) == 0 &&
	       mprotect(base + REGION_OFF + REGION_LEN, size - REGION_OFF - REGION_LEN,
			PROT_NONE) == 0;
}

static void set_canary(unsigned char *r)
{
	memset(r + LAYOUT, CANARY, REGION_LEN - LAYOUT);
}

static bool canary_ok(const unsigned char *r)
{
	size_t i;

	for (i = LAYOUT; i < REGION_LEN; i++)
		if (r[i] != CANARY)
			return false;
	return true;
}

#define head_of chs_head
#define tail_of chs_tail
#define data_of chs_data
#define slot_of chs_slot

/* ------------------------------------------------------------------ */
/* Part 1: one damage at a time                                         */

static bool pair(struct ivshmem_peer *pa, struct ivshmem_peer *pb, struct ivshmem_chan **a,
		 struct ivshmem_chan **b)
{
	struct ivshmem_chan_config c;
	uint32_t slots[4];
	size_t n;

	cfg_init(&c);
	*a = *b = NULL;
	if (ivshmem_chan_create_host(pa, &c, a) || ivshmem_chan_attach_host(pb, &c, b))
		return false;
	ivshmem_chan_process(*a);
	ivshmem_chan_peers(*a, slots, 4, &n);
	return n == 1;
}

static void unpair(struct ivshmem_chan **a, struct ivshmem_chan **b)
{
	ivshmem_chan_close(*a);
	ivshmem_chan_close(*b);
	*a = *b = NULL;
}

static void test_targeted(struct ivshmem_peer *pa, struct ivshmem_peer *pb)
{
	unsigned char *r = region_of(pa), buf[RING];
	struct ivshmem_chan *a, *b;
	struct ivshmem_chan_event ev = { .size = sizeof(ev) };
	size_t len;
	uint64_t w;
	int ret;

	/* head far beyond the tail */
	ok(pair(pa, pb, &a, &b), "targeted: A and B pair");
	ivshmem_chan_send(a, 1, "x", 1, 0, 0);
	w = *head_of(r, 0, 1);
	*head_of(r, 0, 1) = (w & ~0xffffffffULL) | 0x7ffff000;
	ret = ivshmem_chan_recv(b, 0, buf, sizeof(buf), &len, NULL, 0);
	ok(ret == -EPROTO, "a head more than a ring ahead of the tail: -EPROTO (%d)", ret);
	ok(ivshmem_chan_recv(b, 0, buf, sizeof(buf), &len, NULL, 100) == -EPROTO,
	   "the ring stays broken: -EPROTO again, at once");
	ok(ivshmem_chan_send(b, 0, "y", 1, 0, 0) == 0 &&
	   ivshmem_chan_recv(a, 1, buf, sizeof(buf), &len, NULL, 0) == 0 && len == 1,
	   "the other direction still works");
	unpair(&a, &b);

	/* a record length beyond the largest message */
	pair(pa, pb, &a, &b);
	ivshmem_chan_send(a, 1, "hello", 5, 0, 0);
	*(uint32_t *)data_of(r, 0, 1) = 0xfffffff0;
	ok(ivshmem_chan_recv(b, 0, buf, sizeof(buf), &len, NULL, 0) == -EPROTO,
	   "a record longer than the largest message: -EPROTO");
	unpair(&a, &b);

	/* a record that runs past the published head */
	pair(pa, pb, &a, &b);
	ivshmem_chan_send(a, 1, "hello", 5, 0, 0);
	*(uint32_t *)data_of(r, 0, 1) = 1000;
	ok(ivshmem_chan_recv(b, 0, buf, sizeof(buf), &len, NULL, 0) == -EPROTO,
	   "a record longer than what was published: -EPROTO");
	unpair(&a, &b);

	/* an unknown record type, a padding record of the wrong length */
	pair(pa, pb, &a, &b);
	ivshmem_chan_send(a, 1, "hello", 5, 0, 0);
	((uint32_t *)data_of(r, 0, 1))[1] = 77;
	ok(ivshmem_chan_recv(b, 0, buf, sizeof(buf), &len, NULL, 0) == -EPROTO,
	   "an unknown record type: -EPROTO");
	unpair(&a, &b);
	pair(pa, pb, &a, &b);
	ivshmem_chan_send(a, 1, "hello", 5, 0, 0);
	((uint32_t *)data_of(r, 0, 1))[0] = 8;
	((uint32_t *)data_of(r, 0, 1))[1] = 2;	/* padding */
	ok(ivshmem_chan_recv(b, 0, buf, sizeof(buf), &len, NULL, 0) == -EPROTO,
	   "padding that does not reach the end of the ring: -EPROTO");
	unpair(&a, &b);

	/* a misaligned head */
	pair(pa, pb, &a, &b);
	w = *head_of(r, 0, 1);
	*head_of(r, 0, 1) = w + 3;
	ok(ivshmem_chan_recv(b, 0, buf, sizeof(buf), &len, NULL, 0) == -EPROTO,
	   "a head that is not a multiple of 8: -EPROTO");
	unpair(&a, &b);

	/* a head of another epoch is ignored */
	pair(pa, pb, &a, &b);
	ivshmem_chan_send(a, 1, "hello", 5, 0, 0);
	w = *head_of(r, 0, 1);
	*head_of(r, 0, 1) = w ^ (0x1234ULL << 32);
	ok(ivshmem_chan_recv(b, 0, buf, sizeof(buf), &len, NULL, 0) == -EAGAIN,
	   "a head of another pairing (epoch) counts as no data: -EAGAIN");
	*head_of(r, 0, 1) = w;
	ok(ivshmem_chan_recv(b, 0, buf, sizeof(buf), &len, NULL, 0) == 0 && len == 5,
	   "restored, the message arrives");
	unpair(&a, &b);

	/* a tail ahead of the head: the producer's ring breaks */
	pair(pa, pb, &a, &b);
	memset(buf, 1, 1000);
	while (ivshmem_chan_send(a, 1, buf, 1000, 0, 0) == 0)
		;
	w = *tail_of(r, 0, 1);
	*tail_of(r, 0, 1) = w + 0x100000;
	ok(ivshmem_chan_send(a, 1, buf, 1000, 0, 0) == -EPROTO,
	   "a tail ahead of the head: the producer gets -EPROTO");
	unpair(&a, &b);

	/* the peer table: a vector and a peer id out of range */
	pair(pa, pb, &a, &b);
	*(uint32_t *)(slot_of(r, 1) + 20) = 1000;
	*(uint32_t *)(slot_of(r, 1) + 16) = 99999;
	ivshmem_chan_close(b);
	ivshmem_chan_process(a);
	{
		struct ivshmem_chan *b2 = NULL;
		struct ivshmem_chan_config c;

		cfg_init(&c);
		ivshmem_chan_attach_host(pb, &c, &b2);
		*(uint32_t *)(slot_of(r, 1) + 20) = 1000;
		*(uint32_t *)(slot_of(r, 1) + 16) = 99999;
		while (ivshmem_chan_next_event(a, &ev) == 0)
			;
		/* A learns B's slot only now: with the damaged vector and id */
		ivshmem_chan_process(a);
		ret = ivshmem_chan_send(a, 1, "z", 1, 0, 0);
		ok(ret == 0 && ivshmem_chan_recv(b2, 0, buf, sizeof(buf), &len, NULL, 200) == 0,
		   "a slot with vector 1000 and peer id 99999: sends work, nothing is rung (%d)", ret);
		ivshmem_chan_close(b2);
	}
	ivshmem_chan_close(a);

	/* the own slot overwritten: evicted */
	pair(pa, pb, &a, &b);
	*(uint64_t *)slot_of(r, 1) = 0xdeadbeefULL << 32 | 2;
	ok(ivshmem_chan_process(b) == -ENOTCONN && ivshmem_chan_next_event(b, &ev) == 0 &&
	   ev.type == IVSHMEM_CHAN_JOINED && ivshmem_chan_next_event(b, &ev) == 0 &&
	   ev.type == IVSHMEM_CHAN_EVICTED,
	   "a peer whose slot was overwritten finds itself evicted");
	ok(ivshmem_chan_send(b, 0, "z", 1, 0, 0) == -ENOTCONN &&
	   ivshmem_chan_recv(b, 0, buf, sizeof(buf), &len, NULL, 100) == -ENOTCONN,
	   "and its calls fail with -ENOTCONN, without waiting");
	unpair(&a, &b);

	/* a broken ring heals when the peer joins again */
	pair(pa, pb, &a, &b);
	ivshmem_chan_send(a, 1, "x", 1, 0, 0);
	*(uint32_t *)data_of(r, 0, 1) = 0xfffffff0;
	ivshmem_chan_recv(b, 0, buf, sizeof(buf), &len, NULL, 0);
	ivshmem_chan_close(b);
	{
		struct ivshmem_chan_config c;

		cfg_init(&c);
		ret = ivshmem_chan_attach_host(pb, &c, &b);
		ivshmem_chan_process(a);
		ok(ret == 0 && ivshmem_chan_send(a, ivshmem_chan_self(b), "ok", 2, 0, 0) == 0 &&
		   ivshmem_chan_recv(b, 0, buf, sizeof(buf), &len, NULL, 200) == 0 && len == 2,
		   "after the peer joins again the pair works again");
	}
	unpair(&a, &b);

	/* a header damaged after attach changes nothing for those attached */
	pair(pa, pb, &a, &b);
	memset(r + 32, 0xff, 64);	/* max_peers .. heartbeat */
	ok(ivshmem_chan_send(a, 1, "q", 1, 0, 0) == 0 &&
	   ivshmem_chan_recv(b, 0, buf, sizeof(buf), &len, NULL, 0) == 0,
	   "a header damaged after attach: the attached peers go on (geometry was copied)");
	{
		struct ivshmem_chan *c3 = NULL;
		struct ivshmem_chan_config c;

		cfg_init(&c);
		ret = ivshmem_chan_attach_host(pb, &c, &c3);
		ok(ret == -EPROTO && !c3, "and a new peer is refused with -EPROTO (%d)", ret);
	}
	unpair(&a, &b);
	ok(canary_ok(r), "targeted: nothing written past the layout");
}

/* ------------------------------------------------------------------ */
/* Part 2: random garbage while traffic flows                           */

static volatile int stop;

static uint64_t rng(uint64_t *s)
{
	return chs_rng(s);
}

/* the hostile process: its own mapping of the whole shared memory */
static void hostile(uint64_t seed, int ms)
{
	char path[300];
	unsigned char *r;
	unsigned long writes;
	int fd;

	snprintf(path, sizeof(path), "/dev/shm/%s", shm_name);
	fd = open(path, O_RDWR);
	if (fd < 0)
		_exit(3);
	r = mmap(NULL, REGION_OFF + REGION_LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (r == MAP_FAILED)
		_exit(4);
	writes = chs_scribble(r + REGION_OFF, &seed, now_ms() + ms, 64, 50);
	printf("# hostile: %lu writes\n", writes);
	fflush(stdout);
	_exit(0);
}

struct victim {
	struct ivshmem_peer *p;
	struct ivshmem_chan *ch;
	unsigned long failed_attach, recreated, in_row;
	bool producer;
	uint64_t seed;
	unsigned long calls, msgs, errors[8], reattach, slow;
	int worst_over_ms;
	char slow_what[64];
};

/* time a call: over its timeout + MARGIN_MS counts as a hang */
static void timed(struct victim *v, int64_t t0, int timeout_ms, const char *what)
{
	int over = (int)(now_ms() - t0) - (timeout_ms < 0 ? 0 : timeout_ms);

	v->calls++;
	if (over > v->worst_over_ms)
		v->worst_over_ms = over;
	if (over > MARGIN_MS) {
		v->slow++;
		snprintf(v->slow_what, sizeof(v->slow_what), "%s (+%d ms)", what, over);
	}
}

static void count_err(struct victim *v, int r)
{
	switch (r) {
	case 0: v->msgs++; break;
	case -EAGAIN: v->errors[1]++; break;
	case -ETIMEDOUT: v->errors[2]++; break;
	case -EPROTO: v->errors[3]++; break;
	case -ENOTCONN: v->errors[4]++; break;
	case -EMSGSIZE: v->errors[5]++; break;
	case -EINVAL: v->errors[6]++; break;
	default: v->errors[7]++; break;
	}
}

static void *victim_main(void *arg)
{
	struct victim *v = arg;
	struct ivshmem_chan_config c;
	struct ivshmem_chan *ch = v->ch;
	unsigned char buf[RING];
	int64_t t0;

	cfg_init(&c);
	while (!stop) {
		uint64_t x = rng(&v->seed);
		uint32_t other = (uint32_t)(x >> 8) % PEERS, src;
		int r, tmo = (int)((x >> 16) % 4) * 5;	/* 0, 5, 10, 15 ms */
		size_t len;

		if (!ch) {
			/*
			 * The header may be garbage by now: after a while the
			 * producer formats the region again (so attach and
			 * create run under fire too).
			 */
			bool create = v->producer && v->in_row >= 20;

			t0 = now_ms();
			r = create ? ivshmem_chan_create_host(v->p, &c, &ch) :
				     ivshmem_chan_attach_host(v->p, &c, &ch);
			timed(v, t0, 0, create ? "create" : "attach");
			if (r) {
				if (r != -EAGAIN && r != -EPROTO && r != -EUSERS)
					v->errors[7]++;
				v->failed_attach++;
				v->in_row++;
				ch = NULL;
				usleep(1000);
				continue;
			}
			v->recreated += create;
			v->in_row = 0;
			v->reattach++;
		}
		t0 = now_ms();
		switch ((x >> 24) % (v->producer ? 5 : 6)) {
		case 0:
			if (v->producer) {
				len = (x >> 32) % 600;
				memset(buf, (int)x, len);
				r = ivshmem_chan_send(ch, other, buf, len, (x >> 40) & 1 ? IVSHMEM_CHAN_MORE : 0, tmo);
			} else {
				r = ivshmem_chan_recv(ch, IVSHMEM_CHAN_ANY, buf, sizeof(buf), &len, &src, tmo);
			}
			break;
		case 1:
			if (v->producer) {
				void *w;

				len = (x >> 32) % 1500;
				r = ivshmem_chan_reserve(ch, other, len, &w, tmo);
				if (!r) {
					memset(w, 0x33, len);
					r = ivshmem_chan_commit(ch, other, len / 2, 0);
				}
			} else {
				const void *p;

				r = ivshmem_chan_peek(ch, other, &p, &len, &src, tmo);
				if (!r) {
					volatile unsigned char sum = 0;
					size_t i;

					for (i = 0; i < len; i++)
						sum += ((const unsigned char *)p)[i];
					r = ivshmem_chan_release(ch, src);
				}
			}
			break;
		case 2:
			if (v->producer) {
				struct iovec iov[4] = { { buf, 10 }, { buf, 200 }, { buf, 0 }, { buf, 900 } };
				size_t sent;

				r = ivshmem_chan_send_batch(ch, other, iov, 4, &sent, tmo);
			} else {
				unsigned char b2[4][1024];
				struct iovec iov[4] = { { b2[0], 1024 }, { b2[1], 1024 }, { b2[2], 1024 }, { b2[3], 1024 } };
				size_t got;

				r = ivshmem_chan_recv_batch(ch, other, iov, 4, &got, &src, tmo);
			}
			break;
		case 3:
			r = ivshmem_chan_process(ch);
			{
				struct ivshmem_chan_event ev = { .size = sizeof(ev) };

				while (ivshmem_chan_next_event(ch, &ev) == 0)
					;
			}
			break;
		case 4:
			r = v->producer ? ivshmem_chan_flush(ch, other) :
					  ivshmem_chan_recv(ch, other, buf, 16, &len, NULL, 0);
			break;
		default:
			r = ivshmem_chan_recv(ch, other, buf, sizeof(buf), &len, &src, tmo);
			break;
		}
		timed(v, t0, tmo, "data call");
		count_err(v, r);
		/* thrown out, or every channel broken for long: join again */
		if (r == -ENOTCONN || (r == -EPROTO && (x >> 50) % 8 == 0)) {
			if (ivshmem_chan_process(ch) == -ENOTCONN || r == -EPROTO) {
				t0 = now_ms();
				ivshmem_chan_close(ch);
				timed(v, t0, 0, "close");
				ch = NULL;
			}
		}
	}
	ivshmem_chan_close(ch);
	return NULL;
}

static void test_chaos(struct ivshmem_peer *pa, struct ivshmem_peer *pb, int secs,
		       uint64_t seed)
{
	struct ivshmem_chan_config c;
	struct ivshmem_chan *a = NULL;
	struct victim va = { .p = pa, .producer = true, .seed = seed ^ 0x1111 };
	struct victim vb = { .p = pb, .producer = false, .seed = seed ^ 0x2222 };
	pthread_t ta, tb;
	pid_t pid;
	int status = -1, r;
	int64_t t0 = now_ms();

	cfg_init(&c);
	r = ivshmem_chan_create_host(pa, &c, &a);
	r = r ? r : ivshmem_chan_attach_host(pb, &c, &vb.ch);
	va.ch = a;
	ok(r == 0, "chaos: region created, both victims in it (seed %" PRIu64 ")", seed);

	pid = fork();
	if (pid == 0)
		hostile(seed, secs * 1000);
	stop = 0;
	pthread_create(&ta, NULL, victim_main, &va);
	pthread_create(&tb, NULL, victim_main, &vb);
	sleep_ms(secs * 1000);
	waitpid(pid, &status, 0);
	stop = 1;
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);

	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the hostile process ran (status %d)", status);
	ok(true, "the victims survived %d s of garbage: no crash, no sanitizer abort", secs);
	diag("producer: %lu calls, %lu ok, eagain %lu, timedout %lu, eproto %lu, enotconn %lu, "
	     "emsgsize %lu, einval %lu, other %lu, attached %lu times (%lu failed, %lu formats), "
	     "worst overrun %d ms", va.calls, va.msgs, va.errors[1], va.errors[2], va.errors[3], va.errors[4],
	     va.errors[5], va.errors[6], va.errors[7], va.reattach, va.failed_attach,
	     va.recreated, va.worst_over_ms);
	diag("consumer: %lu calls, %lu ok, eagain %lu, timedout %lu, eproto %lu, enotconn %lu, "
	     "emsgsize %lu, einval %lu, other %lu, attached %lu times (%lu failed), "
	     "worst overrun %d ms", vb.calls, vb.msgs, vb.errors[1], vb.errors[2], vb.errors[3], vb.errors[4],
	     vb.errors[5], vb.errors[6], vb.errors[7], vb.reattach, vb.failed_attach,
	     vb.worst_over_ms);
	ok(va.slow == 0 && vb.slow == 0,
	   "every call returned within its timeout + %d ms (%lu + %lu late; %s%s)", MARGIN_MS,
	   va.slow, vb.slow, va.slow_what, vb.slow_what);
	ok(va.errors[7] == 0 && vb.errors[7] == 0, "no unexpected error codes");
	ok(va.calls > 1000 && vb.calls > 1000 && va.msgs > 100 && vb.msgs > 10,
	   "traffic flowed in between (%lu and %lu calls, %lu sent, %lu received)",
	   va.calls, vb.calls, va.msgs, vb.msgs);
	ok(now_ms() - t0 < secs * 1000 + 5000, "the victims stopped in bounded time");
	ok(canary_ok(region_of(pa)), "chaos: nothing written past the layout");
}

/* after the storm a fresh region works */
static void test_recovery(struct ivshmem_peer *pa, struct ivshmem_peer *pb)
{
	struct ivshmem_chan *a, *b;
	unsigned char buf[256];
	size_t len;
	int i, good = pair(pa, pb, &a, &b);

	for (i = 0; i < 1000 && good; i++) {
		memset(buf, i, 200);
		good = ivshmem_chan_send(a, 1, buf, 200, 0, 1000) == 0 &&
		       ivshmem_chan_recv(b, 0, buf, sizeof(buf), &len, NULL, 1000) == 0 &&
		       len == 200 && buf[199] == (unsigned char)i;
	}
	ok(good, "a region created afresh after the storm carries 1000 messages");
	unpair(&a, &b);
}

int main(int argc, char **argv)
{
	const char *args[] = { "-n", "2", "-l", "4M", "-M", NULL, NULL };
	struct ivshmem_peer *pa = NULL, *pb = NULL;
	int secs = argc > 2 ? atoi(argv[2]) : 4;
	uint64_t seed = argc > 3 ? strtoull(argv[3], NULL, 0) : (uint64_t)time(NULL) * 2654435761ULL;

	if (argc < 2) {
		fprintf(stderr, "usage: %s PATH-TO-ivshmem-server [SECONDS [SEED]]\n", argv[0]);
		return 2;
	}
	if (!seed)
		seed = 1;
	ivs_server_bin = argv[1];
	signal(SIGPIPE, SIG_IGN);
	alarm(secs + 60);	/* a hang ends the test rather than the CI run */
	sock = uniq("/tmp/ivs-chanh", ".sock");
	shm_name = uniq("ivs-chanh", "");
	args[5] = shm_name;
	if (!server_start(&sp, sock, args)) {
		ok(false, "server starts");
		return 1;
	}
	if (ivshmem_peer_connect(sock, &pa) || ivshmem_peer_connect(sock, &pb)) {
		ok(false, "two host peers connect");
		goto out;
	}
	set_canary(region_of(pa));
	ok(guard(pa) && guard(pb),
	   "the victims' mappings are PROT_NONE outside the region (%d bytes at %d)",
	   REGION_LEN, REGION_OFF);
	test_targeted(pa, pb);
	test_chaos(pa, pb, secs, seed);
	test_recovery(pa, pb);
out:
	ivshmem_peer_close(pa);
	ivshmem_peer_close(pb);
	server_cleanup(&sp);
	free(sock);
	free(shm_name);
	return ivs_exit_status();
}
