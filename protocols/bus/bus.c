/* The BUS protocol: every message goes to every directly connected peer that
   can take it now (no forwarding: use a full mesh or a raw BUS device), and
   messages are fair-queued from all peers. Raw BUS tags each received message
   with an 8-byte origin header (the receiving pipe), and a send carrying such
   a header skips that pipe, which keeps a loopback device from echoing. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <nanomsg/bus.h>
#include <nanomsg/nn.h>

#include "core/pipe.h"
#include "core/sock.h"
#include "protocol.h"
#include "utils/dist.h"
#include "utils/fq.h"

struct bus_sock {
    struct sp_dist dist;
    struct sp_fq fq;
    bool raw;
};

struct bus_pipe {
    struct sp_dist_entry out;
    struct sp_priolist_entry in;
};

static int bus_sock_init(struct sp_sock *sock)
{
    struct bus_sock *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    sp_dist_init(&p->dist);
    sp_fq_init(&p->fq);
    p->raw = sock->type->domain == AF_SP_RAW;
    sock->proto = p;
    return 0;
}

static void bus_sock_term(struct sp_sock *sock)
{
    free(sock->proto);
}

static int bus_pipe_add(struct sp_sock *sock, struct sp_pipe *pipe)
{
    struct bus_sock *p = sock->proto;
    struct bus_pipe *bp = malloc(sizeof *bp);
    if (!bp)
        return -ENOMEM;
    sp_dist_entry_init(&bp->out, pipe);
    sp_priolist_entry_init(&bp->in, pipe, pipe->rcvprio);
    pipe->proto_data = bp;
    sp_dist_add(&p->dist, &bp->out);
    sp_fq_add(&p->fq, &bp->in);
    return 0;
}

static void bus_pipe_rm(struct sp_sock *sock, struct sp_pipe *pipe)
{
    struct bus_sock *p = sock->proto;
    struct bus_pipe *bp = pipe->proto_data;
    sp_dist_rm(&p->dist, &bp->out);
    sp_fq_rm(&p->fq, &bp->in);
    free(bp);
    pipe->proto_data = NULL;
}

static void bus_pipe_in(struct sp_sock *sock, struct sp_pipe *pipe)
{
    struct bus_sock *p = sock->proto;
    struct bus_pipe *bp = pipe->proto_data;
    sp_fq_in(&p->fq, &bp->in);
}

static void bus_pipe_out(struct sp_sock *sock, struct sp_pipe *pipe)
{
    struct bus_sock *p = sock->proto;
    struct bus_pipe *bp = pipe->proto_data;
    sp_dist_out(&p->dist, &bp->out);
}

static int bus_events(struct sp_sock *sock)
{
    struct bus_sock *p = sock->proto;
    return SP_EV_OUT | (sp_fq_can_recv(&p->fq) ? SP_EV_IN : 0);
}

static int bus_send(struct sp_sock *sock, struct sp_msg *msg)
{
    struct bus_sock *p = sock->proto;
    struct sp_pipe *except = NULL;
    if (msg->hdrlen != 0) {
        if (!p->raw || msg->hdrlen != sizeof(uint64_t))
            return -EINVAL;
        uint64_t origin;
        memcpy(&origin, sp_msg_hdr(msg), sizeof origin);
        except = (struct sp_pipe *) (uintptr_t) origin;
        /* The header is local: it never goes on the wire. */
        sp_msg_set_hdr(msg, NULL, 0);
    }
    sp_dist_send(&p->dist, msg, except);
    return 0;
}

static int bus_recv(struct sp_sock *sock, struct sp_msg *msg)
{
    struct bus_sock *p = sock->proto;
    struct sp_pipe *from;
    int rc = sp_fq_recv(&p->fq, msg, &from);
    if (rc != 0)
        return rc;
    if (p->raw) {
        uint64_t origin = (uint64_t) (uintptr_t) from;
        if (sp_msg_set_hdr(msg, &origin, sizeof origin) != 0) {
            sp_msg_term(msg);
            return -EAGAIN;
        }
    }
    return 0;
}

static const struct sp_proto_ops bus_ops = {
    .init = bus_sock_init,
    .term = bus_sock_term,
    .pipe_add = bus_pipe_add,
    .pipe_rm = bus_pipe_rm,
    .pipe_in = bus_pipe_in,
    .pipe_out = bus_pipe_out,
    .events = bus_events,
    .send = bus_send,
    .recv = bus_recv,
};

const struct sp_socktype sp_bus_socktype = {AF_SP, NN_BUS, 0, NN_BUS, "bus", &bus_ops};
const struct sp_socktype sp_xbus_socktype = {AF_SP_RAW, NN_BUS, 0, NN_BUS, "bus", &bus_ops};
