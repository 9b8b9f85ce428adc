/*
    peer_lat: request/answer round trip of PEER (the client sends to its
    connect id, the server answers the id the request came from) against
    REQ/REP, on the same transport, between two threads of one process.
    nanosp only (PEER is not in libnanomsg): tools/bench runs it for our
    library alone (the `lat peer` rows). Prints the average round trip of
    each in µs.

    usage: peer_lat <url> <msg-size> <roundtrips>
    (url: inproc://..., ipc://..., tcp://127.0.0.1:PORT; bound by the
    answering thread, REQ/REP first, then PEER)
*/

#include <nanomsg/peer.h>
#include <nanomsg/reqrep.h>
#include <pthread.h>

#include "nn_perf.h"

static const char *url;
static size_t sz;
static long rts;
static int peer_mode;

/*  One message to id (PEER) or plain (REQ/REP). */
static void send_one(int s, char *buf, uint32_t id)
{
    struct nn_iovec iov = {buf, sz};
    char ctrl[NN_CMSG_SPACE(sizeof(uint32_t))];
    struct nn_msghdr h = {&iov, 1, NULL, 0};
    if (peer_mode) {
        struct nn_cmsghdr *c;
        memset(ctrl, 0, sizeof ctrl);
        h.msg_control = ctrl;
        h.msg_controllen = sizeof ctrl;
        c = NN_CMSG_FIRSTHDR(&h);
        c->cmsg_len = NN_CMSG_LEN(sizeof id);
        c->cmsg_level = NN_PROTO_PEER;
        c->cmsg_type = NN_PEER_ID;
        memcpy(NN_CMSG_DATA(c), &id, sizeof id);
    }
    NN_CHECK(nn_sendmsg(s, &h, 0) == (int) sz, "nn_sendmsg");
}

/*  One message; returns the sender's id (PEER) or 0. */
static uint32_t recv_one(int s, char *buf)
{
    struct nn_iovec iov = {buf, sz};
    char ctrl[256];
    struct nn_msghdr h = {&iov, 1, ctrl, sizeof ctrl};
    struct nn_cmsghdr *c;
    uint32_t id = 0;
    NN_CHECK(nn_recvmsg(s, &h, 0) == (int) sz, "nn_recvmsg");
    if (!peer_mode)
        return 0;
    for (c = NN_CMSG_FIRSTHDR(&h); c; c = NN_CMSG_NXTHDR(&h, c))
        if (c->cmsg_level == NN_PROTO_PEER && c->cmsg_type == NN_PEER_ID)
            memcpy(&id, NN_CMSG_DATA(c), sizeof id);
    PERF_CHECK(id != 0, "NN_PEER_ID");
    return id;
}

/*  The answering side: binds, answers rts + 1 requests. */
static void *server(void *arg)
{
    int s = *(int *) arg;
    char *buf = malloc(sz > 0 ? sz : 1);
    long i;
    PERF_CHECK(buf != NULL, "malloc");
    for (i = 0; i != rts + 1; i++)
        send_one(s, buf, recv_one(s, buf));
    free(buf);
    return NULL;
}

static double run(int req_type, int rep_type)
{
    int srv, cli, eid;
    pthread_t th;
    char *buf;
    uint64_t t0, t1;
    long i;

    srv = nn_socket(AF_SP, rep_type);
    NN_CHECK(srv >= 0, "nn_socket (server)");
    nn_perf_tune(srv, sz, 0);
    NN_CHECK(nn_bind(srv, url) >= 0, "nn_bind");
    cli = nn_socket(AF_SP, req_type);
    NN_CHECK(cli >= 0, "nn_socket (client)");
    nn_perf_tune(cli, sz, 1);
    eid = nn_connect(cli, url);
    NN_CHECK(eid >= 0, "nn_connect");
    nn_perf_timeouts(cli, 10000, 10000);
    nn_perf_timeouts(srv, 10000, 10000);
    PERF_CHECK(pthread_create(&th, NULL, server, &srv) == 0, "pthread_create");
    buf = malloc(sz > 0 ? sz : 1);
    PERF_CHECK(buf != NULL, "malloc");
    memset(buf, 111, sz);
    /*  One warm-up round trip (it waits for the connection). */
    send_one(cli, buf, (uint32_t) eid);
    recv_one(cli, buf);
    t0 = perf_now_us();
    for (i = 0; i != rts; i++) {
        send_one(cli, buf, (uint32_t) eid);
        recv_one(cli, buf);
    }
    t1 = perf_now_us();
    pthread_join(th, NULL);
    free(buf);
    nn_close(cli);
    nn_close(srv);
    return (double) (t1 - t0) / (double) rts;
}

int main(int argc, char *argv[])
{
    double reqrep, peer;

    if (argc != 4) {
        fprintf(stderr, "usage: peer_lat <url> <msg-size> <roundtrips>\n");
        return 1;
    }
    url = argv[1];
    sz = (size_t) perf_arg_long(argv[2], "msg-size");
    rts = perf_arg_long(argv[3], "roundtrips");

    peer_mode = 0;
    reqrep = run(NN_REQ, NN_REP);
    peer_mode = 1;
    peer = run(NN_PEER, NN_PEER);
    printf("message size: %zu [B]\n", sz);
    printf("roundtrip count: %ld\n", rts);
    printf("reqrep round trip: %.3f [us]\n", reqrep);
    printf("peer round trip: %.3f [us]\n", peer);
    printf("peer/reqrep: %.3f\n", peer / reqrep);
    return 0;
}
