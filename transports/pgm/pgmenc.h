/* The SP-over-PGM encoder: messages in, datagrams of at most one TPDU out
   (wire format in pgmwire.h). It queues messages by reference (a PUB's
   fan-out shares their chunks) and copies their bytes only when a datagram
   is asked for, so a 1 MiB message costs no memory until the socket can take
   it. Small messages share datagrams: everything queued while the socket is
   busy goes out in full datagrams, and a partly filled one goes out when the
   caller says the sender is idle (flush). Pure code, no I/O. Not
   thread-safe: the owner serialises calls. */
#ifndef SP_PGMENC_H
#define SP_PGMENC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/msg.h"

struct sp_pgmenc {
    int proto;          /* our SP protocol number, sent in every datagram */
    size_t dgmax;       /* datagram capacity, header included */
    uint8_t *dg;        /* the open datagram */
    size_t dglen;       /* bytes in dg; 0 when none is open */
    bool started;       /* a message begins in the open datagram */
    struct sp_msgq q;   /* messages not yet wholly copied into datagrams */
    size_t done;        /* frame bytes of q's head already copied */
    size_t queued;      /* frame bytes in q not yet copied */
    uint64_t datagrams; /* datagrams handed out and accepted so far */
};

/* proto: the sender's SP protocol (0..65535); dgmax: the largest datagram
   the PGM socket takes (its maximum TSDU), SP_PGM_HDR_LEN + 1 to
   SP_PGM_DGRAM_MAX. 0, -EINVAL or -ENOMEM. */
int sp_pgmenc_init(struct sp_pgmenc *e, int proto, size_t dgmax);

/* Frees the queued messages and the datagram buffer. */
void sp_pgmenc_term(struct sp_pgmenc *e);

/* Queues m (its SP header, then its body) behind the queued messages and
   takes ownership of it: 0, or -ENOMEM with m untouched. */
int sp_pgmenc_push(struct sp_pgmenc *e, struct sp_msg *m);

/* Bytes queued but not yet in an accepted datagram (length prefixes
   included): what a sender compares with its send buffer limit. */
size_t sp_pgmenc_backlog(const struct sp_pgmenc *e);

/* The next datagram to send: fills the open datagram from the queue and
   returns true with *dg and *len set when it is full, or when flush is set and
   it holds any payload. Returns false when there is nothing to send yet
   (with flush false, a partly filled datagram waits for more messages). The
   datagram stays valid, and is returned again (possibly with more messages
   added), until sp_pgmenc_sent is called. */
bool sp_pgmenc_next(struct sp_pgmenc *e, bool flush, const uint8_t **dg, size_t *len);

/* The datagram from the last sp_pgmenc_next was accepted by the socket:
   the next one starts empty. */
void sp_pgmenc_sent(struct sp_pgmenc *e);

#endif
