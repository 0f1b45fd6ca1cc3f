/* SPDX-License-Identifier: MIT */
/*
 * ivshmem-channel.h - message channels over ivshmem shared memory and
 * doorbells, with peer presence (symbol node LIBIVSHMEM_0.2).
 *
 * A channel set lives in a region [offset, offset + length) of the shared
 * memory, laid out as Documentation/ivshmem-channels.rst describes: a
 * header, a table of peer slots and one single-producer single-consumer
 * ring per ordered pair of slots. Any number of independent users can
 * share one device, each in its own region.
 *
 * The same calls work in a guest (over struct ivshmem_dev: the region is
 * mapped from the device, doorbells are the device's vectors) and on the
 * host (over struct ivshmem_peer, a peer of an ivshmem-server). One
 * process attaches once per region and becomes one peer slot; peers are
 * addressed by slot number (0 .. max_peers - 1), which also names them in
 * join and leave events.
 *
 * Trust: the shared memory is written by other VMs. Geometry is read and
 * checked once, at attach; every index, length and offset read later is
 * loaded once, checked, then used. A peer that writes garbage breaks only
 * the channels it takes part in (they fail with -EPROTO), never the
 * caller's memory safety, and every call is bounded by its timeout.
 *
 * Conventions as in libivshmem.h: 0 or a negative errno, nothing printed,
 * no global state; a channel handle is used by one thread at a time.
 *
 * Timeouts (timeout_ms): 0 never blocks (-EAGAIN when it would), a
 * negative value waits forever, a positive one gives up with -ETIMEDOUT.
 * A call that returns -EAGAIN has asked the other side for a doorbell: the
 * descriptor of ivshmem_chan_fd() becomes readable when it is worth trying
 * again.
 */
#ifndef IVSHMEM_CHANNEL_H
#define IVSHMEM_CHANNEL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

struct ivshmem_dev;
struct ivshmem_peer;
struct ivshmem_chan;

/* The layout version this library writes and accepts (major must match). */
#define IVSHMEM_CHAN_LAYOUT_MAJOR	1
#define IVSHMEM_CHAN_LAYOUT_MINOR	0

#define IVSHMEM_CHAN_MAX_PEERS		64	/* slots per region */
#define IVSHMEM_CHAN_MIN_RING		256	/* bytes of data per ring */
#define IVSHMEM_CHAN_MAX_RING		(1U << 30)
/* "any peer" for the receiving calls */
#define IVSHMEM_CHAN_ANY		UINT32_MAX
/* config.vector: listen on no doorbell (ivshmem-plain): blocking calls poll */
#define IVSHMEM_CHAN_NO_VECTOR		UINT32_MAX

/**
 * struct ivshmem_chan_config - where the region is and how to lay it out
 * @size: sizeof(struct ivshmem_chan_config), set by
 *	ivshmem_chan_config_init(); later library versions append fields (a
 *	library given a larger struct than it knows wants the unknown tail
 *	zero, else -E2BIG)
 * @flags: 0
 * @offset: start of the region in the shared memory, a multiple of 64
 * @length: bytes of the region (0: up to the end of the shared memory)
 * @vector: the doorbell vector this peer listens on (guests: it is
 *	listened to through ivshmem_listen(); hosts: one of the peer's), or
 *	IVSHMEM_CHAN_NO_VECTOR: nobody rings it, blocking calls sleep in naps
 *	growing from 20 us to 2 ms, and the descriptor of ivshmem_chan_fd()
 *	wakes only per heartbeat (for ivshmem-plain, which has no doorbell)
 * @max_peers: create only: slots in the peer table, 2..64 (default 4)
 * @ring_size: create only: data bytes per ring, a power of two,
 *	256..2^30 (default 64 KiB); the largest message is half of it less 8
 * @heartbeat_ms: create only: how often peers prove they live (default 250)
 * @dead_ms: create only: silence after which a peer counts as gone and
 *	its slot is freed (default 5000, at least 4 heartbeats)
 * @spin_ns: how long blocking calls poll before they sleep (default 20000)
 */
struct ivshmem_chan_config {
	uint32_t size;
	uint32_t flags;
	uint64_t offset;
	uint64_t length;
	uint32_t vector;
	uint32_t max_peers;
	uint32_t ring_size;
	uint32_t heartbeat_ms;
	uint32_t dead_ms;
	uint32_t reserved;
	uint64_t spin_ns;
};

/** ivshmem_chan_config_init() - fill @cfg with the defaults (region: all memory) */
void ivshmem_chan_config_init(struct ivshmem_chan_config *cfg);

/*
 * Creating formats the region (destroying what was there) and attaches as
 * its first peer; attaching joins a region another peer created. Attach
 * returns -EAGAIN while the region is not (yet) formatted, -EPROTO when
 * its header is invalid or of another major version, -EUSERS when every
 * slot is taken. Other errors: -EINVAL (configuration), -ERANGE (region
 * outside the memory), -EOPNOTSUPP (no doorbell vector @vector), -ENOMEM,
 * or an error of mapping or listening.
 *
 * The channel handle borrows @dev / @p: close the channel first. It
 * consumes the interrupts of the vector it listens on (a guest starts
 * listening to it if nobody did); on the host it also applies the
 * server's messages (ivshmem_peer_process()).
 */
int ivshmem_chan_create(struct ivshmem_dev *dev, const struct ivshmem_chan_config *cfg,
			struct ivshmem_chan **out);
int ivshmem_chan_attach(struct ivshmem_dev *dev, const struct ivshmem_chan_config *cfg,
			struct ivshmem_chan **out);
int ivshmem_chan_create_host(struct ivshmem_peer *p, const struct ivshmem_chan_config *cfg,
			     struct ivshmem_chan **out);
int ivshmem_chan_attach_host(struct ivshmem_peer *p, const struct ivshmem_chan_config *cfg,
			     struct ivshmem_chan **out);

/**
 * ivshmem_chan_close() - leave: free the own slot, ring the peers so that
 *	they see the departure at once, release every resource (NULL is fine)
 *
 * What this peer sent stays readable by the others until the slot is taken
 * again; messages held back with IVSHMEM_CHAN_MORE and those sent to this
 * peer are dropped.
 */
void ivshmem_chan_close(struct ivshmem_chan *ch);

/** ivshmem_chan_self() - Return: the own slot number */
int ivshmem_chan_self(const struct ivshmem_chan *ch);

/** ivshmem_chan_max_peers() - Return: the number of slots of the region */
int ivshmem_chan_max_peers(const struct ivshmem_chan *ch);

/** ivshmem_chan_max_msg() - Return: the largest message in bytes */
size_t ivshmem_chan_max_msg(const struct ivshmem_chan *ch);

/**
 * ivshmem_chan_peers() - the slots of the present peers, self excluded
 * @slots: array of @max entries (may be NULL if @max is 0), ascending
 * @n: receives the number of present peers, which may exceed @max
 *
 * As of the last ivshmem_chan_process() (which every call runs now and then).
 */
int ivshmem_chan_peers(struct ivshmem_chan *ch, uint32_t *slots, size_t max, size_t *n);

/**
 * ivshmem_chan_peer_id() - Return: the ivshmem peer id of a present peer
 *	(what it rings and is rung by), -ENOENT if the slot is not present
 */
int ivshmem_chan_peer_id(struct ivshmem_chan *ch, uint32_t slot);

/* ---------------------------------------------------------------------- */
/* Presence                                                                */

enum ivshmem_chan_event_type {
	IVSHMEM_CHAN_JOINED = 1,	/* a peer took a slot */
	IVSHMEM_CHAN_LEFT = 2,		/* it left, or went silent for dead_ms */
	IVSHMEM_CHAN_EVICTED = 3,	/* this peer was declared dead by others:
					 * the handle is unusable (-ENOTCONN) */
	IVSHMEM_CHAN_EVENTS_LOST = 4,	/* the queue overflowed: see _peers() */
};

/**
 * struct ivshmem_chan_event - one join or leave
 * @size: set by the caller to sizeof(struct ivshmem_chan_event); the
 *	library fills as much as fits (fields may be appended later)
 * @type: enum ivshmem_chan_event_type
 * @slot: the peer's slot
 * @peer_id: its ivshmem peer id (0 for LEFT of a peer never seen present)
 * @generation: the slot's generation: it grows by one on every join
 */
struct ivshmem_chan_event {
	uint32_t size;
	uint32_t type;
	uint32_t slot;
	uint32_t peer_id;
	uint64_t generation;
};

/*
 * Liveness: a peer proves it lives by beating a heartbeat in its slot. Every
 * send, receive, reserve and peek beats when it is due, blocking calls wake
 * for it, and the descriptor of ivshmem_chan_fd() holds a heartbeat timer;
 * a process that makes none of these calls for dead_ms (stopped, paused VM)
 * is declared gone by the others, its slot is freed, and it finds itself
 * evicted (IVSHMEM_CHAN_EVICTED, -ENOTCONN): it may attach again.
 */

/**
 * ivshmem_chan_process() - housekeeping, never blocking
 *
 * Consumes the doorbell, beats the own heartbeat, reads the peer table
 * and queues join/leave events (up to 256). Call it when the descriptor
 * of ivshmem_chan_fd() is readable; then receive until -EAGAIN.
 *
 * Return: 0; -ENOTCONN once this peer was evicted; -ENODEV (guest device
 * removed); -EPROTO (host: the server broke its protocol).
 *
 * On the host, the server going away does not end the channel: the
 * memory and the doorbells of the peers known stay; new peers cannot
 * join, and this peer's waits become naps (up to 2 ms) between looks.
 */
int ivshmem_chan_process(struct ivshmem_chan *ch);

/** ivshmem_chan_next_event() - Return: 0 with *@ev, -EAGAIN when none */
int ivshmem_chan_next_event(struct ivshmem_chan *ch, struct ivshmem_chan_event *ev);

/**
 * ivshmem_chan_fd() - an epoll descriptor for the caller's event loop
 *
 * Readable when the doorbell rang, when the heartbeat is due, or when the
 * guest device has gone. Then call ivshmem_chan_process().
 * Owned by the handle.
 */
int ivshmem_chan_fd(const struct ivshmem_chan *ch);

/* ---------------------------------------------------------------------- */
/* Sending and receiving                                                   */

/* flags of ivshmem_chan_send() and ivshmem_chan_commit() */
#define IVSHMEM_CHAN_MORE	0x1U	/* do not publish yet: a batch follows;
					 * ivshmem_chan_flush() publishes */

/*
 * Errors common to the calls below: -EINVAL (bad slot, own slot, bad
 * arguments); -ENOTCONN (the peer is not present, or this peer was
 * evicted; when receiving: once what a departed peer sent is read);
 * -EPROTO (the ring to or from that peer holds garbage: it stays broken
 * until the peer joins again); -EAGAIN, -ETIMEDOUT (see the top of this
 * file); -ENODEV (the guest device has gone); -EINTR (a signal, while
 * sleeping in a guest).
 */

/**
 * ivshmem_chan_send() - copy one message into the ring to @to
 * @len: 0 .. ivshmem_chan_max_msg() (-EMSGSIZE beyond)
 * @flags: 0 or IVSHMEM_CHAN_MORE
 *
 * Without IVSHMEM_CHAN_MORE the message and any before it are published
 * (one release store) and the peer is rung if, and only if, it said it
 * would sleep.
 */
int ivshmem_chan_send(struct ivshmem_chan *ch, uint32_t to, const void *buf,
		      size_t len, unsigned int flags, int timeout_ms);

/**
 * ivshmem_chan_send_batch() - send @n messages (@msgs[i] is one message),
 *	published together with one doorbell at most
 * @sent: receives how many were queued (also on error)
 *
 * Waits for space only until the first message is queued; later ones that
 * do not fit are left (*@sent < @n, return 0).
 */
int ivshmem_chan_send_batch(struct ivshmem_chan *ch, uint32_t to,
			    const struct iovec *msgs, size_t n, size_t *sent,
			    int timeout_ms);

/** ivshmem_chan_flush() - publish what IVSHMEM_CHAN_MORE held back (0 if nothing) */
int ivshmem_chan_flush(struct ivshmem_chan *ch, uint32_t to);

/**
 * ivshmem_chan_reserve() - zero-copy: room for a message of up to @len
 *	bytes in the ring to @to
 * @buf: receives where to write it (contiguous, 8-byte aligned)
 *
 * Until ivshmem_chan_commit() nothing is visible to the peer; another
 * reserve replaces this one.
 */
int ivshmem_chan_reserve(struct ivshmem_chan *ch, uint32_t to, size_t len,
			 void **buf, int timeout_ms);

/** ivshmem_chan_commit() - make @len (<= reserved) bytes of the reservation a message */
int ivshmem_chan_commit(struct ivshmem_chan *ch, uint32_t to, size_t len,
			unsigned int flags);

/**
 * ivshmem_chan_recv() - copy the next message out
 * @from: a slot, or IVSHMEM_CHAN_ANY (peers are served in turn)
 * @len: receives the message length
 * @src: receives the sender's slot (may be NULL)
 *
 * Return: 0; -EMSGSIZE when @cap is too small (*@len tells the size, the
 * message stays); the common errors.
 */
int ivshmem_chan_recv(struct ivshmem_chan *ch, uint32_t from, void *buf, size_t cap,
		      size_t *len, uint32_t *src, int timeout_ms);

/**
 * ivshmem_chan_recv_batch() - copy up to @n messages from one peer
 * @msgs: buffers; iov_len is the capacity on entry, the length on return
 * @got: receives the number of messages copied
 * @src: receives the sender's slot (may be NULL)
 *
 * Waits only for the first message; frees their space with one store.
 * A message longer than its buffer ends the batch (-EMSGSIZE if first).
 */
int ivshmem_chan_recv_batch(struct ivshmem_chan *ch, uint32_t from, struct iovec *msgs,
			    size_t n, size_t *got, uint32_t *src, int timeout_ms);

/**
 * ivshmem_chan_peek() - zero-copy: the next message, in place
 * @buf: receives its address inside the region, @len its length
 *
 * The bytes are shared memory that the sender can still change: copy
 * what you validate. ivshmem_chan_release() frees it; until then the
 * same message is returned again.
 */
int ivshmem_chan_peek(struct ivshmem_chan *ch, uint32_t from, const void **buf,
		      size_t *len, uint32_t *src, int timeout_ms);

/** ivshmem_chan_release() - free the message ivshmem_chan_peek() gave from @src */
int ivshmem_chan_release(struct ivshmem_chan *ch, uint32_t src);

/* ---------------------------------------------------------------------- */
/* Statistics                                                              */

/**
 * struct ivshmem_chan_stats - counters of this handle since it attached
 * @size: set by the caller to sizeof(struct ivshmem_chan_stats); the
 *	library fills as much as fits
 * @sent, @received: messages
 * @doorbells: doorbells rung (data, space, join and leave)
 * @wakeups: sleeps that ended by a doorbell
 * @sleeps: times a blocking call went to sleep
 * @protocol_errors: rings found broken
 */
struct ivshmem_chan_stats {
	uint32_t size;
	uint32_t reserved;
	uint64_t sent;
	uint64_t received;
	uint64_t doorbells;
	uint64_t wakeups;
	uint64_t sleeps;
	uint64_t protocol_errors;
};

int ivshmem_chan_get_stats(const struct ivshmem_chan *ch, struct ivshmem_chan_stats *st);

#ifdef __cplusplus
}
#endif

#endif /* IVSHMEM_CHANNEL_H */
