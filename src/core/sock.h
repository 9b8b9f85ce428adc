/* The socket object behind an nn_* socket id: options, protocol state, the
   endpoints, blocking send/recv with deadlines, readiness fds and statistics.
   One mutex (the socket lock) guards the protocol and every attached pipe. */
#ifndef SP_SOCK_H
#define SP_SOCK_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <nanomsg/nn.h>

#include "core/msg.h"
#include "core/optset.h"
#include "protocol.h"
#include "utils/err.h"
#include "utils/list.h"

struct sp_land;

/* Statistics slots (public ids are mapped in sock.c). */
enum sp_stat {
    SP_STAT_ESTABLISHED,
    SP_STAT_ACCEPTED,
    SP_STAT_DROPPED,
    SP_STAT_BROKEN,
    SP_STAT_CONNECT_ERRORS,
    SP_STAT_BIND_ERRORS,
    SP_STAT_ACCEPT_ERRORS,
    SP_STAT_CURRENT_CONNECTIONS,
    SP_STAT_INPROGRESS,
    SP_STAT_CURRENT_EP_ERRORS,
    SP_STAT_MESSAGES_SENT,
    SP_STAT_MESSAGES_RECEIVED,
    SP_STAT_BYTES_SENT,
    SP_STAT_BYTES_RECEIVED,
    /* nanosp's own (public ids in <nanomsg/pgm.h>): messages a receiver
       lost whole to unrecoverable network loss, and messages dropped
       because a queue that cannot push back (multicast) was full. */
    SP_STAT_MESSAGES_LOST,
    SP_STAT_MESSAGES_DROPPED,
    SP_STAT_COUNT
};

/* Socket options at the NN_SOL_SOCKET level (transport levels: sp_sock.tpopts). */
struct sp_sockopts {
    int sndbuf;
    int rcvbuf;
    bool bufs_set;      /* NN_SNDBUF or NN_RCVBUF was set explicitly */
    int sndtimeo;
    int rcvtimeo;
    int reconnect_ivl;
    int reconnect_ivl_max;
    int sndprio;
    int rcvprio;
    int ipv4only;
    /* Read by the transports' decoders at every message header without the
       socket lock (libnanomsg reads it there too); written under the lock. */
    atomic_int rcvmaxsize;
    int maxttl;
    int linger;         /* NN_LINGER: 0 the default flush, > 0 ms, < 0 no limit */
};

struct sp_sock {
    pthread_mutex_t lock;
    pthread_cond_t cv;          /* sp_sock_wait: the lingering close (a
                                   connection flushed or gone), the socket's
                                   teardown (endpoints stopped, pipes
                                   detached), a stream closing under a
                                   caller that reads it. Readiness waits
                                   sleep on evseq instead. */
    const struct sp_socktype *type;
    void *proto;                /* protocol state */
    int id;
    int in_proto;               /* depth of protocol calls (lock held) */
    struct sp_sockopts opt;
    struct sp_optstore tpopts;  /* transport levels (socket lock) */
    char name[64];
    int events;                 /* SP_EV_* last published */
    bool kicked;                /* sp_sock_kick: wake blocked callers at the
                                   next publication */
    int sndfd;                  /* eventfds for NN_SNDFD/NN_RCVFD, -1 until asked */
    int rcvfd;
    int waiters;                /* threads waiting on cv for readiness */
    atomic_uint evseq;          /* bumped when a readiness bit turns on */
    int spinners;               /* callers spinning before they wait */
    int ready_cpu;              /* the CPU of the thread that last turned a
                                   readiness bit on (-1: none yet): a
                                   waiter pinned to that same CPU yields it
                                   rather than sleep (see xfer) */
    int spin_skip;              /* waits left to sleep without spinning */
    int spin_penalty;           /* current skip after a fruitless spin */
    int yield_skip;             /* the same for yields on one CPU (xfer) */
    int yield_penalty;
    bool yield_judge;           /* the last wait yielded: judge it next time */
    uint64_t yield_mark;        /* messages moved before that yield */
    /* The last recv's message landed in its buffer, a large one
       (SP_LAND_LARGE): the next
       one, likely large too, arrives over many microseconds in several
       pieces, which a spin would poll for one syscall at a time. A send
       clears it (a reply is due, which a spin catches). */
    bool recv_landed;
    atomic_bool closing;
    uint64_t close_ms;          /* when nn_close began */
    uint64_t progress_ms;       /* while closing: when a connection last wrote
                                   (socket lock) */
    struct sp_list eps;
    int next_eid;
    int npipes;                 /* attached pipes; nn_close waits for 0 */
    struct sp_list pipes;       /* attached pipes (socket lock) */
    struct sp_pipe *lone_pipe;  /* the only attached pipe, if exactly one */
    /* Attached pipes that take a message's body only whole (no
       sp_pipe_ops.send_from_caller: inproc, pgm): while there are any,
       nn_send copies a large body before it takes the socket lock, instead
       of leaving it to the pipe (core/sendsrc.h), which would copy it with
       the lock held. Written under the lock, read without it. */
    atomic_int copy_pipes;
    int callerfd;               /* eventfd waking a caller that polls a pipe's
                                   fd itself (-1 until first needed) */
    bool caller_polling;        /* a blocked recv (or send: caller_writing)
                                   polls lone_pipe's fd */
    bool caller_writing;        /* a blocked send, for POLLOUT */
    struct sp_pipe *caller_pipe; /* the pipe it polls or reads... */
    bool caller_reading;        /* ...in a blocking read (read_begin) */
    atomic_int sigrefs;         /* signals to its pipes deferred by other
                                   threads; nn_close waits for 0 */
    _Atomic uint64_t stats[SP_STAT_COUNT];
    /* A received message its caller could not take (out of memory while
       handing it over): the next recv returns it first, so nothing the
       protocol had accepted is lost to an ENOMEM. Socket lock. */
    struct sp_msg stash;
    bool stashed;
};

/* Creates a socket of the given type: 0 or -errno. */
int sp_sock_create(struct sp_sock **out, const struct sp_socktype *type, int id);

/* Stops every endpoint, waits for them, then frees the socket. The caller
   has made sure no other call is inside it. */
void sp_sock_destroy(struct sp_sock *sock);

/* Marks the socket closing: blocked callers wake up with EBADF, pollers on
   NN_SNDFD/NN_RCVFD wake up. */
void sp_sock_mark_closing(struct sp_sock *sock);

/* The closing socket's lingering (nn_close, nn_term), between
   sp_sock_mark_closing and sp_sock_destroy, with no caller inside: waits
   until every message its connections took is written to the kernel, a
   connection that is gone excepted, for as long as NN_LINGER allows. */
void sp_sock_linger(struct sp_sock *sock);

/* The socket lock. Every critical section begins with sp_sock_lock and
   ends with sp_sock_unlock (pipe.c's delivery of a deferred signal with
   sp_sock_unlock_signalled); socket locks never nest. */
void sp_sock_lock(struct sp_sock *sock);

/* Publishes readiness transitions (eventfds, blocked callers), releases the
   lock and delivers pipe signals deferred inside the critical section. */
void sp_sock_unlock(struct sp_sock *sock);

/* Unlocks after delivering a signal another thread deferred (see pipe.c):
   wakes blocked callers after the unlock, then drops the signal's sigref. */
void sp_sock_unlock_signalled(struct sp_sock *sock);

/* The socket whose lock this thread holds, or NULL. */
struct sp_sock *sp_sock_held(void);

/* For functions documented "socket lock held" and "no socket lock held":
   checked in debug builds (SP_DEBUG_ASSERT). */
#define SP_ASSERT_LOCKED(sock) SP_DEBUG_ASSERT(sp_sock_held() == (sock))
#define SP_ASSERT_UNLOCKED() SP_DEBUG_ASSERT(sp_sock_held() == NULL)

/* Waits on sock->cv until sp_sock_notify (or a spurious wake-up: callers
   re-check their condition) or the sp_clock_ms time deadline_ms (0: none).
   Lock held, released while waiting. */
void sp_sock_wait(struct sp_sock *sock, uint64_t deadline_ms);

/* Wakes every sp_sock_wait on sock. Lock held. */
void sp_sock_notify(struct sp_sock *sock);

/* A destination of a routed socket type (SP_SOCKTYPE_ROUTED) takes
   messages again, while the socket's readiness may not have changed: blocked
   senders retry at the unlock. Lock held. */
static inline void sp_sock_kick(struct sp_sock *sock)
{
    SP_ASSERT_LOCKED(sock);
    sock->kicked = true;
}

/* A new id from the sequence of endpoint ids (nn_bind/nn_connect), for a
   protocol that names connections no endpoint id names (PEER's accepted
   ones): never 0, never an endpoint's, never reused. Lock held. */
static inline int sp_sock_new_id(struct sp_sock *sock)
{
    SP_ASSERT_LOCKED(sock);
    return ++sock->next_eid;
}

/* Wakes a caller that polls a pipe's fd itself (see sp_pipe_ops.wait_begin).
   Lock held. */
void sp_sock_wake_caller(struct sp_sock *sock);

/* The NN_SNDFD (ev SP_EV_OUT) or NN_RCVFD (SP_EV_IN) eventfd, made on the
   first call: the fd or -errno. Lock held. */
int sp_sock_eventfd(struct sp_sock *sock, int ev);

int sp_sock_setopt(struct sp_sock *sock, int level, int option, const void *val, size_t len);
int sp_sock_getopt(struct sp_sock *sock, int level, int option, void *val, size_t *len);

/* Blocking send/recv honouring NN_DONTWAIT, timeouts and closing. On 0, send
   took msg / recv filled msg. */
int sp_sock_send(struct sp_sock *sock, struct sp_msg *msg, int flags);
int sp_sock_recv(struct sp_sock *sock, struct sp_msg *msg, int flags);
/* The same with the caller's buffer offered (land->buf, land->cap bytes):
   on 0 either msg is filled, or the message was read straight into the
   buffer (a large one, on a plain-recv socket type) and *landed is set,
   its length in land->len, msg left empty. */
int sp_sock_recv_into(struct sp_sock *sock, struct sp_msg *msg, int flags, struct sp_land *land, bool *landed);

/* Gives back a message sp_sock_recv returned, which the caller could not
   deliver (ENOMEM): the socket stays readable and the next recv returns it
   (its statistics count it then). Takes msg. One at a time: a second one
   given back before the first was received again is dropped. */
void sp_sock_unrecv(struct sp_sock *sock, struct sp_msg *msg);

/* nn_bind / nn_connect: the endpoint id or -errno. */
int sp_sock_add_ep(struct sp_sock *sock, const char *addr, bool bind);
/* nn_shutdown: 0 or -EINVAL. */
int sp_sock_rm_ep(struct sp_sock *sock, int eid);

static inline void sp_sock_stat_add(struct sp_sock *sock, enum sp_stat s, int64_t delta)
{
    atomic_fetch_add_explicit(&sock->stats[s], (uint64_t) delta, memory_order_relaxed);
}

/* The public statistic id's value: 0 or -EINVAL. */
int sp_sock_stat_get(struct sp_sock *sock, int stat, uint64_t *value);

#endif
