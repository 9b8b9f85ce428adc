/* The PAIR protocol is a simple 1:1 messaging pattern. While a peer is
   connected, all other connection attempts are refused (the transport closes
   them and a connector retries); raw PAIR behaves the same. */
#include <errno.h>
#include <stdlib.h>

#include <nanomsg/nn.h>
#include <nanomsg/pair.h>

#include "utils/err.h"
#include "core/pipe.h"
#include "core/sock.h"
#include "protocol.h"

struct pair_sock {
    struct sp_pipe *pipe; /* the one peer, or NULL */
    bool in;              /* pipe has messages */
    bool out;             /* pipe takes messages */
};

static int pair_sock_init(struct sp_sock *sock)
{
    struct pair_sock *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    sock->proto = p;
    return 0;
}

static void pair_sock_term(struct sp_sock *sock)
{
    free(sock->proto);
}

static int pair_pipe_add(struct sp_sock *sock, struct sp_pipe *pipe)
{
    struct pair_sock *p = sock->proto;
    if (p->pipe)
        return -EISCONN;
    p->pipe = pipe;
    p->in = false;
    p->out = !(pipe->flags & SP_PIPE_NOSEND);
    return 0;
}

static void pair_pipe_rm(struct sp_sock *sock, struct sp_pipe *pipe)
{
    struct pair_sock *p = sock->proto;
    if (p->pipe == pipe) {
        p->pipe = NULL;
        p->in = p->out = false;
    }
}

static void pair_pipe_in(struct sp_sock *sock, struct sp_pipe *pipe)
{
    struct pair_sock *p = sock->proto;
    if (p->pipe == pipe)
        p->in = true;
}

static void pair_pipe_out(struct sp_sock *sock, struct sp_pipe *pipe)
{
    struct pair_sock *p = sock->proto;
    if (p->pipe == pipe)
        p->out = true;
}

SP_HOT static int pair_events(struct sp_sock *sock)
{
    struct pair_sock *p = sock->proto;
    return (p->in ? SP_EV_IN : 0) | (p->out ? SP_EV_OUT : 0);
}

SP_HOT static int pair_send(struct sp_sock *sock, struct sp_msg *msg)
{
    struct pair_sock *p = sock->proto;
    if (!p->out)
        return -EAGAIN;
    if (sp_pipe_send(p->pipe, msg) == SP_PIPE_RELEASE)
        p->out = false;
    return 0;
}

SP_HOT static int pair_recv(struct sp_sock *sock, struct sp_msg *msg)
{
    struct pair_sock *p = sock->proto;
    if (!p->in)
        return -EAGAIN;
    int rc = sp_pipe_recv(p->pipe, msg);
    if (rc < 0) {
        p->in = false;
        return -EAGAIN;
    }
    if (rc == SP_PIPE_RELEASE)
        p->in = false;
    return 0;
}

static const struct sp_proto_ops pair_ops = {
    .init = pair_sock_init,
    .term = pair_sock_term,
    .pipe_add = pair_pipe_add,
    .pipe_rm = pair_pipe_rm,
    .pipe_in = pair_pipe_in,
    .pipe_out = pair_pipe_out,
    .events = pair_events,
    .send = pair_send,
    .recv = pair_recv,
};

const struct sp_socktype sp_pair_socktype = {AF_SP, NN_PAIR, SP_SOCKTYPE_PLAIN_RECV | SP_SOCKTYPE_PLAIN_SEND | SP_SOCKTYPE_ONEPIPE,
                                             NN_PAIR, "pair", &pair_ops};
const struct sp_socktype sp_xpair_socktype = {AF_SP_RAW, NN_PAIR, SP_SOCKTYPE_PLAIN_RECV | SP_SOCKTYPE_PLAIN_SEND | SP_SOCKTYPE_ONEPIPE,
                                              NN_PAIR, "pair", &pair_ops};
