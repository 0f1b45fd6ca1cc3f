/* SPDX-License-Identifier: MIT */
/*
 * ivshmem-peer.h - join an ivshmem server as a host peer.
 *
 * A host program uses this to do what a QEMU ivshmem-doorbell device
 * does: connect to the server's UNIX socket (ivshmem-server, or QEMU's
 * contrib/ivshmem-server), learn its own peer id, map the shared memory,
 * follow the peers as they join and leave, ring a peer's interrupt
 * vectors and wait for its own.
 *
 * Conventions: every function returning int returns 0 (or a documented
 * non-negative value) on success and a negative errno on failure.  The
 * library prints nothing, keeps no global state and never exits.  A
 * handle must not be used by two threads at once; separate handles are
 * independent.  Every file descriptor the library holds is close-on-exec.
 *
 * Peers, vectors and events:
 *  - peer ids are 0..65535; a peer has 1..64 vectors (the server's -n);
 *  - a peer is "present" (listed, ringable, announced with
 *    IVSHMEM_PEER_JOINED) once the server has sent all of its vectors;
 *  - server messages are applied only inside ivshmem_peer_process() and
 *    ivshmem_peer_wait() (and the handshake in ivshmem_peer_connect()),
 *    so the peer table changes only there.
 *
 * Errors with a special meaning:
 *  -EPROTO       the server broke the protocol; every fd that came with
 *                the bad message was closed; the handle is unusable
 *                except for ivshmem_peer_close() and ringing
 *  -ECONNRESET   the server closed the connection; known peers can still
 *                be rung, the peer table no longer changes
 *  -ECONNREFUSED no server, or it closed the connection before the
 *                handshake (e.g. its peer limit is reached)
 *  -ETIMEDOUT    a timeout expired
 *
 * Example:
 *
 *	struct ivshmem_peer *p;
 *	uint64_t size, fired;
 *	void *mem;
 *	int r = ivshmem_peer_connect("/tmp/ivshmem_socket", &p);
 *
 *	if (r < 0)
 *		return r;
 *	r = ivshmem_peer_map(p, &mem, &size);
 *	...
 *	ivshmem_peer_ring(p, other_id, 0);
 *	r = ivshmem_peer_wait(p, 1, 1000, &fired);	// vector 0, 1 s
 *	...
 *	ivshmem_peer_close(p);
 *
 * Version 0 of the protocol; this header will be merged into libivshmem.h.
 */
#ifndef IVSHMEM_PEER_H
#define IVSHMEM_PEER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define IVSHMEM_PEER_MAX_VECTORS	64
#define IVSHMEM_PEER_MAX_ID		65535
/* ivshmem_peer_connect()'s handshake timeout */
#define IVSHMEM_PEER_CONNECT_TIMEOUT_MS	10000

struct ivshmem_peer;

enum ivshmem_peer_event_type {
	IVSHMEM_PEER_JOINED = 1,	/* peer_id is present, all vectors known */
	IVSHMEM_PEER_LEFT = 2,		/* peer_id left; its eventfds are closed */
	IVSHMEM_PEER_EVENTS_LOST = 3,	/* the queue overflowed: resync with _list() */
};

struct ivshmem_peer_event {
	uint32_t type;		/* enum ivshmem_peer_event_type */
	uint32_t peer_id;	/* 0 for IVSHMEM_PEER_EVENTS_LOST */
};

/**
 * ivshmem_peer_connect() - connect to a server and complete the handshake.
 * @socket_path: the server's UNIX socket
 * @out: receives the new handle
 *
 * Checks everything the server sends: version 0, an id in 0..65535 with
 * no fd, the memory message (-1 with one fd of a regular, non-empty
 * file), then peer ids with exactly one fd each.  Malformed input gives
 * -EPROTO and every fd received is closed.  Peers already present are
 * queued as IVSHMEM_PEER_JOINED events.  Times out after
 * IVSHMEM_PEER_CONNECT_TIMEOUT_MS.
 *
 * The protocol does not state the number of vectors; it is learnt from
 * the fds that carry the peer's own id.  When other peers are present
 * their vector count tells when the handshake is complete; for the first
 * peer the handshake ends when the server has been silent for 50 ms.
 *
 * Return: 0, or a negative errno (-ENOENT, -ECONNREFUSED, -EPROTO,
 * -ETIMEDOUT, -ENAMETOOLONG, -ENOMEM, ...).
 */
int ivshmem_peer_connect(const char *socket_path, struct ivshmem_peer **out);

/**
 * ivshmem_peer_connect_timeout() - ivshmem_peer_connect() with a timeout.
 * @timeout_ms: milliseconds for connect() and the handshake together,
 *              negative for none; it holds whatever the server sends
 */
int ivshmem_peer_connect_timeout(const char *socket_path, int timeout_ms,
				 struct ivshmem_peer **out);

/**
 * ivshmem_peer_close() - leave the server, unmap the memory, close every fd.
 * @p: handle, may be NULL
 */
void ivshmem_peer_close(struct ivshmem_peer *p);

/** ivshmem_peer_id() - Return: own peer id (0..65535), or -EINVAL. */
int ivshmem_peer_id(const struct ivshmem_peer *p);

/** ivshmem_peer_vectors() - Return: own number of vectors (1..64), or -EINVAL. */
int ivshmem_peer_vectors(const struct ivshmem_peer *p);

/**
 * ivshmem_peer_shm_size() - size of the shared memory, from fstat().
 * Return: 0 or -EINVAL.
 */
int ivshmem_peer_shm_size(const struct ivshmem_peer *p, uint64_t *size);

/**
 * ivshmem_peer_map() - map the shared memory read-write, MAP_SHARED.
 * @addr: receives the address
 * @size: receives the size in bytes (may be NULL)
 *
 * The mapping is made once and cached; later calls return the same
 * address.  It lasts until ivshmem_peer_close().
 *
 * Return: 0, -EFBIG if the size does not fit the address space, or the
 * errno of mmap().
 */
int ivshmem_peer_map(struct ivshmem_peer *p, void **addr, uint64_t *size);

/**
 * ivshmem_peer_fd() - a descriptor for the caller's own poll loop.
 *
 * An epoll fd, readable when the server sent something or one of the own
 * vectors fired.  When it is readable, call ivshmem_peer_wait() with a
 * timeout of 0 (or ivshmem_peer_process() if only server messages
 * matter).  It stays readable after the server hung up.
 *
 * Return: the fd (owned by the handle), or -EINVAL.
 */
int ivshmem_peer_fd(const struct ivshmem_peer *p);

/**
 * ivshmem_peer_process() - apply pending server messages, without blocking.
 *
 * Applies at most 256 messages per call, so that a server that never stops
 * sending cannot keep the caller here; more are pending when
 * ivshmem_peer_fd() is still readable.
 *
 * Return: 0, -ECONNRESET once the server has gone, -EPROTO, -ENOMEM.
 */
int ivshmem_peer_process(struct ivshmem_peer *p);

/**
 * ivshmem_peer_ring() - interrupt a peer on one of its vectors.
 * @peer_id: the peer; the own id rings oneself
 * @vector: 0 .. ivshmem_peer_vectors() - 1
 *
 * Return: 0; -EINVAL for a vector out of range; -ENOENT for a peer that
 * is unknown, has left, or whose vector has not arrived yet; -EAGAIN if
 * the eventfd counter is saturated.
 */
int ivshmem_peer_ring(struct ivshmem_peer *p, uint32_t peer_id, uint32_t vector);

/**
 * ivshmem_peer_wait() - wait for own vectors, applying server messages.
 * @vector_mask: bit n selects vector n; vectors outside it are left pending
 * @timeout_ms: milliseconds; 0 polls; negative waits forever
 * @fired_mask: receives the vectors that fired (may be NULL)
 *
 * Consumes the pending interrupts of the selected vectors.  The timeout
 * holds however busy the server is.  Interrupts
 * that arrive close together may be merged into one.
 *
 * Return: 0 when at least one selected vector fired; -ETIMEDOUT;
 * -ECONNRESET when the server has gone and nothing fired; -EINVAL when
 * the mask selects no existing vector; -EPROTO.
 */
int ivshmem_peer_wait(struct ivshmem_peer *p, uint64_t vector_mask, int timeout_ms,
		      uint64_t *fired_mask);

/**
 * ivshmem_peer_list() - the ids of the present peers, self excluded.
 * @ids: array of @max entries, filled in ascending order (may be NULL if @max is 0)
 * @n: receives the number of present peers, which may exceed @max
 *
 * Return: 0 or -EINVAL.
 */
int ivshmem_peer_list(const struct ivshmem_peer *p, uint32_t *ids, size_t max, size_t *n);

/**
 * ivshmem_peer_next_event() - take the oldest join/leave event.
 *
 * Events are queued (up to 1024) as ivshmem_peer_process(),
 * ivshmem_peer_wait() and ivshmem_peer_connect() apply messages.  On
 * overflow the newest are dropped and IVSHMEM_PEER_EVENTS_LOST is
 * reported after the queued ones.
 *
 * Return: 0 with *ev filled, -EAGAIN when there is none.
 */
int ivshmem_peer_next_event(struct ivshmem_peer *p, struct ivshmem_peer_event *ev);

#ifdef __cplusplus
}
#endif

#endif /* IVSHMEM_PEER_H */
