// SPDX-License-Identifier: GPL-2.0-only
/*
 * chan-bench.c - throughput and round trip over a libivshmem channel
 * between two host peers of one ivshmem-server (two processes).
 *
 * Usage: chan-bench PATH-TO-ivshmem-server [SECONDS-PER-ROW]
 *
 * Each row starts a fresh region and a fresh child process (the other
 * peer). Prints one line per row: messages/s, MB/s, doorbells and consumer
 * wake-ups per message, CPU time per message (both processes), and for
 * ping-pong the round trip median and 99th percentile. Not a test: the
 * numbers depend on the machine and its load.
 */
#include "ivs-test.h"

#include <sys/resource.h>

#include "ivshmem-peer.h"
#include "ivshmem-channel.h"

#define REGION_OFF	(1024 * 1024)
#define REGION_LEN	(5 * 1024 * 1024)

static char *sock;
static double secs = 1.0;

struct row {
	const char *name;
	size_t size;		/* message bytes */
	int batch;		/* messages per send_batch (1: ivshmem_chan_send) */
	bool pingpong;
	uint64_t spin_ns;	/* of both sides */
};

/* what the child reports back in its last message */
struct child_report {
	uint64_t received, wakeups, sleeps, doorbells;
};

static uint64_t ns_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void cfg_row(struct ivshmem_chan_config *c, const struct row *r)
{
	ivshmem_chan_config_init(c);
	c->offset = REGION_OFF;
	c->length = REGION_LEN;
	c->max_peers = 2;
	c->ring_size = 1024 * 1024;
	c->spin_ns = r->spin_ns;
	c->heartbeat_ms = 250;
	c->dead_ms = 10000;
}

/* the other peer: receive (and echo, for ping-pong) until an empty message */
static int child(const struct row *r)
{
	struct ivshmem_peer *p = NULL;
	struct ivshmem_chan *ch = NULL;
	struct ivshmem_chan_config c;
	struct ivshmem_chan_stats st = { .size = sizeof(st) };
	struct child_report rep;
	static unsigned char buf[1 << 19];
	int64_t end = now_ms() + 5000;
	size_t len;
	int ret;

	if (ivshmem_peer_connect(sock, &p))
		return 2;
	cfg_row(&c, r);
	while ((ret = ivshmem_chan_attach_host(p, &c, &ch)) == -EAGAIN && now_ms() < end)
		sleep_ms(1);
	if (ret)
		return 3;
	for (;;) {
		if (r->batch > 1) {
			struct iovec v[64];
			static unsigned char bufs[64][256];
			size_t got, i;

			for (i = 0; i < 64; i++) {
				v[i].iov_base = bufs[i];
				v[i].iov_len = sizeof(bufs[i]);
			}
			ret = ivshmem_chan_recv_batch(ch, 0, v, 64, &got, NULL, 10000);
			if (ret)
				return 4;
			if (v[got - 1].iov_len == 0)
				break;
			continue;
		}
		ret = ivshmem_chan_recv(ch, 0, buf, sizeof(buf), &len, NULL, 10000);
		if (ret)
			return 4;
		if (len == 0)
			break;
		if (r->pingpong && ivshmem_chan_send(ch, 0, buf, len, 0, 10000))
			return 5;
	}
	ivshmem_chan_get_stats(ch, &st);
	rep = (struct child_report){ st.received, st.wakeups, st.sleeps, st.doorbells };
	ivshmem_chan_send(ch, 0, &rep, sizeof(rep), 0, 10000);
	/* wait for the parent to read it before the slot goes */
	ivshmem_chan_recv(ch, 0, buf, sizeof(buf), &len, NULL, 10000);
	ivshmem_chan_close(ch);
	ivshmem_peer_close(p);
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double cpu_s(const struct rusage *ru)
{
	return ru->ru_utime.tv_sec + ru->ru_stime.tv_sec +
	       (ru->ru_utime.tv_usec + ru->ru_stime.tv_usec) / 1e6;
}

static void run_row(struct ivshmem_peer *pa, const struct row *r)
{
	static unsigned char buf[1 << 19];
	static uint64_t rtt[2000000];
	struct ivshmem_chan_config c;
	struct ivshmem_chan *a = NULL;
	struct ivshmem_chan_stats st = { .size = sizeof(st) };
	struct child_report rep = { 0 };
	struct rusage ru0, ru1, ruc;
	uint64_t t0, t1, n = 0, deadline;
	size_t len, nrtt = 0;
	pid_t pid;
	int status = 0, ret;

	cfg_row(&c, r);
	if (ivshmem_chan_create_host(pa, &c, &a)) {
		printf("%-28s create failed\n", r->name);
		return;
	}
	pid = fork();
	if (pid == 0)
		_exit(child(r));
	/* wait for the child to join */
	for (t0 = ns_now(); ns_now() - t0 < 5000000000ULL; sleep_ms(1)) {
		size_t np;

		ivshmem_chan_process(a);
		ivshmem_chan_peers(a, NULL, 0, &np);
		if (np)
			break;
	}
	memset(buf, 0xab, sizeof(buf));
	getrusage(RUSAGE_SELF, &ru0);
	t0 = ns_now();
	deadline = t0 + (uint64_t)(secs * 1e9);
	ret = 0;
	while (!ret && ns_now() < deadline) {
		int k;

		for (k = 0; k < 64 && !ret; k++) {
			if (r->pingpong) {
				uint64_t s = ns_now();

				ret = ivshmem_chan_send(a, 1, buf, r->size, 0, 10000);
				ret = ret ? ret : ivshmem_chan_recv(a, 1, buf, sizeof(buf), &len, NULL, 10000);
				if (nrtt < sizeof(rtt) / sizeof(rtt[0]))
					rtt[nrtt++] = ns_now() - s;
				n++;
			} else if (r->batch > 1) {
				struct iovec v[64];
				size_t i, sent;

				for (i = 0; i < (size_t)r->batch; i++) {
					v[i].iov_base = buf;
					v[i].iov_len = r->size;
				}
				ret = ivshmem_chan_send_batch(a, 1, v, (size_t)r->batch, &sent, 10000);
				n += sent;
			} else {
				ret = ivshmem_chan_send(a, 1, buf, r->size, 0, 10000);
				n += !ret;
			}
		}
	}
	/* the end marker; the child's report says when everything arrived */
	ret = ret ? ret : ivshmem_chan_send(a, 1, buf, 0, 0, 10000);
	ret = ret ? ret : ivshmem_chan_recv(a, 1, &rep, sizeof(rep), &len, NULL, 10000);
	t1 = ns_now();
	getrusage(RUSAGE_SELF, &ru1);
	ivshmem_chan_send(a, 1, buf, 1, 0, 1000);
	ivshmem_chan_get_stats(a, &st);
	wait4(pid, &status, 0, &ruc);
	ivshmem_chan_close(a);
	if (ret || !WIFEXITED(status) || WEXITSTATUS(status)) {
		printf("%-28s failed (%d, child status %d)\n", r->name, ret, status);
		return;
	}
	{
		double dt = (t1 - t0) / 1e9;
		double cpu = cpu_s(&ru1) - cpu_s(&ru0) + cpu_s(&ruc);

		printf("%-28s %10.0f %9.1f %9.4f %9.4f %8.2f", r->name, n / dt,
		       n * (double)r->size / dt / 1e6,
		       (double)(st.doorbells + rep.doorbells) / (double)n,
		       (double)rep.wakeups / (double)n, cpu / (double)n * 1e6);
	}
	if (nrtt) {
		qsort(rtt, nrtt, sizeof(rtt[0]), cmp_u64);
		printf(" %8.2f %8.2f", rtt[nrtt / 2] / 1e3, rtt[nrtt * 99 / 100] / 1e3);
	}
	printf("\n");
	fflush(stdout);
}

/* an idle receiver: CPU time of a process blocked in recv for 2 s */
static void idle_row(struct ivshmem_peer *pa)
{
	static const struct row r = { "idle receiver, 2 s", 64, 1, false, 20000 };
	struct ivshmem_chan_config c;
	struct ivshmem_chan *a = NULL;
	struct ivshmem_chan_stats st = { .size = sizeof(st) };
	struct child_report rep = { 0 };
	struct rusage ruc;
	unsigned char b[64];
	size_t len;
	pid_t pid;
	int status = 0;
	uint64_t t0;

	cfg_row(&c, &r);
	if (ivshmem_chan_create_host(pa, &c, &a))
		return;
	pid = fork();
	if (pid == 0)
		_exit(child(&r));
	for (t0 = ns_now(); ns_now() - t0 < 5000000000ULL; sleep_ms(1)) {
		size_t np;

		ivshmem_chan_process(a);
		ivshmem_chan_peers(a, NULL, 0, &np);
		if (np)
			break;
	}
	sleep_ms(2000);
	ivshmem_chan_send(a, 1, b, 0, 0, 1000);
	ivshmem_chan_recv(a, 1, &rep, sizeof(rep), &len, NULL, 10000);
	ivshmem_chan_send(a, 1, b, 1, 0, 1000);
	ivshmem_chan_get_stats(a, &st);
	wait4(pid, &status, 0, &ruc);
	ivshmem_chan_close(a);
	printf("%-28s receiver CPU %.1f ms in ~2 s, %" PRIu64 " sleeps, %" PRIu64
	       " doorbell wake-ups\n", r.name, cpu_s(&ruc) * 1e3, rep.sleeps, rep.wakeups);
}

int main(int argc, char **argv)
{
	static const struct row rows[] = {
		{ "stream 64 KiB", 65536, 1, false, 20000 },
		{ "stream 64 B", 64, 1, false, 20000 },
		{ "stream 64 B, batches of 32", 64, 32, false, 20000 },
		{ "ping-pong 64 B, adaptive", 64, 1, true, 20000 },
		{ "ping-pong 64 B, sleep", 64, 1, true, 0 },
		{ "ping-pong 64 B, busy-poll", 64, 1, true, 10000000000ULL },
		{ "ping-pong 64 KiB, adaptive", 65536, 1, true, 20000 },
	};
	const char *args[] = { "-n", "1", "-l", "8M", "-M", NULL, NULL };
	struct server_proc sp;
	struct ivshmem_peer *pa = NULL;
	size_t i;

	if (argc < 2) {
		fprintf(stderr, "usage: %s PATH-TO-ivshmem-server [SECONDS-PER-ROW]\n", argv[0]);
		return 2;
	}
	ivs_server_bin = argv[1];
	if (argc > 2)
		secs = atof(argv[2]);
	signal(SIGPIPE, SIG_IGN);
	sock = uniq("/tmp/ivs-chanb", ".sock");
	args[5] = uniq("ivs-chanb", "");
	if (!server_start(&sp, sock, args) || ivshmem_peer_connect(sock, &pa)) {
		fprintf(stderr, "chan-bench: no server\n");
		return 1;
	}
	printf("# two host peers, one ivshmem-server, 1 MiB rings, %.1f s per row\n", secs);
	printf("%-28s %10s %9s %9s %9s %8s %8s %8s\n", "row", "msg/s", "MB/s", "bell/msg",
	       "wake/msg", "cpu-us/m", "rtt-med", "rtt-p99");
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		run_row(pa, &rows[i]);
	idle_row(pa);
	printf("# rtt in microseconds; cpu-us/m: CPU time of both processes per message\n");
	ivshmem_peer_close(pa);
	server_cleanup(&sp);
	free(sock);
	return 0;
}
