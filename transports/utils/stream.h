/* A stream connection (TCP, IPC, WebSocket): a handshake, then messages in
   both directions, exposed to the protocol as a pipe. How bytes are framed is
   the wire's business (struct sp_wire_ops: SP framing, WebSocket); moving the
   bytes is the stream's. Sends to an idle connection are written straight from
   the caller's thread, in one writev of the frame's parts from where they lie
   (no queue, no staging); what the kernel does not take is queued and written in
   batches (one writev for many messages) by the loop thread; a large body
   still in the sender's buffer (core/sendsrc.h) is written from there, and
   only what the kernel leaves is copied; a sender blocked on a full queue
   waits for room in the fd and writes the queue itself (write_begin). Reads
   pull large buffers and split many messages out of each, but behind a
   large body only the next frame's header (the wire's tail), so that the
   next body is read whole where it belongs; a blocked receiver reads its
   lone connection in its own thread (in poll and read, or, a PAIR over tcp
   without a deadline, in one blocking read), a large message straight into
   its buffer (the land of sp_pipe_ops.wait_begin), and a small one, the
   first of what its read brings, copied there from the read buffer (no
   chunk, no queue; those behind it are queued); over tcp it waits for
   the rest of such a body with SO_RCVLOWAT raised (up to 256 KiB), woken
   once per large piece rather than at every segment. Everything but the
   pipe calls runs on the loop thread. */
#ifndef SP_STREAM_H
#define SP_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "aio/loop.h"
#include "core/ep.h"
#include "core/msg.h"
#include "core/pipe.h"
#include "utils/list.h"

struct sp_ep;
struct sp_stream;

/* The framing spoken on a stream. Callbacks run on the loop thread unless
   said otherwise. */
struct sp_wire_ops {
    /* Sets up s->wire (from s->cfg->wire_arg) and queues the first handshake
       bytes with sp_stream_hs_write. 0 or -errno. */
    int (*init)(struct sp_stream *s);
    void (*term)(struct sp_stream *s);
    /* Handshake input: s->hs_in holds s->hs_inlen bytes. 1: complete, *used
       bytes belonged to it (the rest are the first bytes of the message
       stream) and s->pipe.peer_protocol is set; 0: read more, at most
       hs_room(s) bytes; -1: failed (bytes queued with sp_stream_hs_write
       are still sent, best effort). */
    int (*hs_input)(struct sp_stream *s, size_t *used);
    size_t (*hs_room)(struct sp_stream *s);
    /* Optional: re-encodes a message once, before it is queued (socket lock
       held, any thread): e.g. into a WebSocket frame, its header put in
       front of the SP header and the payload masked where it lies (the
       body may be changed only while this message holds the only reference
       to it). 0 or -errno (the message is dropped). */
    int (*prepare)(struct sp_stream *s, struct sp_msg *msg);
    /* The frame header to write before a queued message's SP header and
       body (at most 16 bytes), or 0 when prepare encoded it all. Socket lock
       held, any thread; may be called several times for one message. */
    size_t (*frame)(struct sp_stream *s, struct sp_msg *msg, uint8_t hdr[16]);
    /* Where the next read should store bytes. */
    void (*space)(struct sp_stream *s, void **buf, size_t *len);
    /* Optional, plain fds only: where the same read may store bytes behind
       the space's (len 0: nowhere; called right after space). */
    void (*tail)(struct sp_stream *s, void **buf, size_t *len);
    /* n bytes were stored (the space's first, then the tail's): append
       whole messages to out. 0, or -1 to drop the connection. May send
       control frames with sp_stream_send_raw. space, tail and commit run
       in whichever thread holds the read token (rd_owner): the loop, or a
       blocked caller reading in its own thread with the socket lock held. */
    int (*commit)(struct sp_stream *s, size_t n, struct sp_msgq *out);
    /* The peer expects answers to what it sends besides messages (a
       WebSocket ping wants its pong): input left in the kernel for the
       application's next recv (rd_lazy) is read by the loop after
       SP_STREAM_ANSWER_MS at the latest. */
    bool answers;
    /* Optional: a blocked caller's buffer for the next large message
       (sp_decoder_land_offer, _state, _withdraw). Socket lock held, reads
       claimed by the caller. */
    void (*land_offer)(struct sp_stream *s, void *buf, size_t cap);
    int (*land_state)(struct sp_stream *s, size_t *len);
    int (*land_withdraw)(struct sp_stream *s);
};

/* A byte layer between the stream and its fd (TLS). Without one the stream
   uses the fd directly. read and writev may be called from the loop thread
   and a sender's thread at the same time: the layer serialises itself. */
struct sp_bio_ops {
    /* Sets up s->bio from s->cfg->bio_arg. 0 or -errno. */
    int (*init)(struct sp_stream *s);
    void (*term)(struct sp_stream *s);
    /* Runs the layer's own handshake (loop thread): 1 done, 0 call again
       when the fd is ready for *want (EPOLLIN/EPOLLOUT), -1 failed (the
       layer reported why with sp_ep_set_error_detail). */
    int (*handshake)(struct sp_stream *s, uint32_t *want);
    /* > 0 bytes, 0 at the end of the stream, -EAGAIN, or another -errno.
       Reads as much as is available, up to len. */
    ssize_t (*read)(struct sp_stream *s, void *buf, size_t len);
    /* True when a read would return something (bytes, the end of the
       stream, an error) without the fd becoming readable: input the layer
       already took from the kernel (the rest of a decrypted record) and
       that epoll, level-triggered on the fd, will never report. The stream
       asks whenever it would otherwise wait for the fd (after a read, at
       the end of the handshake, when a paused reader resumes) and then
       reads again. Loop thread. */
    bool (*pending)(struct sp_stream *s);
    /* Bytes taken (>= 0), -EAGAIN or another -errno. After -EAGAIN the same
       bytes must be offered again first (they are: the queue is unchanged). */
    ssize_t (*writev)(struct sp_stream *s, const struct iovec *iov, int niov);
};

/* How a listener or connector starts its streams. */
struct sp_stream_cfg {
    const struct sp_wire_ops *wire;
    const void *wire_arg;    /* for the wire: framing, WebSocket role and URL... */
    /* Optional: the transport's own settings of a new connection's fd, from
       the socket's options as they are now (tcp: TCP_NODELAY). Called
       before connect(), or on an accepted fd; loop thread, no lock held. */
    void (*tune)(int fd, struct sp_ep *ep);
    const struct sp_bio_ops *bio; /* NULL: plain fd */
    const void *bio_arg;     /* for the byte layer: the TLS configuration */
    int sndbuf_auto;         /* SO_SNDBUF while NN_SNDBUF/NN_RCVBUF are unset (0: the kernel's) */
    /* A blocked caller may wait in a read of the fd (sp_pipe_ops.read_begin),
       which the socket's end interrupts with shutdown(SHUT_RD): only where
       that leaves the peer's sends alone (TCP; a Unix socket's peer would
       get EPIPE while we linger). */
    bool blocking_reads;
    /* A caller waiting for the rest of a large body raises SO_RCVLOWAT for
       its wait (see lowat_raise in stream.c): TCP, whose poll and wake-ups
       go by it (a Unix socket's do not). */
    bool rcv_lowat;
};

/* The stream ended (it is detached and its fd closed); the owner must call
   sp_stream_free(s) (now or later, on the loop thread). */
typedef void (*sp_stream_done_fn)(struct sp_stream *s, void *owner);

#define SP_STREAM_HS_MAX 4096
/* How long after its connect a connecting side's handshake deadline may
   wait for the peer's host to acknowledge our first bytes (hs_timeout). */
#define SP_STREAM_HS_HOLD_MAX 120000
/* How long a connection whose wire answers its peer (sp_wire_ops.answers)
   may leave input to the application's next recv: its pongs come at least
   this promptly, however rarely the application receives. */
#define SP_STREAM_ANSWER_MS 1000

/* Reading belongs to the loop, except while a blocked recv reads in its own
   thread (sp_pipe_ops.wait_begin); each side claims it with a CAS. */
enum { SP_RD_NONE, SP_RD_LOOP, SP_RD_CALLER };

struct sp_stream {
    struct sp_pipe pipe;
    struct sp_io io;
    struct sp_timer hs_timer;     /* handshake deadline; once active, for
                                     a wire that answers, the end of a lazy
                                     spell (answer_due in stream.c) */
    bool hs_timed_out;            /* closed by the handshake deadline */
    bool dialed;                  /* we connected (set by the connector) */
    bool hs_held;                 /* the deadline waits for the peer's ACK */
    uint32_t hs_ms;               /* the handshake deadline */
    uint64_t hs_began;            /* when the stream started (ms) */
    struct sp_task close_task;    /* close requested from a caller's thread */
    struct sp_task flush_task;    /* a burst handed to the loop to write */
    struct sp_task eof_task;      /* a caller's read found the end of input */
    struct sp_task read_task;     /* the byte layer may hold input the fd
                                     will not report (loop thread) */
    atomic_int rd_owner;          /* who reads the fd now: SP_RD_* */
    bool rd_lazy;                 /* EPOLLIN left off after a caller's read:
                                     the next recv reads (socket lock) */
    bool lazy_timed;              /* hs_timer ends this lazy spell (socket lock) */
    bool rd_ended;                /* a caller's read met the end of input or
                                     bad input: ending the connection is the
                                     loop's (eof_task), no caller reads it
                                     again (socket lock) */
    struct sp_land *land;         /* the caller's buffer while it reads
                                     (wait_begin to wait_end) */
    /* A caller's blocking read (read_begin .. wait_end; socket lock, the
       result by the reading caller) */
    bool rd_blocking;             /* under way */
    bool rd_done;                 /* it returned: rd_got holds the result */
    atomic_bool rd_shut;          /* input shut by read_cancel: the end of
                                     input means nothing any more */
    bool fd_blocking;             /* O_NONBLOCK cleared, SO_RCVTIMEO set */
    void *rd_buf;                 /* where it reads (the wire's space: the
                                     caller's land while a large message
                                     lands there) */
    size_t rd_room;
    void *rd_tail;                /* and behind it (the wire's tail) */
    size_t rd_tlen;
    ssize_t rd_got;               /* bytes, 0 at the end of input, -errno */
    bool rd_lowat;                /* SO_RCVLOWAT raised for the caller's next
                                     wait; wait_end lowers it */
    struct sp_ep *ep;
    const struct sp_stream_cfg *cfg;
    struct sp_connopts opts;      /* the socket's options when it was made */
    void *wire;                   /* the wire's state */
    void *bio;                    /* the byte layer's state */
    int fd;
    int state;
    sp_stream_done_fn done;
    void *owner;
    struct sp_list_item item;     /* in the owner's list */
    /* handshake (loop thread) */
    uint8_t *hs_out;
    size_t hs_outlen;
    size_t hs_outdone;
    uint8_t *hs_in;               /* SP_STREAM_HS_MAX bytes, only during the handshake */
    size_t hs_inlen;
    size_t hs_leftover;           /* hs_in bytes the handshake used */
    struct sp_msgq rbatch;        /* decoded, not yet delivered (loop thread) */
    struct sp_list_item deliver_item; /* rbatch waits for the end of the
                                         loop's round (loop thread) */
    /* under the socket lock */
    struct sp_msgq inq;
    size_t in_limit;
    bool in_told;
    atomic_bool rd_paused;        /* also peeked at by the loop without the lock */
    struct sp_msgq outq;
    size_t out_off;               /* bytes of outq's head frame already written */
    size_t out_limit;
    bool out_released;
    bool wr_caller;               /* a blocked sender polls the fd and
                                     writes outq itself (write_begin to
                                     write_end): EPOLLOUT off */
    uint64_t last_write_ns;       /* when outq was last written (burst detection) */
    bool broken;                  /* no more sends; a close is requested */
    bool dropped;                 /* closed by the protocol: not counted BROKEN */
    bool draining;                /* the peer is gone: close once inq is empty */
};

/* Sizes a new connection's kernel buffers (NN_SNDBUF/NN_RCVBUF when they
   were set, else cfg->sndbuf_auto if any), then lets the transport tune it
   (cfg->tune). A connector calls it before connect(), so that the window
   scale follows NN_RCVBUF; a listener on each accepted fd. Loop thread, no
   lock held. */
void sp_stream_tune(int fd, struct sp_ep *ep, const struct sp_connopts *opts, const struct sp_stream_cfg *cfg);

/* Starts a connection on a connected, non-blocking fd with the options read
   for it (sp_ep_connopts). Loop thread. On failure (-errno) nothing was
   started and the fd is left to the caller. cfg must outlive the stream. */
int sp_stream_start(struct sp_stream **out, int fd, struct sp_ep *ep, const struct sp_stream_cfg *cfg,
                    const struct sp_connopts *opts, uint64_t hs_timeout_ms, sp_stream_done_fn done,
                    void *owner);

/* Runs the start of the handshake now instead of at the fd's first event
   (loop thread): writes our side's first bytes and takes the peer's if they
   are there, which an accepted connection's usually are (a client writes
   its SP header as soon as its connect completes, while the connection
   waits in the listen queue). An SP header exchange then ends within the
   accept, without a round of the loop per connection. Not for a byte layer
   (TLS): its handshake waits for the fd's events. May close the stream
   (done() runs): the caller must be ready for that. */
void sp_stream_begin(struct sp_stream *s);

/* Closes it now (loop thread): the pipe leaves the protocol (counted as
   stat, an enum sp_stat or -1), then done() runs. No-op if already closed. */
void sp_stream_close(struct sp_stream *s, int stat);

/* Releases the stream after done(). */
void sp_stream_free(struct sp_stream *s);

/* For wires, during the handshake: queues bytes to send. 0 or -ENOMEM. */
int sp_stream_hs_write(struct sp_stream *s, const void *buf, size_t len);

/* For wires, once active, from commit (the loop thread without the socket
   lock, or a caller's read with it): queues a ready-made frame (a control
   frame) behind the messages already queued. */
void sp_stream_send_raw(struct sp_stream *s, const void *buf, size_t len);

/* For wires: writes bytes now if the kernel takes them (a closing frame
   before the connection is dropped); best effort. */
void sp_stream_write_now(struct sp_stream *s, const void *buf, size_t len);

#endif
