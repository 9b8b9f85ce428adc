/*
    Helpers shared by zmq_lat and zmq_thr, the libzmq versions of the perf
    programs (so libzmq stands in the same table). libzmq's own API only.
*/

#ifndef ZMQ_PERF_H
#define ZMQ_PERF_H

#include <zmq.h>

#include "perf_util.h"

#define ZMQ_CHECK(cond, what)                                                      \
    do {                                                                           \
        if (!(cond)) {                                                             \
            fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, (what),  \
                zmq_strerror(zmq_errno()));                                        \
            exit(2);                                                               \
        }                                                                          \
    } while (0)

/*  libzmq turns Nagle off on its own; the connecting side retries every
    10 ms (like the nn programs) instead of the default 100 ms. */
static inline void *zmq_perf_socket(void *ctx, int type, int connecting)
{
    void *s = zmq_socket(ctx, type);
    int ivl = 10;
    ZMQ_CHECK(s != NULL, "zmq_socket");
    if (connecting)
        zmq_setsockopt(s, ZMQ_RECONNECT_IVL, &ivl, sizeof(ivl));
    return s;
}

#endif
