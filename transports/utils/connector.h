/* A connecting stream endpoint: resolve, connect, run one stream, and after it
   ends (or a failure) wait per the reconnect backoff and start again. Shared
   by the stream transports (ipc, tcp, tls+tcp, ws, wss); the transport
   supplies address resolution (sp_tcpdial_ops for those over TCP). */
#ifndef SP_CONNECTOR_H
#define SP_CONNECTOR_H

#include <sys/socket.h>

#include "aio/loop.h"
#include "utils/backoff.h"
#include "utils/stream.h"

struct sp_connector;

/* The longest a connection's handshake deadline grows to after attempts
   whose handshake timed out (see stream_done in connector.c). */
#define SP_HS_TIMEOUT_MAX_MS 120000

struct sp_connector_ops {
    /* Starts resolving the peer (with c->opts.ipv4only): 0 with ss filled, 1 when pending (the
       connector polls resolve_poll), or -errno. */
    int (*resolve)(struct sp_connector *c, struct sockaddr_storage *ss, socklen_t *sl);
    /* 1 still pending, 0 done with ss filled, -errno failed. */
    int (*resolve_poll)(struct sp_connector *c, struct sockaddr_storage *ss, socklen_t *sl);
    /* Abandons a pending resolution. */
    void (*resolve_cancel)(struct sp_connector *c);
    /* Optional local address to bind before connecting: 1 filled, 0 none. */
    int (*local)(struct sp_connector *c, struct sockaddr_storage *ss, socklen_t *sl);
    /* Frees the transport's data (tpdata). */
    void (*destroy)(struct sp_connector *c);
};

struct sp_connector {
    struct sp_ep *ep;
    const struct sp_stream_cfg *cfg;
    uint64_t hs_timeout;          /* the transport's handshake deadline */
    uint64_t hs_cur;              /* the next attempt's: doubled after a timeout */
    const struct sp_connector_ops *ops;
    void *tpdata;
    int state;
    struct sp_connopts opts;      /* read at the start of each attempt */
    int fd;                       /* connecting socket */
    struct sp_io io;
    struct sp_timer timer;        /* backoff wait or resolution poll */
    int poll_ms;
    struct sp_task start_task;
    struct sp_task stop_task;
    struct sp_stream *stream;
    struct sp_backoff backoff;
};

/* Starts connecting in the background for ep: sets ep->ops/ep->tpdata.
   Connections speak cfg (which must live until ops->destroy) with a
   handshake deadline of hs_timeout ms. Caller's thread. 0 or -errno. */
int sp_connector_start(struct sp_ep *ep, const struct sp_stream_cfg *cfg, uint64_t hs_timeout,
                       const struct sp_connector_ops *ops, void *tpdata);

#endif
