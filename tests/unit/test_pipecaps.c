/* Pipes as the transport contract allows them (transports/transport.h):
   a pipe that only receives or only sends, attached without any handshake,
   to a socket of each of the 20 types. The protocols (and utils/lb, fq,
   dist) never send to a receive-only pipe nor receive from a send-only one,
   yet use each for what it can do; and the core, not the transports,
   refuses a pipe whose peer the socket does not talk to. The pipes are
   fakes that count every call, attached to real sockets. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <nanomsg/bus.h>
#include <nanomsg/nn.h>
#include <nanomsg/pair.h>
#include <nanomsg/pipeline.h>
#include <nanomsg/pubsub.h>
#include <nanomsg/reqrep.h>
#include <nanomsg/survey.h>

#include "testutil.h"
#include "core/ep.h"
#include "core/pipe.h"
#include "core/sock.h"
#include "protocol.h"

struct cap_pipe {
    struct sp_pipe pipe;
    int sends;      /* messages it took */
    int recvs;      /* calls of its recv */
    int avail;      /* messages it can still give */
    int forbidden;  /* calls the pipe's flags forbid */
};

static int cap_send(struct sp_pipe *pipe, struct sp_msg *msg)
{
    struct cap_pipe *c = sp_cont(pipe, struct cap_pipe, pipe);
    if (pipe->flags & SP_PIPE_NOSEND)
        c->forbidden++;
    c->sends++;
    sp_msg_term(msg);
    return 0;
}

static int cap_recv(struct sp_pipe *pipe, struct sp_msg *msg)
{
    struct cap_pipe *c = sp_cont(pipe, struct cap_pipe, pipe);
    if (pipe->flags & SP_PIPE_NORECV)
        c->forbidden++;
    c->recvs++;
    if (c->avail == 0)
        return -EAGAIN;
    c->avail--;
    assert_int_equal(sp_msg_init_size(msg, 4), 0);
    memcpy(sp_msg_bodyp(msg), "abcd", 4);
    return c->avail ? 0 : SP_PIPE_RELEASE;
}

static void cap_destroy(struct sp_pipe *pipe)
{
    (void) pipe; /* the test owns the memory */
}

static const struct sp_pipe_ops cap_ops = {.send = cap_send, .recv = cap_recv, .destroy = cap_destroy};

struct type_case {
    int domain;
    int protocol;
    bool sends_to_receive_only; /* a send reaches a receive-only pipe */
    bool reads_send_only;       /* a signalled send-only pipe is read */
};

static const struct type_case cases[] = {
    {AF_SP, NN_PAIR, true, true},         {AF_SP_RAW, NN_PAIR, true, true},
    {AF_SP, NN_PUB, true, true},          {AF_SP_RAW, NN_PUB, true, true},
    {AF_SP, NN_SUB, false, true},         {AF_SP_RAW, NN_SUB, false, true},
    {AF_SP, NN_PUSH, true, true},         {AF_SP_RAW, NN_PUSH, true, true},
    {AF_SP, NN_PULL, false, true},        {AF_SP_RAW, NN_PULL, false, true},
    {AF_SP, NN_REQ, true, true},          {AF_SP_RAW, NN_REQ, true, true},
    /* REP and RESPONDENT reply only to a request they received. */
    {AF_SP, NN_REP, false, true},         {AF_SP_RAW, NN_REP, false, true},
    {AF_SP, NN_RESPONDENT, false, true},  {AF_SP_RAW, NN_RESPONDENT, false, true},
    /* A cooked SURVEYOR reads nothing before its first survey. */
    {AF_SP, NN_SURVEYOR, true, false},    {AF_SP_RAW, NN_SURVEYOR, true, true},
    {AF_SP, NN_BUS, true, true},          {AF_SP_RAW, NN_BUS, true, true},
};

static struct sp_sock *open_socket(const struct type_case *tc, const struct sp_socktype **type)
{
    static int id;
    *type = sp_socktype_find(tc->domain, tc->protocol);
    assert_non_null(*type);
    struct sp_sock *s = NULL;
    assert_int_equal(sp_sock_create(&s, *type, id++), 0);
    if (tc->protocol == NN_SUB)
        assert_int_equal(sp_sock_setopt(s, NN_SUB, NN_SUB_SUBSCRIBE, "", 0), 0);
    return s;
}

static void close_socket(struct sp_sock *s)
{
    sp_sock_mark_closing(s);
    sp_sock_destroy(s);
}

/* A pipe of socket s that can only do what flags leave. */
static void cap_init(struct cap_pipe *c, struct sp_sock *s, int flags, int peer)
{
    struct sp_ep ep;
    memset(&ep, 0, sizeof ep);
    ep.sock = s;
    ep.sndprio = ep.rcvprio = 8;
    memset(c, 0, sizeof *c);
    sp_pipe_init(&c->pipe, &cap_ops, &ep);
    c->pipe.flags = flags;
    c->pipe.peer_protocol = peer;
}

static void send_one(struct sp_sock *s, const struct sp_socktype *type)
{
    if (type->flags & SP_SOCKTYPE_NOSEND)
        return;
    struct sp_msg m;
    assert_int_equal(sp_msg_init_size(&m, 4), 0);
    memcpy(sp_msg_bodyp(&m), "ping", 4);
    if (sp_sock_send(s, &m, NN_DONTWAIT) != 0)
        sp_msg_term(&m);
}

static void recv_one(struct sp_sock *s, const struct sp_socktype *type)
{
    if (type->flags & SP_SOCKTYPE_NORECV)
        return;
    struct sp_msg m;
    sp_msg_init(&m);
    if (sp_sock_recv(s, &m, NN_DONTWAIT) == 0)
        sp_msg_term(&m);
}

static void test_a_receive_only_pipe_is_never_sent_to_nor_a_send_only_one_read(void **state)
{
    (void) state;
    for (size_t i = 0; i < TU_ARRAY_LEN(cases); i++) {
        const struct type_case *tc = &cases[i];
        const struct sp_socktype *type;

        /* A remote sender's pipe: receive only, with a message waiting. */
        struct sp_sock *s = open_socket(tc, &type);
        struct cap_pipe from;
        cap_init(&from, s, SP_PIPE_NOSEND, type->peer);
        from.avail = 1;
        assert_int_equal(sp_pipe_attach(&from.pipe), 0);
        sp_pipe_signal(&from.pipe, SP_EV_IN);
        send_one(s, type);
        recv_one(s, type);
        if (from.forbidden || from.sends)
            fail_msg("type %d/%d sent to a receive-only pipe", tc->domain, tc->protocol);
        if (tc->reads_send_only && from.recvs == 0)
            fail_msg("type %d/%d never read its receive-only pipe", tc->domain, tc->protocol);
        sp_pipe_detach(&from.pipe, -1);
        close_socket(s);

        /* A pipe to a group: send only, writable from the start. */
        s = open_socket(tc, &type);
        struct cap_pipe to;
        cap_init(&to, s, SP_PIPE_NORECV, type->peer);
        assert_int_equal(sp_pipe_attach(&to.pipe), 0);
        send_one(s, type);
        recv_one(s, type);
        if (to.forbidden || to.recvs)
            fail_msg("type %d/%d read a send-only pipe", tc->domain, tc->protocol);
        if (tc->sends_to_receive_only && to.sends == 0)
            fail_msg("type %d/%d never sent to its send-only pipe", tc->domain, tc->protocol);
        sp_pipe_detach(&to.pipe, -1);
        close_socket(s);
    }
}

static void test_the_core_refuses_a_pipe_whose_peer_the_socket_does_not_talk_to(void **state)
{
    (void) state;
    const struct type_case pub = {AF_SP, NN_PUB, true, true};
    const struct sp_socktype *type;
    struct sp_sock *s = open_socket(&pub, &type);
    struct cap_pipe c;
    cap_init(&c, s, 0, NN_PUB); /* a PUB to a PUB */
    assert_int_equal(sp_pipe_attach(&c.pipe), -EPROTO);
    cap_init(&c, s, 0, -1); /* a transport that never learnt the peer */
    assert_int_equal(sp_pipe_attach(&c.pipe), -EPROTO);
    cap_init(&c, s, 0, NN_SUB);
    assert_int_equal(sp_pipe_attach(&c.pipe), 0);
    uint64_t current = 0;
    assert_int_equal(sp_sock_stat_get(s, NN_STAT_CURRENT_CONNECTIONS, &current), 0);
    assert_int_equal(current, 1); /* the refused ones were never counted */
    sp_pipe_detach(&c.pipe, -1);
    close_socket(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_receive_only_pipe_is_never_sent_to_nor_a_send_only_one_read),
        cmocka_unit_test(test_the_core_refuses_a_pipe_whose_peer_the_socket_does_not_talk_to),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
