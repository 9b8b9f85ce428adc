/* The PUSH side of the pipeline pattern: each message goes to exactly one
   PULL peer, the best-priority ready one, round robin within a priority.
   Anything a peer sends to a PUSH is ignored. Raw PUSH is the same. */
#include <errno.h>
#include <stdlib.h>

#include <nanomsg/nn.h>
#include <nanomsg/pipeline.h>

#include "core/pipe.h"
#include "core/sock.h"
#include "protocol.h"
#include "utils/lb.h"

struct push_sock {
    struct sp_lb lb;
};

struct push_pipe {
    struct sp_priolist_entry entry;
};

static int push_sock_init(struct sp_sock *sock)
{
    struct push_sock *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    sp_lb_init(&p->lb);
    sock->proto = p;
    return 0;
}

static void push_sock_term(struct sp_sock *sock)
{
    free(sock->proto);
}

static int push_pipe_add(struct sp_sock *sock, struct sp_pipe *pipe)
{
    struct push_sock *p = sock->proto;
    struct push_pipe *pp = malloc(sizeof *pp);
    if (!pp)
        return -ENOMEM;
    sp_priolist_entry_init(&pp->entry, pipe, pipe->sndprio);
    pipe->proto_data = pp;
    sp_lb_add(&p->lb, &pp->entry);
    return 0;
}

static void push_pipe_rm(struct sp_sock *sock, struct sp_pipe *pipe)
{
    struct push_sock *p = sock->proto;
    struct push_pipe *pp = pipe->proto_data;
    sp_lb_rm(&p->lb, &pp->entry);
    free(pp);
    pipe->proto_data = NULL;
}

static void push_pipe_in(struct sp_sock *sock, struct sp_pipe *pipe)
{
    (void) sock;
    sp_proto_drop_input(pipe);
}

static void push_pipe_out(struct sp_sock *sock, struct sp_pipe *pipe)
{
    struct push_sock *p = sock->proto;
    struct push_pipe *pp = pipe->proto_data;
    sp_lb_out(&p->lb, &pp->entry);
}

static int push_events(struct sp_sock *sock)
{
    struct push_sock *p = sock->proto;
    return sp_lb_can_send(&p->lb) ? SP_EV_OUT : 0;
}

static int push_send(struct sp_sock *sock, struct sp_msg *msg)
{
    struct push_sock *p = sock->proto;
    return sp_lb_send(&p->lb, msg, NULL);
}

static int push_current_sndprio(struct sp_sock *sock)
{
    struct push_sock *p = sock->proto;
    return sp_lb_priority(&p->lb);
}

static const struct sp_proto_ops push_ops = {
    .init = push_sock_init,
    .term = push_sock_term,
    .pipe_add = push_pipe_add,
    .pipe_rm = push_pipe_rm,
    .pipe_in = push_pipe_in,
    .pipe_out = push_pipe_out,
    .events = push_events,
    .send = push_send,
    .current_sndprio = push_current_sndprio,
};

const struct sp_socktype sp_push_socktype = {AF_SP, NN_PUSH, SP_SOCKTYPE_NORECV | SP_SOCKTYPE_PLAIN_SEND, NN_PULL, "push", &push_ops};
const struct sp_socktype sp_xpush_socktype = {AF_SP_RAW, NN_PUSH, SP_SOCKTYPE_NORECV | SP_SOCKTYPE_PLAIN_SEND, NN_PULL, "push", &push_ops};
