/* The inproc transport connects sockets of one process without any thread or
   fd: each connection is a pair of pipes with a lock-free message ring per
   direction, bounded by the receiver's NN_RCVBUF (the first message always
   fits, and a sender gets one more message in while the queue is full).
   Connecting before binding is allowed; connectors re-attach when a new
   binder appears.

   The sending socket's lock orders the pushes into a ring, the receiving
   socket's lock its pops; the two sides meet only in the ring's counts and
   in two flags with a Dekker-style handshake (set the flag, full fence,
   re-check the ring; the side that clears a set flag owes the signal):
   - reader_asleep: the receiver found the ring empty and released the pipe;
     the next push signals SP_EV_IN;
   - writer_blocked: the sender went over NN_RCVBUF and released the pipe;
     the pop that makes room signals SP_EV_OUT.
   So a steady stream costs no lock and no signal per message. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <nanomsg/inproc.h>

#include "core/chunk.h"
#include "core/ep.h"
#include "core/msgring.h"
#include "core/pipe.h"
#include "aio/loop.h"
#include "core/sock.h"
#include "transport.h"

struct inproc_ep;
struct inproc_conn;

/* One side of a connection: the pipe its socket sees and its receive ring. */
struct inproc_half {
    struct sp_pipe pipe;
    struct inproc_conn *conn;
    struct inproc_ep *iep;       /* owning endpoint (registry lock) */
    struct sp_list_item item;    /* in iep->conns (registry lock) */
    struct sp_msgring q;         /* messages waiting to be received here */
    size_t rcvbuf;               /* byte limit of q */
    _Alignas(64) atomic_bool reader_asleep;
    _Alignas(64) atomic_bool writer_blocked; /* the peer's sends into q */
    atomic_bool gone;            /* detached: drop what is sent to it */
};

struct inproc_conn {
    struct inproc_half half[2];  /* [0] bound side, [1] connecting side */
    bool torn;                   /* teardown claimed (registry lock) */
    struct sp_task close_task;   /* inproc_pipe_close: teardown on the loop */
    atomic_bool close_asked;     /* close_task posted */
    atomic_int live;             /* halves whose pipe is not destroyed */
};

struct inproc_ep {
    struct sp_ep *ep;
    struct sp_list_item item;    /* in the registry's bound or connecting list */
    struct sp_list conns;        /* inproc_half items */
};

static struct {
    pthread_mutex_t lock;
    struct sp_list bound;
    struct sp_list connecting;
} reg = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Library start: no endpoint exists yet (nor after the previous teardown). */
static int inproc_init(void)
{
    sp_list_init(&reg.bound);
    sp_list_init(&reg.connecting);
    return 0;
}

static struct inproc_half *other(struct inproc_half *h)
{
    struct inproc_conn *c = h->conn;
    return h == &c->half[0] ? &c->half[1] : &c->half[0];
}

/* Whether the sender may go on after its last message was over the limit:
   that message is alone in the ring, or what is left is under NN_RCVBUF
   (then it would have fitted after what was ahead of it). */
static bool writable(const struct inproc_half *dst, uint64_t count, uint64_t bytes)
{
    return count <= 1 || bytes < dst->rcvbuf;
}

/* Gives msg the shape it would have after a trip over a stream: the SP
   header in front of the body (the receiving protocol parses it out again)
   and no transport cmsgs. The body chunk is passed on without a copy when
   there is no header. 0 or -ENOMEM. */
static int wire_shape(struct sp_msg *msg)
{
    if (msg->ctrl) {
        sp_chunk_free(msg->ctrl);
        msg->ctrl = NULL;
    }
    if (msg->hdrlen == 0)
        return 0;
    size_t blen = sp_msg_bodylen(msg);
    uint8_t *p = sp_chunk_alloc(msg->hdrlen + blen);
    if (!p)
        return -ENOMEM;
    memcpy(p, sp_msg_hdr(msg), msg->hdrlen);
    if (blen)
        memcpy(p + msg->hdrlen, msg->body, blen);
    sp_msg_term(msg);
    msg->body = p;
    return 0;
}

static int send_to(struct inproc_half *peer, struct sp_msg *msg);

static int inproc_pipe_send(struct sp_pipe *pipe, struct sp_msg *msg)
{
    if (wire_shape(msg) != 0) {
        sp_msg_term(msg); /* out of memory: lost, as a dropped connection would */
        return 0;
    }
    struct inproc_half *h = sp_cont(pipe, struct inproc_half, pipe);
    return send_to(other(h), msg);
}

static int send_to(struct inproc_half *peer, struct sp_msg *msg)
{
    if (atomic_load(&peer->gone)) {
        sp_msg_term(msg);
        return 0;
    }
    /* Would the message fit (libnanomsg: the first always does)? The cached
       view overstates the queue; look again before saying no. */
    uint64_t len = sp_msg_wirelen(msg), count, bytes;
    sp_msgring_fill(&peer->q, false, &count, &bytes);
    bool fits = count == 0 || bytes + len < peer->rcvbuf;
    if (!fits) {
        sp_msgring_fill(&peer->q, true, &count, &bytes);
        fits = count == 0 || bytes + len < peer->rcvbuf;
    }
    if (sp_msgring_push(&peer->q, msg) != 0) {
        sp_msg_term(msg);
        return 0;
    }
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&peer->reader_asleep, memory_order_relaxed) &&
        atomic_exchange(&peer->reader_asleep, false))
        sp_pipe_signal(&peer->pipe, SP_EV_IN);
    if (fits)
        return 0;
    /* Over the limit: the message is in, but the pipe takes no more until
       the receiver makes room. */
    atomic_store(&peer->writer_blocked, true);
    atomic_thread_fence(memory_order_seq_cst);
    sp_msgring_fill(&peer->q, true, &count, &bytes);
    if (writable(peer, count, bytes) && atomic_exchange(&peer->writer_blocked, false))
        return 0; /* room already: the receiver will not signal */
    return SP_PIPE_RELEASE;
}

/* The receiver found its ring empty: from now on the sender owes a signal.
   true if a message slipped in meanwhile and this side took the flag back
   (the pipe stays readable). */
static bool fall_asleep(struct inproc_half *h)
{
    atomic_store(&h->reader_asleep, true);
    atomic_thread_fence(memory_order_seq_cst);
    return sp_msgring_ready(&h->q) && atomic_exchange(&h->reader_asleep, false);
}

static int recv_from(struct inproc_half *h, struct sp_msg *msg);

static int inproc_pipe_recv(struct sp_pipe *pipe, struct sp_msg *msg)
{
    return recv_from(sp_cont(pipe, struct inproc_half, pipe), msg);
}

static int recv_from(struct inproc_half *h, struct sp_msg *msg)
{
    if (sp_msgring_pop(&h->q, msg) != 0) {
        if (!fall_asleep(h) || sp_msgring_pop(&h->q, msg) != 0)
            return -EAGAIN;
    }
    /* The pop must be visible before the flag is read (the sender sets the
       flag, then reads the counts). */
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&h->writer_blocked, memory_order_relaxed)) {
        uint64_t count, bytes;
        sp_msgring_left(&h->q, &count, &bytes);
        if (writable(h, count, bytes) && atomic_exchange(&h->writer_blocked, false) &&
            !atomic_load(&other(h)->gone))
            sp_pipe_signal(&other(h)->pipe, SP_EV_OUT);
    }
    if (!sp_msgring_ready(&h->q) && !fall_asleep(h))
        return SP_PIPE_RELEASE;
    return 0;
}

static void inproc_pipe_destroy(struct sp_pipe *pipe)
{
    struct inproc_half *h = sp_cont(pipe, struct inproc_half, pipe);
    struct inproc_conn *c = h->conn;
    if (atomic_fetch_sub(&c->live, 1) != 1)
        return;
    for (int i = 0; i < 2; i++)
        sp_msgring_term(&c->half[i].q);
    free(c);
}

static void inproc_pipe_close(struct sp_pipe *pipe);

static const struct sp_pipe_ops inproc_pipe_ops = {
    .send = inproc_pipe_send,
    .recv = inproc_pipe_recv,
    .destroy = inproc_pipe_destroy,
    .close = inproc_pipe_close,
};

static void conn_teardown(struct inproc_conn *c);

/* The loop thread's half of inproc_pipe_close: teardown takes the registry
   lock and then socket locks, which the protocol's caller holds. */
static void conn_close_task(struct sp_task *t)
{
    struct inproc_conn *c = sp_cont(t, struct inproc_conn, close_task);
    bool mine = false;
    pthread_mutex_lock(&reg.lock);
    if (!c->torn) {
        c->torn = mine = true;
        for (int i = 0; i < 2; i++)
            if (sp_list_item_linked(&c->half[i].item))
                sp_list_remove(&c->half[i].item);
    }
    pthread_mutex_unlock(&reg.lock);
    if (mine)
        conn_teardown(c);
    sp_pipe_rele(&c->half[0].pipe); /* inproc_pipe_close's hold */
}

static void inproc_pipe_close(struct sp_pipe *pipe)
{
    struct inproc_half *h = sp_cont(pipe, struct inproc_half, pipe);
    struct inproc_conn *c = h->conn;
    SP_ASSERT_LOCKED(pipe->sock);
    /* Inproc alone never started the loop; without it the connection stays
       (the protocol has disowned it already). */
    if (sp_loop_start() != 0 || atomic_exchange(&c->close_asked, true))
        return;
    sp_pipe_hold(&c->half[0].pipe);
    sp_loop_post(&c->close_task);
}

/* Tears a connection down: both pipes leave their sockets. The caller has
   claimed it (conn->torn) and unlinked both halves under the registry lock. */
static void conn_teardown(struct inproc_conn *c)
{
    for (int i = 0; i < 2; i++) {
        struct inproc_half *h = &c->half[i];
        atomic_store(&h->gone, true);
        /* A send or receive on the other half that did not see gone may
           still signal this half's socket: let it finish first. They run
           under the other socket's lock, so passing through that lock is
           enough (no count on the hot path). The first time round the
           other half is still attached (or was never attached, under the
           registry lock), which keeps its socket alive; the second time
           it was just detached, which took its lock already and stopped
           its sends and receives for good. */
        if (i == 0) {
            struct sp_sock *os = other(h)->pipe.sock;
            sp_sock_lock(os);
            sp_sock_unlock(os);
        }
        sp_pipe_detach(&h->pipe, -1);
    }
    sp_pipe_rele(&c->half[0].pipe);
    sp_pipe_rele(&c->half[1].pipe);
}

/* Connects a bound and a connecting endpoint. Registry lock held. 0 (also
   when the pair is incompatible or a socket refuses the pipe, e.g. a PAIR
   that has its peer: dropped without error, as in libnanomsg) or -ENOMEM:
   nothing was made, and the nn_bind or nn_connect that asked fails. */
static int conn_create(struct inproc_ep *b, struct inproc_ep *k)
{
    /* Cache-line aligned: the flags and ring counts each have a line. */
    struct inproc_conn *c = aligned_alloc(64, (sizeof *c + 63) / 64 * 64);
    if (!c)
        return -ENOMEM;
    memset(c, 0, sizeof *c);
    if (sp_msgring_init(&c->half[0].q) != 0) {
        free(c);
        return -ENOMEM;
    }
    if (sp_msgring_init(&c->half[1].q) != 0) {
        sp_msgring_term(&c->half[0].q);
        free(c);
        return -ENOMEM;
    }
    atomic_init(&c->live, 2);
    sp_task_init(&c->close_task, conn_close_task);
    atomic_init(&c->close_asked, false);
    struct inproc_ep *owners[2] = {b, k};
    for (int i = 0; i < 2; i++) {
        struct inproc_half *h = &c->half[i];
        struct sp_ep *ep = owners[i]->ep;
        sp_pipe_init(&h->pipe, &inproc_pipe_ops, ep);
        /* libnanomsg counts an inproc connection only as "established" on
           the connecting side. */
        if (i == 0)
            h->pipe.attach_stat = -1;
        h->pipe.peer_protocol = owners[1 - i]->ep->sock->type->protocol;
        h->conn = c;
        h->iep = owners[i];
        atomic_init(&h->reader_asleep, true); /* the first message signals */
        atomic_init(&h->writer_blocked, false);
        atomic_init(&h->gone, false);
        /* Each side's NN_RCVBUF as it is now, as libnanomsg reads it. */
        struct sp_connopts o;
        sp_ep_connopts(ep, &o);
        h->rcvbuf = (size_t) o.rcvbuf;
        sp_list_push_back(&owners[i]->conns, &h->item);
    }
    int rc = sp_pipe_attach(&c->half[0].pipe);
    if (rc == 0)
        rc = sp_pipe_attach(&c->half[1].pipe);
    if (rc != 0) {
        /* Refused (sockets that do not talk to each other, a PAIR that has
           its peer): dropped without error, and uncounted, as libnanomsg
           never pairs them; out of memory fails the nn_bind/nn_connect. */
        c->torn = true;
        sp_list_remove(&c->half[0].item);
        sp_list_remove(&c->half[1].item);
        conn_teardown(c);
    }
    return rc == -ENOMEM ? -ENOMEM : 0;
}

/* Tears down the connections of an endpoint that is not registered (an
   nn_bind or nn_connect failing). Registry lock held. */
static void iep_drop_conns(struct inproc_ep *iep)
{
    while (!sp_list_empty(&iep->conns)) {
        struct inproc_half *h = sp_cont(sp_list_first(&iep->conns), struct inproc_half, item);
        struct inproc_conn *c = h->conn;
        sp_list_remove(&h->item);
        struct inproc_half *o = other(h);
        if (sp_list_item_linked(&o->item))
            sp_list_remove(&o->item);
        c->torn = true;
        conn_teardown(c);
    }
}

static void inproc_ep_stop(struct sp_ep *ep)
{
    struct inproc_ep *iep = ep->tpdata;
    struct sp_list doomed;
    sp_list_init(&doomed);
    pthread_mutex_lock(&reg.lock);
    sp_list_remove(&iep->item);
    /* Claim every connection of this endpoint; the peer endpoint forgets it. */
    struct inproc_conn **cs = NULL;
    size_t n = 0, cap = 0;
    while (!sp_list_empty(&iep->conns)) {
        struct inproc_half *h = sp_cont(sp_list_first(&iep->conns), struct inproc_half, item);
        struct inproc_conn *c = h->conn;
        sp_list_remove(&h->item);
        struct inproc_half *o = other(h);
        if (sp_list_item_linked(&o->item))
            sp_list_remove(&o->item);
        if (c->torn)
            continue;
        c->torn = true;
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            struct inproc_conn **ncs = realloc(cs, cap * sizeof *ncs);
            if (!ncs) {
                /* Out of memory: tear this one down right here. */
                conn_teardown(c);
                continue;
            }
            cs = ncs;
        }
        cs[n++] = c;
    }
    pthread_mutex_unlock(&reg.lock);
    for (size_t i = 0; i < n; i++)
        conn_teardown(cs[i]);
    free(cs);
    free(iep);
    sp_ep_stopped(ep);
}

static const struct sp_ep_ops inproc_ep_ops = {.stop = inproc_ep_stop};

static struct inproc_ep *iep_new(struct sp_ep *ep)
{
    struct inproc_ep *iep = calloc(1, sizeof *iep);
    if (!iep)
        return NULL;
    iep->ep = ep;
    sp_list_init(&iep->conns);
    ep->tpdata = iep;
    ep->ops = &inproc_ep_ops;
    return iep;
}

static int inproc_bind(struct sp_ep *ep)
{
    pthread_mutex_lock(&reg.lock);
    sp_list_foreach(&reg.bound, it) {
        struct inproc_ep *b = sp_cont(it, struct inproc_ep, item);
        if (strcmp(b->ep->addr, ep->addr) == 0) {
            pthread_mutex_unlock(&reg.lock);
            return -EADDRINUSE;
        }
    }
    struct inproc_ep *iep = iep_new(ep);
    if (!iep) {
        pthread_mutex_unlock(&reg.lock);
        return -ENOMEM;
    }
    int rc = 0;
    sp_list_foreach(&reg.connecting, it) {
        struct inproc_ep *k = sp_cont(it, struct inproc_ep, item);
        if (strcmp(k->ep->addr, ep->addr) == 0 && (rc = conn_create(iep, k)) != 0)
            break;
    }
    if (rc == 0) {
        sp_list_push_back(&reg.bound, &iep->item);
    } else {
        /* Out of memory: the connectors wait for the next bind. */
        iep_drop_conns(iep);
        free(iep);
        ep->tpdata = NULL;
        ep->ops = NULL;
    }
    pthread_mutex_unlock(&reg.lock);
    return rc;
}

static int inproc_connect(struct sp_ep *ep)
{
    pthread_mutex_lock(&reg.lock);
    struct inproc_ep *iep = iep_new(ep);
    if (!iep) {
        pthread_mutex_unlock(&reg.lock);
        return -ENOMEM;
    }
    int rc = 0;
    sp_list_foreach(&reg.bound, it) {
        struct inproc_ep *b = sp_cont(it, struct inproc_ep, item);
        if (strcmp(b->ep->addr, ep->addr) == 0) {
            rc = conn_create(b, iep);
            break;
        }
    }
    if (rc == 0) {
        sp_list_push_back(&reg.connecting, &iep->item);
    } else {
        free(iep);
        ep->tpdata = NULL;
        ep->ops = NULL;
    }
    pthread_mutex_unlock(&reg.lock);
    return rc;
}

const struct sp_transport sp_inproc_transport = {
    .scheme = "inproc",
    .id = NN_INPROC,
    .init = inproc_init,
    .bind = inproc_bind,
    .connect = inproc_connect,
};
