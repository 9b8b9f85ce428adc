/* The REP side of request/reply, whose ops also serve the RESPONDENT side of
   surveys (survey/respondent.c), which works the same way. The raw socket tags every request with the pipe it came
   from (a 31-bit key pushed onto the backtrace, exposed as the SP header) and
   routes a reply by that key, so many requests can be served at once, from
   many threads. The cooked socket serves one request at a time: recv stores
   the backtrace, send uses it; a send without one is EFSM. Replies to pipes
   that are gone or busy are dropped silently, as in libnanomsg. */
#include <errno.h>
#include <stdlib.h>

#include <nanomsg/nn.h>
#include <nanomsg/reqrep.h>

#include "core/pipe.h"
#include "core/sock.h"
#include "protocol.h"
#include "reqrep/rep.h"
#include "utils/backtrace.h"
#include "utils/fq.h"
#include "utils/random.h"

struct rep_pipe {
    struct sp_priolist_entry in;
    struct sp_pipe *pipe;
    uint32_t key;
    bool writable;
    struct rep_pipe *next; /* hash chain */
};

struct rep_sock {
    struct sp_fq fq;
    uint32_t next_key;
    struct rep_pipe **buckets;
    size_t nbuckets;
    size_t npipes;
    bool cooked;
    bool has_bt;           /* cooked: a request is pending */
    struct sp_msg bt;      /* cooked: its backtrace, as the SP header */
};

static int rep_sock_init(struct sp_sock *sock)
{
    struct rep_sock *r = calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    r->nbuckets = 64;
    r->buckets = calloc(r->nbuckets, sizeof *r->buckets);
    if (!r->buckets) {
        free(r);
        return -ENOMEM;
    }
    sp_fq_init(&r->fq);
    r->next_key = sp_random_u32();
    r->cooked = sock->type->domain == AF_SP;
    sp_msg_init(&r->bt);
    sock->proto = r;
    return 0;
}

static void rep_sock_term(struct sp_sock *sock)
{
    struct rep_sock *r = sock->proto;
    sp_msg_term(&r->bt);
    free(r->buckets);
    free(r);
}

static struct rep_pipe **bucket(struct rep_sock *r, uint32_t key)
{
    return &r->buckets[(key * 2654435761u) % r->nbuckets];
}

static void rehash(struct rep_sock *r)
{
    size_t n = r->nbuckets * 4;
    struct rep_pipe **nb = calloc(n, sizeof *nb);
    if (!nb)
        return; /* longer chains, still correct */
    struct rep_pipe **old = r->buckets;
    size_t oldn = r->nbuckets;
    r->buckets = nb;
    r->nbuckets = n;
    for (size_t i = 0; i < oldn; i++) {
        while (old[i]) {
            struct rep_pipe *p = old[i];
            old[i] = p->next;
            struct rep_pipe **b = bucket(r, p->key);
            p->next = *b;
            *b = p;
        }
    }
    free(old);
}

static int rep_pipe_add(struct sp_sock *sock, struct sp_pipe *pipe)
{
    struct rep_sock *r = sock->proto;
    struct rep_pipe *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    p->pipe = pipe;
    p->key = (r->next_key++) & 0x7fffffffu;
    p->writable = !(pipe->flags & SP_PIPE_NOSEND);
    sp_priolist_entry_init(&p->in, pipe, pipe->rcvprio);
    struct rep_pipe **b = bucket(r, p->key);
    p->next = *b;
    *b = p;
    if (++r->npipes > r->nbuckets * 2)
        rehash(r);
    pipe->proto_data = p;
    sp_fq_add(&r->fq, &p->in);
    return 0;
}

static void rep_pipe_rm(struct sp_sock *sock, struct sp_pipe *pipe)
{
    struct rep_sock *r = sock->proto;
    struct rep_pipe *p = pipe->proto_data;
    sp_fq_rm(&r->fq, &p->in);
    for (struct rep_pipe **pp = bucket(r, p->key); *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    }
    r->npipes--;
    free(p);
    pipe->proto_data = NULL;
}

static void rep_pipe_in(struct sp_sock *sock, struct sp_pipe *pipe)
{
    struct rep_sock *r = sock->proto;
    struct rep_pipe *p = pipe->proto_data;
    sp_fq_in(&r->fq, &p->in);
}

static void rep_pipe_out(struct sp_sock *sock, struct sp_pipe *pipe)
{
    (void) sock;
    struct rep_pipe *p = pipe->proto_data;
    p->writable = true;
}

static int rep_events(struct sp_sock *sock)
{
    struct rep_sock *r = sock->proto;
    int ev = sp_fq_can_recv(&r->fq) ? SP_EV_IN : 0;
    if (!r->cooked || r->has_bt)
        ev |= SP_EV_OUT;
    return ev;
}

/* Raw send: the first 4 header bytes name the pipe. */
static int xrep_send(struct rep_sock *r, struct sp_msg *msg)
{
    if (msg->hdrlen < 4) {
        sp_msg_term(msg);
        return 0;
    }
    uint32_t key = sp_get_u32(sp_msg_hdr(msg));
    struct rep_pipe *p = *bucket(r, key);
    while (p && p->key != key)
        p = p->next;
    if (!p || !p->writable) {
        sp_msg_term(msg); /* gone or busy: dropped, as in libnanomsg */
        return 0;
    }
    if (sp_msg_set_hdr(msg, sp_msg_hdr(msg) + 4, msg->hdrlen - 4) != 0) {
        sp_msg_term(msg);
        return 0;
    }
    if (sp_pipe_send(p->pipe, msg) == SP_PIPE_RELEASE)
        p->writable = false;
    return 0;
}

static int xrep_recv(struct sp_sock *sock, struct rep_sock *r, struct sp_msg *msg)
{
    for (;;) {
        struct sp_pipe *from;
        int rc = sp_fq_recv(&r->fq, msg, &from);
        if (rc != 0)
            return rc;
        if (sp_backtrace_split(msg, sock->opt.maxttl) != 0) {
            sp_msg_term(msg); /* malformed or too many hops */
            continue;
        }
        uint8_t key[4];
        sp_put_u32(key, ((struct rep_pipe *) from->proto_data)->key);
        if (sp_msg_push_hdr(msg, key, 4) != 0) {
            sp_msg_term(msg);
            continue;
        }
        return 0;
    }
}

static int rep_send(struct sp_sock *sock, struct sp_msg *msg)
{
    struct rep_sock *r = sock->proto;
    if (!r->cooked)
        return xrep_send(r, msg);
    if (msg->hdrlen != 0)
        return -EINVAL; /* libnanomsg aborts on an SP header here */
    if (!r->has_bt)
        return -EFSM;
    int rc = sp_msg_set_hdr(msg, sp_msg_hdr(&r->bt), r->bt.hdrlen);
    if (rc != 0)
        return rc;
    sp_msg_term(&r->bt);
    r->has_bt = false;
    return xrep_send(r, msg);
}

static int rep_recv(struct sp_sock *sock, struct sp_msg *msg)
{
    struct rep_sock *r = sock->proto;
    if (!r->cooked)
        return xrep_recv(sock, r, msg);
    /* A new recv gives up the request being served, even if it then fails. */
    if (r->has_bt) {
        sp_msg_term(&r->bt);
        r->has_bt = false;
    }
    int rc = xrep_recv(sock, r, msg);
    if (rc != 0)
        return rc;
    rc = sp_msg_set_hdr(&r->bt, sp_msg_hdr(msg), msg->hdrlen);
    if (rc != 0) {
        sp_msg_term(msg);
        return rc;
    }
    sp_msg_set_hdr(msg, NULL, 0);
    r->has_bt = true;
    return 0;
}

const struct sp_proto_ops sp_rep_ops = {
    .init = rep_sock_init,
    .term = rep_sock_term,
    .pipe_add = rep_pipe_add,
    .pipe_rm = rep_pipe_rm,
    .pipe_in = rep_pipe_in,
    .pipe_out = rep_pipe_out,
    .events = rep_events,
    .send = rep_send,
    .recv = rep_recv,
};

const struct sp_socktype sp_rep_socktype = {AF_SP, NN_REP, 0, NN_REQ, "rep", &sp_rep_ops};
const struct sp_socktype sp_xrep_socktype = {AF_SP_RAW, NN_REP, 0, NN_REQ, "rep", &sp_rep_ops};
