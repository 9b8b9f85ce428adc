/* An endpoint: one nn_bind or nn_connect on a socket. The core creates it with
   a snapshot of the socket options; the transport runs it (listening, or
   connecting with backoff) and produces pipes. Stopping is asynchronous: the
   transport calls sp_ep_stopped when every connection of the endpoint is gone. */
#ifndef SP_EP_H
#define SP_EP_H

#include <stdbool.h>

#include <nanomsg/nn.h>

#include "core/tlsopts.h"
#include "utils/list.h"

struct sp_sock;
struct sp_ep;
struct sp_transport;

struct sp_ep_ops {
    /* Begin stopping; called once, without any socket lock held. The
       transport must call sp_ep_stopped(ep) when done, from any thread. */
    void (*stop)(struct sp_ep *ep);
};

struct sp_ep {
    struct sp_sock *sock;
    struct sp_list_item item;       /* in sock->eps */
    int eid;                        /* 0 until nn_bind/nn_connect succeeded */
    bool bound;                     /* nn_bind (else nn_connect) */
    bool stopping;
    const struct sp_transport *tp;
    const struct sp_ep_ops *ops;    /* set by the transport */
    void *tpdata;                   /* the transport's endpoint object */
    char addr[NN_SOCKADDR_MAX];     /* the URL after "scheme://" */
    int last_error;                 /* socket lock; 0 = none */
    /* Socket options as they were at nn_bind/nn_connect time. */
    int sndprio;
    int rcvprio;
    int ipv4only;
    int sndbuf;
    int rcvbuf;
    bool bufs_set;
    int rcvmaxsize;
    int reconnect_ivl;
    int reconnect_ivl_max;
    int tcp_nodelay;
    int ws_msg_type;
    struct sp_tlsopts tls;
};

/* Records the endpoint's current error (0 clears it): updates
   NN_STAT_CURRENT_EP_ERRORS and prints it once per change under
   NN_PRINT_ERRORS. Any thread, no socket lock held. */
void sp_ep_set_error(struct sp_ep *ep, int err);

/* The transport is done with ep: removes and frees it. No socket lock held. */
void sp_ep_stopped(struct sp_ep *ep);

/* Same, with a human-readable detail printed under NN_PRINT_ERRORS (a TLS
   verification failure, say). */
void sp_ep_set_error_detail(struct sp_ep *ep, int err, const char *detail);

/* Prints err and detail under NN_PRINT_ERRORS, in the format of
   sp_ep_set_error, without recording an error: for an nn_bind/nn_connect
   that is about to fail (a TLS certificate that cannot be read, say). */
void sp_ep_report(struct sp_ep *ep, int err, const char *detail);

/* Statistics helper for transports. */
void sp_ep_stat(struct sp_ep *ep, int stat, int delta);

#endif
