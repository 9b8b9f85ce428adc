/* The pgm and epgm transports: an SP socket in a multicast group, through
   one OpenPGM session per endpoint (pgmsock) driven by the library's event
   loop, and the SP-over-PGM framing of nn_pgm(7) (pgmenc, pgmdec).

   Pipes. An endpoint of a socket that sends (PUB, BUS) has one send-only
   pipe to its group, attached at nn_bind/nn_connect. An endpoint of a socket
   that receives (SUB, BUS) gives each remote sender (PGM transport session
   id) a receive-only pipe at the first datagram that names its protocol; the
   core then checks that protocol (a SUB ignores a BUS). A sender silent for
   NN_PGM_PEER_EXPIRY loses its pipe, once the socket has received what was
   queued on it.

   Warm-up. OpenPGM can ask a sender for a repair only once one of its SPMs
   gave the sender's address; a loss before that is unrecoverable at once
   (pgmsock.h). A new sender's messages are therefore held for
   PGM_WARMUP_MS, by which time its ambient SPMs have arrived: a loss in
   that time only moves the receiver's start to the first message after it
   (dropping what was held before it, uncounted, as for a late joiner), so
   that what the application gets from a sender is consecutive from its
   first message on, and a later loss can be repaired.

   Never blocking. Multicast cannot push back, so neither queue does: a send
   finding more than NN_SNDBUF bytes waiting for the rate limit, and a
   message finding more than NN_RCVBUF bytes queued from its sender, are
   dropped and counted (NN_STAT_MESSAGES_DROPPED). A message cut by a loss
   that could not be repaired is dropped whole (NN_STAT_MESSAGES_LOST).

   Threads and locks. OpenPGM, the encoder, the decoders and the watched
   events belong to the loop thread. A sender's thread (socket lock held)
   only appends to the endpoint's inbox, under the endpoint's mutex, and
   wakes the loop when the inbox was empty; the loop takes the whole inbox
   at once. (An earlier version called OpenPGM from the sender's thread
   under that mutex: a sender in a tight loop then held it nearly all the
   time, and the loop thread, which serves every endpoint of the process,
   stalled on it and its receivers overflowed.) The mutex is a leaf: nothing
   is locked while it is held. Each receive pipe's queue belongs to the
   socket lock. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <nanomsg/bus.h>
#include <nanomsg/pgm.h>
#include <nanomsg/pubsub.h>

#include "aio/loop.h"
#include "core/ep.h"
#include "core/pipe.h"
#include "core/sock.h"
#include "pgm/pgmdec.h"
#include "pgm/pgmenc.h"
#include "pgm/pgmopts.h"
#include "pgm/pgmsock.h"
#include "pgm/pgmurl.h"
#include "protocol.h"
#include "transport.h"
#include "utils/clock.h"
#include "utils/list.h"

/* A new sender's messages are held this long: three of its ambient SPMs,
   and time for them to cross a loaded host. */
#define PGM_WARMUP_MS (3u * SP_PGMSOCK_AMBIENT_SPM_MS + 100u)
/* How often the loop looks for expired senders while it has any: a tenth
   of NN_PGM_PEER_EXPIRY, within these bounds. */
#define PGM_PEER_SCAN_MIN_MS 100u
#define PGM_PEER_SCAN_MAX_MS (10u * 1000u)
/* While the application has set neither NN_SNDBUF nor NN_RCVBUF, each queue
   of an endpoint holds at least what NN_PGM_RATE carries in this time (2 MB
   at the default rate). On tcp the kernel's socket buffers, autotuned to
   megabytes, take what a 128 KiB queue cannot while a thread is held up;
   multicast has none to speak of, the rate limit being ours. 128 KiB covers
   13 ms at 10 MB/s: a PUB sending 10 MB/s steadily on a loaded 2-CPU host
   dropped 5 to 215 of 50,000 messages in most runs, its loop thread or its
   application thread having waited that long for a CPU. libzmq's default
   high-water mark, 1000 messages, holds 100 ms of them. */
#define PGM_AUTO_QUEUE_MS 100u
/* A receiver hands a sender's messages to its pipe at the end of each
   service call, and also whenever this much has been decoded (on_data). */
#define PGM_DELIVER_BYTES (16u * 1024u)

struct pgm_ep;

/* A remote sender, as a receive-only pipe. */
struct pgm_peer {
    struct sp_pipe pipe;
    uint64_t tsi;
    struct sp_list_item item;    /* in pgm_ep.peers (loop thread) */
    /* loop thread */
    struct sp_pgmdec dec;
    struct sp_msgq batch;        /* decoded, not yet delivered */
    uint64_t lost_told;          /* dec.st.lost already counted */
    uint64_t last_ms;            /* its last datagram */
    uint64_t warm_ms;            /* when its warm-up ends */
    uint64_t syncs_seen;         /* dec.st.syncs at the last datagram */
    bool warm;                   /* warm-up over: its messages are delivered */
    bool dirty;                  /* on the round's delivery list */
    bool joined;                 /* its pipe is attached */
    bool refused;                /* the socket does not talk to it: ignored */
    struct pgm_peer *next_dirty;
    /* socket lock */
    struct sp_msgq inq;
    bool in_told;                /* SP_EV_IN signalled, not yet drained */
};

struct pgm_ep {
    struct sp_ep *ep;
    atomic_int refs;             /* the endpoint, and its send pipe */
    struct sp_task stop_task;
    struct sp_task fail_task;    /* undoes a bind that failed half-way */
    struct sp_task pump_task;    /* the inbox got messages */
    struct sp_task start_task;   /* registers the descriptors and the timer */
    int start_rc;
    /* mtx */
    pthread_mutex_t mtx;
    bool stopped;
    struct sp_msgq inbox;        /* sent, not yet taken by the loop */
    /* What the loop still holds (encoder backlog, a datagram the rate held
       back): written by the loop, read by senders for NN_SNDBUF. */
    atomic_size_t backlog;
    atomic_bool held;
    /* loop thread */
    struct sp_pgmsock *s;
    struct sp_pgmenc enc;
    bool enc_ok;
    int nio;
    struct pgm_io {
        struct sp_io io;
        struct pgm_ep *pe;
    } io[SP_PGMSOCK_MAXFDS];
    struct sp_timer timer;
    /* fixed at nn_bind/nn_connect */
    int roles;
    size_t sndbuf;
    size_t rcvbuf;
    bool has_spipe;
    struct sp_pipe spipe;        /* SP_PGMSOCK_SEND: the send-only pipe */
    /* loop thread */
    struct sp_list peers;
    int npeers;
    int nwarming;                /* peers still in their warm-up */
    uint64_t next_warm_ms;       /* the first warm-up to end */
    uint64_t expiry_ms;          /* NN_PGM_PEER_EXPIRY */
    uint64_t scan_ivl_ms;
    uint64_t next_scan_ms;
    struct pgm_peer *dirty;
};

static void pe_unref(struct pgm_ep *pe)
{
    if (atomic_fetch_sub(&pe->refs, 1) != 1)
        return;
    if (pe->enc_ok)
        sp_pgmenc_term(&pe->enc);
    sp_msgq_term(&pe->inbox);
    pthread_mutex_destroy(&pe->mtx);
    free(pe);
}

/* ---- sending (loop thread) ---- */

/* Hands OpenPGM every datagram it takes now, after moving the inbox into
   the encoder. Partly filled datagrams go too (the sender is idle as long
   as OpenPGM takes them); while the rate limit holds one back, messages
   pile up into full datagrams behind it. */
static void pump(struct pgm_ep *pe)
{
    if (!pe->enc_ok)
        return;
    struct sp_msgq in;
    sp_msgq_init(&in);
    pthread_mutex_lock(&pe->mtx);
    struct sp_msgq t = pe->inbox;
    pe->inbox = in;
    in = t;
    pthread_mutex_unlock(&pe->mtx);
    struct sp_msg m;
    int dropped = 0;
    while (sp_msgq_pop(&in, &m) == 0) {
        if (sp_pgmenc_push(&pe->enc, &m) != 0) {
            sp_msg_term(&m);
            dropped++;
        }
    }
    sp_msgq_term(&in);
    if (dropped)
        sp_ep_stat(pe->ep, SP_STAT_MESSAGES_DROPPED, dropped);
    while (!sp_pgmsock_send_blocked(pe->s)) {
        const uint8_t *dg;
        size_t len;
        if (!sp_pgmenc_next(&pe->enc, true, &dg, &len))
            break;
        int rc = sp_pgmsock_send(pe->s, dg, len);
        if (rc == -EAGAIN)
            break;
        /* 0, or a failure OpenPGM already reported (the datagram is gone:
           its messages are lost at every receiver, which counts them). */
        sp_pgmenc_sent(&pe->enc);
    }
    atomic_store(&pe->backlog, sp_pgmenc_backlog(&pe->enc));
    atomic_store(&pe->held, sp_pgmsock_send_blocked(pe->s));
}

static uint64_t peer_scan_delay(struct pgm_ep *pe)
{
    uint64_t now = sp_clock_ms();
    return pe->next_scan_ms > now ? pe->next_scan_ms - now : 0;
}

/* Refreshes the watched events and the timer after OpenPGM was called. */
static void rearm(struct pgm_ep *pe, bool have_peers)
{
    struct sp_pgmsock_fd fds[SP_PGMSOCK_MAXFDS];
    int n = sp_pgmsock_fds(pe->s, fds);
    for (int i = 0; i < n && i < pe->nio; i++)
        sp_io_set(&pe->io[i].io, fds[i].events);
    int t = sp_pgmsock_timeout(pe->s);
    uint64_t delay = t < 0 ? UINT64_MAX : (uint64_t) t;
    if (have_peers) {
        uint64_t scan = peer_scan_delay(pe);
        if (scan < delay)
            delay = scan;
    }
    if (pe->nwarming > 0) {
        uint64_t now = sp_clock_ms();
        uint64_t warm = pe->next_warm_ms > now ? pe->next_warm_ms - now : 0;
        if (warm < delay)
            delay = warm;
    }
    if (delay == UINT64_MAX)
        sp_timer_stop(&pe->timer);
    else
        sp_timer_start(&pe->timer, delay);
}

/* Any thread. */
static bool backlog_unsent(struct pgm_ep *pe)
{
    pthread_mutex_lock(&pe->mtx);
    bool u = !pe->stopped && pe->has_spipe &&
             (pe->inbox.count > 0 || atomic_load(&pe->backlog) > 0 || atomic_load(&pe->held));
    pthread_mutex_unlock(&pe->mtx);
    return u;
}

/* ---- the send-only pipe ---- */

static int spipe_send(struct sp_pipe *pipe, struct sp_msg *msg)
{
    struct pgm_ep *pe = sp_cont(pipe, struct pgm_ep, spipe);
    bool dropped = false, wake = false;
    pthread_mutex_lock(&pe->mtx);
    if (pe->stopped) {
        sp_msg_term(msg);
        pthread_mutex_unlock(&pe->mtx);
        return 0;
    }
    /* A message always goes when nothing waits, whatever its size. */
    size_t backlog = pe->inbox.bytes + atomic_load(&pe->backlog);
    if ((backlog > 0 && backlog + sp_msg_wirelen(msg) > pe->sndbuf) || sp_msgq_push(&pe->inbox, msg) != 0) {
        sp_msg_term(msg);
        dropped = true;
    } else {
        wake = pe->inbox.count == 1;
    }
    pthread_mutex_unlock(&pe->mtx);
    if (wake)
        sp_loop_post(&pe->pump_task);
    if (dropped)
        sp_sock_stat_add(pipe->sock, SP_STAT_MESSAGES_DROPPED, 1);
    /* Never SP_PIPE_RELEASE: a multicast sender drops instead of blocking. */
    return 0;
}

static int spipe_recv(struct sp_pipe *pipe, struct sp_msg *msg)
{
    (void) pipe;
    (void) msg;
    return -EAGAIN; /* SP_PIPE_NORECV: never called */
}

static void spipe_destroy(struct sp_pipe *pipe)
{
    pe_unref(sp_cont(pipe, struct pgm_ep, spipe));
}

/* nn_close lingers while the rate limit holds messages back. */
static bool spipe_unsent(struct sp_pipe *pipe)
{
    return backlog_unsent(sp_cont(pipe, struct pgm_ep, spipe));
}

static const struct sp_pipe_ops spipe_ops = {
    .send = spipe_send,
    .recv = spipe_recv,
    .destroy = spipe_destroy,
    .unsent = spipe_unsent,
};

/* ---- receive-only pipes ---- */

static int peer_recv(struct sp_pipe *pipe, struct sp_msg *msg)
{
    struct pgm_peer *p = sp_cont(pipe, struct pgm_peer, pipe);
    if (sp_msgq_pop(&p->inq, msg) != 0) {
        p->in_told = false;
        return -EAGAIN;
    }
    if (p->inq.count == 0) {
        p->in_told = false;
        return SP_PIPE_RELEASE;
    }
    return 0;
}

static int peer_send(struct sp_pipe *pipe, struct sp_msg *msg)
{
    (void) pipe;
    sp_msg_term(msg); /* SP_PIPE_NOSEND: never called */
    return 0;
}

static void peer_destroy(struct sp_pipe *pipe)
{
    struct pgm_peer *p = sp_cont(pipe, struct pgm_peer, pipe);
    sp_pgmdec_term(&p->dec);
    sp_msgq_term(&p->batch);
    sp_msgq_term(&p->inq);
    free(p);
}

static const struct sp_pipe_ops peer_ops = {
    .send = peer_send,
    .recv = peer_recv,
    .destroy = peer_destroy,
};

/* ---- the loop's side ---- */

static struct pgm_peer *peer_find(struct pgm_ep *pe, uint64_t tsi)
{
    sp_list_foreach(&pe->peers, it) {
        struct pgm_peer *p = sp_cont(it, struct pgm_peer, item);
        if (p->tsi == tsi)
            return p;
    }
    return NULL;
}

static int64_t rcvmaxsize(struct pgm_ep *pe)
{
    return atomic_load_explicit(&pe->ep->sock->opt.rcvmaxsize, memory_order_relaxed);
}

static void mark_dirty(struct pgm_ep *pe, struct pgm_peer *p)
{
    if (p->dirty)
        return;
    p->dirty = true;
    p->next_dirty = pe->dirty;
    pe->dirty = p;
}

static struct pgm_peer *peer_new(struct pgm_ep *pe, uint64_t tsi)
{
    struct pgm_peer *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    sp_pipe_init(&p->pipe, &peer_ops, pe->ep);
    p->pipe.flags = SP_PIPE_NOSEND;
    p->tsi = tsi;
    sp_pgmdec_init(&p->dec, rcvmaxsize(pe));
    sp_msgq_init(&p->batch);
    sp_msgq_init(&p->inq);
    sp_list_push_back(&pe->peers, &p->item);
    pe->npeers++;
    p->warm_ms = sp_clock_ms() + PGM_WARMUP_MS;
    if (pe->nwarming++ == 0 || p->warm_ms < pe->next_warm_ms)
        pe->next_warm_ms = p->warm_ms;
    return p;
}

/* Warm-up: the first n messages of the batch came before a gap. They are
   not the receiver's: its stream from this sender starts after the gap. */
static void drop_front(struct pgm_peer *p, size_t n)
{
    struct sp_msg m;
    while (n-- > 0 && sp_msgq_pop(&p->batch, &m) == 0)
        sp_msg_term(&m);
}

/* Warm-up ends for the peers whose time has come: what they hold is
   delivered. */
static void warm_peers(struct pgm_ep *pe)
{
    uint64_t now = sp_clock_ms();
    if (now < pe->next_warm_ms)
        return;
    uint64_t next = UINT64_MAX;
    sp_list_foreach(&pe->peers, it) {
        struct pgm_peer *p = sp_cont(it, struct pgm_peer, item);
        if (p->warm)
            continue;
        if (now < p->warm_ms) {
            if (p->warm_ms < next)
                next = p->warm_ms;
            continue;
        }
        p->warm = true;
        pe->nwarming--;
        p->lost_told = p->dec.st.lost; /* nothing before its start counts */
        if (p->batch.count)
            mark_dirty(pe, p);
    }
    pe->next_warm_ms = next;
}

static void count_lost(struct pgm_ep *pe, struct pgm_peer *p)
{
    if (p->dec.st.lost != p->lost_told) {
        sp_ep_stat(pe->ep, SP_STAT_MESSAGES_LOST, (int) (p->dec.st.lost - p->lost_told));
        p->lost_told = p->dec.st.lost;
    }
}

static void deliver(struct pgm_ep *pe, struct pgm_peer *p);

static void on_data(void *arg, uint64_t tsi, const uint8_t *dg, size_t len)
{
    struct pgm_ep *pe = arg;
    struct pgm_peer *p = peer_find(pe, tsi);
    if (!p && !(p = peer_new(pe, tsi)))
        return; /* out of memory: as if lost; its next datagram tries again */
    p->last_ms = sp_clock_ms();
    if (p->refused)
        return;
    /* NN_RCVMAXSIZE as it stands now, from the next message on. */
    sp_pgmdec_set_maxsize(&p->dec, rcvmaxsize(pe));
    size_t before = p->batch.count;
    uint64_t lost = p->dec.st.lost;
    (void) sp_pgmdec_put(&p->dec, dg, len, &p->batch);
    if (p->warm) {
        count_lost(pe, p);
    } else {
        /* A message cut, or a resynchronisation: what came before is not
           consecutive with what follows. */
        if (p->dec.st.lost != lost || p->dec.st.syncs != p->syncs_seen)
            drop_front(p, before);
        p->lost_told = p->dec.st.lost;
        /* Held within NN_RCVBUF: the start moves forward. */
        while (p->batch.count > 1 && p->batch.bytes > pe->rcvbuf)
            drop_front(p, 1);
    }
    p->syncs_seen = p->dec.st.syncs;
    if ((p->warm && p->batch.count) || (!p->joined && sp_pgmdec_proto(&p->dec) >= 0))
        mark_dirty(pe, p);
    /* A loop that was held up finds many datagrams waiting, and one service
       call reads up to SP_PGMSOCK_BUDGET of them (370 KB): handed over only
       at its end, they would overflow NN_RCVBUF while the application,
       waiting on another CPU, could have been taking them. */
    if (p->joined && p->warm && p->batch.bytes >= PGM_DELIVER_BYTES)
        deliver(pe, p);
}

static void on_reset(void *arg, uint64_t tsi)
{
    struct pgm_ep *pe = arg;
    struct pgm_peer *p = peer_find(pe, tsi);
    if (!p)
        return;
    uint64_t before = p->dec.st.lost;
    sp_pgmdec_gap(&p->dec);
    if (!p->warm) {
        /* Before the receiver's start: what it held goes, uncounted. */
        drop_front(p, p->batch.count);
        p->lost_told = p->dec.st.lost;
        return;
    }
    /* Data of at least one message is gone, even if none was in progress
       (the lost datagrams may have held whole messages). */
    if (p->dec.st.lost == before)
        p->dec.st.lost++;
    count_lost(pe, p);
}

static const struct sp_pgmsock_handler handler = {.data = on_data, .reset = on_reset};

static void peer_remove(struct pgm_ep *pe, struct pgm_peer *p)
{
    pe->npeers--;
    if (!p->warm)
        pe->nwarming--;
    sp_list_remove(&p->item);
    sp_pipe_detach(&p->pipe, -1);
    sp_pipe_rele(&p->pipe);
}

/* Hands a sender's decoded messages to its pipe (attaching it first, at its
   first message). No lock held. */
static void deliver(struct pgm_ep *pe, struct pgm_peer *p)
{
    struct sp_msg m;
    if (!p->joined && !p->refused) {
        p->pipe.peer_protocol = sp_pgmdec_proto(&p->dec);
        if (sp_pipe_attach(&p->pipe) == 0)
            p->joined = true;
        else
            p->refused = true; /* not our peer protocol, or the socket closes */
    }
    if (p->refused) {
        while (sp_msgq_pop(&p->batch, &m) == 0)
            sp_msg_term(&m);
        return;
    }
    if (!p->warm || !p->batch.count)
        return;
    struct sp_sock *sock = pe->ep->sock;
    int dropped = 0;
    sp_sock_lock(sock);
    bool closing = atomic_load_explicit(&sock->closing, memory_order_relaxed);
    while (sp_msgq_pop(&p->batch, &m) == 0) {
        /* Nobody receives from a closing socket; a full queue drops (a
           message always fits an empty one). */
        if (closing || (p->inq.count && p->inq.bytes + sp_msg_wirelen(&m) > pe->rcvbuf) ||
            sp_msgq_push(&p->inq, &m) != 0) {
            sp_msg_term(&m);
            dropped += !closing;
        }
    }
    if (p->inq.count && !p->in_told) {
        p->in_told = true;
        sp_pipe_signal(&p->pipe, SP_EV_IN);
    }
    sp_sock_unlock(sock);
    if (dropped)
        sp_ep_stat(pe->ep, SP_STAT_MESSAGES_DROPPED, dropped);
}

/* Drops the pipes of senders gone silent, once what they sent is read. */
static void scan_peers(struct pgm_ep *pe)
{
    uint64_t now = sp_clock_ms();
    if (now < pe->next_scan_ms)
        return;
    pe->next_scan_ms = now + pe->scan_ivl_ms;
    struct sp_sock *sock = pe->ep->sock;
    for (struct sp_list_item *it = pe->peers.head.next, *nx; it != &pe->peers.head; it = nx) {
        nx = it->next;
        struct pgm_peer *p = sp_cont(it, struct pgm_peer, item);
        if (now - p->last_ms < pe->expiry_ms)
            continue;
        sp_sock_lock(sock);
        bool empty = p->inq.count == 0;
        sp_sock_unlock(sock);
        if (empty)
            peer_remove(pe, p);
    }
}

/* Whatever woke the loop: OpenPGM's descriptors or its timer, or messages
   to send. */
static void service(struct pgm_ep *pe, bool read)
{
    SP_ASSERT_LOOP();
    if (!pe->s)
        return; /* stopped */
    bool unsent_before = pe->has_spipe && backlog_unsent(pe);
    if (read)
        sp_pgmsock_service(pe->s, (pe->roles & SP_PGMSOCK_RECV) ? &handler : NULL, pe);
    if (pe->nwarming > 0)
        warm_peers(pe);
    pump(pe);
    rearm(pe, pe->npeers > 0);

    while (pe->dirty) {
        struct pgm_peer *p = pe->dirty;
        pe->dirty = p->next_dirty;
        p->dirty = false;
        deliver(pe, p);
    }
    if (pe->npeers > 0)
        scan_peers(pe);
    /* A lingering nn_close waits for the backlog to go out. */
    struct sp_sock *sock = pe->ep->sock;
    if (unsent_before && atomic_load_explicit(&sock->closing, memory_order_relaxed)) {
        bool unsent_after = backlog_unsent(pe);
        sp_sock_lock(sock);
        sock->progress_ms = sp_clock_ms();
        if (!unsent_after)
            sp_sock_notify(sock);
        sp_sock_unlock(sock);
    }
}

static void on_io(struct sp_io *io, uint32_t revents)
{
    (void) revents;
    service(sp_cont(io, struct pgm_io, io)->pe, true);
}

static void on_timer(struct sp_timer *t)
{
    service(sp_cont(t, struct pgm_ep, timer), true);
}

static void pump_task(struct sp_task *t)
{
    service(sp_cont(t, struct pgm_ep, pump_task), false);
}

/* ---- stopping ---- */

/* Loop thread: leaves the group and takes every pipe away. */
static void teardown(struct pgm_ep *pe)
{
    SP_ASSERT_LOOP();
    pthread_mutex_lock(&pe->mtx);
    pe->stopped = true;
    pthread_mutex_unlock(&pe->mtx);
    sp_loop_cancel(&pe->pump_task);
    for (int i = 0; i < pe->nio; i++)
        sp_io_del(&pe->io[i].io);
    pe->nio = 0;
    sp_timer_stop(&pe->timer);
    struct sp_pgmsock *s = pe->s;
    pe->s = NULL;
    if (pe->has_spipe)
        sp_pipe_detach(&pe->spipe, -1);
    while (!sp_list_empty(&pe->peers))
        peer_remove(pe, sp_cont(pe->peers.head.next, struct pgm_peer, item));
    pe->dirty = NULL;
    sp_pgmsock_close(s);
}

static void stop_task(struct sp_task *t)
{
    struct pgm_ep *pe = sp_cont(t, struct pgm_ep, stop_task);
    struct sp_ep *ep = pe->ep;
    teardown(pe);
    if (pe->has_spipe)
        sp_pipe_rele(&pe->spipe); /* its destroy drops its reference */
    pe_unref(pe);
    sp_ep_stopped(ep);
}

static void fail_task(struct sp_task *t)
{
    teardown(sp_cont(t, struct pgm_ep, fail_task));
}

static void start_task(struct sp_task *t)
{
    struct pgm_ep *pe = sp_cont(t, struct pgm_ep, start_task);
    struct sp_pgmsock_fd fds[SP_PGMSOCK_MAXFDS];
    int n = sp_pgmsock_fds(pe->s, fds);
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        pe->io[i].pe = pe;
        rc = sp_io_add(&pe->io[i].io, fds[i].fd, fds[i].events, on_io);
        if (rc == 0)
            pe->nio++;
    }
    if (rc == 0)
        rearm(pe, false);
    pe->start_rc = rc;
}

static void pgm_ep_stop(struct sp_ep *ep)
{
    struct pgm_ep *pe = ep->tpdata;
    sp_loop_post(&pe->stop_task);
}

static const struct sp_ep_ops pgm_ep_ops = {.stop = pgm_ep_stop};

/* ---- nn_bind, nn_connect ---- */

static const struct sp_optset pgm_optset;

static int roles_of(const struct sp_socktype *type)
{
    switch (type->protocol) {
    case NN_PUB:
        return SP_PGMSOCK_SEND;
    case NN_SUB:
        return SP_PGMSOCK_RECV;
    default: /* NN_BUS: every member sends and receives */
        return SP_PGMSOCK_SEND | SP_PGMSOCK_RECV;
    }
}

/* Both join the group: there is no listener in multicast. */
static int pgm_start(struct sp_ep *ep, bool udp)
{
    const struct sp_pgmopts *o = sp_ep_opts(ep, &pgm_optset);
    struct sp_pgmurl u;
    int rc = sp_pgmurl_parse(&u, udp, ep->addr);
    if (rc == 0)
        rc = sp_pgmopts_check(o);
    if (rc == 0)
        rc = sp_pgmurl_resolve(&u, NULL);
    if (rc == 0)
        rc = sp_loop_start();
    if (rc != 0)
        return rc;

    struct pgm_ep *pe = calloc(1, sizeof *pe);
    if (!pe)
        return -ENOMEM;
    pe->ep = ep;
    atomic_init(&pe->refs, 1);
    pthread_mutex_init(&pe->mtx, NULL);
    sp_task_init(&pe->stop_task, stop_task);
    sp_task_init(&pe->fail_task, fail_task);
    sp_task_init(&pe->pump_task, pump_task);
    sp_task_init(&pe->start_task, start_task);
    sp_msgq_init(&pe->inbox);
    sp_timer_init(&pe->timer, on_timer);
    sp_list_init(&pe->peers);
    pe->roles = roles_of(ep->sock->type);
    struct sp_connopts co;
    sp_ep_connopts(ep, &co);
    pe->sndbuf = (size_t) co.sndbuf;
    pe->rcvbuf = (size_t) co.rcvbuf;
    if (!co.bufs_set) {
        size_t q = (size_t) ((uint64_t) o->rate * PGM_AUTO_QUEUE_MS / 1000u);
        if (pe->sndbuf < q)
            pe->sndbuf = q;
        if (pe->rcvbuf < q)
            pe->rcvbuf = q;
    }
    pe->expiry_ms = (uint64_t) o->peer_expiry;
    pe->scan_ivl_ms = pe->expiry_ms / 10u;
    if (pe->scan_ivl_ms < PGM_PEER_SCAN_MIN_MS)
        pe->scan_ivl_ms = PGM_PEER_SCAN_MIN_MS;
    if (pe->scan_ivl_ms > PGM_PEER_SCAN_MAX_MS)
        pe->scan_ivl_ms = PGM_PEER_SCAN_MAX_MS;
    pe->next_scan_ms = sp_clock_ms() + pe->scan_ivl_ms;

    char detail[256] = "";
    rc = sp_pgmsock_open(&pe->s, &u, o, pe->roles, detail, sizeof detail);
    if (rc != 0) {
        if (detail[0])
            sp_ep_report(ep, -rc, detail);
        pe_unref(pe);
        return rc;
    }
    if (pe->roles & SP_PGMSOCK_SEND) {
        rc = sp_pgmenc_init(&pe->enc, ep->sock->type->protocol, sp_pgmsock_maxdgram(pe->s));
        if (rc != 0) {
            sp_pgmsock_close(pe->s);
            pe_unref(pe);
            return rc;
        }
        pe->enc_ok = true;
        /* A group has no one peer: each receiver checks us on its side. */
        sp_pipe_init(&pe->spipe, &spipe_ops, ep);
        pe->spipe.flags = SP_PIPE_NORECV;
        pe->spipe.peer_protocol = ep->sock->type->peer;
        pe->spipe.attach_stat = -1;
        atomic_fetch_add(&pe->refs, 1);
        pe->has_spipe = true;
        rc = sp_pipe_attach(&pe->spipe);
        if (rc != 0) {
            pe->has_spipe = false;
            sp_pipe_rele(&pe->spipe);
            sp_pgmsock_close(pe->s);
            pe_unref(pe);
            return rc;
        }
    }
    ep->ops = &pgm_ep_ops;
    ep->tpdata = pe;

    /* The loop owns the descriptors and the timer from the start. */
    sp_loop_post(&pe->start_task);
    sp_loop_sync();
    if (pe->start_rc != 0) {
        rc = pe->start_rc;
        sp_loop_post(&pe->fail_task);
        sp_loop_sync();
        if (pe->has_spipe)
            sp_pipe_rele(&pe->spipe);
        pe_unref(pe);
        return rc;
    }
    return 0;
}

static int pgm_bind(struct sp_ep *ep)
{
    return pgm_start(ep, false);
}

static int pgm_connect(struct sp_ep *ep)
{
    return pgm_start(ep, false);
}

static int epgm_bind(struct sp_ep *ep)
{
    return pgm_start(ep, true);
}

static int epgm_connect(struct sp_ep *ep)
{
    return pgm_start(ep, true);
}

/* ---- the NN_PGM options: read at nn_bind/nn_connect only ---- */

static void pgm_opts_init(void *opts)
{
    sp_pgmopts_init(opts);
}

static int pgm_opts_set(void *opts, int option, const void *val, size_t len)
{
    return sp_pgmopts_set(opts, option, val, len);
}

static int pgm_opts_get(const void *opts, int option, void *val, size_t *len)
{
    return sp_pgmopts_get(opts, option, val, len);
}

static const struct sp_optset pgm_optset = {
    .level = NN_PGM,
    .size = sizeof(struct sp_pgmopts),
    .init = pgm_opts_init,
    .set = pgm_opts_set,
    .get = pgm_opts_get,
};

static const struct sp_optset *const pgm_optsets[] = {&pgm_optset, NULL};

/* Publish/subscribe and the bus, raw and cooked: the patterns that make
   sense one-to-many without a reply path. */
static const int pgm_protocols[] = {NN_PUB, NN_SUB, NN_BUS, 0};

const struct sp_transport sp_pgm_transport = {
    .scheme = "pgm",
    .id = NN_PGM,
    .optsets = pgm_optsets,
    .protocols = pgm_protocols,
    .bind = pgm_bind,
    .connect = pgm_connect,
};

const struct sp_transport sp_epgm_transport = {
    .scheme = "epgm",
    .id = NN_PGM,
    .optsets = pgm_optsets,
    .protocols = pgm_protocols,
    .bind = epgm_bind,
    .connect = epgm_connect,
};
