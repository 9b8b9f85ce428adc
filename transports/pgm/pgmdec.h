/* The SP-over-PGM decoder of one remote sender: its datagrams in, in the
   order OpenPGM delivers them, whole messages out (wire format in
   pgmwire.h). It starts unsynchronised, as a late joiner does, and finds the
   first message boundary from the datagram header; after a loss (RESET, or
   anything the headers contradict) it drops the message in progress and
   resynchronises the same way. A message is delivered whole and intact or
   not at all: one cut by loss is dropped and counted, one over the size
   limit is skipped without being stored. Memory for a message grows with
   the bytes that actually arrive, so a lying length costs nothing. Pure
   code, no I/O: the fuzz target drives it directly. Not thread-safe. */
#ifndef SP_PGMDEC_H
#define SP_PGMDEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/msg.h"

struct sp_pgmdec_stats {
    uint64_t delivered; /* whole messages handed out */
    uint64_t lost;      /* messages cut by loss (RESET, or headers that contradict them), dropped */
    uint64_t oversize;  /* messages over maxsize, skipped */
    uint64_t nomem;     /* messages dropped because memory ran out */
    uint64_t malformed; /* datagrams rejected: too short, bad magic, version, protocol or offset */
    uint64_t syncs;     /* times decoding (re)started at a message boundary */
};

struct sp_pgmdec {
    int64_t maxsize;    /* NN_RCVMAXSIZE: -1 unlimited */
    int proto;          /* the sender's SP protocol, -1 before its first good datagram */
    bool synced;        /* the next stream byte is at a known place in a message */
    uint8_t pfx[8];     /* a length prefix cut by a datagram boundary */
    uint8_t pfx_have;   /* its bytes so far (0: not in a prefix) */
    bool in_body;       /* inside a message body (or skipping one) */
    bool skipping;      /* that body is not stored (oversize, no memory) */
    uint64_t len;       /* its length */
    uint64_t have;      /* its bytes so far */
    void *body;         /* its chunk (NULL when skipping); capacity = chunk size */
    struct sp_pgmdec_stats st;
};

/* maxsize: the receive size limit (-1 unlimited). */
void sp_pgmdec_init(struct sp_pgmdec *d, int64_t maxsize);

/* Frees a message in progress. */
void sp_pgmdec_term(struct sp_pgmdec *d);

/* Changes the limit; it applies from the next message that starts (as
   libnanomsg reads NN_RCVMAXSIZE when a message header arrives). */
void sp_pgmdec_set_maxsize(struct sp_pgmdec *d, int64_t maxsize);

/* Takes one datagram (len bytes, not kept after the call) and appends every
   message it completes to out (SP header not split off: the protocol does
   that, as with stream transports). 0, or -EPROTO when the datagram is not
   ours (short, bad magic or version, or another SP protocol than the
   sender's earlier datagrams): it is ignored and the decoder
   resynchronises. */
int sp_pgmdec_put(struct sp_pgmdec *d, const uint8_t *dg, size_t len, struct sp_msgq *out);

/* Datagrams were lost (OpenPGM reported RESET for this sender): the message
   in progress, if any, is dropped and counted, and decoding resumes at the
   next message boundary a datagram announces. */
void sp_pgmdec_gap(struct sp_pgmdec *d);

/* The sender's SP protocol from its datagrams, or -1 before the first one
   that was well-formed. */
static inline int sp_pgmdec_proto(const struct sp_pgmdec *d)
{
    return d->proto;
}

#endif
