/* The contract between the socket core and a protocol. A protocol sees pipes
   and messages, never file descriptors or wire bytes. Every callback but term
   runs with the socket lock held (debug builds check it where it matters:
   sp_pipe_send/recv, the timers). A socket type is a (domain, protocol number) pair bound
   to one ops table; raw and cooked variants are two socket types. */
#ifndef SP_PROTOCOL_H
#define SP_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>

#include "core/msg.h"

struct sp_sock;
struct sp_pipe;
struct sp_ep;

/* Readiness reported by events(): a message can be received / sent now. */
#define SP_EV_IN 1
#define SP_EV_OUT 2

/* Socket type flags: the type cannot send / cannot receive. */
#define SP_SOCKTYPE_NOSEND 1
#define SP_SOCKTYPE_NORECV 2
/* Each message names the connection it goes to (PEER): SP_EV_OUT means
   that some destination takes a message, so a send the protocol refuses
   with -EAGAIN waits for its own destination, which the protocol announces
   with sp_sock_kick (core/sock.h), not for SP_EV_OUT. */
#define SP_SOCKTYPE_ROUTED 4
/* recv gives the pipes' messages as they came, bodies unchanged and no
   header (PAIR, PULL): a blocked receiver may have a transport read a large
   body straight into its own buffer (sp_pipe_ops.wait_begin's land). */
#define SP_SOCKTYPE_PLAIN_RECV 8
/* send gives each message, unchanged and without looking at its body, to
   one pipe (PAIR, PUSH): a large body may stay in the sender's buffer until
   the pipe takes it (core/sendsrc.h). */
#define SP_SOCKTYPE_PLAIN_SEND 16
/* At most one pipe at a time (PAIR): while a caller waits on that pipe, only
   the pipe itself or the socket's end can make the socket readable. */
#define SP_SOCKTYPE_ONEPIPE 32

struct sp_proto_ops {
    /* Allocates the protocol state into sock->proto: 0 or -ENOMEM. */
    int (*init)(struct sp_sock *sock);
    /* Frees it; every pipe has been removed before. Runs without the socket
       lock: nothing can reach the socket any more, and stopping a protocol
       timer (sp_socktimer_term) waits for a callback that takes the lock. */
    void (*term)(struct sp_sock *sock);
    /* A new connection: 0, or -errno to refuse it (the transport closes it). */
    int (*pipe_add)(struct sp_sock *sock, struct sp_pipe *pipe);
    /* The connection is gone; forget every reference to pipe. */
    void (*pipe_rm)(struct sp_sock *sock, struct sp_pipe *pipe);
    /* pipe has messages to receive (it said "release" or was new before).
       Never for a pipe that cannot receive (SP_PIPE_NORECV). */
    void (*pipe_in)(struct sp_sock *sock, struct sp_pipe *pipe);
    /* pipe accepts messages again. New pipes are writable without pipe_out,
       except those that cannot send (SP_PIPE_NOSEND), which never are: a
       protocol never sends to them, nor receives from an SP_PIPE_NORECV
       one (utils/lb, fq and dist see to it for their pipes). */
    void (*pipe_out)(struct sp_sock *sock, struct sp_pipe *pipe);
    /* SP_EV_IN | SP_EV_OUT as they stand now. */
    int (*events)(struct sp_sock *sock);
    /* Takes ownership of msg on 0; -EAGAIN (would block) or another -errno
       leaves it with the caller. NULL for a type that cannot send
       (SP_SOCKTYPE_NOSEND): the core refuses with ENOTSUP before. */
    int (*send)(struct sp_sock *sock, struct sp_msg *msg);
    /* Fills msg on 0; -EAGAIN when nothing is ready, or another -errno.
       NULL for a type that cannot receive (SP_SOCKTYPE_NORECV). */
    int (*recv)(struct sp_sock *sock, struct sp_msg *msg);
    /* Protocol-level options (level == the socket's protocol number); NULL
       means the protocol has none, or none that can be read back
       (ENOPROTOOPT). */
    int (*setopt)(struct sp_sock *sock, int option, const void *val, size_t len);
    int (*getopt)(struct sp_sock *sock, int option, void *val, size_t *len);
    /* NN_STAT_CURRENT_SND_PRIORITY: the best send priority with a usable
       pipe, -1 if none; NULL for protocols that do not load-balance. */
    int (*current_sndprio)(struct sp_sock *sock);
    /* Optional: nn_bind/nn_connect made endpoint ep (its id is final). */
    void (*ep_add)(struct sp_sock *sock, struct sp_ep *ep);
    /* Optional: nn_shutdown(sock, id), before the endpoint (if any: ep is
       true) stops. The protocol forgets what it keeps under the id and
       returns true when the id named something of its own, which makes an
       nn_shutdown without an endpoint succeed (PEER: an accepted
       connection). */
    bool (*shutdown)(struct sp_sock *sock, int id, bool ep);
};

struct sp_socktype {
    int domain;       /* AF_SP or AF_SP_RAW */
    int protocol;     /* NN_PAIR, NN_PUSH, ... */
    int flags;        /* SP_SOCKTYPE_* */
    int peer;         /* the protocol it talks to (NN_REP for NN_REQ) */
    const char *name; /* the protocol's name ("req"), as the WebSocket
                         subprotocol "req.sp.nanomsg.org" spells it */
    const struct sp_proto_ops *ops;
};

/* Whether a socket of type t talks to a peer of protocol p (the core
   checks it when a pipe attaches). */
static inline bool sp_socktype_ispeer(const struct sp_socktype *t, int p)
{
    return p == t->peer;
}

/* Receives and drops every message pipe has: send-only sockets (PUB, PUSH)
   ignore what a peer sends them but keep the connection flowing. */
void sp_proto_drop_input(struct sp_pipe *pipe);

/* A protocol-level int option in milliseconds (NN_REQ_RESEND_IVL,
   NN_SURVEYOR_DEADLINE): the size must be sizeof(int); negative values are
   EINVAL (libnanomsg accepts them and aborts at the next send). */
int sp_proto_set_ms(int *dst, const void *val, size_t len);
/* Reads it back: *len below sizeof(int) is EINVAL, as in libnanomsg. */
int sp_proto_get_ms(int v, void *val, size_t *len);

/* The socket type for (domain, protocol), or NULL. */
const struct sp_socktype *sp_socktype_find(int domain, int protocol);

/* The cooked socket type whose protocol is called name (len bytes, any
   case), or NULL. */
const struct sp_socktype *sp_socktype_named(const char *name, size_t len);

#endif
