/* The REQ side of request/reply. Raw REQ load-balances requests as given
   (the SP header is the caller's) and exposes the first 4 bytes of each reply
   as its SP header. Cooked REQ runs one request at a time: it tags it with a
   31-bit id (random seed), sends it to one peer, resends it every
   NN_REQ_RESEND_IVL and at once when the peer carrying it goes away, and
   accepts only the reply with that id. A new request cancels the old one.
   send never blocks: with no peer the request waits for one. */
#include <errno.h>
#include <stdlib.h>

#include <nanomsg/nn.h>
#include <nanomsg/reqrep.h>

#include "core/pipe.h"
#include "core/sock.h"
#include "core/socktimer.h"
#include "protocol.h"
#include "utils/backtrace.h"
#include "utils/fq.h"
#include "utils/lb.h"
#include "utils/random.h"

enum req_state {
    REQ_PASSIVE, /* no request, or its reply was received */
    REQ_DELAYED, /* a request waits for a writable peer */
    REQ_ACTIVE,  /* sent; waiting for the reply */
    REQ_DONE,    /* the reply is here, waiting for recv */
};

struct req_pipe {
    struct sp_priolist_entry out;
    struct sp_priolist_entry in;
};

struct req_sock {
    struct sp_lb lb;
    struct sp_fq fq;
    bool cooked;
    /* cooked only */
    enum req_state state;
    uint32_t lastid;
    struct sp_msg request;       /* body + id header, kept for resends */
    struct sp_msg reply;
    struct sp_pipe *sent_to;
    struct sp_socktimer resend;
    int resend_ivl;
};

static void req_resend(struct sp_sock *sock, struct sp_socktimer *t);

static int req_sock_init(struct sp_sock *sock)
{
    struct req_sock *r = calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    sp_lb_init(&r->lb);
    sp_fq_init(&r->fq);
    r->cooked = sock->type->domain == AF_SP;
    r->state = REQ_PASSIVE;
    r->lastid = sp_random_u32();
    r->resend_ivl = 60000;
    sp_msg_init(&r->request);
    sp_msg_init(&r->reply);
    sp_socktimer_init(&r->resend, sock, req_resend);
    sock->proto = r;
    return 0;
}

static void req_sock_term(struct sp_sock *sock)
{
    struct req_sock *r = sock->proto;
    sp_socktimer_term(&r->resend);
    sp_msg_term(&r->request);
    sp_msg_term(&r->reply);
    free(r);
}

/* Raw receive: the first 4 bytes become the SP header (further hops stay in
   the body, which is what makes a raw REQ device work). */
static int xreq_recv(struct req_sock *r, struct sp_msg *msg)
{
    for (;;) {
        int rc = sp_fq_recv(&r->fq, msg, NULL);
        if (rc != 0)
            return rc;
        if (sp_msg_split_hdr(msg, 4) == 0)
            return 0;
        sp_msg_term(msg);
    }
}

/* Sends the stored request if a peer can take it. Cooked, lock held. */
static void req_try_send(struct sp_sock *sock, struct req_sock *r)
{
    SP_ASSERT_LOCKED(sock);
    if (r->state != REQ_DELAYED || !sp_lb_can_send(&r->lb))
        return;
    struct sp_msg copy;
    int ivl = r->resend_ivl > 0 ? r->resend_ivl : 1;
    if (sp_msg_dup(&copy, &r->request) != 0) {
        /* Out of memory: as if it was sent and lost, but tried again soon
           rather than after a whole NN_REQ_RESEND_IVL. */
        r->sent_to = NULL;
        r->state = REQ_ACTIVE;
        sp_socktimer_start(&r->resend, ivl < 100 ? (uint64_t) ivl : 100);
        return;
    }
    sp_lb_send(&r->lb, &copy, &r->sent_to);
    r->state = REQ_ACTIVE;
    sp_socktimer_start(&r->resend, (uint64_t) ivl);
}

static void req_resend(struct sp_sock *sock, struct sp_socktimer *t)
{
    struct req_sock *r = sock->proto;
    (void) t;
    if (r->state != REQ_ACTIVE)
        return;
    r->state = REQ_DELAYED;
    req_try_send(sock, r);
}

static int req_pipe_add(struct sp_sock *sock, struct sp_pipe *pipe)
{
    struct req_sock *r = sock->proto;
    struct req_pipe *p = malloc(sizeof *p);
    if (!p)
        return -ENOMEM;
    sp_priolist_entry_init(&p->out, pipe, pipe->sndprio);
    sp_priolist_entry_init(&p->in, pipe, pipe->rcvprio);
    pipe->proto_data = p;
    sp_lb_add(&r->lb, &p->out);
    sp_fq_add(&r->fq, &p->in);
    if (r->cooked)
        req_try_send(sock, r);
    return 0;
}

static void req_pipe_rm(struct sp_sock *sock, struct sp_pipe *pipe)
{
    struct req_sock *r = sock->proto;
    struct req_pipe *p = pipe->proto_data;
    sp_lb_rm(&r->lb, &p->out);
    sp_fq_rm(&r->fq, &p->in);
    free(p);
    pipe->proto_data = NULL;
    if (r->cooked && r->state == REQ_ACTIVE && r->sent_to == pipe) {
        /* The peer holding the request is gone: resend it right away. */
        sp_socktimer_stop(&r->resend);
        r->sent_to = NULL;
        r->state = REQ_DELAYED;
        req_try_send(sock, r);
    }
}

static void req_pipe_in(struct sp_sock *sock, struct sp_pipe *pipe)
{
    struct req_sock *r = sock->proto;
    struct req_pipe *p = pipe->proto_data;
    sp_fq_in(&r->fq, &p->in);
    if (!r->cooked)
        return;
    /* Take replies as they come so that RCVFD is readable exactly when the
       awaited reply is here; anything else is dropped. */
    struct sp_msg m;
    while (xreq_recv(r, &m) == 0) {
        if (r->state == REQ_ACTIVE && m.hdrlen == 4 &&
            sp_get_u32(sp_msg_hdr(&m)) == sp_backtrace_id(r->lastid)) {
            sp_socktimer_stop(&r->resend);
            sp_msg_set_hdr(&m, NULL, 0);
            r->reply = m;
            r->state = REQ_DONE;
            sp_msg_term(&r->request);
        } else {
            sp_msg_term(&m);
        }
    }
}

static void req_pipe_out(struct sp_sock *sock, struct sp_pipe *pipe)
{
    struct req_sock *r = sock->proto;
    struct req_pipe *p = pipe->proto_data;
    sp_lb_out(&r->lb, &p->out);
    if (r->cooked)
        req_try_send(sock, r);
}

static int req_events(struct sp_sock *sock)
{
    struct req_sock *r = sock->proto;
    if (!r->cooked)
        return (sp_fq_can_recv(&r->fq) ? SP_EV_IN : 0) | (sp_lb_can_send(&r->lb) ? SP_EV_OUT : 0);
    return SP_EV_OUT | (r->state == REQ_DONE ? SP_EV_IN : 0);
}

static int req_send(struct sp_sock *sock, struct sp_msg *msg)
{
    struct req_sock *r = sock->proto;
    if (!r->cooked)
        return sp_lb_send(&r->lb, msg, NULL);
    if (msg->hdrlen != 0)
        return -EINVAL; /* libnanomsg aborts on an SP header here */
    uint8_t id[4];
    sp_put_u32(id, sp_backtrace_id(++r->lastid));
    int rc = sp_msg_set_hdr(msg, id, 4);
    if (rc != 0)
        return rc;
    /* A new request cancels the one in progress and its late reply. */
    sp_socktimer_stop(&r->resend);
    sp_msg_term(&r->request);
    sp_msg_term(&r->reply);
    r->request = *msg;
    sp_msg_init(msg);
    r->sent_to = NULL;
    r->state = REQ_DELAYED;
    req_try_send(sock, r);
    return 0;
}

static int req_recv(struct sp_sock *sock, struct sp_msg *msg)
{
    struct req_sock *r = sock->proto;
    if (!r->cooked)
        return xreq_recv(r, msg);
    if (r->state == REQ_PASSIVE)
        return -EFSM;
    if (r->state != REQ_DONE)
        return -EAGAIN;
    *msg = r->reply;
    sp_msg_init(&r->reply);
    r->state = REQ_PASSIVE;
    return 0;
}

static int req_setopt(struct sp_sock *sock, int option, const void *val, size_t len)
{
    struct req_sock *r = sock->proto;
    if (!r->cooked || option != NN_REQ_RESEND_IVL)
        return -ENOPROTOOPT;
    return sp_proto_set_ms(&r->resend_ivl, val, len);
}

static int req_getopt(struct sp_sock *sock, int option, void *val, size_t *len)
{
    struct req_sock *r = sock->proto;
    if (!r->cooked || option != NN_REQ_RESEND_IVL)
        return -ENOPROTOOPT;
    return sp_proto_get_ms(r->resend_ivl, val, len);
}

static int req_current_sndprio(struct sp_sock *sock)
{
    struct req_sock *r = sock->proto;
    return sp_lb_priority(&r->lb);
}

static const struct sp_proto_ops req_ops = {
    .init = req_sock_init,
    .term = req_sock_term,
    .pipe_add = req_pipe_add,
    .pipe_rm = req_pipe_rm,
    .pipe_in = req_pipe_in,
    .pipe_out = req_pipe_out,
    .events = req_events,
    .send = req_send,
    .recv = req_recv,
    .setopt = req_setopt,
    .getopt = req_getopt,
    .current_sndprio = req_current_sndprio,
};

const struct sp_socktype sp_req_socktype = {AF_SP, NN_REQ, 0, NN_REP, "req", &req_ops};
const struct sp_socktype sp_xreq_socktype = {AF_SP_RAW, NN_REQ, 0, NN_REP, "req", &req_ops};
