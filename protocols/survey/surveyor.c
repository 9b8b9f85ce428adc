/* The SURVEYOR side of surveys: a survey goes to every respondent that can
   take it now, and responses are collected until NN_SURVEYOR_DEADLINE. The
   first recv after the deadline reports ETIMEDOUT, later ones EFSM until the
   next survey; a new survey cancels the previous one and stale responses are
   dropped. Raw SURVEYOR only fans out and exposes the 4-byte survey id of
   each response as its SP header. */
#include <errno.h>
#include <stdlib.h>

#include <nanomsg/nn.h>
#include <nanomsg/survey.h>

#include "core/pipe.h"
#include "core/sock.h"
#include "core/socktimer.h"
#include "protocol.h"
#include "utils/backtrace.h"
#include "utils/dist.h"
#include "utils/fq.h"
#include "utils/random.h"

enum surveyor_state {
    SURVEY_IDLE,     /* no survey: recv is EFSM */
    SURVEY_ACTIVE,   /* collecting responses */
    SURVEY_TIMEDOUT, /* deadline passed: the next recv is ETIMEDOUT */
};

struct surveyor_pipe {
    struct sp_dist_entry out;
    struct sp_priolist_entry in;
};

struct surveyor_sock {
    struct sp_dist dist;
    struct sp_fq fq;
    bool cooked;
    enum surveyor_state state;
    uint32_t surveyid;
    int deadline;
    struct sp_socktimer timer;
};

static void surveyor_deadline(struct sp_sock *sock, struct sp_socktimer *t)
{
    struct surveyor_sock *s = sock->proto;
    (void) t;
    if (s->state == SURVEY_ACTIVE)
        s->state = SURVEY_TIMEDOUT;
}

static int surveyor_sock_init(struct sp_sock *sock)
{
    struct surveyor_sock *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    sp_dist_init(&s->dist);
    sp_fq_init(&s->fq);
    s->cooked = sock->type->domain == AF_SP;
    s->state = SURVEY_IDLE;
    s->surveyid = sp_random_u32();
    s->deadline = 1000;
    sp_socktimer_init(&s->timer, sock, surveyor_deadline);
    sock->proto = s;
    return 0;
}

static void surveyor_sock_term(struct sp_sock *sock)
{
    struct surveyor_sock *s = sock->proto;
    sp_socktimer_term(&s->timer);
    free(s);
}

static int surveyor_pipe_add(struct sp_sock *sock, struct sp_pipe *pipe)
{
    struct surveyor_sock *s = sock->proto;
    struct surveyor_pipe *p = malloc(sizeof *p);
    if (!p)
        return -ENOMEM;
    sp_dist_entry_init(&p->out, pipe);
    sp_priolist_entry_init(&p->in, pipe, pipe->rcvprio);
    pipe->proto_data = p;
    sp_dist_add(&s->dist, &p->out);
    sp_fq_add(&s->fq, &p->in);
    return 0;
}

static void surveyor_pipe_rm(struct sp_sock *sock, struct sp_pipe *pipe)
{
    struct surveyor_sock *s = sock->proto;
    struct surveyor_pipe *p = pipe->proto_data;
    sp_dist_rm(&s->dist, &p->out);
    sp_fq_rm(&s->fq, &p->in);
    free(p);
    pipe->proto_data = NULL;
}

static void surveyor_pipe_in(struct sp_sock *sock, struct sp_pipe *pipe)
{
    struct surveyor_sock *s = sock->proto;
    struct surveyor_pipe *p = pipe->proto_data;
    sp_fq_in(&s->fq, &p->in);
}

static void surveyor_pipe_out(struct sp_sock *sock, struct sp_pipe *pipe)
{
    struct surveyor_sock *s = sock->proto;
    struct surveyor_pipe *p = pipe->proto_data;
    sp_dist_out(&s->dist, &p->out);
}

static int surveyor_events(struct sp_sock *sock)
{
    struct surveyor_sock *s = sock->proto;
    int ev = SP_EV_OUT;
    if (sp_fq_can_recv(&s->fq))
        ev |= SP_EV_IN;
    /* With no survey running, recv answers at once (ETIMEDOUT or EFSM). */
    if (s->cooked && s->state != SURVEY_ACTIVE)
        ev |= SP_EV_IN;
    return ev;
}

static int surveyor_send(struct sp_sock *sock, struct sp_msg *msg)
{
    struct surveyor_sock *s = sock->proto;
    if (s->cooked) {
        if (msg->hdrlen != 0)
            return -EINVAL; /* libnanomsg aborts on an SP header here */
        uint8_t id[4];
        s->surveyid = sp_backtrace_id(s->surveyid + 1);
        sp_put_u32(id, s->surveyid);
        int rc = sp_msg_set_hdr(msg, id, 4);
        if (rc != 0)
            return rc;
        int ivl = s->deadline > 0 ? s->deadline : 0;
        rc = sp_socktimer_start(&s->timer, (uint64_t) ivl);
        if (rc != 0)
            return rc;
        s->state = SURVEY_ACTIVE;
    }
    sp_dist_send(&s->dist, msg, NULL);
    return 0;
}

static int surveyor_recv(struct sp_sock *sock, struct sp_msg *msg)
{
    struct surveyor_sock *s = sock->proto;
    if (s->cooked) {
        if (s->state == SURVEY_IDLE)
            return -EFSM;
        if (s->state == SURVEY_TIMEDOUT) {
            s->state = SURVEY_IDLE;
            return -ETIMEDOUT;
        }
    }
    for (;;) {
        int rc = sp_fq_recv(&s->fq, msg, NULL);
        if (rc != 0)
            return rc;
        if (sp_msg_split_hdr(msg, 4) != 0) {
            sp_msg_term(msg);
            continue;
        }
        if (!s->cooked)
            return 0;
        if (sp_get_u32(sp_msg_hdr(msg)) == s->surveyid) {
            sp_msg_set_hdr(msg, NULL, 0);
            return 0;
        }
        sp_msg_term(msg); /* a response to an older survey */
    }
}

static int surveyor_setopt(struct sp_sock *sock, int option, const void *val, size_t len)
{
    struct surveyor_sock *s = sock->proto;
    if (!s->cooked || option != NN_SURVEYOR_DEADLINE)
        return -ENOPROTOOPT;
    return sp_proto_set_ms(&s->deadline, val, len);
}

static int surveyor_getopt(struct sp_sock *sock, int option, void *val, size_t *len)
{
    struct surveyor_sock *s = sock->proto;
    if (!s->cooked || option != NN_SURVEYOR_DEADLINE)
        return -ENOPROTOOPT;
    return sp_proto_get_ms(s->deadline, val, len);
}

static const struct sp_proto_ops surveyor_ops = {
    .init = surveyor_sock_init,
    .term = surveyor_sock_term,
    .pipe_add = surveyor_pipe_add,
    .pipe_rm = surveyor_pipe_rm,
    .pipe_in = surveyor_pipe_in,
    .pipe_out = surveyor_pipe_out,
    .events = surveyor_events,
    .send = surveyor_send,
    .recv = surveyor_recv,
    .setopt = surveyor_setopt,
    .getopt = surveyor_getopt,
};

const struct sp_socktype sp_surveyor_socktype = {AF_SP, NN_SURVEYOR, 0, NN_RESPONDENT, "surveyor", &surveyor_ops};
const struct sp_socktype sp_xsurveyor_socktype = {AF_SP_RAW, NN_SURVEYOR, 0, NN_RESPONDENT, "surveyor", &surveyor_ops};
