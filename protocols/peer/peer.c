/* The PEER protocol: one socket talks to any number of PEERs, and every
   message names its connection by a routing id. A connection made by
   nn_connect is named by the endpoint id nn_connect returned, for as long as
   the endpoint lives (reconnections included); an accepted connection gets a
   fresh id from the same sequence, never reused while the socket lives.

   Sends go to one connection: straight to its pipe while nothing waits
   before the message, else into that connection's own queue (up to
   NN_SNDBUF bytes), which also holds what is sent to a connect endpoint
   before or between its connections. A full connection refuses only the
   sends addressed to it. Receives are fair-queued over every connection. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <nanomsg/nn.h>
#include <nanomsg/peer.h>

#include "core/chunk.h"
#include "core/ep.h"
#include "core/msgio.h"
#include "core/pipe.h"
#include "core/sock.h"
#include "protocol.h"
#include "utils/fq.h"

/* One routing id: a connection, or a connect endpoint waiting for one. */
struct peer_conn {
    uint32_t id;
    bool connector;               /* named by an nn_connect endpoint */
    struct sp_pipe *pipe;         /* NULL while a connector is not connected */
    bool out;                     /* pipe takes messages */
    bool writable;                /* counted in peer_sock.nwritable */
    struct sp_msgq q;             /* waiting for the pipe, in order */
    struct sp_priolist_entry in;  /* fair-queue membership (with a pipe) */
    struct peer_conn *next;       /* hash chain */
};

struct peer_sock {
    struct sp_sock *sock;
    struct sp_fq fq;
    struct peer_conn **table;     /* by id; a power of two of chains */
    size_t nbuckets;
    size_t count;
    size_t nwritable;             /* conns that take a message now: SP_EV_OUT */
};

/* ---- the id table ---- */

static size_t bucket_of(const struct peer_sock *p, uint32_t id)
{
    return (id * 2654435761u) & (p->nbuckets - 1);
}

static struct peer_conn *conn_find(struct peer_sock *p, uint32_t id)
{
    for (struct peer_conn *c = p->table[bucket_of(p, id)]; c; c = c->next)
        if (c->id == id)
            return c;
    return NULL;
}

static int table_insert(struct peer_sock *p, struct peer_conn *c)
{
    if (p->count + 1 > p->nbuckets) {
        size_t n = p->nbuckets * 2;
        struct peer_conn **t = calloc(n, sizeof *t);
        if (!t)
            return -ENOMEM;
        struct peer_conn **old = p->table;
        size_t oldn = p->nbuckets;
        p->table = t;
        p->nbuckets = n;
        for (size_t i = 0; i < oldn; i++) {
            while (old[i]) {
                struct peer_conn *x = old[i];
                old[i] = x->next;
                size_t b = bucket_of(p, x->id);
                x->next = t[b];
                t[b] = x;
            }
        }
        free(old);
    }
    size_t b = bucket_of(p, c->id);
    c->next = p->table[b];
    p->table[b] = c;
    p->count++;
    return 0;
}

static void table_remove(struct peer_sock *p, struct peer_conn *c)
{
    for (struct peer_conn **pp = &p->table[bucket_of(p, c->id)]; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            p->count--;
            return;
        }
    }
}

/* ---- one connection's send side ---- */

/* Whether a send to c would be taken now: what the queue rule of the file
   comment allows. */
static bool conn_takes(struct peer_sock *p, const struct peer_conn *c)
{
    if (c->pipe && c->q.count == 0)
        return c->out;
    return c->q.bytes < (size_t) p->sock->opt.sndbuf;
}

/* Recounts c after any change of its send side; a connection that turns
   writable wakes the senders blocked on it. */
static void conn_update(struct peer_sock *p, struct peer_conn *c)
{
    bool w = conn_takes(p, c);
    if (w == c->writable)
        return;
    c->writable = w;
    if (w) {
        p->nwritable++;
        sp_sock_kick(p->sock);
    } else {
        p->nwritable--;
    }
}

/* Moves queued messages into the pipe while it takes them. */
static void conn_flush(struct peer_conn *c)
{
    while (c->pipe && c->out && c->q.count) {
        struct sp_msg m;
        sp_msgq_pop(&c->q, &m);
        if (sp_pipe_send(c->pipe, &m) == SP_PIPE_RELEASE)
            c->out = false;
    }
}

static struct peer_conn *conn_new(struct peer_sock *p, uint32_t id, bool connector)
{
    struct peer_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->id = id;
    c->connector = connector;
    sp_msgq_init(&c->q);
    if (table_insert(p, c) != 0) {
        sp_msgq_term(&c->q);
        free(c);
        return NULL;
    }
    conn_update(p, c);
    return c;
}

/* Forgets c: its id, its queue, and its pipe (whose later signals find no
   conn, see peer_pipe_in). */
static void conn_free(struct peer_sock *p, struct peer_conn *c)
{
    table_remove(p, c);
    if (c->writable)
        p->nwritable--;
    if (c->pipe) {
        sp_fq_rm(&p->fq, &c->in);
        c->pipe->proto_data = NULL;
    }
    sp_msgq_term(&c->q);
    free(c);
}

/* ---- the protocol ---- */

static int peer_sock_init(struct sp_sock *sock)
{
    struct peer_sock *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    p->nbuckets = 16;
    p->table = calloc(p->nbuckets, sizeof *p->table);
    if (!p->table) {
        free(p);
        return -ENOMEM;
    }
    p->sock = sock;
    sp_fq_init(&p->fq);
    sock->proto = p;
    return 0;
}

static void peer_sock_term(struct sp_sock *sock)
{
    struct peer_sock *p = sock->proto;
    for (size_t i = 0; i < p->nbuckets; i++) {
        while (p->table[i]) {
            struct peer_conn *c = p->table[i];
            p->table[i] = c->next;
            sp_msgq_term(&c->q);
            free(c);
        }
    }
    free(p->table);
    free(p);
}

static int peer_pipe_add(struct sp_sock *sock, struct sp_pipe *pipe)
{
    struct peer_sock *p = sock->proto;
    struct peer_conn *c;
    if (pipe->ep->bound) {
        c = conn_new(p, (uint32_t) sp_sock_new_id(sock), false);
        if (!c)
            return -ENOMEM;
    } else {
        /* nn_shutdown forgot the id already: no connection may revive it. */
        if (pipe->ep->stopping)
            return -ECANCELED;
        /* The endpoint's id is reserved before its transport starts (a
           connection may come at once); messages may wait for it. */
        c = conn_find(p, (uint32_t) pipe->ep->eid);
        if (c && c->pipe)
            return -EISCONN; /* the old connection is still leaving */
        if (!c && !(c = conn_new(p, (uint32_t) pipe->ep->eid, true)))
            return -ENOMEM;
    }
    c->pipe = pipe;
    c->out = !(pipe->flags & SP_PIPE_NOSEND);
    sp_priolist_entry_init(&c->in, pipe, pipe->rcvprio);
    sp_fq_add(&p->fq, &c->in);
    pipe->proto_data = c;
    conn_flush(c);
    conn_update(p, c);
    return 0;
}

static void peer_pipe_rm(struct sp_sock *sock, struct sp_pipe *pipe)
{
    struct peer_sock *p = sock->proto;
    struct peer_conn *c = pipe->proto_data;
    if (!c)
        return; /* dropped by nn_shutdown before */
    /* An accepted id ends with its connection; a connector's lives as long
       as its endpoint (one that failed to start, or stops, goes now). */
    if (!c->connector || !pipe->ep->started || pipe->ep->stopping) {
        conn_free(p, c);
        return;
    }
    sp_fq_rm(&p->fq, &c->in);
    pipe->proto_data = NULL;
    c->pipe = NULL;
    c->out = false;
    conn_update(p, c);
}

static void peer_pipe_in(struct sp_sock *sock, struct sp_pipe *pipe)
{
    struct peer_sock *p = sock->proto;
    struct peer_conn *c = pipe->proto_data;
    if (c)
        sp_fq_in(&p->fq, &c->in);
    else
        sp_proto_drop_input(pipe); /* dropped, closing */
}

static void peer_pipe_out(struct sp_sock *sock, struct sp_pipe *pipe)
{
    struct peer_sock *p = sock->proto;
    struct peer_conn *c = pipe->proto_data;
    if (!c)
        return;
    c->out = true;
    conn_flush(c);
    conn_update(p, c);
}

static int peer_events(struct sp_sock *sock)
{
    struct peer_sock *p = sock->proto;
    return (sp_fq_can_recv(&p->fq) ? SP_EV_IN : 0) | (p->nwritable ? SP_EV_OUT : 0);
}

/* The first NN_PEER_ID cmsg of msg's control data: its offset, or -1. */
static long find_peer_id(const struct sp_msg *msg, uint32_t *id)
{
    long off = sp_msgio_find_cmsg(msg, NN_PROTO_PEER, NN_PEER_ID, sizeof *id);
    if (off >= 0)
        memcpy(id, (const uint8_t *) msg->ctrl + off + NN_CMSG_SPACE(0), sizeof *id);
    return off;
}

/* Takes the NN_PEER_ID cmsg at off out of msg's control data: it is for us,
   not for the transport (the other cmsgs, a WebSocket message type, stay). */
static void strip_cmsg(struct sp_msg *msg, size_t off)
{
    uint8_t *c = msg->ctrl;
    size_t sz = sp_chunk_size(c);
    struct nn_cmsghdr ch;
    memcpy(&ch, c + off, sizeof ch);
    size_t step = NN_CMSG_ALIGN_(ch.cmsg_len);
    if (step > sz - off)
        step = sz - off;
    if (step == sz || !sp_chunk_exclusive(c)) {
        /* Nothing else in it, or shared (which nn_sendmsg never makes):
           the transport then sees the cmsg and ignores it. */
        if (step == sz) {
            sp_chunk_free(c);
            msg->ctrl = NULL;
        }
        return;
    }
    memmove(c + off, c + off + step, sz - off - step);
    sp_chunk_shrink(c, sz - step);
}

static int peer_send(struct sp_sock *sock, struct sp_msg *msg)
{
    struct peer_sock *p = sock->proto;
    uint32_t id;
    long off = find_peer_id(msg, &id);
    if (off < 0)
        return -EINVAL;
    struct peer_conn *c = id ? conn_find(p, id) : NULL;
    if (!c)
        return -EHOSTUNREACH;
    if (!conn_takes(p, c))
        return -EAGAIN; /* the message stays the caller's, cmsg and all */
    strip_cmsg(msg, (size_t) off);
    if (c->pipe && c->q.count == 0) {
        if (sp_pipe_send(c->pipe, msg) == SP_PIPE_RELEASE)
            c->out = false;
    } else if (sp_msgq_push(&c->q, msg) != 0) {
        return -ENOMEM;
    }
    sp_msg_init(msg);
    conn_update(p, c);
    return 0;
}

/* Appends the NN_PEER_ID cmsg to a received message's control data (after
   any transport cmsg). */
static int add_peer_id(struct sp_msg *msg, uint32_t id)
{
    size_t old = msg->ctrl ? sp_chunk_size(msg->ctrl) : 0;
    uint8_t *c = sp_chunk_alloc(old + NN_CMSG_SPACE(sizeof id));
    if (!c)
        return -ENOMEM;
    if (old)
        memcpy(c, msg->ctrl, old);
    struct nn_cmsghdr ch = {.cmsg_len = NN_CMSG_LEN(sizeof id), .cmsg_level = NN_PROTO_PEER,
                            .cmsg_type = NN_PEER_ID};
    memset(c + old, 0, NN_CMSG_SPACE(sizeof id));
    memcpy(c + old, &ch, sizeof ch);
    memcpy(c + old + NN_CMSG_SPACE(0), &id, sizeof id);
    if (msg->ctrl)
        sp_chunk_free(msg->ctrl);
    msg->ctrl = c;
    return 0;
}

static int peer_recv(struct sp_sock *sock, struct sp_msg *msg)
{
    struct peer_sock *p = sock->proto;
    struct sp_pipe *from;
    int rc = sp_fq_recv(&p->fq, msg, &from);
    if (rc != 0)
        return rc;
    struct peer_conn *c = from->proto_data;
    rc = add_peer_id(msg, c->id);
    if (rc != 0)
        sp_msg_term(msg); /* lost, as a message nn_recvmsg cannot deliver */
    return rc;
}

/* A connect endpoint's id takes messages from now on (out of memory: it
   answers EHOSTUNREACH until its first connection). */
static void peer_ep_add(struct sp_sock *sock, struct sp_ep *ep)
{
    struct peer_sock *p = sock->proto;
    if (!ep->bound && !conn_find(p, (uint32_t) ep->eid))
        conn_new(p, (uint32_t) ep->eid, true);
}

static bool peer_shutdown(struct sp_sock *sock, int id, bool ep)
{
    struct peer_sock *p = sock->proto;
    struct peer_conn *c = id > 0 ? conn_find(p, (uint32_t) id) : NULL;
    if (!c)
        return false;
    if (c->connector != ep)
        return false; /* only the endpoint's id is its own */
    struct sp_pipe *pipe = c->pipe;
    conn_free(p, c);
    /* An accepted connection is closed here; a connector's goes with its
       endpoint, which the core stops next. */
    if (!ep && pipe && pipe->ops->close)
        pipe->ops->close(pipe);
    return true;
}

static const struct sp_proto_ops peer_ops = {
    .init = peer_sock_init,
    .term = peer_sock_term,
    .pipe_add = peer_pipe_add,
    .pipe_rm = peer_pipe_rm,
    .pipe_in = peer_pipe_in,
    .pipe_out = peer_pipe_out,
    .events = peer_events,
    .send = peer_send,
    .recv = peer_recv,
    .ep_add = peer_ep_add,
    .shutdown = peer_shutdown,
};

const struct sp_socktype sp_peer_socktype = {AF_SP, NN_PEER, SP_SOCKTYPE_ROUTED, NN_PEER, "peer",
                                             &peer_ops};
