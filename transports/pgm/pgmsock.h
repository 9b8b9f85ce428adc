/* One OpenPGM session: the PGM socket of one pgm/epgm endpoint, joined to
   its group, driven from the caller's event loop. It never blocks, starts no
   thread and waits for nothing: the owner watches the descriptors that
   sp_pgmsock_fds lists (each maps to an sp_io; a sender's include a
   timerfd of its own for the rate limit's sub-millisecond waits), arms one
   timer from sp_pgmsock_timeout (an sp_timer), and calls
   sp_pgmsock_service whenever any of them fires. The service call reads what arrived (one callback per
   datagram, tagged with the sender's TSI, so each remote sender can have
   its own receive pipe), reports unrecoverable loss per sender, runs
   OpenPGM's timers, and sends the repairs receivers asked for: a sender
   that stops calling it stops repairing (PGM.md: one repair per call).
   After every sp_pgmsock_service or sp_pgmsock_send the owner refreshes the
   watched events and the timer, which change with rate limiting.

   Roles: a sender only (PUB), a receiver only (SUB), or both (BUS). All
   calls on one session must be serialised by the owner; sessions are
   independent. OpenPGM itself is initialised with the first session of the
   process and shut down with the last; its log goes to stderr only when
   NN_PRINT_ERRORS is set. pgm_drop_superuser is never called. */
#ifndef SP_PGMSOCK_H
#define SP_PGMSOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pgm/pgmopts.h"
#include "pgm/pgmurl.h"

struct sp_pgmsock;

/* How often a sender announces itself (an ambient SPM), in milliseconds.
   OpenPGM's receiver can ask for a repair only once an SPM told it the
   sender's address: until then it declares every loss unrecoverable at
   once. It asks with one SPMR, never again, and a sender that sends steadily
   postpones its heartbeat SPMs for ever; so a receiver that missed the
   sender's first SPMs (it joined later, or they were lost) would depend on
   the ambient SPM alone, every 30 s in OpenPGM's and libzmq's defaults. At
   this interval an idle sender wakes ten times a second. */
#define SP_PGMSOCK_AMBIENT_SPM_MS 100u

enum {
    SP_PGMSOCK_SEND = 1, /* may send: keeps a repair window, serves NAKs */
    SP_PGMSOCK_RECV = 2, /* receives from every sender to the group */
};

/* A descriptor to watch and the epoll events wanted on it now (0: none for
   the moment, keep it registered). */
struct sp_pgmsock_fd {
    int fd;
    uint32_t events;
};
#define SP_PGMSOCK_MAXFDS 5

/* What sp_pgmsock_service reports. tsi identifies a remote sender (its PGM
   transport session id: 6 bytes of GSI and the source port, as a number). */
struct sp_pgmsock_handler {
    /* One datagram from sender tsi, in that sender's order; the bytes are
       valid only during the call. */
    void (*data)(void *arg, uint64_t tsi, const uint8_t *dg, size_t len);
    /* Data from sender tsi was lost for good (it left the sender's repair
       window); what follows comes after a gap. */
    void (*reset)(void *arg, uint64_t tsi);
};

struct sp_pgmsock_stats {
    uint64_t sent;       /* datagrams accepted by sp_pgmsock_send */
    uint64_t received;   /* datagrams reported to the handler */
    uint64_t resets;     /* RESETs reported */
    uint64_t fragmented; /* APDUs of several TPDUs (not ours) ignored */
    uint64_t own;        /* own datagrams looped back, ignored */
    uint64_t blocked;    /* sends that found OpenPGM blocked */
};

/* Creates the session for u (parsed and resolved by pgmurl), joins the
   group and starts sending SPMs (senders). roles: SP_PGMSOCK_SEND and/or
   SP_PGMSOCK_RECV. On failure detail (if not NULL) gets OpenPGM's
   explanation. 0, or -EINVAL (bad roles, options that do not fit together,
   or a setting OpenPGM refused), -EACCES (raw PGM without CAP_NET_RAW),
   -ENODEV (the interface cannot do multicast), -ENOMEM, -EMFILE, -ENFILE,
   -ENOBUFS, or another -errno from the system. */
int sp_pgmsock_open(struct sp_pgmsock **out, const struct sp_pgmurl *u, const struct sp_pgmopts *o,
                    int roles, char *detail, size_t detail_len);

/* Leaves the group and closes everything (a sender first sends its final
   SPMs). Any datagram still held for a blocked send is lost. */
void sp_pgmsock_close(struct sp_pgmsock *s);

/* Our own TSI (a BUS member ignores its own datagrams looped back by
   multicast; the session does that already). */
uint64_t sp_pgmsock_tsi(const struct sp_pgmsock *s);

/* The largest datagram sp_pgmsock_send takes: one TPDU's payload (OpenPGM's
   maximum TSDU, 1448 bytes on epgm with NN_PGM_MAXTPDU 1500). */
size_t sp_pgmsock_maxdgram(const struct sp_pgmsock *s);

/* The descriptors to watch, always the same ones in the same order for the
   life of the session, with the events wanted now. Returns their number
   (at most SP_PGMSOCK_MAXFDS). */
int sp_pgmsock_fds(const struct sp_pgmsock *s, struct sp_pgmsock_fd *fds);

/* Milliseconds until sp_pgmsock_service is due even if no descriptor
   fires (0: now), or -1 for none. */
int sp_pgmsock_timeout(const struct sp_pgmsock *s);

/* Hands one datagram (len <= sp_pgmsock_maxdgram) to OpenPGM. 0: taken (it
   is sent now, or as soon as the rate limit or the kernel allow: the
   session keeps a copy and sp_pgmsock_service finishes it); -EAGAIN: not
   taken because an earlier datagram still waits (retry after the next
   sp_pgmsock_service); -EMSGSIZE; -EINVAL for a receiver-only session;
   -EIO when OpenPGM failed (the datagram is lost; the session goes on). */
int sp_pgmsock_send(struct sp_pgmsock *s, const void *dg, size_t len);

/* True while a datagram waits inside the session (sp_pgmsock_send would
   return -EAGAIN). */
bool sp_pgmsock_send_blocked(const struct sp_pgmsock *s);

/* Does everything that is due: finishes a blocked send if it can, reads
   incoming packets (handler->data per datagram, handler->reset per
   unrecoverable loss), runs OpenPGM's timers and sends pending repairs.
   Bounded work per call: if more is pending, the descriptors stay ready or
   sp_pgmsock_timeout returns 0. handler may be NULL for a sender only. */
void sp_pgmsock_service(struct sp_pgmsock *s, const struct sp_pgmsock_handler *h, void *arg);

const struct sp_pgmsock_stats *sp_pgmsock_stats(const struct sp_pgmsock *s);

#endif
