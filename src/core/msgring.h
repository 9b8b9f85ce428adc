/* A lock-free FIFO of messages between exactly one producer and one consumer
   (each may be a different thread from call to call, as long as its calls are
   ordered, e.g. by a socket lock). Unbounded: flow control is the caller's,
   from the counts both sides publish. The producer and the consumer each
   work on a cache line of their own and touch the other's only when their
   cached view of it runs out, so a stream of messages moves between two
   CPUs without a shared lock word bouncing per message. */
#ifndef SP_MSGRING_H
#define SP_MSGRING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/msg.h"

#define SP_MSGRING_NODE 31 /* messages per node: node = 8 + 31 * 48 bytes */

struct sp_msgring_node;

struct sp_msgring {
    /* Producer-private. */
    _Alignas(64) struct sp_msgring_node *wnode;
    unsigned widx;
    uint64_t wcount;             /* messages pushed */
    uint64_t wbytes;             /* their wire bytes */
    uint64_t wseen_count;        /* last read of done_count */
    uint64_t wseen_bytes;        /* done_bytes read with it */
    /* Written by the producer, read by the consumer. */
    _Alignas(64) _Atomic uint64_t pub_bytes;
    _Atomic uint64_t pub_count;
    /* Consumer-private. */
    _Alignas(64) struct sp_msgring_node *rnode;
    unsigned ridx;
    uint64_t rcount;             /* messages popped */
    uint64_t rbytes;
    uint64_t rseen;              /* last read of pub_count */
    /* Written by the consumer, read by the producer. */
    _Alignas(64) _Atomic uint64_t done_bytes;
    _Atomic uint64_t done_count;
    _Atomic(struct sp_msgring_node *) spare; /* one retired node for reuse */
};

/* 0 or -ENOMEM. */
int sp_msgring_init(struct sp_msgring *r);
/* Frees what is still queued. No other call may run. */
void sp_msgring_term(struct sp_msgring *r);

/* Producer: appends m (taking it over): 0, or -ENOMEM (m untouched). */
int sp_msgring_push(struct sp_msgring *r, struct sp_msg *m);

/* Producer: messages and wire bytes pushed but not yet popped, as last seen;
   fresh re-reads the consumer's counts first. The view only ever
   overstates what is queued. */
void sp_msgring_fill(struct sp_msgring *r, bool fresh, uint64_t *count, uint64_t *bytes);

/* Consumer: pops the oldest message into m: 0, or -EAGAIN when empty. */
int sp_msgring_pop(struct sp_msgring *r, struct sp_msg *m);

/* Consumer: whether a pop would find a message (re-reads the producer's
   count when the cached one is used up). */
bool sp_msgring_ready(struct sp_msgring *r);

/* Consumer: messages and wire bytes still queued, from a fresh read of the
   producer's counts (exact when the producer is not pushing). */
void sp_msgring_left(struct sp_msgring *r, uint64_t *count, uint64_t *bytes);

#endif
