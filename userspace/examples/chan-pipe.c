// SPDX-License-Identifier: MIT
/*
 * chan-pipe - a pipe between two peers over a libivshmem channel: one side
 * copies its standard input to the other, which writes it to its standard
 * output. Works in a guest (DEV) and on the host (-S SOCKET of an
 * ivshmem-server) alike.
 *
 *   cc -o chan-pipe chan-pipe.c $(pkg-config --cflags --libs libivshmem)
 *
 *   guest A$ tar c dir | ./chan-pipe 0 send        # formats, waits for a peer
 *   guest B$ ./chan-pipe 0 recv | tar x            # attaches, receives
 *   host$    ./chan-pipe -S /tmp/ivshmem_socket recv > copy.tar
 *
 * The sender formats the region (1 MiB at offset 1 MiB, by default) and
 * sends to the first peer that joins; the receiver attaches and takes
 * from whoever sends. The end of the stream is an empty message.
 * Exit status: 0, or 1 with a message on standard error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libivshmem.h>

#define CHUNK	(16 * 1024)
#define WAIT_MS	60000

static int die(const char *what, int err)
{
	fprintf(stderr, "chan-pipe: %s: %s\n", what, strerror(-err));
	return 1;
}

/* the first present peer, waiting for one to join */
static int first_peer(struct ivshmem_chan *ch, uint32_t *slot)
{
	int waited;

	for (waited = 0; waited < WAIT_MS; waited += 10) {
		size_t n;
		int ret = ivshmem_chan_process(ch);

		if (ret)
			return ret;
		ivshmem_chan_peers(ch, slot, 1, &n);
		if (n)
			return 0;
		usleep(10000);
	}
	return -ETIMEDOUT;
}

static int do_send(struct ivshmem_chan *ch)
{
	uint32_t to;
	ssize_t n;
	void *buf;
	int ret = first_peer(ch, &to);

	if (ret)
		return die("waiting for a receiver", ret);
	for (;;) {
		/* zero copy: read() straight into the ring */
		ret = ivshmem_chan_reserve(ch, to, CHUNK, &buf, WAIT_MS);
		if (ret)
			return die("send", ret);
		n = read(STDIN_FILENO, buf, CHUNK);
		if (n < 0)
			return die("read", -errno);
		ret = ivshmem_chan_commit(ch, to, (size_t)n, 0);
		if (ret)
			return die("send", ret);
		if (n == 0)
			break;		/* the empty message: end of stream */
	}
	/* what we sent stays readable after we leave: no need to linger */
	return 0;
}

static int do_recv(struct ivshmem_chan *ch)
{
	for (;;) {
		const void *buf;
		uint32_t src;
		size_t len, done = 0;
		int ret = ivshmem_chan_peek(ch, IVSHMEM_CHAN_ANY, &buf, &len, &src, WAIT_MS);

		if (ret)
			return die("recv", ret);
		while (done < len) {
			ssize_t n = write(STDOUT_FILENO, (const char *)buf + done, len - done);

			if (n < 0)
				return die("write", -errno);
			done += (size_t)n;
		}
		ivshmem_chan_release(ch, src);
		if (!len)
			return 0;
	}
}

int main(int argc, char **argv)
{
	struct ivshmem_chan_config cfg;
	struct ivshmem_peer *peer = NULL;
	struct ivshmem_dev *dev = NULL;
	struct ivshmem_chan *ch = NULL;
	const char *mode;
	int ret, waited, status;

	if (argc == 4 && !strcmp(argv[1], "-S")) {
		ret = ivshmem_peer_connect(argv[2], &peer);
		mode = argv[3];
	} else if (argc == 3) {
		ret = ivshmem_open(argv[1], &dev);
		mode = argv[2];
	} else {
		fprintf(stderr, "usage: chan-pipe DEV|-S SOCKET send|recv\n");
		return 2;
	}
	if (ret)
		return die(argv[argc - 2], ret);

	ivshmem_chan_config_init(&cfg);
	cfg.offset = 1 << 20;
	cfg.length = 1 << 20;
	cfg.max_peers = 2;
	cfg.ring_size = 128 * 1024;	/* 2 peers: 4 rings, half a MiB */
	if (!strcmp(mode, "send")) {
		ret = dev ? ivshmem_chan_create(dev, &cfg, &ch) :
			    ivshmem_chan_create_host(peer, &cfg, &ch);
	} else {
		/* the sender may not have formatted the region yet */
		for (waited = 0; waited < WAIT_MS; waited += 50) {
			ret = dev ? ivshmem_chan_attach(dev, &cfg, &ch) :
				    ivshmem_chan_attach_host(peer, &cfg, &ch);
			if (ret != -EAGAIN)
				break;
			usleep(50000);
		}
	}
	if (ret) {
		status = die(!strcmp(mode, "send") ? "create" : "attach", ret);
		goto out;
	}
	status = !strcmp(mode, "send") ? do_send(ch) : do_recv(ch);
out:
	ivshmem_chan_close(ch);
	ivshmem_close(dev);
	ivshmem_peer_close(peer);
	return status;
}
