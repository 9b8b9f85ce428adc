/* The PULL side of the pipeline pattern: receives from every PUSH peer with
   fair queueing, preferring pipes with a better NN_RCVPRIO. PULL cannot
   send. Raw PULL is the same. */
#include <errno.h>
#include <stdlib.h>

#include <nanomsg/nn.h>
#include <nanomsg/pipeline.h>

#include "core/pipe.h"
#include "core/sock.h"
#include "protocol.h"
#include "utils/fq.h"

struct pull_sock {
    struct sp_fq fq;
};

static int pull_sock_init(struct sp_sock *sock)
{
    struct pull_sock *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    sp_fq_init(&p->fq);
    sock->proto = p;
    return 0;
}

static void pull_sock_term(struct sp_sock *sock)
{
    free(sock->proto);
}

static int pull_pipe_add(struct sp_sock *sock, struct sp_pipe *pipe)
{
    struct pull_sock *p = sock->proto;
    return sp_fq_pipe_add(&p->fq, pipe);
}

static void pull_pipe_rm(struct sp_sock *sock, struct sp_pipe *pipe)
{
    struct pull_sock *p = sock->proto;
    sp_fq_pipe_rm(&p->fq, pipe);
}

static void pull_pipe_in(struct sp_sock *sock, struct sp_pipe *pipe)
{
    struct pull_sock *p = sock->proto;
    sp_fq_pipe_in(&p->fq, pipe);
}

static void pull_pipe_out(struct sp_sock *sock, struct sp_pipe *pipe)
{
    (void) sock;
    (void) pipe;
}

static int pull_events(struct sp_sock *sock)
{
    struct pull_sock *p = sock->proto;
    return sp_fq_can_recv(&p->fq) ? SP_EV_IN : 0;
}

static int pull_recv(struct sp_sock *sock, struct sp_msg *msg)
{
    struct pull_sock *p = sock->proto;
    return sp_fq_recv(&p->fq, msg, NULL);
}

static const struct sp_proto_ops pull_ops = {
    .init = pull_sock_init,
    .term = pull_sock_term,
    .pipe_add = pull_pipe_add,
    .pipe_rm = pull_pipe_rm,
    .pipe_in = pull_pipe_in,
    .pipe_out = pull_pipe_out,
    .events = pull_events,
    .recv = pull_recv,
};

const struct sp_socktype sp_pull_socktype = {AF_SP, NN_PULL, SP_SOCKTYPE_NOSEND | SP_SOCKTYPE_PLAIN_RECV, NN_PUSH, "pull", &pull_ops};
const struct sp_socktype sp_xpull_socktype = {AF_SP_RAW, NN_PULL, SP_SOCKTYPE_NOSEND | SP_SOCKTYPE_PLAIN_RECV, NN_PUSH, "pull", &pull_ops};
