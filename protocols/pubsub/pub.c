/* The PUB side of publish/subscribe: every message goes to every connected
   subscriber that can take it right now (busy ones miss it); sending never
   blocks. Filtering happens in the subscriber. Anything a peer sends to a PUB
   is read and dropped (libnanomsg aborts on it). Raw PUB is the same. */
#include <errno.h>
#include <stdlib.h>

#include <nanomsg/nn.h>
#include <nanomsg/pubsub.h>

#include "core/pipe.h"
#include "core/sock.h"
#include "protocol.h"
#include "utils/dist.h"

struct pub_sock {
    struct sp_dist dist;
};

struct pub_pipe {
    struct sp_dist_entry entry;
};

static int pub_sock_init(struct sp_sock *sock)
{
    struct pub_sock *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    sp_dist_init(&p->dist);
    sock->proto = p;
    return 0;
}

static void pub_sock_term(struct sp_sock *sock)
{
    free(sock->proto);
}

static int pub_pipe_add(struct sp_sock *sock, struct sp_pipe *pipe)
{
    struct pub_sock *p = sock->proto;
    struct pub_pipe *pp = malloc(sizeof *pp);
    if (!pp)
        return -ENOMEM;
    sp_dist_entry_init(&pp->entry, pipe);
    pipe->proto_data = pp;
    sp_dist_add(&p->dist, &pp->entry);
    return 0;
}

static void pub_pipe_rm(struct sp_sock *sock, struct sp_pipe *pipe)
{
    struct pub_sock *p = sock->proto;
    struct pub_pipe *pp = pipe->proto_data;
    sp_dist_rm(&p->dist, &pp->entry);
    free(pp);
    pipe->proto_data = NULL;
}

static void pub_pipe_in(struct sp_sock *sock, struct sp_pipe *pipe)
{
    (void) sock;
    sp_proto_drop_input(pipe);
}

static void pub_pipe_out(struct sp_sock *sock, struct sp_pipe *pipe)
{
    struct pub_sock *p = sock->proto;
    struct pub_pipe *pp = pipe->proto_data;
    sp_dist_out(&p->dist, &pp->entry);
}

static int pub_events(struct sp_sock *sock)
{
    (void) sock;
    return SP_EV_OUT;
}

static int pub_send(struct sp_sock *sock, struct sp_msg *msg)
{
    struct pub_sock *p = sock->proto;
    sp_dist_send(&p->dist, msg, NULL);
    return 0;
}

static const struct sp_proto_ops pub_ops = {
    .init = pub_sock_init,
    .term = pub_sock_term,
    .pipe_add = pub_pipe_add,
    .pipe_rm = pub_pipe_rm,
    .pipe_in = pub_pipe_in,
    .pipe_out = pub_pipe_out,
    .events = pub_events,
    .send = pub_send,
};

const struct sp_socktype sp_pub_socktype = {AF_SP, NN_PUB, SP_SOCKTYPE_NORECV, NN_SUB, "pub", &pub_ops};
const struct sp_socktype sp_xpub_socktype = {AF_SP_RAW, NN_PUB, SP_SOCKTYPE_NORECV, NN_SUB, "pub", &pub_ops};
