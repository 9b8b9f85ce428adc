/* The SUB side of publish/subscribe: receives from every publisher with fair
   queueing and delivers a message only if its body starts with a subscribed
   prefix (NN_SUB_SUBSCRIBE; reference counted). A new SUB has no
   subscription and receives nothing. Raw SUB filters the same way. */
#include <errno.h>
#include <stdlib.h>

#include <nanomsg/nn.h>
#include <nanomsg/pubsub.h>

#include "core/pipe.h"
#include "core/sock.h"
#include "protocol.h"
#include "pubsub/trie.h"
#include "utils/fq.h"

struct sub_sock {
    struct sp_fq fq;
    struct sp_trie trie;
};

static int sub_sock_init(struct sp_sock *sock)
{
    struct sub_sock *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    sp_fq_init(&p->fq);
    sp_trie_init(&p->trie);
    sock->proto = p;
    return 0;
}

static void sub_sock_term(struct sp_sock *sock)
{
    struct sub_sock *p = sock->proto;
    sp_trie_term(&p->trie);
    free(p);
}

static int sub_pipe_add(struct sp_sock *sock, struct sp_pipe *pipe)
{
    struct sub_sock *p = sock->proto;
    return sp_fq_pipe_add(&p->fq, pipe);
}

static void sub_pipe_rm(struct sp_sock *sock, struct sp_pipe *pipe)
{
    struct sub_sock *p = sock->proto;
    sp_fq_pipe_rm(&p->fq, pipe);
}

static void sub_pipe_in(struct sp_sock *sock, struct sp_pipe *pipe)
{
    struct sub_sock *p = sock->proto;
    sp_fq_pipe_in(&p->fq, pipe);
}

static void sub_pipe_out(struct sp_sock *sock, struct sp_pipe *pipe)
{
    (void) sock;
    (void) pipe;
}

static int sub_events(struct sp_sock *sock)
{
    struct sub_sock *p = sock->proto;
    return sp_fq_can_recv(&p->fq) ? SP_EV_IN : 0;
}

static int sub_recv(struct sp_sock *sock, struct sp_msg *msg)
{
    struct sub_sock *p = sock->proto;
    for (;;) {
        int rc = sp_fq_recv(&p->fq, msg, NULL);
        if (rc != 0)
            return rc;
        if (sp_trie_match(&p->trie, sp_msg_bodyp(msg), sp_msg_bodylen(msg)))
            return 0;
        sp_msg_term(msg);
    }
}

static int sub_setopt(struct sp_sock *sock, int option, const void *val, size_t len)
{
    struct sub_sock *p = sock->proto;
    if (option == NN_SUB_SUBSCRIBE)
        return sp_trie_subscribe(&p->trie, val, len);
    if (option == NN_SUB_UNSUBSCRIBE)
        return sp_trie_unsubscribe(&p->trie, val, len);
    return -ENOPROTOOPT;
}

static const struct sp_proto_ops sub_ops = {
    .init = sub_sock_init,
    .term = sub_sock_term,
    .pipe_add = sub_pipe_add,
    .pipe_rm = sub_pipe_rm,
    .pipe_in = sub_pipe_in,
    .pipe_out = sub_pipe_out,
    .events = sub_events,
    .recv = sub_recv,
    .setopt = sub_setopt,
};

const struct sp_socktype sp_sub_socktype = {AF_SP, NN_SUB, SP_SOCKTYPE_NOSEND, NN_PUB, "sub", &sub_ops};
const struct sp_socktype sp_xsub_socktype = {AF_SP_RAW, NN_SUB, SP_SOCKTYPE_NOSEND, NN_PUB, "sub", &sub_ops};
