/* Stream connections: handshake, batched writes and reads; the framing is
   the wire's (see stream.h). */
#include "utils/stream.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/chunk.h"
#include "core/sendsrc.h"
#include "core/ep.h"
#include "core/sock.h"
#include "utils/clock.h"
#include "utils/err.h"

/* HS_DONE: our side of the handshake is complete, its last bytes are still
   being written. */
enum { ST_BIO_HS, ST_HANDSHAKE, ST_HS_DONE, ST_ACTIVE, ST_CLOSED };

/* Messages per writev at most (the kernel's IOV_MAX is 1024: three iovecs
   per message at worst). */
#define SP_WRITE_BATCH 256
/* A send within this long after the previous write on the same connection,
   or after the same thread wrote straight to any connection, is part of a
   burst and is batched by the loop thread instead of written at once. Short
   enough to leave request/reply round trips alone. The per-thread check
   catches a thread sending round-robin over many connections (PUB fan-out,
   many sockets): one write per message there costs a syscall each, while
   the loop writes whatever piled up per connection in one. */
#define SP_BURST_NS 10000
/* A message this large is written straight from the caller's thread even
   in a burst: batching saves nothing on it, and a hand-off to the loop would
   make the sender wait for the loop whenever NN_SNDBUF holds only a few. */
#define SP_DIRECT_MIN 8192
/* Reads per readiness event before letting other fds run. */
#define SP_READ_ROUNDS 8

static void stream_io(struct sp_io *io, uint32_t ev);

static void flush_task(struct sp_task *t);
static void eof_task(struct sp_task *t);
static void read_task(struct sp_task *t);
static void do_read(struct sp_stream *s);
static void handshake(struct sp_stream *s, uint32_t ev);

/* When this thread last wrote straight from a send (burst detection). */
static SP_THREAD_LOCAL uint64_t tl_direct_ns;

/* ---- bytes: the fd, or the byte layer (TLS) on top of it ---- */

static ssize_t io_read(struct sp_stream *s, void *buf, size_t len)
{
    if (s->cfg->bio)
        return s->cfg->bio->read(s, buf, len);
    /* MSG_DONTWAIT: the fd is left blocking for a caller's read_wait. */
    ssize_t n = recv(s->fd, buf, len, MSG_DONTWAIT);
    if (n < 0)
        return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? -EAGAIN : -errno;
    if (n == 0 && atomic_load_explicit(&s->rd_shut, memory_order_relaxed))
        return -EAGAIN; /* our own shutdown, not the peer's */
    return n;
}

/* Where a read stores bytes: the wire's space, and on a plain fd its tail
   if it has one (the next frame's header behind a large body). */
struct rspace {
    void *buf, *tail;
    size_t room, tlen;
};

SP_HOT static void rspace_get(struct sp_stream *s, struct rspace *r)
{
    s->cfg->wire->space(s, &r->buf, &r->room);
    r->tail = NULL;
    r->tlen = 0;
    if (r->room && s->cfg->wire->tail && !s->cfg->bio)
        s->cfg->wire->tail(s, &r->tail, &r->tlen);
}

/* recv, or recvmsg into both pieces when there is a tail. flags: 0 or
   MSG_DONTWAIT. Plain fds; returns and sets errno as recv does. */
SP_HOT static ssize_t fd_read(int fd, const struct rspace *r, int flags)
{
    if (!r->tlen)
        return recv(fd, r->buf, r->room, flags);
    struct iovec iov[2] = {{r->buf, r->room}, {r->tail, r->tlen}};
    struct msghdr mh;
    memset(&mh, 0, sizeof mh);
    mh.msg_iov = iov;
    mh.msg_iovlen = 2;
    return recvmsg(fd, &mh, flags);
}

SP_HOT static ssize_t io_read_space(struct sp_stream *s, const struct rspace *r)
{
    if (s->cfg->bio || !r->tlen)
        return io_read(s, r->buf, r->room);
    ssize_t n = fd_read(s->fd, r, MSG_DONTWAIT);
    if (n < 0)
        return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? -EAGAIN : -errno;
    if (n == 0 && atomic_load_explicit(&s->rd_shut, memory_order_relaxed))
        return -EAGAIN;
    return n;
}

/* Input the byte layer took from the kernel and still holds: epoll will not
   report it, so whoever read last must read again. Plain streams: never, at
   the cost of one test. */
static inline bool io_pending(struct sp_stream *s)
{
    return s->cfg->bio && s->cfg->bio->pending(s);
}

SP_HOT static ssize_t io_writev(struct sp_stream *s, struct iovec *iov, int niov)
{
    if (s->cfg->bio)
        return s->cfg->bio->writev(s, iov, niov);
    struct msghdr mh;
    memset(&mh, 0, sizeof mh);
    mh.msg_iov = iov;
    mh.msg_iovlen = (size_t) niov;
    ssize_t n = sendmsg(s->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0)
        return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? -EAGAIN : -errno;
    return n;
}

/* ---- writing (socket lock held) ---- */

/* A closing socket lingers until its connections have written everything
   or are broken: tell it when one of them gets there, and when one made
   progress (wrote). Lock held. */
SP_HOT static void linger_check(struct sp_stream *s, bool wrote)
{
    struct sp_sock *sock = s->pipe.sock;
    SP_ASSERT_LOCKED(sock);
    if (SP_LIKELY(!atomic_load_explicit(&sock->closing, memory_order_relaxed)))
        return;
    if (wrote)
        sock->progress_ms = sp_clock_ms();
    if (s->broken || !s->outq.count)
        sp_sock_notify(sock);
}

static void request_close(struct sp_stream *s)
{
    if (!s->broken) {
        s->broken = true;
        sp_loop_post(&s->close_task);
        linger_check(s, false);
    }
}

/* Lock held: after the handshake, every change of the io's events (and its
   removal) is made under the socket lock, by whichever thread. */
SP_HOT static void set_events(struct sp_stream *s)
{
    SP_ASSERT_LOCKED(s->pipe.sock);
    /* EPOLLRDHUP always: a peer that leaves is noticed even while reading
       is paused or left to a caller. */
    uint32_t ev = EPOLLRDHUP;
    if (atomic_load_explicit(&s->rd_shut, memory_order_relaxed)) {
        /* Input shut by read_cancel: it reads as ready for ever (level-
           triggered), so only writing and errors are watched from now on. */
        sp_io_set(&s->io, s->outq.count && !s->wr_caller ? EPOLLOUT : 0);
        return;
    }
    if (!s->rd_paused && !s->rd_lazy &&
        atomic_load_explicit(&s->rd_owner, memory_order_relaxed) != SP_RD_CALLER)
        ev |= EPOLLIN;
    if (s->outq.count && !s->wr_caller)
        ev |= EPOLLOUT;
    sp_io_set(&s->io, ev);
}

/* A writer's scratch space, one per thread that writes (on the heap: up to
   SP_WRITE_BATCH messages per writev needs more than an application
   thread's stack should give). Small pieces (frame headers, SP headers,
   small bodies) are copied into stage so that a batch of small messages goes
   to the kernel as a few iovecs rather than two or three per message: the
   kernel's cost per iovec is well above a memcpy of a few dozen bytes. */
#define SP_STAGE_BYTES 32768
#define SP_STAGE_PIECE 256
#define SP_WRITE_BATCH_STACK 8 /* without scratch space (out of memory) */

struct wscratch {
    struct iovec iov[SP_WRITE_BATCH * 3];
    uint8_t fh[SP_WRITE_BATCH][16];
    size_t fhl[SP_WRITE_BATCH];
    uint8_t stage[SP_STAGE_BYTES];
};

static SP_THREAD_LOCAL struct wscratch *tl_wscratch;
static pthread_key_t wscratch_key;
static pthread_once_t wscratch_once = PTHREAD_ONCE_INIT;

static void wscratch_key_init(void)
{
    pthread_key_create(&wscratch_key, free);
}

static struct wscratch *wscratch(void)
{
    if (!tl_wscratch) {
        pthread_once(&wscratch_once, wscratch_key_init);
        struct wscratch *w = malloc(sizeof *w);
        if (w && pthread_setspecific(wscratch_key, w) != 0) {
            free(w);
            w = NULL;
        }
        tl_wscratch = w;
    }
    return tl_wscratch;
}

/* Writes as much of outq as the kernel takes, many messages per syscall. */
SP_HOT static void flush_out(struct sp_stream *s)
{
    SP_ASSERT_LOCKED(s->pipe.sock);
    struct wscratch *w = wscratch();
    struct iovec siov[SP_WRITE_BATCH_STACK * 3];
    uint8_t sfh[SP_WRITE_BATCH_STACK][16];
    size_t sfhl[SP_WRITE_BATCH_STACK];
    struct iovec *iov = w ? w->iov : siov;
    uint8_t(*fh)[16] = w ? w->fh : sfh;
    size_t *fhl = w ? w->fhl : sfhl;
    uint8_t *stage = w ? w->stage : NULL;
    size_t batch = w ? SP_WRITE_BATCH : SP_WRITE_BATCH_STACK;
    bool wrote = false;
    while (s->outq.count && !s->broken) {
        size_t so = 0; /* staging bytes used */
        int niov = 0;
        size_t total = 0;
        size_t nmsg = s->outq.count < batch ? s->outq.count : batch;
        size_t skip = s->out_off;
        for (size_t i = 0; i < nmsg; i++) {
            struct sp_msg *m = sp_msgq_at(&s->outq, i);
            fhl[i] = s->cfg->wire->frame(s, m, fh[i]);
            const void *parts[3] = {fh[i], sp_msg_hdr(m), m->body};
            size_t lens[3] = {fhl[i], m->hdrlen, sp_msg_bodylen(m)};
            for (int k = 0; k < 3; k++) {
                size_t len = lens[k];
                const char *base = parts[k];
                if (skip >= len) {
                    skip -= len;
                    continue;
                }
                base += skip;
                len -= skip;
                skip = 0;
                total += len;
                if (stage && len <= SP_STAGE_PIECE && so + len <= SP_STAGE_BYTES) {
                    memcpy(stage + so, base, len);
                    if (niov > 0 && (uint8_t *) iov[niov - 1].iov_base + iov[niov - 1].iov_len == stage + so) {
                        iov[niov - 1].iov_len += len;
                    } else {
                        iov[niov].iov_base = stage + so;
                        iov[niov].iov_len = len;
                        niov++;
                    }
                    so += len;
                    continue;
                }
                iov[niov].iov_base = (void *) base;
                iov[niov].iov_len = len;
                niov++;
            }
        }
        ssize_t n = io_writev(s, iov, niov);
        if (n < 0) {
            if (n == -EAGAIN)
                break;
            request_close(s);
            return;
        }
        wrote = true;
        /* Retire fully written messages. */
        size_t done = (size_t) n + s->out_off;
        for (size_t i = 0; i < nmsg; i++) {
            struct sp_msg *m = sp_msgq_at(&s->outq, 0);
            size_t flen = fhl[i] + sp_msg_wirelen(m);
            if (done < flen) {
                s->out_off = done;
                break;
            }
            done -= flen;
            struct sp_msg tmp;
            sp_msgq_pop(&s->outq, &tmp);
            sp_msg_term(&tmp);
            s->out_off = 0;
        }
        if ((size_t) n < total && !s->cfg->bio)
            break; /* the kernel is full (a byte layer takes a record at a time) */
    }
    linger_check(s, wrote);
}

/* A message to an idle connection, written from the caller's thread in
   one writev of its parts: from the sender's buffer (src) when its body is
   still there (a large one, see sendsrc.h), else from the message. Only
   what the kernel does not take now waits in outq (with src, copied into
   the message's own chunk first). No prepare. A byte layer (TLS) takes a
   record per call, and encrypts it into its own buffer: called until the
   kernel is full. */
SP_HOT static int send_from_caller(struct sp_stream *s, struct sp_msg *msg, const void *src, uint64_t now)
{
    uint8_t fh[16];
    size_t fhl = s->cfg->wire->frame(s, msg, fh);
    size_t blen = sp_msg_bodylen(msg), head = fhl + msg->hdrlen;
    const void *parts[3] = {fh, sp_msg_hdr(msg), src ? src : msg->body};
    size_t lens[3] = {fhl, msg->hdrlen, blen};
    s->last_write_ns = now;
    tl_direct_ns = now;
    size_t done = 0;
    for (;;) {
        struct iovec iov[3];
        int niov = 0;
        size_t skip = done;
        for (int k = 0; k < 3; k++) {
            if (skip >= lens[k]) {
                skip -= lens[k];
                continue;
            }
            iov[niov++] = (struct iovec){(char *) parts[k] + skip, lens[k] - skip};
            skip = 0;
        }
        ssize_t n = io_writev(s, iov, niov);
        if (n < 0 && n != -EAGAIN) {
            sp_msg_term(msg);
            request_close(s);
            return 0;
        }
        if (n <= 0)
            break;
        done += (size_t) n;
        if (done == head + blen || !s->cfg->bio)
            break;
    }
    if (done == head + blen) {
        sp_msg_term(msg);
        linger_check(s, true);
        return 0;
    }
    if (src) {
        size_t from = done > head ? done - head : 0;
        memcpy((char *) msg->body + from, (const char *) src + from, blen - from);
    }
    if (sp_msgq_push(&s->outq, msg) != 0) {
        /* Out of memory, part of the frame written: the stream cannot go on. */
        sp_msg_term(msg);
        request_close(s);
        return 0;
    }
    s->out_off = done;
    linger_check(s, done > 0);
    set_events(s);
    if (s->outq.bytes >= s->out_limit) {
        s->out_released = true;
        return SP_PIPE_RELEASE;
    }
    return 0;
}

SP_HOT static int stream_pipe_send(struct sp_pipe *pipe, struct sp_msg *msg)
{
    struct sp_stream *s = sp_cont(pipe, struct sp_stream, pipe);
    const void *src = sp_sendsrc_take(msg);
    if (s->state != ST_ACTIVE || s->broken) {
        sp_msg_term(msg);
        return 0;
    }
    /* While the pipe is idle a message goes straight from the caller's
       thread (a request, a reply, a lone event, a large message): no
       hand-off. Small messages coming back to back (a burst) are left to
       pile up instead, for the loop thread to write many per writev. */
    bool idle = s->outq.count == 0, burst = false;
    uint64_t now = 0;
    if (idle) {
        now = sp_clock_ns();
        burst = now - s->last_write_ns < SP_BURST_NS || now - tl_direct_ns < SP_BURST_NS;
        /* Written from where the body is (the caller's buffer, or the
           message), not staged: it queues only if the kernel does not take
           it all. */
        if (!s->cfg->wire->prepare && (src || sp_msg_wirelen(msg) >= SP_DIRECT_MIN || !burst))
            return send_from_caller(s, msg, src, now);
    }
    if (src)
        memcpy(msg->body, src, sp_msg_bodylen(msg));
    if (s->cfg->wire->prepare && s->cfg->wire->prepare(s, msg) != 0) {
        sp_msg_term(msg); /* out of memory: the message is lost, like a drop */
        return 0;
    }
    if (sp_msgq_push(&s->outq, msg) != 0) {
        sp_msg_term(msg); /* out of memory: the message is lost, like a drop */
        return 0;
    }
    if (idle) {
        bool large = sp_msg_wirelen(sp_msgq_at(&s->outq, 0)) >= SP_DIRECT_MIN;
        if (!large && burst) {
            sp_loop_post(&s->flush_task);
        } else {
            /* A wire that prepares its messages (WebSocket's masking):
               written through the queue, from the caller's thread. */
            s->last_write_ns = now;
            tl_direct_ns = now;
            flush_out(s);
            if (s->broken)
                return 0;
            if (s->outq.count)
                set_events(s);
        }
    }
    if (s->outq.bytes >= s->out_limit) {
        s->out_released = true;
        return SP_PIPE_RELEASE;
    }
    return 0;
}

/* The pipe has room again after a write: tell the protocol. Lock held. */
static void out_room_check(struct sp_stream *s)
{
    if (s->out_released && s->outq.bytes < s->out_limit && !s->broken) {
        s->out_released = false;
        sp_pipe_signal(&s->pipe, SP_EV_OUT);
    }
}

/* A blocked sender writes outq in its own thread once the fd has room
   (sp_pipe_ops.write_begin): plain fds only (a byte layer may need to
   read to write), and only large messages, which wait in outq because the
   kernel's buffer is full: small ones wait there because the loop batches
   them, and writing them while the sender makes the next ones (two
   threads) is what makes small messages fast. Lock held. */
static int stream_write_begin(struct sp_pipe *pipe)
{
    struct sp_stream *s = sp_cont(pipe, struct sp_stream, pipe);
    SP_ASSERT_LOCKED(pipe->sock);
    if (s->cfg->bio || s->state != ST_ACTIVE || s->broken || s->wr_caller || !s->outq.count ||
        sp_msg_wirelen(sp_msgq_at(&s->outq, 0)) < SP_DIRECT_MIN)
        return -ENOTSUP;
    s->wr_caller = true;
    set_events(s); /* EPOLLOUT off: the loop must not wake to write it */
    return s->fd;
}

static bool stream_write_end(struct sp_pipe *pipe, int revents, bool more)
{
    struct sp_stream *s = sp_cont(pipe, struct sp_stream, pipe);
    SP_ASSERT_LOCKED(pipe->sock);
    if (s->state != ST_ACTIVE) {
        /* Closed by the loop meanwhile: it waits for the store below. */
        s->wr_caller = false;
        sp_sock_notify(s->pipe.sock);
        return false;
    }
    if (s->broken) {
        s->wr_caller = false;
        return false;
    }
    if (revents) {
        s->last_write_ns = sp_clock_ns();
        flush_out(s);
        out_room_check(s);
    }
    /* Keep the queue while its head is a large message: the loop's events
       stay as they are (no epoll_ctl each round). */
    if (more && !s->broken && s->state == ST_ACTIVE && s->outq.count &&
        sp_msg_wirelen(sp_msgq_at(&s->outq, 0)) >= SP_DIRECT_MIN)
        return true;
    s->wr_caller = false;
    if (s->state != ST_ACTIVE) {
        sp_sock_notify(s->pipe.sock);
        return false;
    }
    if (!s->broken)
        set_events(s); /* EPOLLOUT back while anything is left */
    return false;
}

/* Whether the loop may leave reading to the socket's next recv (rd_lazy,
   see stream_wait_end): s is the socket's only pipe, nobody polls
   NN_RCVFD, and no other thread waits on the socket (futex, spin): those
   were parked because a caller was reading, and would not read what comes
   next themselves. Socket lock held. */
SP_HOT static bool may_be_lazy(const struct sp_stream *s)
{
    const struct sp_sock *sock = s->pipe.sock;
    return sock->lone_pipe == &s->pipe && sock->rcvfd < 0 && sock->waiters == 0 && sock->spinners == 0;
}

/* Leaves reading to the application's next recv (see stream_wait_end). A
   wire that answers its peer (WebSocket pings) gets the loop back within
   SP_STREAM_ANSWER_MS (answer_due), so that a peer's ping is answered even
   if the application stops receiving; the timer is armed at most once per
   spell, not at each recv of a stream. Socket lock held. */
SP_HOT static void go_lazy(struct sp_stream *s)
{
    s->rd_lazy = true;
    if (s->cfg->wire->answers && !s->lazy_timed) {
        s->lazy_timed = true;
        sp_timer_start(&s->hs_timer, SP_STREAM_ANSWER_MS);
    }
}

SP_HOT static int stream_pipe_recv(struct sp_pipe *pipe, struct sp_msg *msg)
{
    struct sp_stream *s = sp_cont(pipe, struct sp_stream, pipe);
    if (sp_msgq_pop(&s->inq, msg) != 0) {
        s->in_told = false;
        return -EAGAIN;
    }
    if (s->rd_paused && s->inq.bytes < s->in_limit && s->state == ST_ACTIVE) {
        s->rd_paused = false;
        /* Paused by a single large message, now taken: leave the next one
           to this caller's next recv, as after a read of its own
           (stream_wait_end), so that it can be read straight into that
           recv's buffer. With EPOLLIN back on the loop would read it at
           once, into a chunk, and keep reading ahead of the caller. */
        if (s->inq.count == 0 && may_be_lazy(s))
            go_lazy(s);
        set_events(s);
        /* A pause can fall on a read that left input inside the byte layer;
           EPOLLIN alone would not bring it (a lazy pipe's next recv reads
           it, see stream_wait_ready). */
        if (s->cfg->bio && !s->rd_lazy)
            sp_loop_post(&s->read_task);
    }
    if (s->inq.count == 0) {
        s->in_told = false;
        if (s->draining)
            sp_loop_post(&s->close_task); /* the last message is out */
        return SP_PIPE_RELEASE;
    }
    return 0;
}

static void stream_pipe_destroy(struct sp_pipe *pipe)
{
    struct sp_stream *s = sp_cont(pipe, struct sp_stream, pipe);
    sp_msgq_term(&s->inq);
    sp_msgq_term(&s->outq);
    sp_msgq_term(&s->rbatch);
    if (s->wire)
        s->cfg->wire->term(s);
    if (s->bio)
        s->cfg->bio->term(s);
    free(s->hs_out);
    free(s->hs_in);
    free(s);
}

/* Messages are written to the kernel once they leave outq (a byte layer
   has then flushed its records too: it takes bytes only once they are
   written). */
static bool stream_unsent(struct sp_pipe *pipe)
{
    struct sp_stream *s = sp_cont(pipe, struct sp_stream, pipe);
    SP_ASSERT_LOCKED(pipe->sock);
    return s->state == ST_ACTIVE && !s->broken && s->outq.count > 0;
}

static void stream_closing(struct sp_pipe *pipe)
{
    struct sp_stream *s = sp_cont(pipe, struct sp_stream, pipe);
    SP_ASSERT_LOCKED(pipe->sock);
    /* Read (and drop, see deliver_from_loop) whatever comes, paused or
       lazy before: a peer whose sends to us are stuck would not read ours,
       and input left unread at close() turns the FIN into a reset that
       discards what the kernel still has to send. */
    s->rd_paused = false;
    s->rd_lazy = false;
    if (s->state == ST_ACTIVE && !s->draining) {
        set_events(s);
        if (s->cfg->bio)
            sp_loop_post(&s->read_task); /* what the layer holds: EPOLLIN will not say */
    }
}

static int stream_wait_begin(struct sp_pipe *pipe, struct sp_land *land);
static int stream_wait_end(struct sp_pipe *pipe, int revents, bool give_up);
static bool stream_wait_ready(struct sp_pipe *pipe);
static bool stream_read_begin(struct sp_pipe *pipe);
static int stream_read_wait(struct sp_pipe *pipe);
static void stream_read_cancel(struct sp_pipe *pipe);
static bool stream_wake_reader(struct sp_pipe *pipe);

/* nn_shutdown of an accepted PEER connection: closed as if broken, but
   not counted as such (the application asked for it). */
static void stream_close(struct sp_pipe *pipe)
{
    struct sp_stream *s = sp_cont(pipe, struct sp_stream, pipe);
    SP_ASSERT_LOCKED(pipe->sock);
    if (!s->broken)
        s->dropped = true;
    request_close(s);
}

static const struct sp_pipe_ops stream_pipe_ops = {
    .send_from_caller = true,
    .close = stream_close,
    .wait_begin = stream_wait_begin,
    .wait_end = stream_wait_end,
    .wait_ready = stream_wait_ready,
    .read_begin = stream_read_begin,
    .read_wait = stream_read_wait,
    .read_cancel = stream_read_cancel,
    .wake_reader = stream_wake_reader,
    .write_begin = stream_write_begin,
    .write_end = stream_write_end,
    .unsent = stream_unsent,
    .closing = stream_closing,
    .send = stream_pipe_send,
    .recv = stream_pipe_recv,
    .destroy = stream_pipe_destroy,
};

/* ---- life cycle (loop thread) ---- */

/* Input left unread makes close() reset the connection, and the kernel
   then drops what it still had to send to the peer (RFC 2525 2.17): read it
   away first, so that what was flushed before the close arrives. Bounded: a
   peer that keeps sending at that moment gets its reset. */
static void discard_input(int fd)
{
    char buf[16384];
    for (int i = 0; i < 64; i++) {
        ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EINTR))
            break;
    }
}

void sp_stream_close(struct sp_stream *s, int stat)
{
    SP_ASSERT_LOOP();
    if (s->state == ST_CLOSED)
        return;
    struct sp_sock *sock = s->pipe.sock;
    /* Like libnanomsg, count every transport connection that ends, whether
       or not the protocol had accepted it. */
    if (stat >= 0)
        sp_ep_stat(s->ep, stat, 1);
    sp_sock_lock(sock);
    s->state = ST_CLOSED;
    if (atomic_load(&s->rd_owner) == SP_RD_CALLER) {
        sp_sock_wake_caller(sock);
        stream_read_cancel(&s->pipe); /* a blocking read, if any */
    }
    if (s->wr_caller)
        sp_sock_wake_caller(sock);
    sp_pipe_detach_locked(&s->pipe, -1);
    if (s->io.fd >= 0)
        sp_io_del(&s->io);
    /* A caller polling the fd gives it back promptly (woken above, it
       notifies in stream_wait_end); only then may the fd be closed (its
       number could be reused under it). The caller keeps the socket open:
       nn_close waits for it. */
    while (atomic_load(&s->rd_owner) == SP_RD_CALLER || s->wr_caller)
        sp_sock_wait(sock, 0);
    sp_sock_unlock(sock);
    sp_timer_stop(&s->hs_timer);
    sp_loop_cancel(&s->close_task);
    sp_loop_cancel(&s->flush_task);
    sp_loop_cancel(&s->eof_task);
    sp_loop_cancel(&s->read_task);
    if (sp_list_item_linked(&s->deliver_item))
        sp_list_remove(&s->deliver_item);
    discard_input(s->fd);
    close(s->fd);
    s->fd = -1;
    s->done(s, s->owner);
}

void sp_stream_free(struct sp_stream *s)
{
    SP_ASSERT_LOOP();
    sp_pipe_rele(&s->pipe);
}

static void close_task(struct sp_task *t)
{
    struct sp_stream *s = sp_cont(t, struct sp_stream, close_task);
    sp_stream_close(s, s->dropped ? -1 : SP_STAT_BROKEN);
}

static bool in_handshake(const struct sp_stream *s)
{
    return s->state == ST_BIO_HS || s->state == ST_HANDSHAKE || s->state == ST_HS_DONE;
}

/* Whether the peer's host has yet to acknowledge what we sent on a TCP
   connection that is established on our side: a listener whose accept
   queue is full drops the ACK that ends a connecting client's handshake
   and the data behind it (Linux counts them in ListenOverflows), and takes
   the connection only from a retransmission once its queue has room. */
static bool sent_unacked(const struct sp_stream *s)
{
    struct tcp_info ti;
    socklen_t len = sizeof ti;
    if (getsockopt(s->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0 || len < sizeof ti)
        return false; /* not TCP (ipc) */
    return ti.tcpi_state == TCP_ESTABLISHED && ti.tcpi_unacked > 0;
}

/* A lazy spell of a connection whose wire answers its peer ends: whatever
   waits in the kernel (a ping) is read now, and the loop reads from then
   on, until a caller's read leaves the connection lazy again. Loop thread. */
static void answer_due(struct sp_stream *s)
{
    struct sp_sock *sock = s->pipe.sock;
    sp_sock_lock(sock);
    s->lazy_timed = false;
    if (s->state == ST_ACTIVE && s->rd_lazy)
        stream_wake_reader(&s->pipe);
    sp_sock_unlock(sock);
}

static void hs_timeout(struct sp_timer *t)
{
    struct sp_stream *s = sp_cont(t, struct sp_stream, hs_timer);
    if (s->state == ST_ACTIVE) {
        answer_due(s);
        return;
    }
    if (!in_handshake(s))
        return;
    /* A connecting side's deadline counts from when the listener's host
       took our first bytes: until then the connection is not even in its
       accept queue, and giving up only sends a new SYN into the same full
       queue. Checked every second; the whole deadline once they are taken.
       TCP ends a connection whose bytes are never acknowledged (a reset
       once the listener forgets the half-open connection, about a minute),
       and SP_STREAM_HS_HOLD_MAX bounds the wait besides. */
    if (s->dialed && sp_clock_ms() - s->hs_began < SP_STREAM_HS_HOLD_MAX && sent_unacked(s)) {
        s->hs_held = true;
        sp_timer_start(&s->hs_timer, 1000);
        return;
    }
    if (s->hs_held) {
        s->hs_held = false;
        sp_timer_start(&s->hs_timer, s->hs_ms);
        return;
    }
    /* The deadline is the peer's: what it sent in time may still wait
       behind other connections' events (a storm of connections into a
       loop starved of CPU). One last look before giving up on it. */
    sp_pipe_hold(&s->pipe);
    handshake(s, EPOLLIN | EPOLLOUT);
    if (in_handshake(s)) {
        sp_ep_set_error(s->ep, ETIMEDOUT);
        s->hs_timed_out = true;
        sp_stream_close(s, SP_STAT_BROKEN);
    }
    sp_pipe_rele(&s->pipe);
}

void sp_stream_tune(int fd, struct sp_ep *ep, const struct sp_connopts *o, const struct sp_stream_cfg *cfg)
{
    SP_ASSERT_LOOP();
    /* libnanomsg always fixes the kernel buffers at NN_SNDBUF/NN_RCVBUF
       (128 KiB); we do so only when the application set them, and leave the
       kernel's autotuning alone otherwise: large messages go much faster.
       A transport without autotuning (ipc) asks for the ceiling tcp's would
       reach instead (see sndbuf_auto in ipc.c). */
    int v;
    if (o->bufs_set) {
        v = o->sndbuf;
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof v);
        v = o->rcvbuf;
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof v);
    } else if (cfg->sndbuf_auto > 0) {
        v = cfg->sndbuf_auto;
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof v);
    }
    if (cfg->tune)
        cfg->tune(fd, ep);
}

int sp_stream_start(struct sp_stream **out, int fd, struct sp_ep *ep, const struct sp_stream_cfg *cfg,
                    const struct sp_connopts *opts, uint64_t hs_timeout_ms, sp_stream_done_fn done, void *owner)
{
    SP_ASSERT_LOOP();
    struct sp_stream *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    sp_pipe_init(&s->pipe, &stream_pipe_ops, ep);
    s->pipe.attach_stat = -1; /* counted by the listener/connector instead */
    sp_timer_init(&s->hs_timer, hs_timeout);
    sp_task_init(&s->close_task, close_task);
    sp_task_init(&s->flush_task, flush_task);
    sp_task_init(&s->eof_task, eof_task);
    sp_task_init(&s->read_task, read_task);
    atomic_init(&s->rd_owner, SP_RD_NONE);
    atomic_init(&s->rd_shut, false);
    s->ep = ep;
    s->cfg = cfg;
    s->opts = *opts;
    s->fd = fd;
    s->state = cfg->bio ? ST_BIO_HS : ST_HANDSHAKE;
    s->done = done;
    s->owner = owner;
    sp_msgq_init(&s->inq);
    sp_msgq_init(&s->outq);
    sp_msgq_init(&s->rbatch);
    /* Received messages wait in the pipe up to about NN_RCVBUF bytes, sent
       ones up to NN_SNDBUF: beyond that the peer or the sender waits. */
    s->in_limit = (size_t) opts->rcvbuf;
    s->out_limit = (size_t) opts->sndbuf;
    int rc = cfg->bio ? cfg->bio->init(s) : 0;
    if (rc == 0)
        rc = cfg->wire->init(s);
    if (rc == 0)
        rc = sp_io_add(&s->io, fd, EPOLLIN | EPOLLOUT, stream_io);
    if (rc != 0) {
        if (s->wire)
            cfg->wire->term(s);
        if (s->bio)
            cfg->bio->term(s);
        free(s->hs_out);
        free(s);
        return rc;
    }
    s->hs_ms = (uint32_t) hs_timeout_ms;
    s->hs_began = sp_clock_ms();
    sp_timer_start(&s->hs_timer, hs_timeout_ms);
    *out = s;
    return 0;
}

void sp_stream_begin(struct sp_stream *s)
{
    SP_ASSERT_LOOP();
    /* A byte layer's handshake (TLS) costs the loop far more than an
       accept: it waits for its turn among the other connections' events. */
    if (s->state == ST_HANDSHAKE)
        handshake(s, EPOLLIN | EPOLLOUT);
}

int sp_stream_hs_write(struct sp_stream *s, const void *buf, size_t len)
{
    uint8_t *p = realloc(s->hs_out, s->hs_outlen + len);
    if (!p)
        return -ENOMEM;
    memcpy(p + s->hs_outlen, buf, len);
    s->hs_out = p;
    s->hs_outlen += len;
    return 0;
}

void sp_stream_write_now(struct sp_stream *s, const void *buf, size_t len)
{
    struct iovec iov = {(void *) buf, len};
    if (s->fd >= 0)
        (void) io_writev(s, &iov, 1);
}

void sp_stream_send_raw(struct sp_stream *s, const void *buf, size_t len)
{
    struct sp_sock *sock = s->pipe.sock;
    /* Called from the wire's commit, by whoever holds the read token: a
       blocked caller reading in its own thread holds the socket lock too. */
    bool locked = atomic_load_explicit(&s->rd_owner, memory_order_relaxed) == SP_RD_CALLER;
    struct sp_msg m;
    if (sp_msg_init_size(&m, len) != 0)
        return;
    memcpy(m.body, buf, len);
    if (!locked)
        sp_sock_lock(sock);
    if (s->state == ST_ACTIVE && !s->broken && sp_msgq_push(&s->outq, &m) == 0) {
        flush_out(s);
        if (!s->broken)
            set_events(s);
    }
    sp_msg_term(&m);
    if (!locked)
        sp_sock_unlock(sock);
}

/* ---- handshake ---- */

static void hs_fail(struct sp_stream *s)
{
    /* Whatever the wire queued (an HTTP error response) goes out if it can. */
    if (s->hs_outdone < s->hs_outlen)
        sp_stream_write_now(s, s->hs_out + s->hs_outdone, s->hs_outlen - s->hs_outdone);
    sp_stream_close(s, SP_STAT_BROKEN);
}

/* Feeds bytes that arrived with the end of the handshake to the wire. */
static int feed_leftover(struct sp_stream *s, const uint8_t *p, size_t n, struct sp_msgq *out)
{
    while (n) {
        void *buf;
        size_t room;
        s->cfg->wire->space(s, &buf, &room);
        size_t k = n < room ? n : room;
        memcpy(buf, p, k);
        if (s->cfg->wire->commit(s, k, out) != 0)
            return -1;
        p += k;
        n -= k;
    }
    return 0;
}

static void deliver_batch(struct sp_stream *s, struct sp_msgq *batch);

/* The peer closed or broke the protocol. Messages that arrived before are
   still delivered: the pipe stays until the protocol took them, then closes
   itself. */
static void end_of_input(struct sp_stream *s)
{
    SP_ASSERT_LOOP();
    struct sp_sock *sock = s->pipe.sock;
    sp_sock_lock(sock);
    bool drain = s->inq.count > 0;
    if (drain) {
        s->draining = true;
        s->broken = true;
        linger_check(s, false);
        /* Under the lock: a receiver taking the last messages calls
           set_events, which reads io.fd. */
        sp_io_del(&s->io);
    }
    sp_sock_unlock(sock);
    if (!drain)
        sp_stream_close(s, SP_STAT_BROKEN);
}

static void handshake(struct sp_stream *s, uint32_t ev)
{
    if (s->state == ST_BIO_HS) {
        uint32_t want = 0;
        int rc = s->cfg->bio->handshake(s, &want);
        if (rc < 0) {
            sp_stream_close(s, SP_STAT_BROKEN);
            return;
        }
        if (rc == 0) {
            sp_io_set(&s->io, want);
            return;
        }
        s->state = ST_HANDSHAKE;
        ev = EPOLLIN | EPOLLOUT; /* the layer may hold bytes already read */
    }
    if (s->hs_outdone < s->hs_outlen) {
        struct iovec iov = {s->hs_out + s->hs_outdone, s->hs_outlen - s->hs_outdone};
        ssize_t n = io_writev(s, &iov, 1);
        if (n < 0 && n != -EAGAIN) {
            sp_stream_close(s, SP_STAT_BROKEN);
            return;
        }
        if (n > 0)
            s->hs_outdone += (size_t) n;
    }
    int rc = 0;
    size_t used = 0;
    if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
        /* The wire may ask for fewer bytes than a record brought (the SP
           header is read exactly): read on while the byte layer holds
           some, the fd will not say so. */
        ssize_t n;
        do {
            size_t room = s->cfg->wire->hs_room(s);
            if (room > SP_STREAM_HS_MAX - s->hs_inlen)
                room = SP_STREAM_HS_MAX - s->hs_inlen;
            if (room == 0) {
                hs_fail(s); /* the wire wants more than a handshake may be */
                return;
            }
            if (!s->hs_in) {
                /* The buffer is made once the peer has sent something: a
                   look for input that is not there yet (sp_stream_begin,
                   a peer that stays silent) costs no heap. */
                uint8_t first[SP_STREAM_HS_MAX];
                n = io_read(s, first, room);
                if (n > 0) {
                    if (!(s->hs_in = malloc(SP_STREAM_HS_MAX))) {
                        sp_stream_close(s, SP_STAT_BROKEN);
                        return;
                    }
                    memcpy(s->hs_in, first, (size_t) n);
                }
            } else {
                n = io_read(s, s->hs_in + s->hs_inlen, room);
            }
            if (n == 0 || (n < 0 && n != -EAGAIN)) {
                sp_stream_close(s, SP_STAT_BROKEN);
                return;
            }
            if (n > 0) {
                s->hs_inlen += (size_t) n;
                rc = s->cfg->wire->hs_input(s, &used);
                if (rc < 0) {
                    hs_fail(s);
                    return;
                }
            }
        } while (rc == 0 && n > 0 && io_pending(s));
    }
    if (rc == 1) {
        s->state = ST_HS_DONE;
        s->hs_leftover = used;
    }
    if (s->state != ST_HS_DONE || s->hs_outdone < s->hs_outlen) {
        uint32_t want = s->state == ST_HS_DONE ? 0 : EPOLLIN;
        if (s->hs_outdone < s->hs_outlen)
            want |= EPOLLOUT;
        sp_io_set(&s->io, want);
        return;
    }
    /* Both directions of the handshake are through. */
    sp_timer_stop(&s->hs_timer);
    s->state = ST_ACTIVE;
    free(s->hs_out); /* an idle connection keeps no handshake buffers */
    s->hs_out = NULL;
    s->hs_outlen = s->hs_outdone = 0;
    sp_io_set(&s->io, EPOLLIN | EPOLLRDHUP);
    /* Once attached, a blocked receiver may read the connection in its own
       thread (wait_begin): the loop holds the read token until the bytes
       that came with the handshake are decoded and delivered. */
    atomic_store(&s->rd_owner, SP_RD_LOOP);
    if (sp_pipe_attach(&s->pipe) != 0) {
        atomic_store(&s->rd_owner, SP_RD_NONE);
        /* Refused: a peer the socket does not talk to, a second PAIR peer. */
        sp_stream_close(s, SP_STAT_BROKEN);
        return;
    }
    sp_ep_set_error(s->ep, 0);
    struct sp_msgq *batch = &s->rbatch;
    int bad = 0;
    if (s->hs_inlen > s->hs_leftover)
        bad = feed_leftover(s, s->hs_in + s->hs_leftover, s->hs_inlen - s->hs_leftover, batch);
    s->hs_inlen = s->hs_leftover = 0;
    free(s->hs_in);
    s->hs_in = NULL;
    if (batch->count)
        deliver_batch(s, batch);
    atomic_store(&s->rd_owner, SP_RD_NONE);
    if (bad)
        end_of_input(s);
    else if (io_pending(s))
        do_read(s); /* what the handshake's exact reads left in the layer */
}

/* ---- reading (loop thread) ---- */

/* Socket lock held. */
SP_HOT static void deliver_batch_locked(struct sp_stream *s, struct sp_msgq *batch)
{
    SP_ASSERT_LOCKED(s->pipe.sock);
    struct sp_msg m;
    if (s->inq.count == 0) {
        /* The usual case under load: hand the whole batch over (its ring
           becomes inq's, inq's empty one the next batch's). */
        struct sp_msgq t = s->inq;
        s->inq = *batch;
        *batch = t;
    }
    while (sp_msgq_pop(batch, &m) == 0)
        if (sp_msgq_push(&s->inq, &m) != 0)
            sp_msg_term(&m);
    if (s->inq.bytes >= s->in_limit && !s->rd_paused) {
        s->rd_paused = true;
        set_events(s);
    }
    bool tell = s->inq.count && !s->in_told;
    if (tell) {
        s->in_told = true;
        sp_pipe_signal(&s->pipe, SP_EV_IN);
    }
}

/* The loop's deliveries: to a closing socket, nobody receives any more.
   Dropping what comes keeps the connection read, so that a peer stuck
   sending to us goes on reading what a lingering close still sends.
   (Callers that were reading when the close began deliver normally; they
   leave before the linger starts.) Socket lock held. */
static void deliver_from_loop(struct sp_stream *s, struct sp_msgq *batch)
{
    if (atomic_load_explicit(&s->pipe.sock->closing, memory_order_relaxed)) {
        struct sp_msg m;
        while (sp_msgq_pop(batch, &m) == 0)
            sp_msg_term(&m);
        return;
    }
    deliver_batch_locked(s, batch);
}

static void deliver_batch(struct sp_stream *s, struct sp_msgq *batch)
{
    struct sp_sock *sock = s->pipe.sock;
    sp_sock_lock(sock);
    deliver_from_loop(s, batch);
    sp_sock_unlock(sock);
}

/* Whether a large message (SP_LAND_LARGE) landed in a reading caller's
   buffer, which ends the read there: the caller's next recv, offering its
   own buffer, can take the next one straight from the kernel. A smaller one
   came through the read buffer with whatever followed it: reading on (into
   the queue, behind it) costs no copy, and a stream of small messages is
   still read a full buffer at a time. */
SP_HOT static bool landed_large(struct sp_stream *s)
{
    size_t len;
    return s->land && s->cfg->wire->land_state(s, &len) == 1 && len >= SP_LAND_LARGE;
}

/* Reads what the kernel has, decoding into rbatch. Sets *closed at the end
   of input and *bad on a wire violation. Reader claimed (rd_owner). */
SP_HOT static void read_some(struct sp_stream *s, bool *closed, bool *bad)
{
    struct sp_msgq *batch = &s->rbatch;
    *closed = *bad = false;
    for (int round = 0; round < SP_READ_ROUNDS; round++) {
        struct rspace r;
        rspace_get(s, &r);
        size_t room = r.room + r.tlen;
        ssize_t n = io_read_space(s, &r);
        if (n > 0) {
            if (s->cfg->wire->commit(s, (size_t) n, batch) != 0) {
                *bad = true;
                return;
            }
            /* A large message landed in the caller's buffer: it returns
               with it, and the next recv reads on (into its own buffer). */
            if (landed_large(s))
                return;
            /* Drained for now; but a byte layer may have met the end of
               the stream behind these bytes (a TLS close_notify the peer
               sent without closing the connection). */
            if ((size_t) n < room && !io_pending(s))
                return;
            continue;
        }
        if (n != -EAGAIN)
            *closed = true;
        return;
    }
    /* Out of rounds, with more to read: the fd says so again, but what the
       byte layer holds is for us to remember (after the other fds). */
    if (io_pending(s))
        sp_loop_post(&s->read_task);
}

/* Messages the loop decoded are handed to the sockets at the end of its
   round, all of one socket's connections under one lock: a socket with many
   busy connections (a PULL fed by 1000 PUSHes) otherwise takes its lock once
   per connection per round, against its receiving thread. Loop thread. */
static struct sp_list deliver_pending;
static struct sp_task deliver_round;

static void deliver_round_cb(struct sp_task *t)
{
    (void) t;
    while (!sp_list_empty(&deliver_pending)) {
        struct sp_stream *first = sp_cont(sp_list_first(&deliver_pending), struct sp_stream, deliver_item);
        struct sp_sock *sock = first->pipe.sock;
        sp_sock_lock(sock);
        sp_list_foreach_safe(&deliver_pending, it, tmp) {
            struct sp_stream *s = sp_cont(it, struct sp_stream, deliver_item);
            if (s->pipe.sock != sock)
                continue;
            sp_list_remove(&s->deliver_item);
            deliver_from_loop(s, &s->rbatch);
        }
        sp_sock_unlock(sock);
    }
}

static void deliver_later(struct sp_stream *s)
{
    if (sp_list_item_linked(&s->deliver_item))
        return;
    if (!deliver_round.cb) {
        sp_list_init(&deliver_pending);
        sp_task_init(&deliver_round, deliver_round_cb);
    }
    bool first = sp_list_empty(&deliver_pending);
    sp_list_push_back(&deliver_pending, &s->deliver_item);
    if (first)
        sp_loop_post(&deliver_round); /* runs after this round's events */
}

static void do_read(struct sp_stream *s)
{
    SP_ASSERT_LOOP();
    int none = SP_RD_NONE;
    if (!atomic_compare_exchange_strong(&s->rd_owner, &none, SP_RD_LOOP))
        return; /* a caller reads in its own thread (and has EPOLLIN off) */
    bool closed, bad;
    read_some(s, &closed, &bad);
    if (bad || closed) {
        /* Everything decoded goes out before the end of input. */
        if (sp_list_item_linked(&s->deliver_item))
            sp_list_remove(&s->deliver_item);
        if (s->rbatch.count)
            deliver_batch(s, &s->rbatch);
        atomic_store(&s->rd_owner, SP_RD_NONE);
        end_of_input(s);
        return;
    }
    /* A caller that takes over reading now (the token is free again) reads
       behind these messages under the socket lock and delivers them first.
       So rbatch is looked at before the token goes: after, only under the
       socket lock (deliver_round_cb). */
    bool decoded = s->rbatch.count > 0;
    atomic_store(&s->rd_owner, SP_RD_NONE);
    if (decoded)
        deliver_later(s);
}

static void read_task(struct sp_task *t)
{
    struct sp_stream *s = sp_cont(t, struct sp_stream, read_task);
    if (s->state == ST_ACTIVE && !s->draining && !s->rd_paused && io_pending(s))
        do_read(s);
}

static void eof_task(struct sp_task *t)
{
    struct sp_stream *s = sp_cont(t, struct sp_stream, eof_task);
    if (s->state == ST_ACTIVE)
        end_of_input(s);
}

/* ---- reading in a blocked caller's thread (socket lock held) ---- */

SP_HOT static int stream_wait_begin(struct sp_pipe *pipe, struct sp_land *land)
{
    struct sp_stream *s = sp_cont(pipe, struct sp_stream, pipe);
    SP_ASSERT_LOCKED(pipe->sock);
    /* Only in the steady state: pauses, drains and closes are the loop's.
       The wire may answer what it reads (WebSocket's pong, its close
       frame): sp_stream_send_raw queues it under the lock we hold. A byte
       layer (TLS) may write while it reads (an alert), but it does so
       itself, on the fd, under its own lock. */
    if (s->state != ST_ACTIVE || s->broken || s->draining || s->rd_paused ||
        s->rd_ended || s->inq.count || atomic_load_explicit(&s->rd_shut, memory_order_relaxed))
        return -ENOTSUP;
    int none = SP_RD_NONE;
    if (!atomic_compare_exchange_strong(&s->rd_owner, &none, SP_RD_CALLER))
        return -ENOTSUP; /* the loop is reading: it delivers soon */
    /* Not behind messages the loop decoded and has yet to deliver: a
       landed one would overtake them. */
    if (land && s->cfg->wire->land_offer && s->rbatch.count == 0) {
        s->land = land;
        s->cfg->wire->land_offer(s, land->buf, land->cap);
    }
    set_events(s); /* EPOLLIN off: the loop must not wake for our data */
    return s->fd;
}

/* The byte layer holds input (decrypted, or the end of the stream behind
   it) that the fd will not report: the caller reads it without waiting.
   Lock held, reads claimed by the caller. */
SP_HOT static bool stream_wait_ready(struct sp_pipe *pipe)
{
    return io_pending(sp_cont(pipe, struct sp_stream, pipe));
}

/* Reads what the kernel (and the byte layer) holds and delivers it, in the
   calling thread with the socket lock held, like a blocked caller's read
   but without waiting. For a connection nobody else is reading now; true
   when it delivered messages. */
static bool read_now(struct sp_stream *s)
{
    if (s->state != ST_ACTIVE || s->broken || s->draining || s->rd_paused || s->rd_ended)
        return false;
    int none = SP_RD_NONE;
    if (!atomic_compare_exchange_strong(&s->rd_owner, &none, SP_RD_CALLER))
        return false; /* the loop is reading: it delivers soon */
    bool closed, bad;
    read_some(s, &closed, &bad);
    bool got = s->rbatch.count > 0;
    if (got)
        deliver_batch_locked(s, &s->rbatch);
    atomic_store(&s->rd_owner, SP_RD_NONE);
    if (closed || bad) {
        s->rd_ended = true;
        sp_loop_post(&s->eof_task); /* ending the connection is the loop's job */
    }
    return got;
}

/* Lock held, after wait_begin: prepares a blocking read for read_wait. */
SP_HOT static bool stream_read_begin(struct sp_pipe *pipe)
{
    struct sp_stream *s = sp_cont(pipe, struct sp_stream, pipe);
    SP_ASSERT_LOCKED(pipe->sock);
    /* Messages the loop decoded just before we took the token are
       delivered at the end of its round: that wakes a poll (callerfd), but
       would not end a read. */
    if (!s->cfg->blocking_reads || s->rbatch.count || atomic_load_explicit(&s->rd_shut, memory_order_relaxed))
        return false;
    if (!s->fd_blocking) {
        /* Once per connection. Every other read and write passes
           MSG_DONTWAIT. The read timeout (any) makes a signal end the read
           with EINTR even under SA_RESTART, as it ends a poll; the read
           that times out is only retried. */
        struct timeval tv = {3600, 0};
        int fl = fcntl(s->fd, F_GETFL);
        if (fl < 0 || setsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0 ||
            fcntl(s->fd, F_SETFL, fl & ~O_NONBLOCK) != 0)
            return false;
        s->fd_blocking = true;
    }
    struct rspace r;
    rspace_get(s, &r);
    if (r.room == 0)
        return false; /* out of memory: poll, and read_some ends it */
    s->rd_buf = r.buf;
    s->rd_room = r.room;
    s->rd_tail = r.tail;
    s->rd_tlen = r.tlen;
    s->rd_blocking = true;
    s->rd_done = false;
    return true;
}

/* Lock not held; the read token (rd_owner) is the caller's, and the fd
   stays open until wait_end gives it back. */
SP_HOT static int stream_read_wait(struct sp_pipe *pipe)
{
    struct sp_stream *s = sp_cont(pipe, struct sp_stream, pipe);
    struct rspace r = {s->rd_buf, s->rd_tail, s->rd_room, s->rd_tlen};
    if (s->rd_lowat) {
        /* With a low mark the wait is a poll, not the read: a read counts
           the mark in bytes it copies, but the kernel wakes it only once
           that many more are queued behind those, which the body's rest
           may never bring; poll counts what is queued. */
        struct pollfd p = {.fd = s->fd, .events = POLLIN};
        if (poll(&p, 1, -1) < 0) {
            /* A signal (poll is never restarted), as a read's EINTR. */
            int perr = errno;
            s->rd_got = perr == EINTR ? -EINTR : -perr;
            s->rd_done = true;
            return perr == EINTR ? -EINTR : 0;
        }
    }
    ssize_t n = fd_read(s->fd, &r, 0);
    int err = errno;
    s->rd_got = n >= 0 ? n : (err == EAGAIN || err == EWOULDBLOCK) ? -EAGAIN : -err;
    s->rd_done = true;
    return n < 0 && err == EINTR ? -EINTR : 0;
}

/* Lock held. shutdown(SHUT_RD) is the one way to end another thread's
   blocking read: it wakes the reader and reads return 0 from then on. On
   TCP it sends nothing and the peer's sends go on being taken, so the
   connection still serves a lingering close; but it is not read any more
   (its input would read as ready for ever). */
static void stream_read_cancel(struct sp_pipe *pipe)
{
    struct sp_stream *s = sp_cont(pipe, struct sp_stream, pipe);
    SP_ASSERT_LOCKED(pipe->sock);
    if (!s->rd_blocking || atomic_load_explicit(&s->rd_shut, memory_order_relaxed))
        return;
    atomic_store(&s->rd_shut, true);
    shutdown(s->fd, SHUT_RD);
    if (s->state == ST_ACTIVE)
        set_events(s);
}

/* A caller waiting for the rest of a large body (one with a tail) longer
   than SP_LOWAT_MIN asks the kernel to wake it only once SP_LOWAT_MAX of it
   (or all of it, if less) has come (SO_RCVLOWAT), not at each piece the
   sender's writes bring: the sender's thread pays for each wake-up (on
   loopback it runs our side's TCP receive path in its own softirq, and the
   wake-up's IPI), and in a stream of large messages the receiver, faster
   than the sender, would otherwise sleep and be woken two or three times
   per MiB. The body's rest is on its way (its header said so), and the
   kernel also wakes the wait earlier when its buffer or the window runs
   short. Bounded, so that the receiver copies while the rest comes. Below
   SP_LOWAT_MIN (a 64 KiB message) the two setsockopt calls would cost more
   than they save. Raised when wait_end leaves the caller waiting for more
   (SP_WAIT_MORE), lowered by the wait_end that follows, whatever it finds:
   the loop's epoll and later polls go by it too. */
#define SP_LOWAT_MIN (64 * 1024)
#define SP_LOWAT_MAX (256 * 1024)

static void lowat_raise(struct sp_stream *s)
{
    if (!s->cfg->rcv_lowat)
        return;
    struct rspace r;
    rspace_get(s, &r);
    if (!r.tlen || r.room <= SP_LOWAT_MIN)
        return;
    int lowat = r.room < SP_LOWAT_MAX ? (int) r.room : SP_LOWAT_MAX;
    s->rd_lowat = setsockopt(s->fd, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof lowat) == 0;
}

SP_HOT static void lowat_lower(struct sp_stream *s)
{
    if (!s->rd_lowat)
        return;
    int one = 1;
    setsockopt(s->fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof one);
    s->rd_lowat = false;
}

SP_HOT static int stream_wait_end(struct sp_pipe *pipe, int revents, bool give_up)
{
    struct sp_stream *s = sp_cont(pipe, struct sp_stream, pipe);
    SP_ASSERT_LOCKED(pipe->sock);
    bool closed = false, bad = false;
    int ret = SP_WAIT_DONE;
    lowat_lower(s);
    bool blocked = s->rd_blocking && s->rd_done;
    s->rd_blocking = s->rd_done = false;
    size_t len;
    if (blocked) {
        /* What read_wait got (even when giving up: the kernel has let go of
           those bytes), then (the buffer full) whatever follows; but not
           past a message that landed in the caller's buffer: it returns
           with it, and the next recv reads on. */
        ssize_t n = s->rd_got;
        if (s->state != ST_ACTIVE) {
            /* Closed by the loop meanwhile: the bytes go with it. */
        } else if (n > 0) {
            if (s->cfg->wire->commit(s, (size_t) n, &s->rbatch) != 0)
                bad = true;
            else if ((size_t) n == s->rd_room + s->rd_tlen && !landed_large(s))
                read_some(s, &closed, &bad);
        } else if (n == 0) {
            closed = !atomic_load_explicit(&s->rd_shut, memory_order_relaxed);
        } else if (n != -EAGAIN && n != -EINTR) {
            closed = true;
        }
        if (s->state == ST_ACTIVE && s->rbatch.count)
            deliver_batch_locked(s, &s->rbatch);
    } else if (!give_up && s->state == ST_ACTIVE && (revents & (POLLIN | POLLHUP | POLLERR))) {
        read_some(s, &closed, &bad);
        if (s->rbatch.count)
            deliver_batch_locked(s, &s->rbatch);
    }
    if (s->land) {
        /* Input shut by read_cancel (the socket is closing) reads as
           nothing for ever: no more waiting for the rest there. */
        int st = s->cfg->wire->land_state(s, &len);
        if (st == 0 && !give_up && !closed && !bad && s->state == ST_ACTIVE &&
            !atomic_load_explicit(&s->rd_shut, memory_order_relaxed)) {
            lowat_raise(s);
            return SP_WAIT_MORE; /* the caller keeps reading (EPOLLIN stays off) */
        }
        if (st == 1) {
            s->land->len = len;
            ret = SP_WAIT_LANDED;
        }
        /* A part moves to a buffer of the connection's own. */
        if (s->cfg->wire->land_withdraw(s) != 0)
            bad = true;
        s->land = NULL;
    }
    atomic_store(&s->rd_owner, SP_RD_NONE);
    if (s->state != ST_ACTIVE) {
        /* Closed by the loop meanwhile: it waits for the store above. */
        sp_sock_notify(s->pipe.sock);
        return ret;
    }
    if (closed || bad) {
        /* Ending the connection is the loop's job; it reads the end of input
           again or the decoder's error, so leave EPOLLIN off until then. */
        s->rd_ended = true;
        sp_loop_post(&s->eof_task);
        return ret;
    }
    /* Lazy: while this is the socket's only pipe and nobody polls NN_RCVFD,
       the loop stays out of reading until the socket asks (wake_reader):
       a reply that arrives before the caller's next recv then waits in the
       kernel for that recv instead of waking the loop thread, which then
       wakes the caller (two thread switches per message on a shared CPU).
       Whatever asks about the socket without blocking (a NN_DONTWAIT recv
       that finds nothing, NN_RCVFD, nn_poll) wakes the reader, which first
       reads what the kernel already holds: a message that has arrived is
       never hidden by the laziness. */
    if (!s->rd_paused && may_be_lazy(s))
        go_lazy(s);
    else
        s->rd_lazy = false;
    set_events(s);
    /* A byte layer may hold the start of the next message (a TLS record
       that carried the end of this one and more): the next recv reads it
       (stream_wait_ready) if the pipe is lazy, else the loop must, as
       EPOLLIN will not tell it. */
    if (!s->rd_lazy && io_pending(s))
        sp_loop_post(&s->read_task);
    return ret;
}

SP_HOT static bool stream_wake_reader(struct sp_pipe *pipe)
{
    struct sp_stream *s = sp_cont(pipe, struct sp_stream, pipe);
    SP_ASSERT_LOCKED(pipe->sock);
    if (!s->rd_lazy)
        return false;
    s->rd_lazy = false;
    if (s->state != ST_ACTIVE)
        return false;
    bool got = read_now(s);
    set_events(s); /* the loop reads from now on */
    return got;
}

/* The loop's share of writing: what piled up while the kernel was full or
   during a burst. Loop thread. */
static void write_from_loop(struct sp_stream *s)
{
    struct sp_sock *sock = s->pipe.sock;
    sp_sock_lock(sock);
    if (s->state == ST_ACTIVE) {
        s->last_write_ns = sp_clock_ns();
        flush_out(s);
        out_room_check(s);
        if (!s->broken)
            set_events(s);
    }
    sp_sock_unlock(sock);
}

static void flush_task(struct sp_task *t)
{
    write_from_loop(sp_cont(t, struct sp_stream, flush_task));
}

static void stream_io(struct sp_io *io, uint32_t ev)
{
    struct sp_stream *s = sp_cont(io, struct sp_stream, io);
    if (s->state == ST_BIO_HS || s->state == ST_HANDSHAKE || s->state == ST_HS_DONE) {
        handshake(s, ev);
        return;
    }
    if (s->state != ST_ACTIVE)
        return;
    if (ev & EPOLLOUT)
        write_from_loop(s);
    if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP)) {
        /* While reading is paused only errors and hang-ups bring us here:
           look anyway, a closed peer must be noticed. */
        if (s->rd_paused && !(ev & (EPOLLERR | EPOLLHUP | EPOLLRDHUP)))
            return;
        do_read(s);
    }
}
