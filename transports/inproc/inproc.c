/* The inproc transport connects sockets of one process without any thread or
   fd: each connection is a pair of pipes with a message queue per direction,
   bounded by the receiver's NN_RCVBUF (the first message always fits, and a
   sender parks one more message while the queue is full). Connecting before
   binding is allowed; connectors re-attach when a new binder appears. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <nanomsg/inproc.h>

#include "core/chunk.h"
#include "core/ep.h"
#include "core/pipe.h"
#include "core/sock.h"
#include "transport.h"

struct inproc_ep;
struct inproc_conn;

/* One side of a connection: the pipe its socket sees and its receive queue. */
struct inproc_half {
    struct sp_pipe pipe;
    struct inproc_conn *conn;
    struct inproc_ep *iep;       /* owning endpoint (registry lock) */
    struct sp_list_item item;    /* in iep->conns (registry lock) */
    /* Under conn->lock: */
    struct sp_msgq q;            /* messages waiting to be received here */
    size_t rcvbuf;               /* byte limit of q */
    bool reader_told;            /* the protocol was told q is non-empty */
    bool parked_full;            /* parked holds a message blocked on the peer */
    struct sp_msg parked;
    bool gone;                   /* detached: drop what is sent to it */
};

struct inproc_conn {
    pthread_mutex_t lock;
    struct inproc_half half[2];  /* [0] bound side, [1] connecting side */
    bool torn;                   /* teardown claimed (registry lock) */
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
    bool init;
} reg = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void reg_init(void)
{
    if (!reg.init) {
        sp_list_init(&reg.bound);
        sp_list_init(&reg.connecting);
        reg.init = true;
    }
}

static struct inproc_half *other(struct inproc_half *h)
{
    struct inproc_conn *c = h->conn;
    return h == &c->half[0] ? &c->half[1] : &c->half[0];
}

static bool fits(struct inproc_half *dst, struct sp_msg *m)
{
    return dst->q.count == 0 || dst->q.bytes + sp_msg_wirelen(m) < dst->rcvbuf;
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

static int inproc_pipe_send(struct sp_pipe *pipe, struct sp_msg *msg)
{
    if (wire_shape(msg) != 0) {
        sp_msg_term(msg); /* out of memory: lost, as a dropped connection would */
        return 0;
    }
    struct inproc_half *h = sp_cont(pipe, struct inproc_half, pipe);
    struct inproc_half *peer = other(h);
    struct inproc_conn *c = h->conn;
    bool tell = false;
    int rc = 0;
    pthread_mutex_lock(&c->lock);
    if (peer->gone) {
        sp_msg_term(msg);
    } else if (!h->parked_full && fits(peer, msg) && sp_msgq_push(&peer->q, msg) == 0) {
        if (!peer->reader_told)
            tell = peer->reader_told = true;
    } else {
        /* Park it: the send succeeded for the application, but the pipe
           takes no more until the receiver makes room. */
        if (h->parked_full)
            sp_msg_term(&h->parked); /* cannot happen: protocols stop at RELEASE */
        h->parked = *msg;
        sp_msg_init(msg);
        h->parked_full = true;
        rc = SP_PIPE_RELEASE;
    }
    pthread_mutex_unlock(&c->lock);
    if (tell)
        sp_pipe_signal(&peer->pipe, SP_EV_IN);
    return rc;
}

static int inproc_pipe_recv(struct sp_pipe *pipe, struct sp_msg *msg)
{
    struct inproc_half *h = sp_cont(pipe, struct inproc_half, pipe);
    struct inproc_half *peer = other(h);
    struct inproc_conn *c = h->conn;
    bool tell_out = false;
    int rc;
    pthread_mutex_lock(&c->lock);
    if (sp_msgq_pop(&h->q, msg) != 0) {
        h->reader_told = false;
        pthread_mutex_unlock(&c->lock);
        return -EAGAIN;
    }
    if (peer->parked_full && fits(h, &peer->parked) && sp_msgq_push(&h->q, &peer->parked) == 0) {
        peer->parked_full = false;
        tell_out = !peer->gone;
    }
    if (h->q.count == 0) {
        h->reader_told = false;
        rc = SP_PIPE_RELEASE;
    } else {
        rc = 0;
    }
    pthread_mutex_unlock(&c->lock);
    if (tell_out)
        sp_pipe_signal(&peer->pipe, SP_EV_OUT);
    return rc;
}

static void inproc_pipe_destroy(struct sp_pipe *pipe)
{
    struct inproc_half *h = sp_cont(pipe, struct inproc_half, pipe);
    struct inproc_conn *c = h->conn;
    if (atomic_fetch_sub(&c->live, 1) != 1)
        return;
    for (int i = 0; i < 2; i++) {
        sp_msgq_term(&c->half[i].q);
        if (c->half[i].parked_full)
            sp_msg_term(&c->half[i].parked);
    }
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static const struct sp_pipe_ops inproc_pipe_ops = {
    .send = inproc_pipe_send,
    .recv = inproc_pipe_recv,
    .destroy = inproc_pipe_destroy,
};

static bool compatible(struct sp_ep *a, struct sp_ep *b)
{
    const struct sp_socktype *ta = a->sock->type, *tb = b->sock->type;
    return ta->ispeer(tb->protocol) && tb->ispeer(ta->protocol);
}

/* Tears a connection down: both pipes leave their sockets. The caller has
   claimed it (conn->torn) and unlinked both halves under the registry lock. */
static void conn_teardown(struct inproc_conn *c)
{
    for (int i = 0; i < 2; i++) {
        struct inproc_half *h = &c->half[i];
        pthread_mutex_lock(&c->lock);
        h->gone = true;
        pthread_mutex_unlock(&c->lock);
        sp_pipe_detach(&h->pipe, -1);
    }
    sp_pipe_rele(&c->half[0].pipe);
    sp_pipe_rele(&c->half[1].pipe);
}

/* Connects a bound and a connecting endpoint. Registry lock held. */
static void conn_create(struct inproc_ep *b, struct inproc_ep *k)
{
    if (!compatible(b->ep, k->ep))
        return;
    struct inproc_conn *c = calloc(1, sizeof *c);
    if (!c)
        return;
    pthread_mutex_init(&c->lock, NULL);
    atomic_init(&c->live, 2);
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
        sp_msgq_init(&h->q);
        h->rcvbuf = (size_t) ep->rcvbuf;
        sp_list_push_back(&owners[i]->conns, &h->item);
    }
    if (sp_pipe_attach(&c->half[0].pipe) != 0 || sp_pipe_attach(&c->half[1].pipe) != 0) {
        /* Refused (a PAIR that has its peer): dropped without error. */
        c->torn = true;
        sp_list_remove(&c->half[0].item);
        sp_list_remove(&c->half[1].item);
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
    reg_init();
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
    sp_list_push_back(&reg.bound, &iep->item);
    sp_list_foreach(&reg.connecting, it) {
        struct inproc_ep *k = sp_cont(it, struct inproc_ep, item);
        if (strcmp(k->ep->addr, ep->addr) == 0)
            conn_create(iep, k);
    }
    pthread_mutex_unlock(&reg.lock);
    return 0;
}

static int inproc_connect(struct sp_ep *ep)
{
    pthread_mutex_lock(&reg.lock);
    reg_init();
    struct inproc_ep *iep = iep_new(ep);
    if (!iep) {
        pthread_mutex_unlock(&reg.lock);
        return -ENOMEM;
    }
    sp_list_push_back(&reg.connecting, &iep->item);
    sp_list_foreach(&reg.bound, it) {
        struct inproc_ep *b = sp_cont(it, struct inproc_ep, item);
        if (strcmp(b->ep->addr, ep->addr) == 0) {
            conn_create(b, iep);
            break;
        }
    }
    pthread_mutex_unlock(&reg.lock);
    return 0;
}

const struct sp_transport sp_inproc_transport = {
    .scheme = "inproc",
    .id = NN_INPROC,
    .bind = inproc_bind,
    .connect = inproc_connect,
};
