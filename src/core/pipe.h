/* A pipe is one connection as a protocol sees it: something that takes and
   gives messages. Transports implement the ops; the core attaches the pipe to
   its socket's protocol and routes readiness signals to it. Send and recv are
   called by the protocol with the socket lock held. A pipe usually carries
   both ways over one connection with one peer, but may only send or only
   receive (flags): a multicast transport has a send-only pipe to its group
   and a receive-only pipe from each sender it hears, made without any
   handshake. */
#ifndef SP_PIPE_H
#define SP_PIPE_H

#include <stdatomic.h>
#include <stdbool.h>

#include "core/msg.h"
#include "core/sendsrc.h"
#include "core/sock.h"
#include "utils/list.h"

struct sp_sock;
struct sp_ep;
struct sp_pipe;

/* Returned by send/recv when the pipe cannot take/give another message now;
   it will signal SP_EV_OUT/SP_EV_IN when it can again. */
#define SP_PIPE_RELEASE 1

/* pipe->flags: what the pipe cannot do. Such a pipe is never given to its
   ops' send (NOSEND) or recv (NORECV) and is never signalled that way. */
#define SP_PIPE_NOSEND 1
#define SP_PIPE_NORECV 2

/* A receiving caller's buffer, offered to the pipe it waits on. */
struct sp_land {
    void *buf;
    size_t cap;
    size_t len; /* the message's length once it landed */
};

/* A message that landed is large from this length on: it came (mostly)
   straight from the kernel into the buffer, and the next one, likely as
   large, comes in pieces over many microseconds: the read ends with it
   (stream.c) and the next wait does not spin (sock.c). A smaller one was
   copied out of a read that brought whatever followed it. */
#define SP_LAND_LARGE 4096

/* What wait_end did. */
enum { SP_WAIT_DONE, SP_WAIT_LANDED, SP_WAIT_MORE };

struct sp_pipe_ops {
    /* Takes msg. 0, or SP_PIPE_RELEASE: taken, but the pipe is full now. */
    int (*send)(struct sp_pipe *pipe, struct sp_msg *msg);
    /* send itself takes msg's body from the sender's buffer if it is still
       there (core/sendsrc.h: sp_sendsrc_take), before it returns. Else
       sp_pipe_send fills it first. */
    bool send_from_caller;
    /* 0: msg filled and more may follow; SP_PIPE_RELEASE: msg filled and the
       pipe is empty now; -EAGAIN: nothing to receive. */
    int (*recv)(struct sp_pipe *pipe, struct sp_msg *msg);
    /* The last reference is gone: free the transport object. */
    void (*destroy)(struct sp_pipe *pipe);
    /* Optional: receive in the caller's thread. A recv about to block on a
       socket whose only pipe this is asks for an fd to poll itself instead
       of waiting for the I/O thread to read and hand the message over (one
       thread hop and one wake-up less per message). Socket lock held. The
       fd, or -ENOTSUP; on success the pipe's reads belong to the caller
       until wait_end (called with the lock held and poll's revents for the
       fd, 0 if it did not fire), which reads and delivers what came.
       land: the caller's own buffer (NULL: none), for a protocol that hands
       the pipe's messages over unchanged (SP_SOCKTYPE_PLAIN_RECV): a large
       message that fits may be read straight into it. wait_end then says
       SP_WAIT_LANDED (the message is there, land->len long, and is the
       next one: nothing was delivered before it), or SP_WAIT_MORE: part of
       one is there and the pipe's reads still belong to the caller, who
       waits again (poll, or read_begin and read_wait) and calls wait_end
       again, with give_up once it stops waiting (the part moves to the
       transport's own buffer). Else SP_WAIT_DONE, as without a land. */
    int (*wait_begin)(struct sp_pipe *pipe, struct sp_land *land);
    int (*wait_end)(struct sp_pipe *pipe, int revents, bool give_up);
    /* Optional, between wait_begin and wait_end (lock held): true when the
       transport already holds input that its fd will not report (a byte
       layer's decrypted bytes, the rest of a TLS record): the caller then
       does not wait, it calls wait_end at once as if the fd were readable. */
    bool (*wait_ready)(struct sp_pipe *pipe);
    /* Optional: instead of poll(), wait in a blocking read of the fd (one
       syscall per message less: a poll and a read become one read). Only
       for a wait nothing but the end of the socket or of the connection
       needs to interrupt: no deadline, a socket type with one pipe at most
       (SP_SOCKTYPE_ONEPIPE). Between wait_begin and wait_end (each time
       again after SP_WAIT_MORE): read_begin (lock held) true when the
       transport will read so; it reads where the decoder wants the next
       bytes, which is the land while a large message goes there. Then
       read_wait (lock not held) blocks until input, the end of the
       connection, a signal (-EINTR, else 0) or read_cancel; wait_end
       (revents POLLIN) decodes what it read. read_cancel (lock held) ends a
       read_wait under way for good: the connection's input is shut (the
       socket is closing or the connection going). */
    bool (*read_begin)(struct sp_pipe *pipe);
    int (*read_wait)(struct sp_pipe *pipe);
    void (*read_cancel)(struct sp_pipe *pipe);
    /* Optional: a blocked send on a socket whose only pipe this is waits
       for the pipe's fd to take more instead of for the I/O thread to
       write the pipe's queue and signal SP_EV_OUT (one thread hop, one
       wake-up less each time the kernel's buffer fills). Socket lock
       held. write_begin: the fd to poll for POLLOUT, or -ENOTSUP (nothing
       queued, or the transport cannot); on success the pipe's queue is the
       caller's to write until write_end (lock held, poll's revents for the
       fd, 0 if it did not fire), which writes what the kernel takes and
       signals SP_EV_OUT when the pipe has room again. With more, the caller
       would poll and write again: write_end then returns true while large
       messages are left, keeping the queue the caller's (no thread hop, no
       change of the loop's events until the queue is empty), else false,
       the queue the loop's again. */
    int (*write_begin)(struct sp_pipe *pipe);
    bool (*write_end)(struct sp_pipe *pipe, int revents, bool more);
    /* After wait_end the transport may leave its reading to the next
       caller (lazy: no wake-up of the I/O thread between a reply and the
       next recv). The socket calls this, lock held, when something needs
       reading in the background again: a recv that gave up or found
       nothing, an NN_RCVFD handed out, a second pipe. A lazy transport
       first reads and delivers what has arrived already (true when that
       delivered messages), so that nobody has to wait for the I/O thread
       to see them. */
    bool (*wake_reader)(struct sp_pipe *pipe);
    /* Optional, for nn_close's linger (socket lock held, socket closing).
       unsent: true while messages the pipe took are not all written to the
       kernel and the connection can still write them. closing: nobody will
       receive from the socket again; the transport may drop what arrives
       (but keeps reading, so that a peer blocked on us can go on reading
       what we send). Transports without user-space send queues (inproc
       hands messages to the peer's queue) need neither. A transport with
       unsent must wake sock->cv whenever unsent turns false, and keep
       sock->progress_ms (the time of the last write) up to date. */
    bool (*unsent)(struct sp_pipe *pipe);
    void (*closing)(struct sp_pipe *pipe);
    /* Optional: the protocol drops this one connection (nn_shutdown of an
       accepted PEER connection). Socket lock held. The transport closes it
       as if the peer had left, and detaches the pipe later as usual. */
    void (*close)(struct sp_pipe *pipe);
};

struct sp_pipe {
    struct sp_sock *sock;
    const struct sp_pipe_ops *ops;
    /* Written by whichever thread signals the pipe; kept on one cache line
       with refs, which that thread writes too, so that a signal moves one
       line between the CPUs, not two. */
    atomic_int refs;
    atomic_int defer_ev;        /* signals waiting in a thread's deferred
                                   list (pipe.c) */
    struct sp_pipe *defer_next; /* next in that list */
    bool attached;      /* added to the protocol (socket lock) */
    int attach_stat;    /* enum sp_stat counted on attach (ESTABLISHED or
                           ACCEPTED), -1 for none */
    int pending;        /* signals that arrived before attach (socket lock) */
    int flags;          /* SP_PIPE_NOSEND, SP_PIPE_NORECV; 0: both ways */
    int sndprio;        /* 1..16, from the endpoint at creation */
    int rcvprio;
    /* The peer's protocol as it announced it (its SP header, its WebSocket
       subprotocol, the protocol number in its datagrams), set before the
       pipe attaches. A send-only pipe to a group has no one peer: its
       transport sets the socket's own peer protocol (each receiver checks
       the sender on its side). */
    int peer_protocol;
    void *proto_data;   /* the protocol's per-pipe state */
    /* The endpoint that made it: ep->bound tells an accepted connection
       from one made by nn_connect, whose id (ep->eid) PEER routes by. The
       endpoint outlives its pipes (sp_ep_stopped comes after the last). */
    struct sp_ep *ep;
    struct sp_list_item sock_item; /* in sock->pipes while attached */
};

/* Initialises pipe for the socket of ep (flags 0, peer_protocol unknown);
   one reference, held by the caller. */
void sp_pipe_init(struct sp_pipe *pipe, const struct sp_pipe_ops *ops, struct sp_ep *ep);

/* Calls wake_reader on the socket's lone pipe, if it has one (pipe may be
   NULL). Lock held. True when that delivered messages. */
bool sp_pipe_wake_reader(struct sp_pipe *pipe);

/* Adds the pipe to its socket's protocol. Call without any socket lock held.
   0; -EBADF when the socket is closing; -EPROTO when the socket does not
   talk to the peer's protocol (a PUB to a PUB); -EISCONN or another -errno
   when the protocol refuses the connection. */
int sp_pipe_attach(struct sp_pipe *pipe);

/* Removes it (no-op if not attached) and, if it was attached, counts the
   statistic stat (an enum sp_stat, e.g. SP_STAT_BROKEN; -1 for none). Call
   without any socket lock held. The socket may be freed as soon as this
   returns (nn_close waits for its attached pipes), so a transport must not
   touch pipe->sock afterwards. */
void sp_pipe_detach(struct sp_pipe *pipe, int stat);

/* Same, for a caller that holds the pipe's socket lock already. */
void sp_pipe_detach_locked(struct sp_pipe *pipe, int stat);

/* Tells the protocol that pipe became readable (SP_EV_IN) or writable
   (SP_EV_OUT). Callable from any thread holding any (or no) socket lock:
   delivery is deferred until the caller leaves its critical section when it
   would otherwise nest socket locks or re-enter a protocol call. The pipe's
   socket must be alive during the call (the pipe attached, or its detach
   held off by the caller); a deferred signal then keeps it alive until
   delivered. */
void sp_pipe_signal(struct sp_pipe *pipe, int ev);

void sp_pipe_hold(struct sp_pipe *pipe);
void sp_pipe_rele(struct sp_pipe *pipe);

static inline int sp_pipe_send(struct sp_pipe *pipe, struct sp_msg *msg)
{
    SP_ASSERT_LOCKED(pipe->sock);
    SP_DEBUG_ASSERT(!(pipe->flags & SP_PIPE_NOSEND));
    if (!pipe->ops->send_from_caller)
        sp_sendsrc_fill(msg); /* past the pipe, bodies are whole */
    return pipe->ops->send(pipe, msg);
}

static inline int sp_pipe_recv(struct sp_pipe *pipe, struct sp_msg *msg)
{
    SP_ASSERT_LOCKED(pipe->sock);
    SP_DEBUG_ASSERT(!(pipe->flags & SP_PIPE_NORECV));
    return pipe->ops->recv(pipe, msg);
}

/* Delivers signals deferred by this thread (called by sp_sock_unlock). */
void sp_pipe_flush_deferred(void);

/* True when this thread has signals waiting for delivery. */
bool sp_pipe_has_deferred(void);

#endif
